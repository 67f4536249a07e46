//! Upstream failures and recovery: 502 while the upstream is down, 200 as
//! soon as it is back, 504 when it does not answer in time, 502 for a
//! malformed answer, and round robin over several upstreams with a dead
//! one skipped.

mod proxy_util;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proxy_util::{echo_head, free_port, read_head, roundtrip, Handler, Proxy, Upstream};

const GET: &str = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";

#[test]
fn upstream_down_gives_502_and_up_again_gives_200() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let proxy = Proxy::start(&[&addr], &["--fail-timeout", "30"]);
    for _ in 0..2 {
        let r = roundtrip(&proxy.addr, GET).unwrap();
        assert_eq!(r.status(), 502);
        assert!(r.text().contains("502"), "{}", r.text());
    }
    // Back on the same port: the next request gets through at once, the
    // 30 s fail timeout notwithstanding (the only upstream is always
    // tried).
    let up = Upstream::start(port, echo_head(""));
    let r = roundtrip(&proxy.addr, GET).unwrap();
    assert_eq!(r.status(), 200);
    drop(up);
}

#[test]
fn a_silent_upstream_gives_504_after_the_read_timeout() {
    let silent: Arc<Handler> = Arc::new(|_, _, _| {
        std::thread::sleep(Duration::from_secs(3));
        false
    });
    let up = Upstream::start(0, silent);
    let proxy = Proxy::start(&[&up.addr_str()], &["--read-timeout", "0.3"]);
    let t0 = Instant::now();
    let r = roundtrip(&proxy.addr, GET).unwrap();
    assert_eq!(r.status(), 504);
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_malformed_or_cut_answer_gives_502() {
    let bad: Arc<Handler> = Arc::new(|head, _, w| {
        let answer: &[u8] = match head.target() {
            "/garbage" => b"NOT HTTP AT ALL\r\n\r\n",
            "/two-lengths" => {
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
            }
            // The head promises 10 bytes, 3 come, then the close.
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        };
        let _ = w.write_all(answer);
        false
    });
    let up = Upstream::start(0, bad);
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    for path in ["/garbage", "/two-lengths", "/cut"] {
        let r = roundtrip(
            &proxy.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n"),
        )
        .unwrap();
        assert_eq!(r.status(), 502, "{path}");
    }
}

#[test]
fn requests_go_round_robin_and_skip_a_dead_upstream() {
    // Each upstream says who it is.
    let named = |name: &'static str| -> Arc<Handler> {
        Arc::new(move |_, _, w| {
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{name}");
            w.write_all(resp.as_bytes()).is_ok()
        })
    };
    let a = Upstream::start(0, named("a"));
    let b = Upstream::start(0, named("b"));
    let dead = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start(&[&a.addr_str(), &dead, &b.addr_str()], &[]);
    let mut seen = String::new();
    for _ in 0..6 {
        let r = roundtrip(&proxy.addr, GET).unwrap();
        assert_eq!(
            r.status(),
            200,
            "a dead upstream's request goes to the next one"
        );
        seen.push_str(&r.text());
    }
    assert_eq!(seen.matches('a').count(), 3, "{seen}");
    assert_eq!(seen.matches('b').count(), 3, "{seen}");
}

#[test]
fn an_upstream_named_by_host_name_is_reached() {
    let up = Upstream::start(0, echo_head(""));
    let proxy = Proxy::start(&[&format!("localhost:{}", up.addr.port())], &[]);
    let r = roundtrip(&proxy.addr, "GET /named HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(r.status(), 200);
    let got = read_head(&mut &r.body[..]).unwrap().unwrap();
    assert_eq!(got.target(), "/named");
}
