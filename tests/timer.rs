//! Timer watchers: lower bounds, repeat, `again`, ordering within an
//! iteration (including the lazy heap entries left by `again` and by
//! stop/start), no catch-up after a stall, long timeouts, suspend/resume,
//! `again` dropping a pending event, strictness (a timer fires once its
//! time has *passed*, as libev's do), and `once_timer`.
//!
//! Every test runs once per backend. Tests that need exact time use a
//! [`ManualClock`](evloop::ManualClock) and drive the loop with
//! `RunMode::NoWait`.

mod common;

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{for_each_backend, manual_loop, new_loop, run_default, watchdog};
use evloop::{Error, Events, Loop, Priority, RunMode, TimerId};

const MS: Duration = Duration::from_millis(1);
const NS: Duration = Duration::from_nanos(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs one non-blocking iteration.
fn nowait<T>(lp: &mut Loop<T>, data: &mut T) {
    lp.run(data, RunMode::NoWait).unwrap();
}

/// `remaining()` of a timer (`None` when stopped).
fn remaining<T>(lp: &mut Loop<T>, t: TimerId) -> Option<Duration> {
    lp.ctx().timer(t).unwrap().remaining()
}

/// A stopped timer that counts its callbacks in a `u32` state.
fn counting_timer(lp: &mut Loop<u32>, after: Duration, repeat: Duration) -> TimerId {
    lp.ctx()
        .new_timer(after, repeat, |_c, n: &mut u32, _id, _ev| *n += 1)
        .unwrap()
}

// ------------------------------------------------------------ real clock

#[test]
fn never_fires_early_real_clock() {
    for_each_backend(|b| {
        // (after, Instant::now() in the callback, ctx.now() in the callback)
        type Log = Vec<(Duration, Instant, Instant)>;
        let mut lp: Loop<Log> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let mut ctx = lp.ctx();
        let start = ctx.now();
        for after in [ms(1), ms(3), ms(7), ms(15), ms(30)] {
            let t = ctx
                .new_timer(after, Duration::ZERO, move |ctx, log: &mut Log, _id, ev| {
                    assert_eq!(ev, Events::TIMER);
                    log.push((after, Instant::now(), ctx.now()));
                })
                .unwrap();
            ctx.start(t).unwrap();
        }
        let mut log = Log::new();
        let more = lp.run(&mut log, RunMode::Default).unwrap();
        assert!(!dog.get(), "run did not finish within 5 s");
        assert!(!more, "only one-shot timers: nothing should be left active");
        assert_eq!(log.len(), 5, "every timer fires once");
        let mut prev = Duration::ZERO;
        for &(after, real, loop_now) in &log {
            assert!(after >= prev, "timers fired out of order: {log:?}");
            prev = after;
            assert!(
                real >= start + after,
                "timer of {after:?} fired early: {:?} after start",
                real - start
            );
            // Strictly later: a timer fires once its time has passed.
            assert!(
                loop_now > start + after,
                "loop time in the callback of the {after:?} timer is not past its deadline"
            );
            assert!(
                real < start + after + Duration::from_secs(2),
                "timer of {after:?} fired far too late"
            );
        }
    });
}

#[test]
fn repeat_fires_every_period_and_never_early() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<Instant>> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let mut ctx = lp.ctx();
        let start = ctx.now();
        let t = ctx
            .new_timer(ms(5), ms(10), |ctx, fires: &mut Vec<Instant>, id, _ev| {
                fires.push(Instant::now());
                if fires.len() == 4 {
                    ctx.stop(id).unwrap();
                }
            })
            .unwrap();
        ctx.start(t).unwrap();
        let mut fires = Vec::new();
        lp.run(&mut fires, RunMode::Default).unwrap();
        assert!(!dog.get(), "run did not finish within 5 s");
        assert_eq!(fires.len(), 4);
        for (k, &at) in fires.iter().enumerate() {
            let due = start + ms(5) + ms(10) * k as u32;
            assert!(at >= due, "fire #{k} came {:?} early", due - at);
        }
        assert!(!lp.ctx().is_active(t));
    });
}

/// Stepping 1 ms at a time, a repeating timer fires at the first step past
/// each deadline. (The old code fired *at* the deadline, 30, 50, 70, 90; a
/// timer fires only once its time has passed, as libev's `<`, so at 31, 51,
/// 71, 91. The schedule does not drift: the deadlines stay 30 + 20k.)
#[test]
fn repeat_under_manual_clock_fires_just_past_each_deadline() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<Duration>>(b);
        let mut ctx = lp.ctx();
        let t0 = ctx.now();
        let t = ctx
            .new_timer(
                ms(30),
                ms(20),
                move |ctx, fires: &mut Vec<Duration>, _id, _ev| {
                    fires.push(ctx.now() - t0);
                },
            )
            .unwrap();
        ctx.start(t).unwrap();
        let mut fires = Vec::new();
        for _ in 0..100 {
            clock.advance(MS);
            nowait(&mut lp, &mut fires);
        }
        assert_eq!(fires, [ms(31), ms(51), ms(71), ms(91)]);
        assert!(lp.ctx().is_active(t), "a repeating timer stays active");
        assert_eq!(remaining(&mut lp, t), Some(ms(10)), "next deadline 110 ms");
    });
}

// ------------------------------------------------------------ strictness

/// A timer with `after` = 10 ms does not fire when exactly 10 ms have
/// passed, and does 1 ns later (libev compares with `<`).
#[test]
fn timer_does_not_fire_at_its_deadline_only_past_it() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(10), Duration::ZERO);
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        clock.advance(ms(10));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "fired at its deadline, not after it");
        assert_eq!(remaining(&mut lp, t), Some(Duration::ZERO), "due");
        assert!(lp.ctx().is_active(t));
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1, "1 ns past the deadline it fires");
        assert!(!lp.ctx().is_active(t));
    });
}

/// The same for each period of a repeating timer: the second expiry is
/// not at 20 ms but just after it.
#[test]
fn repeating_timer_next_period_is_strict_too() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(10), ms(10));
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        clock.advance(ms(10) + NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        // The next deadline is 20 ms (no drift from the 1 ns of lateness).
        assert_eq!(remaining(&mut lp, t), Some(ms(10) - NS));
        clock.advance(ms(10) - NS); // exactly 20 ms
        nowait(&mut lp, &mut n);
        assert_eq!(
            n, 1,
            "the second period fired at its deadline, not after it"
        );
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2);
        clock.advance(ms(10)); // exactly 30 ms + 1 ns: past 30
        nowait(&mut lp, &mut n);
        assert_eq!(n, 3);
    });
}

/// A zero timer fires once the clock has moved at all, not in an
/// iteration that sees the same time it was started at.
#[test]
fn zero_timer_fires_once_the_clock_has_moved() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, Duration::ZERO, Duration::ZERO);
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        nowait(&mut lp, &mut n);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "the clock did not move");
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
    });
}

// ------------------------------------------------------------ again

#[test]
fn again_on_active_timer_with_repeat_rearms_from_now() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(100), ms(50));
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        clock.advance(ms(80));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        lp.ctx().timer(t).unwrap().again(); // now 80 ms: next deadline 130 ms
        assert!(lp.ctx().is_active(t));
        assert_eq!(remaining(&mut lp, t), Some(ms(50)));
        clock.advance(ms(49)); // 129 ms: past the original 100 ms
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "again must move the deadline to now + repeat");
        clock.advance(MS); // 130 ms: at the deadline, not past it
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        // And it repeats from there (next deadline 180 ms).
        clock.advance(ms(50));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2);
    });
}

#[test]
fn again_on_active_timer_without_repeat_stops_it() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(100), Duration::ZERO);
        lp.ctx().start(t).unwrap();
        assert_eq!(lp.ctx().refs(), 1);
        lp.ctx().timer(t).unwrap().again();
        assert!(
            !lp.ctx().is_active(t),
            "again without repeat stops the timer"
        );
        assert_eq!(
            lp.ctx().refs(),
            0,
            "the stopped timer gives up its reference"
        );
        assert_eq!(remaining(&mut lp, t), None);
        let mut n = 0;
        clock.advance(ms(200));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "a timer stopped by again must not fire");
    });
}

#[test]
fn again_on_stopped_timer_with_repeat_starts_it_with_repeat() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        // `after` is an hour: again must use `repeat`, not `after`.
        let t = counting_timer(&mut lp, Duration::from_secs(3600), ms(50));
        lp.ctx().timer(t).unwrap().again();
        assert!(
            lp.ctx().is_active(t),
            "again with repeat starts a stopped timer"
        );
        assert_eq!(lp.ctx().refs(), 1);
        assert_eq!(remaining(&mut lp, t), Some(ms(50)));
        let mut n = 0;
        clock.advance(ms(49));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(MS); // at the deadline
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert!(lp.ctx().is_active(t), "repeating timer stays active");
    });
}

#[test]
fn again_on_stopped_timer_without_repeat_does_nothing() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(10), Duration::ZERO);
        lp.ctx().timer(t).unwrap().again();
        assert!(!lp.ctx().is_active(t));
        assert_eq!(lp.ctx().refs(), 0);
        let mut n = 0;
        clock.advance(ms(20));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
    });
}

#[test]
fn again_with_sets_repeat_and_restarts() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(100), Duration::ZERO);
        lp.ctx().start(t).unwrap();
        clock.advance(ms(10));
        let mut ctx = lp.ctx();
        ctx.now_update();
        let mut w = ctx.timer(t).unwrap();
        w.again_with(ms(30)).unwrap(); // deadline 40 ms, then every 30
        assert_eq!(w.repeat(), ms(30));
        assert_eq!(w.remaining(), Some(ms(30)));
        let mut n = 0;
        clock.advance(ms(29));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(MS); // 40 ms: at the deadline
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        clock.advance(ms(30)); // 70 ms + 1 ns
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2);
        // With zero, again_with stops it.
        lp.ctx()
            .timer(t)
            .unwrap()
            .again_with(Duration::ZERO)
            .unwrap();
        assert!(!lp.ctx().is_active(t));
        clock.advance(ms(100));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2);
    });
}

// ------------------------------------------------------------ again drops a pending event

/// The idle-timeout pattern, io side: a timer re-armed with `again` on
/// every read. When the timeout expires in the same iteration as the
/// activity (an io event of higher priority, so its callback runs first),
/// `again` drops the timer's pending event and the timeout callback does
/// not run (libev: "If the timer is pending, the pending status is always
/// cleared"). The old code ran the stale timeout.
#[test]
fn again_from_higher_priority_io_drops_timeout_of_same_iteration() {
    for_each_backend(|b| {
        #[derive(Default)]
        struct S {
            reads: u32,
            timeouts: u32,
            timer: Option<TimerId>,
        }
        let (mut lp, clock) = manual_loop::<S>(b);
        let (a, mut peer) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(Duration::ZERO, ms(100), |_c, s: &mut S, _id, _ev| {
                s.timeouts += 1
            })
            .unwrap();
        let io = ctx
            .new_io(a, Events::READ, |ctx, s: &mut S, id, _ev| {
                let mut buf = [0u8; 64];
                let _ = ctx.io(id).unwrap().source().read(&mut buf);
                s.reads += 1;
                // Activity: push the timeout back.
                let mut w = ctx.timer(s.timer.unwrap()).unwrap();
                assert!(w.is_pending(), "the timeout expired in this iteration too");
                w.again();
                assert!(!w.is_pending(), "again drops the pending event");
            })
            .unwrap();
        let mut w = ctx.io(io).unwrap();
        w.set_priority(Priority::new(1).unwrap());
        w.start().unwrap();
        ctx.timer(t).unwrap().again(); // idle timeout: 100 ms from now
        let mut s = S {
            timer: Some(t),
            ..S::default()
        };
        peer.write_all(b"x").unwrap();
        clock.advance(ms(100) + NS);
        nowait(&mut lp, &mut s);
        assert_eq!(s.reads, 1);
        assert_eq!(s.timeouts, 0, "a timeout superseded by activity ran");
        assert_eq!(remaining(&mut lp, t), Some(ms(100)), "re-armed from now");
        // Without activity, the timeout does come.
        clock.advance(ms(100) + NS);
        nowait(&mut lp, &mut s);
        assert_eq!((s.reads, s.timeouts), (1, 1));
    });
}

/// The same pattern with the activity noted by a check watcher (which runs
/// before timers of its priority in an iteration) and by an earlier
/// timer of the same iteration: `again` from either drops the expired
/// timeout's event.
#[test]
fn again_from_check_or_earlier_timer_drops_timeout_of_same_iteration() {
    for_each_backend(|b| {
        #[derive(Default)]
        struct S {
            activity: bool,
            timeouts: u32,
            rearms: u32,
        }
        let (mut lp, clock) = manual_loop::<S>(b);
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(Duration::ZERO, ms(100), |_c, s: &mut S, _id, _ev| {
                s.timeouts += 1
            })
            .unwrap();
        ctx.timer(t).unwrap().again();
        let check = ctx
            .new_check(move |ctx, s: &mut S, _id, _ev| {
                if std::mem::take(&mut s.activity) {
                    s.rearms += 1;
                    ctx.timer(t).unwrap().again();
                }
            })
            .unwrap();
        ctx.start(check).unwrap();
        let mut s = S {
            activity: true,
            ..S::default()
        };
        clock.advance(ms(100) + NS);
        nowait(&mut lp, &mut s);
        assert_eq!(s.rearms, 1);
        assert_eq!(s.timeouts, 0, "check: a superseded timeout ran");
        assert_eq!(remaining(&mut lp, t), Some(ms(100)));
        lp.ctx().remove(check).unwrap();

        // An earlier timer (deadline 50 ms from now) and the timeout
        // (100 ms from now) expire together; the earlier one runs first and
        // re-arms the timeout.
        let mut ctx = lp.ctx();
        let early = ctx
            .new_timer(ms(50), Duration::ZERO, move |ctx, s: &mut S, _id, _ev| {
                s.rearms += 1;
                ctx.timer(t).unwrap().again();
            })
            .unwrap();
        ctx.start(early).unwrap();
        clock.advance(ms(100) + NS);
        nowait(&mut lp, &mut s);
        assert_eq!(s.rearms, 2);
        assert_eq!(s.timeouts, 0, "earlier timer: a superseded timeout ran");
        clock.advance(ms(100) + NS);
        nowait(&mut lp, &mut s);
        assert_eq!(s.timeouts, 1, "without activity the timeout comes");
    });
}

/// `again` drops a pending (here: fed) event in every case: active with a
/// repeat, active without one (stops it), stopped with a repeat (starts
/// it), stopped without one (does nothing else).
#[test]
fn again_drops_a_fed_event_in_every_case() {
    for_each_backend(|b| {
        let (mut lp, _clock) = manual_loop::<u32>(b);
        let cases = [
            (true, ms(10)),
            (true, Duration::ZERO),
            (false, ms(10)),
            (false, Duration::ZERO),
        ];
        for (active, repeat) in cases {
            let t = counting_timer(&mut lp, ms(10), repeat);
            let mut ctx = lp.ctx();
            let mut w = ctx.timer(t).unwrap();
            if active {
                w.start().unwrap();
            }
            w.feed(Events::CUSTOM).unwrap();
            assert!(w.is_pending());
            w.again();
            assert!(
                !w.is_pending(),
                "active {active}, repeat {repeat:?}: still pending after again"
            );
            assert_eq!(ctx.pending_count(), 0);
            let mut n = 0;
            nowait(&mut lp, &mut n);
            assert_eq!(
                n, 0,
                "active {active}, repeat {repeat:?}: the dropped event ran"
            );
            lp.ctx().remove(t).unwrap();
        }
    });
}

// ------------------------------------------------------------ settings

#[test]
fn set_timer_on_active_timer_is_an_error() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(10), Duration::ZERO);
        lp.ctx().start(t).unwrap();
        assert!(matches!(
            lp.ctx().timer(t).unwrap().set(ms(50), Duration::ZERO),
            Err(Error::Active)
        ));
        // The rejected call changed nothing: it still fires just past 10 ms.
        let mut n = 0;
        clock.advance(ms(10) + NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        // Stopped (it fired): set works and takes effect on start.
        let mut ctx = lp.ctx();
        let mut w = ctx.timer(t).unwrap();
        w.set(ms(50), Duration::ZERO).unwrap();
        w.start().unwrap();
        assert_eq!(w.remaining(), Some(ms(50)));
        assert_eq!(w.after(), ms(50));
        clock.advance(ms(50));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2);
        // A removed timer is a stale handle.
        let mut ctx = lp.ctx();
        ctx.remove(t).unwrap();
        assert!(matches!(
            ctx.timer(t).and_then(|mut w| w.set(ms(1), Duration::ZERO)),
            Err(Error::StaleHandle)
        ));
    });
}

#[test]
fn timer_remaining_none_when_stopped_and_counts_down_when_active() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(100), Duration::ZERO);
        assert_eq!(remaining(&mut lp, t), None, "not started");
        lp.ctx().start(t).unwrap();
        let r = remaining(&mut lp, t).expect("active");
        assert!(r <= ms(100), "remaining {r:?} exceeds after");
        assert_eq!(r, ms(100));
        let mut n = 0;
        clock.advance(ms(30));
        nowait(&mut lp, &mut n);
        assert_eq!(remaining(&mut lp, t), Some(ms(70)));
        lp.ctx().stop(t).unwrap();
        assert_eq!(remaining(&mut lp, t), None, "stopped");
        lp.ctx().start(t).unwrap(); // counts `after` from now again
        assert_eq!(remaining(&mut lp, t), Some(ms(100)));
        clock.advance(ms(100));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "at its deadline, not past it");
        assert_eq!(remaining(&mut lp, t), Some(Duration::ZERO), "due");
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert_eq!(remaining(&mut lp, t), None, "fired one-shot");
    });
}

#[test]
fn timer_remaining_real_clock_is_at_most_after() {
    for_each_backend(|b| {
        let mut lp: Loop<()> = new_loop(b);
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(ms(500), Duration::ZERO, |_c, _d, _id, _ev| {})
            .unwrap();
        ctx.start(t).unwrap();
        lp.run(&mut (), RunMode::NoWait).unwrap();
        let r = remaining(&mut lp, t).expect("active");
        assert!(r <= ms(500), "remaining {r:?} > after");
        assert!(r > Duration::ZERO);
    });
}

// ------------------------------------------------------------ ordering

/// Log entries are watcher names, in callback order.
type Names = Vec<&'static str>;

fn named_timer(lp: &mut Loop<Names>, name: &'static str, after: Duration) -> TimerId {
    lp.ctx()
        .new_timer(
            after,
            Duration::ZERO,
            move |_c, log: &mut Names, _id, ev| {
                assert_eq!(ev, Events::TIMER);
                log.push(name);
            },
        )
        .unwrap()
}

#[test]
fn timers_expiring_together_run_in_deadline_order() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Names>(b);
        // Started in an order unrelated to their deadlines.
        for (name, after) in [("d", 40), ("a", 10), ("e", 50), ("c", 30), ("b", 20)] {
            let t = named_timer(&mut lp, name, ms(after));
            lp.ctx().start(t).unwrap();
        }
        let mut log = Names::new();
        clock.advance(ms(100));
        nowait(&mut lp, &mut log);
        assert_eq!(log, ["a", "b", "c", "d", "e"]);
    });
}

#[test]
fn ordering_follows_real_deadlines_after_again_and_restart() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Names>(b);
        let a = named_timer(&mut lp, "a", ms(10));
        let b_ = named_timer(&mut lp, "b", ms(20));
        let c = named_timer(&mut lp, "c", ms(30));
        let d = named_timer(&mut lp, "d", ms(40));
        let e = named_timer(&mut lp, "e", ms(50));
        let mut ctx = lp.ctx();
        for t in [a, b_, c, d, e] {
            ctx.start(t).unwrap();
        }
        // a: moved later by again (its heap entry stays at 10 ms).
        ctx.timer(a).unwrap().again_with(ms(35)).unwrap();
        // b: stopped, then restarted later (its dead entry is reused, early).
        let mut w = ctx.timer(b_).unwrap();
        w.stop();
        w.set(ms(45), Duration::ZERO).unwrap();
        w.start().unwrap();
        // e: stopped, then restarted earlier.
        let mut w = ctx.timer(e).unwrap();
        w.stop();
        w.set(ms(5), Duration::ZERO).unwrap();
        w.start().unwrap();
        // Real deadlines: e 5, c 30, a 35, d 40, b 45.
        let mut log = Names::new();
        // At 25 ms only e is due, although the early entries of a (10) and
        // b (20) are in the heap.
        clock.advance(ms(25));
        nowait(&mut lp, &mut log);
        assert_eq!(log, ["e"], "timers fired at a deadline they no longer had");
        log.clear();
        clock.advance(ms(75)); // 100 ms: all due
        nowait(&mut lp, &mut log);
        // a repeats (again_with gave it a repeat); it fires once here.
        assert_eq!(log, ["c", "a", "d", "b"]);
    });
}

#[test]
fn again_later_in_same_iteration_order() {
    // All timers moved later by `again` expire in one iteration, mixed with
    // untouched ones: the order must follow the new deadlines.
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Names>(b);
        let names = ["t0", "t1", "t2", "t3", "t4", "t5"];
        let mut ids = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let t = named_timer(&mut lp, name, ms(10 * (i as u64 + 1)));
            lp.ctx().start(t).unwrap();
            ids.push(t);
        }
        // t0 -> 65, t2 -> 55 (later); t5 (60) untouched; t4 -> 15 (earlier).
        let mut ctx = lp.ctx();
        for (i, repeat) in [(0, 65), (2, 55), (4, 15)] {
            let mut w = ctx.timer(ids[i]).unwrap();
            w.again_with(ms(repeat)).unwrap();
            w.set_repeat(Duration::ZERO).unwrap();
        }
        // deadlines: t4 15, t1 20, t3 40, t2 55, t5 60, t0 65
        let mut log = Names::new();
        clock.advance(ms(70));
        nowait(&mut lp, &mut log);
        assert_eq!(log, ["t4", "t1", "t3", "t2", "t5", "t0"]);
        for t in ids {
            assert!(
                !lp.ctx().is_active(t),
                "one-shot after repeat was reset to zero"
            );
        }
    });
}

// ------------------------------------------------------------ stalls, long timeouts

#[test]
fn repeating_timer_does_not_catch_up_after_a_stall() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(10), ms(10));
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        // 100 periods missed, and off the timer's phase: it continues one
        // period after the current time (1013 ms), not on its old grid.
        clock.advance(ms(1003));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1, "a repeating timer fires at most once per iteration");
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1, "missed periods must not be caught up");
        assert_eq!(remaining(&mut lp, t), Some(ms(10)));
        clock.advance(ms(10)); // 1013 ms: at the new deadline
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2, "continues one period after the stall");
    });
}

#[test]
fn repeating_timer_keeps_its_phase_without_drift() {
    // Small lateness does not shift the schedule: next = deadline + repeat.
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<Duration>>(b);
        let mut ctx = lp.ctx();
        let t0 = ctx.now();
        let t = ctx
            .new_timer(
                ms(10),
                ms(10),
                move |ctx, v: &mut Vec<Duration>, _id, _ev| v.push(ctx.now() - t0),
            )
            .unwrap();
        ctx.start(t).unwrap();
        let mut v = Vec::new();
        clock.advance(ms(13)); // 3 ms late
        nowait(&mut lp, &mut v);
        assert_eq!(remaining(&mut lp, t), Some(ms(7)), "next at 20 ms");
        clock.advance(ms(7)); // at 20 ms: not yet
        nowait(&mut lp, &mut v);
        assert_eq!(v, [ms(13)]);
        clock.advance(NS);
        nowait(&mut lp, &mut v);
        assert_eq!(v, [ms(13), ms(20) + NS]);
    });
}

#[test]
fn one_hour_timer_fires_just_past_one_hour_not_before() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let hour = Duration::from_secs(3600);
        let t = counting_timer(&mut lp, hour, Duration::ZERO);
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        clock.advance(Duration::from_secs(3599)); // 59:59
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(Duration::from_secs(1) - NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "fired 1 ns before the hour");
        clock.advance(NS); // 1:00:00 exactly: not past it yet
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "fired at the hour, not after it");
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert!(!lp.ctx().is_active(t));
    });
}

#[test]
fn very_long_timer_does_not_fire_and_huge_duration_is_rejected() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let year = Duration::from_secs(365 * 24 * 3600);
        let t = counting_timer(&mut lp, year * 100, Duration::ZERO);
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        clock.advance(year * 99);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(year + NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert!(matches!(
            lp.ctx()
                .new_timer(Duration::MAX, Duration::ZERO, |_c, _n, _id, _ev| {}),
            Err(Error::InvalidArgument(_))
        ));
    });
}

// ------------------------------------------------------------ stop / remove

#[test]
fn stop_from_inside_own_callback() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(ms(10), ms(10), |ctx, n: &mut u32, id, _ev| {
                *n += 1;
                ctx.stop(id).unwrap();
                assert!(!ctx.is_active(id));
            })
            .unwrap();
        ctx.start(t).unwrap();
        let mut n = 0;
        clock.advance(ms(10) + NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert!(!lp.ctx().is_active(t));
        assert_eq!(lp.ctx().refs(), 0);
        for _ in 0..3 {
            clock.advance(ms(10));
            nowait(&mut lp, &mut n);
        }
        assert_eq!(n, 1, "a repeating timer that stopped itself fired again");
        // A Default run now returns at once: nothing is active.
        assert!(!lp.run(&mut n, RunMode::Default).unwrap());
    });
}

#[test]
fn remove_from_inside_own_callback() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(ms(10), ms(10), |ctx, n: &mut u32, id, _ev| {
                *n += 1;
                ctx.remove(id).unwrap();
            })
            .unwrap();
        ctx.start(t).unwrap();
        let mut n = 0;
        clock.advance(NS);
        for _ in 0..3 {
            clock.advance(ms(10));
            nowait(&mut lp, &mut n);
        }
        assert_eq!(n, 1);
        assert!(!lp.ctx().contains(t));
        assert_eq!(lp.ctx().refs(), 0);
    });
}

#[test]
fn timer_stopped_or_removed_while_pending_is_not_called() {
    for_each_backend(|b| {
        #[derive(Default)]
        struct S {
            log: Names,
            victims: Vec<TimerId>,
        }
        let (mut lp, clock) = manual_loop::<S>(b);
        let mut ctx = lp.ctx();
        // `killer` expires first and removes one victim and stops the other,
        // both already pending in the same iteration.
        let killer = ctx
            .new_timer(ms(10), Duration::ZERO, |ctx, s: &mut S, _id, _ev| {
                s.log.push("killer");
                let (v1, v2) = (s.victims[0], s.victims[1]);
                assert!(ctx.timer(v1).unwrap().is_pending());
                assert!(ctx.timer(v2).unwrap().is_pending());
                let pending_before = ctx.pending_count();
                ctx.remove(v1).unwrap();
                ctx.stop(v2).unwrap();
                assert!(!ctx.timer(v2).unwrap().is_pending());
                assert_eq!(ctx.pending_count(), pending_before - 2);
            })
            .unwrap();
        let v1 = ctx
            .new_timer(ms(20), Duration::ZERO, |_c, s: &mut S, _id, _ev| {
                s.log.push("removed victim")
            })
            .unwrap();
        let v2 = ctx
            .new_timer(ms(30), ms(30), |_c, s: &mut S, _id, _ev| {
                s.log.push("stopped victim")
            })
            .unwrap();
        let bystander = ctx
            .new_timer(ms(40), Duration::ZERO, |_c, s: &mut S, _id, _ev| {
                s.log.push("bystander")
            })
            .unwrap();
        for t in [killer, v1, v2, bystander] {
            ctx.start(t).unwrap();
        }
        let mut s = S {
            victims: vec![v1, v2],
            ..S::default()
        };
        clock.advance(ms(50));
        nowait(&mut lp, &mut s);
        assert_eq!(s.log, ["killer", "bystander"]);
        assert!(!lp.ctx().contains(v1));
        assert!(!lp.ctx().is_active(v2));
        clock.advance(ms(100));
        nowait(&mut lp, &mut s);
        assert_eq!(s.log, ["killer", "bystander"]);
    });
}

#[test]
fn timer_stopped_and_restarted_while_pending_drops_the_old_event() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Names>(b);
        let b_ = named_timer(&mut lp, "b", ms(20));
        let mut ctx = lp.ctx();
        let a = ctx
            .new_timer(
                ms(10),
                Duration::ZERO,
                move |ctx, log: &mut Names, _id, _ev| {
                    log.push("a");
                    // b is pending; a stop + start re-arms it from now.
                    ctx.stop(b_).unwrap();
                    ctx.start(b_).unwrap();
                    assert!(!ctx.timer(b_).unwrap().is_pending());
                },
            )
            .unwrap();
        ctx.start(a).unwrap();
        ctx.start(b_).unwrap();
        let mut log = Names::new();
        clock.advance(ms(30));
        nowait(&mut lp, &mut log);
        assert_eq!(log, ["a"]);
        assert_eq!(remaining(&mut lp, b_), Some(ms(20)));
        clock.advance(ms(20) + NS);
        nowait(&mut lp, &mut log);
        assert_eq!(log, ["a", "b"]);
    });
}

// ------------------------------------------------------------ many timers

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[derive(Default)]
struct Many {
    /// Expected deadline (ns from the loop's start) per timer, `None` if it
    /// must not fire.
    expected: Vec<Option<u64>>,
    /// (timer index, loop time in ns) per callback, in callback order.
    fired: Vec<(usize, u64)>,
}

#[test]
fn many_timers_fire_in_deadline_order() {
    const N: usize = 10_000;
    const SPAN_NS: u64 = 5_000_000_000; // afters within 5 s
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Many>(b);
        let t0 = lp.ctx().now();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut ids = Vec::with_capacity(N);
        let mut m = Many::default();
        let mut ctx = lp.ctx();
        for i in 0..N {
            let after = rng.next() % SPAN_NS;
            let t = ctx
                .new_timer(
                    Duration::from_nanos(after),
                    Duration::ZERO,
                    move |ctx, m: &mut Many, id, _ev| {
                        m.fired.push((i, (ctx.now() - t0).as_nanos() as u64));
                        // Those made repeating by again_with: once is enough.
                        ctx.stop(id).unwrap();
                    },
                )
                .unwrap();
            ctx.start(t).unwrap();
            ids.push(t);
            m.expected.push(Some(after));
        }
        // Disturb the heap before anything runs: restart some later or
        // earlier, move some with again, stop and remove others.
        for (i, &t) in ids.iter().enumerate() {
            match i % 13 {
                0 => {
                    let after = rng.next() % SPAN_NS;
                    let mut w = ctx.timer(t).unwrap();
                    w.stop();
                    w.set(Duration::from_nanos(after), Duration::ZERO).unwrap();
                    w.start().unwrap();
                    m.expected[i] = Some(after);
                }
                1 => {
                    let repeat = rng.next() % SPAN_NS + 1;
                    ctx.timer(t)
                        .unwrap()
                        .again_with(Duration::from_nanos(repeat))
                        .unwrap();
                    m.expected[i] = Some(repeat);
                }
                2 => {
                    ctx.stop(t).unwrap();
                    m.expected[i] = None;
                }
                3 => {
                    ctx.remove(t).unwrap();
                    m.expected[i] = None;
                }
                _ => {}
            }
        }
        // The loop time of every iteration, in order.
        let mut iter_times: Vec<u64> = Vec::new();
        let mut now: u64 = 0;
        let mut step_no = 0u64;
        while now <= SPAN_NS + 600_000_000 {
            let step = rng.next() % 20_000_000 + 1; // up to 20 ms
            clock.advance(Duration::from_nanos(step));
            now += step;
            nowait(&mut lp, &mut m);
            iter_times.push(now);
            step_no += 1;
            // Every so often, re-arm a still active timer relative to now.
            if step_no % 7 == 0 && now < SPAN_NS {
                let i = (rng.next() % N as u64) as usize;
                let mut ctx = lp.ctx();
                if ctx.is_active(ids[i]) {
                    let d = rng.next() % 500_000_000 + 1;
                    let mut w = ctx.timer(ids[i]).unwrap();
                    if step_no % 2 == 0 {
                        w.again_with(Duration::from_nanos(d)).unwrap();
                    } else {
                        w.stop();
                        w.set(Duration::from_nanos(d), Duration::ZERO).unwrap();
                        w.start().unwrap();
                    }
                    m.expected[i] = Some(now + d);
                }
            }
        }
        let should_fire = m.expected.iter().filter(|e| e.is_some()).count();
        assert_eq!(m.fired.len(), should_fire, "every live timer fires once");
        let mut seen = vec![false; N];
        let mut last_deadline = 0;
        for (k, &(i, at)) in m.fired.iter().enumerate() {
            assert!(!seen[i], "timer {i} fired twice");
            seen[i] = true;
            let deadline = m.expected[i].unwrap_or_else(|| panic!("timer {i} must not fire"));
            // Strictly after its deadline (libev's `<`; the old code allowed
            // firing at it).
            assert!(
                at > deadline,
                "timer {i} fired early: at {at} <= {deadline}"
            );
            assert!(
                deadline >= last_deadline,
                "callback #{k} (timer {i}, deadline {deadline}) ran after one with deadline {last_deadline}"
            );
            last_deadline = deadline;
            // Not late either: the iteration before had not passed it.
            let pos = iter_times.binary_search(&at).expect("an iteration time");
            if pos > 0 {
                assert!(
                    iter_times[pos - 1] <= deadline,
                    "timer {i} (deadline {deadline}) was due at {} but fired only at {at}",
                    iter_times[pos - 1]
                );
            }
        }
        assert_eq!(lp.ctx().refs(), 0, "all timers fired or were stopped");
    });
}

// ------------------------------------------------------------ suspend

#[test]
fn suspend_resume_shifts_timers_by_the_suspended_time() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(100), Duration::ZERO);
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        lp.ctx().suspend();
        clock.advance(Duration::from_secs(1));
        lp.ctx().resume();
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "suspended time must not count towards the timer");
        assert_eq!(remaining(&mut lp, t), Some(ms(100)));
        clock.advance(ms(100));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
    });
}

#[test]
fn suspended_loop_does_not_fire_timers_and_resume_is_idempotent() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = counting_timer(&mut lp, ms(50), Duration::ZERO);
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        clock.advance(ms(20));
        nowait(&mut lp, &mut n);
        lp.ctx().suspend();
        lp.ctx().suspend(); // harmless
        clock.advance(Duration::from_secs(10));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "a suspended loop fires no timers");
        lp.ctx().resume();
        lp.ctx().resume(); // harmless: must not shift twice
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        assert_eq!(remaining(&mut lp, t), Some(ms(30)));
        clock.advance(ms(30) + NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
    });
}

// ------------------------------------------------------------ once_timer

/// A `once_timer` whose keepalive is turned off does not keep `run` going:
/// a Default run returns at once instead of waiting an hour for it; it
/// still fires while something else keeps the loop running.
#[test]
fn once_timer_without_keepalive_does_not_keep_run_going() {
    for_each_backend(|b| {
        let fired = Rc::new(Cell::new(0u32));
        let mut lp: Loop<()> = new_loop(b);
        let f = fired.clone();
        let mut ctx = lp.ctx();
        let hour = ctx
            .once_timer(Duration::from_secs(3600), move |_c, _d, ev| {
                assert_eq!(ev, Events::TIMER);
                f.set(f.get() + 1);
            })
            .unwrap();
        assert_eq!(ctx.refs(), 1, "a once keeps run going by default");
        ctx.set_once_keepalive(hour, false).unwrap();
        assert_eq!(ctx.refs(), 0);
        let start = Instant::now();
        assert!(!run_default(&mut lp, &mut ()).unwrap());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "run waited for it"
        );
        assert_eq!(fired.get(), 0);

        // Unreferenced, but served while a referenced timer keeps the loop
        // running.
        let f = fired.clone();
        let mut ctx = lp.ctx();
        let short = ctx
            .once_timer(ms(2), move |_c, _d, _ev| f.set(f.get() + 10))
            .unwrap();
        ctx.set_once_keepalive(short, false).unwrap();
        let keeper = ctx
            .new_timer(ms(30), Duration::ZERO, |_c, _d, _id, _ev| {})
            .unwrap();
        ctx.start(keeper).unwrap();
        run_default(&mut lp, &mut ()).unwrap();
        assert_eq!(fired.get(), 10, "the unreferenced 2 ms once fired");
        // It ran: its handle is spent.
        assert!(matches!(
            lp.ctx().set_once_keepalive(short, true),
            Err(Error::StaleHandle)
        ));
        assert_eq!(
            lp.ctx().cancel_once(hour),
            Some(()),
            "the hour one is still there"
        );
    });
}

/// `cancel_once` on a `once_timer` gives `Some(())` while it has not run
/// (and it never runs then), `None` once it ran or was cancelled. The
/// once fires only once its time has passed.
#[test]
fn cancel_once_timer_before_and_after_it_ran() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let cancelled = ctx
            .once_timer(ms(10), |_c, n: &mut u32, _ev| *n += 100)
            .unwrap();
        let runs = ctx
            .once_timer(ms(10), |_c, n: &mut u32, _ev| *n += 1)
            .unwrap();
        assert_eq!(ctx.cancel_once(cancelled), Some(()));
        assert_eq!(ctx.cancel_once(cancelled), None, "cancelled twice");
        assert_eq!(ctx.refs(), 1, "the cancelled once gave up its reference");
        let mut n = 0;
        clock.advance(ms(10));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "a once fired at its time, not after it");
        clock.advance(NS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1, "only the one not cancelled ran");
        assert_eq!(lp.ctx().cancel_once(runs), None, "it ran already");
        assert_eq!(lp.ctx().refs(), 0);
        assert_eq!(lp.ctx().watcher_count().total, 0, "nothing left behind");
        clock.advance(ms(100));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
    });
}
