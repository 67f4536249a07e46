//! WebSocket on the HTTP server over real TCP, with hand-written bytes:
//! the handshake (and frames sent in the same write as the request),
//! echo, fragmentation, ping/pong, the close handshake and close codes.

mod ws_support;

use std::io::Write;

use evloop_http::ws::Config;
use ws_support::*;

const TEXT: u8 = 1;
const BINARY: u8 = 2;
const CONT: u8 = 0;
const CLOSE: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason.as_bytes()].concat()
}

#[test]
fn first_frames_in_the_same_write_as_the_handshake_are_not_lost() {
    let server = TestServer::start(Config::default());
    let mut s = connect(server.addr);
    let mut bytes = upgrade_request("/ws", "13").into_bytes();
    bytes.extend(frame(TEXT, true, b"early"));
    bytes.extend(frame(BINARY, true, &[1, 2, 3]));
    s.write_all(&bytes).unwrap();
    let head = read_head(&mut s).to_ascii_lowercase();
    assert!(
        head.starts_with("http/1.1 101 switching protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(
        head.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
        "{head}"
    );
    assert_eq!(read_frame(&mut s), (true, TEXT, b"early".to_vec()));
    assert_eq!(read_frame(&mut s), (true, BINARY, vec![1, 2, 3]));
    s.write_all(&frame(CLOSE, true, &close_payload(1000, "")))
        .unwrap();
    assert_eq!(read_frame(&mut s), (true, CLOSE, close_payload(1000, "")));
    assert_eq!(
        read_to_eof(&mut s),
        b"",
        "the server closes TCP after the close handshake"
    );
    assert_eq!(server.stop(), ["1000 \"\" true"]);
}

#[test]
fn echo_fragmented_message_with_ping_between_fragments() {
    let server = TestServer::start(Config::default());
    let mut s = open(server.addr);
    let mut bytes = frame(TEXT, false, "Hel".as_bytes());
    bytes.extend(frame(PING, true, b"beat"));
    bytes.extend(frame(CONT, false, "lo, ".as_bytes()));
    bytes.extend(frame(CONT, true, "wörld".as_bytes()));
    // Sent one byte at a time: the server must not care.
    for b in bytes {
        s.write_all(&[b]).unwrap();
    }
    assert_eq!(read_frame(&mut s), (true, PONG, b"beat".to_vec()));
    assert_eq!(
        read_frame(&mut s),
        (true, TEXT, "Hello, wörld".as_bytes().to_vec())
    );
    // An unsolicited pong is fine and gets no answer; a big binary message.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    s.write_all(&frame(PONG, true, b"")).unwrap();
    s.write_all(&frame(BINARY, true, &big)).unwrap();
    assert_eq!(read_frame(&mut s), (true, BINARY, big));
    s.write_all(&frame(CLOSE, true, &close_payload(1001, "leaving")))
        .unwrap();
    assert_eq!(read_frame(&mut s), (true, CLOSE, close_payload(1001, "")));
    assert_eq!(read_to_eof(&mut s), b"");
    assert_eq!(server.stop(), ["1001 \"leaving\" true"]);
}

#[test]
fn server_initiated_close() {
    let server = TestServer::start(Config::default());
    let mut s = open(server.addr);
    s.write_all(&frame(TEXT, true, b"close-me")).unwrap();
    assert_eq!(
        read_frame(&mut s),
        (true, CLOSE, close_payload(4000, "asked"))
    );
    s.write_all(&frame(CLOSE, true, &close_payload(4000, "")))
        .unwrap();
    assert_eq!(read_to_eof(&mut s), b"");
    assert_eq!(server.stop(), ["4000 \"\" true"]);
}

#[test]
fn protocol_errors_close_with_their_code() {
    let config = Config {
        max_message_size: 1000,
        ..Config::default()
    };
    let server = TestServer::start(config);
    let cases: [(&str, Vec<u8>, u16); 6] = [
        (
            "unmasked frame",
            masked_frame(TEXT, true, b"hi", None),
            1002,
        ),
        ("reserved opcode", frame(3, true, b""), 1002),
        ("bad utf-8", frame(TEXT, true, b"\xc3\x28"), 1007),
        ("too big", frame(BINARY, true, &[0; 1001]), 1009),
        (
            "invalid close code",
            frame(CLOSE, true, &close_payload(1005, "")),
            1002,
        ),
        ("continuation first", frame(CONT, true, b"x"), 1002),
    ];
    for (what, bytes, code) in &cases {
        let mut s = open(server.addr);
        s.write_all(bytes).unwrap();
        let (fin, op, payload) = read_frame(&mut s);
        assert_eq!((fin, op), (true, CLOSE), "{what}");
        assert_eq!(&payload[..2], code.to_be_bytes(), "{what}: {payload:?}");
        assert_eq!(
            read_to_eof(&mut s),
            b"",
            "{what}: closed after the close frame"
        );
    }
    let log = server.stop();
    assert_eq!(log.len(), cases.len());
    for (line, (_, _, code)) in log.iter().zip(&cases) {
        assert!(
            line.starts_with(&code.to_string()) && line.ends_with("false"),
            "{line}"
        );
    }
}

#[test]
fn peer_vanishing_is_an_abnormal_close() {
    let server = TestServer::start(Config::default());
    let mut s = open(server.addr);
    s.write_all(&frame(TEXT, true, b"hi")).unwrap();
    assert_eq!(read_frame(&mut s), (true, TEXT, b"hi".to_vec()));
    drop(s);
    // The log line arrives once the server has seen the EOF.
    let mut s = open(server.addr); // a second client proves the server goes on
    s.write_all(&frame(CLOSE, true, b"")).unwrap();
    assert_eq!(read_frame(&mut s), (true, CLOSE, vec![]));
    assert_eq!(read_to_eof(&mut s), b"");
    let mut log = server.stop();
    log.sort();
    assert_eq!(log, ["1005 \"\" true", "1006 \"\" false"]);
}

#[test]
fn bad_handshakes_are_refused() {
    let server = TestServer::start(Config::default());
    // Version 8: 426 and the version we speak.
    let mut s = connect(server.addr);
    s.write_all(upgrade_request("/ws", "8").as_bytes()).unwrap();
    let head = read_head(&mut s).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 426 "), "{head}");
    assert!(head.contains("\r\nsec-websocket-version: 13\r\n"), "{head}");
    // No key: 400. (The connection stays usable for HTTP.)
    let mut s = connect(server.addr);
    let req = upgrade_request("/ws", "13").replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "");
    s.write_all(req.as_bytes()).unwrap();
    let (head, _) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    // A plain GET of the WebSocket path: 400 too.
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(server.stop().is_empty());
}
