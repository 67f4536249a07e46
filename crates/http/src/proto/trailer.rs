//! The trailer section after a chunked body's last chunk (RFC 9112 section
//! 7.1.2), gathered a byte at a time and parsed once it is complete.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};

use super::HttpError;

/// Where in the section the next byte falls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum At {
    /// At the start of a line.
    #[default]
    LineStart,
    /// Inside a field line.
    InLine,
    /// After a CR inside a field line.
    LineCr,
    /// After a CR at the start of a line: the section ends with the LF.
    EndCr,
}

/// A trailer section being read.
#[derive(Clone, Debug, Default)]
pub(crate) struct Trailer {
    at: At,
    bytes: Vec<u8>,
    fields: usize,
}

impl Trailer {
    /// Feeds `bytes`; returns how many were used and, once the blank line
    /// ending the section is among them, the trailer fields.
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        max_size: usize,
        max_fields: usize,
    ) -> Result<(usize, Option<HeaderMap>), HttpError> {
        for (i, &b) in bytes.iter().enumerate() {
            self.bytes.push(b);
            if self.bytes.len() > max_size {
                return Err(HttpError::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "trailer section too large",
                ));
            }
            self.at = match (self.at, b) {
                (At::LineStart, b'\r') => At::EndCr,
                (At::EndCr, b'\n') => {
                    let fields = parse(&self.bytes, self.fields)?;
                    *self = Trailer::default();
                    return Ok((i + 1, Some(fields)));
                }
                (At::InLine, b'\r') => At::LineCr,
                (At::LineCr, b'\n') => {
                    self.fields += 1;
                    if self.fields > max_fields {
                        return Err(HttpError::new(
                            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                            "too many trailer fields",
                        ));
                    }
                    At::LineStart
                }
                (At::LineCr | At::EndCr, _) => return Err(HttpError::bad("bare CR in trailer")),
                (_, b'\n') => return Err(HttpError::bad("bare LF in trailer")),
                _ => At::InLine,
            };
        }
        Ok((bytes.len(), None))
    }
}

/// Parses a complete section (field lines and the blank line), dropping
/// the fields RFC 9110 section 6.5.1 does not allow in a trailer.
fn parse(section: &[u8], fields: usize) -> Result<HeaderMap, HttpError> {
    let mut slots = vec![httparse::EMPTY_HEADER; fields];
    match httparse::parse_headers(section, &mut slots) {
        Ok(httparse::Status::Complete((n, _))) if n == section.len() => {}
        _ => return Err(HttpError::bad("malformed trailer field")),
    }
    let mut map = HeaderMap::new();
    for h in slots.iter().filter(|h| !h.name.is_empty()) {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HttpError::bad("malformed trailer field"))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| HttpError::bad("malformed trailer field"))?;
        if !forbidden(&name) {
            map.append(name, value);
        }
    }
    Ok(map)
}

/// Fields whose meaning is needed before the content, or that describe the
/// connection or the message framing: never taken from a trailer.
fn forbidden(name: &HeaderName) -> bool {
    const NAMES: &[&str] = &[
        // framing and connection
        "content-length",
        "transfer-encoding",
        "trailer",
        "te",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        // routing
        "host",
        // request controls
        "cache-control",
        "expect",
        "max-forwards",
        "pragma",
        "range",
        // conditionals
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        // authentication and cookies
        "authorization",
        "proxy-authorization",
        "www-authenticate",
        "proxy-authenticate",
        "cookie",
        "set-cookie",
        // response control data
        "age",
        "date",
        "expires",
        "location",
        "retry-after",
        "vary",
        "warning",
        // content processing
        "content-encoding",
        "content-type",
        "content-range",
    ];
    NAMES.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailer(s: &[u8]) -> Result<HeaderMap, HttpError> {
        match Trailer::default().feed(s, 1024, 10)? {
            (n, Some(map)) if n == s.len() => Ok(map),
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn fields_and_forbidden_ones() {
        assert!(trailer(b"\r\n").unwrap().is_empty());
        let m = trailer(b"X-Sum: 1\r\nContent-Length: 5\r\nHost: h\r\nx-b:  two \r\n\r\n").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["x-sum"], "1");
        assert_eq!(m["x-b"], "two");
    }

    #[test]
    fn malformed() {
        for bad in [
            &b"X: 1\n\r\n"[..],
            b"X: 1\r\r\n",
            b"\n",
            b"\rx",
            b"X : 1\r\n\r\n",
            b" X: 1\r\n\r\n",
            b"X: 1\r\n continued\r\n\r\n",
            b"X\r\n\r\n",
            b"X: a\x00b\r\n\r\n",
        ] {
            let r = Trailer::default().feed(bad, 1024, 10);
            assert_eq!(r.unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn limits() {
        let s = b"A: 1\r\nB: 2\r\n\r\n";
        assert!(Trailer::default().feed(s, s.len(), 2).unwrap().1.is_some());
        assert_eq!(
            Trailer::default()
                .feed(s, s.len() - 1, 2)
                .unwrap_err()
                .status,
            431
        );
        assert_eq!(Trailer::default().feed(s, 1024, 1).unwrap_err().status, 431);
    }
}
