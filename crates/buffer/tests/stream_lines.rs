//! Reading lines from a stream: the last line arrives even without a line
//! end once the peer has hung up, and a line that never ends is bounded by
//! the read high watermark.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;

use evloop::Loop;
use evloop_buffer::{
    Eol, ListenAddr, ListenerExt, ListenerOptions, StreamEvent, StreamExt, StreamId, Watermarks,
};

use common::run_to_end;

#[derive(Default)]
struct Log {
    /// Lines and events, in the order they came.
    seen: Vec<String>,
    max_input: usize,
}

/// The read callback of a line-reading user: every line, as
/// `BufRead::lines` would give them.
fn read_lines(ctx: &mut evloop::Ctx<'_, Log>, log: &mut Log, id: StreamId) {
    let mut s = ctx.stream(id).unwrap();
    while let Some(line) = s.read_line(Eol::CrlfOrLf) {
        log.seen.push(String::from_utf8_lossy(&line).into_owned());
    }
    log.max_input = log.max_input.max(s.input().len());
}

/// A stream fed from a std socket that the test writes and then closes.
fn fed(lp: &mut Loop<Log>, data: &[u8]) -> StreamId {
    let (mut outside, inside) = UnixStream::pair().unwrap();
    let id = lp.ctx().new_stream(inside).unwrap();
    lp.ctx().stream(id).unwrap().on_read(read_lines);
    outside.write_all(data).unwrap();
    drop(outside); // EOF after the data
    id
}

#[test]
fn an_unterminated_last_line_is_delivered_at_eof() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    // No event callback: the stream closes itself at EOF, and still the
    // last line reaches the read callback first.
    let id = fed(&mut lp, b"abc");
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.seen, ["abc"]);
    assert!(lp.ctx().stream(id).is_err(), "closed at EOF");
}

#[test]
fn lines_then_the_unterminated_rest_then_the_eof_event() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let id = fed(&mut lp, b"one\r\ntwo\nthree");
    lp.ctx().stream(id).unwrap().on_event(|ctx, log, id, ev| {
        log.seen.push(format!("event {ev:?}"));
        ctx.stream(id).unwrap().close();
    });
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.seen, ["one", "two", "three", "event Eof"]);
}

#[test]
fn a_terminated_last_line_is_not_followed_by_an_empty_one() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    fed(&mut lp, b"one\ntwo\n");
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.seen, ["one", "two"]);
}

#[test]
fn a_partial_line_waits_while_the_peer_may_still_send() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (mut outside, inside) = UnixStream::pair().unwrap();
    let id = lp.ctx().new_stream(inside).unwrap();
    lp.ctx().stream(id).unwrap().on_read(read_lines);
    outside.write_all(b"ab").unwrap();
    let mut log = Log::default();
    common::spin(&mut lp, &mut log, 5);
    assert!(log.seen.is_empty(), "no line yet: {:?}", log.seen);
    assert_eq!(lp.ctx().stream(id).unwrap().input().len(), 2);
    outside.write_all(b"c\nd").unwrap();
    common::spin(&mut lp, &mut log, 5);
    assert_eq!(log.seen, ["abc"]);
    drop(outside);
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.seen, ["abc", "d"]);
}

#[test]
fn the_rest_is_delivered_below_the_read_low_watermark_too() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let id = fed(&mut lp, b"xy");
    lp.ctx().stream(id).unwrap().set_watermarks(Watermarks {
        read_low: 100,
        ..Watermarks::default()
    });
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(
        log.seen,
        ["xy"],
        "2 bytes < low watermark, but nothing more will come"
    );
}

#[test]
fn the_last_line_over_tcp_with_a_half_close() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let lid = lp
        .ctx()
        .listen(
            "127.0.0.1:0",
            &ListenerOptions::new(),
            |ctx, _, lid, conn| {
                let id = ctx.new_stream(conn).unwrap();
                ctx.stream(id).unwrap().on_read(read_lines);
                ctx.listener(lid).unwrap().close();
            },
        )
        .unwrap();
    let ListenAddr::Tcp(addr) = lp.ctx().listener(lid).unwrap().local_addr().unwrap() else {
        unreachable!()
    };
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"GET /\r\nlast words").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.seen, ["GET /", "last words"]);
}

/// The guard of `read_line`'s docs: a peer that never sends a line end is
/// held at the high watermark and dropped, instead of growing input.
#[test]
fn a_line_that_never_ends_is_bounded_by_the_high_watermark() {
    const MAX_LINE: usize = 1000;
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(b).unwrap();
    s.set_watermarks(Watermarks {
        read_high: Some(MAX_LINE),
        ..Watermarks::default()
    });
    s.on_read(|ctx, log, id| {
        read_lines(ctx, log, id);
        let mut s = ctx.stream(id).unwrap();
        if s.input().len() >= MAX_LINE {
            log.seen.push(format!("refused at {}", s.input().len()));
            s.close();
        }
    });
    drop(s);
    let mut s = ctx.stream(a).unwrap();
    s.write(b"fine\n");
    s.write(&vec![b'x'; 1 << 20]); // 1 MiB, no line end
    drop(s);
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(
        log.seen,
        ["fine", format!("refused at {MAX_LINE}").as_str()]
    );
    assert!(log.max_input <= MAX_LINE, "input grew to {}", log.max_input);
}

/// Only EOF makes the rest a line: a connection that breaks (here a reset)
/// leaves a partial line as it is, in input.
#[test]
fn an_error_is_not_eof_no_partial_line_is_made_up() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx().stream(b).unwrap().on_read(read_lines);
    lp.ctx().stream(b).unwrap().on_event(|ctx, log, id, ev| {
        log.seen.push(short(&ev).to_string());
        let mut s = ctx.stream(id).unwrap();
        assert_eq!(s.input().len(), b"partial".len(), "kept, not delivered");
        s.close();
    });
    lp.ctx().stream(a).unwrap().write(b"partial");
    let mut log = Log::default();
    common::spin(&mut lp, &mut log, 5);
    // a closes with data it has not read: b's next read is a reset.
    lp.ctx()
        .stream(a)
        .unwrap()
        .disable(evloop_buffer::Direction::Read);
    lp.ctx().stream(b).unwrap().write(b"unread by a");
    common::spin(&mut lp, &mut log, 5);
    lp.ctx().stream(a).unwrap().close();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.seen, ["error"]);
}

fn short(ev: &StreamEvent) -> &'static str {
    match ev {
        StreamEvent::Eof => "eof",
        StreamEvent::Error { .. } => "error",
        _ => "other",
    }
}
