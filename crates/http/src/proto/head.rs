//! [`parse_request_head`]: a complete request head to a [`RequestHead`].

use http::header::{HeaderName, HeaderValue, HOST};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use super::framing::{body_kind, connection, expect_continue};
use super::scan::MAX_LEADING_EMPTY_LINES;
use super::target::{parse_target, valid_host};
use super::version::parse_version;
use super::{BodyKind, HttpError, Limits};

/// A parsed, checked request head.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request-target. For absolute-form it carries scheme and
    /// authority; the Host field then holds the same authority.
    pub uri: Uri,
    /// `HTTP_10` or `HTTP_11` (a request naming `HTTP/1.2`..`HTTP/1.9` is
    /// treated as 1.1).
    pub version: Version,
    /// The header fields, in order; names are lowercase.
    pub headers: HeaderMap,
    /// How the body is framed.
    pub body: BodyKind,
    /// Whether the connection may carry another request after this one
    /// (by version and the Connection field).
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before sending the body (only
    /// set for an HTTP/1.1 request that has a body).
    pub expect_continue: bool,
    /// The client asks to switch protocols (HTTP/1.1, an Upgrade field and
    /// `Connection: upgrade`).
    pub upgrade: bool,
}

impl RequestHead {
    /// True when body bytes follow the head (chunked, or a non-zero
    /// Content-Length).
    pub fn has_body(&self) -> bool {
        !matches!(self.body, BodyKind::None | BodyKind::Length(0))
    }
}

/// Parses a complete head: the bytes [`HeadScanner::scan`] measured (up to
/// [`MAX_LEADING_EMPTY_LINES`] empty lines, the request line, the field
/// lines and the blank line; nothing after it).
///
/// On top of `httparse` (single spaces in the request line, token method
/// and field names, no whitespace before a colon, no obs-fold, field values
/// without control characters) it checks everything RFC 9112 and RFC 9110
/// require of a server; see the [module documentation](super) for the list
/// and the choices made where the RFCs leave one. Any error means: answer
/// with its status and close.
///
/// ```
/// use evloop_http::proto::{parse_request_head, BodyKind, Limits};
///
/// let head = b"POST /up HTTP/1.1\r\nHost: ex.org\r\nContent-Length: 5\r\n\r\n";
/// let req = parse_request_head(head, &Limits::default()).unwrap();
/// assert_eq!(req.method, http::Method::POST);
/// assert_eq!(req.body, BodyKind::Length(5));
/// assert!(req.keep_alive);
///
/// let smuggle = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
///                 Transfer-Encoding: chunked\r\n\r\n";
/// assert_eq!(parse_request_head(smuggle, &Limits::default()).unwrap_err().status, 400);
/// ```
///
/// [`HeadScanner::scan`]: super::HeadScanner::scan
pub fn parse_request_head(head: &[u8], limits: &Limits) -> Result<RequestHead, HttpError> {
    let head = skip_empty_lines(head)?;
    check_line_ends(head)?;
    if !head.ends_with(b"\r\n\r\n") {
        return Err(HttpError::bad("incomplete request head"));
    }
    let line_len = head.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
    if line_len > limits.max_request_line {
        return Err(HttpError::new(
            StatusCode::URI_TOO_LONG,
            "request line too long",
        ));
    }
    if head.len() > limits.max_head {
        return Err(HttpError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request head too large",
        ));
    }
    let request_line = &head[..line_len];
    let version = match request_line.iter().rposition(|&b| b == b' ') {
        Some(sp) => parse_version(&request_line[sp + 1..])?,
        None => return Err(HttpError::bad("malformed request line")),
    };
    // httparse knows only 1.0 and 1.1: show it 1.1 for a later minor.
    let patched;
    let head = if request_line.ends_with(b"HTTP/1.1") || request_line.ends_with(b"HTTP/1.0") {
        head
    } else {
        let mut h = head.to_vec();
        h[line_len - 1] = b'1';
        patched = h;
        &patched[..]
    };
    parse_checked(head, version, limits)
}

fn parse_checked(head: &[u8], version: Version, limits: &Limits) -> Result<RequestHead, HttpError> {
    const ON_STACK: usize = 128;
    let mut stack = [httparse::EMPTY_HEADER; ON_STACK];
    let mut heap;
    let slots: &mut [httparse::Header<'_>] = if limits.max_headers <= ON_STACK {
        &mut stack[..limits.max_headers]
    } else {
        heap = vec![httparse::EMPTY_HEADER; limits.max_headers];
        &mut heap
    };
    let mut req = httparse::Request::new(slots);
    match req.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(HttpError::bad("malformed request head")),
        Err(e) => return Err(httparse_error(e)),
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HttpError::bad("malformed request line"));
    };
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| HttpError::bad("invalid method"))?;
    let uri = parse_target(&method, target)?;

    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HttpError::bad("invalid field name"))?;
        let value =
            HeaderValue::from_bytes(h.value).map_err(|_| HttpError::bad("invalid field value"))?;
        headers.append(name, value);
    }
    check_host(&uri, version, &mut headers)?;
    let body = body_kind(&method, version, &headers)?;
    let expect_continue = expect_continue(version, &headers, body)?;
    let (keep_alive, upgrade) = connection(version, &headers);
    Ok(RequestHead {
        method,
        uri,
        version,
        headers,
        body,
        keep_alive,
        expect_continue,
        upgrade,
    })
}

/// RFC 9112 section 3.2: a 1.1 request needs exactly one Host field, every
/// request at most one, and its value must be a valid `host[:port]` (or
/// empty). With an absolute-form target the target's authority is the
/// host: the Host field is replaced by it.
fn check_host(uri: &Uri, version: Version, headers: &mut HeaderMap) -> Result<(), HttpError> {
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Err(HttpError::bad("more than one Host")),
        (None, None) if version != Version::HTTP_10 => {
            return Err(HttpError::bad("missing Host"));
        }
        (Some(h), None) if !h.is_empty() && !valid_host(h.as_bytes(), false) => {
            return Err(HttpError::bad("invalid Host"));
        }
        _ => {}
    }
    if let (Some(_), Some(authority)) = (uri.scheme(), uri.authority()) {
        let value = HeaderValue::from_str(authority.as_str())
            .map_err(|_| HttpError::bad("invalid authority in request target"))?;
        headers.insert(HOST, value);
    }
    Ok(())
}

/// Drops the empty lines [`HeadScanner`](super::HeadScanner) skipped.
fn skip_empty_lines(mut head: &[u8]) -> Result<&[u8], HttpError> {
    let mut n = 0;
    while let Some(rest) = head.strip_prefix(b"\r\n") {
        n += 1;
        if n > MAX_LEADING_EMPTY_LINES {
            return Err(HttpError::bad("too many empty lines before the request"));
        }
        head = rest;
    }
    Ok(head)
}

/// Every CR is followed by LF and every LF preceded by CR (RFC 9112
/// section 2.2: a bare CR is invalid; a bare LF is refused by choice).
fn check_line_ends(head: &[u8]) -> Result<(), HttpError> {
    let mut prev_cr = false;
    for &b in head {
        match (prev_cr, b) {
            (true, b'\n') => prev_cr = false,
            (true, _) => return Err(HttpError::bad("bare CR")),
            (false, b'\n') => return Err(HttpError::bad("bare LF line end")),
            (false, b'\r') => prev_cr = true,
            (false, _) => {}
        }
    }
    if prev_cr {
        return Err(HttpError::bad("bare CR"));
    }
    Ok(())
}

fn httparse_error(e: httparse::Error) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "too many header fields",
        ),
        httparse::Error::Token => HttpError::bad("invalid method or request line"),
        httparse::Error::Version => HttpError::bad("malformed HTTP version"),
        httparse::Error::HeaderName => HttpError::bad("invalid field line"),
        httparse::Error::HeaderValue => HttpError::bad("invalid field value"),
        httparse::Error::NewLine => HttpError::bad("malformed line end"),
        _ => HttpError::bad("malformed request head"),
    }
}
