//! The write deadline: a client that stops reading its responses is cut
//! off once no byte has been sent for `write_timeout`; a slow client that
//! keeps reading is not, and neither is a streamed response waiting on its
//! producer.

mod server_util;

use std::io::{ErrorKind, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use evloop_http::server::{Body, Reply, ServerOptions};
use http::{Method, Response};
use server_util::{spawn, Reader};

const PIECE: usize = 64 * 1024;

#[test]
fn a_client_that_reads_nothing_is_closed_after_the_write_timeout() {
    let timeout = Duration::from_millis(300);
    let (closed_tx, closed_rx) = mpsc::channel::<Instant>();
    let opts = ServerOptions::new().write_timeout(timeout);
    let srv = spawn(opts, closed_tx, |r| {
        // An endless streamed body: the producer tops the output up to
        // 256 KiB whenever it runs low.
        r.exact("/endless", &[Method::GET], |ctx, _, req| {
            let r = req.responder();
            r.stream(ctx, Response::new(())).unwrap();
            r.on_drain(ctx, |ctx, _, r| {
                let piece = bytes::Bytes::from(vec![b'x'; PIECE]);
                while r.buffered(ctx) < 4 * PIECE {
                    if r.send(ctx, piece.clone()).is_err() {
                        return;
                    }
                }
            })
            .unwrap();
            // Watches for the response being cut off (the connection gone).
            let watch = ctx
                .new_timer(
                    Duration::from_millis(5),
                    Duration::from_millis(5),
                    move |ctx, tx: &mut mpsc::Sender<Instant>, id, _| {
                        if !r.is_pending(ctx) {
                            let _ = tx.send(Instant::now());
                            let _ = ctx.remove(id);
                        }
                    },
                )
                .unwrap();
            ctx.start(watch).unwrap();
            Reply::Later
        });
    });
    let mut c = srv.connect();
    let sent = Instant::now();
    c.write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The client reads nothing; the server must give up on its own.
    let closed_at = closed_rx
        .recv_timeout(timeout + Duration::from_secs(15))
        .expect("the stalled connection was not closed");
    let after = closed_at - sent;
    assert!(
        after >= timeout,
        "closed after {after:?}, before the timeout"
    );
    // The client sees the end of the connection (after what the kernels
    // still held), not a complete response.
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no end of the connection: {e} after {total} bytes"),
        }
    }
    assert!(total > 0, "some of the body was sent before the stall");
}

#[test]
fn a_slow_client_that_keeps_reading_gets_the_whole_body() {
    let timeout = Duration::from_millis(400);
    let total = 24 * 1024 * 1024;
    let opts = ServerOptions::new().write_timeout(timeout);
    // Made before: a debug build takes a while, and the loop's time (from
    // which the deadline counts) is taken before the handler runs.
    let body = bytes::Bytes::from((0..total).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let srv = spawn(opts, (), move |r| {
        r.exact("/big", &[Method::GET], move |_, _, _| {
            Response::new(Body::from(body.clone()))
        });
    });
    let mut c = srv.connect();
    let started = Instant::now();
    c.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    // About 12 MB/s: far slower than the server writes, but never long
    // without taking some of it.
    let mut raw = Vec::with_capacity(total + 1024);
    let mut buf = vec![0u8; 4 * PIECE];
    loop {
        let n = c.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = &raw[at..];
    assert_eq!(body.len(), total);
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    // Otherwise the deadline had no chance to cut it off.
    assert!(took > 3 * timeout, "the read took only {took:?}");
}

#[test]
fn a_streamed_response_waiting_on_its_producer_is_no_write_stall() {
    let timeout = Duration::from_millis(200);
    let opts = ServerOptions::new().write_timeout(timeout);
    let srv = spawn(opts, (), move |r| {
        r.exact("/pause", &[Method::GET], move |ctx, _, req| {
            let r = req.responder();
            r.stream(ctx, Response::new(())).unwrap();
            r.send(ctx, "before ").unwrap();
            // Nothing queued for three write timeouts.
            ctx.once_timer(timeout * 3, move |ctx, _, _| {
                r.send(ctx, "after").unwrap();
                r.finish(ctx).unwrap();
            })
            .unwrap();
            Reply::Later
        });
    });
    let mut c = srv.connect();
    c.write_all(b"GET /pause HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let resp = Reader::new(&mut c).response(false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "before after");
}

#[test]
fn a_half_closed_client_that_reads_nothing_is_closed_too() {
    // The client sends its request and its end of input: the server sends
    // its last response and lets the connection go once it is flushed,
    // which never happens, as nothing is read.
    let timeout = Duration::from_millis(200);
    let total = 8 * 1024 * 1024;
    let body = bytes::Bytes::from(vec![b'y'; total]);
    let opts = ServerOptions::new().write_timeout(timeout);
    let srv = spawn(opts, (), move |r| {
        r.exact("/big", &[Method::GET], move |_, _, _| {
            Response::new(Body::from(body.clone()))
        });
    });
    let mut c = srv.connect();
    c.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(timeout * 4);
    // Now reading: the server gave up on the rest, so the connection ends
    // before the whole body.
    let mut raw = Vec::new();
    match c.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no end of the connection: {e} after {} bytes", raw.len()),
    }
    assert!(
        raw.len() < total,
        "{} bytes: the whole response went out",
        raw.len()
    );
}
