//! Timer watchers: lower bounds, repeat, `timer_again`, ordering within an
//! iteration (including the lazy heap entries left by `timer_again` and by
//! stop/start), no catch-up after a stall, long timeouts, suspend/resume.
//!
//! Every test runs once per backend. Tests that need exact time use a
//! [`ManualClock`] and drive the loop with `RunMode::NoWait`.

mod common;

use std::time::{Duration, Instant};

use common::{for_each_backend, manual_loop, new_loop, watchdog};
use evloop::{Error, Events, Loop, RunMode, TimerId};

const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs one non-blocking iteration.
fn nowait<T>(lp: &mut Loop<T>, data: &mut T) {
    lp.run(data, RunMode::NoWait).unwrap();
}

// ------------------------------------------------------------ real clock

#[test]
fn never_fires_early_real_clock() {
    for_each_backend(|b| {
        // (after, Instant::now() in the callback, ctx.now() in the callback)
        type Log = Vec<(Duration, Instant, Instant)>;
        let mut lp: Loop<Log> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let start = lp.now();
        for after in [ms(1), ms(3), ms(7), ms(15), ms(30)] {
            let t = lp
                .timer(after, Duration::ZERO, move |ctx, log: &mut Log, _id, ev| {
                    assert_eq!(ev, Events::TIMER);
                    log.push((after, Instant::now(), ctx.now()));
                })
                .unwrap();
            lp.start(t).unwrap();
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
            assert!(
                loop_now >= start + after,
                "loop time in the callback of the {after:?} timer is before its deadline"
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
        let start = lp.now();
        let t = lp
            .timer(ms(5), ms(10), |ctx, fires: &mut Vec<Instant>, id, _ev| {
                fires.push(Instant::now());
                if fires.len() == 4 {
                    ctx.stop(id).unwrap();
                }
            })
            .unwrap();
        lp.start(t).unwrap();
        let mut fires = Vec::new();
        lp.run(&mut fires, RunMode::Default).unwrap();
        assert!(!dog.get(), "run did not finish within 5 s");
        assert_eq!(fires.len(), 4);
        for (k, &at) in fires.iter().enumerate() {
            let due = start + ms(5) + ms(10) * k as u32;
            assert!(at >= due, "fire #{k} came {:?} early", due - at);
        }
        assert!(!lp.is_active(t));
    });
}

#[test]
fn repeat_under_manual_clock_fires_at_exact_deadlines() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<Duration>>(b);
        let t0 = lp.now();
        let t = lp
            .timer(
                ms(30),
                ms(20),
                move |ctx, fires: &mut Vec<Duration>, _id, _ev| {
                    fires.push(ctx.now() - t0);
                },
            )
            .unwrap();
        lp.start(t).unwrap();
        let mut fires = Vec::new();
        // Step 1 ms at a time up to 100 ms: fires at 30, 50, 70, 90.
        for _ in 0..100 {
            clock.advance(MS);
            nowait(&mut lp, &mut fires);
        }
        assert_eq!(fires, [ms(30), ms(50), ms(70), ms(90)]);
        assert!(lp.is_active(t), "a repeating timer stays active");
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(10)));
    });
}

// ------------------------------------------------------------ again

#[test]
fn again_on_active_timer_with_repeat_rearms_from_now() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = lp
            .timer(ms(100), ms(50), |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        let mut n = 0;
        clock.advance(ms(80));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        lp.timer_again(t).unwrap(); // now 80 ms: next deadline 130 ms
        assert!(lp.is_active(t));
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(50)));
        clock.advance(ms(49)); // 129 ms: past the original 100 ms
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "timer_again must move the deadline to now + repeat");
        clock.advance(MS); // 130 ms
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        // And it repeats from there.
        clock.advance(ms(50));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2);
    });
}

#[test]
fn again_on_active_timer_without_repeat_stops_it() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = lp
            .timer(ms(100), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        assert_eq!(lp.refs(), 1);
        lp.timer_again(t).unwrap();
        assert!(!lp.is_active(t), "again without repeat stops the timer");
        assert_eq!(lp.refs(), 0, "the stopped timer gives up its reference");
        assert_eq!(lp.timer_remaining(t).unwrap(), None);
        let mut n = 0;
        clock.advance(ms(200));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "a timer stopped by timer_again must not fire");
    });
}

#[test]
fn again_on_stopped_timer_with_repeat_starts_it_with_repeat() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        // `after` is an hour: again must use `repeat`, not `after`.
        let t = lp
            .timer(
                Duration::from_secs(3600),
                ms(50),
                |_c, n: &mut u32, _id, _ev| *n += 1,
            )
            .unwrap();
        lp.timer_again(t).unwrap();
        assert!(lp.is_active(t), "again with repeat starts a stopped timer");
        assert_eq!(lp.refs(), 1);
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(50)));
        let mut n = 0;
        clock.advance(ms(49));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(MS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert!(lp.is_active(t), "repeating timer stays active");
    });
}

#[test]
fn again_on_stopped_timer_without_repeat_does_nothing() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = lp
            .timer(ms(10), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.timer_again(t).unwrap();
        assert!(!lp.is_active(t));
        assert_eq!(lp.refs(), 0);
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
        let t = lp
            .timer(ms(100), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        clock.advance(ms(10));
        lp.now_update();
        lp.timer_again_with(t, ms(30)).unwrap(); // deadline 40 ms, then every 30
        assert_eq!(lp.timer_repeat(t).unwrap(), ms(30));
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(30)));
        let mut n = 0;
        clock.advance(ms(29));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(MS); // 40 ms
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        clock.advance(ms(30)); // 70 ms
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2);
        // With zero, again_with stops it.
        lp.timer_again_with(t, Duration::ZERO).unwrap();
        assert!(!lp.is_active(t));
        clock.advance(ms(100));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2);
    });
}

// ------------------------------------------------------------ settings

#[test]
fn set_timer_on_active_timer_is_an_error() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = lp
            .timer(ms(10), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        assert!(matches!(
            lp.set_timer(t, ms(50), Duration::ZERO),
            Err(Error::Active)
        ));
        // The rejected call changed nothing: it still fires at 10 ms.
        let mut n = 0;
        clock.advance(ms(10));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        // Stopped (it fired): set_timer works and takes effect on start.
        lp.set_timer(t, ms(50), Duration::ZERO).unwrap();
        lp.start(t).unwrap();
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(50)));
        clock.advance(ms(49));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        clock.advance(MS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2);
        // A removed timer is a stale handle.
        lp.remove(t).unwrap();
        assert!(matches!(
            lp.set_timer(t, ms(1), Duration::ZERO),
            Err(Error::StaleHandle)
        ));
    });
}

#[test]
fn timer_remaining_none_when_stopped_and_counts_down_when_active() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = lp
            .timer(ms(100), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        assert_eq!(lp.timer_remaining(t).unwrap(), None, "not started");
        lp.start(t).unwrap();
        let r = lp.timer_remaining(t).unwrap().expect("active");
        assert!(r <= ms(100), "remaining {r:?} exceeds after");
        assert_eq!(r, ms(100));
        let mut n = 0;
        clock.advance(ms(30));
        nowait(&mut lp, &mut n);
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(70)));
        lp.stop(t).unwrap();
        assert_eq!(lp.timer_remaining(t).unwrap(), None, "stopped");
        lp.start(t).unwrap(); // counts `after` from now again
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(100)));
        clock.advance(ms(100));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert_eq!(lp.timer_remaining(t).unwrap(), None, "fired one-shot");
    });
}

#[test]
fn timer_remaining_real_clock_is_at_most_after() {
    for_each_backend(|b| {
        let mut lp: Loop<()> = new_loop(b);
        let t = lp
            .timer(ms(500), Duration::ZERO, |_c, _d, _id, _ev| {})
            .unwrap();
        lp.start(t).unwrap();
        lp.run(&mut (), RunMode::NoWait).unwrap();
        let r = lp.timer_remaining(t).unwrap().expect("active");
        assert!(r <= ms(500), "remaining {r:?} > after");
        assert!(r > Duration::ZERO);
    });
}

// ------------------------------------------------------------ ordering

/// Log entries are watcher names, in callback order.
type Names = Vec<&'static str>;

fn named_timer(lp: &mut Loop<Names>, name: &'static str, after: Duration) -> TimerId {
    lp.timer(
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
            lp.start(t).unwrap();
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
        for t in [a, b_, c, d, e] {
            lp.start(t).unwrap();
        }
        // a: moved later by again (its heap entry stays at 10 ms).
        lp.timer_again_with(a, ms(35)).unwrap();
        // b: stopped, then restarted later (its dead entry is reused, early).
        lp.stop(b_).unwrap();
        lp.set_timer(b_, ms(45), Duration::ZERO).unwrap();
        lp.start(b_).unwrap();
        // e: stopped, then restarted earlier.
        lp.stop(e).unwrap();
        lp.set_timer(e, ms(5), Duration::ZERO).unwrap();
        lp.start(e).unwrap();
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
            lp.start(t).unwrap();
            ids.push(t);
        }
        // t0 -> 65, t2 -> 55 (later); t5 (60) untouched; t4 -> 15 (earlier).
        for (i, repeat) in [(0, 65), (2, 55), (4, 15)] {
            lp.timer_again_with(ids[i], ms(repeat)).unwrap();
            lp.set_timer_repeat(ids[i], Duration::ZERO).unwrap();
        }
        // deadlines: t4 15, t1 20, t3 40, t2 55, t5 60, t0 65
        let mut log = Names::new();
        clock.advance(ms(70));
        nowait(&mut lp, &mut log);
        assert_eq!(log, ["t4", "t1", "t3", "t2", "t5", "t0"]);
        for t in ids {
            assert!(!lp.is_active(t), "one-shot after repeat was reset to zero");
        }
    });
}

// ------------------------------------------------------------ stalls, long timeouts

#[test]
fn repeating_timer_does_not_catch_up_after_a_stall() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = lp
            .timer(ms(10), ms(10), |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        let mut n = 0;
        // 100 periods missed, and off the timer's phase: it continues one
        // period after the current time (1013 ms), not on its old grid.
        clock.advance(ms(1003));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1, "a repeating timer fires at most once per iteration");
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1, "missed periods must not be caught up");
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(10)));
        clock.advance(ms(9));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        clock.advance(MS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 2, "continues one period after the stall");
    });
}

#[test]
fn repeating_timer_keeps_its_phase_without_drift() {
    // Small lateness does not shift the schedule: next = deadline + repeat.
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<Duration>>(b);
        let t0 = lp.now();
        let t = lp
            .timer(
                ms(10),
                ms(10),
                move |ctx, v: &mut Vec<Duration>, _id, _ev| v.push(ctx.now() - t0),
            )
            .unwrap();
        lp.start(t).unwrap();
        let mut v = Vec::new();
        clock.advance(ms(13)); // 3 ms late
        nowait(&mut lp, &mut v);
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(7)), "next at 20 ms");
        clock.advance(ms(7));
        nowait(&mut lp, &mut v);
        assert_eq!(v, [ms(13), ms(20)]);
    });
}

#[test]
fn one_hour_timer_fires_at_one_hour_not_before() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let hour = Duration::from_secs(3600);
        let t = lp
            .timer(hour, Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        let mut n = 0;
        clock.advance(Duration::from_secs(3599)); // 59:59
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(Duration::from_secs(1) - Duration::from_nanos(1));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "fired 1 ns before the hour");
        clock.advance(Duration::from_nanos(1)); // 1:00:00
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert!(!lp.is_active(t));
    });
}

#[test]
fn very_long_timer_does_not_fire_and_huge_duration_is_rejected() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let year = Duration::from_secs(365 * 24 * 3600);
        let t = lp
            .timer(year * 100, Duration::ZERO, |_c, n: &mut u32, _id, _ev| {
                *n += 1
            })
            .unwrap();
        lp.start(t).unwrap();
        let mut n = 0;
        clock.advance(year * 99);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(year);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert!(matches!(
            lp.timer(Duration::MAX, Duration::ZERO, |_c, _n, _id, _ev| {}),
            Err(Error::InvalidArgument(_))
        ));
    });
}

// ------------------------------------------------------------ stop / remove

#[test]
fn stop_from_inside_own_callback() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = lp
            .timer(ms(10), ms(10), |ctx, n: &mut u32, id, _ev| {
                *n += 1;
                ctx.stop(id).unwrap();
                assert!(!ctx.is_active(id));
            })
            .unwrap();
        lp.start(t).unwrap();
        let mut n = 0;
        clock.advance(ms(10));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
        assert!(!lp.is_active(t));
        assert_eq!(lp.refs(), 0);
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
        let t = lp
            .timer(ms(10), ms(10), |ctx, n: &mut u32, id, _ev| {
                *n += 1;
                ctx.remove(id).unwrap();
            })
            .unwrap();
        lp.start(t).unwrap();
        let mut n = 0;
        for _ in 0..3 {
            clock.advance(ms(10));
            nowait(&mut lp, &mut n);
        }
        assert_eq!(n, 1);
        assert!(!lp.contains(t));
        assert_eq!(lp.refs(), 0);
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
        // `killer` expires first and removes one victim and stops the other,
        // both already pending in the same iteration.
        let killer = lp
            .timer(ms(10), Duration::ZERO, |ctx, s: &mut S, _id, _ev| {
                s.log.push("killer");
                assert!(ctx.is_pending(s.victims[0]) && ctx.is_pending(s.victims[1]));
                let pending_before = ctx.pending_count();
                ctx.remove(s.victims[0]).unwrap();
                ctx.stop(s.victims[1]).unwrap();
                assert!(!ctx.is_pending(s.victims[1]));
                assert_eq!(ctx.pending_count(), pending_before - 2);
            })
            .unwrap();
        let v1 = lp
            .timer(ms(20), Duration::ZERO, |_c, s: &mut S, _id, _ev| {
                s.log.push("removed victim")
            })
            .unwrap();
        let v2 = lp
            .timer(ms(30), ms(30), |_c, s: &mut S, _id, _ev| {
                s.log.push("stopped victim")
            })
            .unwrap();
        let bystander = lp
            .timer(ms(40), Duration::ZERO, |_c, s: &mut S, _id, _ev| {
                s.log.push("bystander")
            })
            .unwrap();
        for t in [killer, v1, v2, bystander] {
            lp.start(t).unwrap();
        }
        let mut s = S {
            victims: vec![v1, v2],
            ..S::default()
        };
        clock.advance(ms(50));
        nowait(&mut lp, &mut s);
        assert_eq!(s.log, ["killer", "bystander"]);
        assert!(!lp.contains(v1));
        assert!(!lp.is_active(v2));
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
        let a = lp
            .timer(
                ms(10),
                Duration::ZERO,
                move |ctx, log: &mut Names, _id, _ev| {
                    log.push("a");
                    // b is pending; a stop + start re-arms it from now.
                    ctx.stop(b_).unwrap();
                    ctx.start(b_).unwrap();
                    assert!(!ctx.is_pending(b_));
                },
            )
            .unwrap();
        lp.start(a).unwrap();
        lp.start(b_).unwrap();
        let mut log = Names::new();
        clock.advance(ms(30));
        nowait(&mut lp, &mut log);
        assert_eq!(log, ["a"]);
        assert_eq!(lp.timer_remaining(b_).unwrap(), Some(ms(20)));
        clock.advance(ms(20));
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
        let t0 = lp.now();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut ids = Vec::with_capacity(N);
        let mut m = Many::default();
        for i in 0..N {
            let after = rng.next() % SPAN_NS;
            let t = lp
                .timer(
                    Duration::from_nanos(after),
                    Duration::ZERO,
                    move |ctx, m: &mut Many, id, _ev| {
                        m.fired.push((i, (ctx.now() - t0).as_nanos() as u64));
                        // Those made repeating by again_with: once is enough.
                        ctx.stop(id).unwrap();
                    },
                )
                .unwrap();
            lp.start(t).unwrap();
            ids.push(t);
            m.expected.push(Some(after));
        }
        // Disturb the heap before anything runs: restart some later or
        // earlier, move some with again, stop and remove others.
        for (i, &t) in ids.iter().enumerate() {
            match i % 13 {
                0 => {
                    let after = rng.next() % SPAN_NS;
                    lp.stop(t).unwrap();
                    lp.set_timer(t, Duration::from_nanos(after), Duration::ZERO)
                        .unwrap();
                    lp.start(t).unwrap();
                    m.expected[i] = Some(after);
                }
                1 => {
                    let repeat = rng.next() % SPAN_NS + 1;
                    lp.timer_again_with(t, Duration::from_nanos(repeat))
                        .unwrap();
                    m.expected[i] = Some(repeat);
                }
                2 => {
                    lp.stop(t).unwrap();
                    m.expected[i] = None;
                }
                3 => {
                    lp.remove(t).unwrap();
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
                if lp.is_active(ids[i]) {
                    let d = rng.next() % 500_000_000 + 1;
                    if step_no % 2 == 0 {
                        lp.timer_again_with(ids[i], Duration::from_nanos(d))
                            .unwrap();
                    } else {
                        lp.stop(ids[i]).unwrap();
                        lp.set_timer(ids[i], Duration::from_nanos(d), Duration::ZERO)
                            .unwrap();
                        lp.start(ids[i]).unwrap();
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
            assert!(
                at >= deadline,
                "timer {i} fired early: at {at} < {deadline}"
            );
            assert!(
                deadline >= last_deadline,
                "callback #{k} (timer {i}, deadline {deadline}) ran after one with deadline {last_deadline}"
            );
            last_deadline = deadline;
            // Not late either: the iteration before had not reached it.
            let pos = iter_times.binary_search(&at).expect("an iteration time");
            if pos > 0 {
                assert!(
                    iter_times[pos - 1] < deadline,
                    "timer {i} (deadline {deadline}) was due at {} but fired only at {at}",
                    iter_times[pos - 1]
                );
            }
        }
        assert_eq!(lp.refs(), 0, "all timers fired or were stopped");
    });
}

// ------------------------------------------------------------ suspend

#[test]
fn suspend_resume_shifts_timers_by_the_suspended_time() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = lp
            .timer(ms(100), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        let mut n = 0;
        lp.suspend();
        clock.advance(Duration::from_secs(1));
        lp.resume();
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "suspended time must not count towards the timer");
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(100)));
        clock.advance(ms(99));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        clock.advance(MS);
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
    });
}

#[test]
fn suspended_loop_does_not_fire_timers_and_resume_is_idempotent() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<u32>(b);
        let t = lp
            .timer(ms(50), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        let mut n = 0;
        clock.advance(ms(20));
        nowait(&mut lp, &mut n);
        lp.suspend();
        lp.suspend(); // harmless
        clock.advance(Duration::from_secs(10));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0, "a suspended loop fires no timers");
        lp.resume();
        lp.resume(); // harmless: must not shift twice
        nowait(&mut lp, &mut n);
        assert_eq!(n, 0);
        assert_eq!(lp.timer_remaining(t).unwrap(), Some(ms(30)));
        clock.advance(ms(30));
        nowait(&mut lp, &mut n);
        assert_eq!(n, 1);
    });
}
