//! Close codes (RFC 6455 section 7.4) and the payload of a close frame.

use std::fmt;

/// A WebSocket close status code (RFC 6455 section 7.4).
///
/// Any `u16` can be held, so that a code read from the wire is shown as it
/// was; [`is_valid`](CloseCode::is_valid) tells whether it may appear in a
/// close frame.
///
/// ```
/// use evloop_http::ws::CloseCode;
///
/// assert!(CloseCode::NORMAL.is_valid());
/// assert!(CloseCode(4000).is_valid()); // private use
/// assert!(!CloseCode::ABNORMAL.is_valid()); // reserved for "no close frame"
/// assert_eq!(CloseCode::from(1009), CloseCode::MESSAGE_TOO_BIG);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint goes away (server shutting down, page left).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a kind of data the endpoint cannot accept (binary for a
    /// text-only endpoint, ...).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reported locally when a close frame carried no code; never
    /// sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: reported locally when the connection ended without a close
    /// frame; never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a text message was not valid UTF-8 (or data contradicted its
    /// type).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message was larger than the endpoint accepts.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: (client) the server did not negotiate a required extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: (server) an unexpected condition stopped the request.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether the code may be sent in a close frame: 1000-1003,
    /// 1007-1011 and the application range 3000-4999. 1004 is reserved,
    /// 1005, 1006 and 1015 are only ever reported locally, and everything
    /// else below 3000 is unassigned; a peer that sends one of those
    /// breaks the protocol.
    pub fn is_valid(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The payload of a close frame that had one: its code and its reason.
///
/// A close frame may also be empty; [`Message::Close`](super::Message::Close)
/// then holds `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code (always [valid](CloseCode::is_valid) in a frame
    /// that was decoded).
    pub code: CloseCode,
    /// The reason, UTF-8, at most [`CloseFrame::MAX_REASON`] bytes.
    pub reason: String,
}

impl CloseFrame {
    /// The longest reason a close frame can carry: a control frame's
    /// payload is at most 125 bytes, 2 of them the code.
    pub const MAX_REASON: usize = 123;
}

/// How a WebSocket connection ended, as [`on_close`](super::WebSocket::on_close)
/// reports it (the browser API's `CloseEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The code: the one in the peer's close frame, or ours if we failed
    /// the connection for a protocol error, [`CloseCode::NO_STATUS`] for a
    /// close frame without a code, [`CloseCode::ABNORMAL`] when the
    /// connection ended without a close handshake.
    pub code: CloseCode,
    /// The reason that came with the code (empty if none).
    pub reason: String,
    /// Both sides sent and received a close frame: nothing was lost.
    pub clean: bool,
}
