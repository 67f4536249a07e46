//! [`parse_response_head`]: a complete response head to a [`ResponseHead`],
//! for a client.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderMap, Method, StatusCode, Version};

use super::head::{check_line_ends, header_slots, sub, SLOTS_ON_STACK};
use super::response_cache::FieldCache;
use super::response_framing::{response_body_kind, FramingFields};
use super::response_lines::read_lines;
use super::scan::{find_lf, MAX_LEADING_EMPTY_LINES};
use super::version::parse_version;
use super::{HttpError, Limits};

/// The deviations from RFC 9112 a client may accept from servers that
/// break it. [`Lenient::default`] accepts none of them (strict);
/// [`Lenient::all`] accepts every one.
///
/// None of them lets two parsers disagree on where a response ends in a
/// way that matters here: conflicting lengths stay errors whatever is
/// switched on.
///
/// ```
/// use evloop_http::proto::Lenient;
///
/// let strict = Lenient::default();
/// assert!(!strict.obs_fold && !strict.bare_lf);
/// let old_servers = Lenient { obs_fold: true, http09: true, ..Lenient::default() };
/// assert!(old_servers.http09);
/// assert!(Lenient::all().space_before_colon);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lenient {
    /// A field line continued on the next line by leading whitespace
    /// (obs-fold, RFC 9112 section 5.2): each fold becomes spaces in the
    /// value, as the RFC has a user agent do. Strict: an error.
    pub obs_fold: bool,
    /// Whitespace between a field name and its colon (`Name : value`):
    /// dropped. Strict: an error (RFC 9112 section 5.1 has a proxy reject
    /// it, and a client is better off doing the same).
    pub space_before_colon: bool,
    /// A response that does not start with `HTTP/`: an HTTP/0.9 response,
    /// whose every byte is body, up to the close. Strict: an error.
    pub http09: bool,
    /// A bare LF as a line end in the head (RFC 9112 section 2.2 lets a
    /// recipient accept it). A bare CR stays an error. Strict: an error.
    pub bare_lf: bool,
    /// A Content-Length list or repeated field whose values are all equal
    /// (`Content-Length: 5, 5`): that length (RFC 9110 section 8.6 allows
    /// it). Different values stay an error. Strict: an error.
    pub content_length_list: bool,
}

impl Lenient {
    /// Every switch on.
    pub const fn all() -> Self {
        Lenient {
            obs_fold: true,
            space_before_colon: true,
            http09: true,
            bare_lf: true,
            content_length_list: true,
        }
    }
}

/// How the body of a response is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseBodyKind {
    /// No body: a response to HEAD, a 1xx (but 101), 204 or 304, whatever
    /// its fields say.
    None,
    /// Exactly this many bytes follow the head (`Content-Length`; may be 0).
    Length(u64),
    /// The chunked transfer coding: decode with
    /// [`ChunkedDecoder`](super::ChunkedDecoder).
    Chunked,
    /// The body is every byte up to the close of the connection (neither
    /// Content-Length nor Transfer-Encoding, or HTTP/0.9).
    CloseDelimited,
    /// The connection stops carrying HTTP after the head: `101 Switching
    /// Protocols`, or a 2xx answer to CONNECT. The bytes after the head
    /// belong to the new protocol.
    Tunnel,
}

/// A parsed, checked response head.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResponseHead {
    /// The status code (100 to 599).
    pub status: StatusCode,
    /// `HTTP_10` or `HTTP_11` (a response naming `HTTP/1.2`..`HTTP/1.9` is
    /// treated as 1.1), or `HTTP_09` for a response without a status line
    /// (only with [`Lenient::http09`]).
    pub version: Version,
    /// The reason phrase as sent (empty when there is none). Bytes outside
    /// ASCII, which RFC 9112 leaves opaque, are replaced with U+FFFD.
    /// The status's own phrase (`OK` for 200, ...) is borrowed, not
    /// allocated.
    pub reason: Cow<'static, str>,
    /// The header fields, in order; names are lowercase.
    pub headers: HeaderMap,
    /// How the body is framed.
    pub body: ResponseBodyKind,
    /// Whether the connection may carry another request after this
    /// response's body: by version and the Connection field, and never
    /// after a close-delimited body or a tunnel.
    pub keep_alive: bool,
}

impl ResponseHead {
    /// True for a 1xx other than 101: an interim response, after which the
    /// final one follows on the same connection.
    pub fn is_informational(&self) -> bool {
        self.status.is_informational() && self.status != StatusCode::SWITCHING_PROTOCOLS
    }

    /// True when body bytes follow the head (chunked, close-delimited or a
    /// non-zero Content-Length).
    pub fn has_body(&self) -> bool {
        !matches!(
            self.body,
            ResponseBodyKind::None | ResponseBodyKind::Length(0) | ResponseBodyKind::Tunnel
        )
    }
}

/// Parses a complete response head: the bytes
/// [`ResponseScanner::scan`](super::ResponseScanner::scan) measured (up to
/// [`MAX_LEADING_EMPTY_LINES`] empty lines, the status line, the field
/// lines and the blank line; nothing after it). `req_method` is the method
/// of the request answered: a response to HEAD has no body, a 2xx to
/// CONNECT opens a tunnel.
///
/// The status line is `HTTP-version SP 3DIGIT SP reason-phrase`, the
/// reason possibly empty; the code must be 100 to 599 (RFC 9110 section
/// 15). Field lines follow the same rules as a request's, relaxed only by
/// the switches of `lenient`. The body's framing follows RFC 9112 section
/// 6.3; see the [module documentation](super) for the list of rules and
/// the choices made. With [`Lenient::http09`], a head that does not start
/// with `HTTP/` (such as the empty one the scanner measures for such a
/// response) describes an HTTP/0.9 response: status 200, version
/// `HTTP_09`, no fields, a close-delimited body that starts with the
/// input's first byte. An error means the connection cannot be trusted to
/// carry anything more: close it. Its status is always 502 (what a proxy
/// answers for an upstream that broke the protocol).
///
/// ```
/// use evloop_http::proto::{parse_response_head, Lenient, Limits, ResponseBodyKind};
/// use http::Method;
///
/// let (limits, strict) = (Limits::default(), Lenient::default());
/// let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
/// let resp = parse_response_head(head, &Method::GET, &limits, &strict).unwrap();
/// assert_eq!(resp.status, 200);
/// assert_eq!(resp.reason, "OK");
/// assert_eq!(resp.body, ResponseBodyKind::Length(5));
/// assert!(resp.keep_alive);
///
/// // The same head answering HEAD: no body follows.
/// let resp = parse_response_head(head, &Method::HEAD, &limits, &strict).unwrap();
/// assert_eq!(resp.body, ResponseBodyKind::None);
///
/// // HTTP/1.0 without a length: the body ends with the connection.
/// let resp = parse_response_head(b"HTTP/1.0 200 OK\r\n\r\n", &Method::GET, &limits, &strict)
///     .unwrap();
/// assert_eq!(resp.body, ResponseBodyKind::CloseDelimited);
/// assert!(!resp.keep_alive);
///
/// let split = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
/// assert!(parse_response_head(split, &Method::GET, &limits, &strict).is_err());
/// ```
pub fn parse_response_head(
    head: &[u8],
    req_method: &Method,
    limits: &Limits,
    lenient: &Lenient,
) -> Result<ResponseHead, HttpError> {
    parse_response_head_shared(
        &Bytes::copy_from_slice(head),
        req_method,
        limits,
        lenient,
        None,
    )
}

/// [`parse_response_head`] of a head already held as [`Bytes`] (a client
/// splits it off its input): the field values are slices of `shared`,
/// nothing is copied. `cache` holds the field lines of the previous
/// response on the connection (and gets this one's).
pub(crate) fn parse_response_head_shared(
    shared: &Bytes,
    req_method: &Method,
    limits: &Limits,
    lenient: &Lenient,
    mut cache: Option<&mut FieldCache>,
) -> Result<ResponseHead, HttpError> {
    let head = skip_empty_lines(shared, lenient)?;
    if lenient.http09 && !head.starts_with(b"HTTP/") {
        return Ok(http09_head());
    }
    if lenient.bare_lf {
        check_no_bare_cr(head)?;
        if !(head.ends_with(b"\n\r\n") || head.ends_with(b"\n\n")) {
            return Err(bad("incomplete response head"));
        }
    } else {
        check_line_ends(head).map_err(|e| bad(e.reason))?;
        if !head.ends_with(b"\r\n\r\n") {
            return Err(bad("incomplete response head"));
        }
    }
    let Some(lf) = find_lf(head) else {
        return Err(bad("incomplete response head"));
    };
    let line_len = if lf > 0 && head[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    if line_len > limits.max_request_line {
        return Err(bad("status line too long"));
    }
    if head.len() > limits.max_head {
        return Err(bad("response head too large"));
    }
    let line = parse_status_line(&head[..line_len])?;
    // A connection's later responses, in strict mode: the field lines
    // are read without httparse (see `response_lines`), whatever the
    // version's minor.
    let strict_lines = !(lenient.obs_fold || lenient.space_before_colon || lenient.bare_lf);
    if let Some(cache) = cache.as_deref_mut().filter(|_| strict_lines) {
        if let Some((headers, seen)) = read_lines(shared, head, lf + 1, limits, cache) {
            return finish(line, headers, &seen, req_method, lenient);
        }
    }
    if line.version_bytes == b"HTTP/1.1" || line.version_bytes == b"HTTP/1.0" {
        return parse_fields(shared, head, line, req_method, limits, lenient, cache);
    }
    // httparse knows only 1.0 and 1.1: show it 1.1 for a later minor.
    let mut h = head.to_vec();
    h[7] = b'1';
    let patched = Bytes::from(h);
    parse_fields(&patched, &patched, line, req_method, limits, lenient, cache)
}

/// The status line's parts.
struct StatusLine<'a> {
    version_bytes: &'a [u8],
    version: Version,
    status: StatusCode,
    reason: &'a [u8],
}

/// `HTTP-version SP 3DIGIT SP reason-phrase` (RFC 9112 section 4). The SP
/// before an empty reason may be missing: nothing can be misread for it,
/// and servers that leave it out are common enough that every client
/// takes them.
fn parse_status_line(line: &[u8]) -> Result<StatusLine<'_>, HttpError> {
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        return Err(bad("malformed status line"));
    };
    let version_bytes = &line[..sp];
    let version = parse_version(version_bytes).map_err(|e| {
        if e.status == StatusCode::HTTP_VERSION_NOT_SUPPORTED {
            bad("HTTP version not supported")
        } else {
            bad("malformed HTTP version")
        }
    })?;
    let rest = &line[sp + 1..];
    let (code, reason) = match rest {
        [a, b, c] => ([*a, *b, *c], &rest[3..]),
        [a, b, c, b' ', ..] => ([*a, *b, *c], &rest[4..]),
        _ => return Err(bad("malformed status code")),
    };
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(bad("malformed status code"));
    }
    let n = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&n) {
        return Err(bad("status code out of range"));
    }
    let status = StatusCode::from_u16(n).map_err(|_| bad("status code out of range"))?;
    let reason_ok = |b: &u8| matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xFF);
    if !reason.iter().all(reason_ok) {
        return Err(bad("invalid reason phrase"));
    }
    Ok(StatusLine {
        version_bytes,
        version,
        status,
        reason,
    })
}

/// The field lines, by httparse with the lenient switches, then framing.
/// `head` is a slice of `shared`.
fn parse_fields(
    shared: &Bytes,
    head: &[u8],
    line: StatusLine<'_>,
    req_method: &Method,
    limits: &Limits,
    lenient: &Lenient,
    mut cache: Option<&mut FieldCache>,
) -> Result<ResponseHead, HttpError> {
    let mut stack = [const { MaybeUninit::uninit() }; SLOTS_ON_STACK];
    let mut heap = Vec::new();
    let slots = header_slots(&mut stack, &mut heap, limits.max_headers);
    let mut resp = httparse::Response::new(&mut []);
    let mut config = httparse::ParserConfig::default();
    config
        .allow_obsolete_multiline_headers_in_responses(lenient.obs_fold)
        .allow_spaces_after_header_name_in_responses(lenient.space_before_colon);
    match config.parse_response_with_uninit_headers(&mut resp, head, slots) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(bad("malformed response head")),
        Err(e) => return Err(httparse_error(e)),
    }
    let mut headers = super::spare_maps::take(resp.headers.len());
    let mut seen = FramingFields::default();
    for (i, h) in resp.headers.iter().enumerate() {
        let raw = cache.as_ref().and_then(|_| raw_line(head, h));
        if let (Some(c), Some(raw)) = (cache.as_deref_mut(), raw) {
            if let Some(hit) = c.hit(i, raw) {
                seen.note_known(hit.name, hit.value.as_bytes(), hit.options);
                headers.append(hit.name.clone(), hit.value.clone());
                continue;
            }
        }
        let name =
            super::names::field_name(h.name.as_bytes()).map_err(|_| bad("invalid field name"))?;
        // httparse reads a CR or LF into a value only as part of an
        // obs-fold, which it parses only with the switch on.
        let folded = lenient.obs_fold && h.value.iter().any(|&b| b == b'\r' || b == b'\n');
        let value = if folded {
            // Each CR and LF of the fold becomes a space, as RFC 9112
            // section 5.2 allows.
            let unfolded: Vec<u8> = h
                .value
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect();
            HeaderValue::from_maybe_shared(Bytes::from(unfolded))
        } else {
            match (cache.as_deref_mut(), raw) {
                (Some(c), Some(raw)) if c.wants(i) => {
                    // A copy: the cache must not hold the input's buffer.
                    c.remember(i, raw, &name, Bytes::copy_from_slice(h.value))
                }
                (c, _) => {
                    if let Some(c) = c {
                        c.missed(i);
                    }
                    HeaderValue::from_maybe_shared(sub(shared, h.value))
                }
            }
        }
        .map_err(|_| bad("invalid field value"))?;
        seen.note(&name, value.as_bytes());
        headers.append(name, value);
    }
    finish(line, headers, &seen, req_method, lenient)
}

/// The framing and the head, once the fields are read.
fn finish(
    line: StatusLine<'_>,
    headers: HeaderMap,
    seen: &FramingFields,
    req_method: &Method,
    lenient: &Lenient,
) -> Result<ResponseHead, HttpError> {
    let body = response_body_kind(
        req_method,
        line.status,
        line.version,
        &headers,
        seen,
        lenient,
    )?;
    let (persist, _) = seen.connection.decide(line.version, false);
    let keep_alive = persist
        && !matches!(
            body,
            ResponseBodyKind::CloseDelimited | ResponseBodyKind::Tunnel
        );
    Ok(ResponseHead {
        status: line.status,
        version: line.version,
        reason: reason_phrase(line.status, line.reason),
        headers,
        body,
        keep_alive,
    })
}

/// The bytes of field line `h` of `head`, from its name to its value's
/// end (`None` if httparse's slices are not where they are expected).
fn raw_line<'a>(head: &'a [u8], h: &httparse::Header<'_>) -> Option<&'a [u8]> {
    if h.value.is_empty() {
        // An empty slice may point anywhere.
        return None;
    }
    let base = head.as_ptr() as usize;
    let start = (h.name.as_ptr() as usize).checked_sub(base)?;
    let at = (h.value.as_ptr() as usize).checked_sub(base)?;
    if at < start + h.name.len() {
        return None;
    }
    head.get(start..at.checked_add(h.value.len())?)
}

/// The reason phrase as text: the status's own (`OK` for 200, ...)
/// without an allocation, any other as a copy (bytes outside ASCII as
/// U+FFFD).
fn reason_phrase(status: StatusCode, reason: &[u8]) -> Cow<'static, str> {
    match status.canonical_reason() {
        Some(canonical) if canonical.as_bytes() == reason => Cow::Borrowed(canonical),
        _ if reason.is_empty() => Cow::Borrowed(""),
        _ => Cow::Owned(String::from_utf8_lossy(reason).into_owned()),
    }
}

/// What a response without a status line stands for.
fn http09_head() -> ResponseHead {
    ResponseHead {
        status: StatusCode::OK,
        version: Version::HTTP_09,
        reason: Cow::Borrowed(""),
        headers: HeaderMap::new(),
        body: ResponseBodyKind::CloseDelimited,
        keep_alive: false,
    }
}

/// Drops the empty lines the scanner skipped (CRLF, or LF with
/// [`Lenient::bare_lf`]).
fn skip_empty_lines<'a>(mut head: &'a [u8], lenient: &Lenient) -> Result<&'a [u8], HttpError> {
    let mut n = 0;
    loop {
        let rest = match head {
            [b'\r', b'\n', rest @ ..] => rest,
            [b'\n', rest @ ..] if lenient.bare_lf => rest,
            _ => return Ok(head),
        };
        n += 1;
        if n > MAX_LEADING_EMPTY_LINES {
            return Err(bad("too many empty lines before the response"));
        }
        head = rest;
    }
}

/// Every CR is followed by LF (RFC 9112 section 2.2: a bare CR is never
/// a line end).
fn check_no_bare_cr(head: &[u8]) -> Result<(), HttpError> {
    let bare =
        head.last() == Some(&b'\r') || head.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n');
    if bare {
        return Err(bad("bare CR"));
    }
    Ok(())
}

fn httparse_error(e: httparse::Error) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => bad("too many header fields"),
        httparse::Error::Version => bad("malformed HTTP version"),
        httparse::Error::Status => bad("malformed status line"),
        httparse::Error::HeaderName => bad("invalid field line"),
        httparse::Error::HeaderValue => bad("invalid field value"),
        httparse::Error::NewLine => bad("malformed line end"),
        _ => bad("malformed response head"),
    }
}

/// A response that breaks a rule: 502, what a proxy answers for it.
pub(super) const fn bad(reason: &'static str) -> HttpError {
    HttpError::new(StatusCode::BAD_GATEWAY, reason)
}
