//! Integration tests for watcher handles and callbacks: stale handles,
//! slot reuse, handles of another loop, internal watchers, replacing
//! callbacks, counting watchers, removing and creating watchers from
//! callbacks, panics. Every test runs once per supported backend.

mod common;

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use common::{for_each_backend, manual_loop, new_loop, run_default};
use evloop::{
    AsyncId, Error, Events, IoId, Loop, Priority, RunMode, StatId, TimerId, WatcherCount,
};

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

/// Asserts that `$e` is `Err($err)` (an error pattern such as
/// `Error::StaleHandle`).
macro_rules! assert_err {
    ($err:pat, $e:expr) => {
        match $e {
            Err($err) => {}
            other => panic!(
                "{}: expected {}, got {:?}",
                stringify!($e),
                stringify!($err),
                other
            ),
        }
    };
}

macro_rules! assert_stale {
    ($e:expr) => {
        assert_err!(Error::StaleHandle, $e)
    };
}

/// Every call with a stale io handle fails with `StaleHandle` and changes
/// nothing. (Every other call goes through the view, which cannot be had.)
fn check_stale_io<T>(lp: &mut Loop<T>, id: IoId<UnixStream>) {
    let mut ctx = lp.ctx();
    assert!(!ctx.contains(id));
    assert!(!ctx.is_active(id));
    assert!(!ctx.watcher(id).is_ok_and(|w| w.is_pending()));
    assert_stale!(ctx.start(id));
    assert_stale!(ctx.stop(id));
    assert_stale!(ctx.remove(id));
    assert_stale!(ctx.watcher(id).map(|_| ()));
    assert_stale!(ctx.io(id).map(|_| ()));
}

fn check_stale_timer<T>(lp: &mut Loop<T>, id: TimerId) {
    let mut ctx = lp.ctx();
    assert!(!ctx.contains(id));
    assert!(!ctx.is_active(id));
    assert!(!ctx.watcher(id).is_ok_and(|w| w.is_pending()));
    assert_stale!(ctx.start(id));
    assert_stale!(ctx.stop(id));
    assert_stale!(ctx.remove(id));
    assert_stale!(ctx.watcher(id).map(|_| ()));
    assert_stale!(ctx.timer(id).map(|_| ()));
}

/// Removing watchers releases their references and pending events, and
/// every call with their handles afterwards is `StaleHandle`.
#[test]
fn stale_handles_after_remove() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (s, _p) = pair();
        let mut ctx = lp.ctx();
        let io = ctx.new_io(s, Events::READ, |_, n, _, _| *n += 1).unwrap();
        let t = ctx
            .new_timer(Duration::ZERO, Duration::ZERO, |_, n, _, _| *n += 100)
            .unwrap();
        ctx.start(io).unwrap();
        ctx.start(t).unwrap();
        ctx.io(io).unwrap().feed(Events::READ).unwrap();
        assert_eq!(ctx.refs(), 2);
        ctx.remove(io).unwrap();
        ctx.remove(t).unwrap();
        assert_eq!(ctx.refs(), 0, "remove releases the references");
        assert_eq!(ctx.pending_count(), 0, "remove drops the pending event");
        check_stale_io(&mut lp, io);
        check_stale_timer(&mut lp, t);
        // Nothing ran, and run has nothing to wait for.
        let mut n = 0;
        assert!(!run_default(&mut lp, &mut n).unwrap());
        assert_eq!(n, 0);
    });
}

/// A stale handle whose slot was reused by a new watcher of the same kind
/// reaches nothing; the new watcher is untouched.
#[test]
fn stale_handle_does_not_act_on_the_watcher_reusing_its_slot() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<&'static str>> = new_loop(b);
        let (s, _p) = pair();
        let mut ctx = lp.ctx();
        let old = ctx
            .new_io(s, Events::READ, |_, l, _, _| l.push("old"))
            .unwrap();
        ctx.remove(old).unwrap();
        // slotmap hands the freed slot to the next watcher.
        let (s2, _p2) = pair();
        let new = ctx
            .new_io(s2, Events::WRITE, |_, l, _, _| l.push("new"))
            .unwrap();
        assert_ne!(old, new, "handles differ even when the slot is reused");
        ctx.start(new).unwrap();

        check_stale_io(&mut lp, old);

        // The new watcher is untouched by all of that.
        let mut ctx = lp.ctx();
        assert!(ctx.contains(new));
        assert!(ctx.is_active(new));
        let w = ctx.io(new).unwrap();
        assert_eq!(w.priority(), Priority::DEFAULT);
        assert_eq!(w.interest(), Events::WRITE);
        assert!(!w.is_pending(), "a call on the old handle leaked");
        assert_eq!(ctx.refs(), 1);
        let mut log = Vec::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["new"]);
    });
}

/// A timer takes the slot an io watcher had: the io handle is stale, and
/// io calls on it do not touch the timer.
#[test]
fn stale_handle_of_another_kind_in_the_same_slot() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let (s, _p) = pair();
        let mut ctx = lp.ctx();
        let io = ctx.new_io(s, Events::READ, |_, _, _, _| {}).unwrap();
        ctx.remove(io).unwrap();
        let t = ctx
            .new_timer(Duration::from_secs(100), Duration::ZERO, |_, _, _, _| {})
            .unwrap();
        ctx.start(t).unwrap();
        check_stale_io(&mut lp, io);
        let mut ctx = lp.ctx();
        assert!(ctx.is_active(t));
        assert!(ctx.timer(t).unwrap().remaining().is_some());
        ctx.remove(t).unwrap();
    });
}

/// A watcher that removes itself in its callback: the handle is stale at
/// once, and the closure is dropped exactly once, after it returned.
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
        let mut ctx = lp.ctx();
        let id = ctx
            .new_io(s, Events::READ, move |ctx, _, id, _| {
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
        ctx.start(id).unwrap();
        peer.write_all(b"x").unwrap();
        assert!(!run_default(&mut lp, &mut ()).unwrap());
        assert_eq!(
            snapshot(&tr),
            ["body start", "body end", "closure dropped"],
            "dropped once, after the body"
        );
        // Not called or dropped again later.
        lp.run(&mut (), RunMode::NoWait).unwrap();
        drop(lp);
        assert_eq!(snapshot(&tr).len(), 3);
    });
}

/// The same for a repeating timer.
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
        let mut ctx = lp.ctx();
        let id = ctx
            .new_timer(
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
        ctx.start(id).unwrap();
        assert!(!run_default(&mut lp, &mut ()).unwrap());
        assert_eq!(snapshot(&tr), ["tick", "tick end", "timer closure dropped"]);
    });
}

/// Whichever of two ready watchers runs first removes the other, whose
/// closure is dropped at once and which never runs.
#[test]
fn remove_other_watcher_from_callback() {
    for_each_backend(|b| {
        let tr = trace();
        let mut lp: Loop<Vec<IoId<UnixStream>>> = new_loop(b);
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
            let mut ctx = lp.ctx();
            let id = ctx
                .new_io(
                    s,
                    Events::READ,
                    move |ctx, ids: &mut Vec<IoId<UnixStream>>, id, _| {
                        let _keep = &guard;
                        note(&t2, format!("{name} start"));
                        for &other in ids.iter().filter(|&&o| o != id) {
                            if ctx.contains(other) {
                                ctx.remove(other).unwrap();
                            }
                        }
                        note(&t2, format!("{name} end"));
                        ctx.remove(id).unwrap();
                    },
                )
                .unwrap();
            ctx.start(id).unwrap();
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
            assert!(!lp.ctx().contains(id));
        }
    });
}

/// An io callback removes a due timer whose event is already pending: the
/// timer never runs.
#[test]
fn remove_watcher_of_other_kind_from_callback() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<&'static str>> = new_loop(b);
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(Duration::ZERO, Duration::ZERO, |_, l, _, _| l.push("timer"))
            .unwrap();
        ctx.start(t).unwrap();
        let (s, _p) = pair();
        let io = ctx
            .new_io(s, Events::WRITE, move |ctx, l, id, _| {
                l.push("io");
                assert!(ctx.timer(t).unwrap().is_pending());
                ctx.remove(t).unwrap();
                ctx.remove(id).unwrap();
            })
            .unwrap();
        let mut w = ctx.io(io).unwrap();
        w.set_priority(Priority::MAX);
        w.start().unwrap();
        let mut log = Vec::new();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert_eq!(log, ["io"]);
    });
}

/// A timer creates an io watcher, whose callback creates a timer, whose
/// callback creates an io watcher: each new one runs in a later iteration.
#[test]
fn create_watchers_from_callbacks() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<String>> = new_loop(b);
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(Duration::ZERO, Duration::ZERO, |ctx, log, id, ev| {
                log.push(format!("timer1 {ev:?}"));
                ctx.remove(id).unwrap();
                let (s, _p) = pair();
                let io = ctx
                    .new_io(s, Events::WRITE, |ctx, log, id, ev| {
                        log.push(format!("io1 {ev:?}"));
                        ctx.remove(id).unwrap();
                        let t2 = ctx
                            .new_timer(
                                Duration::from_millis(1),
                                Duration::ZERO,
                                |ctx, log, _, ev| {
                                    log.push(format!("timer2 {ev:?}"));
                                    let (s, mut p) = pair();
                                    p.write_all(b"z").unwrap();
                                    let io2 = ctx
                                        .new_io(s, Events::READ, move |ctx, log, id, ev| {
                                            let _peer = &p;
                                            log.push(format!("io2 {ev:?}"));
                                            ctx.remove(id).unwrap();
                                        })
                                        .unwrap();
                                    ctx.start(io2).unwrap();
                                    assert!(!ctx.io(io2).unwrap().is_pending());
                                },
                            )
                            .unwrap();
                        ctx.start(t2).unwrap();
                    })
                    .unwrap();
                ctx.start(io).unwrap();
                // Not run within the iteration that created it.
                assert!(!ctx.io(io).unwrap().is_pending());
            })
            .unwrap();
        ctx.start(t).unwrap();
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

/// A watcher created in a callback exists, stopped, until started.
#[test]
fn created_watchers_are_stopped_until_started() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<IoId<UnixStream>>> = new_loop(b);
        let (s, _p) = pair();
        let creator = lp
            .ctx()
            .new_io(s, Events::WRITE, |ctx, made, id, _| {
                let (s, _p) = pair();
                let w = ctx
                    .new_io(s, Events::WRITE, |_, _, _, _| panic!("never started"))
                    .unwrap();
                assert!(!ctx.is_active(w));
                made.push(w);
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.ctx().start(creator).unwrap();
        let mut made = Vec::new();
        assert!(!run_default(&mut lp, &mut made).unwrap());
        assert_eq!(made.len(), 1);
        let ctx = lp.ctx();
        assert!(ctx.contains(made[0]));
        assert!(!ctx.is_active(made[0]));
    });
}

// ------------------------------------------------------------------ handles of another loop

/// A file in a fresh temporary directory, for stat watchers; the directory
/// is removed when the value is dropped.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TempFile {
    fn new(tag: &str) -> TempFile {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("evloop-handles-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("file");
        std::fs::write(&path, b"1").unwrap();
        TempFile { dir, path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The part of a handle's debug text that names its slot (`3v1`), without
/// the loop: two handles with equal keys reach the same slot number in
/// their loops.
fn slot_of(h: impl std::fmt::Debug) -> String {
    let s = format!("{h:?}");
    let inner = s.split('(').nth(1).unwrap_or_default();
    inner.split('@').next().unwrap_or_default().to_string()
}

/// Every call with a handle of another loop is `ForeignHandle` (or
/// false), whatever watcher of this loop sits in the same slot.
fn check_foreign_io<T, S: 'static>(lp: &mut Loop<T>, id: IoId<S>) {
    let mut ctx = lp.ctx();
    assert!(!ctx.contains(id), "{id:?}");
    assert!(!ctx.is_active(id), "{id:?}");
    assert_err!(Error::ForeignHandle, ctx.start(id));
    assert_err!(Error::ForeignHandle, ctx.stop(id));
    assert_err!(Error::ForeignHandle, ctx.remove(id));
    assert_err!(Error::ForeignHandle, ctx.watcher(id).map(|_| ()));
    assert_err!(Error::ForeignHandle, ctx.io(id).map(|_| ()));
}

fn check_foreign_timer<T>(lp: &mut Loop<T>, id: TimerId) {
    let mut ctx = lp.ctx();
    assert!(!ctx.contains(id), "{id:?}");
    assert!(!ctx.is_active(id), "{id:?}");
    assert_err!(Error::ForeignHandle, ctx.start(id));
    assert_err!(Error::ForeignHandle, ctx.stop(id));
    assert_err!(Error::ForeignHandle, ctx.remove(id));
    assert_err!(Error::ForeignHandle, ctx.watcher(id).map(|_| ()));
    assert_err!(Error::ForeignHandle, ctx.timer(id).map(|_| ()));
}

#[derive(Default)]
struct Fired {
    async_: u32,
    stat: u32,
    io: u32,
}

/// The exploit the loop identity closes: slotmap keys are deterministic,
/// so the first watchers of every loop have the same keys. Loop B's first
/// watchers are internal ones (the internal timer of a stat watcher, the
/// inotify and eventfd io watchers behind stat and async watchers) and a
/// user io watcher; handles of loops A (io watchers) and A2 (timers) in the
/// same slots are refused by B for every call, and B's watchers, internal
/// ones included, keep working.
#[test]
fn handles_of_another_loop_are_refused_and_never_reach_its_watchers() {
    for_each_backend(|b| {
        let file = TempFile::new("foreign");
        let mut lp_b: Loop<Fired> = new_loop(b);
        let mut ctx = lp_b.ctx();
        // B's first slots: the stat watcher, its internal poll timer, (when
        // started, with inotify) the internal inotify io watcher; then the
        // internal eventfd io watcher and the async watcher; then a user io
        // watcher.
        let stat: StatId = ctx
            .new_stat(&file.path, Duration::from_millis(20), |ctx, f, id, _| {
                f.stat += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(stat).unwrap();
        let (asy, sender): (AsyncId, _) = ctx
            .new_async(|ctx, f, id, ev| {
                assert!(ev.contains(Events::ASYNC));
                f.async_ += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(asy).unwrap();
        let (s, mut peer_b) = pair();
        let io_b = ctx
            .new_io(s, Events::READ, |ctx, f, id, _| {
                f.io += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(io_b).unwrap();
        let count_b = ctx.watcher_count();
        assert_eq!(
            count_b,
            WatcherCount {
                active: 3,
                total: 3
            }
        );
        let refs_b = ctx.refs();

        // Loop A: io watchers in its first slots; loop A2: timers in its
        // first slots. Together they shadow every slot B uses, with a
        // handle of the kind of an internal watcher there.
        let mut lp_a: Loop<u32> = new_loop(b);
        let mut peers_a = Vec::new();
        let mut ios_a = Vec::new();
        for _ in 0..8 {
            let (s, p) = pair();
            peers_a.push(p);
            let mut ctx = lp_a.ctx();
            let id = ctx.new_io(s, Events::READ, |_, n, _, _| *n += 1).unwrap();
            ctx.start(id).unwrap();
            ios_a.push(id);
        }
        let mut lp_a2: Loop<u32> = new_loop(b);
        let mut timers_a = Vec::new();
        for _ in 0..8 {
            let mut ctx = lp_a2.ctx();
            let t = ctx
                .new_timer(Duration::from_secs(100), Duration::ZERO, |_, n, _, _| {
                    *n += 1
                })
                .unwrap();
            ctx.start(t).unwrap();
            timers_a.push(t);
        }
        // The premise: same keys in both loops (B's user io watcher sits
        // in the sixth slot, fifth without inotify, as A's io watcher there).
        let nth = if lp_b.ctx().stat_uses_inotify() { 5 } else { 4 };
        assert_eq!(
            slot_of(io_b),
            slot_of(ios_a[nth]),
            "{io_b:?} / {:?}",
            ios_a[nth]
        );
        assert_eq!(slot_of(stat), slot_of(timers_a[0]));

        for &id in &ios_a {
            check_foreign_io(&mut lp_b, id);
        }
        for &t in &timers_a {
            check_foreign_timer(&mut lp_b, t);
        }
        // And the other way round: B's handles reach nothing in A or A2.
        check_foreign_io(&mut lp_a, io_b);
        assert_err!(Error::ForeignHandle, lp_a2.ctx().stat(stat).map(|_| ()));
        assert_err!(Error::ForeignHandle, lp_a2.ctx().remove(asy));

        // B is untouched: same counts and references, all still active.
        let ctx = lp_b.ctx();
        assert_eq!(ctx.watcher_count(), count_b);
        assert_eq!(ctx.refs(), refs_b);
        assert!(ctx.is_active(stat) && ctx.is_active(asy) && ctx.is_active(io_b));
        // ... and working: the async wake-up (internal eventfd watcher),
        // the stat change (internal inotify watcher or poll timer) and the
        // io watcher all arrive.
        assert!(sender.send());
        std::fs::write(&file.path, b"changed size").unwrap();
        peer_b.write_all(b"x").unwrap();
        let mut fired = Fired::default();
        assert!(!run_default(&mut lp_b, &mut fired).unwrap());
        assert_eq!((fired.async_, fired.stat, fired.io), (1, 1, 1));

        // A's and A2's watchers were not touched by B either.
        let ctx = lp_a.ctx();
        assert!(ios_a.iter().all(|&id| ctx.is_active(id)));
        assert_eq!(
            ctx.watcher_count(),
            WatcherCount {
                active: 8,
                total: 8
            }
        );
        let ctx = lp_a2.ctx();
        assert!(timers_a.iter().all(|&t| ctx.is_active(t)));
        drop(sender);
    });
}

/// A handle stays foreign in another loop even after its watcher was
/// removed from its own loop: the loop check comes first.
#[test]
fn removed_handle_of_another_loop_is_foreign_not_stale() {
    for_each_backend(|b| {
        let mut a: Loop<()> = new_loop(b);
        let mut bl: Loop<()> = new_loop(b);
        let t = a
            .ctx()
            .new_timer(Duration::from_secs(1), Duration::ZERO, |_, _, _, _| {})
            .unwrap();
        a.ctx().remove(t).unwrap();
        assert_stale!(a.ctx().timer(t).map(|_| ()));
        let tb = bl
            .ctx()
            .new_timer(Duration::from_secs(1), Duration::ZERO, |_, _, _, _| {})
            .unwrap();
        check_foreign_timer(&mut bl, t);
        assert!(bl.ctx().contains(tb));
        assert_ne!(a.ctx().loop_id(), bl.ctx().loop_id());
    });
}

// ------------------------------------------------------------------ internal watchers

/// A user watcher is removed, and internal watchers (a stat watcher's poll
/// timer, the async eventfd watcher, the inotify watcher) take its slot:
/// the stale handle reaches none of them, and the loop's watchers keep
/// working. `watcher_count` counts only the user's watchers.
#[test]
fn internal_watchers_in_a_reused_slot_are_unreachable() {
    for_each_backend(|b| {
        let file = TempFile::new("internal");
        let mut lp: Loop<Fired> = new_loop(b);
        let mut ctx = lp.ctx();
        assert_eq!(ctx.watcher_count(), WatcherCount::default());
        // User watchers in the first slots, removed again. slotmap reuses
        // the most recently freed slot first: removed in this order, the
        // internal watchers created below land in slots of their own kind
        // (the eventfd and inotify io watchers where io watchers were, the
        // stat watcher's poll timer where a timer was).
        let (s1, _p1) = pair();
        let (s2, _p2) = pair();
        let io_a = ctx.new_io(s1, Events::READ, |_, _, _, _| {}).unwrap();
        let io_b = ctx.new_io(s2, Events::READ, |_, _, _, _| {}).unwrap();
        let mut timers = Vec::new();
        for _ in 0..3 {
            let t = ctx
                .new_timer(Duration::from_secs(9), Duration::ZERO, |_, _, _, _| {})
                .unwrap();
            ctx.start(t).unwrap();
            timers.push(t);
        }
        ctx.start(io_a).unwrap();
        assert_eq!(
            ctx.watcher_count(),
            WatcherCount {
                active: 4,
                total: 5
            }
        );
        ctx.remove(io_b).unwrap();
        for &t in timers.iter().rev() {
            ctx.remove(t).unwrap();
        }
        ctx.remove(io_a).unwrap();
        assert_eq!(ctx.watcher_count(), WatcherCount::default());
        assert_eq!(ctx.refs(), 0);

        // Now the internal watchers: the async watcher's eventfd watcher,
        // the stat watcher's poll timer and (once it starts) inotify watcher.
        let (asy, sender) = ctx
            .new_async(|ctx, f, id, _| {
                f.async_ += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(asy).unwrap();
        let stat = ctx
            .new_stat(&file.path, Duration::from_millis(20), |ctx, f, id, _| {
                f.stat += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(stat).unwrap();
        assert_eq!(
            ctx.watcher_count(),
            WatcherCount {
                active: 2,
                total: 2
            },
            "internal watchers are not counted"
        );
        let refs = ctx.refs();
        assert_eq!(refs, 2, "internal watchers hold no reference");

        for &t in &timers {
            check_stale_timer(&mut lp, t);
        }
        check_stale_io(&mut lp, io_a);
        check_stale_io(&mut lp, io_b);

        let ctx = lp.ctx();
        assert_eq!(
            ctx.watcher_count(),
            WatcherCount {
                active: 2,
                total: 2
            }
        );
        assert_eq!(ctx.refs(), refs);
        // The internal watchers still serve their users.
        assert!(sender.send());
        std::fs::write(&file.path, b"a longer content").unwrap();
        let mut fired = Fired::default();
        assert!(!run_default(&mut lp, &mut fired).unwrap());
        assert_eq!((fired.async_, fired.stat), (1, 1));
        assert_eq!(
            lp.ctx().watcher_count(),
            WatcherCount {
                active: 0,
                total: 2
            }
        );
    });
}

// ------------------------------------------------------------------ watcher_count

/// `watcher_count` follows creating, starting, stopping and removing
/// watchers, from outside and from callbacks, and a one-shot timer that
/// fires is no longer active.
#[test]
fn watcher_count_follows_create_start_stop_remove() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<WatcherCount>>(b);
        let wc = |active, total| WatcherCount { active, total };
        let mut ctx = lp.ctx();
        assert_eq!(ctx.watcher_count(), wc(0, 0));
        let (s, _p) = pair();
        let io = ctx.new_io(s, Events::READ, |_, _, _, _| {}).unwrap();
        assert_eq!(ctx.watcher_count(), wc(0, 1), "created stopped");
        let t = ctx
            .new_timer(
                Duration::from_millis(5),
                Duration::ZERO,
                |ctx, seen, _, _| {
                    // Fired: a one-shot timer is inactive in its own callback.
                    seen.push(ctx.watcher_count());
                },
            )
            .unwrap();
        let i = ctx.new_idle(|_, _, _, _| {}).unwrap();
        assert_eq!(ctx.watcher_count(), wc(0, 3));
        ctx.start(io).unwrap();
        ctx.start(t).unwrap();
        ctx.start(t).unwrap(); // starting twice counts once
        assert_eq!(ctx.watcher_count(), wc(2, 3));
        ctx.start(i).unwrap();
        ctx.stop(i).unwrap();
        ctx.stop(i).unwrap();
        assert_eq!(ctx.watcher_count(), wc(2, 3));
        ctx.remove(io).unwrap(); // an active one
        assert_eq!(ctx.watcher_count(), wc(1, 2));
        ctx.remove(i).unwrap(); // a stopped one
        assert_eq!(ctx.watcher_count(), wc(1, 1));
        let _ = ctx.remove(i); // stale: nothing changes
        assert_eq!(ctx.watcher_count(), wc(1, 1));

        clock.advance(Duration::from_millis(6));
        let mut seen = Vec::new();
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert_eq!(seen, [wc(0, 1)]);
        assert_eq!(lp.ctx().watcher_count(), wc(0, 1));

        // From a callback: create and start two, remove itself.
        let mut ctx = lp.ctx();
        let maker = ctx
            .new_timer(Duration::ZERO, Duration::ZERO, |ctx, seen, id, _| {
                seen.push(ctx.watcher_count());
                let a = ctx.new_idle(|_, _, _, _| {}).unwrap();
                ctx.new_check(|_, _, _, _| {}).unwrap();
                ctx.start(a).unwrap();
                seen.push(ctx.watcher_count());
                ctx.remove(id).unwrap();
                seen.push(ctx.watcher_count());
            })
            .unwrap();
        ctx.start(maker).unwrap();
        assert_eq!(ctx.watcher_count(), wc(1, 2));
        clock.advance(Duration::from_millis(1));
        seen.clear();
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert_eq!(seen, [wc(0, 2), wc(1, 4), wc(1, 3)]);
    });
}

// ------------------------------------------------------------------ set_callback

/// `set_callback` on an io watcher from outside: the new callback gets the
/// next event (a pending one included), the old closure is dropped at once.
#[test]
fn set_callback_on_io_watcher_from_outside() {
    for_each_backend(|b| {
        let tr = trace();
        let mut lp: Loop<Vec<String>> = new_loop(b);
        let (s, mut peer) = pair();
        let guard = DropGuard {
            trace: tr.clone(),
            name: "old",
        };
        let mut ctx = lp.ctx();
        let id = ctx
            .new_io(s, Events::READ, move |_, log, _, ev| {
                let _keep = &guard;
                log.push(format!("old {ev:?}"));
            })
            .unwrap();
        ctx.start(id).unwrap();
        peer.write_all(b"x").unwrap();
        let mut log = Vec::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["old Events(READ)"]);

        // Replaced while an event is pending: the new one gets it.
        let mut ctx = lp.ctx();
        ctx.io(id).unwrap().feed(Events::WRITE).unwrap();
        ctx.io(id).unwrap().set_callback(|ctx, log, id, ev| {
            // The handle is typed: the source is at hand.
            let mut buf = [0u8; 8];
            let n = std::io::Read::read(&mut ctx.io(id).unwrap().source(), &mut buf).unwrap();
            log.push(format!("new {ev:?} {n}"));
        });
        assert_eq!(snapshot(&tr), ["old dropped"], "the old closure is gone");
        assert!(ctx.io(id).unwrap().is_pending(), "the event stays pending");
        log.clear();
        lp.ctx().invoke_pending(&mut log);
        assert_eq!(log, ["new Events(WRITE) 1"]);
        peer.write_all(b"yz").unwrap();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["new Events(WRITE) 1", "new Events(READ) 2"]);
        drop(lp);
        assert_eq!(snapshot(&tr), ["old dropped"]);
    });
}

/// `set_callback` on an io watcher from inside its own callback: the
/// running callback finishes, its closure is dropped when it returns, and
/// the new one runs for the next event.
#[test]
fn set_callback_on_io_watcher_from_its_own_callback() {
    for_each_backend(|b| {
        let tr = trace();
        let mut lp: Loop<()> = new_loop(b);
        let (s, mut peer) = pair();
        let guard = DropGuard {
            trace: tr.clone(),
            name: "first",
        };
        let t1 = tr.clone();
        let mut ctx = lp.ctx();
        let id = ctx
            .new_io(s, Events::READ, move |ctx, _, id, _| {
                let _keep = &guard;
                note(&t1, "first start");
                let t2 = t1.clone();
                ctx.io(id).unwrap().set_callback(move |ctx, _, id, _| {
                    note(&t2, "second");
                    ctx.stop(id).unwrap();
                });
                note(&t1, "first end");
            })
            .unwrap();
        ctx.start(id).unwrap();
        peer.write_all(b"x").unwrap();
        lp.run(&mut (), RunMode::NoWait).unwrap();
        assert_eq!(
            snapshot(&tr),
            ["first start", "first end", "first dropped"],
            "the old callback finishes, then its closure goes"
        );
        // Unread data: the next poll reports it again, to the new callback.
        assert!(!run_default(&mut lp, &mut ()).unwrap());
        assert_eq!(
            snapshot(&tr),
            ["first start", "first end", "first dropped", "second"]
        );
    });
}

/// `set_callback` on a repeating timer, from outside and from its own
/// callback.
#[test]
fn set_callback_on_timer() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<String>>(b);
        let ms = Duration::from_millis;
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(ms(10), ms(10), |_, log, _, _| log.push("never".into()))
            .unwrap();
        // From outside, before the first expiry.
        ctx.timer(t).unwrap().set_callback(|ctx, log, id, ev| {
            log.push(format!("a {ev:?}"));
            // From inside: a callback that counts down and stops.
            let mut left = 2;
            ctx.timer(id).unwrap().set_callback(move |ctx, log, id, _| {
                left -= 1;
                log.push(format!("b {left}"));
                if left == 0 {
                    ctx.stop(id).unwrap();
                }
            });
            log.push("a end".into());
        });
        ctx.start(t).unwrap();
        let mut log = Vec::new();
        for _ in 0..4 {
            clock.advance(ms(11));
            lp.run(&mut log, RunMode::NoWait).unwrap();
        }
        assert_eq!(log, ["a Events(TIMER)", "a end", "b 1", "b 0"]);
        assert!(!lp.ctx().is_active(t));
    });
}

/// A callback replaces itself and then runs the loop nested: the watcher is
/// still running further up the stack, so the nested run must not call it,
/// with either callback (`Ctx::run`: "a watcher whose callback is running
/// further up the stack is not invoked by the nested run; its event is kept
/// and delivered when that callback has returned"). The new callback gets
/// that event after the old one returned.
#[test]
fn set_callback_then_nested_run_does_not_reenter_the_watcher() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<String>>(b);
        let ms = Duration::from_millis;
        let clk = clock.clone();
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(ms(10), ms(10), move |ctx, log, id, _| {
                log.push(format!("old @{}", ctx.depth()));
                ctx.timer(id)
                    .unwrap()
                    .set_callback(|ctx, log, _, _| log.push(format!("new @{}", ctx.depth())));
                // The timer expires again during the nested run.
                clk.advance(ms(10));
                ctx.run(log, RunMode::NoWait).unwrap();
                log.push("old end".into());
            })
            .unwrap();
        ctx.start(t).unwrap();
        clock.advance(ms(11));
        let mut log = Vec::new();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log, ["old @1", "old end", "new @1"]);
    });
}

// ------------------------------------------------------------------ panics

#[derive(Default)]
struct PanicState {
    x_calls: u32,
    y_events: Vec<Events>,
}

/// A panic in a callback comes out of `run` with its payload; the loop
/// stays consistent (the closure is restored, pending events are kept).
#[test]
fn panic_in_callback_propagates_and_loop_stays_usable() {
    for_each_backend(|b| {
        let mut lp: Loop<PanicState> = new_loop(b);
        let (sx, mut px) = pair();
        let (sy, mut py) = pair();
        let mut ctx = lp.ctx();
        let x = ctx
            .new_io(sx, Events::READ, |_, st: &mut PanicState, _, _| {
                st.x_calls += 1;
                if st.x_calls == 1 {
                    panic!("boom from x");
                }
            })
            .unwrap();
        let y = ctx
            .new_io(sy, Events::READ, |ctx, st: &mut PanicState, id, ev| {
                st.y_events.push(ev);
                ctx.stop(id).unwrap();
            })
            .unwrap();
        // x runs first in the iteration, so y is still pending when x panics.
        ctx.io(x).unwrap().set_priority(Priority::MAX);
        ctx.start(x).unwrap();
        ctx.start(y).unwrap();
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
        let mut ctx = lp.ctx();
        assert_eq!(ctx.depth(), 0);
        assert!(ctx.contains(x) && ctx.is_active(x));
        assert!(ctx.io(y).unwrap().is_pending(), "y's event is kept");
        assert_eq!(ctx.pending_count(), 1);

        // Run again: y gets its event, and x (still readable) runs again
        // through its restored closure.
        lp.run(&mut st, RunMode::NoWait).unwrap();
        assert_eq!(st.y_events, [Events::READ]);
        assert_eq!(st.x_calls, 2, "x's closure was restored");
        lp.run(&mut st, RunMode::NoWait).unwrap();
        assert_eq!(st.x_calls, 3, "x keeps working");
        assert_eq!(st.y_events.len(), 1);

        // And a Default run still ends normally.
        lp.ctx().remove(x).unwrap();
        assert!(!run_default(&mut lp, &mut st).unwrap());
    });
}

/// A fed event runs at the start of run; panicking there is no different.
#[test]
fn panic_in_fed_event_before_poll() {
    for_each_backend(|b| {
        let mut lp: Loop<u32> = new_loop(b);
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(Duration::from_secs(100), Duration::ZERO, |_, n, _, ev| {
                *n += 1;
                if ev.contains(Events::CUSTOM) {
                    panic!("custom");
                }
            })
            .unwrap();
        ctx.timer(t).unwrap().feed(Events::CUSTOM).unwrap();
        let mut n = 0;
        let r = panic::catch_unwind(AssertUnwindSafe(|| lp.run(&mut n, RunMode::NoWait)));
        assert!(r.is_err());
        assert_eq!(n, 1);
        let mut ctx = lp.ctx();
        assert_eq!(ctx.depth(), 0);
        ctx.timer(t).unwrap().feed(Events::TIMER).unwrap();
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 2);
    });
}

/// A callback that removes its watcher and then panics: the closure is
/// dropped once, and the loop holds no reference for it.
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
        let mut ctx = lp.ctx();
        let id = ctx
            .new_io(s, Events::WRITE, move |ctx, _, id, _| {
                let _keep = &guard;
                note(&t2, "body");
                ctx.remove(id).unwrap();
                panic!("after remove");
            })
            .unwrap();
        ctx.start(id).unwrap();
        let r = panic::catch_unwind(AssertUnwindSafe(|| lp.run(&mut (), RunMode::Default)));
        assert!(r.is_err());
        assert_eq!(snapshot(&tr), ["body", "closure dropped"]);
        let ctx = lp.ctx();
        assert!(!ctx.contains(id));
        assert_eq!(ctx.refs(), 0);
        assert!(!run_default(&mut lp, &mut ()).unwrap());
        drop(lp);
        assert_eq!(snapshot(&tr).len(), 2);
    });
}
