//! One test per rule of [`parse_request_head`].

use http::{Method, Version};

use super::*;

fn parse(head: &[u8]) -> Result<RequestHead, HttpError> {
    parse_request_head(head, &Limits::default())
}

fn status(head: &[u8]) -> u16 {
    match parse(head) {
        Ok(_) => 200,
        Err(e) => e.status.as_u16(),
    }
}

/// A 1.1 request with Host and the given field lines (each with CRLF).
fn with_fields(fields: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: ex.org\r\n{fields}\r\n").into_bytes()
}

#[test]
fn simple_get() {
    let r = parse(b"GET /a?b HTTP/1.1\r\nHost: ex.org\r\nAccept: */*\r\n\r\n").unwrap();
    assert_eq!(r.method, Method::GET);
    assert_eq!(r.uri, "/a?b");
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(r.headers["accept"], "*/*");
    assert_eq!(r.body, BodyKind::None);
    assert!(r.keep_alive && !r.expect_continue && !r.upgrade && !r.has_body());
}

#[test]
fn leading_empty_lines_skipped() {
    assert_eq!(status(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    let many = [
        &b"\r\n".repeat(MAX_LEADING_EMPTY_LINES + 1)[..],
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    .concat();
    assert_eq!(status(&many), 400);
}

#[test]
fn line_ends() {
    assert_eq!(status(b"GET / HTTP/1.1\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\n\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"), 400);
    assert_eq!(status(b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nX"), 400);
}

#[test]
fn request_line_whitespace_and_method() {
    for bad in [
        &b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /\r\n\r\n",
        b"/ HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        assert_eq!(status(bad), 400, "{:?}", String::from_utf8_lossy(bad));
    }
    let r = parse(b"PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(r.method.as_str(), "PURGE");
}

#[test]
fn versions() {
    assert_eq!(
        parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().version,
        Version::HTTP_10
    );
    let r = parse(b"GET / HTTP/1.5\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/3\r\nHost: a\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTP/0.9\r\n\r\n"), 505);
    assert_eq!(status(b"GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.01\r\nHost: a\r\n\r\n"), 400);
}

#[test]
fn limits_apply_to_a_head_parsed_directly() {
    let l = Limits {
        max_request_line: 10,
        ..Limits::default()
    };
    let r = parse_request_head(b"GET /aaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n", &l);
    assert_eq!(r.unwrap_err().status, 414);
    let l = Limits {
        max_head: 20,
        ..Limits::default()
    };
    let r = parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &l);
    assert_eq!(r.unwrap_err().status, 431);
    let l = Limits {
        max_headers: 1,
        ..Limits::default()
    };
    let r = parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n", &l);
    assert_eq!(r.unwrap_err().status, 431);
    let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
    let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    let l = Limits {
        max_headers: 300,
        ..Limits::default()
    };
    assert_eq!(
        parse_request_head(head.as_bytes(), &l)
            .unwrap()
            .headers
            .len(),
        201
    );
}

#[test]
fn field_syntax() {
    for bad in [
        "Host : ex.org\r\n",
        "X-A : 1\r\n",
        "X-A\t: 1\r\n",
        "X-A: 1\r\n continued\r\n",
        "X-A: 1\r\n\tcontinued\r\n",
        "X A: 1\r\n",
        "X-A 1\r\n",
        ": 1\r\n",
        "X-A: a\x00b\r\n",
        "X-A: a\x01b\r\n",
        "X-A: a\x7fb\r\n",
        "X\u{e9}: 1\r\n",
    ] {
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{bad}\r\n");
        assert_eq!(status(head.as_bytes()), 400, "{bad:?}");
    }
    assert_eq!(status(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400);
    let r = parse(b"GET / HTTP/1.1\r\nHost: a\r\nX-A:  v \t\r\nX-B:\r\nX-C: \xe9t\xe9\r\n\r\n")
        .unwrap();
    assert_eq!(r.headers["x-a"], "v");
    assert_eq!(r.headers["x-b"], "");
    assert_eq!(r.headers["x-c"].as_bytes(), b"\xe9t\xe9");
}

#[test]
fn host_rules() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"), 200); // sub-delims are reg-name
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a:x\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 200);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), 200);
    assert_eq!(status(b"GET / HTTP/1.0\r\n\r\n"), 200);
    // The absolute-form authority is the host; Host is still required.
    let r = parse(b"GET http://ex.org:81/p HTTP/1.1\r\nHost: other\r\n\r\n").unwrap();
    assert_eq!(r.headers["host"], "ex.org:81");
    assert_eq!(r.uri.path(), "/p");
    assert_eq!(status(b"GET http://ex.org/ HTTP/1.1\r\n\r\n"), 400);
}

#[test]
fn target_forms() {
    assert_eq!(status(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    assert_eq!(status(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(
        status(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
        200
    );
    assert_eq!(status(b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET /#f HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(
        status(b"GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        400
    );
    assert_eq!(status(b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

#[test]
fn content_length() {
    assert_eq!(
        parse(&with_fields("Content-Length: 5\r\n")).unwrap().body,
        BodyKind::Length(5)
    );
    assert_eq!(
        parse(&with_fields("Content-Length: 007\r\n")).unwrap().body,
        BodyKind::Length(7)
    );
    let r = parse(&with_fields("Content-Length: 0\r\n")).unwrap();
    assert_eq!(r.body, BodyKind::Length(0));
    assert!(!r.has_body());
    let max = format!("Content-Length: {}\r\n", u64::MAX);
    assert_eq!(
        parse(&with_fields(&max)).unwrap().body,
        BodyKind::Length(u64::MAX)
    );
    for bad in [
        "Content-Length: 5, 5\r\n",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5,6\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: -5\r\n",
        "Content-Length: 0x5\r\n",
        "Content-Length: 5 5\r\n",
        "Content-Length: 5a\r\n",
        "Content-Length:\r\n",
        "Content-Length: 18446744073709551616\r\n",
        "Content-Length: 1.0\r\n",
    ] {
        assert_eq!(status(&with_fields(bad)), 400, "{bad:?}");
    }
}

#[test]
fn transfer_encoding() {
    let chunked = |f: &str| parse(&with_fields(f)).map(|r| r.body);
    assert_eq!(
        chunked("Transfer-Encoding: chunked\r\n"),
        Ok(BodyKind::Chunked)
    );
    assert_eq!(
        chunked("Transfer-Encoding: CHUNKED\r\n"),
        Ok(BodyKind::Chunked)
    );
    assert_eq!(
        chunked("Transfer-Encoding: , chunked\r\n"),
        Ok(BodyKind::Chunked)
    );
    for (fields, want) in [
        ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400),
        ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400),
        ("Transfer-Encoding: chunked, gzip\r\n", 400),
        ("Transfer-Encoding: gzip\r\n", 400),
        ("Transfer-Encoding: identity\r\n", 400),
        ("Transfer-Encoding: chunked, chunked\r\n", 400),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            400,
        ),
        ("Transfer-Encoding: chunked;a=b\r\n", 400),
        ("Transfer-Encoding:\r\n", 400),
        ("Transfer-Encoding: chunk ed\r\n", 400),
        ("Transfer-Encoding: \"chunked\"\r\n", 400),
        ("Transfer-Encoding: xchunked\r\n", 400),
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
        (
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            501,
        ),
        ("Transfer-Encoding: foo, chunked\r\n", 501),
    ] {
        assert_eq!(status(&with_fields(fields)), want, "{fields:?}");
    }
    let te10 = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(status(te10), 400);
}

#[test]
fn bodies_on_methods_without_content() {
    let req = |m: &str, f: &str| format!("{m} / HTTP/1.1\r\nHost: a\r\n{f}\r\n").into_bytes();
    assert_eq!(status(&req("TRACE", "Content-Length: 1\r\n")), 400);
    assert_eq!(status(&req("TRACE", "Transfer-Encoding: chunked\r\n")), 400);
    assert_eq!(status(&req("TRACE", "Content-Length: 0\r\n")), 200);
    let r = parse(&req("GET", "Content-Length: 3\r\n")).unwrap();
    assert_eq!(r.body, BodyKind::Length(3)); // read (and framed) like any body
    let connect = b"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nContent-Length: 2\r\n\r\n";
    assert_eq!(status(connect), 400);
}

#[test]
fn expect() {
    let r = parse(&with_fields(
        "Content-Length: 5\r\nExpect: 100-Continue\r\n",
    ))
    .unwrap();
    assert!(r.expect_continue);
    let r = parse(&with_fields("Expect: 100-continue\r\n")).unwrap();
    assert!(!r.expect_continue, "no body to wait for");
    let r = parse(b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    assert!(!r.unwrap().expect_continue, "ignored in 1.0");
    for bad in [
        "Content-Length: 5\r\nExpect: 200-ok\r\n",
        "Content-Length: 5\r\nExpect: 100-continue, x\r\n",
        "Content-Length: 5\r\nExpect: 100-continue;a=b\r\n",
        "Expect: foo\r\n",
    ] {
        assert_eq!(status(&with_fields(bad)), 417, "{bad:?}");
    }
}

#[test]
fn connection_options() {
    let ka = |h: &[u8]| parse(h).unwrap().keep_alive;
    assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(!ka(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"
    ));
    assert!(!ka(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n"
    ));
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(!ka(
        b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
    ));
    let up = |h: &[u8]| parse(h).unwrap().upgrade;
    assert!(up(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    ));
    assert!(!up(
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"
    ));
    assert!(!up(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"
    ));
    assert!(!up(
        b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
    ));
}
