//! A client that leaves while its request waits on the upstream: the
//! proxy cancels the upstream request (its connection closes), as nginx
//! does; with `--ignore-client-abort` a half-closing client is answered.

mod proxy_util;

use std::io::{BufRead, Read, Write};
use std::net::Shutdown;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use proxy_util::{read_response, Handler, Proxy, Upstream};

/// `/hold` never answers: it says when the request came and when the
/// proxy closed the connection. `/endless` streams until the proxy
/// closes the connection, and says so. `/slow` answers after 200 ms.
fn upstream() -> (Upstream, mpsc::Receiver<&'static str>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let h: Arc<Handler> = Arc::new(move |head, r, w| {
        if head.target() == "/endless" {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            let piece = [b'x'; 16 * 1024];
            // Until the proxy closes the connection.
            while w.write_all(b"4000\r\n").is_ok()
                && w.write_all(&piece).is_ok()
                && w.write_all(b"\r\n").is_ok()
            {}
            tx.lock().unwrap().send("closed").unwrap();
            return false;
        }
        if head.target() == "/slow" {
            std::thread::sleep(Duration::from_millis(200));
            return w
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
                .is_ok();
        }
        tx.lock().unwrap().send("request").unwrap();
        // Blocks until the proxy gives the request up.
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        tx.lock().unwrap().send("closed").unwrap();
        false
    });
    (Upstream::start(0, h), rx)
}

fn next(rx: &mpsc::Receiver<&'static str>) -> &'static str {
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or("nothing within 10 s")
}

#[test]
fn a_client_that_leaves_gets_its_upstream_request_cancelled() {
    let (up, rx) = upstream();
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let mut c = proxy.connect();
    c.write_all(b"GET /hold HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(next(&rx), "request");
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(next(&rx), "closed");
    // No answer for it.
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
    // The proxy goes on serving.
    let r = proxy_util::roundtrip(&proxy.addr, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(r.text(), "slow");
}

#[test]
fn a_client_reset_during_a_streamed_answer_cancels_the_upstream_request() {
    let (up, rx) = upstream();
    // The EOF alone cancels nothing here: the reset does.
    let proxy = Proxy::start(&[&up.addr_str()], &["--ignore-client-abort"]);
    let mut c = proxy.connect();
    c.write_all(b"GET /endless HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut r = std::io::BufReader::new(c);
    let head = proxy_util::read_head(&mut r).unwrap().unwrap();
    assert_eq!(head.status(), 200);
    let mut got = vec![0u8; 100_000];
    r.read_exact(&mut got).unwrap();
    // Closed with unread bytes: a reset. The proxy, which has the
    // upstream paused (the client took nothing more), learns it when it
    // writes, and gives the upstream request up.
    drop(r);
    assert_eq!(next(&rx), "closed");
}

#[test]
fn with_ignore_client_abort_a_half_closing_client_is_answered() {
    let (up, _rx) = upstream();
    let proxy = Proxy::start(&[&up.addr_str()], &["--ignore-client-abort"]);
    let mut c = proxy.connect();
    c.write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut r = std::io::BufReader::new(c);
    let resp = read_response(&mut r, "GET").unwrap();
    assert_eq!(resp.text(), "slow");
    assert!(r.fill_buf().unwrap().is_empty());
}
