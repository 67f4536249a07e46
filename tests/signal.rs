//! Signal watchers. Signal dispositions are process-wide, so this binary
//! has no test harness (`harness = false`): cases run one after another.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{for_each_backend, harness_main, new_loop, run_default, watchdog};
use evloop::signum::{SIGHUP, SIGUSR1, SIGUSR2};
use evloop::{Error, Events, RunMode};

fn raise(sig: i32) {
    // SAFETY: raise only sends a signal to this thread.
    unsafe { libc::raise(sig) };
}

fn kill_self(sig: i32) {
    // SAFETY: kill only sends a signal to this process.
    unsafe { libc::kill(libc::getpid(), sig) };
}

/// The current handler address of `sig` (SIG_DFL = 0, SIG_IGN = 1).
fn disposition(sig: i32) -> libc::sighandler_t {
    // SAFETY: a null new action only queries; `old` is written by the call.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old);
        old.sa_sigaction
    }
}

fn set_disposition(sig: i32, handler: libc::sighandler_t) {
    // SAFETY: a zeroed sigaction with a SIG_DFL/SIG_IGN handler is valid.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

fn delivered_inside_run_with_signal_bit() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Vec<Events>>(b);
        let mut ctx = lp.ctx();
        let id = ctx
            .new_signal(SIGUSR1, |ctx, got, id, ev| {
                got.push(ev);
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(id).unwrap();
        raise(SIGUSR1);
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(got, [Events::SIGNAL]);
        assert_eq!(lp.ctx().signal(id).unwrap().signum(), SIGUSR1);
    });
}

fn burst_of_1000_coalesces_and_loop_keeps_working() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let id = ctx.new_signal(SIGUSR1, |_, n, _, _| *n += 1).unwrap();
        ctx.start(id).unwrap();
        for _ in 0..1000 {
            kill_self(SIGUSR1);
        }
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert!(n >= 1, "a burst gave no callback");
        assert!(
            n < 1000,
            "a burst of 1000 was not coalesced ({n} callbacks)"
        );
        // The loop still works: timers and a later signal.
        let before = n;
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(Duration::from_millis(1), Duration::ZERO, |_, _, _, _| {})
            .unwrap();
        ctx.start(t).unwrap();
        lp.run(&mut n, RunMode::Once).unwrap();
        assert!(!lp.ctx().is_active(t), "timer after the burst did not fire");
        raise(SIGUSR1);
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, before + 1, "a signal after the burst was not delivered");
        lp.ctx().remove(id).unwrap();
    });
}

fn every_watcher_of_a_signal_runs() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Vec<u32>>(b);
        let mut ctx = lp.ctx();
        let mut ids = Vec::new();
        for i in 0..3 {
            let id = ctx
                .new_signal(SIGUSR2, move |ctx, got, id, _| {
                    got.push(i);
                    ctx.stop(id).unwrap();
                })
                .unwrap();
            ctx.start(id).unwrap();
            ids.push(id);
        }
        // A stopped one does not run.
        let idle = ctx
            .new_signal(SIGUSR2, |_, got, _, _| got.push(99))
            .unwrap();
        raise(SIGUSR2);
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        got.sort();
        assert_eq!(got, [0, 1, 2]);
        lp.ctx().remove(idle).unwrap();
    });
}

fn stopped_watcher_misses_signal_and_restores_disposition() {
    for_each_backend(|b| {
        set_disposition(SIGUSR2, libc::SIG_IGN);
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let a = ctx.new_signal(SIGUSR2, |_, n, _, _| *n += 1).unwrap();
        let c = ctx.new_signal(SIGUSR2, |_, n, _, _| *n += 10).unwrap();
        ctx.start(a).unwrap();
        ctx.start(c).unwrap();
        assert_ne!(disposition(SIGUSR2), libc::SIG_IGN);
        ctx.stop(a).unwrap();
        assert_ne!(
            disposition(SIGUSR2),
            libc::SIG_IGN,
            "one watcher is still active"
        );
        raise(SIGUSR2);
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 10, "only the active watcher runs");
        lp.ctx().stop(c).unwrap();
        assert_eq!(
            disposition(SIGUSR2),
            libc::SIG_IGN,
            "stopping the last watcher restores the previous disposition"
        );
        // Ignored now: raising it must neither kill us nor reach the loop.
        raise(SIGUSR2);
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 10);
        set_disposition(SIGUSR2, libc::SIG_DFL);
        // Dropping a loop with active watchers restores it too.
        let mut lp2 = new_loop::<u32>(b);
        let mut ctx2 = lp2.ctx();
        let d = ctx2.new_signal(SIGUSR2, |_, _, _, _| {}).unwrap();
        ctx2.start(d).unwrap();
        assert_ne!(disposition(SIGUSR2), libc::SIG_DFL);
        drop(lp2);
        assert_eq!(disposition(SIGUSR2), libc::SIG_DFL);
    });
}

fn two_loops_in_two_threads_both_get_it() {
    for_each_backend(|b| {
        let threads = 2;
        let ready = Arc::new(Barrier::new(threads + 1));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let ready = ready.clone();
                std::thread::spawn(move || {
                    let mut lp = new_loop::<u32>(b);
                    let mut ctx = lp.ctx();
                    let id = ctx
                        .new_signal(SIGUSR1, |ctx, n, id, _| {
                            *n += 1;
                            ctx.stop(id).unwrap();
                        })
                        .unwrap();
                    ctx.start(id).unwrap();
                    let (fired, _) = watchdog(&mut lp, Duration::from_secs(10));
                    ready.wait();
                    let mut n = 0;
                    lp.run(&mut n, RunMode::Default).unwrap();
                    assert!(!fired.get(), "a loop never got the signal");
                    n
                })
            })
            .collect();
        ready.wait();
        // One signal to the process: the kernel hands it to one thread,
        // and evloop passes it on to every loop that watches it.
        kill_self(SIGUSR1);
        for h in handles {
            assert_eq!(h.join().unwrap(), 1);
        }
    });
}

fn signal_before_run_is_kept() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let id = ctx
            .new_signal(SIGUSR1, |ctx, n, id, _| {
                *n += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(id).unwrap();
        raise(SIGUSR1);
        // Other work first; the signal waits for the loop.
        std::thread::sleep(Duration::from_millis(5));
        let mut n = 0;
        let start = Instant::now();
        run_default(&mut lp, &mut n).unwrap();
        assert_eq!(n, 1);
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

fn feed_signal_acts_like_the_signal() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let id = ctx
            .new_signal(SIGHUP, |ctx, n, id, _| {
                *n += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(id).unwrap();
        evloop::feed_signal(SIGHUP);
        let mut n = 0;
        run_default(&mut lp, &mut n).unwrap();
        assert_eq!(n, 1);
    });
}

/// `Ctx::feed_signal_event` makes every active watcher of the signal in
/// this loop pending, as if it had arrived, and nothing else: not a stopped
/// watcher, not a watcher of another signal, and not another loop that
/// watches the same signal (its callback does not run, even when that loop
/// polls).
fn feed_signal_event_reaches_only_this_loop() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Vec<&'static str>>(b);
        let mut ctx = lp.ctx();
        let a = ctx
            .new_signal(SIGUSR1, |_, got, _, ev| {
                assert_eq!(ev, Events::SIGNAL);
                got.push("a");
            })
            .unwrap();
        let c = ctx
            .new_signal(SIGUSR1, |_, got, _, _| got.push("c"))
            .unwrap();
        let stopped = ctx
            .new_signal(SIGUSR1, |_, got, _, _| got.push("stopped"))
            .unwrap();
        let usr2 = ctx
            .new_signal(SIGUSR2, |_, got, _, _| got.push("usr2"))
            .unwrap();
        for id in [a, c, usr2] {
            ctx.start(id).unwrap();
        }
        let mut other = new_loop::<Vec<&'static str>>(b);
        let mut octx = other.ctx();
        let o = octx
            .new_signal(SIGUSR1, |_, got, _, _| got.push("other"))
            .unwrap();
        octx.start(o).unwrap();

        let mut ctx = lp.ctx();
        ctx.feed_signal_event(SIGUSR1);
        assert!(ctx.signal(a).unwrap().is_pending(), "[{b}] a");
        assert!(ctx.signal(c).unwrap().is_pending(), "[{b}] c");
        assert!(!ctx.signal(stopped).unwrap().is_pending(), "[{b}] stopped");
        assert!(!ctx.signal(usr2).unwrap().is_pending(), "[{b}] SIGUSR2");
        assert_eq!(ctx.pending_count(), 2, "[{b}]");
        assert!(!other.ctx().signal(o).unwrap().is_pending(), "[{b}]");

        let mut got = Vec::new();
        lp.run(&mut got, RunMode::NoWait).unwrap();
        got.sort();
        assert_eq!(got, ["a", "c"], "[{b}]");
        // The other loop polls and finds nothing: the feed did not go
        // through the process-wide table.
        let mut got_other = Vec::new();
        other.run(&mut got_other, RunMode::NoWait).unwrap();
        assert!(
            got_other.is_empty(),
            "[{b}] the other loop got {got_other:?}"
        );
        // Fed once, delivered once.
        lp.run(&mut got, RunMode::NoWait).unwrap();
        assert_eq!(got.len(), 2, "[{b}] {got:?}");

        // A real signal still reaches both loops.
        raise(SIGUSR1);
        lp.run(&mut got, RunMode::NoWait).unwrap();
        other.run(&mut got_other, RunMode::NoWait).unwrap();
        got.sort();
        assert_eq!(got, ["a", "a", "c", "c"], "[{b}]");
        assert_eq!(got_other, ["other"], "[{b}]");
    });
}

fn signal_from_another_thread_wakes_a_blocked_loop() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let id = ctx
            .new_signal(SIGUSR2, |ctx, n, id, _| {
                *n += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(id).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            while !d.load(Ordering::SeqCst) {
                kill_self(SIGUSR2);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut n = 0;
        run_default(&mut lp, &mut n).unwrap();
        done.store(true, Ordering::SeqCst);
        sender.join().unwrap();
        assert_eq!(n, 1);
        lp.ctx().remove(id).unwrap();
    });
}

fn bad_signal_numbers_are_errors() {
    let mut lp = new_loop::<()>(evloop::Backend::Poll);
    let mut ctx = lp.ctx();
    for sig in [
        0,
        -1,
        65,
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGFPE,
        32,
    ] {
        match ctx.new_signal(sig, |_, _, _, _| {}) {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("signal {sig}: expected InvalidArgument, got {other:?}"),
        }
    }
    assert!(ctx
        .new_signal(evloop::signum::sigrtmin(), |_, _, _, _| {})
        .is_ok());
}

fn main() {
    harness_main(&[
        (
            "delivered_inside_run_with_signal_bit",
            delivered_inside_run_with_signal_bit,
        ),
        (
            "burst_of_1000_coalesces_and_loop_keeps_working",
            burst_of_1000_coalesces_and_loop_keeps_working,
        ),
        (
            "every_watcher_of_a_signal_runs",
            every_watcher_of_a_signal_runs,
        ),
        (
            "stopped_watcher_misses_signal_and_restores_disposition",
            stopped_watcher_misses_signal_and_restores_disposition,
        ),
        (
            "two_loops_in_two_threads_both_get_it",
            two_loops_in_two_threads_both_get_it,
        ),
        ("signal_before_run_is_kept", signal_before_run_is_kept),
        (
            "feed_signal_acts_like_the_signal",
            feed_signal_acts_like_the_signal,
        ),
        (
            "feed_signal_event_reaches_only_this_loop",
            feed_signal_event_reaches_only_this_loop,
        ),
        (
            "signal_from_another_thread_wakes_a_blocked_loop",
            signal_from_another_thread_wakes_a_blocked_loop,
        ),
        (
            "bad_signal_numbers_are_errors",
            bad_signal_numbers_are_errors,
        ),
    ]);
}
