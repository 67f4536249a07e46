//! Answers to HEAD carry the fields GET would (RFC 9110 9.3.2) and no
//! body: the handler's Content-Length kept, none made up when the handler
//! gave none.

mod server_util;

use std::io::Write;

use evloop_http::server::{Body, Reply, ServerOptions};
use http::{Method, Response};
use server_util::{spawn, Reader};

fn server() -> server_util::TestServer<()> {
    spawn(ServerOptions::new(), (), |r| {
        // A head as a proxy or cache has it: no body, maybe a length.
        r.exact("/no-length", &[Method::GET], |_, _, _| {
            Response::new(Body::Empty)
        });
        r.exact("/stored-length", &[Method::GET], |_, _, _| {
            Response::builder()
                .header("content-length", "1234")
                .body(Body::Empty)
                .unwrap()
        });
        r.exact("/bytes", &[Method::GET], |_, _, _| {
            Response::new(Body::from("hello"))
        });
        r.exact("/stream", &[Method::GET], |ctx, _, req| {
            let r = req.responder();
            r.stream(ctx, Response::new(())).unwrap();
            r.send(ctx, "dropped for HEAD").unwrap();
            r.finish(ctx).unwrap();
            Reply::Later
        });
    })
}

/// Sends `HEAD path` then `GET /bytes` on one connection: the HEAD answer
/// is read as a head only, and the GET answer right after it shows that
/// no body came between them.
fn head_of(path: &str) -> server_util::Resp {
    let srv = server();
    let mut c = srv.connect();
    write!(
        c,
        "HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let head = rd.response(true).unwrap();
    let next = rd.response(false).unwrap();
    assert_eq!(next.status, 200);
    assert_eq!(next.text(), "hello");
    head
}

#[test]
fn head_without_a_length_gets_no_false_zero_length() {
    let h = head_of("/no-length");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), None);
    assert_eq!(h.header("transfer-encoding"), None);
}

#[test]
fn head_keeps_the_handlers_length() {
    let h = head_of("/stored-length");
    assert_eq!(h.header("content-length"), Some("1234"));
}

#[test]
fn head_of_a_bytes_body_has_its_length() {
    let h = head_of("/bytes");
    assert_eq!(h.header("content-length"), Some("5"));
}

#[test]
fn head_of_a_stream_has_no_framing_fields() {
    let h = head_of("/stream");
    assert_eq!(h.header("content-length"), None);
    assert_eq!(h.header("transfer-encoding"), None);
}

#[test]
fn get_of_an_empty_body_still_says_zero() {
    let srv = server();
    let r = server_util::roundtrip(&srv, b"GET /no-length HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("content-length"), Some("0"));
}
