//! `Responder::abort`: a response given up on ends in a close that the
//! client can tell from a complete answer (no last chunk, a body shorter
//! than its length, or no answer at all), after the answers before it.

mod server_util;

use std::io::Write;
use std::time::Duration;

use evloop::Error;
use evloop_http::server::{Body, BodyChunk, Reply, ServerOptions};
use http::{Method, Response};
use server_util::{spawn, Reader};

/// `/partial` streams a piece at once, another from a timer, then aborts;
/// `/later-abort` aborts from a timer before any head; `/ok` answers.
fn server() -> server_util::TestServer<Vec<String>> {
    spawn(ServerOptions::new(), Vec::new(), |r| {
        r.exact("/partial", &[Method::GET], |ctx, _, req| {
            let r = req.responder();
            r.stream(ctx, Response::new(())).unwrap();
            r.send(ctx, "hello").unwrap();
            ctx.once_timer(
                Duration::from_millis(20),
                move |ctx, log: &mut Vec<_>, _| {
                    r.send(ctx, "world").unwrap();
                    r.abort(ctx).unwrap();
                    // Gone now: a second abort, a send or a finish is refused.
                    log.push(format!("{:?}", r.abort(ctx)));
                    log.push(format!("{:?}", r.finish(ctx)));
                },
            )
            .unwrap();
            Reply::Later
        });
        r.exact("/later-abort", &[Method::GET], |ctx, _, req| {
            let r = req.responder();
            ctx.once_timer(Duration::from_millis(20), move |ctx, _, _| {
                r.abort(ctx).unwrap()
            })
            .unwrap();
            Reply::Later
        });
        r.exact("/ok", &[Method::GET], |_, log: &mut Vec<String>, _| {
            log.push("ok".into());
            Response::new(Body::from("fine"))
        });
        r.exact(
            "/answered",
            &[Method::GET],
            |ctx, log: &mut Vec<String>, req| {
                let r = req.responder();
                r.respond(ctx, Response::new(Body::from("done"))).unwrap();
                log.push(format!("{:?}", r.abort(ctx)));
                Reply::Later
            },
        );
        r.exact("/upload", &[Method::PUT], |ctx, _, req| {
            let r = req.responder();
            r.read_body(
                ctx,
                move |ctx, log: &mut Vec<String>, r, chunk| match chunk {
                    BodyChunk::Data(_) => {
                        // The first piece is enough to know it is refused.
                        if r.is_pending(ctx) {
                            r.abort(ctx).unwrap();
                        }
                    }
                    BodyChunk::End(_) => log.push("end".into()),
                    BodyChunk::Aborted => log.push("body aborted".into()),
                },
            )
            .unwrap();
            Reply::Later
        })
        .stream_body();
    })
}

#[test]
fn an_aborted_chunked_stream_closes_without_its_last_chunk() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(b"GET /partial HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let head = rd.head().unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    // Both pieces, then the close: no zero-size chunk.
    let rest = rd.rest().unwrap();
    assert_eq!(rest, b"5\r\nhello\r\n5\r\nworld\r\n");
    let log = srv.stop();
    assert_eq!(log, ["Err(StaleHandle)", "Err(StaleHandle)"]);
}

#[test]
fn abort_before_the_head_closes_after_the_earlier_answers_and_drops_later_ones() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(
        b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /later-abort HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /ok HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let first = rd.response(false).unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), "fine");
    // No answer to the aborted request, nor to the one behind it.
    assert_eq!(rd.rest().unwrap(), b"");
}

#[test]
fn abort_after_a_complete_answer_is_refused() {
    let srv = server();
    let r = server_util::roundtrip(&srv, b"GET /answered HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.text(), "done");
    let log = srv.stop();
    assert_eq!(log, [format!("{:?}", Err::<(), _>(Error::StaleHandle))]);
}

#[test]
fn abort_while_the_body_is_read_cuts_the_body_off() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    c.write_all(&[b'a'; 1000]).unwrap();
    let mut rd = Reader::new(&mut c);
    // No answer: the connection just closes (the rest of the body may
    // still be on its way, so a reset is as good as an EOF here).
    let rest = rd.rest();
    assert!(
        matches!(&rest, Ok(b) if b.is_empty()) || rest.is_err(),
        "{rest:?}"
    );
    let log = srv.stop();
    assert_eq!(log, ["body aborted"]);
}
