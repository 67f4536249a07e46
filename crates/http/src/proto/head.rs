//! [`parse_request_head`]: a complete request head to a [`RequestHead`].

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use super::framing::{body_kind, expect_continue, ConnectionOptions};
use super::scan::{find_lf, MAX_LEADING_EMPTY_LINES};
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

/// A [`RequestHead`] as the server takes it: `headers` is `None` when the
/// fields were checked without a map being made ([`finish_lazy`]), to be
/// made from the head's bytes if ever looked at.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: Option<HeaderMap>,
    pub(crate) body: BodyKind,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    pub(crate) upgrade: bool,
}

impl Head {
    /// [`RequestHead::has_body`].
    pub(crate) fn has_body(&self) -> bool {
        !matches!(self.body, BodyKind::None | BodyKind::Length(0))
    }

    /// The public head; its map made from `shared` (the head's bytes) if
    /// it was left out.
    pub(crate) fn into_public(self, shared: &Bytes) -> RequestHead {
        RequestHead {
            method: self.method,
            uri: self.uri,
            version: self.version,
            headers: self
                .headers
                .unwrap_or_else(|| super::fast_head::fields_map(shared)),
            body: self.body,
            keep_alive: self.keep_alive,
            expect_continue: self.expect_continue,
            upgrade: self.upgrade,
        }
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
    let shared = Bytes::copy_from_slice(head);
    parse_request_head_shared(&shared, limits, None).map(|h| h.into_public(&shared))
}

/// [`parse_request_head`] of a head already held as [`Bytes`] (the server
/// splits it off its input): the target and the field values are slices
/// of `head`, nothing is copied. With a connection's `cache`, what
/// repeats from its previous requests is not checked again.
pub(crate) fn parse_request_head_shared(
    shared: &Bytes,
    limits: &Limits,
    cache: Option<&mut HeadCache>,
) -> Result<Head, HttpError> {
    let head = skip_empty_lines(shared)?;
    check_line_ends(head)?;
    if !head.ends_with(b"\r\n\r\n") {
        return Err(HttpError::bad("incomplete request head"));
    }
    // Every LF follows a CR now: the first one ends the request line.
    let line_len = find_lf(head).map_or(0, |lf| lf - 1);
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
    let version = if request_line.ends_with(b" HTTP/1.1") {
        Version::HTTP_11
    } else {
        match request_line.iter().rposition(|&b| b == b' ') {
            Some(sp) => parse_version(&request_line[sp + 1..])?,
            None => return Err(HttpError::bad("malformed request line")),
        }
    };
    // httparse knows only 1.0 and 1.1: show it 1.1 for a later minor.
    if request_line.ends_with(b"HTTP/1.1") || request_line.ends_with(b"HTTP/1.0") {
        return parse_checked(shared, head, version, limits, cache);
    }
    let mut h = head.to_vec();
    h[line_len - 1] = b'1';
    let patched = Bytes::from(h);
    parse_checked(&patched, &patched, version, limits, cache)
}

/// How many httparse header slots [`header_slots`] keeps on the stack.
pub(super) const SLOTS_ON_STACK: usize = 128;

/// `max` uninitialised httparse header slots (zeroing a hundred headers
/// costs more than parsing a small head): in `stack` for the usual
/// limits, in `heap` above them. Used by the request and response parsers.
pub(super) fn header_slots<'a, 'h>(
    stack: &'a mut [MaybeUninit<httparse::Header<'h>>; SLOTS_ON_STACK],
    heap: &'a mut Vec<MaybeUninit<httparse::Header<'h>>>,
    max: usize,
) -> &'a mut [MaybeUninit<httparse::Header<'h>>] {
    if max <= SLOTS_ON_STACK {
        &mut stack[..max]
    } else {
        heap.resize_with(max, MaybeUninit::uninit);
        &mut heap[..]
    }
}

/// `head` is a slice of `shared`.
fn parse_checked(
    shared: &Bytes,
    head: &[u8],
    version: Version,
    limits: &Limits,
    cache: Option<&mut HeadCache>,
) -> Result<Head, HttpError> {
    let mut stack = [const { MaybeUninit::uninit() }; SLOTS_ON_STACK];
    let mut heap = Vec::new();
    let slots = header_slots(&mut stack, &mut heap, limits.max_headers);
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, slots) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(HttpError::bad("malformed request head")),
        Err(e) => return Err(httparse_error(e)),
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HttpError::bad("malformed request line"));
    };
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| HttpError::bad("invalid method"))?;
    let fields = req.headers.iter().map(|h| (h.name.as_bytes(), h.value));
    finish(shared, method, target.as_bytes(), version, fields, cache)
}

/// What repeats from one request to the next on a connection, kept so
/// that it is checked once: the Host value (a client sends the same one
/// every time). It owns its bytes: a read buffer is not kept alive by it.
#[derive(Debug, Default)]
pub(crate) struct HeadCache {
    /// A Host value that passed every check, as a field value.
    host: Option<HeaderValue>,
}

/// Host values longer than this are checked every time rather than kept.
const CACHED_HOST_MAX: usize = 255;

impl HeadCache {
    /// The kept Host value, if `value` is its bytes (then valid already).
    fn host_for(&self, value: &[u8]) -> Option<&HeaderValue> {
        self.host.as_ref().filter(|h| h.as_bytes() == value)
    }

    /// Keeps the request's Host value, once the head passed the checks,
    /// unless it is the kept one already.
    fn keep_host(&mut self, present: &Present<'_>) {
        if present.hosts == 1 && !present.host_checked && present.host.len() <= CACHED_HOST_MAX {
            self.host = HeaderValue::from_bytes(present.host).ok();
        }
    }
}

/// The checks and the [`Head`] once the head is tokenised (by
/// httparse or by the one-pass parser of the common head): `target` and
/// the field names and values are slices of `shared`.
pub(super) fn finish<'a>(
    shared: &Bytes,
    method: Method,
    target: &[u8],
    version: Version,
    fields: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])>,
    cache: Option<&mut HeadCache>,
) -> Result<Head, HttpError> {
    let uri = target_uri(&method, shared, target)?;

    let mut headers = super::spare_maps::take(fields.len());
    let mut present = Present::default();
    for (name, value) in fields {
        let name =
            super::names::field_name(name).map_err(|_| HttpError::bad("invalid field name"))?;
        present.note(&name, value);
        let cached = match cache.as_deref() {
            Some(c) if name == HOST => c.host_for(value).cloned(),
            _ => None,
        };
        let value = match cached {
            Some(v) => {
                // The same bytes passed valid_host before.
                present.host_checked = true;
                v
            }
            None => HeaderValue::from_maybe_shared(sub(shared, value))
                .map_err(|_| HttpError::bad("invalid field value"))?,
        };
        headers.append(name, value);
    }
    check_host(&uri, version, &present, &mut headers)?;
    if let Some(c) = cache {
        c.keep_host(&present);
    }
    let body = if present.framing {
        body_kind(&method, version, &headers)?
    } else {
        BodyKind::None
    };
    let expect_continue = present.expect && expect_continue(version, &headers, body)?;
    let (keep_alive, upgrade) = present.connection.decide(version, present.upgrade);
    Ok(Head {
        method,
        uri,
        version,
        headers: Some(headers),
        body,
        keep_alive,
        expect_continue,
        upgrade,
    })
}

/// [`finish`] for an origin-form HTTP/1.1 head that the one-pass parser
/// tokenised, without building the field map when no check needs it (no
/// Content-Length, Transfer-Encoding or Expect field): the result's
/// `headers` is then `None`, the fields to be read from the head if
/// needed ([`fields_map`](super::fast_head::fields_map)).
pub(super) fn finish_lazy<'a>(
    shared: &Bytes,
    method: Method,
    target: &[u8],
    fields: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + Clone,
    cache: Option<&mut HeadCache>,
) -> Result<Head, HttpError> {
    let version = Version::HTTP_11;
    let mut present = Present::default();
    for (name, value) in fields.clone() {
        present.note_raw(name, value);
    }
    if present.framing || present.expect {
        return finish(shared, method, target, version, fields, cache);
    }
    let uri = target_uri(&method, shared, target)?;
    debug_assert!(uri.scheme().is_none());
    present.host_checked = present.hosts == 1
        && cache
            .as_deref()
            .is_some_and(|c| c.host_for(present.host).is_some());
    check_host_field(version, &present)?;
    if let Some(c) = cache {
        c.keep_host(&present);
    }
    let (keep_alive, upgrade) = present.connection.decide(version, present.upgrade);
    Ok(Head {
        method,
        uri,
        version,
        headers: None,
        body: BodyKind::None,
        keep_alive,
        expect_continue: false,
        upgrade,
    })
}

/// [`parse_target`] of `target`, a slice of `shared`; the most common
/// target, `/`, without a look at its bytes or a share of `shared`.
fn target_uri(method: &Method, shared: &Bytes, target: &[u8]) -> Result<Uri, HttpError> {
    if target == b"/" && *method != Method::CONNECT {
        return Ok(Uri::from_static("/"));
    }
    parse_target(method, sub(shared, target))
}

/// `part`, a slice of `shared`, as the same bytes of `shared`: no
/// allocation.
pub(super) fn sub(shared: &Bytes, part: &[u8]) -> Bytes {
    let at = (part.as_ptr() as usize).wrapping_sub(shared.as_ptr() as usize);
    match at.checked_add(part.len()) {
        Some(end) if end <= shared.len() && !part.is_empty() => shared.slice(at..end),
        _ => Bytes::copy_from_slice(part),
    }
}

/// What the checks need from the fields, gathered while the map is built
/// so that the common request costs no lookups in it.
#[derive(Default)]
struct Present<'a> {
    hosts: usize,
    host: &'a [u8],
    /// The Host value is the cached one: valid already.
    host_checked: bool,
    framing: bool,
    expect: bool,
    upgrade: bool,
    connection: ConnectionOptions,
}

impl<'a> Present<'a> {
    /// [`note`](Self::note) by the raw name (a token), without making a
    /// [`HeaderName`]: the same names, compared in any case.
    fn note_raw(&mut self, name: &[u8], value: &'a [u8]) {
        use super::names::folds_to;
        match name.len() {
            4 if folds_to(name, b"host") => {
                self.hosts += 1;
                self.host = value;
            }
            14 if folds_to(name, b"content-length") => self.framing = true,
            17 if folds_to(name, b"transfer-encoding") => self.framing = true,
            6 if folds_to(name, b"expect") => self.expect = true,
            10 if folds_to(name, b"connection") => self.connection.add(value),
            7 if folds_to(name, b"upgrade") => self.upgrade = true,
            _ => {}
        }
    }

    fn note(&mut self, name: &HeaderName, value: &'a [u8]) {
        if name == HOST {
            self.hosts += 1;
            self.host = value;
        } else if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            self.framing = true;
        } else if name == EXPECT {
            self.expect = true;
        } else if name == CONNECTION {
            self.connection.add(value);
        } else if name == UPGRADE {
            self.upgrade = true;
        }
    }
}

/// RFC 9112 section 3.2: a 1.1 request needs exactly one Host field, every
/// request at most one, and its value must be a valid `host[:port]` (or
/// empty). With an absolute-form target the target's authority is the
/// host: the Host field is replaced by it.
fn check_host(
    uri: &Uri,
    version: Version,
    present: &Present<'_>,
    headers: &mut HeaderMap,
) -> Result<(), HttpError> {
    check_host_field(version, present)?;
    if let (Some(_), Some(authority)) = (uri.scheme(), uri.authority()) {
        let value = HeaderValue::from_str(authority.as_str())
            .map_err(|_| HttpError::bad("invalid authority in request target"))?;
        headers.insert(HOST, value);
    }
    Ok(())
}

/// The Host field rules of [`check_host`], without the target.
fn check_host_field(version: Version, present: &Present<'_>) -> Result<(), HttpError> {
    match present.hosts {
        0 if version != Version::HTTP_10 => Err(HttpError::bad("missing Host")),
        1 if !present.host_checked
            && !present.host.is_empty()
            && !valid_host(present.host, false) =>
        {
            Err(HttpError::bad("invalid Host"))
        }
        0 | 1 => Ok(()),
        _ => Err(HttpError::bad("more than one Host")),
    }
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
pub(super) fn check_line_ends(head: &[u8]) -> Result<(), HttpError> {
    // Branch-free over byte pairs so that it vectorises; the reason is
    // looked for only once something is wrong.
    let bad = head.first() == Some(&b'\n')
        || head.last() == Some(&b'\r')
        || head
            .iter()
            .zip(&head[1.min(head.len())..])
            .fold(false, |bad, (&a, &b)| bad | ((a == b'\r') != (b == b'\n')));
    if !bad {
        return Ok(());
    }
    let bare_cr =
        head.last() == Some(&b'\r') || head.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n');
    Err(HttpError::bad(if bare_cr {
        "bare CR"
    } else {
        "bare LF line end"
    }))
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
