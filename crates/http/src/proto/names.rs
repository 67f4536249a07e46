//! [`field_name`]: a parsed field name as a [`HeaderName`], the common
//! ones without the table walk of [`HeaderName::from_bytes`].

use http::header::{
    HeaderName, InvalidHeaderName, ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, CACHE_CONTROL,
    CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, DATE, ETAG, EXPIRES, HOST,
    LAST_MODIFIED, LOCATION, SERVER, SET_COOKIE, TRANSFER_ENCODING, USER_AGENT, VARY,
};

/// `raw`, a token (httparse checked it), as a field name: what
/// [`HeaderName::from_bytes`] gives, and for the fields most messages
/// carry without its byte-by-byte lowercasing and lookup (a parsed head
/// costs one such walk per field).
pub(super) fn field_name(raw: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    debug_assert!(super::token::is_token(raw));
    let known = match raw.len() {
        4 if folds_to(raw, b"host") => HOST,
        4 if folds_to(raw, b"date") => DATE,
        4 if folds_to(raw, b"etag") => ETAG,
        4 if folds_to(raw, b"vary") => VARY,
        6 if folds_to(raw, b"server") => SERVER,
        6 if folds_to(raw, b"accept") => ACCEPT,
        6 if folds_to(raw, b"cookie") => COOKIE,
        7 if folds_to(raw, b"expires") => EXPIRES,
        8 if folds_to(raw, b"location") => LOCATION,
        10 if folds_to(raw, b"connection") => CONNECTION,
        10 if folds_to(raw, b"user-agent") => USER_AGENT,
        10 if folds_to(raw, b"set-cookie") => SET_COOKIE,
        12 if folds_to(raw, b"content-type") => CONTENT_TYPE,
        13 if folds_to(raw, b"cache-control") => CACHE_CONTROL,
        13 if folds_to(raw, b"last-modified") => LAST_MODIFIED,
        14 if folds_to(raw, b"content-length") => CONTENT_LENGTH,
        15 if folds_to(raw, b"accept-encoding") => ACCEPT_ENCODING,
        15 if folds_to(raw, b"accept-language") => ACCEPT_LANGUAGE,
        16 if folds_to(raw, b"content-encoding") => CONTENT_ENCODING,
        17 if folds_to(raw, b"transfer-encoding") => TRANSFER_ENCODING,
        _ => return HeaderName::from_bytes(raw),
    };
    Ok(known)
}

/// Whether token `raw` is `lower` (letters and `-` only) in any case.
/// Setting bit 5 lowercases a letter; the only other byte it maps to a
/// letter or `-` is an upper-case letter, or CR for `-`, and neither CR
/// nor any other non-token byte is in `raw`. Branch-free so that it
/// unrolls.
pub(super) fn folds_to(raw: &[u8], lower: &[u8]) -> bool {
    raw.len() == lower.len()
        && raw
            .iter()
            .zip(lower)
            .fold(0u8, |diff, (&b, &l)| diff | ((b | 0x20) ^ l))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_names_as_from_bytes() {
        let names: &[&[u8]] = &[
            b"Host",
            b"HOST",
            b"date",
            b"ETag",
            b"Vary",
            b"Server",
            b"accept",
            b"Cookie",
            b"Expires",
            b"Location",
            b"Connection",
            b"User-Agent",
            b"Set-Cookie",
            b"Content-Type",
            b"Cache-Control",
            b"Last-Modified",
            b"Content-Length",
            b"Accept-Encoding",
            b"Accept-Language",
            b"Content-Encoding",
            b"Transfer-Encoding",
            b"Hosts",
            b"hosu",
            b"X-Custom",
            b"content_length",
            b"content.length",
            b"x",
            b"Keep-Alive",
        ];
        for &raw in names {
            let ours = field_name(raw).unwrap();
            let theirs = HeaderName::from_bytes(raw).unwrap();
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(raw));
            assert_eq!(ours.as_str(), theirs.as_str());
        }
    }
}
