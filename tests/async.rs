//! Async watchers: wake-ups from other threads, coalesced, never lost;
//! `Events::CLOSED` when the last sender is gone; senders of a removed
//! watcher or a dropped loop report that nobody listens.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{for_each_backend, new_loop, run_default};
use evloop::{Events, RunMode};

#[derive(Default)]
struct Counts {
    callbacks: u64,
    /// The senders' total as the callback last saw it.
    seen: u64,
}

#[test]
fn eight_threads_times_100k_sends_coalesce_and_none_is_lost() {
    for_each_backend(|b| {
        const THREADS: u64 = 8;
        const SENDS: u64 = 100_000;
        let mut lp = new_loop::<Counts>(b);
        let total = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (t2, d2) = (total.clone(), done.clone());
        let mut ctx = lp.ctx();
        let (id, sender) = ctx
            .new_async(move |ctx, c, id, ev| {
                assert_eq!(ev, Events::ASYNC);
                c.callbacks += 1;
                c.seen = t2.load(Ordering::SeqCst);
                // Stop only once every send is counted: the last send must
                // still produce a callback after it.
                if d2.load(Ordering::SeqCst) && c.seen == THREADS * SENDS {
                    ctx.stop(id).unwrap();
                }
            })
            .unwrap();
        ctx.start(id).unwrap();
        let start = Arc::new(Barrier::new(THREADS as usize));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (s, total, start) = (sender.clone(), total.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..SENDS {
                        // Count first, then send: a callback that runs after
                        // this send sees this count.
                        total.fetch_add(1, Ordering::SeqCst);
                        assert!(s.send());
                    }
                })
            })
            .collect();
        let joiner = {
            let done = done.clone();
            let sender = sender.clone();
            std::thread::spawn(move || {
                for w in workers {
                    w.join().unwrap();
                }
                done.store(true, Ordering::SeqCst);
                // The flag may have been read before it was set; a last
                // send makes the callback look again.
                sender.send();
            })
        };
        let mut c = Counts::default();
        run_default(&mut lp, &mut c).unwrap();
        joiner.join().unwrap();
        assert_eq!(
            c.seen,
            THREADS * SENDS,
            "[{b}] the last sends were not seen"
        );
        assert!(c.callbacks >= 1);
        assert!(
            c.callbacks < THREADS * SENDS / 10,
            "[{b}] {} callbacks for {} sends: not coalesced",
            c.callbacks,
            THREADS * SENDS
        );
    });
}

#[test]
fn sends_before_run_give_one_callback() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let (id, sender) = ctx.new_async(|_, n, _, _| *n += 1).unwrap();
        ctx.start(id).unwrap();
        for _ in 0..10 {
            assert!(sender.send());
        }
        assert!(ctx.async_watcher(id).unwrap().is_sent());
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 1);
        assert!(!lp.ctx().async_watcher(id).unwrap().is_sent());
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 1, "no callback without a send");
    });
}

#[test]
fn send_while_stopped_is_delivered_after_start() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let (id, sender) = lp.ctx().new_async(|_, n, _, _| *n += 1).unwrap();
        assert!(sender.send(), "a stopped watcher still listens");
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 0, "a stopped watcher does not run");
        lp.ctx().start(id).unwrap();
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 1);
    });
}

#[test]
fn send_wakes_a_blocked_loop_and_each_watcher_is_separate() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Vec<char>>(b);
        let mut ctx = lp.ctx();
        let (a, sa) = ctx
            .new_async(|ctx, got, id, _| {
                got.push('a');
                ctx.stop(id).unwrap();
            })
            .unwrap();
        let (bw, _sb) = ctx.new_async(|_, got, _, _| got.push('b')).unwrap();
        ctx.start(a).unwrap();
        let mut w = ctx.async_watcher(bw).unwrap();
        w.start().unwrap();
        w.set_keepalive(false);
        let sender = ctx.async_watcher(a).unwrap().sender();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.send();
            drop(sa);
        });
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        t.join().unwrap();
        assert_eq!(got, ['a']);
    });
}

#[test]
fn sender_outliving_its_watcher_and_loop_is_harmless() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let (id, sender) = ctx.new_async(|_, n, _, _| *n += 1).unwrap();
        ctx.start(id).unwrap();
        assert!(sender.send());
        ctx.remove(id).unwrap();
        assert!(
            !sender.send(),
            "send to a removed watcher reports nobody listens"
        );
        assert!(!sender.clone().send());
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 0);
        assert!(lp.ctx().async_watcher(id).is_err());
        drop(lp);
        assert!(!sender.send());
    });
}

#[test]
fn sender_is_send_sync_clone() {
    fn check<S: Send + Sync + Clone + 'static>() {}
    check::<evloop::AsyncSender>();
}

#[test]
fn send_from_a_signal_handler() {
    use std::sync::OnceLock;
    static SENDER: OnceLock<evloop::AsyncSender> = OnceLock::new();
    extern "C" fn handler(_: libc::c_int) {
        if let Some(s) = SENDER.get() {
            s.send();
        }
    }
    let mut lp = new_loop::<u32>(evloop::Backend::Epoll);
    let mut ctx = lp.ctx();
    let (id, sender) = ctx
        .new_async(|ctx, n, id, _| {
            *n += 1;
            ctx.stop(id).unwrap();
        })
        .unwrap();
    ctx.start(id).unwrap();
    SENDER.set(sender).unwrap();
    // SIGWINCH: harmless by default and used by no other test here.
    // SAFETY: the handler only calls the async-signal-safe `send`.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigaction(libc::SIGWINCH, &sa, std::ptr::null_mut());
        libc::raise(libc::SIGWINCH);
    }
    let mut n = 0;
    run_default(&mut lp, &mut n).unwrap();
    assert_eq!(n, 1);
}

// ------------------------------------------------------------ CLOSED, revival, dead senders

/// The events each callback got, in order.
type Seen = Vec<Events>;

/// A stopped async watcher that records its events.
fn recording(lp: &mut evloop::Loop<Seen>) -> (evloop::AsyncId, evloop::AsyncSender) {
    lp.ctx()
        .new_async(|_, seen: &mut Seen, _, ev| seen.push(ev))
        .unwrap()
}

/// Dropping the last sender, clones included, runs the callback once with
/// `Events::CLOSED`; dropping one of several does nothing.
#[test]
fn dropping_the_last_sender_delivers_closed() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Seen>(b);
        let (id, sender) = recording(&mut lp);
        lp.ctx().start(id).unwrap();
        let clone = sender.clone();
        assert_eq!(lp.ctx().async_watcher(id).unwrap().sender_count(), 2);
        drop(sender);
        let mut seen = Seen::new();
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert!(seen.is_empty(), "a clone is still alive: {seen:?}");
        assert_eq!(lp.ctx().async_watcher(id).unwrap().sender_count(), 1);
        assert!(clone.send());
        drop(clone);
        assert_eq!(lp.ctx().async_watcher(id).unwrap().sender_count(), 0);
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        // The send and the close may be seen in one callback.
        assert_eq!(seen, [Events::ASYNC | Events::CLOSED]);
        seen.clear();
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert!(seen.is_empty(), "CLOSED is delivered once: {seen:?}");
        assert!(lp.ctx().is_active(id), "CLOSED does not stop the watcher");
    });
}

/// A sender dropped in another thread wakes a blocked loop with
/// `Events::CLOSED` (here the callback stops the watcher on it, so the
/// Default run ends).
#[test]
fn closed_from_another_thread_wakes_the_loop() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Seen>(b);
        let mut ctx = lp.ctx();
        let (id, sender) = ctx
            .new_async(|ctx, seen: &mut Seen, id, ev| {
                seen.push(ev);
                if ev.contains(Events::CLOSED) {
                    ctx.stop(id).unwrap();
                }
            })
            .unwrap();
        ctx.start(id).unwrap();
        let worker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            assert!(sender.send());
            std::thread::sleep(Duration::from_millis(20));
            // `sender`, the only one, is dropped here.
        });
        let mut seen = Seen::new();
        run_default(&mut lp, &mut seen).unwrap();
        worker.join().unwrap();
        let last = *seen.last().expect("a callback");
        assert!(last.contains(Events::CLOSED), "{seen:?}");
        assert_eq!(
            seen.iter().filter(|e| e.contains(Events::CLOSED)).count(),
            1,
            "{seen:?}"
        );
        assert!(
            seen.iter().any(|e| e.contains(Events::ASYNC)),
            "the send before the drop was lost: {seen:?}"
        );
        assert!(!lp.ctx().is_active(id));
    });
}

/// After CLOSED, `sender()` makes a new sender: sends are delivered again
/// (without CLOSED), and dropping it gives a new CLOSED.
#[test]
fn sender_revives_a_closed_watcher() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Seen>(b);
        let (id, sender) = recording(&mut lp);
        lp.ctx().start(id).unwrap();
        drop(sender);
        let mut seen = Seen::new();
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert_eq!(seen, [Events::CLOSED]);
        seen.clear();
        let revived = lp.ctx().async_watcher(id).unwrap().sender();
        assert_eq!(lp.ctx().async_watcher(id).unwrap().sender_count(), 1);
        assert!(revived.send());
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert_eq!(seen, [Events::ASYNC], "a revived watcher is not closed");
        seen.clear();
        drop(revived);
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert_eq!(seen, [Events::CLOSED]);
    });
}

/// A close while the watcher is stopped is kept, like a send, and
/// delivered when it starts.
#[test]
fn closed_while_stopped_is_delivered_after_start() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Seen>(b);
        let (id, sender) = recording(&mut lp);
        drop(sender);
        let mut seen = Seen::new();
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert!(seen.is_empty(), "a stopped watcher does not run");
        lp.ctx().start(id).unwrap();
        lp.run(&mut seen, RunMode::NoWait).unwrap();
        assert_eq!(seen, [Events::CLOSED]);
    });
}

/// `send` says whether anybody listens: true for a live watcher (active
/// or not), false once its loop is dropped (from another thread too).
#[test]
fn send_returns_false_after_the_loop_is_dropped() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Seen>(b);
        let (id, sender) = recording(&mut lp);
        lp.ctx().start(id).unwrap();
        let other = sender.clone();
        assert!(sender.send());
        drop(lp);
        assert!(!sender.send(), "the loop is gone");
        let from_thread = std::thread::spawn(move || other.send()).join().unwrap();
        assert!(!from_thread, "the loop is gone (seen from another thread)");
    });
}
