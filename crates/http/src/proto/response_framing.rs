//! How a response's body is framed (RFC 9112 section 6.3).

use http::header::{HeaderName, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode, Version};

use super::framing::{
    content_length, decimal_length, scan_transfer_codings, BodyKind, ConnectionOptions,
};
use super::response::bad;
use super::token::trim_ows;
use super::{HttpError, Lenient, ResponseBodyKind};

/// What the framing needs from the fields, noted while the map is built
/// so that the common response costs no lookups in it.
#[derive(Default)]
pub(super) struct FramingFields {
    transfer_encoding: bool,
    /// Content-Length field lines, and the value of the last one read
    /// as a single `1*DIGIT`.
    lengths: usize,
    length: Option<Result<u64, HttpError>>,
    pub(super) connection: ConnectionOptions,
    /// Connection field lines.
    connections: usize,
}

impl FramingFields {
    pub(super) fn note(&mut self, name: &HeaderName, value: &[u8]) {
        if name == CONTENT_LENGTH {
            self.lengths += 1;
            self.length = Some(decimal_length(value).map_err(bad));
        } else if name == TRANSFER_ENCODING {
            self.transfer_encoding = true;
        } else if name == CONNECTION {
            self.connections += 1;
            self.connection.add(value);
        }
    }

    /// [`note`](Self::note) for a line whose `Connection` options
    /// (`options`, for a `Connection` line) are known already.
    #[inline]
    pub(super) fn note_known(
        &mut self,
        name: &HeaderName,
        value: &[u8],
        options: Option<ConnectionOptions>,
    ) {
        match options {
            // The first line's options are all there is so far.
            Some(options) if self.connections == 0 => {
                self.connections = 1;
                self.connection = options;
            }
            _ => self.note(name, value),
        }
    }
}

/// The body framing of a response with `status` and `headers` (`seen`
/// noted from them) to a request with `method`, in the order of RFC 9112
/// section 6.3.
pub(super) fn response_body_kind(
    method: &Method,
    status: StatusCode,
    version: Version,
    headers: &HeaderMap,
    seen: &FramingFields,
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
    let (has_te, has_cl) = (seen.transfer_encoding, seen.lengths > 0);
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
        let length = match seen.length {
            Some(length) if seen.lengths == 1 => length,
            _ => match content_length(headers) {
                Ok(BodyKind::Length(n)) => Ok(n),
                Ok(_) => Err(bad("malformed Content-Length")),
                Err(e) => Err(bad(e.reason)),
            },
        };
        return match length {
            Ok(n) => Ok(ResponseBodyKind::Length(n)),
            Err(_) if lenient.content_length_list => equal_lengths(headers),
            Err(e) => Err(e),
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
    let codings = scan_transfer_codings(headers).map_err(bad)?;
    if !codings.any {
        return Err(bad("empty Transfer-Encoding"));
    }
    if codings.chunked > 1 {
        return Err(bad("chunked applied more than once"));
    }
    if codings.other {
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
            let n = decimal_length(e).map_err(bad)?;
            if seen.is_some_and(|s| s != n) {
                return Err(bad("conflicting Content-Length values"));
            }
            seen = Some(n);
        }
    }
    seen.map(ResponseBodyKind::Length)
        .ok_or(bad("malformed Content-Length"))
}
