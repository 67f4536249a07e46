//! What travels over a WebSocket: whole messages, and the opcodes of the
//! frames that carry them.

use bytes::Bytes;

use super::close::CloseFrame;

/// A whole message received (or to send): a data message reassembled
/// from its fragments, or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message, validated as UTF-8.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping (at most 125 bytes of application data).
    Ping(Bytes),
    /// A pong (at most 125 bytes).
    Pong(Bytes),
    /// A close frame: its code and reason, or `None` if it was empty.
    Close(Option<CloseFrame>),
}

impl Message {
    /// The opcode of the frame (the first frame, for a data message) that
    /// carries this message.
    pub fn opcode(&self) -> OpCode {
        match self {
            Message::Text(_) => OpCode::Text,
            Message::Binary(_) => OpCode::Binary,
            Message::Ping(_) => OpCode::Ping,
            Message::Pong(_) => OpCode::Pong,
            Message::Close(_) => OpCode::Close,
        }
    }

    /// Whether this is a control message (ping, pong, close).
    pub fn is_control(&self) -> bool {
        self.opcode().is_control()
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(Bytes::from(b))
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

/// A frame's opcode (RFC 6455 section 5.2). Only the defined ones exist
/// here: a frame with a reserved opcode is a protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: a further fragment of the message in progress.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The opcode of a frame's 4 low bits of its first byte; `None` for a
    /// reserved one (0x3-0x7, 0xB-0xF).
    pub fn from_u8(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit value on the wire.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Ping, pong and close are control frames: never fragmented, at most
    /// 125 bytes of payload, allowed between the fragments of a message.
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}
