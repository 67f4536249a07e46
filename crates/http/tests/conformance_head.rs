//! Request heads over a real socket: limits and their status codes, line
//! ends, whitespace, versions, Host, request-target forms, field syntax.
//! Each refusal is the only answer on its connection, which then closes.

mod conformance_common;

use std::io::Write;

use conformance_common::*;
use evloop_http::proto::Limits;
use evloop_http::server::ServerOptions;

/// `request` is answered 200 and the connection stays open for another.
fn accepted(server: &TestServer, request: &[u8]) -> Resp {
    let mut c = server.connect();
    c.write_all(request).unwrap();
    let r = read_response(&mut c, false);
    let req = String::from_utf8_lossy(request);
    assert_eq!(r.status, 200, "{req:?}: {r:?}");
    c.write_all(b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut c, false).status,
        200,
        "{req:?}: not kept alive"
    );
    r
}

#[test]
fn request_line_limit_414() {
    let s = TestServer::with_options(
        ServerOptions::new().with_limits(Limits::new().with_max_request_line(100)),
    );
    // "GET " + target + " HTTP/1.1" is exactly 100 bytes.
    let target = format!("/{}", "a".repeat(100 - 4 - 9 - 1));
    accepted(
        &s,
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    );
    refused(
        &s,
        format!("GET {target}b HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
        414,
    );
    // Refused before the line ends: the client need not send it all.
    let mut c = s.connect();
    c.write_all(format!("GET /{}", "a".repeat(200)).as_bytes())
        .unwrap();
    let resps = read_until_close(&mut c);
    assert_eq!(resps.len(), 1);
    assert_eq!(resps[0].status, 414);
}

#[test]
fn default_request_line_limit() {
    let s = TestServer::start();
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    refused(&s, long.as_bytes(), 414);
    let fine = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8000));
    accepted(&s, fine.as_bytes());
}

#[test]
fn head_size_limit_431() {
    let s = TestServer::with_options(
        ServerOptions::new().with_limits(Limits::new().with_max_head(200)),
    );
    let fixed = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
    let at_limit = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(200 - fixed)
    );
    accepted(&s, at_limit.as_bytes());
    let over = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(201 - fixed)
    );
    refused(&s, over.as_bytes(), 431);
    // A head that never ends is refused as soon as it is too large.
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    for _ in 0..20 {
        if c.write_all(b"X-Filler: 0123456789\r\n").is_err() {
            break;
        }
    }
    let resps = read_until_close(&mut c);
    assert_eq!(resps.len(), 1);
    assert_eq!(resps[0].status, 431);
}

#[test]
fn default_head_size_limit() {
    let s = TestServer::start();
    let fields: String = (0..90)
        .map(|i| format!("X-{i}: {}\r\n", "v".repeat(800)))
        .collect();
    refused(
        &s,
        format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n").as_bytes(),
        431,
    );
}

#[test]
fn header_count_limit_431() {
    let s = TestServer::with_options(
        ServerOptions::new().with_limits(Limits::new().with_max_headers(10)),
    );
    let fields = |n: usize| -> String { (1..n).map(|i| format!("X-{i}: v\r\n")).collect() };
    accepted(
        &s,
        format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", fields(10)).as_bytes(),
    );
    refused(
        &s,
        format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", fields(11)).as_bytes(),
        431,
    );
    let d = TestServer::start();
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    refused(
        &d,
        format!("GET / HTTP/1.1\r\n{many}Host: a\r\n\r\n").as_bytes(),
        431,
    );
}

#[test]
fn line_ends() {
    let s = TestServer::start();
    refused(&s, b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nX: a\rb\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400);
    // Empty lines before a request are skipped (RFC 9112 section 2.2).
    accepted(&s, b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    refused(&s, b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

#[test]
fn request_line_whitespace() {
    let s = TestServer::start();
    for req in [
        &b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /\tHTTP/1.1\r\nHost: a\r\n\r\n",
        b" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        refused(&s, req, 400);
    }
}

#[test]
fn field_syntax() {
    let s = TestServer::start();
    for field in [
        "Host : a",
        "X-A : 1",
        "X-A\t: 1",
        "X A: 1",
        "X-A 1",
        ": 1",
        "X-A: a\x00b",
        "X-A: a\x01b",
        "X-A: a\x7fb",
        "X(A): 1",
    ] {
        refused(
            &s,
            format!("GET / HTTP/1.1\r\nHost: a\r\n{field}\r\n\r\n").as_bytes(),
            400,
        );
    }
}

#[test]
fn obs_fold_refused() {
    let s = TestServer::start();
    refused(
        &s,
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n",
        400,
    );
    refused(
        &s,
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\t2\r\n\r\n",
        400,
    );
    // Whitespace between the request line and the first field.
    refused(&s, b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    // A fold must not hide a framing field.
    refused(
        &s,
        b"POST / HTTP/1.1\r\nHost: a\r\nX: 1\r\n Content-Length: 5\r\n\r\nabcde",
        400,
    );
}

#[test]
fn versions() {
    let s = TestServer::start();
    refused(&s, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    refused(&s, b"GET / HTTP/3\r\nHost: a\r\n\r\n", 505);
    refused(&s, b"GET / HTTP/0.9\r\n\r\n", 505);
    refused(&s, b"GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET / FOO/1.1\r\nHost: a\r\n\r\n", 400);
    // A later 1.x minor version is served as 1.1.
    let r = accepted(&s, b"GET / HTTP/1.7\r\nHost: a\r\n\r\n");
    assert_eq!(r.version, 1);
    assert!(r.text().starts_with("GET / HTTP/1.1"), "{}", r.text());
    // 1.0 is answered in 1.0's terms: no keep-alive unless asked.
    let resps = s.exchange(b"GET / HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n");
    assert_eq!(resps.len(), 1, "{resps:?}");
    assert_eq!(resps[0].status, 200);
}

#[test]
fn host_rules() {
    let s = TestServer::start();
    refused(&s, b"GET / HTTP/1.1\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    refused(&s, b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    for bad in [
        "a b", "u@a", "a/b", "a:x", "a:99999", "[::1", "a:1:2", ":80",
    ] {
        refused(
            &s,
            format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n").as_bytes(),
            400,
        );
    }
    for good in ["ex.org", "ex.org:8080", "127.0.0.1", "[::1]:80", ""] {
        let r = accepted(
            &s,
            format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n").as_bytes(),
        );
        assert!(r.text().ends_with(&format!("host={good}")), "{}", r.text());
    }
    accepted(&s, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    // The absolute-form authority wins over the Host field.
    let r = accepted(
        &s,
        b"GET http://ex.org:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
    );
    assert!(r.text().ends_with("host=ex.org:81"), "{}", r.text());
    refused(&s, b"GET http://ex.org/ HTTP/1.1\r\n\r\n", 400);
}

#[test]
fn request_target_forms() {
    let s = TestServer::start();
    accepted(&s, b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    refused(&s, b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    refused(&s, b"GET relative HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

#[test]
fn expectations() {
    let s = TestServer::start();
    refused(
        &s,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: fancy\r\n\r\nx",
        417,
    );
    // 100-continue: the interim response, then the final one.
    let mut c = s.connect();
    c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let interim = read_response(&mut c, false);
    assert_eq!(interim.status, 100);
    c.write_all(b"abc").unwrap();
    let r = read_response(&mut c, false);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("body=3:abc"));
}

#[test]
fn expect_continue_over_the_body_limit_gets_413_without_100() {
    let s =
        TestServer::with_options(ServerOptions::new().with_limits(Limits::new().with_max_body(10)));
    let mut c = s.connect();
    c.write_all(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let resps = read_until_close(&mut c);
    let statuses: Vec<u16> = resps.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [413], "{resps:?}");
}
