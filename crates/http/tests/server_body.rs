//! Request bodies a handler gets whole (Content-Length and chunked, with
//! trailers), the body limit, `Expect: 100-continue`, and file responses.

mod server_util;

use std::io::Write;

use evloop_http::proto::Limits;
use evloop_http::server::{Body, BodyChunk, Reply, ServerOptions};
use http::{Method, Response, StatusCode};
use server_util::{closed, roundtrip, spawn, Reader, TestServer};

fn server() -> TestServer<()> {
    let limits = Limits::default().with_max_body(1000);
    spawn(ServerOptions::new().with_limits(limits), (), |r| {
        r.exact("/echo", &[Method::POST, Method::PUT], |_, _, req| {
            let trailer = req
                .trailers()
                .get("x-sum")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            Response::new(Body::from(format!(
                "{} bytes [{}] trailer={trailer}",
                req.body().len(),
                String::from_utf8_lossy(req.body())
            )))
        });
        // Streaming route that refuses every body without reading it.
        r.exact("/refuse", &[Method::POST], |_, _, _| {
            let mut r = Response::new(Body::from("no"));
            *r.status_mut() = StatusCode::FORBIDDEN;
            r
        })
        .stream_body();
        // Streaming route that accepts.
        r.exact("/accept", &[Method::POST], |ctx, _, req| {
            let mut n = 0;
            req.responder()
                .read_body(ctx, move |ctx, _, r, chunk| match chunk {
                    BodyChunk::Data(b) => n += b.len(),
                    BodyChunk::End(_) => {
                        r.respond(ctx, Response::new(Body::from(n.to_string())))
                            .unwrap();
                    }
                    BodyChunk::Aborted => {}
                })
                .unwrap();
            Reply::Later
        })
        .stream_body();
    })
}

#[test]
fn a_content_length_body_is_given_whole() {
    let srv = server();
    let r = roundtrip(
        &srv,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(r.text(), "5 bytes [hello] trailer=");
}

#[test]
fn a_chunked_body_is_given_whole_with_its_trailers() {
    let srv = server();
    let r = roundtrip(
        &srv,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\nX-Sum: 5\r\n\r\n",
    );
    assert_eq!(r.text(), "5 bytes [hello] trailer=5");
}

#[test]
fn a_body_split_across_many_writes_arrives_whole() {
    let srv = server();
    let mut c = srv.connect();
    let req = b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
    for b in req.iter() {
        c.write_all(&[*b]).unwrap();
    }
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!(r.text(), "4 bytes [abcd] trailer=");
}

#[test]
fn a_content_length_over_the_limit_gets_413_before_the_body_and_a_close() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed(rd.s));
}

#[test]
fn a_chunked_body_over_the_limit_gets_413() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for _ in 0..3 {
        c.write_all(b"190\r\n").unwrap(); // 400 bytes per chunk
        c.write_all(&[b'a'; 400]).unwrap();
        c.write_all(b"\r\n").unwrap();
    }
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!(r.status, 413);
}

#[test]
fn expect_100_continue_is_answered_when_the_limit_check_accepts() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let interim = rd.head().unwrap();
    assert_eq!(interim.status, 100);
    rd.s.write_all(b"abc").unwrap();
    let r = rd.response(false).unwrap();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "3 bytes [abc] trailer=")
    );
}

#[test]
fn expect_100_continue_over_the_limit_gets_413_and_no_100() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!(r.status, 413);
}

#[test]
fn a_streaming_handler_that_refuses_gets_its_status_sent_without_100_and_closes() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(
        b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!((r.status, r.header("connection")), (403, Some("close")));
    assert!(closed(rd.s));
}

#[test]
fn a_streaming_handler_that_reads_sends_100_first() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(
        b"POST /accept HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    assert_eq!(rd.head().unwrap().status, 100);
    rd.s.write_all(b"abcd").unwrap();
    assert_eq!(rd.response(false).unwrap().text(), "4");
}

#[test]
fn a_body_refused_without_expect_is_read_and_dropped_and_the_connection_kept() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(
        b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.header("connection"), None);
    assert_eq!(rd.response(false).unwrap().text(), "2 bytes [ok] trailer=");
}

#[test]
fn an_unknown_expectation_gets_417() {
    let srv = server();
    let r = roundtrip(
        &srv,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: teapot\r\n\r\nhi",
    );
    assert_eq!(r.status, 417);
}

#[test]
fn a_file_body_is_sent_with_its_length_and_head_gets_the_length_only() {
    let dir = std::env::temp_dir().join(format!("evloop-http-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data.bin");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let p2 = path.clone();
    let srv = spawn(ServerOptions::new(), (), move |r| {
        r.exact("/file", &[Method::GET], move |_, _, _| {
            Response::new(Body::file(std::fs::File::open(&p2).unwrap()).unwrap())
        });
        let p3 = path.clone();
        r.exact("/part", &[Method::GET], move |_, _, _| {
            let file = std::sync::Arc::new(std::fs::File::open(&p3).unwrap());
            Response::new(Body::File {
                file,
                offset: 1000,
                len: 10,
            })
        });
    });
    let mut c = srv.connect();
    c.write_all(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\nHEAD /file HTTP/1.1\r\nHost: x\r\n\r\nGET /part HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!(r.header("content-length"), Some("300000"));
    assert!(r.body == content, "the file's bytes");
    let h = rd.response(true).unwrap();
    assert_eq!(h.header("content-length"), Some("300000"));
    let p = rd.response(false).unwrap();
    assert_eq!(p.body, &content[1000..1010]);
    let _ = std::fs::remove_dir_all(dir);
}
