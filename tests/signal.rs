//! Signal watchers. Signal dispositions are process-wide, so this binary
//! has no test harness (`harness = false`): cases run one after another.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{for_each_backend, harness_main, new_loop, run_default, watchdog};
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
        let id = lp
            .signal(libc::SIGUSR1, |ctx, got, id, ev| {
                got.push(ev);
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.start(id).unwrap();
        raise(libc::SIGUSR1);
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(got, [Events::SIGNAL]);
        assert_eq!(lp.signal_number(id).unwrap(), libc::SIGUSR1);
    });
}

fn burst_of_1000_coalesces_and_loop_keeps_working() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let id = lp.signal(libc::SIGUSR1, |_, n, _, _| *n += 1).unwrap();
        lp.start(id).unwrap();
        for _ in 0..1000 {
            kill_self(libc::SIGUSR1);
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
        let t = lp
            .timer(Duration::from_millis(1), Duration::ZERO, |_, _, _, _| {})
            .unwrap();
        lp.start(t).unwrap();
        lp.run(&mut n, RunMode::Once).unwrap();
        assert!(!lp.is_active(t), "timer after the burst did not fire");
        raise(libc::SIGUSR1);
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, before + 1, "a signal after the burst was not delivered");
        lp.remove(id).unwrap();
    });
}

fn every_watcher_of_a_signal_runs() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Vec<u32>>(b);
        let mut ids = Vec::new();
        for i in 0..3 {
            let id = lp
                .signal(libc::SIGUSR2, move |ctx, got, id, _| {
                    got.push(i);
                    ctx.stop(id).unwrap();
                })
                .unwrap();
            lp.start(id).unwrap();
            ids.push(id);
        }
        // A stopped one does not run.
        let idle = lp
            .signal(libc::SIGUSR2, |_, got, _, _| got.push(99))
            .unwrap();
        raise(libc::SIGUSR2);
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        got.sort();
        assert_eq!(got, [0, 1, 2]);
        lp.remove(idle).unwrap();
    });
}

fn stopped_watcher_misses_signal_and_restores_disposition() {
    for_each_backend(|b| {
        set_disposition(libc::SIGUSR2, libc::SIG_IGN);
        let mut lp = new_loop::<u32>(b);
        let a = lp.signal(libc::SIGUSR2, |_, n, _, _| *n += 1).unwrap();
        let c = lp.signal(libc::SIGUSR2, |_, n, _, _| *n += 10).unwrap();
        lp.start(a).unwrap();
        lp.start(c).unwrap();
        assert_ne!(disposition(libc::SIGUSR2), libc::SIG_IGN);
        lp.stop(a).unwrap();
        assert_ne!(
            disposition(libc::SIGUSR2),
            libc::SIG_IGN,
            "one watcher is still active"
        );
        raise(libc::SIGUSR2);
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 10, "only the active watcher runs");
        lp.stop(c).unwrap();
        assert_eq!(
            disposition(libc::SIGUSR2),
            libc::SIG_IGN,
            "stopping the last watcher restores the previous disposition"
        );
        // Ignored now: raising it must neither kill us nor reach the loop.
        raise(libc::SIGUSR2);
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 10);
        set_disposition(libc::SIGUSR2, libc::SIG_DFL);
        // Dropping a loop with active watchers restores it too.
        let mut lp2 = new_loop::<u32>(b);
        let d = lp2.signal(libc::SIGUSR2, |_, _, _, _| {}).unwrap();
        lp2.start(d).unwrap();
        assert_ne!(disposition(libc::SIGUSR2), libc::SIG_DFL);
        drop(lp2);
        assert_eq!(disposition(libc::SIGUSR2), libc::SIG_DFL);
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
                    let id = lp
                        .signal(libc::SIGUSR1, |ctx, n, id, _| {
                            *n += 1;
                            ctx.stop(id).unwrap();
                        })
                        .unwrap();
                    lp.start(id).unwrap();
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
        kill_self(libc::SIGUSR1);
        for h in handles {
            assert_eq!(h.join().unwrap(), 1);
        }
    });
}

fn signal_before_run_is_kept() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let id = lp
            .signal(libc::SIGUSR1, |ctx, n, id, _| {
                *n += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.start(id).unwrap();
        raise(libc::SIGUSR1);
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
        let id = lp
            .signal(libc::SIGHUP, |ctx, n, id, _| {
                *n += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.start(id).unwrap();
        evloop::feed_signal(libc::SIGHUP);
        let mut n = 0;
        run_default(&mut lp, &mut n).unwrap();
        assert_eq!(n, 1);
    });
}

fn signal_from_another_thread_wakes_a_blocked_loop() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let id = lp
            .signal(libc::SIGUSR2, |ctx, n, id, _| {
                *n += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.start(id).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            while !d.load(Ordering::SeqCst) {
                kill_self(libc::SIGUSR2);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut n = 0;
        run_default(&mut lp, &mut n).unwrap();
        done.store(true, Ordering::SeqCst);
        sender.join().unwrap();
        assert_eq!(n, 1);
        lp.remove(id).unwrap();
    });
}

fn bad_signal_numbers_are_errors() {
    let mut lp = new_loop::<()>(evloop::Backend::Poll);
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
        match lp.signal(sig, |_, _, _, _| {}) {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("signal {sig}: expected InvalidArgument, got {other:?}"),
        }
    }
    assert!(lp.signal(libc::SIGRTMIN(), |_, _, _, _| {}).is_ok());
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
            "signal_from_another_thread_wakes_a_blocked_loop",
            signal_from_another_thread_wakes_a_blocked_loop,
        ),
        (
            "bad_signal_numbers_are_errors",
            bad_signal_numbers_are_errors,
        ),
    ]);
}
