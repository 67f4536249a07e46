//! The opening handshake, server side (RFC 6455 section 4.2): checking a
//! client's upgrade request and computing `Sec-WebSocket-Accept`.

use std::fmt;

use http::header::{
    HeaderMap, HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Method, StatusCode, Version};

use super::base64;

/// The GUID every server appends to the client's key (RFC 6455 section
/// 1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64 of the SHA-1
/// of the key followed by [`GUID`].
///
/// ```
/// // The example of RFC 6455 section 1.3.
/// assert_eq!(
///     evloop_http::ws::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID.as_bytes());
    base64::encode(&sha.digest().bytes())
}

/// Why an upgrade request is refused, and the response it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// The method is not GET.
    NotGet,
    /// The request is not HTTP/1.1.
    NotHttp11,
    /// No `Upgrade: websocket`.
    NoUpgrade,
    /// `Connection` does not list `upgrade`.
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Version` is missing or is not `13`.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing, repeated, or not the base64 of 16
    /// bytes.
    BadKey,
}

impl HandshakeError {
    /// The status of the refusal: 426 Upgrade Required for a version we
    /// do not speak (with [`HandshakeError::headers`]), 400 otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            HandshakeError::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Headers the refusal must carry: `Sec-WebSocket-Version: 13` for an
    /// unsupported version (RFC 6455 section 4.4), none otherwise.
    pub fn headers(self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if self == HandshakeError::UnsupportedVersion {
            h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        h
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeError::NotGet => "a WebSocket handshake must be a GET",
            HandshakeError::NotHttp11 => "a WebSocket handshake must be HTTP/1.1",
            HandshakeError::NoUpgrade => "missing Upgrade: websocket",
            HandshakeError::NoConnectionUpgrade => "Connection does not list upgrade",
            HandshakeError::UnsupportedVersion => "Sec-WebSocket-Version must be 13",
            HandshakeError::BadKey => "Sec-WebSocket-Key must be the base64 of 16 bytes",
        })
    }
}

impl std::error::Error for HandshakeError {}

/// An upgrade request that passed [`check_request`]: what the 101
/// response needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    accept: String,
    offered: Vec<String>,
    protocol: Option<String>,
}

/// Whether any comma-separated element of any `name` header equals
/// `token`, ignoring ASCII case.
fn lists_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Checks a client's opening handshake (RFC 6455 section 4.2.1): GET,
/// HTTP/1.1, `Upgrade` lists `websocket` and `Connection` lists `upgrade`
/// (both in any case), `Sec-WebSocket-Version: 13`, and one
/// `Sec-WebSocket-Key` that is the base64 of 16 bytes.
///
/// # Errors
///
/// The first rule broken, which gives the refusal's status and headers.
///
/// ```
/// use http::{HeaderMap, Method, Version};
/// use evloop_http::ws::{check_request, HandshakeError};
///
/// let mut h = HeaderMap::new();
/// h.insert("upgrade", "WebSocket".parse()?);
/// h.insert("connection", "keep-alive, Upgrade".parse()?);
/// h.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse()?);
/// h.insert("sec-websocket-version", "13".parse()?);
/// let ok = check_request(&Method::GET, Version::HTTP_11, &h)?;
/// assert_eq!(ok.accept_value(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
///
/// h.insert("sec-websocket-version", "8".parse()?);
/// let err = check_request(&Method::GET, Version::HTTP_11, &h).unwrap_err();
/// assert_eq!(err, HandshakeError::UnsupportedVersion);
/// assert_eq!(err.status(), 426);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_request(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<Accept, HandshakeError> {
    if method != Method::GET {
        return Err(HandshakeError::NotGet);
    }
    if version != Version::HTTP_11 {
        return Err(HandshakeError::NotHttp11);
    }
    if !lists_token(headers, UPGRADE, "websocket") {
        return Err(HandshakeError::NoUpgrade);
    }
    if !lists_token(headers, CONNECTION, "upgrade") {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    let mut versions = headers.get_all(SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes() == b"13" => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => k.as_bytes(),
        _ => return Err(HandshakeError::BadKey),
    };
    if base64::decode(key).is_none_or(|nonce| nonce.len() != 16) {
        return Err(HandshakeError::BadKey);
    }
    let offered = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(Accept {
        accept: accept_key(key),
        offered,
        protocol: None,
    })
}

impl Accept {
    /// The `Sec-WebSocket-Accept` value.
    pub fn accept_value(&self) -> &str {
        &self.accept
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in
    /// its order of preference.
    pub fn offered_protocols(&self) -> &[String] {
        &self.offered
    }

    /// Picks the subprotocol to answer with: the first of `supported` (our
    /// order of preference) that the client offered, if any. Returns it.
    ///
    /// ```
    /// use http::{HeaderMap, Method, Version};
    /// use evloop_http::ws::check_request;
    ///
    /// let mut h = HeaderMap::new();
    /// h.insert("upgrade", "websocket".parse()?);
    /// h.insert("connection", "Upgrade".parse()?);
    /// h.insert("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".parse()?);
    /// h.insert("sec-websocket-version", "13".parse()?);
    /// h.insert("sec-websocket-protocol", "chat, superchat".parse()?);
    /// let mut ok = check_request(&Method::GET, Version::HTTP_11, &h)?;
    /// assert_eq!(ok.select_protocol(&["superchat", "chat"]), Some("superchat"));
    /// assert_eq!(ok.response_headers()["sec-websocket-protocol"], "superchat");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select_protocol(&mut self, supported: &[&str]) -> Option<&str> {
        self.protocol = supported
            .iter()
            .find(|s| self.offered.iter().any(|o| o == *s))
            .map(|s| (*s).to_owned());
        self.protocol.as_deref()
    }

    /// The subprotocol chosen with [`select_protocol`](Self::select_protocol).
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The headers of the 101 Switching Protocols response: `Upgrade:
    /// websocket`, `Connection: Upgrade`, `Sec-WebSocket-Accept`, and
    /// `Sec-WebSocket-Protocol` if one was chosen.
    pub fn response_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&self.accept) {
            h.insert(SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(v) = self
            .protocol
            .as_deref()
            .and_then(|p| HeaderValue::from_str(p).ok())
        {
            h.insert(SEC_WEBSOCKET_PROTOCOL, v);
        }
        h
    }
}
