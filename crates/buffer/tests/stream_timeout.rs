//! Read and write timeouts, on a manual clock: they fire as soon as their
//! time has passed (never at or before it, as evloop's timers) and only
//! while the stream wants that direction.

use std::time::{Duration, SystemTime};

use evloop::{Loop, ManualClock, RunMode};
use evloop_buffer::{Direction, StreamEvent, StreamExt, Watermarks};

const T: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_millis(1);

fn manual_loop() -> (Loop<Vec<String>>, ManualClock) {
    let clock = ManualClock::new(SystemTime::now());
    let lp = Loop::builder().clock(clock.clone()).build().unwrap();
    (lp, clock)
}

/// A few non-blocking iterations: lets io settle without moving the clock.
fn settle(lp: &mut Loop<Vec<String>>, log: &mut Vec<String>) {
    for _ in 0..5 {
        lp.run(log, RunMode::NoWait).unwrap();
    }
}

fn log_events(lp: &mut Loop<Vec<String>>, id: evloop_buffer::StreamId, name: &'static str) {
    lp.ctx().stream(id).unwrap().on_event(move |_, log, _, ev| {
        log.push(format!("{name}: {ev:?}"));
    });
}

#[test]
fn read_timeout_fires_when_nothing_arrives_and_disables_reading() {
    let (mut lp, clock) = manual_loop();
    let (_a, b) = lp.ctx().new_stream_pair().unwrap();
    log_events(&mut lp, b, "b");
    lp.ctx()
        .stream(b)
        .unwrap()
        .set_timeouts(Some(T), None)
        .unwrap();
    let mut log = Vec::new();
    settle(&mut lp, &mut log);
    clock.advance(T - TICK);
    settle(&mut lp, &mut log);
    assert!(log.is_empty(), "not yet: {log:?}");
    clock.advance(TICK);
    settle(&mut lp, &mut log);
    assert!(log.is_empty(), "due, but not passed yet: {log:?}");
    clock.advance(TICK);
    settle(&mut lp, &mut log);
    assert_eq!(log, ["b: Timeout(Read)"]);
    assert!(!lp.ctx().stream(b).unwrap().is_enabled(Direction::Read));
    // Disabled now: no further timeouts.
    clock.advance(T * 3);
    settle(&mut lp, &mut log);
    assert_eq!(log.len(), 1);
    // Enabling restarts the count from now.
    lp.ctx().stream(b).unwrap().enable(Direction::Read);
    settle(&mut lp, &mut log);
    clock.advance(T - TICK);
    settle(&mut lp, &mut log);
    assert_eq!(log.len(), 1);
    clock.advance(TICK * 2);
    settle(&mut lp, &mut log);
    assert_eq!(log, ["b: Timeout(Read)", "b: Timeout(Read)"]);
}

#[test]
fn each_read_restarts_the_read_timeout() {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    log_events(&mut lp, b, "b");
    lp.ctx()
        .stream(b)
        .unwrap()
        .set_timeouts(Some(T), None)
        .unwrap();
    let mut log = Vec::new();
    settle(&mut lp, &mut log);
    for _ in 0..5 {
        clock.advance(T - TICK);
        lp.ctx().stream(a).unwrap().write(b"x");
        settle(&mut lp, &mut log);
    }
    assert!(log.is_empty(), "{log:?}");
    assert_eq!(lp.ctx().stream(b).unwrap().input().len(), 5);
}

#[test]
fn read_timeout_waits_while_the_high_watermark_holds_reading_back() {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    log_events(&mut lp, b, "b");
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(b).unwrap();
    s.set_watermarks(Watermarks {
        read_high: Some(4),
        ..Watermarks::default()
    });
    s.set_timeouts(Some(T), None).unwrap();
    drop(s);
    lp.ctx().stream(a).unwrap().write(b"12345678");
    let mut log = Vec::new();
    settle(&mut lp, &mut log);
    assert_eq!(
        lp.ctx().stream(b).unwrap().input().len(),
        4,
        "stopped at the mark"
    );
    clock.advance(T * 5);
    settle(&mut lp, &mut log);
    assert!(log.is_empty(), "suspended reading has no timeout: {log:?}");
    // Draining resumes reading, and with it the timeout.
    lp.ctx().stream(b).unwrap().input().drain(4);
    settle(&mut lp, &mut log);
    assert_eq!(lp.ctx().stream(b).unwrap().input().len(), 4);
    lp.ctx().stream(b).unwrap().input().drain(4);
    settle(&mut lp, &mut log);
    clock.advance(T - TICK);
    settle(&mut lp, &mut log);
    assert!(log.is_empty(), "{log:?}");
    clock.advance(TICK * 2);
    settle(&mut lp, &mut log);
    assert_eq!(log, ["b: Timeout(Read)"]);
}

#[test]
fn write_timeout_runs_only_while_output_is_queued() {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    log_events(&mut lp, a, "a");
    lp.ctx().stream(b).unwrap().disable(Direction::Read); // b never reads
    lp.ctx()
        .stream(a)
        .unwrap()
        .set_timeouts(None, Some(T))
        .unwrap();
    let mut log = Vec::new();
    settle(&mut lp, &mut log);
    clock.advance(T * 5);
    settle(&mut lp, &mut log);
    assert!(log.is_empty(), "nothing queued, no write timeout: {log:?}");

    // More than the socketpair holds: output stays queued.
    lp.ctx().stream(a).unwrap().write(&vec![0u8; 16 << 20]);
    settle(&mut lp, &mut log);
    let mut ctx = lp.ctx();
    let queued = ctx.stream(a).unwrap().output().len();
    assert!(queued > 0);
    clock.advance(T - TICK);
    settle(&mut lp, &mut log);
    assert!(log.is_empty(), "{log:?}");
    clock.advance(TICK * 2);
    settle(&mut lp, &mut log);
    assert_eq!(log, ["a: Timeout(Write)"]);
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    assert!(!s.is_enabled(Direction::Write));
    assert_eq!(s.output().len(), queued, "a timeout drops nothing");
}

#[test]
fn write_progress_restarts_the_write_timeout() {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    log_events(&mut lp, a, "a");
    lp.ctx().stream(b).unwrap().disable(Direction::Read);
    lp.ctx()
        .stream(a)
        .unwrap()
        .set_timeouts(None, Some(T))
        .unwrap();
    lp.ctx().stream(a).unwrap().write(&vec![0u8; 16 << 20]);
    let mut log = Vec::new();
    settle(&mut lp, &mut log);
    // b reads 1 MiB now and then, just before a's timeout: enough that a
    // can write again (a Unix socket turns writable only when half its
    // send buffer is free).
    let mut taken = 0;
    lp.ctx().stream(b).unwrap().on_read(move |ctx, _, id| {
        let mut s = ctx.stream(id).unwrap();
        taken += s.input().len();
        s.input().drain(usize::MAX);
        if taken >= 1 << 20 {
            taken = 0;
            s.disable(Direction::Read);
        }
    });
    for _ in 0..5 {
        clock.advance(T - TICK);
        lp.ctx().stream(b).unwrap().enable(Direction::Read);
        for _ in 0..10_000 {
            if !lp.ctx().stream(b).unwrap().is_enabled(Direction::Read) {
                break;
            }
            lp.run(&mut log, RunMode::NoWait).unwrap();
        }
        settle(&mut lp, &mut log);
    }
    assert!(log.is_empty(), "{log:?}");
}

#[test]
fn timeouts_can_be_changed_and_cleared() {
    let (mut lp, clock) = manual_loop();
    let (_a, b) = lp.ctx().new_stream_pair().unwrap();
    log_events(&mut lp, b, "b");
    lp.ctx()
        .stream(b)
        .unwrap()
        .set_timeouts(Some(T), None)
        .unwrap();
    let mut log = Vec::new();
    settle(&mut lp, &mut log);
    lp.ctx()
        .stream(b)
        .unwrap()
        .set_timeouts(Some(T * 2), None)
        .unwrap();
    assert_eq!(lp.ctx().stream(b).unwrap().timeouts(), (Some(T * 2), None));
    clock.advance(T * 2 - TICK);
    settle(&mut lp, &mut log);
    assert!(log.is_empty(), "{log:?}");
    lp.ctx()
        .stream(b)
        .unwrap()
        .set_timeouts(None, None)
        .unwrap();
    clock.advance(T * 10);
    settle(&mut lp, &mut log);
    assert!(log.is_empty(), "{log:?}");
    // A zero timeout means none.
    lp.ctx()
        .stream(b)
        .unwrap()
        .set_timeouts(Some(Duration::ZERO), None)
        .unwrap();
    assert_eq!(lp.ctx().stream(b).unwrap().timeouts(), (None, None));
}

#[test]
fn without_an_event_callback_a_timeout_closes_the_stream() {
    let (mut lp, clock) = manual_loop();
    let (_a, b) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx()
        .stream(b)
        .unwrap()
        .set_timeouts(Some(T), None)
        .unwrap();
    let mut log = Vec::new();
    settle(&mut lp, &mut log);
    clock.advance(T + TICK);
    settle(&mut lp, &mut log);
    assert!(lp.ctx().stream(b).is_err());
    let _ = StreamEvent::Eof; // (the enum is what the callback would get)
}
