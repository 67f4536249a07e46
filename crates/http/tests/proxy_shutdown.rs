//! Graceful shutdown: on SIGTERM the proxy stops accepting, finishes the
//! exchange in flight, and exits with status 0; SIGINT when idle exits at
//! once.

mod proxy_util;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxy_util::{read_response, Handler, Proxy, Upstream};

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let (got_tx, got_rx) = mpsc::channel();
    let got_tx = Mutex::new(got_tx);
    let slow: Arc<Handler> = Arc::new(move |_, _, w| {
        let _ = got_tx.lock().unwrap().send(());
        std::thread::sleep(Duration::from_millis(500));
        w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
            .is_ok()
    });
    let up = Upstream::start(0, slow);
    let mut proxy = Proxy::start(&[&up.addr_str()], &[]);
    let mut c = proxy.connect();
    c.write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    // The request is at the upstream: now the signal.
    got_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    proxy.signal("-TERM");
    let resp = read_response(&mut BufReader::new(c), "GET").unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text(), "done");
    assert_eq!(resp.head.get("connection"), Some("close"));
    assert_eq!(proxy.wait().code(), Some(0));
    assert!(
        TcpStream::connect(&proxy.addr).is_err(),
        "still accepting after the shutdown"
    );
}

#[test]
fn sigint_when_idle_exits_0() {
    let up = Upstream::start(0, proxy_util::echo_head(""));
    let mut proxy = Proxy::start(&[&up.addr_str()], &[]);
    // An idle keep-alive connection does not hold the shutdown up.
    let mut c = proxy.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut rd = BufReader::new(c.try_clone().unwrap());
    assert_eq!(read_response(&mut rd, "GET").unwrap().status(), 200);
    proxy.signal("-INT");
    assert_eq!(proxy.wait().code(), Some(0));
}

#[test]
fn bad_arguments_exit_2_and_help_exits_0() {
    let bin = proxy_util::example("proxy");
    let out = std::process::Command::new(&bin)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--upstream"));
    let out = std::process::Command::new(&bin)
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("usage: proxy"));
}
