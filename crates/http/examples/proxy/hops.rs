//! `Max-Forwards` (RFC 9110 7.6.2): an intermediary checks and updates it
//! on OPTIONS and TRACE requests. At 0 the request goes no further: the
//! proxy answers it as its final recipient. Above 0 the upstream gets one
//! less. Other methods carry it through untouched, as the RFC allows.

use evloop_http::server::{Body, Request};
use http::header::{CONTENT_TYPE, MAX_FORWARDS};
use http::{HeaderMap, HeaderValue, Method, Response, Version};

/// Whether `method` is one whose `Max-Forwards` an intermediary honours.
pub fn applies(method: &Method) -> bool {
    *method == Method::OPTIONS || *method == Method::TRACE
}

/// The first `Max-Forwards` value, when it is a number (`1*DIGIT`; one
/// too large for 32 bits counts as the largest). A malformed one is
/// treated as absent and passed on as it came.
pub fn limit(headers: &HeaderMap) -> Option<u32> {
    let v = headers.get(MAX_FORWARDS)?.as_bytes().trim_ascii();
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        std::str::from_utf8(v)
            .ok()?
            .parse::<u64>()
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)),
    )
}

/// For a request going on with `Max-Forwards` at `n` (above 0): one less.
pub fn decrement(headers: &mut HeaderMap, n: u32) {
    headers.insert(MAX_FORWARDS, HeaderValue::from(n - 1));
}

/// The answer of the final recipient to an OPTIONS or TRACE request whose
/// `Max-Forwards` was 0. OPTIONS: `200 OK` with no content. TRACE: `200
/// OK` reflecting the request as received (RFC 9110 9.3.8), as
/// `message/http`, without the fields that carry credentials.
pub fn final_answer(req: &Request) -> Response<Body> {
    if *req.method() != Method::TRACE {
        return Response::new(Body::empty());
    }
    let version = if req.version() == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let mut text = format!("{} {} {version}\r\n", req.method(), req.uri());
    for (name, value) in req.headers() {
        if matches!(
            name.as_str(),
            "authorization" | "proxy-authorization" | "cookie"
        ) {
            continue;
        }
        text.push_str(name.as_str());
        text.push_str(": ");
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    let mut r = Response::new(Body::from(text));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("message/http"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(MAX_FORWARDS, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn the_limit_is_a_number_or_nothing() {
        assert_eq!(limit(&map("0")), Some(0));
        assert_eq!(limit(&map(" 7 ")), Some(7));
        assert_eq!(limit(&map("99999999999")), Some(u32::MAX));
        assert_eq!(limit(&map("-1")), None);
        assert_eq!(limit(&map("1.5")), None);
        assert_eq!(limit(&map("")), None);
        assert_eq!(limit(&HeaderMap::new()), None);
        let mut h = map("5");
        decrement(&mut h, 5);
        assert_eq!(limit(&h), Some(4));
        assert!(applies(&Method::OPTIONS) && applies(&Method::TRACE));
        assert!(!applies(&Method::GET));
    }
}
