//! The opening handshake, client side (RFC 6455 section 4.1): the request
//! to send and the checks of the server's answer. With it and
//! [`Role::Client`](super::Role::Client), a stream of this crate speaks
//! WebSocket to any server.

use std::fmt;

use evloop_buffer::Buffer;

use super::base64;
use super::handshake::accept_key;
use super::random;

/// The largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Why a server's handshake response was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHandshakeError {
    /// The response head is not valid HTTP, or longer than 16 KiB.
    Malformed,
    /// The status is not 101 Switching Protocols.
    Status(u16),
    /// `Upgrade: websocket` or `Connection: upgrade` is missing.
    NotUpgraded,
    /// `Sec-WebSocket-Accept` is missing or does not match our key.
    BadAccept,
}

impl fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientHandshakeError::Malformed => f.write_str("malformed handshake response"),
            ClientHandshakeError::Status(s) => write!(f, "handshake answered with status {s}"),
            ClientHandshakeError::NotUpgraded => f.write_str("response does not upgrade"),
            ClientHandshakeError::BadAccept => f.write_str("wrong Sec-WebSocket-Accept"),
        }
    }
}

impl std::error::Error for ClientHandshakeError {}

/// A client's opening handshake: a fresh `Sec-WebSocket-Key`, the request
/// carrying it, and the check of the server's 101 response.
///
/// ```
/// use evloop_buffer::Buffer;
/// use evloop_http::ws::{accept_key, ClientHandshake};
///
/// let mut hs = ClientHandshake::new();
/// let mut out = Buffer::new();
/// hs.write_request(&mut out, "example.org", "/chat");
/// let request = String::from_utf8(out.split_to(usize::MAX).to_vec())?;
/// assert!(request.starts_with("GET /chat HTTP/1.1\r\nHost: example.org\r\n"));
///
/// let mut input = Buffer::new();
/// input.add(format!(
///     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///      Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
///     accept_key(hs.key().as_bytes())
/// ).as_bytes());
/// input.add(b"\x81\x02hi"); // a first frame right behind the head
/// assert_eq!(hs.read_response(&mut input), Ok(true));
/// assert_eq!(input.split_to(usize::MAX), &b"\x81\x02hi"[..]); // the first frame stays
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: String,
    /// How much of the input was searched for the head's end already.
    scanned: usize,
}

impl Default for ClientHandshake {
    fn default() -> Self {
        ClientHandshake::new()
    }
}

impl ClientHandshake {
    /// A handshake with a fresh random key.
    pub fn new() -> Self {
        ClientHandshake {
            key: base64::encode(&random::nonce()),
            scanned: 0,
        }
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Appends the upgrade request for `path` on `host` to `out`.
    pub fn write_request(&self, out: &mut Buffer, host: &str, path: &str) {
        out.add_fmt(format_args!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n",
            self.key
        ));
    }

    /// Looks for the server's response head at the front of `input`:
    /// `Ok(false)` while it is incomplete; `Ok(true)` once it arrived and
    /// accepted the upgrade, with the head consumed and any bytes after it
    /// (the first frames) left in `input`.
    ///
    /// # Errors
    ///
    /// A refused or malformed response.
    pub fn read_response(&mut self, input: &mut Buffer) -> Result<bool, ClientHandshakeError> {
        let from = self.scanned.saturating_sub(3);
        let Some(end) = input.find_in(b"\r\n\r\n", from..input.len()) else {
            self.scanned = input.len();
            if input.len() > MAX_HEAD {
                return Err(ClientHandshakeError::Malformed);
            }
            return Ok(false);
        };
        let head = input.split_to(end + 4);
        self.scanned = 0;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(ClientHandshakeError::Malformed),
        }
        if resp.code != Some(101) {
            return Err(ClientHandshakeError::Status(resp.code.unwrap_or(0)));
        }
        let has = |name: &str, token: &str| {
            resp.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case(name)
                    && String::from_utf8_lossy(h.value)
                        .split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case(token))
            })
        };
        if !has("upgrade", "websocket") || !has("connection", "upgrade") {
            return Err(ClientHandshakeError::NotUpgraded);
        }
        let expected = accept_key(self.key.as_bytes());
        let accept = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"));
        match accept {
            Some(h) if h.value == expected.as_bytes() => Ok(true),
            _ => Err(ClientHandshakeError::BadAccept),
        }
    }
}
