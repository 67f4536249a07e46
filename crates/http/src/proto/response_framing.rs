//! How a response's body is framed (RFC 9112 section 6.3).

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};

use super::framing::{content_length, BodyKind};
use super::response::bad;
use super::token::{is_token, list_elements, trim_ows};
use super::{HttpError, Lenient, ResponseBodyKind};

/// The body framing of a response with `status` and `headers` to a
/// request with `method`, in the order of RFC 9112 section 6.3.
pub(super) fn response_body_kind(
    method: &Method,
    status: StatusCode,
    version: Version,
    headers: &HeaderMap,
    lenient: &Lenient,
) -> Result<ResponseBodyKind, HttpError> {
    // Rule 2 (before rule 1: 101 is a 1xx, but the connection switches).
    if status == StatusCode::SWITCHING_PROTOCOLS
        || (*method == Method::CONNECT && status.is_success())
    {
        return Ok(ResponseBodyKind::Tunnel);
    }
    // Rule 1: whatever the fields say, the head ends the response.
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(ResponseBodyKind::None);
    }
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    let has_cl = headers.contains_key(CONTENT_LENGTH);
    if has_te {
        // Rule 3: TE with CL may be an attempt at response splitting; TE
        // in a 1.0 message means the framing is faulty (RFC 9112 6.1).
        // Both are errors, lenient or not.
        if has_cl {
            return Err(bad("both Transfer-Encoding and Content-Length"));
        }
        if version == Version::HTTP_10 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 response"));
        }
        return transfer_coding(headers);
    }
    if has_cl {
        return match content_length(headers) {
            Ok(BodyKind::Length(n)) => Ok(ResponseBodyKind::Length(n)),
            Ok(_) => Err(bad("malformed Content-Length")),
            Err(_) if lenient.content_length_list => equal_lengths(headers),
            Err(e) => Err(bad(e.reason)),
        };
    }
    // Rule 8.
    Ok(ResponseBodyKind::CloseDelimited)
}

/// The Transfer-Encoding list (all field lines, in order). `chunked` last,
/// once, without parameters: the body is chunked. A final coding other
/// than `chunked` would make the body close-delimited (rule 4), and any
/// other coding leaves the body encoded in a way this client does not
/// decode: both are errors rather than bytes handed over as if they were
/// the content.
fn transfer_coding(headers: &HeaderMap) -> Result<ResponseBodyKind, HttpError> {
    let mut chunked = 0;
    let mut other = false;
    let mut any = false;
    for v in headers.get_all(TRANSFER_ENCODING) {
        for coding in list_elements(v.as_bytes()) {
            any = true;
            let (name, params) = match coding.iter().position(|&b| b == b';') {
                Some(i) => (trim_ows(&coding[..i]), Some(&coding[i..])),
                None => (coding, None),
            };
            if !is_token(name) {
                return Err(bad("malformed Transfer-Encoding"));
            }
            if name.eq_ignore_ascii_case(b"chunked") {
                chunked += 1;
                if params.is_some() {
                    return Err(bad("parameters on chunked"));
                }
            } else {
                other = true;
            }
        }
    }
    if !any {
        return Err(bad("empty Transfer-Encoding"));
    }
    if chunked > 1 {
        return Err(bad("chunked applied more than once"));
    }
    if other {
        return Err(bad("transfer coding not supported"));
    }
    Ok(ResponseBodyKind::Chunked)
}

/// [`Lenient::content_length_list`]: every element of every
/// Content-Length line is the same `1*DIGIT`.
fn equal_lengths(headers: &HeaderMap) -> Result<ResponseBodyKind, HttpError> {
    let mut seen = None;
    for v in headers.get_all(CONTENT_LENGTH) {
        // Elements are split on commas only: an empty element is an
        // error here, not skipped.
        for e in v.as_bytes().split(|&b| b == b',').map(trim_ows) {
            if e.is_empty() || !e.iter().all(u8::is_ascii_digit) {
                return Err(bad("malformed Content-Length"));
            }
            let n = e
                .iter()
                .try_fold(0u64, |n, &d| {
                    n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                })
                .ok_or(bad("Content-Length out of range"))?;
            if seen.is_some_and(|s| s != n) {
                return Err(bad("conflicting Content-Length values"));
            }
            seen = Some(n);
        }
    }
    seen.map(ResponseBodyKind::Length)
        .ok_or(bad("malformed Content-Length"))
}
