//! Writing frames (RFC 6455 section 5.2).

use bytes::Bytes;
use evloop_buffer::Buffer;

use super::close::{CloseCode, CloseFrame};
use super::config::Role;
use super::message::{Message, OpCode};
use super::random;

/// Payloads at least this long are linked into the output buffer rather
/// than copied (when they need no masking).
const LINK_THRESHOLD: usize = 1024;

/// XORs `data` with `key`, starting at byte `offset` of the key's cycle
/// (masking and unmasking are the same operation).
///
/// ```
/// use evloop_http::ws::apply_mask;
///
/// let key = [1, 2, 3, 4];
/// let mut data = *b"Hello, world";
/// apply_mask(&mut data, key, 0);
/// // Unmasking in two pieces, the second starting at key byte 5 % 4.
/// let (a, b) = data.split_at_mut(5);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 5);
/// assert_eq!(&data, b"Hello, world");
/// ```
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    // The key as it lines up with data[0], repeated over a u64, so that
    // the bulk goes eight bytes at a time.
    let k = [0, 1, 2, 3].map(|i| key[(offset + i) & 3]);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i & 3];
    }
}

fn write_header(out: &mut Buffer, opcode: OpCode, fin: bool, len: usize, mask: Option<[u8; 4]>) {
    let mut head = [0u8; 14];
    head[0] = opcode.as_u8() | if fin { 0x80 } else { 0 };
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut n = 2;
    if len < 126 {
        head[1] = mask_bit | len as u8;
    } else if let Ok(short) = u16::try_from(len) {
        head[1] = mask_bit | 126;
        head[2..4].copy_from_slice(&short.to_be_bytes());
        n = 4;
    } else {
        head[1] = mask_bit | 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        n = 10;
    }
    if let Some(key) = mask {
        head[n..n + 4].copy_from_slice(&key);
        n += 4;
    }
    out.add(&head[..n]);
}

/// Appends one frame to `out`: `opcode`, the FIN bit, and `payload`,
/// masked with `mask` if given (a client masks every frame with a fresh
/// key; a server never masks). No rule is checked: this is also how tests
/// write frames that break them.
///
/// ```
/// use evloop_buffer::Buffer;
/// use evloop_http::ws::{encode_frame, OpCode};
///
/// let mut out = Buffer::new();
/// encode_frame(&mut out, OpCode::Text, true, b"Hello", None);
/// assert_eq!(out.split_to(usize::MAX), &b"\x81\x05Hello"[..]);
///
/// // The masked example of RFC 6455 section 5.7.
/// encode_frame(&mut out, OpCode::Text, true, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
/// assert_eq!(out.split_to(usize::MAX), &b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"[..]);
/// ```
pub fn encode_frame(
    out: &mut Buffer,
    opcode: OpCode,
    fin: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    write_header(out, opcode, fin, payload.len(), mask);
    match mask {
        Some(key) => {
            let mut masked = payload.to_vec();
            apply_mask(&mut masked, key, 0);
            out.add_bytes(Bytes::from(masked));
        }
        None => out.add(payload),
    }
}

/// [`encode_frame`] for a payload already in a `Bytes`: a large unmasked
/// one is linked, not copied.
pub(crate) fn encode_frame_bytes(
    out: &mut Buffer,
    opcode: OpCode,
    fin: bool,
    payload: Bytes,
    mask: Option<[u8; 4]>,
) {
    if mask.is_none() && payload.len() >= LINK_THRESHOLD {
        write_header(out, opcode, fin, payload.len(), None);
        out.add_bytes(payload);
    } else {
        encode_frame(out, opcode, fin, &payload, mask);
    }
}

/// The payload of a close frame: the code in network order, then the
/// reason.
pub(crate) fn close_payload(frame: Option<&CloseFrame>) -> Vec<u8> {
    match frame {
        None => Vec::new(),
        Some(f) => {
            let mut p = Vec::with_capacity(2 + f.reason.len());
            p.extend_from_slice(&f.code.0.to_be_bytes());
            p.extend_from_slice(f.reason.as_bytes());
            p
        }
    }
}

/// The mask a frame sent by `role` needs.
pub(crate) fn mask_for(role: Role) -> Option<[u8; 4]> {
    match role {
        Role::Client => Some(random::mask_key()),
        Role::Server => None,
    }
}

/// Why a message cannot be sent as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// A ping or pong payload over 125 bytes.
    ControlTooLong(usize),
    /// A close code that may not be sent ([`CloseCode::is_valid`]).
    InvalidCloseCode(CloseCode),
    /// A close reason over [`CloseFrame::MAX_REASON`] bytes.
    ReasonTooLong(usize),
    /// The connection is closing or closed (we sent a close frame, or it
    /// failed): nothing more may be sent.
    Closed,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::ControlTooLong(n) => {
                write!(f, "control frame payload of {n} bytes (at most 125)")
            }
            SendError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            SendError::ReasonTooLong(n) => write!(
                f,
                "close reason of {n} bytes (at most {})",
                CloseFrame::MAX_REASON
            ),
            SendError::Closed => write!(f, "the WebSocket is closing or closed"),
        }
    }
}

impl std::error::Error for SendError {}

/// Checks that `msg` can be sent as one frame (control) or message.
pub(crate) fn check_message(msg: &Message) -> Result<(), SendError> {
    match msg {
        Message::Ping(p) | Message::Pong(p) if p.len() > 125 => {
            Err(SendError::ControlTooLong(p.len()))
        }
        Message::Close(Some(f)) if !f.code.is_valid() => Err(SendError::InvalidCloseCode(f.code)),
        Message::Close(Some(f)) if f.reason.len() > CloseFrame::MAX_REASON => {
            Err(SendError::ReasonTooLong(f.reason.len()))
        }
        _ => Ok(()),
    }
}

/// Appends `msg` as one frame, as `role` sends it (masked for a client).
///
/// # Errors
///
/// A control payload over 125 bytes, a close code that may not be sent,
/// a close reason over 123 bytes: nothing is written then.
///
/// ```
/// use evloop_buffer::Buffer;
/// use evloop_http::ws::{encode_message, Message, Role};
///
/// let mut out = Buffer::new();
/// encode_message(&mut out, &Message::Ping("hi".into()), Role::Server)?;
/// assert_eq!(out.split_to(usize::MAX), &b"\x89\x02hi"[..]);
/// assert!(encode_message(&mut out, &Message::Ping(vec![0; 126].into()), Role::Server).is_err());
/// # Ok::<(), evloop_http::ws::SendError>(())
/// ```
pub fn encode_message(out: &mut Buffer, msg: &Message, role: Role) -> Result<(), SendError> {
    check_message(msg)?;
    let mask = mask_for(role);
    match msg {
        Message::Text(s) => encode_frame(out, OpCode::Text, true, s.as_bytes(), mask),
        Message::Binary(b) => encode_frame_bytes(out, OpCode::Binary, true, b.clone(), mask),
        Message::Ping(b) => encode_frame(out, OpCode::Ping, true, b, mask),
        Message::Pong(b) => encode_frame(out, OpCode::Pong, true, b, mask),
        Message::Close(f) => {
            encode_frame(out, OpCode::Close, true, &close_payload(f.as_ref()), mask)
        }
    }
    Ok(())
}
