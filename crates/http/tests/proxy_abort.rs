//! An upstream that dies in the middle of a response body: the proxy's
//! client sees its connection close before the body's end (fewer bytes
//! than the length, no last chunk), never a complete-looking body.

mod proxy_util;

use std::io::{BufReader, Write};
use std::sync::Arc;

use proxy_util::{read_body, read_head, write_pattern, Handler, PatternCheck, Proxy, Upstream};

/// `/cut-length`: a 200 000-byte length and 100 000 bytes, then a close;
/// `/cut-chunked`: chunks of 100 000 bytes in all, then a close.
fn upstream() -> Upstream {
    let h: Arc<Handler> = Arc::new(|head, _, w| {
        match head.target() {
            "/cut-length" => {
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n");
                let _ = write_pattern(w, 100_000);
            }
            _ => {
                let mut body = Vec::new();
                write_pattern(&mut body, 100_000).unwrap();
                let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for piece in body.chunks(10_000) {
                    out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                let _ = w.write_all(&out);
            }
        }
        // The upstream dies: no end of the body.
        false
    });
    Upstream::start(0, h)
}

/// Sends `GET target` through the proxy; returns the head, the bytes of
/// body seen, and how reading the body ended.
fn fetch(proxy: &Proxy, target: &str) -> (proxy_util::Head, PatternCheck, std::io::Result<()>) {
    let mut c = proxy.connect();
    write!(c, "GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut r = BufReader::new(c);
    let head = read_head(&mut r).unwrap().unwrap();
    let mut check = PatternCheck::default();
    let end = read_body(&mut r, &head, true, |b| check.feed(b));
    (head, check, end)
}

#[test]
fn a_body_cut_short_upstream_reaches_the_client_short_of_its_length() {
    let up = upstream();
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let (head, check, end) = fetch(&proxy, "/cut-length");
    assert_eq!(head.status(), 200);
    assert_eq!(head.get("content-length"), Some("200000"));
    let e = end.expect_err("the body must not look complete");
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    assert!(check.seen <= 100_000, "{} bytes", check.seen);
    assert_eq!(check.bad_at, None);
}

#[test]
fn a_chunked_body_cut_short_upstream_reaches_the_client_without_its_last_chunk() {
    let up = upstream();
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let (head, check, end) = fetch(&proxy, "/cut-chunked");
    assert_eq!(head.status(), 200);
    assert_eq!(head.get("transfer-encoding"), Some("chunked"));
    // The reader fails at the close where the next chunk's size should be
    // (not at its read timeout: the close comes at once).
    let e = end.expect_err("the body must not look complete");
    assert!(
        !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    assert!(check.seen <= 100_000, "{} bytes", check.seen);
    assert_eq!(check.bad_at, None);
}
