//! Child watchers, with pidfds and with the SIGCHLD fallback, on every
//! backend. SIGCHLD's disposition is process-wide and pid-0 watchers reap
//! any child, so this binary has no test harness (`harness = false`).

// The children are reaped by the loop under test, not through `Child`.
#![allow(clippy::zombie_processes)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{backends, harness_main, run_default};
use evloop::{Backend, ChildStatus, Error, Events, Loop, RunMode};

/// Every backend, with pidfds and without.
fn for_each_mode(mut body: impl FnMut(&dyn Fn() -> Loop<Vec<(u32, ChildStatus)>>, &str)) {
    for b in backends() {
        for pidfd in [true, false] {
            let label = format!("{b}, pidfd {pidfd}");
            let make = move || make_loop(b, pidfd);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&make, &label)));
            if let Err(p) = r {
                eprintln!("[{label}] failed");
                std::panic::resume_unwind(p);
            }
        }
    }
}

fn make_loop<T>(b: Backend, pidfd: bool) -> Loop<T> {
    Loop::builder()
        .backend(b)
        .ignore_env(true)
        .pidfd(pidfd)
        .build()
        .unwrap()
}

fn sh(script: &str) -> Child {
    Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sh")
}

fn record(
    ctx: &mut evloop::Ctx<Vec<(u32, ChildStatus)>>,
    got: &mut Vec<(u32, ChildStatus)>,
    id: evloop::ChildId,
    ev: Events,
) {
    assert_eq!(ev, Events::CHILD);
    got.push(
        ctx.child_status(id)
            .unwrap()
            .expect("status after an event"),
    );
}

fn exit_code_is_reported_and_watcher_stops() {
    for_each_mode(|make, label| {
        let mut lp = make();
        let child = sh("exit 3");
        let pid = child.id();
        let id = lp.child(pid, false, record).unwrap();
        assert_eq!(lp.child_status(id).unwrap(), None);
        lp.start(id).unwrap();
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(got, [(pid, ChildStatus::Exited(3))], "{label}");
        assert!(
            !lp.is_active(id),
            "{label}: a one-pid watcher stops after the exit"
        );
    });
}

fn killed_by_sigterm() {
    for_each_mode(|make, label| {
        let mut lp = make();
        let child = sh("sleep 30");
        let pid = child.id();
        let id = lp.child(pid, false, record).unwrap();
        lp.start(id).unwrap();
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(
            got,
            [(
                pid,
                ChildStatus::Signaled {
                    signal: libc::SIGTERM,
                    core_dumped: false
                }
            )],
            "{label}"
        );
    });
}

fn stopped_and_continued_with_trace() {
    for_each_mode(|make, label| {
        let mut lp = make();
        let child = sh("sleep 30");
        let pid = child.id();
        let id = lp
            .child(pid, true, move |ctx, got, id, ev| {
                record(ctx, got, id, ev);
                let (_, st) = got.last().copied().unwrap();
                let sig = match st {
                    ChildStatus::Stopped(_) => libc::SIGCONT,
                    ChildStatus::Continued => libc::SIGKILL,
                    _ => return,
                };
                // SAFETY: kill only sends a signal to our own child.
                unsafe { libc::kill(pid as i32, sig) };
            })
            .unwrap();
        lp.start(id).unwrap();
        // SAFETY: as above.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(
            got,
            [
                (pid, ChildStatus::Stopped(libc::SIGSTOP)),
                (pid, ChildStatus::Continued),
                (
                    pid,
                    ChildStatus::Signaled {
                        signal: libc::SIGKILL,
                        core_dumped: false
                    }
                ),
            ],
            "{label}"
        );
    });
}

fn without_trace_stops_are_not_reported() {
    for_each_mode(|make, label| {
        let mut lp = make();
        let child = sh("kill -STOP $$; exit 4");
        let pid = child.id();
        let id = lp.child(pid, false, record).unwrap();
        lp.start(id).unwrap();
        let mut got = Vec::new();
        // Give the child time to stop, then continue it from a timer.
        let t = lp
            .timer(
                Duration::from_millis(100),
                Duration::ZERO,
                move |_, _, _, _| {
                    // SAFETY: kill only sends a signal to our own child.
                    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
                },
            )
            .unwrap();
        lp.start(t).unwrap();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(got, [(pid, ChildStatus::Exited(4))], "{label}");
    });
}

fn watching_from_a_second_loop() {
    for_each_mode(|make, label| {
        // A first loop exists and watches a child of its own.
        let mut first = make();
        let a = sh("exit 1");
        let ida = first.child(a.id(), false, record).unwrap();
        first.start(ida).unwrap();
        let mut second = make();
        let b = sh("exit 2");
        let idb = second.child(b.id(), false, record).unwrap();
        second.start(idb).unwrap();
        let mut got_b = Vec::new();
        run_default(&mut second, &mut got_b).unwrap();
        assert_eq!(got_b, [(b.id(), ChildStatus::Exited(2))], "{label}");
        let mut got_a = Vec::new();
        run_default(&mut first, &mut got_a).unwrap();
        assert_eq!(got_a, [(a.id(), ChildStatus::Exited(1))], "{label}");
    });
}

fn two_children_exiting_at_once() {
    for_each_mode(|make, label| {
        let mut lp = make();
        let mut pids = Vec::new();
        // Both wait on the same moment, so their SIGCHLDs coalesce.
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            + 0.2;
        for code in [5, 6] {
            let script =
                format!("while [ \"$(date +%s.%N)\" \\< \"{at:.3}\" ]; do :; done; exit {code}");
            let c = sh(&script);
            pids.push(c.id());
            let id = lp.child(c.id(), false, record).unwrap();
            lp.start(id).unwrap();
        }
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        got.sort_by_key(|g| g.0);
        let mut want = vec![
            (pids[0], ChildStatus::Exited(5)),
            (pids[1], ChildStatus::Exited(6)),
        ];
        want.sort_by_key(|g| g.0);
        assert_eq!(got, want, "{label}");
    });
}

fn child_reaped_by_the_application_is_left_alone() {
    for_each_mode(|make, label| {
        let mut lp = make();
        // A watched child keeps evloop's machinery (pidfd, or SIGCHLD
        // handler) busy while another child exits that the application
        // waits for itself.
        let watched = sh("sleep 0.3; exit 7");
        let id = lp.child(watched.id(), false, record).unwrap();
        lp.start(id).unwrap();
        let mut own = sh("exit 9");
        let t = lp
            .timer(Duration::from_millis(50), Duration::ZERO, |_, _, _, _| {})
            .unwrap();
        lp.start(t).unwrap();
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(got, [(watched.id(), ChildStatus::Exited(7))], "{label}");
        let st = own.wait().expect("the application's own wait must work");
        assert_eq!(
            st.code(),
            Some(9),
            "{label}: exit status of the app's child"
        );
    });
}

fn any_child_watcher_sees_every_child() {
    for_each_mode(|make, label| {
        let mut lp = make();
        let id = lp
            .child(
                0,
                false,
                |ctx, got: &mut Vec<(u32, ChildStatus)>, id, ev| {
                    record(ctx, got, id, ev);
                    if got.len() == 2 {
                        ctx.stop(id).unwrap();
                    }
                },
            )
            .unwrap();
        lp.start(id).unwrap();
        let a = sh("exit 11");
        let b = sh("exit 12");
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        got.sort_by_key(|g| g.1 == ChildStatus::Exited(12));
        assert_eq!(
            got,
            [
                (a.id(), ChildStatus::Exited(11)),
                (b.id(), ChildStatus::Exited(12))
            ],
            "{label}"
        );
    });
}

fn child_that_exited_before_start_is_reported() {
    for_each_mode(|make, label| {
        let mut lp = make();
        let mut c = sh("exit 13");
        let pid = c.id();
        // Wait until it is a zombie without reaping it.
        // SAFETY: `info` is written by waitid; WNOWAIT leaves the child.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT);
        }
        let id = lp.child(pid, false, record).unwrap();
        lp.start(id).unwrap();
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(got, [(pid, ChildStatus::Exited(13))], "{label}");
        // Reaped by evloop: the std handle has nothing left to wait for.
        assert!(c.try_wait().is_err() || c.try_wait().unwrap().is_some());
    });
}

fn not_a_child_is_an_error() {
    for b in backends() {
        let mut lp: Loop<()> = make_loop(b, true);
        // pid 1 is nobody's child here.
        match lp.child(1, false, |_, _, _, _| {}) {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("[{b}] expected InvalidArgument, got {other:?}"),
        }
        assert_eq!(lp.pending_count(), 0);
    }
}

fn stop_before_exit_and_restart() {
    for_each_mode(|make, label| {
        let mut lp = make();
        let child = sh("sleep 0.2; exit 8");
        let pid = child.id();
        let id = lp.child(pid, false, record).unwrap();
        lp.start(id).unwrap();
        lp.stop(id).unwrap();
        let mut got = Vec::new();
        lp.run(&mut got, RunMode::NoWait).unwrap();
        assert!(got.is_empty());
        lp.start(id).unwrap();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(got, [(pid, ChildStatus::Exited(8))], "{label}");
    });
}

fn main() {
    harness_main(&[
        (
            "exit_code_is_reported_and_watcher_stops",
            exit_code_is_reported_and_watcher_stops,
        ),
        ("killed_by_sigterm", killed_by_sigterm),
        (
            "stopped_and_continued_with_trace",
            stopped_and_continued_with_trace,
        ),
        (
            "without_trace_stops_are_not_reported",
            without_trace_stops_are_not_reported,
        ),
        ("watching_from_a_second_loop", watching_from_a_second_loop),
        ("two_children_exiting_at_once", two_children_exiting_at_once),
        (
            "child_reaped_by_the_application_is_left_alone",
            child_reaped_by_the_application_is_left_alone,
        ),
        (
            "any_child_watcher_sees_every_child",
            any_child_watcher_sees_every_child,
        ),
        (
            "child_that_exited_before_start_is_reported",
            child_that_exited_before_start_is_reported,
        ),
        ("not_a_child_is_an_error", not_a_child_is_an_error),
        ("stop_before_exit_and_restart", stop_before_exit_and_restart),
    ]);
}
