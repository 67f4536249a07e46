//! Several requests on one client connection: pipelined requests go to
//! the upstream side by side (on several pooled connections) and their
//! answers come back in request order, whatever order they arrive in; an
//! HTTP/1.0 client gets a long answer delimited by the close.

mod proxy_util;

use std::io::{BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proxy_util::{read_head, read_response, write_pattern, Handler, PatternCheck, Proxy, Upstream};

/// How many requests the upstream holds at once, and the most it held.
#[derive(Default)]
struct Busy {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// `/N` answers `N` after (10 - N) * 20 ms, so later requests answer
/// first; `/big/N` answers N bytes of the pattern.
fn upstream(busy: Arc<Busy>) -> Upstream {
    let h: Arc<Handler> = Arc::new(move |head, _, w| {
        let target = head.target().to_string();
        if let Some(n) = target.strip_prefix("/big/") {
            let n: u64 = n.parse().unwrap();
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
            return w.write_all(head.as_bytes()).is_ok() && write_pattern(w, n).is_ok();
        }
        let n: u64 = target[1..].parse().unwrap();
        let now = busy.now.fetch_add(1, Ordering::SeqCst) + 1;
        busy.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis((10 - n) * 20));
        busy.now.fetch_sub(1, Ordering::SeqCst);
        let body = n.to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        w.write_all(resp.as_bytes()).is_ok()
    });
    Upstream::start(0, h)
}

#[test]
fn pipelined_answers_keep_the_request_order() {
    let busy = Arc::new(Busy::default());
    let up = upstream(busy.clone());
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let mut c = proxy.connect();
    let mut all = String::new();
    for n in 0..10 {
        all.push_str(&format!("GET /{n} HTTP/1.1\r\nHost: h\r\n\r\n"));
    }
    c.write_all(all.as_bytes()).unwrap();
    let mut rd = BufReader::new(c);
    for n in 0..10 {
        let r = read_response(&mut rd, "GET").unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text(), n.to_string());
    }
    // Side by side, not one after the other: the first takes 200 ms, and
    // the others reach the upstream meanwhile.
    assert!(busy.most.load(Ordering::SeqCst) > 1);
}

#[test]
fn an_http_1_0_client_gets_a_long_answer_up_to_the_close() {
    let up = upstream(Arc::default());
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let mut c = proxy.connect();
    const N: u64 = 3 * 1024 * 1024;
    write!(c, "GET /big/{N} HTTP/1.0\r\n\r\n").unwrap();
    let mut rd = BufReader::new(c);
    let head = read_head(&mut rd).unwrap().unwrap();
    assert!(head.line.starts_with("HTTP/1.1 200"), "{}", head.raw);
    assert_eq!(head.get("transfer-encoding"), None, "{}", head.raw);
    let mut check = PatternCheck::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = rd.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        check.feed(&buf[..n]);
    }
    assert_eq!(check.seen, N);
    assert_eq!(check.bad_at, None);
}
