//! Integration tests for watcher handles and callbacks: stale handles,
//! slot reuse, removing and creating watchers from callbacks, panics.
//! Every test runs once per supported backend.

mod common;

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use common::{for_each_backend, new_loop, run_default};
use evloop::{Error, Events, IoId, Loop, Priority, RunMode, TimerId};

/// A shared, ordered record of what happened; `Rc` so that Drop guards
/// inside closures can write to it too.
type Trace = Rc<RefCell<Vec<String>>>;

fn trace() -> Trace {
    Rc::new(RefCell::new(Vec::new()))
}

fn note(t: &Trace, what: impl Into<String>) {
    t.borrow_mut().push(what.into());
}

fn snapshot(t: &Trace) -> Vec<String> {
    t.borrow().clone()
}

/// Records its own drop.
struct DropGuard {
    trace: Trace,
    name: &'static str,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        note(&self.trace, format!("{} dropped", self.name));
    }
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

macro_rules! assert_stale {
    ($e:expr) => {
        match $e {
            Err(Error::StaleHandle) => {}
            other => panic!("{}: expected StaleHandle, got {:?}", stringify!($e), other),
        }
    };
}

/// Every call with a stale io handle fails with `StaleHandle` and changes
/// nothing.
fn check_stale_io<T>(lp: &mut Loop<T>, id: IoId) {
    assert!(!lp.contains(id));
    assert!(!lp.is_active(id));
    assert!(!lp.is_pending(id));
    assert_stale!(lp.start(id));
    assert_stale!(lp.stop(id));
    assert_stale!(lp.remove(id));
    assert_stale!(lp.set_priority(id, Priority::MAX));
    assert_stale!(lp.priority(id));
    assert_stale!(lp.feed_event(id, Events::READ));
    assert_stale!(lp.clear_pending(id));
    assert_stale!(lp.set_keepalive(id, false));
    assert_stale!(lp.io_fd(id));
    assert_stale!(lp.io_interest(id));
    assert_stale!(lp.set_io_interest(id, Events::WRITE));
    assert_stale!(lp.io_source::<UnixStream>(id).map(|_| ()));
    assert_stale!(lp.io_source_mut::<UnixStream>(id).map(|_| ()));
    let (s, _p) = pair();
    assert_stale!(lp.set_io_source(id, s).map(|_| ()));
    // SAFETY: fails on the stale handle; fd 0 is never watched.
    assert_stale!(unsafe { lp.set_io_raw_fd(id, 0) }.map(|_| ()));
}

fn check_stale_timer<T>(lp: &mut Loop<T>, id: TimerId) {
    assert!(!lp.contains(id));
    assert!(!lp.is_active(id));
    assert!(!lp.is_pending(id));
    assert_stale!(lp.start(id));
    assert_stale!(lp.stop(id));
    assert_stale!(lp.remove(id));
    assert_stale!(lp.set_priority(id, Priority::MIN));
    assert_stale!(lp.priority(id));
    assert_stale!(lp.feed_event(id, Events::TIMER));
    assert_stale!(lp.clear_pending(id));
    assert_stale!(lp.set_keepalive(id, false));
    assert_stale!(lp.set_timer(id, Duration::ZERO, Duration::ZERO));
    assert_stale!(lp.set_timer_repeat(id, Duration::ZERO));
    assert_stale!(lp.timer_repeat(id));
    assert_stale!(lp.timer_again(id));
    assert_stale!(lp.timer_again_with(id, Duration::from_millis(1)));
    assert_stale!(lp.timer_remaining(id));
}

#[test]
fn stale_handles_after_remove() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (s, _p) = pair();
        let io = lp.io(s, Events::READ, |_, n, _, _| *n += 1).unwrap();
        let t = lp
            .timer(Duration::ZERO, Duration::ZERO, |_, n, _, _| *n += 100)
            .unwrap();
        lp.start(io).unwrap();
        lp.start(t).unwrap();
        lp.feed_event(io, Events::READ).unwrap();
        assert_eq!(lp.refs(), 2);
        lp.remove(io).unwrap();
        lp.remove(t).unwrap();
        assert_eq!(lp.refs(), 0, "remove releases the references");
        assert_eq!(lp.pending_count(), 0, "remove drops the pending event");
        check_stale_io(&mut lp, io);
        check_stale_timer(&mut lp, t);
        // Nothing ran, and run has nothing to wait for.
        let mut n = 0;
        assert!(!run_default(&mut lp, &mut n).unwrap());
        assert_eq!(n, 0);
    });
}

#[test]
fn stale_handle_does_not_act_on_the_watcher_reusing_its_slot() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<&'static str>> = new_loop(b);
        let (s, _p) = pair();
        let old = lp.io(s, Events::READ, |_, l, _, _| l.push("old")).unwrap();
        lp.remove(old).unwrap();
        // slotmap hands the freed slot to the next watcher.
        let (s2, _p2) = pair();
        let new = lp
            .io(s2, Events::WRITE, |_, l, _, _| l.push("new"))
            .unwrap();
        assert_ne!(old, new, "handles differ even when the slot is reused");
        lp.start(new).unwrap();

        check_stale_io(&mut lp, old);

        // The new watcher is untouched by all of that.
        assert!(lp.contains(new));
        assert!(lp.is_active(new));
        assert_eq!(lp.priority(new).unwrap(), Priority::DEFAULT);
        assert_eq!(lp.io_interest(new).unwrap(), Events::WRITE);
        assert!(!lp.is_pending(new), "feed_event on the old handle leaked");
        assert_eq!(lp.refs(), 1);
        let mut log = Vec::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["new"]);
    });
}

#[test]
fn stale_handle_of_another_kind_in_the_same_slot() {
    // A timer takes the slot an io watcher had: the io handle is stale, and
    // io calls on it do not touch the timer.
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (s, _p) = pair();
        let io = lp.io(s, Events::READ, |_, _, _, _| {}).unwrap();
        lp.remove(io).unwrap();
        let t = lp
            .timer(Duration::from_secs(100), Duration::ZERO, |_, _, _, _| {})
            .unwrap();
        lp.start(t).unwrap();
        check_stale_io(&mut lp, io);
        assert!(lp.is_active(t));
        assert!(lp.timer_remaining(t).unwrap().is_some());
        lp.remove(t).unwrap();
    });
}

#[test]
fn remove_self_in_callback_drops_closure_after_it_returns() {
    for_each_backend(|b| {
        let tr = trace();
        let mut lp: Loop<()> = new_loop(b);
        let (s, mut peer) = pair();
        let guard = DropGuard {
            trace: tr.clone(),
            name: "closure",
        };
        let t2 = tr.clone();
        let id = lp
            .io(s, Events::READ, move |ctx, _, id, _| {
                let _keep = &guard; // captured by the closure
                note(&t2, "body start");
                ctx.remove(id).unwrap();
                // The handle is stale at once, even in its own callback.
                assert!(!ctx.contains(id));
                assert_stale!(ctx.start(id));
                assert_stale!(ctx.remove(id));
                note(&t2, "body end");
            })
            .unwrap();
        lp.start(id).unwrap();
        peer.write_all(b"x").unwrap();
        assert!(!run_default(&mut lp, &mut ()).unwrap());
        assert_eq!(
            snapshot(&tr),
            ["body start", "body end", "closure dropped"],
            "dropped once, after the body"
        );
        // Not called or dropped again later (the socket it owned is closed:
        // the peer sees EOF).
        lp.run(&mut (), RunMode::NoWait).unwrap();
        drop(lp);
        assert_eq!(snapshot(&tr).len(), 3);
    });
}

#[test]
fn remove_self_timer_in_callback() {
    for_each_backend(|b| {
        let tr = trace();
        let mut lp: Loop<()> = new_loop(b);
        let guard = DropGuard {
            trace: tr.clone(),
            name: "timer closure",
        };
        let t2 = tr.clone();
        let id = lp
            .timer(
                Duration::ZERO,
                Duration::from_millis(1),
                move |ctx, _, id, _| {
                    let _keep = &guard;
                    note(&t2, "tick");
                    ctx.remove(id).unwrap();
                    note(&t2, "tick end");
                },
            )
            .unwrap();
        lp.start(id).unwrap();
        assert!(!run_default(&mut lp, &mut ()).unwrap());
        assert_eq!(snapshot(&tr), ["tick", "tick end", "timer closure dropped"]);
    });
}

#[test]
fn remove_other_watcher_from_callback() {
    for_each_backend(|b| {
        let tr = trace();
        let mut lp: Loop<Vec<IoId>> = new_loop(b);
        let mut peers = Vec::new();
        let mut ids = Vec::new();
        for name in ["A", "B"] {
            let (s, mut p) = pair();
            p.write_all(b"x").unwrap();
            peers.push(p);
            let guard = DropGuard {
                trace: tr.clone(),
                name,
            };
            let t2 = tr.clone();
            let id = lp
                .io(s, Events::READ, move |ctx, ids: &mut Vec<IoId>, id, _| {
                    let _keep = &guard;
                    note(&t2, format!("{name} start"));
                    for &other in ids.iter().filter(|&&o| o != id) {
                        if ctx.contains(other) {
                            ctx.remove(other).unwrap();
                        }
                    }
                    note(&t2, format!("{name} end"));
                    ctx.remove(id).unwrap();
                })
                .unwrap();
            lp.start(id).unwrap();
            ids.push(id);
        }
        let mut state = ids.clone();
        assert!(!run_default(&mut lp, &mut state).unwrap());
        let got = snapshot(&tr);
        // Whichever ran first removed the other, whose closure was dropped
        // right then (it was not running), and which never ran.
        let (first, second) = if got[0] == "A start" {
            ("A", "B")
        } else {
            ("B", "A")
        };
        assert_eq!(
            got,
            [
                format!("{first} start"),
                format!("{second} dropped"),
                format!("{first} end"),
                format!("{first} dropped"),
            ]
        );
        for id in ids {
            assert!(!lp.contains(id));
        }
    });
}

#[test]
fn remove_watcher_of_other_kind_from_callback() {
    // An io callback removes a due timer whose event is already pending.
    for_each_backend(|b| {
        let mut lp: Loop<Vec<&'static str>> = new_loop(b);
        let t = lp
            .timer(Duration::ZERO, Duration::ZERO, |_, l, _, _| l.push("timer"))
            .unwrap();
        lp.start(t).unwrap();
        let (s, _p) = pair();
        let io = lp
            .io(s, Events::WRITE, move |ctx, l, id, _| {
                l.push("io");
                assert!(ctx.is_pending(t));
                ctx.remove(t).unwrap();
                ctx.remove(id).unwrap();
            })
            .unwrap();
        lp.set_priority(io, Priority::MAX).unwrap();
        lp.start(io).unwrap();
        let mut log = Vec::new();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert_eq!(log, ["io"]);
    });
}

#[test]
fn create_watchers_from_callbacks() {
    // A timer creates an io watcher, whose callback creates a timer, whose
    // callback creates an io watcher: each new one runs in a later iteration.
    for_each_backend(|b| {
        let mut lp: Loop<Vec<String>> = new_loop(b);
        let t = lp
            .timer(Duration::ZERO, Duration::ZERO, |ctx, log, id, ev| {
                log.push(format!("timer1 {ev:?}"));
                ctx.remove(id).unwrap();
                let (s, _p) = pair();
                let io = ctx
                    .io(s, Events::WRITE, |ctx, log, id, ev| {
                        log.push(format!("io1 {ev:?}"));
                        ctx.remove(id).unwrap();
                        let t2 = ctx
                            .timer(
                                Duration::from_millis(1),
                                Duration::ZERO,
                                |ctx, log, _, ev| {
                                    log.push(format!("timer2 {ev:?}"));
                                    let (s, mut p) = pair();
                                    p.write_all(b"z").unwrap();
                                    let io2 = ctx
                                        .io(s, Events::READ, move |ctx, log, id, ev| {
                                            let _peer = &p;
                                            log.push(format!("io2 {ev:?}"));
                                            ctx.remove(id).unwrap();
                                        })
                                        .unwrap();
                                    ctx.start(io2).unwrap();
                                    assert!(!ctx.is_pending(io2));
                                },
                            )
                            .unwrap();
                        ctx.start(t2).unwrap();
                    })
                    .unwrap();
                ctx.start(io).unwrap();
                // Not run within the iteration that created it.
                assert!(!ctx.is_pending(io));
            })
            .unwrap();
        lp.start(t).unwrap();
        let mut log = Vec::new();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert_eq!(
            log,
            [
                "timer1 Events(TIMER)",
                "io1 Events(WRITE)",
                "timer2 Events(TIMER)",
                "io2 Events(READ)"
            ]
        );
    });
}

#[test]
fn created_watchers_are_stopped_until_started() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<IoId>> = new_loop(b);
        let (s, _p) = pair();
        let creator = lp
            .io(s, Events::WRITE, |ctx, made, id, _| {
                let (s, _p) = pair();
                let w = ctx
                    .io(s, Events::WRITE, |_, _, _, _| panic!("never started"))
                    .unwrap();
                assert!(!ctx.is_active(w));
                made.push(w);
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.start(creator).unwrap();
        let mut made = Vec::new();
        assert!(!run_default(&mut lp, &mut made).unwrap());
        assert_eq!(made.len(), 1);
        assert!(lp.contains(made[0]));
        assert!(!lp.is_active(made[0]));
    });
}

// ------------------------------------------------------------------ panics

#[derive(Default)]
struct PanicState {
    x_calls: u32,
    y_events: Vec<Events>,
}

#[test]
fn panic_in_callback_propagates_and_loop_stays_usable() {
    for_each_backend(|b| {
        let mut lp: Loop<PanicState> = new_loop(b);
        let (sx, mut px) = pair();
        let (sy, mut py) = pair();
        let x = lp
            .io(sx, Events::READ, |_, st: &mut PanicState, _, _| {
                st.x_calls += 1;
                if st.x_calls == 1 {
                    panic!("boom from x");
                }
            })
            .unwrap();
        let y = lp
            .io(sy, Events::READ, |ctx, st: &mut PanicState, id, ev| {
                st.y_events.push(ev);
                ctx.stop(id).unwrap();
            })
            .unwrap();
        // x runs first in the iteration, so y is still pending when x panics.
        lp.set_priority(x, Priority::MAX).unwrap();
        lp.start(x).unwrap();
        lp.start(y).unwrap();
        px.write_all(b"x").unwrap();
        py.write_all(b"y").unwrap();

        let mut st = PanicState::default();
        let r = panic::catch_unwind(AssertUnwindSafe(|| lp.run(&mut st, RunMode::Default)));
        let payload = r.expect_err("the panic must propagate out of run");
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert_eq!(msg, "boom from x", "the original payload");
        assert_eq!(st.x_calls, 1);
        assert!(st.y_events.is_empty());
        // Consistent afterwards.
        assert_eq!(lp.depth(), 0);
        assert!(lp.contains(x) && lp.is_active(x));
        assert!(lp.is_pending(y), "y's event is kept");
        assert_eq!(lp.pending_count(), 1);

        // Run again: y gets its event, and x (still readable) runs again
        // through its restored closure.
        lp.run(&mut st, RunMode::NoWait).unwrap();
        assert_eq!(st.y_events, [Events::READ]);
        assert_eq!(st.x_calls, 2, "x's closure was restored");
        lp.run(&mut st, RunMode::NoWait).unwrap();
        assert_eq!(st.x_calls, 3, "x keeps working");
        assert_eq!(st.y_events.len(), 1);

        // And a Default run still ends normally.
        lp.remove(x).unwrap();
        assert!(!run_default(&mut lp, &mut st).unwrap());
    });
}

#[test]
fn panic_in_fed_event_before_poll() {
    // A fed event runs at the start of run; panicking there is no different.
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let t = lp
            .timer(Duration::from_secs(100), Duration::ZERO, |_, n, _, ev| {
                *n += 1;
                if ev.contains(Events::CUSTOM) {
                    panic!("custom");
                }
            })
            .unwrap();
        lp.feed_event(t, Events::CUSTOM).unwrap();
        let mut n = 0;
        let r = panic::catch_unwind(AssertUnwindSafe(|| lp.run(&mut n, RunMode::NoWait)));
        assert!(r.is_err());
        assert_eq!(n, 1);
        assert_eq!(lp.depth(), 0);
        lp.feed_event(t, Events::TIMER).unwrap();
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 2);
    });
}

#[test]
fn panic_after_removing_self_drops_closure_once() {
    for_each_backend(|b| {
        let tr = trace();
        let mut lp: Loop<()> = new_loop(b);
        let guard = DropGuard {
            trace: tr.clone(),
            name: "closure",
        };
        let t2 = tr.clone();
        let (s, _p) = pair();
        let id = lp
            .io(s, Events::WRITE, move |ctx, _, id, _| {
                let _keep = &guard;
                note(&t2, "body");
                ctx.remove(id).unwrap();
                panic!("after remove");
            })
            .unwrap();
        lp.start(id).unwrap();
        let r = panic::catch_unwind(AssertUnwindSafe(|| lp.run(&mut (), RunMode::Default)));
        assert!(r.is_err());
        assert_eq!(snapshot(&tr), ["body", "closure dropped"]);
        assert!(!lp.contains(id));
        assert_eq!(lp.refs(), 0);
        assert!(!run_default(&mut lp, &mut ()).unwrap());
        drop(lp);
        assert_eq!(snapshot(&tr).len(), 2);
    });
}
