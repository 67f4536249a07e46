//! EOF, half-close, close after flush, and errors that say how much was
//! not sent.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};

use evloop::{Loop, RunMode};
use evloop_buffer::{Direction, StreamEvent, StreamExt, StreamId};

#[derive(Default)]
struct Log {
    events: Vec<String>,
    data: Vec<u8>,
    unsent: Option<usize>,
    error: Option<ErrorKind>,
}

fn record(lp: &mut Loop<Log>, id: StreamId, name: &'static str) {
    lp.ctx().stream(id).unwrap().on_event(move |_, log, _, ev| {
        if let StreamEvent::Error {
            error,
            direction,
            unsent,
        } = &ev
        {
            assert_eq!(*direction, Direction::Write);
            log.unsent = Some(*unsent);
            log.error = Some(error.kind());
        }
        log.events.push(format!("{name}: {}", short(&ev)));
    });
}

fn short(ev: &StreamEvent) -> &'static str {
    match ev {
        StreamEvent::Connected => "connected",
        StreamEvent::Eof => "eof",
        StreamEvent::Timeout(_) => "timeout",
        StreamEvent::Error { .. } => "error",
    }
}

/// Runs until `done` or 100,000 non-blocking iterations.
fn run_until(lp: &mut Loop<Log>, log: &mut Log, done: impl Fn(&Log) -> bool) {
    for _ in 0..100_000 {
        if done(log) {
            return;
        }
        lp.run(log, RunMode::NoWait).unwrap();
    }
    panic!("never done: {:?}", log.events);
}

#[test]
fn half_close_request_then_response() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (client, server) = lp.ctx().new_stream_pair().unwrap();
    record(&mut lp, client, "client");
    // The server answers once the client has finished sending.
    lp.ctx()
        .stream(server)
        .unwrap()
        .on_event(|ctx, log, id, ev| {
            log.events.push(format!("server: {}", short(&ev)));
            let mut s = ctx.stream(id).unwrap();
            let n = s.input().len();
            let request = s.input().split_to(n);
            assert!(s.is_eof());
            s.write(b"response to ");
            s.write(&request);
            s.close_when_flushed();
        });
    lp.ctx().stream(client).unwrap().on_read(|ctx, log, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        log.data.extend_from_slice(&s.input().split_to(n));
    });
    let mut ctx = lp.ctx();
    let mut c = ctx.stream(client).unwrap();
    c.write(b"request");
    c.shutdown_when_flushed();
    drop(c);
    let mut log = Log::default();
    run_until(&mut lp, &mut log, |l| l.events.len() == 2);
    assert_eq!(log.events, ["server: eof", "client: eof"]);
    assert_eq!(log.data, b"response to request");
    assert!(lp.ctx().stream(server).is_err(), "closed after flushing");
}

#[test]
fn data_queued_after_shutdown_is_an_error_not_a_silent_loss() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (a, _b) = lp.ctx().new_stream_pair().unwrap();
    record(&mut lp, a, "a");
    lp.ctx().stream(a).unwrap().shutdown_when_flushed();
    let mut log = Log::default();
    run_until(&mut lp, &mut log, |_| true);
    lp.run(&mut log, RunMode::NoWait).unwrap();
    lp.ctx().stream(a).unwrap().write(b"too late");
    run_until(&mut lp, &mut log, |l| !l.events.is_empty());
    assert_eq!(log.events, ["a: error"]);
    assert_eq!(log.unsent, Some(8));
    assert_eq!(log.error, Some(ErrorKind::BrokenPipe));
}

#[test]
fn close_when_flushed_delivers_every_byte() {
    const TOTAL: usize = 8 << 20;
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    record(&mut lp, b, "b");
    lp.ctx().stream(b).unwrap().on_read(|ctx, log, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        log.data.extend_from_slice(&s.input().split_to(n));
    });
    let sent: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    s.write(&sent);
    s.close_when_flushed(); // long before the socket took it all
    let mut log = Log::default();
    run_until(&mut lp, &mut log, |l| !l.events.is_empty());
    assert_eq!(log.events, ["b: eof"]);
    assert_eq!(log.data.len(), TOTAL);
    assert!(log.data == sent);
    assert!(lp.ctx().stream(a).is_err());
}

#[test]
fn peer_gone_before_any_write_reports_every_byte_unsent() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    record(&mut lp, a, "a");
    lp.ctx().stream(b).unwrap().close();
    lp.ctx().stream(a).unwrap().write(&[1u8; 100_000]);
    let mut log = Log::default();
    run_until(&mut lp, &mut log, |l| l.unsent.is_some());
    assert_eq!(log.unsent, Some(100_000), "{:?}", log.events);
    assert_eq!(log.error, Some(ErrorKind::BrokenPipe));
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    assert!(s.has_failed());
    assert_eq!(s.output().len(), 100_000, "the bytes are still there");
}

#[test]
fn peer_closing_midway_reports_what_was_left() {
    const TOTAL: usize = 16 << 20;
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    record(&mut lp, a, "a");
    // b reads 1 MiB, then hangs up.
    lp.ctx().stream(b).unwrap().on_read(|ctx, log, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        s.input().drain(n);
        log.data.resize(log.data.len() + n, 0);
        if log.data.len() >= 1 << 20 {
            s.close();
        }
    });
    lp.ctx().stream(a).unwrap().write(&vec![0u8; TOTAL]);
    let mut log = Log::default();
    run_until(&mut lp, &mut log, |l| l.unsent.is_some());
    let unsent = log.unsent.unwrap();
    assert!(unsent > 0 && unsent < TOTAL - (1 << 20), "unsent {unsent}");
    assert_eq!(lp.ctx().stream(a).unwrap().output().len(), unsent);
    assert!(matches!(
        log.error,
        Some(ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
    ));
}

#[test]
fn tcp_reset_reports_unsent_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let a = lp.ctx().new_stream(client).unwrap();
    record(&mut lp, a, "a");
    lp.ctx().stream(a).unwrap().write(&vec![0u8; 32 << 20]);
    let mut log = Log::default();
    // Let some bytes through, then close the server with unread data: RST.
    run_until(&mut lp, &mut log, |_| true);
    for _ in 0..20 {
        lp.run(&mut log, RunMode::NoWait).unwrap();
    }
    let mut buf = [0u8; 1000];
    server.read_exact(&mut buf).unwrap();
    drop(server);
    run_until(&mut lp, &mut log, |l| l.unsent.is_some());
    let unsent = log.unsent.unwrap();
    assert!(unsent > 0 && unsent < 32 << 20, "unsent {unsent}");
    assert!(
        matches!(
            log.error,
            Some(ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
        ),
        "{:?}",
        log.error
    );
}

#[test]
fn eof_without_a_callback_flushes_before_closing() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx().stream(a).unwrap().on_read(|ctx, log, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        log.data.extend_from_slice(&s.input().split_to(n));
    });
    record(&mut lp, a, "a");
    // b has no event callback: its EOF closes it, after sending its output.
    lp.ctx().stream(b).unwrap().write(b"last words");
    lp.ctx().stream(a).unwrap().shutdown_when_flushed();
    let mut log = Log::default();
    run_until(&mut lp, &mut log, |l| !l.events.is_empty());
    assert_eq!(log.data, b"last words");
    assert_eq!(log.events, ["a: eof"]);
    assert!(lp.ctx().stream(b).is_err());
}
