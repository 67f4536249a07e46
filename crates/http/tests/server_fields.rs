//! A handler sees the same fields whichever way its request's head was
//! read: the one-pass path (whose map is made on the first look), the
//! full path, pipelined or not, after a Host the connection sent before
//! or a different one.

mod server_util;

use std::io::Write;

use evloop_http::server::{Body, ServerOptions};
use http::{Method, Response};
use server_util::{spawn, Reader};

fn server() -> server_util::TestServer<()> {
    spawn(ServerOptions::new(), (), |r| {
        r.exact("/fields", &[Method::GET, Method::POST], |_, _, req| {
            let mut text = String::new();
            for (name, value) in req.headers() {
                text.push_str(&format!(
                    "{name}={}\n",
                    String::from_utf8_lossy(value.as_bytes())
                ));
            }
            Response::new(Body::from(text))
        });
        r.exact("/http", &[Method::GET], |_, _, req| {
            let req = req.into_http();
            let host = req.headers()["host"].to_str().unwrap().to_string();
            Response::new(Body::from(format!("{} {host}", req.headers().len())))
        });
    })
}

#[test]
fn fields_are_the_same_on_every_path() {
    let srv = server();
    let mut c = srv.connect();
    // One pass, cached Host, a different Host, a body (map made at once),
    // an HTTP/1.0 head (the full path), a value with a tab inside.
    write!(
        c,
        "GET /fields HTTP/1.1\r\nHost: a.example\r\nX-One:  1 \r\nAccept: */*\r\n\r\n\
         GET /fields HTTP/1.1\r\nhost: a.example\r\nX-Two: 2\r\n\r\n\
         GET /fields HTTP/1.1\r\nHost: b.example:81\r\n\r\n\
         POST /fields HTTP/1.1\r\nHost: b.example:81\r\nContent-Length: 2\r\n\r\nhi\
         GET /fields HTTP/1.0\r\nHost: c\r\nConnection: keep-alive\r\n\r\n\
         GET /fields HTTP/1.1\r\nHost: c\r\nX-Tab: a\tb\r\n\r\n\
         GET /http HTTP/1.1\r\nHost: d\r\nX: y\r\n\r\n"
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let mut next = || rd.response(false).unwrap().text();
    assert_eq!(next(), "host=a.example\nx-one=1\naccept=*/*\n");
    assert_eq!(next(), "host=a.example\nx-two=2\n");
    assert_eq!(next(), "host=b.example:81\n");
    assert_eq!(next(), "host=b.example:81\ncontent-length=2\n");
    assert_eq!(next(), "host=c\nconnection=keep-alive\n");
    assert_eq!(next(), "host=c\nx-tab=a\tb\n");
    assert_eq!(next(), "2 d");
}

#[test]
fn a_bad_host_after_a_good_one_is_still_refused() {
    let srv = server();
    let mut c = srv.connect();
    write!(
        c,
        "GET /fields HTTP/1.1\r\nHost: a.example\r\n\r\n\
         GET /fields HTTP/1.1\r\nHost: a.example/x\r\n\r\n\
         GET /fields HTTP/1.1\r\nHost: a.example\r\n\r\n"
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    assert_eq!(rd.response(false).unwrap().status, 200);
    let bad = rd.response(false).unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("connection"), Some("close"));
    assert!(rd.rest().unwrap().is_empty());
}
