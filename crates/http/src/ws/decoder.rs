//! The incremental frame decoder: bytes in, whole messages out, every
//! rule of RFC 6455 sections 5 and 7 checked as early as the bytes allow.

use std::fmt;

use bytes::Bytes;
use evloop_buffer::Buffer;

use super::close::{CloseCode, CloseFrame};
use super::config::Role;
use super::frame::apply_mask;
use super::message::{Message, OpCode};

/// Why the peer's bytes were refused: the close code to fail the
/// connection with (RFC 6455 section 7.1.7) and a short reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    /// [`CloseCode::PROTOCOL_ERROR`], [`CloseCode::INVALID_PAYLOAD`] or
    /// [`CloseCode::MESSAGE_TOO_BIG`].
    pub code: CloseCode,
    /// What was wrong, fit for the close frame's reason.
    pub reason: &'static str,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebSocket protocol error {}: {}", self.code, self.reason)
    }
}

impl std::error::Error for ProtocolError {}

fn fail<T>(code: CloseCode, reason: &'static str) -> Result<T, ProtocolError> {
    Err(ProtocolError { code, reason })
}

fn protocol<T>(reason: &'static str) -> Result<T, ProtocolError> {
    fail(CloseCode::PROTOCOL_ERROR, reason)
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct Frame {
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    /// Payload bytes not read yet.
    remaining: u64,
    /// Payload bytes read so far (the masking key's phase).
    done: usize,
}

/// Decodes a peer's frames into whole [`Message`]s, incrementally.
///
/// Feed it the input as it arrives; it keeps its place (a partial header,
/// a partial payload, a fragmented message) between calls, so bytes are
/// looked at once however the input is split: a message trickling in one
/// byte at a time costs linear time. It consumes from the [`Buffer`] only
/// what it has taken in; bytes after a returned message stay there for the
/// next call.
///
/// It checks, as soon as the bytes concerned have arrived: RSV bits (no
/// extension is negotiated), reserved opcodes, control frames fragmented
/// or over 125 bytes, the masking rule of `role`, a 64-bit length with
/// its top bit set, a continuation without a message in progress, a new
/// data message before the last one ended, the size limit (from the frame
/// header, before its payload arrives), text UTF-8 (each fragment as it
/// arrives, so an invalid prefix fails at once), and close frames (empty
/// or at least 2 bytes, a valid code, a UTF-8 reason). After an error it
/// returns the same error for good.
///
/// ```
/// use evloop_buffer::Buffer;
/// use evloop_http::ws::{encode_frame, CloseCode, Decoder, Message, OpCode, Role};
///
/// let mut dec = Decoder::new(Role::Server, 1 << 20);
/// let mut wire = Buffer::new();
/// let key = Some([1, 2, 3, 4]); // clients mask their frames
/// encode_frame(&mut wire, OpCode::Text, false, b"Hel", key);
/// encode_frame(&mut wire, OpCode::Ping, true, b"?", key); // between fragments
/// encode_frame(&mut wire, OpCode::Continuation, true, b"lo", key);
///
/// // Fed one byte at a time, it gives the same messages.
/// let mut input = Buffer::new();
/// let mut got = Vec::new();
/// for b in wire.split_to(usize::MAX) {
///     input.add(&[b]);
///     while let Some(msg) = dec.decode(&mut input)? {
///         got.push(msg);
///     }
/// }
/// assert_eq!(got, [Message::Ping("?".into()), Message::Text("Hello".into())]);
///
/// // An unmasked frame from a client breaks the protocol.
/// encode_frame(&mut input, OpCode::Text, true, b"x", None);
/// assert_eq!(dec.decode(&mut input).unwrap_err().code, CloseCode::PROTOCOL_ERROR);
/// # Ok::<(), evloop_http::ws::ProtocolError>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    max_message: usize,
    /// The header being read, and how much of it has arrived.
    head: [u8; 14],
    head_have: usize,
    /// The frame whose payload is being read (`None`: reading a header).
    frame: Option<Frame>,
    /// The data message in progress: its opcode (Text or Binary).
    message: Option<OpCode>,
    data: Vec<u8>,
    /// How much of a text message's data is known to be valid UTF-8
    /// (up to an incomplete sequence at the end).
    utf8_valid: usize,
    /// The payload of the control frame being read.
    control: Vec<u8>,
    failed: Option<ProtocolError>,
}

impl Decoder {
    /// A decoder for the frames `role`'s peer sends (a server decodes
    /// masked client frames), accepting messages up to
    /// `max_message_size` bytes.
    pub fn new(role: Role, max_message_size: usize) -> Self {
        Decoder {
            role,
            max_message: max_message_size,
            head: [0; 14],
            head_have: 0,
            frame: None,
            message: None,
            data: Vec::new(),
            utf8_valid: 0,
            control: Vec::new(),
            failed: None,
        }
    }

    /// Whether a fragmented data message has begun and not ended.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Bytes of the data message in progress received so far.
    pub fn partial_len(&self) -> usize {
        self.data.len()
    }

    /// Takes frames out of `input` until one completes a message, and
    /// returns it; `Ok(None)` once `input` is used up without one (call
    /// again when more has arrived).
    ///
    /// # Errors
    ///
    /// The [`ProtocolError`] to fail the connection with; the decoder
    /// stays failed.
    pub fn decode(&mut self, input: &mut Buffer) -> Result<Option<Message>, ProtocolError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.step(input);
        if let Err(e) = r {
            self.failed = Some(e);
            self.data = Vec::new();
            self.control = Vec::new();
        }
        r
    }

    fn step(&mut self, input: &mut Buffer) -> Result<Option<Message>, ProtocolError> {
        loop {
            let Some(mut frame) = self.frame else {
                if !self.read_header(input)? {
                    return Ok(None);
                }
                continue;
            };
            let n = usize::try_from(frame.remaining)
                .unwrap_or(usize::MAX)
                .min(input.len());
            if n > 0 {
                self.take_payload(input, &mut frame, n)?;
            }
            if frame.remaining > 0 {
                self.frame = Some(frame);
                return Ok(None);
            }
            self.frame = None;
            if let Some(msg) = self.end_frame(frame)? {
                return Ok(Some(msg));
            }
        }
    }

    /// Reads the header, checking each part once it has arrived; true once
    /// it is complete (and `self.frame` is set).
    fn read_header(&mut self, input: &mut Buffer) -> Result<bool, ProtocolError> {
        if self.head_have < 2 {
            self.head_have += input.remove(&mut self.head[self.head_have..2]);
            if self.head_have < 2 {
                return Ok(false);
            }
            self.check_first_two()?;
        }
        let need = header_len(self.head[1]);
        if self.head_have < need {
            self.head_have += input.remove(&mut self.head[self.head_have..need]);
            if self.head_have < need {
                return Ok(false);
            }
        }
        let h = &self.head;
        let len = match h[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
            n => u64::from(n),
        };
        if len >> 63 != 0 {
            return protocol("64-bit payload length with its most significant bit set");
        }
        let mask = (h[1] & 0x80 != 0).then(|| {
            let k = need - 4;
            [h[k], h[k + 1], h[k + 2], h[k + 3]]
        });
        let opcode = OpCode::from_u8(h[0] & 0x0f).unwrap_or(OpCode::Continuation);
        if !opcode.is_control() {
            let total = (self.data.len() as u64).saturating_add(len);
            if total > self.max_message as u64 {
                return fail(CloseCode::MESSAGE_TOO_BIG, "message too big");
            }
        }
        self.head_have = 0;
        self.frame = Some(Frame {
            fin: h[0] & 0x80 != 0,
            opcode,
            mask,
            remaining: len,
            done: 0,
        });
        Ok(true)
    }

    /// The rules the first two header bytes decide.
    fn check_first_two(&mut self) -> Result<(), ProtocolError> {
        let [b0, b1] = [self.head[0], self.head[1]];
        if b0 & 0x70 != 0 {
            return protocol("reserved bits set without an extension");
        }
        let Some(opcode) = OpCode::from_u8(b0 & 0x0f) else {
            return protocol("reserved opcode");
        };
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => return protocol("client frame not masked"),
            (Role::Client, true) => return protocol("server frame masked"),
            _ => {}
        }
        if opcode.is_control() {
            if !fin {
                return protocol("fragmented control frame");
            }
            if b1 & 0x7f > 125 {
                return protocol("control frame payload over 125 bytes");
            }
        } else if opcode == OpCode::Continuation {
            if self.message.is_none() {
                return protocol("continuation frame without a message in progress");
            }
        } else if self.message.is_some() {
            return protocol("new data message before the fragmented one ended");
        } else {
            self.message = Some(opcode);
            self.utf8_valid = 0;
        }
        Ok(())
    }

    fn take_payload(
        &mut self,
        input: &mut Buffer,
        frame: &mut Frame,
        n: usize,
    ) -> Result<(), ProtocolError> {
        let target = if frame.opcode.is_control() {
            &mut self.control
        } else {
            &mut self.data
        };
        let start = target.len();
        target.resize(start + n, 0);
        input.remove(&mut target[start..]);
        if let Some(key) = frame.mask {
            apply_mask(&mut target[start..], key, frame.done);
        }
        frame.done += n;
        frame.remaining -= n as u64;
        if !frame.opcode.is_control() && self.message == Some(OpCode::Text) {
            match std::str::from_utf8(&self.data[self.utf8_valid..]) {
                Ok(_) => self.utf8_valid = self.data.len(),
                Err(e) if e.error_len().is_some() => {
                    return fail(CloseCode::INVALID_PAYLOAD, "text is not valid UTF-8")
                }
                // An incomplete sequence at the end: the next bytes decide.
                Err(e) => self.utf8_valid += e.valid_up_to(),
            }
        }
        Ok(())
    }

    fn end_frame(&mut self, frame: Frame) -> Result<Option<Message>, ProtocolError> {
        match frame.opcode {
            OpCode::Ping => Ok(Some(Message::Ping(Bytes::from(self.take_control())))),
            OpCode::Pong => Ok(Some(Message::Pong(Bytes::from(self.take_control())))),
            OpCode::Close => {
                let payload = self.take_control();
                parse_close(&payload).map(|f| Some(Message::Close(f)))
            }
            _ if !frame.fin => Ok(None),
            _ => {
                let data = std::mem::take(&mut self.data);
                let kind = self.message.take();
                if kind == Some(OpCode::Text) {
                    match String::from_utf8(data) {
                        Ok(s) => Ok(Some(Message::Text(s))),
                        Err(_) => fail(CloseCode::INVALID_PAYLOAD, "text is not valid UTF-8"),
                    }
                } else {
                    Ok(Some(Message::Binary(Bytes::from(data))))
                }
            }
        }
    }

    fn take_control(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.control)
    }
}

/// The whole header's length, from its second byte.
fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// A close frame's payload: empty, or a valid code and a UTF-8 reason.
pub(crate) fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => protocol("close frame with a 1-byte payload"),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid() {
                return protocol("invalid close code");
            }
            match std::str::from_utf8(reason) {
                Ok(r) => Ok(Some(CloseFrame {
                    code,
                    reason: r.to_owned(),
                })),
                Err(_) => fail(
                    CloseCode::INVALID_PAYLOAD,
                    "close reason is not valid UTF-8",
                ),
            }
        }
    }
}
