//! The HTTP-version of a request line (RFC 9112 section 2.3).

use http::{StatusCode, Version};

use super::HttpError;

/// The version a request line names, as this server will treat it.
///
/// `HTTP/1.0` and `HTTP/1.1` as such; `HTTP/1.2` to `HTTP/1.9` as 1.1, since
/// RFC 9110 section 2.5 has a recipient process a higher minor version as
/// the highest it implements of that major version. Another major version
/// (`HTTP/0.9`, `HTTP/2.0`, and the bare `HTTP/2`, `HTTP/3` those versions
/// are named by) is 505. Anything else (`http/1.1`, `HTTP/1.10`,
/// `HTTP/1.1 ` with a trailing space) is not a version: 400.
pub(crate) fn parse_version(v: &[u8]) -> Result<Version, HttpError> {
    match v {
        b"HTTP/1.0" => Ok(Version::HTTP_10),
        b"HTTP/1.1" => Ok(Version::HTTP_11),
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9'] => Ok(Version::HTTP_11),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(unsupported())
        }
        [b'H', b'T', b'T', b'P', b'/', b'2'..=b'9'] => Err(unsupported()),
        _ => Err(HttpError::bad("malformed HTTP version")),
    }
}

fn unsupported() -> HttpError {
    HttpError::new(
        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        "HTTP version not supported",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version(b"HTTP/1.0"), Ok(Version::HTTP_10));
        assert_eq!(parse_version(b"HTTP/1.1"), Ok(Version::HTTP_11));
        assert_eq!(parse_version(b"HTTP/1.2"), Ok(Version::HTTP_11));
        assert_eq!(parse_version(b"HTTP/1.9"), Ok(Version::HTTP_11));
        for v in [
            &b"HTTP/2.0"[..],
            b"HTTP/0.9",
            b"HTTP/3",
            b"HTTP/2",
            b"HTTP/9.9",
        ] {
            assert_eq!(parse_version(v).unwrap_err().status, 505, "{v:?}");
        }
        for v in [
            &b"http/1.1"[..],
            b"HTTP/1.10",
            b"HTTP/1.1 ",
            b"HTTP/1",
            b"HTTP/",
            b"HTTP/1.x",
            b"HTTPS/1.1",
            b"",
        ] {
            assert_eq!(parse_version(v).unwrap_err().status, 400, "{v:?}");
        }
    }
}
