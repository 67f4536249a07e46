//! Running the loop: run modes, breaks, nested runs, references, fed events,
//! priorities, the order of one iteration (libev's), idle rules, prepare and
//! check. Every test runs once per backend.

mod common;

use std::cell::Cell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::{for_each_backend, manual_loop, new_loop, watchdog};
use evloop::{Break, Ctx, Error, Events, IdleId, Loop, Priority, RunMode, TimerId};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn prio(p: i8) -> Priority {
    Priority::new(p).unwrap()
}
/// The callback log most tests use: names in call order.
type Log = Vec<String>;

/// A stopped timer that logs `name` (and the bits) when called; it is only
/// ever fed, so it acts as a plain "event sink".
fn sink(lp: &mut Loop<Log>, name: &'static str) -> TimerId {
    lp.timer(
        Duration::from_secs(3600),
        Duration::ZERO,
        move |_c, log: &mut Log, _id, _ev| log.push(name.to_string()),
    )
    .unwrap()
}

// ------------------------------------------------------------ run modes

#[test]
fn default_run_returns_when_no_active_watchers() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let start = Instant::now();
        assert!(!lp.run(&mut 0, RunMode::Default).unwrap());
        assert!(!dog.get());
        assert!(start.elapsed() < Duration::from_secs(2));

        // With a short timer: returns once it has fired (and nothing is left).
        let t = lp
            .timer(ms(5), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        let mut n = 0;
        assert!(!lp.run(&mut n, RunMode::Default).unwrap());
        assert!(
            !dog.get(),
            "run did not return after the last watcher stopped"
        );
        assert_eq!(n, 1);
        assert!(!lp.is_active(t));
    });
}

#[test]
fn nowait_does_not_block_even_with_a_far_timer() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let t = lp
            .timer(
                Duration::from_secs(10),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 1,
            )
            .unwrap();
        lp.start(t).unwrap();
        let before = lp.iteration();
        let start = Instant::now();
        let mut n = 0;
        assert!(
            lp.run(&mut n, RunMode::NoWait).unwrap(),
            "the timer is still active"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "NoWait blocked for {:?}",
            start.elapsed()
        );
        assert_eq!(n, 0);
        assert_eq!(lp.iteration(), before + 1, "NoWait is one iteration");
        assert!(lp.is_active(t));
    });
}

#[test]
fn once_blocks_until_an_event_and_does_one_iteration() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let _dog = watchdog(&mut lp, Duration::from_secs(5));
        let far = lp
            .timer(
                Duration::from_secs(3600),
                Duration::ZERO,
                |_c, _n: &mut u32, _id, _ev| {},
            )
            .unwrap();
        lp.start(far).unwrap();
        let t = lp
            .timer(ms(20), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.start(t).unwrap();
        let before = lp.iteration();
        let start = lp.now();
        let mut n = 0;
        let more = lp.run(&mut n, RunMode::Once).unwrap();
        assert_eq!(n, 1, "Once must block until the 20 ms timer fired");
        assert!(Instant::now() >= start + ms(20));
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(lp.iteration(), before + 1, "exactly one iteration");
        assert!(more, "the far timer is still active");
    });
}

// ------------------------------------------------------------ breaks

/// An idle watcher that counts its calls in `*n` and calls `f` with the count.
fn counting_idle<F>(lp: &mut Loop<u32>, mut f: F) -> IdleId
where
    F: FnMut(&mut Ctx<u32>, u32, IdleId) + 'static,
{
    let i = lp
        .idle(move |ctx, n: &mut u32, id, _ev| {
            *n += 1;
            f(ctx, *n, id)
        })
        .unwrap();
    lp.start(i).unwrap();
    i
}

#[test]
fn break_one_from_a_callback_ends_run() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let i = counting_idle(&mut lp, |ctx, n, _id| {
            if n == 3 {
                ctx.break_loop(Break::One);
            }
        });
        let mut n = 0;
        let more = lp.run(&mut n, RunMode::Default).unwrap();
        assert!(!dog.get(), "break did not end the run");
        assert_eq!(n, 3);
        assert!(more, "the idle watcher is still active");
        assert!(lp.is_active(i));
        // The break was consumed: the next run iterates normally.
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 4);
    });
}

#[test]
fn break_cancel_withdraws_a_break() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        counting_idle(&mut lp, |ctx, n, id| {
            if n == 1 {
                ctx.break_loop(Break::One);
                ctx.break_loop(Break::Cancel);
            }
            if n == 5 {
                ctx.stop(id).unwrap();
            }
        });
        let mut n = 0;
        assert!(!lp.run(&mut n, RunMode::Default).unwrap());
        assert!(!dog.get());
        assert_eq!(n, 5, "Break::Cancel must withdraw the break");
    });
}

#[test]
fn nested_run_break_one_ends_only_the_inner_run() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        let idle = lp
            .idle(move |ctx, log: &mut Log, id, _ev| {
                c.set(c.get() + 1);
                log.push(format!("idle@{}", ctx.depth()));
                if c.get() == 3 {
                    ctx.break_loop(Break::One);
                }
                if c.get() == 6 {
                    ctx.stop(id).unwrap();
                }
            })
            .unwrap();
        let outer = lp
            .timer(
                Duration::from_secs(3600),
                Duration::ZERO,
                |ctx, log: &mut Log, _id, _ev| {
                    log.push(format!("outer@{}", ctx.depth()));
                    ctx.run(log, RunMode::Default).unwrap();
                    log.push(format!("inner returned@{}", ctx.depth()));
                },
            )
            .unwrap();
        lp.start(idle).unwrap();
        lp.feed_event(outer, Events::CUSTOM).unwrap();
        let mut log = Log::new();
        assert_eq!(lp.depth(), 0);
        assert!(!lp.run(&mut log, RunMode::Default).unwrap());
        assert!(!dog.get());
        assert_eq!(lp.depth(), 0);
        assert_eq!(
            log,
            [
                "outer@1",
                "idle@2",
                "idle@2",
                "idle@2",
                "inner returned@1",
                "idle@1",
                "idle@1",
                "idle@1"
            ]
        );
    });
}

#[test]
fn nested_run_break_all_ends_both_runs() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let idle = lp
            .idle(move |ctx, log: &mut Log, _id, _ev| {
                log.push(format!("idle@{}", ctx.depth()));
                if log.len() == 4 {
                    ctx.break_loop(Break::All);
                }
            })
            .unwrap();
        let outer = lp
            .timer(
                Duration::from_secs(3600),
                Duration::ZERO,
                |ctx, log: &mut Log, _id, _ev| {
                    log.push(format!("outer@{}", ctx.depth()));
                    ctx.run(log, RunMode::Default).unwrap();
                    log.push(format!("inner returned@{}", ctx.depth()));
                },
            )
            .unwrap();
        lp.start(idle).unwrap();
        lp.feed_event(outer, Events::CUSTOM).unwrap();
        let mut log = Log::new();
        assert!(
            lp.run(&mut log, RunMode::Default).unwrap(),
            "idle still active"
        );
        assert!(!dog.get(), "Break::All did not end the outer run");
        assert_eq!(
            log,
            ["outer@1", "idle@2", "idle@2", "idle@2", "inner returned@1"]
        );
        assert!(lp.is_active(idle));
        // A new run starts without the old break.
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log.last().unwrap(), "idle@1");
    });
}

#[test]
fn running_watcher_is_not_reentered_by_a_nested_run() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let clk = clock.clone();
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let t = lp
            .timer(ms(10), ms(10), move |ctx, log: &mut Log, _id, ev| {
                c.set(c.get() + 1);
                log.push(format!("timer {:?} @{}", ev, ctx.depth()));
                if c.get() == 1 {
                    // The timer expires again during the nested run.
                    clk.advance(ms(10));
                    ctx.run(log, RunMode::NoWait).unwrap();
                    log.push("nested returned".into());
                }
            })
            .unwrap();
        lp.start(t).unwrap();
        let mut log = Log::new();
        clock.advance(ms(10));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(
            log,
            [
                "timer Events(TIMER) @1",
                "nested returned",
                "timer Events(TIMER) @1"
            ],
            "the nested run must not call the running callback, and the event must come after it returns"
        );
    });
}

#[test]
fn deferred_event_of_running_watcher_is_dropped_when_it_stops_itself() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let clk = clock.clone();
        let t = lp
            .timer(ms(10), ms(10), move |ctx, log: &mut Log, id, _ev| {
                log.push(format!("timer @{}", ctx.depth()));
                if log.len() == 1 {
                    clk.advance(ms(10));
                    ctx.run(log, RunMode::NoWait).unwrap();
                    // The event the nested run collected happened before
                    // this stop: it must be dropped like a pending one.
                    ctx.stop(id).unwrap();
                }
            })
            .unwrap();
        lp.start(t).unwrap();
        let mut log = Log::new();
        clock.advance(ms(10));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(
            log,
            ["timer @1"],
            "a watcher stopped in its callback was called for an event from before the stop"
        );
    });
}

#[test]
fn held_back_event_is_pending_and_can_be_cleared() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let clk = clock.clone();
        let t = lp
            .timer(ms(10), ms(10), move |ctx, log: &mut Log, id, _ev| {
                log.push(format!("timer @{}", ctx.depth()));
                if log.len() == 1 {
                    clk.advance(ms(10));
                    ctx.run(log, RunMode::NoWait).unwrap();
                    // The nested run collected an expiry it could not
                    // deliver: it is pending, and clearing it drops it.
                    assert!(ctx.is_pending(id));
                    assert_eq!(ctx.clear_pending(id).unwrap(), Events::TIMER);
                    assert!(!ctx.is_pending(id));
                }
            })
            .unwrap();
        lp.start(t).unwrap();
        let mut log = Log::new();
        clock.advance(ms(10));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["timer @1"], "a cleared held-back event was delivered");
    });
}

// ------------------------------------------------------------ references

#[test]
fn keepalive_false_lets_run_return_while_watcher_stays_active() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let t = lp
            .timer(
                Duration::from_secs(10),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 1,
            )
            .unwrap();
        lp.start(t).unwrap();
        assert_eq!(lp.refs(), 1);
        lp.set_keepalive(t, false).unwrap();
        assert_eq!(lp.refs(), 0);
        let start = Instant::now();
        assert!(!lp.run(&mut 0, RunMode::Default).unwrap());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "run waited for the timer"
        );
        assert!(lp.is_active(t));
        // Stop/start keep the reference count in step.
        lp.stop(t).unwrap();
        assert_eq!(lp.refs(), 0);
        lp.start(t).unwrap();
        assert_eq!(lp.refs(), 0);
        lp.set_keepalive(t, true).unwrap();
        assert_eq!(lp.refs(), 1);
    });
}

#[test]
fn unref_lets_run_return_while_watcher_stays_active() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let t = lp
            .timer(
                Duration::from_secs(10),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 1,
            )
            .unwrap();
        lp.start(t).unwrap();
        lp.unref_loop();
        assert_eq!(lp.refs(), 0);
        let start = Instant::now();
        assert!(!lp.run(&mut 0, RunMode::Default).unwrap());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "run waited for the timer"
        );
        assert!(lp.is_active(t));
        lp.ref_loop();
        assert_eq!(lp.refs(), 1);
    });
}

#[test]
fn ref_loop_keeps_run_going_without_referenced_watchers() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        // A repeating timer that does not keep the loop alive; only the
        // extra reference does, until the timer drops it.
        let t = lp
            .timer(ms(1), ms(1), |ctx, n: &mut u32, _id, _ev| {
                *n += 1;
                if *n == 3 {
                    ctx.unref_loop();
                }
            })
            .unwrap();
        lp.start(t).unwrap();
        lp.set_keepalive(t, false).unwrap();
        lp.ref_loop();
        assert_eq!(lp.refs(), 1);
        let mut n = 0;
        assert!(!lp.run(&mut n, RunMode::Default).unwrap());
        assert!(!dog.get());
        assert_eq!(n, 3, "the reference must keep run going until dropped");
        assert!(lp.is_active(t));
    });
}

// ------------------------------------------------------------ iteration, pending, feeding

#[test]
fn iteration_counts_polls() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        assert_eq!(lp.iteration(), 0);
        for k in 1..=3 {
            lp.run(&mut 0, RunMode::NoWait).unwrap();
            assert_eq!(lp.iteration(), k);
        }
        // A Default run of 5 iterations (an idle stops itself on the 5th).
        counting_idle(&mut lp, |ctx, n, id| {
            if n == 5 {
                ctx.stop(id).unwrap();
            }
        });
        lp.run(&mut 0, RunMode::Default).unwrap();
        assert_eq!(lp.iteration(), 8);
    });
}

#[test]
fn feed_event_on_stopped_watcher_calls_it_with_the_fed_bits() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<Events>> = new_loop(b);
        let t = lp
            .timer(
                Duration::from_secs(1),
                Duration::ZERO,
                |_c, got: &mut Vec<Events>, _id, ev| got.push(ev),
            )
            .unwrap();
        assert!(!lp.is_active(t));
        lp.feed_event(t, Events::CUSTOM).unwrap();
        assert!(lp.is_pending(t));
        assert_eq!(lp.pending_count(), 1);
        lp.feed_event(t, Events::READ).unwrap();
        assert_eq!(lp.pending_count(), 1, "a second feed merges");
        let mut got = Vec::new();
        lp.run(&mut got, RunMode::NoWait).unwrap();
        assert_eq!(
            got,
            [Events::CUSTOM | Events::READ],
            "called once, bits OR-ed"
        );
        assert!(!lp.is_active(t), "feeding does not start the watcher");
        assert!(!lp.is_pending(t));
        assert_eq!(lp.pending_count(), 0);
        // invoke_pending flushes fed events without a run.
        lp.feed_event(t, Events::WRITE).unwrap();
        lp.invoke_pending(&mut got);
        assert_eq!(got, [Events::CUSTOM | Events::READ, Events::WRITE]);
        lp.remove(t).unwrap();
        assert!(matches!(
            lp.feed_event(t, Events::READ),
            Err(Error::StaleHandle)
        ));
    });
}

#[test]
fn clear_pending_returns_the_bits_and_prevents_the_call() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let a = sink(&mut lp, "a");
        let c = sink(&mut lp, "c");
        lp.feed_event(a, Events::READ).unwrap();
        lp.feed_event(c, Events::CUSTOM).unwrap();
        lp.feed_event(a, Events::WRITE).unwrap();
        assert_eq!(lp.pending_count(), 2);
        assert_eq!(lp.clear_pending(a).unwrap(), Events::READ | Events::WRITE);
        assert!(!lp.is_pending(a));
        assert_eq!(lp.pending_count(), 1);
        assert_eq!(lp.clear_pending(a).unwrap(), Events::empty());
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["c"]);
    });
}

#[test]
fn pending_count_inside_callbacks() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<usize>> = new_loop(b);
        let mut ids = Vec::new();
        for _ in 0..3 {
            let t = lp
                .timer(
                    Duration::from_secs(1),
                    Duration::ZERO,
                    |ctx, seen: &mut Vec<usize>, _id, _ev| seen.push(ctx.pending_count()),
                )
                .unwrap();
            ids.push(t);
        }
        for &t in &ids {
            lp.feed_event(t, Events::CUSTOM).unwrap();
        }
        assert_eq!(lp.pending_count(), 3);
        let mut seen = Vec::new();
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert_eq!(seen, [2, 1, 0]);
    });
}

// ------------------------------------------------------------ priorities

#[test]
fn pending_watchers_run_highest_priority_first() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<i8>> = new_loop(b);
        for p in [0i8, -2, 2, -1, 1] {
            let t = lp
                .timer(
                    Duration::from_secs(1),
                    Duration::ZERO,
                    move |_c, log: &mut Vec<i8>, _id, _ev| log.push(p),
                )
                .unwrap();
            lp.set_priority(t, prio(p)).unwrap();
            assert_eq!(lp.priority(t).unwrap().get(), p);
            lp.feed_event(t, Events::CUSTOM).unwrap();
        }
        let mut log = Vec::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, [2, 1, 0, -1, -2]);
    });
}

#[test]
fn invalid_priority_is_an_error() {
    assert!(matches!(Priority::new(3), Err(Error::InvalidArgument(_))));
    assert!(matches!(Priority::new(-3), Err(Error::InvalidArgument(_))));
    assert_eq!(Priority::new(2).unwrap(), Priority::MAX);
    assert_eq!(Priority::new(-2).unwrap(), Priority::MIN);
    assert_eq!(Priority::default(), Priority::DEFAULT);
}

#[test]
fn set_priority_while_pending_moves_the_event() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let a = sink(&mut lp, "a");
        let m = sink(&mut lp, "m");
        lp.set_priority(a, Priority::MAX).unwrap();
        lp.feed_event(a, Events::CUSTOM).unwrap();
        lp.feed_event(m, Events::CUSTOM).unwrap();
        lp.set_priority(a, Priority::MIN).unwrap();
        assert!(lp.is_pending(a), "the event survives the move");
        assert_eq!(lp.pending_count(), 2);
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["m", "a"]);
        // And upwards.
        log.clear();
        lp.feed_event(m, Events::CUSTOM).unwrap();
        lp.feed_event(a, Events::CUSTOM).unwrap();
        lp.set_priority(m, Priority::MAX).unwrap();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["m", "a"]);
    });
}

#[test]
fn callback_feeding_a_higher_priority_watcher_has_it_run_next() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let high = sink(&mut lp, "high");
        lp.set_priority(high, prio(1)).unwrap();
        let a = sink(&mut lp, "a");
        let feeder = lp
            .timer(
                Duration::from_secs(1),
                Duration::ZERO,
                move |ctx, log: &mut Log, _id, _ev| {
                    log.push("feeder".into());
                    ctx.feed_event(high, Events::CUSTOM).unwrap();
                },
            )
            .unwrap();
        let z = sink(&mut lp, "z");
        // Same priority: the most recently fed runs first: z, feeder, a.
        lp.feed_event(a, Events::CUSTOM).unwrap();
        lp.feed_event(feeder, Events::CUSTOM).unwrap();
        lp.feed_event(z, Events::CUSTOM).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["z", "feeder", "high", "a"]);
    });
}

// ------------------------------------------------------------ order within an iteration

#[test]
fn check_runs_before_idle_in_one_iteration() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let c = lp
            .check(|_c, log: &mut Log, _id, ev| {
                assert_eq!(ev, Events::CHECK);
                log.push("check".into())
            })
            .unwrap();
        let i = lp
            .idle(|_c, log: &mut Log, _id, ev| {
                assert_eq!(ev, Events::IDLE);
                log.push("idle".into())
            })
            .unwrap();
        lp.start(c).unwrap();
        lp.start(i).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["check", "idle"]);
    });
}

#[test]
fn timers_run_before_io_of_the_same_priority() {
    for_each_backend(|b| {
        let (a, mut peer) = UnixStream::pair().unwrap();
        peer.write_all(b"x").unwrap();
        let mut lp: Loop<Log> = new_loop(b);
        let io = lp
            .io(a, Events::READ, |_c, log: &mut Log, _id, ev| {
                assert_eq!(ev, Events::READ);
                log.push("io".into())
            })
            .unwrap();
        let t = lp
            .timer(
                Duration::ZERO,
                Duration::ZERO,
                |_c, log: &mut Log, _id, _ev| log.push("timer".into()),
            )
            .unwrap();
        lp.start(io).unwrap();
        lp.start(t).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["timer", "io"], "libev order: timers before io");
    });
}

#[test]
fn periodics_run_before_timers_of_the_same_priority() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let t = lp
            .timer(ms(10), Duration::ZERO, |_c, log: &mut Log, _id, _ev| {
                log.push("timer".into())
            })
            .unwrap();
        let p = lp
            .periodic(
                evloop::Schedule::At(UNIX_EPOCH + Duration::from_secs(1_700_000_000) + ms(10)),
                |_c, log: &mut Log, _id, _ev| log.push("periodic".into()),
            )
            .unwrap();
        lp.start(t).unwrap();
        lp.start(p).unwrap();
        let mut log = Log::new();
        clock.advance(ms(20));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["periodic", "timer"]);
    });
}

#[test]
fn prepare_runs_before_poll_and_check_after() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<(&'static str, u64)>> = new_loop(b);
        let p = lp
            .prepare(|ctx, log: &mut Vec<(&'static str, u64)>, _id, ev| {
                assert_eq!(ev, Events::PREPARE);
                log.push(("prepare", ctx.iteration()))
            })
            .unwrap();
        let c = lp
            .check(|ctx, log: &mut Vec<(&'static str, u64)>, _id, ev| {
                assert_eq!(ev, Events::CHECK);
                log.push(("check", ctx.iteration()))
            })
            .unwrap();
        lp.start(p).unwrap();
        lp.start(c).unwrap();
        let mut log = Vec::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        // iteration() counts polls: prepare sees the count before the poll,
        // check the count after it.
        assert_eq!(
            log,
            [("prepare", 0), ("check", 1), ("prepare", 1), ("check", 2)]
        );
    });
}

#[test]
fn events_fed_before_run_go_before_prepare() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let fed = sink(&mut lp, "fed");
        let p = lp
            .prepare(|_c, log: &mut Log, _id, _ev| log.push("prepare".into()))
            .unwrap();
        lp.start(p).unwrap();
        lp.feed_event(fed, Events::CUSTOM).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["fed", "prepare"]);
    });
}

#[test]
fn break_from_prepare_returns_before_polling() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let p = lp
            .prepare(|ctx, log: &mut Log, _id, _ev| {
                log.push("prepare".into());
                ctx.break_loop(Break::One);
            })
            .unwrap();
        let c = lp
            .check(|_c, log: &mut Log, _id, _ev| log.push("check".into()))
            .unwrap();
        lp.start(p).unwrap();
        lp.start(c).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::Default).unwrap();
        assert_eq!(log, ["prepare"]);
        assert_eq!(lp.iteration(), 0, "no poll after a break from prepare");
    });
}

// ------------------------------------------------------------ idle

fn idle_logging(lp: &mut Loop<Log>, name: &'static str, p: i8) -> IdleId {
    let i = lp
        .idle(move |_c, log: &mut Log, _id, _ev| log.push(name.to_string()))
        .unwrap();
    lp.set_priority(i, prio(p)).unwrap();
    lp.start(i).unwrap();
    i
}

#[test]
fn idle_does_not_run_while_equal_or_higher_priority_is_pending() {
    for_each_backend(|b| {
        for timer_prio in [0i8, 1] {
            let mut lp: Loop<Log> = new_loop(b);
            idle_logging(&mut lp, "idle", 0);
            let t = lp
                .timer(
                    Duration::ZERO,
                    Duration::ZERO,
                    |_c, log: &mut Log, _id, _ev| log.push("timer".into()),
                )
                .unwrap();
            lp.set_priority(t, prio(timer_prio)).unwrap();
            lp.start(t).unwrap();
            let mut log = Log::new();
            lp.run(&mut log, RunMode::NoWait).unwrap();
            assert_eq!(
                log,
                ["timer"],
                "idle ran with a timer of priority {timer_prio} pending"
            );
            lp.run(&mut log, RunMode::NoWait).unwrap();
            assert_eq!(log, ["timer", "idle"], "idle runs once nothing is pending");
        }
    });
}

#[test]
fn idle_runs_when_only_lower_priority_is_pending() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        idle_logging(&mut lp, "idle", 0);
        let t = lp
            .timer(
                Duration::ZERO,
                Duration::ZERO,
                |_c, log: &mut Log, _id, _ev| log.push("timer".into()),
            )
            .unwrap();
        lp.set_priority(t, prio(-1)).unwrap();
        lp.start(t).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["idle", "timer"]);
    });
}

#[test]
fn only_the_highest_priority_idle_level_runs() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let hi = idle_logging(&mut lp, "hi", 1);
        let hi2 = idle_logging(&mut lp, "hi2", 1);
        idle_logging(&mut lp, "lo", -1);
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        log.sort();
        assert_eq!(log, ["hi", "hi2"], "lower-priority idles must wait");
        lp.stop(hi).unwrap();
        lp.stop(hi2).unwrap();
        log.clear();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["lo"]);
        // Moving an active idle watcher to another priority moves it too.
        log.clear();
        lp.start(hi).unwrap();
        lp.set_priority(hi, prio(-2)).unwrap();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["lo"]);
    });
}

#[test]
fn active_idle_keeps_the_loop_from_blocking() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let t = lp
            .timer(
                Duration::from_secs(10),
                Duration::ZERO,
                |_c, _n: &mut u32, _id, _ev| {},
            )
            .unwrap();
        lp.start(t).unwrap();
        lp.set_keepalive(t, false).unwrap();
        counting_idle(&mut lp, |ctx, n, id| {
            if n == 100 {
                ctx.stop(id).unwrap();
            }
        });
        let before = lp.iteration();
        let start = Instant::now();
        let mut n = 0;
        assert!(!lp.run(&mut n, RunMode::Default).unwrap());
        assert!(!dog.get(), "the loop blocked with an idle watcher active");
        assert_eq!(n, 100);
        assert_eq!(lp.iteration() - before, 100, "one idle call per iteration");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the loop blocked with an idle watcher active ({:?})",
            start.elapsed()
        );
        assert!(lp.is_active(t));
    });
}

// ------------------------------------------------------------ watchers created by callbacks

#[test]
fn callback_creates_and_starts_new_watchers() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let spawner = lp
            .timer(ms(1), Duration::ZERO, |ctx, log: &mut Log, _id, _ev| {
                log.push("spawner".into());
                let t = ctx
                    .timer(ms(2), Duration::ZERO, |ctx, log: &mut Log, id, _ev| {
                        log.push("child timer".into());
                        ctx.remove(id).unwrap();
                    })
                    .unwrap();
                ctx.start(t).unwrap();
                let i = ctx
                    .idle(|ctx, log: &mut Log, id, _ev| {
                        log.push("child idle".into());
                        ctx.remove(id).unwrap();
                    })
                    .unwrap();
                ctx.start(i).unwrap();
            })
            .unwrap();
        lp.start(spawner).unwrap();
        let mut log = Log::new();
        assert!(!lp.run(&mut log, RunMode::Default).unwrap());
        assert!(!dog.get());
        assert_eq!(log, ["spawner", "child idle", "child timer"]);
    });
}

// ------------------------------------------------------------ collect intervals

#[test]
fn timeout_collect_interval_delays_a_timer_wakeup_to_the_interval() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        lp.set_timeout_collect_interval(Duration::from_millis(40));
        let t = lp
            .timer(
                Duration::from_millis(1),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 1,
            )
            .unwrap();
        lp.start(t).unwrap();
        let start = Instant::now();
        let mut n = 0;
        while n == 0 {
            lp.run(&mut n, RunMode::Once).unwrap();
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(40),
            "woke after {took:?}, before the collect interval"
        );
        assert!(took < Duration::from_secs(2), "took {took:?}");
    });
}

#[test]
fn io_collect_interval_sleeps_before_polling_but_not_past_a_timer() {
    for_each_backend(|b| {
        let (rx, mut tx) = UnixStream::pair().unwrap();
        let mut lp: Loop<u32> = new_loop(b);
        lp.set_io_collect_interval(Duration::from_millis(40));
        let io = lp
            .io(rx, Events::READ, |ctx, n: &mut u32, id, _ev| {
                *n += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.start(io).unwrap();
        // Data is ready at once, yet the next poll comes only an interval
        // after the previous one.
        let start = Instant::now();
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        tx.write_all(b"x").unwrap();
        lp.run(&mut n, RunMode::Once).unwrap();
        let took = start.elapsed();
        assert_eq!(n, 1);
        assert!(
            took >= Duration::from_millis(40),
            "polled after {took:?}, within the collect interval"
        );

        // A timer due sooner than the interval is not delayed by it.
        lp.set_io_collect_interval(Duration::from_secs(3));
        let t = lp
            .timer(
                Duration::from_millis(5),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 10,
            )
            .unwrap();
        lp.start(t).unwrap();
        let start = Instant::now();
        while n < 11 {
            lp.run(&mut n, RunMode::Once).unwrap();
        }
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "the timer waited for the io collect interval: {took:?}"
        );
    });
}
