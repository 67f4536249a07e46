//! Upgrade and CONNECT: the handler takes the connection's stream, with the
//! bytes sent after the request still in its input.

mod server_util;

use std::io::Write;

use evloop_buffer::StreamExt;
use evloop_http::server::{Body, Reply, ServerOptions};
use http::{Method, Response, StatusCode};
use server_util::{spawn, Reader};

/// An echo protocol behind `Upgrade: echo`: everything after the 101 comes
/// back upper-cased.
fn echo_server() -> server_util::TestServer<u32> {
    spawn(ServerOptions::new(), 0u32, |r| {
        r.exact("/plain", &[Method::GET], |_, _, _| {
            Response::new(Body::from("plain"))
        });
        r.fallback(|ctx, upgrades, req| {
            if req.method() != Method::CONNECT {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::NOT_FOUND;
                return Reply::Now(r);
            }
            echo(ctx, upgrades, req)
        });
        r.exact("/echo", &[Method::GET], |ctx, upgrades, req| {
            if !req.headers().contains_key(http::header::UPGRADE) && req.method() != Method::CONNECT
            {
                return Reply::Now(Response::new(Body::from("no upgrade asked")));
            }
            echo(ctx, upgrades, req)
        });
    })
}

fn echo(
    ctx: &mut evloop::Ctx<'_, u32>,
    upgrades: &mut u32,
    req: evloop_http::server::Request,
) -> Reply {
    let status = if req.method() == Method::CONNECT {
        StatusCode::OK
    } else {
        StatusCode::SWITCHING_PROTOCOLS
    };
    let head = Response::builder()
        .status(status)
        .header("upgrade", "echo")
        .header("connection", "upgrade")
        .body(())
        .unwrap();
    let id = req.responder().upgrade(ctx, head).unwrap();
    *upgrades += 1;
    let mut s = ctx.stream(id).unwrap();
    let early = s.input().split_to(usize::MAX);
    s.write(&early.to_ascii_uppercase());
    s.on_read(|ctx, _, id| {
        let mut s = ctx.stream(id).unwrap();
        let b = s.input().split_to(usize::MAX);
        s.write(&b.to_ascii_uppercase());
    });
    Reply::Later
}

#[test]
fn upgrade_hands_over_the_stream_with_the_bytes_sent_after_the_request() {
    let srv = echo_server();
    let mut c = srv.connect();
    // The request and the first bytes of the new protocol in one write.
    c.write_all(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\nhello ",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let head = rd.head().unwrap();
    assert_eq!(head.status, 101);
    assert_eq!(head.header("upgrade"), Some("echo"));
    assert_eq!(head.header("content-length"), None);
    assert_eq!(rd.exact(6).unwrap(), b"HELLO ");
    // Later bytes go through the new owner's read callback.
    rd.s.write_all(b"world").unwrap();
    assert_eq!(rd.exact(5).unwrap(), b"WORLD");
    drop(rd);
    drop(c);
    assert_eq!(srv.stop(), 1);
}

#[test]
fn an_upgrade_after_pipelined_requests_waits_for_them() {
    let srv = echo_server();
    let mut c = srv.connect();
    c.write_all(
        b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n\
          GET /plain HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let first = rd.response(false).unwrap();
    assert_eq!((first.status, first.text().as_str()), (200, "plain"));
    let up = rd.head().unwrap();
    assert_eq!(up.status, 101);
    // The third "request" was sent after the upgrade: it is the new
    // protocol's data, echoed, never parsed as HTTP.
    let want = b"GET /PLAIN HTTP/1.1\r\nHOST: X\r\n\r\n";
    assert_eq!(
        rd.exact(want.len()).unwrap(),
        b"GET /PLAIN HTTP/1.1\r\nHOST: X\r\n\r\n"
    );
}

#[test]
fn connect_is_answered_with_2xx_and_handed_over() {
    let srv = echo_server();
    let mut c = srv.connect();
    c.write_all(b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\nping")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let head = rd.head().unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), None);
    assert_eq!(head.header("transfer-encoding"), None);
    assert_eq!(rd.exact(4).unwrap(), b"PING");
    drop(rd);
    drop(c);
    assert_eq!(srv.stop(), 1);
}

#[test]
fn an_upgrade_with_a_status_other_than_101_is_refused() {
    let srv = spawn(ServerOptions::new(), (), |r| {
        r.exact("/", &[Method::GET], |ctx, _, req| {
            let bad = req.responder().upgrade(ctx, Response::new(()));
            assert!(bad.is_err());
            Response::new(Body::from("still http"))
        });
    });
    let mut c = srv.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n")
        .unwrap();
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "still http"));
}

#[test]
fn a_request_without_upgrade_gets_an_ordinary_answer_and_keeps_the_connection() {
    let srv = echo_server();
    let mut c = srv.connect();
    c.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    assert_eq!(rd.response(false).unwrap().text(), "no upgrade asked");
    assert_eq!(rd.response(false).unwrap().text(), "plain");
}
