//! Async watchers: wake-ups from other threads, coalesced, never lost.

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
        let (id, sender) = lp
            .async_watcher(move |ctx, c, id, ev| {
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
        lp.start(id).unwrap();
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
                        s.send();
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
        let (id, sender) = lp.async_watcher(|_, n, _, _| *n += 1).unwrap();
        lp.start(id).unwrap();
        for _ in 0..10 {
            sender.send();
        }
        assert!(lp.async_pending(id).unwrap());
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 1);
        assert!(!lp.async_pending(id).unwrap());
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 1, "no callback without a send");
    });
}

#[test]
fn send_while_stopped_is_delivered_after_start() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let (id, sender) = lp.async_watcher(|_, n, _, _| *n += 1).unwrap();
        sender.send();
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 0, "a stopped watcher does not run");
        lp.start(id).unwrap();
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 1);
    });
}

#[test]
fn send_wakes_a_blocked_loop_and_each_watcher_is_separate() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Vec<char>>(b);
        let (a, sa) = lp
            .async_watcher(|ctx, got, id, _| {
                got.push('a');
                ctx.stop(id).unwrap();
            })
            .unwrap();
        let (bw, _sb) = lp.async_watcher(|_, got, _, _| got.push('b')).unwrap();
        lp.start(a).unwrap();
        lp.start(bw).unwrap();
        lp.set_keepalive(bw, false).unwrap();
        let sender = lp.async_sender(a).unwrap();
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
        let (id, sender) = lp.async_watcher(|_, n, _, _| *n += 1).unwrap();
        lp.start(id).unwrap();
        lp.remove(id).unwrap();
        sender.send();
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 0);
        assert!(lp.async_sender(id).is_err());
        drop(lp);
        sender.send();
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
    let (id, sender) = lp
        .async_watcher(|ctx, n, id, _| {
            *n += 1;
            ctx.stop(id).unwrap();
        })
        .unwrap();
    lp.start(id).unwrap();
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
