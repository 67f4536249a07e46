//! A streamed response started with a `Content-Length`: the length is
//! kept and the body sent raw (to 1.1 and 1.0 clients, keep-alive kept);
//! more than the length is refused, less aborts the response.

mod server_util;

use std::io::Write;

use evloop_http::server::{Reply, ServerOptions};
use http::{Method, Response};
use server_util::{spawn, Reader};

fn with_length(len: &str) -> Response<()> {
    Response::builder()
        .header("content-length", len)
        .body(())
        .unwrap()
}

/// `/ten` streams 10 bytes with `Content-Length: 10` (two pieces, the
/// second from the producer, and a third piece too many); `/short` stops
/// after 4 of 10; `/bad` gives an invalid length.
fn server() -> server_util::TestServer<Vec<String>> {
    spawn(ServerOptions::new(), Vec::new(), |r| {
        r.exact("/ten", &[Method::GET], |ctx, _, req| {
            let r = req.responder();
            r.stream(ctx, with_length("10")).unwrap();
            r.send(ctx, "0123").unwrap();
            let mut done = false;
            r.on_drain(ctx, move |ctx, log: &mut Vec<String>, r| {
                if done {
                    return;
                }
                done = true;
                r.send(ctx, "456789").unwrap();
                log.push(format!("{:?}", r.send(ctx, "x")));
                r.finish(ctx).unwrap();
            })
            .unwrap();
            Reply::Later
        });
        r.exact(
            "/short",
            &[Method::GET],
            |ctx, log: &mut Vec<String>, req| {
                let r = req.responder();
                r.stream(ctx, with_length("10")).unwrap();
                r.send(ctx, "0123").unwrap();
                log.push(format!("{:?}", r.finish(ctx)));
                Reply::Later
            },
        );
        r.exact("/bad", &[Method::GET], |ctx, _, req| {
            let r = req.responder();
            r.stream(ctx, with_length("1x")).unwrap();
            r.send(ctx, "ab").unwrap();
            r.finish(ctx).unwrap();
            Reply::Later
        });
    })
}

#[test]
fn a_known_length_is_kept_and_the_connection_stays_open() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(b"GET /ten HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("connection"), None);
    assert_eq!(r.text(), "0123456789");
    // The same connection takes the next request.
    rd.s.write_all(b"GET /ten HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(rd.response(false).unwrap().text(), "0123456789");
    let log = srv.stop();
    let refused = "Err(InvalidArgument(\"more body than the response's Content-Length\"))";
    assert_eq!(log, [refused, refused]);
}

#[test]
fn an_http10_keepalive_client_gets_the_length_and_keeps_its_connection() {
    let srv = server();
    let mut c = srv.connect();
    let req = b"GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    c.write_all(req).unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert_eq!(r.text(), "0123456789");
    rd.s.write_all(req).unwrap();
    assert_eq!(rd.response(false).unwrap().text(), "0123456789");
}

#[test]
fn finishing_short_of_the_length_closes_the_connection() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\nGET /ten HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let head = rd.head().unwrap();
    assert_eq!(head.header("content-length"), Some("10"));
    // 4 bytes of the 10, then the close; the pipelined request is dropped.
    assert_eq!(rd.rest().unwrap(), b"0123");
    let log = srv.stop();
    assert_eq!(
        log,
        ["Err(InvalidArgument(\"less body than the response's Content-Length: aborted\"))"]
    );
}

#[test]
fn an_invalid_length_is_dropped_and_the_body_chunked() {
    let srv = server();
    let r = server_util::roundtrip(&srv, b"GET /bad HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "ab");
}
