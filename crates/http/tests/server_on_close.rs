//! `Responder::on_close`: called once when a request is dropped before
//! its response is complete (the connection reset, or closed by a
//! response before it, or the client's EOF with `client_eof_aborts`);
//! never for a request answered, nor for a half close by default.

mod server_util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::time::Duration;

use evloop_http::server::{Body, Reply, Router, ServerOptions};
use http::{Method, Response};
use server_util::{spawn, Reader, TestServer};

type Log = mpsc::Sender<String>;

fn routes(r: &mut Router<Log>) {
    // Answers after 50 ms; says when it is dropped first.
    r.exact("/wait", &[Method::GET], |ctx, _, req| {
        let r = req.responder();
        r.on_close(ctx, |ctx, log: &mut Log, r| {
            let again = r.respond(ctx, Response::new(Body::from("too late")));
            log.send(format!("wait closed, respond: {again:?}"))
                .unwrap();
        })
        .unwrap();
        ctx.once_timer(Duration::from_millis(50), move |ctx, log: &mut Log, _| {
            if r.respond(ctx, Response::new(Body::from("waited"))).is_ok() {
                log.send("wait answered".into()).unwrap();
            }
        })
        .unwrap();
        Reply::Later
    });
    // Answers after 20 ms with Connection: close.
    r.exact("/close", &[Method::GET], |ctx, _, req| {
        let r = req.responder();
        ctx.once_timer(Duration::from_millis(20), move |ctx, _, _| {
            let resp = Response::builder()
                .header("connection", "close")
                .body(Body::from("bye"))
                .unwrap();
            r.respond(ctx, resp).unwrap();
        })
        .unwrap();
        Reply::Later
    });
    // Gives up after 20 ms, without an answer.
    r.exact("/abort", &[Method::GET], |ctx, _, req| {
        let r = req.responder();
        r.on_close(ctx, |_, log: &mut Log, _| {
            log.send("abort's own on_close".into()).unwrap()
        })
        .unwrap();
        ctx.once_timer(Duration::from_millis(20), move |ctx, _, _| {
            r.abort(ctx).unwrap()
        })
        .unwrap();
        Reply::Later
    });
    // Streams without end, 16 KiB at a time, while little waits.
    r.exact("/endless", &[Method::GET], |ctx, _, req| {
        let r = req.responder();
        r.stream(ctx, Response::new(())).unwrap();
        r.on_close(ctx, |_, log: &mut Log, _| {
            log.send("endless closed".into()).unwrap()
        })
        .unwrap();
        r.on_drain(ctx, |ctx, _, r| {
            while r.buffered(ctx) < 256 * 1024 {
                r.send(ctx, vec![b'x'; 16 * 1024]).unwrap();
            }
        })
        .unwrap();
        Reply::Later
    });
}

fn server(opts: ServerOptions) -> (TestServer<Log>, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    (spawn(opts, tx, routes), rx)
}

fn next(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a callback within 10 s")
}

#[test]
fn a_half_close_still_gets_the_answer_and_no_on_close() {
    let (srv, rx) = server(ServerOptions::new());
    let mut c = srv.connect();
    c.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!(r.text(), "waited");
    assert_eq!(next(&rx), "wait answered");
    drop(c);
    drop(srv.stop());
    // Answered: its callback is never called.
    assert_eq!(rx.try_recv().ok(), None);
}

#[test]
fn with_client_eof_aborts_an_eof_drops_the_waiting_request() {
    let (srv, rx) = server(ServerOptions::new().client_eof_aborts(true));
    let mut c = srv.connect();
    c.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    // No answer: the connection closes at once.
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
    assert_eq!(next(&rx), "wait closed, respond: Err(StaleHandle)");
    // The timer's answer finds nothing to answer.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rx.try_recv().ok(), None);
}

#[test]
fn a_request_behind_a_closing_response_hears_on_close() {
    let (srv, rx) = server(ServerOptions::new());
    let mut c = srv.connect();
    c.write_all(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!(r.text(), "bye");
    assert_eq!(rd.rest().unwrap(), b"");
    assert_eq!(next(&rx), "wait closed, respond: Err(StaleHandle)");
    drop(srv);
}

#[test]
fn a_client_gone_during_a_streamed_response_is_noticed() {
    let (srv, rx) = server(ServerOptions::new());
    let mut c = srv.connect();
    c.write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let head = rd.head().unwrap();
    assert_eq!(head.status, 200);
    rd.exact(100_000).unwrap();
    // Closed with unread data: the client's kernel resets the connection,
    // and the server's next write fails.
    drop(c);
    assert_eq!(next(&rx), "endless closed");
    drop(srv);
}

#[test]
fn requests_dropped_behind_an_abort_hear_on_close_and_the_aborted_one_does_not() {
    let (srv, rx) = server(ServerOptions::new());
    let mut c = srv.connect();
    c.write_all(b"GET /abort HTTP/1.1\r\nHost: x\r\n\r\nGET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(Reader::new(&mut c).rest().unwrap(), b"");
    assert_eq!(next(&rx), "wait closed, respond: Err(StaleHandle)");
    drop(srv.stop());
    assert_eq!(rx.try_recv().ok(), None);
}
