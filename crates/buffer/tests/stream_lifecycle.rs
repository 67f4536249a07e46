//! A stream or listener that is closed, however it is closed, leaves
//! nothing behind in the loop: its watchers (io and timers) are gone, so
//! `watcher_count` is back to what it was and `run(Default)` returns.
//! And handles: a stale one and one of another loop are refused.

mod common;

use std::time::{Duration, Instant};

use evloop::{Loop, RunMode};
use evloop_buffer::{Direction, ListenerExt, ListenerOptions, StreamEvent, StreamExt, StreamId};

use common::{run_ends_within, run_to_end, watchers};

/// Timeouts long enough never to fire in these tests: they are there so
/// that each stream has its two timers besides its io watcher.
const LONG: Duration = Duration::from_secs(3600);

/// A pair whose ends both have a read and a write timeout: three watchers
/// each.
fn pair_with_timers<T: 'static>(lp: &mut Loop<T>) -> (StreamId, StreamId) {
    let mut ctx = lp.ctx();
    let (a, b) = ctx.new_stream_pair().unwrap();
    for id in [a, b] {
        ctx.stream(id)
            .unwrap()
            .set_timeouts(Some(LONG), Some(LONG))
            .unwrap();
    }
    (a, b)
}

#[derive(Default)]
struct Log {
    got: Vec<u8>,
    events: Vec<String>,
    ids: Vec<StreamId>,
}

#[test]
fn a_stream_has_an_io_watcher_and_one_timer_per_timeout() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    assert_eq!(watchers(&mut lp), before + 2, "one io watcher each");
    lp.ctx()
        .stream(a)
        .unwrap()
        .set_timeouts(Some(LONG), None)
        .unwrap();
    assert_eq!(watchers(&mut lp), before + 3);
    lp.ctx()
        .stream(a)
        .unwrap()
        .set_timeouts(Some(LONG), Some(LONG))
        .unwrap();
    assert_eq!(watchers(&mut lp), before + 4);
    lp.ctx()
        .stream(a)
        .unwrap()
        .set_timeouts(None, None)
        .unwrap();
    assert_eq!(
        watchers(&mut lp),
        before + 2,
        "cleared timeouts free their timers"
    );
    lp.ctx().stream(a).unwrap().close();
    lp.ctx().stream(b).unwrap().close();
    assert_eq!(watchers(&mut lp), before);
}

#[test]
fn closing_from_its_own_read_callback() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = pair_with_timers(&mut lp);
    assert_eq!(watchers(&mut lp), before + 6);
    lp.ctx().stream(b).unwrap().on_read(|ctx, log, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        log.got.extend_from_slice(&s.input().split_to(n));
        s.close();
    });
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    s.write(b"bye");
    assert_eq!(s.close_when_flushed(), 0);
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.got, b"bye");
    assert_eq!(watchers(&mut lp), before);
    assert!(matches!(
        lp.ctx().stream(a),
        Err(evloop::Error::StaleHandle)
    ));
    assert!(matches!(
        lp.ctx().stream(b),
        Err(evloop::Error::StaleHandle)
    ));
}

#[test]
fn closing_from_its_own_event_callback() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = pair_with_timers(&mut lp);
    lp.ctx().stream(b).unwrap().on_event(|ctx, log, id, ev| {
        log.events.push(format!("{ev:?}"));
        ctx.stream(id).unwrap().close();
    });
    lp.ctx().stream(a).unwrap().close();
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.events, ["Eof"]);
    assert_eq!(watchers(&mut lp), before);
}

#[test]
fn closing_from_another_watchers_callback() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = pair_with_timers(&mut lp);
    let mut ctx = lp.ctx();
    // A timer closes both streams; neither stream's callbacks are involved.
    let t = ctx
        .new_timer(
            Duration::from_millis(1),
            Duration::ZERO,
            |ctx, log: &mut Log, t, _| {
                for id in log.ids.drain(..) {
                    ctx.stream(id).unwrap().close();
                }
                ctx.remove(t).unwrap();
            },
        )
        .unwrap();
    ctx.start(t).unwrap();
    let mut log = Log {
        ids: vec![a, b],
        ..Log::default()
    };
    run_to_end(&mut lp, &mut log);
    assert_eq!(watchers(&mut lp), before);
}

#[test]
fn closing_another_stream_from_a_stream_callback() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = pair_with_timers(&mut lp);
    // a's read callback closes both b (another stream) and a.
    lp.ctx().stream(a).unwrap().on_read(move |ctx, _, id| {
        ctx.stream(b).unwrap().close();
        ctx.stream(id).unwrap().close();
    });
    lp.ctx().stream(b).unwrap().write(b"x");
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(watchers(&mut lp), before);
}

#[test]
fn close_when_flushed_goes_once_everything_is_sent() {
    const TOTAL: usize = 4 << 20;
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = pair_with_timers(&mut lp);
    lp.ctx().stream(b).unwrap().on_read(|ctx, log, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        log.got.extend_from_slice(&s.input().split_to(n));
    });
    // b has no event callback: its EOF closes it.
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    s.write(&vec![9u8; TOTAL]);
    assert_eq!(s.close_when_flushed(), 0, "nothing is dropped");
    assert!(lp.ctx().stream(a).is_ok(), "still sending");
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.got.len(), TOTAL);
    assert_eq!(watchers(&mut lp), before);
}

#[test]
fn eof_without_an_event_callback_closes_and_frees_everything() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = pair_with_timers(&mut lp);
    lp.ctx().stream(a).unwrap().close();
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert!(lp.ctx().stream(b).is_err());
    assert_eq!(watchers(&mut lp), before);
}

#[test]
fn an_error_without_an_event_callback_closes_and_frees_everything() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = pair_with_timers(&mut lp);
    lp.ctx().stream(b).unwrap().close();
    // Writing to a closed peer fails (EPIPE); a has no event callback.
    lp.ctx().stream(a).unwrap().write(&[1u8; 100_000]);
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert!(lp.ctx().stream(a).is_err());
    assert_eq!(watchers(&mut lp), before);
}

#[test]
fn a_timeout_without_an_event_callback_closes_and_frees_everything() {
    const TIMEOUT: Duration = Duration::from_millis(20);
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx()
        .stream(b)
        .unwrap()
        .set_timeouts(Some(TIMEOUT), None)
        .unwrap();
    lp.ctx().stream(a).unwrap().disable(Direction::Read); // a waits for nothing
    let start = Instant::now();
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert!(start.elapsed() >= TIMEOUT, "{:?}", start.elapsed());
    assert!(lp.ctx().stream(b).is_err(), "timed out and closed");
    lp.ctx().stream(a).unwrap().close();
    assert_eq!(watchers(&mut lp), before);
}

/// A stream asked to close once flushed that then fails to send: the
/// event callback hears of the error, and the stream is closed after it
/// (it used to linger, its watcher stopped, until the application closed
/// it once more).
#[test]
fn a_failing_flush_is_reported_and_then_closes() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = pair_with_timers(&mut lp);
    lp.ctx().stream(a).unwrap().on_event(|_, log, _, ev| {
        if let StreamEvent::Error { unsent, .. } = ev {
            log.events.push(format!("error, {unsent} unsent"));
        } else {
            log.events.push(format!("{ev:?}"));
        }
        // Deliberately no close here.
    });
    lp.ctx().stream(b).unwrap().close();
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    s.write(&[1u8; 100_000]);
    assert_eq!(
        s.close_when_flushed(),
        0,
        "not failed yet: nothing dropped now"
    );
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.events, ["error, 100000 unsent"]);
    assert!(lp.ctx().stream(a).is_err(), "closed after the report");
    assert_eq!(watchers(&mut lp), before);
}

/// `close_when_flushed` on a stream that has failed already cannot flush
/// anything: it closes at once and says what it dropped, as `close` does.
#[test]
fn close_when_flushed_after_a_failure_closes_at_once_and_counts_the_loss() {
    let mut lp: Loop<Option<usize>> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx()
        .stream(a)
        .unwrap()
        .on_event(|ctx, dropped, id, ev| {
            assert!(
                matches!(ev, StreamEvent::Error { unsent: 5000, .. }),
                "{ev:?}"
            );
            *dropped = Some(ctx.stream(id).unwrap().close_when_flushed());
        });
    lp.ctx().stream(b).unwrap().close();
    lp.ctx().stream(a).unwrap().write(&[1u8; 5000]);
    let mut dropped = None;
    run_to_end(&mut lp, &mut dropped);
    assert_eq!(dropped, Some(5000));
    assert!(lp.ctx().stream(a).is_err());
    assert_eq!(watchers(&mut lp), before);
}

#[test]
fn close_and_close_when_flushed_both_return_the_bytes_they_drop() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    let (c, d) = lp.ctx().new_stream_pair().unwrap();
    for peer in [b, d] {
        lp.ctx().stream(peer).unwrap().on_read(|ctx, log, id| {
            let mut s = ctx.stream(id).unwrap();
            let n = s.input().len();
            log.got.extend_from_slice(&s.input().split_to(n));
        });
    }
    lp.ctx().stream(a).unwrap().write(b"dropped!!!");
    lp.ctx().stream(c).unwrap().write(b"delivered");
    assert_eq!(
        lp.ctx().stream(a).unwrap().close(),
        10,
        "close drops the queue"
    );
    assert_eq!(
        lp.ctx().stream(c).unwrap().close_when_flushed(),
        0,
        "close_when_flushed sends it"
    );
    let mut log = Log::default();
    run_to_end(&mut lp, &mut log);
    assert_eq!(log.got, b"delivered");
}

#[test]
fn a_listener_closed_from_its_accept_callback_leaves_nothing() {
    let mut lp: Loop<Vec<StreamId>> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let mut ctx = lp.ctx();
    let lid = ctx
        .listen(
            "127.0.0.1:0",
            &ListenerOptions::new(),
            |ctx, _, lid, conn| {
                // The connection becomes a stream that closes at the client's EOF.
                ctx.new_stream(conn).unwrap();
                ctx.listener(lid).unwrap().close();
            },
        )
        .unwrap();
    assert_eq!(watchers(&mut lp), before + 1);
    let evloop_buffer::ListenAddr::Tcp(addr) =
        lp.ctx().listener(lid).unwrap().local_addr().unwrap()
    else {
        unreachable!()
    };
    let client = std::net::TcpStream::connect(addr).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut ids = Vec::new();
    run_to_end(&mut lp, &mut ids);
    assert!(matches!(
        lp.ctx().listener(lid),
        Err(evloop::Error::StaleHandle)
    ));
    assert_eq!(watchers(&mut lp), before);
}

#[test]
fn a_listener_closed_from_outside_leaves_nothing() {
    let mut lp: Loop<()> = Loop::new().unwrap();
    let before = watchers(&mut lp);
    let lid = lp
        .ctx()
        .listen("127.0.0.1:0", &ListenerOptions::new(), |_, _, _, _| {})
        .unwrap();
    assert!(
        lp.run(&mut (), RunMode::NoWait).unwrap(),
        "a listener keeps run going"
    );
    lp.ctx().listener(lid).unwrap().close();
    assert_eq!(watchers(&mut lp), before);
    assert!(run_ends_within(&mut lp, &mut (), common::PATIENCE));
}

#[test]
fn handles_of_another_loop_are_refused() {
    let mut one: Loop<()> = Loop::new().unwrap();
    let mut two: Loop<()> = Loop::new().unwrap();
    let (a1, _) = one.ctx().new_stream_pair().unwrap();
    let (a2, _) = two.ctx().new_stream_pair().unwrap();
    // The first stream of each loop has the same slot: only the loop
    // identity tells the handles apart.
    assert_ne!(a1, a2);
    assert!(matches!(
        two.ctx().stream(a1),
        Err(evloop::Error::ForeignHandle)
    ));
    assert!(matches!(
        one.ctx().stream(a2),
        Err(evloop::Error::ForeignHandle)
    ));
    // Nothing was touched: both still work in their own loop.
    assert!(one.ctx().stream(a1).is_ok());
    assert!(two.ctx().stream(a2).is_ok());

    let opts = ListenerOptions::new();
    let l1 = one
        .ctx()
        .listen("127.0.0.1:0", &opts, |_, _, _, _| {})
        .unwrap();
    let l2 = two
        .ctx()
        .listen("127.0.0.1:0", &opts, |_, _, _, _| {})
        .unwrap();
    assert_ne!(l1, l2);
    assert!(matches!(
        two.ctx().listener(l1),
        Err(evloop::Error::ForeignHandle)
    ));
    assert!(matches!(
        one.ctx().listener(l2),
        Err(evloop::Error::ForeignHandle)
    ));
    assert!(one.ctx().listener(l1).is_ok());
}

#[test]
fn stale_handles_are_refused_even_when_the_slot_is_reused() {
    let mut lp: Loop<()> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx().stream(a).unwrap().close();
    lp.ctx().stream(b).unwrap().close();
    let (c, d) = lp.ctx().new_stream_pair().unwrap(); // reuses the slots
    for old in [a, b] {
        assert!(matches!(
            lp.ctx().stream(old),
            Err(evloop::Error::StaleHandle)
        ));
    }
    assert!(lp.ctx().stream(c).is_ok() && lp.ctx().stream(d).is_ok());

    let opts = ListenerOptions::new();
    let l = lp
        .ctx()
        .listen("127.0.0.1:0", &opts, |_, _, _, _| {})
        .unwrap();
    lp.ctx().listener(l).unwrap().close();
    let m = lp
        .ctx()
        .listen("127.0.0.1:0", &opts, |_, _, _, _| {})
        .unwrap();
    assert!(matches!(
        lp.ctx().listener(l),
        Err(evloop::Error::StaleHandle)
    ));
    assert!(lp.ctx().listener(m).is_ok());
}
