//! How a request's body is framed (RFC 9112 section 6), and the fields that
//! steer the connection: Expect, Connection, Upgrade.

use http::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};

use super::token::{is_token, list_elements, trim_ows};
use super::HttpError;

/// How the body of a request is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// No body: neither Content-Length nor Transfer-Encoding.
    None,
    /// Exactly this many bytes follow the head (`Content-Length`; may be 0).
    Length(u64),
    /// The chunked transfer coding: decode with
    /// [`ChunkedDecoder`](super::ChunkedDecoder).
    Chunked,
}

/// The body framing, by the rules of RFC 9112 section 6.
pub(crate) fn body_kind(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<BodyKind, HttpError> {
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    let has_cl = headers.contains_key(CONTENT_LENGTH);
    let kind = if has_te {
        if version == Version::HTTP_10 {
            return Err(HttpError::bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if has_cl {
            return Err(HttpError::bad("both Transfer-Encoding and Content-Length"));
        }
        transfer_coding(headers)?
    } else if has_cl {
        content_length(headers)?
    } else {
        BodyKind::None
    };
    let has_body = !matches!(kind, BodyKind::None | BodyKind::Length(0));
    if has_body && *method == Method::TRACE {
        return Err(HttpError::bad("TRACE request with a body"));
    }
    if has_body && *method == Method::CONNECT {
        return Err(HttpError::bad("CONNECT request with a body"));
    }
    Ok(kind)
}

/// Exactly one Content-Length field line holding `1*DIGIT` that fits u64.
/// A list, even of equal values, and a repeated field line are refused:
/// RFC 9110 section 8.6 lets a recipient reject them, and another parser
/// on the path may have picked a different one.
pub(super) fn content_length(headers: &HeaderMap) -> Result<BodyKind, HttpError> {
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let (Some(v), None) = (values.next(), values.next()) else {
        return Err(HttpError::bad("more than one Content-Length"));
    };
    decimal_length(v.as_bytes())
        .map(BodyKind::Length)
        .map_err(HttpError::bad)
}

/// One Content-Length value: `1*DIGIT` within u64. The error is the
/// reason, for the caller to give its own status (a request's 400, a
/// response's 502).
pub(super) fn decimal_length(v: &[u8]) -> Result<u64, &'static str> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err("malformed Content-Length");
    }
    v.iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or("Content-Length out of range")
}

/// The Transfer-Encoding list (all field lines, in order): its last coding
/// must be `chunked` (400: a request body's length could not be known
/// otherwise), `chunked` only once and without parameters (400); any other
/// coding before it is not implemented here (501).
fn transfer_coding(headers: &HeaderMap) -> Result<BodyKind, HttpError> {
    let codings = scan_transfer_codings(headers).map_err(HttpError::bad)?;
    if !codings.any {
        return Err(HttpError::bad("empty Transfer-Encoding"));
    }
    if !codings.last_chunked {
        return Err(HttpError::bad("final transfer coding is not chunked"));
    }
    if codings.chunked > 1 {
        return Err(HttpError::bad("chunked applied more than once"));
    }
    if codings.other {
        return Err(HttpError::new(
            StatusCode::NOT_IMPLEMENTED,
            "transfer coding not implemented",
        ));
    }
    Ok(BodyKind::Chunked)
}

/// What a Transfer-Encoding list holds; requests and responses draw
/// their own verdicts from it.
pub(super) struct TransferCodings {
    /// At least one coding.
    pub(super) any: bool,
    /// How many times `chunked` is applied.
    pub(super) chunked: usize,
    /// The last coding is `chunked`.
    pub(super) last_chunked: bool,
    /// A coding other than `chunked`.
    pub(super) other: bool,
}

/// Scans the Transfer-Encoding list (all field lines, in order). The
/// error, the first met, is the reason (a coding that is not a token,
/// parameters on `chunked`), for the caller to give its own status.
pub(super) fn scan_transfer_codings(headers: &HeaderMap) -> Result<TransferCodings, &'static str> {
    let mut codings = TransferCodings {
        any: false,
        chunked: 0,
        last_chunked: false,
        other: false,
    };
    for v in headers.get_all(TRANSFER_ENCODING) {
        for coding in list_elements(v.as_bytes()) {
            codings.any = true;
            let (name, params) = match coding.iter().position(|&b| b == b';') {
                Some(i) => (trim_ows(&coding[..i]), Some(&coding[i..])),
                None => (coding, None),
            };
            if !is_token(name) {
                return Err("malformed Transfer-Encoding");
            }
            codings.last_chunked = name.eq_ignore_ascii_case(b"chunked");
            if codings.last_chunked {
                codings.chunked += 1;
                if params.is_some() {
                    return Err("parameters on chunked");
                }
            } else {
                codings.other = true;
            }
        }
    }
    Ok(codings)
}

/// Whether the request asks for `100 Continue`. Any expectation other than
/// `100-continue` (case-insensitive) is a 417; an HTTP/1.0 request's
/// `100-continue` is ignored, as RFC 9110 section 10.1.1 requires, and so is
/// one on a request without a body (there is nothing to wait for).
pub(crate) fn expect_continue(
    version: Version,
    headers: &HeaderMap,
    body: BodyKind,
) -> Result<bool, HttpError> {
    let mut cont = false;
    for v in headers.get_all(EXPECT) {
        for e in list_elements(v.as_bytes()) {
            if !e.eq_ignore_ascii_case(b"100-continue") {
                return Err(HttpError::new(
                    StatusCode::EXPECTATION_FAILED,
                    "unsupported expectation",
                ));
            }
            cont = true;
        }
    }
    let has_body = !matches!(body, BodyKind::None | BodyKind::Length(0));
    Ok(cont && has_body && version != Version::HTTP_10)
}

/// The Connection options seen (`close`, `keep-alive`, `upgrade`; others
/// name fields for proxies and do not concern an origin server).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ConnectionOptions {
    close: bool,
    keep_alive: bool,
    upgrade: bool,
}

impl ConnectionOptions {
    /// Adds the options of one Connection field line.
    pub(crate) fn add(&mut self, value: &[u8]) {
        for opt in list_elements(value) {
            self.close |= opt.eq_ignore_ascii_case(b"close");
            self.keep_alive |= opt.eq_ignore_ascii_case(b"keep-alive");
            self.upgrade |= opt.eq_ignore_ascii_case(b"upgrade");
        }
    }

    /// `(keep_alive, upgrade)` by the options and the version: `close`
    /// always ends the connection; 1.1 persists by default, 1.0 only with
    /// `keep-alive`. An upgrade needs 1.1, an Upgrade field
    /// (`upgrade_field`) and the `upgrade` option (RFC 9110 section 7.8
    /// ignores Upgrade in 1.0).
    pub(crate) fn decide(self, version: Version, upgrade_field: bool) -> (bool, bool) {
        let keep_alive = !self.close && (version != Version::HTTP_10 || self.keep_alive);
        let upgrade = self.upgrade && upgrade_field && version != Version::HTTP_10;
        (keep_alive, upgrade)
    }
}
