//! The `ws_chat` example end to end: it serves its page at `/`, and its
//! WebSocket at `/ws` broadcasts every message to every client; it exits
//! with 0 on SIGTERM and SIGINT.

#[path = "ws_support/runner.rs"]
mod runner;
mod ws_support;

use std::io::Write;
use std::net::SocketAddr;

use runner::Example;
use ws_support::{connect, frame, open, read_frame, read_response, read_to_eof};

fn text(s: &mut std::net::TcpStream) -> String {
    let (fin, op, payload) = read_frame(s);
    assert_eq!((fin, op), (true, 1), "a text frame");
    String::from_utf8(payload).unwrap()
}

#[test]
fn chat_page_and_broadcast_then_sigterm() {
    let mut ex = Example::start("ws_chat", &["--addr", "127.0.0.1:0"]);
    let addr: SocketAddr = ex.addr.parse().unwrap();

    let mut page = connect(addr);
    page.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut page);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{head}"
    );
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains("new WebSocket(") && body.contains("/ws"),
        "{body}"
    );

    let mut a = open(addr);
    assert_eq!(text(&mut a), "welcome, you are guest1");
    let mut b = open(addr);
    assert_eq!(text(&mut b), "welcome, you are guest2");
    assert_eq!(text(&mut a), "* guest2 joined");
    a.write_all(&frame(1, true, "hello ✓".as_bytes())).unwrap();
    assert_eq!(text(&mut a), "guest1: hello ✓");
    assert_eq!(text(&mut b), "guest1: hello ✓");
    b.write_all(&frame(1, true, b"bye")).unwrap();
    assert_eq!(text(&mut a), "guest2: bye");
    assert_eq!(text(&mut b), "guest2: bye");
    b.write_all(&frame(8, true, &1000u16.to_be_bytes()))
        .unwrap();
    assert_eq!(
        read_frame(&mut b),
        (true, 8, 1000u16.to_be_bytes().to_vec())
    );
    assert_eq!(read_to_eof(&mut b), b"");
    assert_eq!(text(&mut a), "* guest2 left");

    assert!(ex.stop_with("TERM").success());
}

#[test]
fn sigint_exits_zero() {
    let mut ex = Example::start("ws_chat", &["--addr", "127.0.0.1:0"]);
    let _a = open(ex.addr.parse().unwrap());
    assert!(ex.stop_with("INT").success());
    assert!(ex.printed().is_empty());
}
