//! Running the loop: run modes, breaks, nested runs, references, fed events,
//! priorities, the order of one iteration (libev's), idle rules, prepare and
//! check; the loop's extension slots and `Ctx::reborrow`. Every test runs
//! once per backend.

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
    lp.ctx()
        .new_timer(
            Duration::from_secs(3600),
            Duration::ZERO,
            move |_c, log: &mut Log, _id, _ev| log.push(name.to_string()),
        )
        .unwrap()
}

// ------------------------------------------------------------ run modes

/// A `Default` run returns at once with nothing active, and after the last
/// watcher (a one-shot timer) stopped.
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
            .ctx()
            .new_timer(ms(5), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.ctx().start(t).unwrap();
        let mut n = 0;
        assert!(!lp.run(&mut n, RunMode::Default).unwrap());
        assert!(
            !dog.get(),
            "run did not return after the last watcher stopped"
        );
        assert_eq!(n, 1);
        assert!(!lp.ctx().is_active(t));
    });
}

/// `NoWait` is one iteration that does not block, even with a timer active.
#[test]
fn nowait_does_not_block_even_with_a_far_timer() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let t = lp
            .ctx()
            .new_timer(
                Duration::from_secs(10),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 1,
            )
            .unwrap();
        lp.ctx().start(t).unwrap();
        let before = lp.ctx().iteration();
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
        assert_eq!(lp.ctx().iteration(), before + 1, "NoWait is one iteration");
        assert!(lp.ctx().is_active(t));
    });
}

/// `Once` blocks until something happens (a 20 ms timer), then returns
/// after exactly one iteration.
#[test]
fn once_blocks_until_an_event_and_does_one_iteration() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let _dog = watchdog(&mut lp, Duration::from_secs(5));
        let far = lp
            .ctx()
            .new_timer(
                Duration::from_secs(3600),
                Duration::ZERO,
                |_c, _n: &mut u32, _id, _ev| {},
            )
            .unwrap();
        lp.ctx().start(far).unwrap();
        let t = lp
            .ctx()
            .new_timer(ms(20), Duration::ZERO, |_c, n: &mut u32, _id, _ev| *n += 1)
            .unwrap();
        lp.ctx().start(t).unwrap();
        let before = lp.ctx().iteration();
        let start = lp.ctx().now();
        let mut n = 0;
        let more = lp.run(&mut n, RunMode::Once).unwrap();
        assert_eq!(n, 1, "Once must block until the 20 ms timer fired");
        assert!(Instant::now() >= start + ms(20));
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(lp.ctx().iteration(), before + 1, "exactly one iteration");
        assert!(more, "the far timer is still active");
    });
}

// ------------------------------------------------------------ breaks

/// An idle watcher that counts its calls in `*n` and calls `f` with the count.
fn counting_idle<F>(lp: &mut Loop<u32>, mut f: F) -> IdleId
where
    F: FnMut(&mut Ctx<'_, u32>, u32, IdleId) + 'static,
{
    let i = lp
        .ctx()
        .new_idle(move |ctx, n: &mut u32, id, _ev| {
            *n += 1;
            f(ctx, *n, id)
        })
        .unwrap();
    lp.ctx().start(i).unwrap();
    i
}

/// `Break::One` from a callback ends `run`; the break is consumed.
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
        assert!(lp.ctx().is_active(i));
        // The break was consumed: the next run iterates normally.
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 4);
    });
}

/// `Break::Cancel` withdraws a break that has not taken effect.
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

/// `Break::One` in a nested run ends only that run; `depth` tells the levels.
#[test]
fn nested_run_break_one_ends_only_the_inner_run() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        let idle = lp
            .ctx()
            .new_idle(move |ctx, log: &mut Log, id, _ev| {
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
            .ctx()
            .new_timer(
                Duration::from_secs(3600),
                Duration::ZERO,
                |ctx, log: &mut Log, _id, _ev| {
                    log.push(format!("outer@{}", ctx.depth()));
                    ctx.run(log, RunMode::Default).unwrap();
                    log.push(format!("inner returned@{}", ctx.depth()));
                },
            )
            .unwrap();
        lp.ctx().start(idle).unwrap();
        lp.ctx()
            .watcher(outer)
            .unwrap()
            .feed(Events::CUSTOM)
            .unwrap();
        let mut log = Log::new();
        assert_eq!(lp.ctx().depth(), 0);
        assert!(!lp.run(&mut log, RunMode::Default).unwrap());
        assert!(!dog.get());
        assert_eq!(lp.ctx().depth(), 0);
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

/// `Break::All` in a nested run ends the outer run too; the next run starts
/// without it.
#[test]
fn nested_run_break_all_ends_both_runs() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let idle = lp
            .ctx()
            .new_idle(move |ctx, log: &mut Log, _id, _ev| {
                log.push(format!("idle@{}", ctx.depth()));
                if log.len() == 4 {
                    ctx.break_loop(Break::All);
                }
            })
            .unwrap();
        let outer = lp
            .ctx()
            .new_timer(
                Duration::from_secs(3600),
                Duration::ZERO,
                |ctx, log: &mut Log, _id, _ev| {
                    log.push(format!("outer@{}", ctx.depth()));
                    ctx.run(log, RunMode::Default).unwrap();
                    log.push(format!("inner returned@{}", ctx.depth()));
                },
            )
            .unwrap();
        lp.ctx().start(idle).unwrap();
        lp.ctx()
            .watcher(outer)
            .unwrap()
            .feed(Events::CUSTOM)
            .unwrap();
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
        assert!(lp.ctx().is_active(idle));
        // A new run starts without the old break.
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log.last().unwrap(), "idle@1");
    });
}

/// A nested run does not call a callback that is running further up the
/// stack; the event it collected for it comes after that callback returns.
#[test]
fn running_watcher_is_not_reentered_by_a_nested_run() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let clk = clock.clone();
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        let t = lp
            .ctx()
            .new_timer(ms(10), ms(10), move |ctx, log: &mut Log, _id, ev| {
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
        lp.ctx().start(t).unwrap();
        let mut log = Log::new();
        // Strictly past the first deadline (at exactly 10 ms it is not due).
        clock.advance(ms(11));
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

/// An event held back for a running callback is dropped if the watcher
/// stops itself, like a pending one.
#[test]
fn deferred_event_of_running_watcher_is_dropped_when_it_stops_itself() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let clk = clock.clone();
        let t = lp
            .ctx()
            .new_timer(ms(10), ms(10), move |ctx, log: &mut Log, id, _ev| {
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
        lp.ctx().start(t).unwrap();
        let mut log = Log::new();
        // Strictly past the first deadline (at exactly 10 ms it is not due).
        clock.advance(ms(11));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(
            log,
            ["timer @1"],
            "a watcher stopped in its callback was called for an event from before the stop"
        );
    });
}

/// An event held back for a running callback counts as pending and
/// `clear_pending` drops it.
#[test]
fn held_back_event_is_pending_and_can_be_cleared() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let clk = clock.clone();
        let t = lp
            .ctx()
            .new_timer(ms(10), ms(10), move |ctx, log: &mut Log, id, _ev| {
                log.push(format!("timer @{}", ctx.depth()));
                if log.len() == 1 {
                    clk.advance(ms(10));
                    ctx.run(log, RunMode::NoWait).unwrap();
                    // The nested run collected an expiry it could not
                    // deliver: it is pending, and clearing it drops it.
                    assert!(ctx.watcher(id).unwrap().is_pending());
                    assert_eq!(ctx.watcher(id).unwrap().clear_pending(), Events::TIMER);
                    assert!(!ctx.watcher(id).unwrap().is_pending());
                }
            })
            .unwrap();
        lp.ctx().start(t).unwrap();
        let mut log = Log::new();
        // Strictly past the first deadline (at exactly 10 ms it is not due).
        clock.advance(ms(11));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["timer @1"], "a cleared held-back event was delivered");
    });
}

// ------------------------------------------------------------ references

/// `set_keepalive(false)` lets `run` return while the watcher stays
/// active; the reference count follows stop, start and keepalive.
#[test]
fn keepalive_false_lets_run_return_while_watcher_stays_active() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let t = lp
            .ctx()
            .new_timer(
                Duration::from_secs(10),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 1,
            )
            .unwrap();
        lp.ctx().start(t).unwrap();
        assert_eq!(lp.ctx().refs(), 1);
        lp.ctx().watcher(t).unwrap().set_keepalive(false);
        assert_eq!(lp.ctx().refs(), 0);
        let start = Instant::now();
        assert!(!lp.run(&mut 0, RunMode::Default).unwrap());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "run waited for the timer"
        );
        assert!(lp.ctx().is_active(t));
        // Stop/start keep the reference count in step.
        lp.ctx().stop(t).unwrap();
        assert_eq!(lp.ctx().refs(), 0);
        lp.ctx().start(t).unwrap();
        assert_eq!(lp.ctx().refs(), 0);
        lp.ctx().watcher(t).unwrap().set_keepalive(true);
        assert_eq!(lp.ctx().refs(), 1);
    });
}

/// `unref_loop` lets `run` return while a watcher is active; `ref_loop`
/// undoes it.
#[test]
fn unref_lets_run_return_while_watcher_stays_active() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let t = lp
            .ctx()
            .new_timer(
                Duration::from_secs(10),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 1,
            )
            .unwrap();
        lp.ctx().start(t).unwrap();
        lp.ctx().unref_loop();
        assert_eq!(lp.ctx().refs(), 0);
        let start = Instant::now();
        assert!(!lp.run(&mut 0, RunMode::Default).unwrap());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "run waited for the timer"
        );
        assert!(lp.ctx().is_active(t));
        lp.ctx().ref_loop();
        assert_eq!(lp.ctx().refs(), 1);
    });
}

/// An extra reference keeps `run` going with only unreferenced watchers,
/// until a callback drops it.
#[test]
fn ref_loop_keeps_run_going_without_referenced_watchers() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        // A repeating timer that does not keep the loop alive; only the
        // extra reference does, until the timer drops it.
        let t = lp
            .ctx()
            .new_timer(ms(1), ms(1), |ctx, n: &mut u32, _id, _ev| {
                *n += 1;
                if *n == 3 {
                    ctx.unref_loop();
                }
            })
            .unwrap();
        lp.ctx().start(t).unwrap();
        lp.ctx().watcher(t).unwrap().set_keepalive(false);
        lp.ctx().ref_loop();
        assert_eq!(lp.ctx().refs(), 1);
        let mut n = 0;
        assert!(!lp.run(&mut n, RunMode::Default).unwrap());
        assert!(!dog.get());
        assert_eq!(n, 3, "the reference must keep run going until dropped");
        assert!(lp.ctx().is_active(t));
    });
}

// ------------------------------------------------------------ iteration, pending, feeding

/// `iteration` counts polls: one per `NoWait` run, one per iteration of a
/// `Default` run.
#[test]
fn iteration_counts_polls() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        assert_eq!(lp.ctx().iteration(), 0);
        for k in 1..=3 {
            lp.run(&mut 0, RunMode::NoWait).unwrap();
            assert_eq!(lp.ctx().iteration(), k);
        }
        // A Default run of 5 iterations (an idle stops itself on the 5th).
        counting_idle(&mut lp, |ctx, n, id| {
            if n == 5 {
                ctx.stop(id).unwrap();
            }
        });
        lp.run(&mut 0, RunMode::Default).unwrap();
        assert_eq!(lp.ctx().iteration(), 8);
    });
}

/// Feeding a stopped watcher calls it once with the OR of the fed bits,
/// without starting it; a removed watcher's handle is stale.
#[test]
fn feed_event_on_stopped_watcher_calls_it_with_the_fed_bits() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<Events>> = new_loop(b);
        let t = lp
            .ctx()
            .new_timer(
                Duration::from_secs(1),
                Duration::ZERO,
                |_c, got: &mut Vec<Events>, _id, ev| got.push(ev),
            )
            .unwrap();
        assert!(!lp.ctx().is_active(t));
        lp.ctx().watcher(t).unwrap().feed(Events::CUSTOM).unwrap();
        assert!(lp.ctx().watcher(t).unwrap().is_pending());
        assert_eq!(lp.ctx().pending_count(), 1);
        lp.ctx().watcher(t).unwrap().feed(Events::READ).unwrap();
        assert_eq!(lp.ctx().pending_count(), 1, "a second feed merges");
        let mut got = Vec::new();
        lp.run(&mut got, RunMode::NoWait).unwrap();
        assert_eq!(
            got,
            [Events::CUSTOM | Events::READ],
            "called once, bits OR-ed"
        );
        assert!(!lp.ctx().is_active(t), "feeding does not start the watcher");
        assert!(!lp.ctx().watcher(t).unwrap().is_pending());
        assert_eq!(lp.ctx().pending_count(), 0);
        // invoke_pending flushes fed events without a run.
        lp.ctx().watcher(t).unwrap().feed(Events::WRITE).unwrap();
        lp.ctx().invoke_pending(&mut got);
        assert_eq!(got, [Events::CUSTOM | Events::READ, Events::WRITE]);
        lp.ctx().remove(t).unwrap();
        assert!(matches!(lp.ctx().watcher(t), Err(Error::StaleHandle)));
    });
}

/// `clear_pending` returns the pending bits and the callback does not run.
#[test]
fn clear_pending_returns_the_bits_and_prevents_the_call() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let a = sink(&mut lp, "a");
        let c = sink(&mut lp, "c");
        lp.ctx().watcher(a).unwrap().feed(Events::READ).unwrap();
        lp.ctx().watcher(c).unwrap().feed(Events::CUSTOM).unwrap();
        lp.ctx().watcher(a).unwrap().feed(Events::WRITE).unwrap();
        assert_eq!(lp.ctx().pending_count(), 2);
        assert_eq!(
            lp.ctx().watcher(a).unwrap().clear_pending(),
            Events::READ | Events::WRITE
        );
        assert!(!lp.ctx().watcher(a).unwrap().is_pending());
        assert_eq!(lp.ctx().pending_count(), 1);
        assert_eq!(
            lp.ctx().watcher(a).unwrap().clear_pending(),
            Events::empty()
        );
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["c"]);
    });
}

/// `pending_count` seen from callbacks counts down as they run.
#[test]
fn pending_count_inside_callbacks() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<usize>> = new_loop(b);
        let mut ids = Vec::new();
        for _ in 0..3 {
            let t = lp
                .ctx()
                .new_timer(
                    Duration::from_secs(1),
                    Duration::ZERO,
                    |ctx, seen: &mut Vec<usize>, _id, _ev| seen.push(ctx.pending_count()),
                )
                .unwrap();
            ids.push(t);
        }
        for &t in &ids {
            lp.ctx().watcher(t).unwrap().feed(Events::CUSTOM).unwrap();
        }
        assert_eq!(lp.ctx().pending_count(), 3);
        let mut seen = Vec::new();
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert_eq!(seen, [2, 1, 0]);
    });
}

// ------------------------------------------------------------ priorities

/// Pending watchers run highest priority first.
#[test]
fn pending_watchers_run_highest_priority_first() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<i8>> = new_loop(b);
        for p in [0i8, -2, 2, -1, 1] {
            let t = lp
                .ctx()
                .new_timer(
                    Duration::from_secs(1),
                    Duration::ZERO,
                    move |_c, log: &mut Vec<i8>, _id, _ev| log.push(p),
                )
                .unwrap();
            lp.ctx().watcher(t).unwrap().set_priority(prio(p));
            assert_eq!(lp.ctx().watcher(t).unwrap().priority().get(), p);
            lp.ctx().watcher(t).unwrap().feed(Events::CUSTOM).unwrap();
        }
        let mut log = Vec::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, [2, 1, 0, -1, -2]);
    });
}

/// Priorities outside -2..=2 are refused.
#[test]
fn invalid_priority_is_an_error() {
    assert!(matches!(Priority::new(3), Err(Error::InvalidArgument(_))));
    assert!(matches!(Priority::new(-3), Err(Error::InvalidArgument(_))));
    assert_eq!(Priority::new(2).unwrap(), Priority::MAX);
    assert_eq!(Priority::new(-2).unwrap(), Priority::MIN);
    assert_eq!(Priority::default(), Priority::DEFAULT);
}

/// Changing the priority of a pending watcher moves its event to the new
/// priority's queue, in both directions.
#[test]
fn set_priority_while_pending_moves_the_event() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let a = sink(&mut lp, "a");
        let m = sink(&mut lp, "m");
        lp.ctx().watcher(a).unwrap().set_priority(Priority::MAX);
        lp.ctx().watcher(a).unwrap().feed(Events::CUSTOM).unwrap();
        lp.ctx().watcher(m).unwrap().feed(Events::CUSTOM).unwrap();
        lp.ctx().watcher(a).unwrap().set_priority(Priority::MIN);
        assert!(
            lp.ctx().watcher(a).unwrap().is_pending(),
            "the event survives the move"
        );
        assert_eq!(lp.ctx().pending_count(), 2);
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["m", "a"]);
        // And upwards.
        log.clear();
        lp.ctx().watcher(m).unwrap().feed(Events::CUSTOM).unwrap();
        lp.ctx().watcher(a).unwrap().feed(Events::CUSTOM).unwrap();
        lp.ctx().watcher(m).unwrap().set_priority(Priority::MAX);
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["m", "a"]);
    });
}

/// A callback that feeds a higher-priority watcher has it run next; within
/// a priority, the most recently fed runs first.
#[test]
fn callback_feeding_a_higher_priority_watcher_has_it_run_next() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let high = sink(&mut lp, "high");
        lp.ctx().watcher(high).unwrap().set_priority(prio(1));
        let a = sink(&mut lp, "a");
        let feeder = lp
            .ctx()
            .new_timer(
                Duration::from_secs(1),
                Duration::ZERO,
                move |ctx, log: &mut Log, _id, _ev| {
                    log.push("feeder".into());
                    ctx.watcher(high).unwrap().feed(Events::CUSTOM).unwrap();
                },
            )
            .unwrap();
        let z = sink(&mut lp, "z");
        // Same priority: the most recently fed runs first: z, feeder, a.
        lp.ctx().watcher(a).unwrap().feed(Events::CUSTOM).unwrap();
        lp.ctx()
            .watcher(feeder)
            .unwrap()
            .feed(Events::CUSTOM)
            .unwrap();
        lp.ctx().watcher(z).unwrap().feed(Events::CUSTOM).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["z", "feeder", "high", "a"]);
    });
}

// ------------------------------------------------------------ order within an iteration

/// Within one iteration, check watchers run before idle watchers.
#[test]
fn check_runs_before_idle_in_one_iteration() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let c = lp
            .ctx()
            .new_check(|_c, log: &mut Log, _id, ev| {
                assert_eq!(ev, Events::CHECK);
                log.push("check".into())
            })
            .unwrap();
        let i = lp
            .ctx()
            .new_idle(|_c, log: &mut Log, _id, ev| {
                assert_eq!(ev, Events::IDLE);
                log.push("idle".into())
            })
            .unwrap();
        lp.ctx().start(c).unwrap();
        lp.ctx().start(i).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["check", "idle"]);
    });
}

/// Within one priority, timers run before io watchers (libev's order).
#[test]
fn timers_run_before_io_of_the_same_priority() {
    for_each_backend(|b| {
        let (a, mut peer) = UnixStream::pair().unwrap();
        peer.write_all(b"x").unwrap();
        let mut lp: Loop<Log> = new_loop(b);
        let io = lp
            .ctx()
            .new_io(a, Events::READ, |_c, log: &mut Log, _id, ev| {
                assert_eq!(ev, Events::READ);
                log.push("io".into())
            })
            .unwrap();
        let t = lp
            .ctx()
            .new_timer(
                Duration::ZERO,
                Duration::ZERO,
                |_c, log: &mut Log, _id, _ev| log.push("timer".into()),
            )
            .unwrap();
        lp.ctx().start(io).unwrap();
        lp.ctx().start(t).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["timer", "io"], "libev order: timers before io");
    });
}

/// Within one priority, periodics run before timers.
#[test]
fn periodics_run_before_timers_of_the_same_priority() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let t = lp
            .ctx()
            .new_timer(ms(10), Duration::ZERO, |_c, log: &mut Log, _id, _ev| {
                log.push("timer".into())
            })
            .unwrap();
        let p = lp
            .ctx()
            .new_periodic(
                evloop::Schedule::At(UNIX_EPOCH + Duration::from_secs(1_700_000_000) + ms(10)),
                |_c, log: &mut Log, _id, _ev| log.push("periodic".into()),
            )
            .unwrap();
        lp.ctx().start(t).unwrap();
        lp.ctx().start(p).unwrap();
        let mut log = Log::new();
        clock.advance(ms(20));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["periodic", "timer"]);
    });
}

/// Prepare watchers run before the poll, check watchers after it.
#[test]
fn prepare_runs_before_poll_and_check_after() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<(&'static str, u64)>> = new_loop(b);
        let p = lp
            .ctx()
            .new_prepare(|ctx, log: &mut Vec<(&'static str, u64)>, _id, ev| {
                assert_eq!(ev, Events::PREPARE);
                log.push(("prepare", ctx.iteration()))
            })
            .unwrap();
        let c = lp
            .ctx()
            .new_check(|ctx, log: &mut Vec<(&'static str, u64)>, _id, ev| {
                assert_eq!(ev, Events::CHECK);
                log.push(("check", ctx.iteration()))
            })
            .unwrap();
        lp.ctx().start(p).unwrap();
        lp.ctx().start(c).unwrap();
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

/// Events fed before `run` are delivered before the prepare watchers.
#[test]
fn events_fed_before_run_go_before_prepare() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let fed = sink(&mut lp, "fed");
        let p = lp
            .ctx()
            .new_prepare(|_c, log: &mut Log, _id, _ev| log.push("prepare".into()))
            .unwrap();
        lp.ctx().start(p).unwrap();
        lp.ctx().watcher(fed).unwrap().feed(Events::CUSTOM).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["fed", "prepare"]);
    });
}

/// A break from a prepare watcher returns before the loop polls.
#[test]
fn break_from_prepare_returns_before_polling() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let p = lp
            .ctx()
            .new_prepare(|ctx, log: &mut Log, _id, _ev| {
                log.push("prepare".into());
                ctx.break_loop(Break::One);
            })
            .unwrap();
        let c = lp
            .ctx()
            .new_check(|_c, log: &mut Log, _id, _ev| log.push("check".into()))
            .unwrap();
        lp.ctx().start(p).unwrap();
        lp.ctx().start(c).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::Default).unwrap();
        assert_eq!(log, ["prepare"]);
        assert_eq!(
            lp.ctx().iteration(),
            0,
            "no poll after a break from prepare"
        );
    });
}

// ------------------------------------------------------------ idle

fn idle_logging(lp: &mut Loop<Log>, name: &'static str, p: i8) -> IdleId {
    let i = lp
        .ctx()
        .new_idle(move |_c, log: &mut Log, _id, _ev| log.push(name.to_string()))
        .unwrap();
    lp.ctx().watcher(i).unwrap().set_priority(prio(p));
    lp.ctx().start(i).unwrap();
    i
}

/// An idle watcher does not run while a watcher of its priority or higher
/// is pending.
#[test]
fn idle_does_not_run_while_equal_or_higher_priority_is_pending() {
    for_each_backend(|b| {
        for timer_prio in [0i8, 1] {
            let mut lp: Loop<Log> = new_loop(b);
            idle_logging(&mut lp, "idle", 0);
            let t = lp
                .ctx()
                .new_timer(
                    Duration::ZERO,
                    Duration::ZERO,
                    |_c, log: &mut Log, _id, _ev| log.push("timer".into()),
                )
                .unwrap();
            lp.ctx().watcher(t).unwrap().set_priority(prio(timer_prio));
            lp.ctx().start(t).unwrap();
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

/// An idle watcher runs when only lower priorities are pending.
#[test]
fn idle_runs_when_only_lower_priority_is_pending() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        idle_logging(&mut lp, "idle", 0);
        let t = lp
            .ctx()
            .new_timer(
                Duration::ZERO,
                Duration::ZERO,
                |_c, log: &mut Log, _id, _ev| log.push("timer".into()),
            )
            .unwrap();
        lp.ctx().watcher(t).unwrap().set_priority(prio(-1));
        lp.ctx().start(t).unwrap();
        let mut log = Log::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["idle", "timer"]);
    });
}

/// Only the idle watchers of the highest priority that has any run;
/// moving an active idle watcher to another priority moves it.
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
        lp.ctx().stop(hi).unwrap();
        lp.ctx().stop(hi2).unwrap();
        log.clear();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["lo"]);
        // Moving an active idle watcher to another priority moves it too.
        log.clear();
        lp.ctx().start(hi).unwrap();
        lp.ctx().watcher(hi).unwrap().set_priority(prio(-2));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["lo"]);
    });
}

/// An active idle watcher keeps the loop from blocking on a far timer.
#[test]
fn active_idle_keeps_the_loop_from_blocking() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let t = lp
            .ctx()
            .new_timer(
                Duration::from_secs(10),
                Duration::ZERO,
                |_c, _n: &mut u32, _id, _ev| {},
            )
            .unwrap();
        lp.ctx().start(t).unwrap();
        lp.ctx().watcher(t).unwrap().set_keepalive(false);
        counting_idle(&mut lp, |ctx, n, id| {
            if n == 100 {
                ctx.stop(id).unwrap();
            }
        });
        let before = lp.ctx().iteration();
        let start = Instant::now();
        let mut n = 0;
        assert!(!lp.run(&mut n, RunMode::Default).unwrap());
        assert!(!dog.get(), "the loop blocked with an idle watcher active");
        assert_eq!(n, 100);
        assert_eq!(
            lp.ctx().iteration() - before,
            100,
            "one idle call per iteration"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the loop blocked with an idle watcher active ({:?})",
            start.elapsed()
        );
        assert!(lp.ctx().is_active(t));
    });
}

// ------------------------------------------------------------ watchers created by callbacks

/// Watchers created and started by a callback run in later iterations.
#[test]
fn callback_creates_and_starts_new_watchers() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (dog, _) = watchdog(&mut lp, Duration::from_secs(5));
        let spawner = lp
            .ctx()
            .new_timer(ms(1), Duration::ZERO, |ctx, log: &mut Log, _id, _ev| {
                log.push("spawner".into());
                let t = ctx
                    .new_timer(ms(2), Duration::ZERO, |ctx, log: &mut Log, id, _ev| {
                        log.push("child timer".into());
                        ctx.remove(id).unwrap();
                    })
                    .unwrap();
                ctx.start(t).unwrap();
                let i = ctx
                    .new_idle(|ctx, log: &mut Log, id, _ev| {
                        log.push("child idle".into());
                        ctx.remove(id).unwrap();
                    })
                    .unwrap();
                ctx.start(i).unwrap();
            })
            .unwrap();
        lp.ctx().start(spawner).unwrap();
        let mut log = Log::new();
        assert!(!lp.run(&mut log, RunMode::Default).unwrap());
        assert!(!dog.get());
        assert_eq!(log, ["spawner", "child idle", "child timer"]);
    });
}

// ------------------------------------------------------------ collect intervals

/// The timeout collect interval delays a timer wake-up to the interval.
#[test]
fn timeout_collect_interval_delays_a_timer_wakeup_to_the_interval() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        lp.ctx()
            .set_timeout_collect_interval(Duration::from_millis(40));
        let t = lp
            .ctx()
            .new_timer(
                Duration::from_millis(1),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 1,
            )
            .unwrap();
        lp.ctx().start(t).unwrap();
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

/// The io collect interval delays polling, but not past a due timer.
#[test]
fn io_collect_interval_sleeps_before_polling_but_not_past_a_timer() {
    for_each_backend(|b| {
        let (rx, mut tx) = UnixStream::pair().unwrap();
        let mut lp: Loop<u32> = new_loop(b);
        lp.ctx().set_io_collect_interval(Duration::from_millis(40));
        let io = lp
            .ctx()
            .new_io(rx, Events::READ, |ctx, n: &mut u32, id, _ev| {
                *n += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.ctx().start(io).unwrap();
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
        lp.ctx().set_io_collect_interval(Duration::from_secs(3));
        let t = lp
            .ctx()
            .new_timer(
                Duration::from_millis(5),
                Duration::ZERO,
                |_c, n: &mut u32, _id, _ev| *n += 10,
            )
            .unwrap();
        lp.ctx().start(t).unwrap();
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

// ------------------------------------------------------------ extension slots

/// A library's per-loop state, as tests use it.
#[derive(Debug, Default, PartialEq)]
struct Counter {
    n: u32,
}

/// Another type: a slot of its own.
#[derive(Debug, PartialEq)]
struct Name(&'static str);

/// One value per type: inserting replaces (and returns) the old value of
/// that type only; `ext`, `ext_mut`, `remove_ext` and `ext_or_default` all
/// address the value by its type.
#[test]
fn ext_slots_hold_one_value_per_type() {
    for_each_backend(|b| {
        let mut lp: Loop<()> = new_loop(b);
        let mut ctx = lp.ctx();
        assert_eq!(ctx.ext::<Counter>(), None);
        assert_eq!(ctx.insert_ext(Counter { n: 1 }), None);
        assert_eq!(ctx.insert_ext(Name("first")), None);
        assert_eq!(
            ctx.insert_ext(Counter { n: 2 }),
            Some(Counter { n: 1 }),
            "the old value of the same type comes back"
        );
        assert_eq!(ctx.ext::<Counter>(), Some(&Counter { n: 2 }));
        assert_eq!(
            ctx.ext::<Name>(),
            Some(&Name("first")),
            "other types untouched"
        );
        assert_eq!(ctx.ext::<u64>(), None);

        ctx.ext_mut::<Counter>().unwrap().n += 40;
        assert_eq!(ctx.ext::<Counter>().map(|c| c.n), Some(42));
        assert!(ctx.ext_mut::<u64>().is_none());

        // ext_or_default inserts only when there is none.
        assert_eq!(ctx.ext_or_default::<Counter>().n, 42);
        *ctx.ext_or_default::<u64>() += 7;
        *ctx.ext_or_default::<u64>() += 1;
        assert_eq!(ctx.ext::<u64>(), Some(&8));

        assert_eq!(ctx.remove_ext::<Counter>(), Some(Counter { n: 42 }));
        assert_eq!(ctx.remove_ext::<Counter>(), None);
        assert_eq!(ctx.ext::<Counter>(), None);
        assert_eq!(ctx.ext::<Name>(), Some(&Name("first")));
        assert_eq!(ctx.ext::<u64>(), Some(&8));
        assert_eq!(ctx.ext_or_default::<Counter>(), &mut Counter { n: 0 });
    });
}

/// Each loop has its own slots: a value in one loop is not seen by another.
#[test]
fn ext_slots_are_separate_per_loop() {
    for_each_backend(|b| {
        let mut a: Loop<()> = new_loop(b);
        let mut c: Loop<()> = new_loop(b);
        a.ctx().insert_ext(Counter { n: 1 });
        assert_eq!(c.ctx().ext::<Counter>(), None);
        c.ctx().ext_or_default::<Counter>().n = 5;
        assert_eq!(a.ctx().ext::<Counter>(), Some(&Counter { n: 1 }));
        assert_eq!(c.ctx().remove_ext::<Counter>(), Some(Counter { n: 5 }));
        assert_eq!(a.ctx().ext::<Counter>(), Some(&Counter { n: 1 }));
    });
}

/// Callbacks reach the loop's slots: one counts in a value inserted from
/// outside, another inserts a value that the outside then sees; a nested
/// loop's callbacks see that loop's values.
#[test]
fn ext_slots_are_reachable_from_callbacks() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<u32>>(b);
        let mut ctx = lp.ctx();
        ctx.insert_ext(Counter::default());
        let t = ctx
            .new_timer(ms(1), ms(1), |ctx, seen, id, _ev| {
                let c = ctx.ext_mut::<Counter>().expect("inserted before run");
                c.n += 1;
                seen.push(c.n);
                if c.n == 3 {
                    ctx.stop(id).unwrap();
                    assert_eq!(ctx.insert_ext(Name("from a callback")), None);
                }
            })
            .unwrap();
        ctx.start(t).unwrap();
        let mut seen = Vec::new();
        for _ in 0..5 {
            clock.advance(ms(2));
            lp.run(&mut seen, RunMode::NoWait).unwrap();
        }
        assert_eq!(seen, [1, 2, 3]);
        let ctx = lp.ctx();
        assert_eq!(ctx.ext::<Counter>(), Some(&Counter { n: 3 }));
        assert_eq!(ctx.ext::<Name>(), Some(&Name("from a callback")));
    });
}

/// Records its own drop in a shared trace.
struct Noted {
    trace: Rc<std::cell::RefCell<Vec<&'static str>>>,
    name: &'static str,
}

impl Drop for Noted {
    fn drop(&mut self) {
        self.trace.borrow_mut().push(self.name);
    }
}

/// The loop keeps its values until it is dropped; then they are dropped
/// after the cleanup watchers ran (which can still reach them) and before
/// the watchers' closures. A value taken out with `remove_ext` is the
/// caller's.
#[test]
fn ext_values_are_dropped_with_the_loop_after_cleanup_watchers() {
    for_each_backend(|b| {
        let trace = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut lp: Loop<()> = new_loop(b);
        let mut ctx = lp.ctx();
        ctx.insert_ext(Noted {
            trace: trace.clone(),
            name: "replaced dropped",
        });
        ctx.insert_ext(Counter { n: 9 });
        let old = ctx.insert_ext(Noted {
            trace: trace.clone(),
            name: "ext dropped",
        });
        // The replaced value is handed back: the caller's to drop.
        assert!(old.is_some());
        assert!(trace.borrow().is_empty());
        drop(old);
        assert_eq!(*trace.borrow(), ["replaced dropped"]);
        trace.borrow_mut().clear();

        let tr = trace.clone();
        let cleanup = ctx
            .new_cleanup(move |ctx, _id| {
                assert!(ctx.ext::<Noted>().is_some(), "still there in cleanup");
                assert_eq!(ctx.ext::<Counter>(), Some(&Counter { n: 9 }));
                tr.borrow_mut().push("cleanup ran");
            })
            .unwrap();
        ctx.start(cleanup).unwrap();
        let guard = Noted {
            trace: trace.clone(),
            name: "watcher closure dropped",
        };
        let t = ctx
            .new_timer(
                Duration::from_secs(60),
                Duration::ZERO,
                move |_, _, _, _| {
                    let _keep = &guard;
                },
            )
            .unwrap();
        ctx.start(t).unwrap();
        lp.run(&mut (), RunMode::NoWait).unwrap();
        assert!(
            trace.borrow().is_empty(),
            "nothing dropped while the loop lives"
        );
        drop(lp);
        assert_eq!(
            *trace.borrow(),
            ["cleanup ran", "ext dropped", "watcher closure dropped"]
        );
    });
}

// ------------------------------------------------------------ Ctx::reborrow

/// A library's view type that holds a `Ctx` by value, as evloop-buffer's
/// streams do.
struct Tally<'a> {
    ctx: Ctx<'a, Log>,
}

impl Tally<'_> {
    /// Counts in the loop's `Counter` and makes a timer that logs `name`.
    fn add(&mut self, name: &'static str) -> TimerId {
        self.ctx.ext_or_default::<Counter>().n += 1;
        let t = self
            .ctx
            .new_timer(
                Duration::ZERO,
                Duration::ZERO,
                move |_c, log: &mut Log, _id, _ev| log.push(name.into()),
            )
            .unwrap();
        self.ctx.start(t).unwrap();
        t
    }
}

/// `reborrow` makes short-lived `Ctx` values of the same loop from a
/// `&mut Ctx`, outside callbacks and inside, for view types that hold one;
/// the original `Ctx` is usable again afterwards.
#[test]
fn reborrow_lends_the_same_loop_to_view_types() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let mut ctx = lp.ctx();
        let id = ctx.loop_id();
        let first = Tally {
            ctx: ctx.reborrow(),
        }
        .add("outside 1");
        let second = {
            let mut tally = Tally {
                ctx: ctx.reborrow(),
            };
            assert_eq!(tally.ctx.loop_id(), id);
            tally.add("outside 2")
        };
        // The original is usable again, and sees what the views did.
        assert!(ctx.is_active(first) && ctx.is_active(second));
        assert_eq!(ctx.ext::<Counter>(), Some(&Counter { n: 2 }));
        let spawner = ctx
            .new_timer(ms(5), Duration::ZERO, |ctx, log: &mut Log, _id, _ev| {
                log.push("spawner".into());
                let t = Tally {
                    ctx: ctx.reborrow(),
                }
                .add("inside");
                assert!(ctx.is_active(t));
                assert_eq!(ctx.ext::<Counter>(), Some(&Counter { n: 3 }));
            })
            .unwrap();
        ctx.start(spawner).unwrap();
        let mut log = Log::new();
        clock.advance(ms(1));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        log.sort();
        assert_eq!(log, ["outside 1", "outside 2"]);
        clock.advance(ms(5));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        clock.advance(ms(1));
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log[2..], ["spawner", "inside"]);
        assert_eq!(lp.ctx().watcher_count().active, 0);
    });
}
