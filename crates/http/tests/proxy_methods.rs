//! Methods through the proxy: those HTTP does not define (WebDAV, PURGE)
//! reach the upstream with their body; HEAD answers keep what the
//! upstream said about the length, and gain nothing it did not say.

mod proxy_util;

use std::sync::Arc;

use proxy_util::{echo_head, read_body, roundtrip, Handler, Proxy, Upstream};

#[test]
fn methods_http_does_not_define_are_passed_on() {
    let up = Upstream::start(0, echo_head(""));
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let r = roundtrip(
        &proxy.addr,
        "PROPFIND /dav/x HTTP/1.1\r\nHost: h\r\nDepth: 1\r\nContent-Length: 4\r\n\r\n<x/>",
    )
    .unwrap();
    assert_eq!(r.status(), 200);
    let seen = r.text();
    assert!(seen.starts_with("PROPFIND /dav/x HTTP/1.1\r\n"), "{seen}");
    assert!(
        seen.contains("Depth: 1\r\n") || seen.contains("depth: 1\r\n"),
        "{seen}"
    );
    let r = roundtrip(&proxy.addr, "PURGE /cached HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().starts_with("PURGE /cached HTTP/1.1\r\n"),
        "{}",
        r.text()
    );
}

#[test]
fn head_answers_keep_the_upstreams_length_or_have_none() {
    let h: Arc<Handler> = Arc::new(|head, r, w| {
        if read_body(r, head, false, |_| {}).is_err() {
            return false;
        }
        let answer: &[u8] = match head.target() {
            "/with-length" => {
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n\r\n"
            }
            _ => b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
        };
        std::io::Write::write_all(w, answer).is_ok()
    });
    let up = Upstream::start(0, h);
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let r = roundtrip(&proxy.addr, "HEAD /with-length HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.head.get("content-length"), Some("5000"));
    let r = roundtrip(&proxy.addr, "HEAD /without HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.head.get("content-length"), None, "{}", r.head.raw);
    assert_eq!(r.head.get("transfer-encoding"), None);
}

#[test]
fn max_forwards_is_counted_down_and_answered_at_zero() {
    // RFC 9110 7.6.2, on OPTIONS and TRACE.
    let up = Upstream::start(0, echo_head(""));
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    // Above 0: the upstream gets one less.
    let r = roundtrip(
        &proxy.addr,
        "OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 3\r\n\r\n",
    )
    .unwrap();
    let seen = r.text().to_ascii_lowercase();
    assert!(seen.starts_with("options /x http/1.1\r\n"), "{seen}");
    assert!(seen.contains("max-forwards: 2\r\n"), "{seen}");
    // At 0: the proxy answers as the final recipient; nothing reaches the
    // upstream (whose echo would start with the request line).
    let r = roundtrip(
        &proxy.addr,
        "OPTIONS /x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text(), "");
    let r = roundtrip(
        &proxy.addr,
        "TRACE /t?q=1 HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nX-Mark: m\r\nCookie: secret\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.head.get("content-type"), Some("message/http"));
    let echo = r.text();
    assert!(echo.starts_with("TRACE /t?q=1 HTTP/1.1\r\n"), "{echo}");
    assert!(echo.contains("x-mark: m\r\n"), "{echo}");
    assert!(!echo.to_ascii_lowercase().contains("secret"), "{echo}");
    // Other methods carry it through as it came.
    let r = roundtrip(
        &proxy.addr,
        "GET /g HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n",
    )
    .unwrap();
    assert!(
        r.text()
            .to_ascii_lowercase()
            .contains("max-forwards: 0\r\n"),
        "{}",
        r.text()
    );
}
