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
