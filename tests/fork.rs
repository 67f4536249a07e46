//! Fork: after `loop_fork` (or with the builder's `fork_check`) the child's
//! loop works on kernel objects of its own, and the parent's loop is not
//! disturbed by anything the child does. `fork` in a multi-threaded test
//! harness is unsafe, so this binary has none (`harness = false`).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use common::{for_each_backend, harness_main, new_loop, run_default, watchdog};
use evloop::signum::SIGUSR1;
use evloop::{Backend, Break, EmbedId, Events, IoId, Loop, RunMode};

/// Forks; the child runs `child` and exits 0 if it returns, 1 if it
/// panics. Returns the child's exit code once it is gone.
fn in_child(child: impl FnOnce()) -> i32 {
    wait_child(spawn_child(child))
}

/// Forks; the child runs `child` as in [`in_child`]; returns its pid.
fn spawn_child(child: impl FnOnce()) -> i32 {
    // SAFETY: this binary runs its cases on one thread, so the child is a
    // complete copy; it leaves with _exit and never returns here.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = catch_unwind(AssertUnwindSafe(child)).is_ok();
        // SAFETY: _exit ends the child without running the parent's
        // destructors or atexit handlers a second time.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    pid
}

/// Waits for a child of [`spawn_child`] and returns its exit code.
fn wait_child(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is written by the call.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    libc::WEXITSTATUS(status)
}

#[derive(Default)]
struct Log {
    events: Vec<&'static str>,
    bytes: Vec<u8>,
}

fn reader(lp: &mut Loop<Log>, sock: UnixStream) -> IoId<UnixStream> {
    sock.set_nonblocking(true).unwrap();
    let mut ctx = lp.ctx();
    let id = ctx
        .new_io(sock, Events::READ, |ctx, log: &mut Log, id, _| {
            let mut buf = [0u8; 64];
            if let Ok(n) = ctx.io(id).unwrap().source().read(&mut buf) {
                log.events.push("io");
                log.bytes.extend_from_slice(&buf[..n]);
            }
        })
        .unwrap();
    ctx.start(id).unwrap();
    id
}

fn child_serves_io_and_timers_and_parent_is_unharmed() {
    for_each_backend(|b| {
        let mut lp = new_loop::<Log>(b);
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let io = reader(&mut lp, a);
        let mut ctx = lp.ctx();
        let f = ctx
            .new_fork(|_, log, _, ev| {
                assert_eq!(ev, Events::FORK);
                log.events.push("fork");
            })
            .unwrap();
        ctx.start(f).unwrap();
        let mut log = Log::default();
        a_peer.write_all(b"x").unwrap();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert_eq!(log.events, ["io"], "no fork watcher without a fork");

        let code = in_child(|| {
            lp.ctx().loop_fork().unwrap();
            let mut log = Log::default();
            // The fork watcher runs before the poll, so before the io.
            a_peer.write_all(b"child").unwrap();
            lp.run(&mut log, RunMode::NoWait).unwrap();
            assert_eq!(log.events, ["fork", "io"]);
            assert_eq!(log.bytes, b"child");
            // Stop the io watcher: without loop_fork this would take the
            // fd out of the parent's epoll set too.
            let mut ctx = lp.ctx();
            ctx.stop(io).unwrap();
            let t = ctx
                .new_timer(Duration::from_millis(5), Duration::ZERO, |_, log, _, _| {
                    log.events.push("timer")
                })
                .unwrap();
            ctx.start(t).unwrap();
            run_default(&mut lp, &mut log).unwrap();
            assert_eq!(log.events, ["fork", "io", "timer"]);
            assert!(log.bytes.len() == 5);
        });
        assert_eq!(code, 0, "[{b}] the child's checks failed");

        // The parent: its fork watcher never ran, its io still works.
        let mut log = Log::default();
        a_peer.write_all(b"parent").unwrap();
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(
                Duration::from_millis(5),
                Duration::ZERO,
                |ctx, log, _, _| {
                    log.events.push("timer");
                    ctx.break_loop(evloop::Break::All);
                },
            )
            .unwrap();
        ctx.start(t).unwrap();
        run_default(&mut lp, &mut log).unwrap();
        log.events.sort();
        assert_eq!(
            log.events,
            ["io", "timer"],
            "[{b}] parent after the child ran"
        );
        assert_eq!(log.bytes, b"parent");
    });
}

fn async_and_signal_after_fork_stay_in_their_process() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let (id, sender) = ctx.new_async(|_, n, _, _| *n += 1).unwrap();
        ctx.start(id).unwrap();
        let s = ctx.new_signal(SIGUSR1, |_, n, _, _| *n += 100).unwrap();
        ctx.start(s).unwrap();
        let code = in_child(|| {
            lp.ctx().loop_fork().unwrap();
            sender.send();
            // SAFETY: raise only signals this (child) thread.
            unsafe { libc::raise(SIGUSR1) };
            let mut n = 0;
            lp.run(&mut n, RunMode::NoWait).unwrap();
            assert_eq!(n, 101);
        });
        assert_eq!(code, 0, "[{b}] the child's checks failed");
        // Nothing the child did reached the parent's loop...
        let mut n = 0;
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 0, "[{b}] the child's wake-ups leaked into the parent");
        // ...and the parent's own still work.
        sender.send();
        lp.run(&mut n, RunMode::NoWait).unwrap();
        assert_eq!(n, 1);
        lp.ctx().remove(s).unwrap();
    });
}

fn child_wakeups_do_not_wake_the_parent() {
    for_each_backend(|b| {
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let (id, sender) = ctx.new_async(|_, n, _, _| *n += 1).unwrap();
        ctx.start(id).unwrap();
        let t = ctx
            .new_timer(Duration::from_millis(300), Duration::ZERO, |_, n, _, _| {
                *n += 100
            })
            .unwrap();
        ctx.start(t).unwrap();
        let pid = spawn_child(|| {
            lp.ctx().loop_fork().unwrap();
            std::thread::sleep(Duration::from_millis(30));
            // Without a wake-up fd of its own, this would wake the parent
            // (the child does not run its loop, which would drain it).
            sender.send();
            assert!(lp.ctx().async_watcher(id).unwrap().is_sent());
            std::thread::sleep(Duration::from_millis(50));
        });
        let mut n = 0;
        // One iteration: it must end with the timer, not with the child's send.
        lp.run(&mut n, RunMode::Once).unwrap();
        assert_eq!(wait_child(pid), 0, "[{b}] the child's checks failed");
        assert_eq!(n, 100, "[{b}] the parent woke for the child's send");
    });
}

fn fork_check_needs_no_call() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = Loop::builder()
            .backend(b)
            .ignore_env(true)
            .fork_check(true)
            .build()
            .unwrap();
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let io = reader(&mut lp, a);
        let mut ctx = lp.ctx();
        let f = ctx
            .new_fork(|_, log, _, _| log.events.push("fork"))
            .unwrap();
        ctx.start(f).unwrap();
        let mut log = Log::default();
        lp.run(&mut log, RunMode::NoWait).unwrap();
        assert!(log.events.is_empty());
        let code = in_child(|| {
            let mut log = Log::default();
            a_peer.write_all(b"c").unwrap();
            lp.run(&mut log, RunMode::NoWait).unwrap();
            assert_eq!(log.events, ["fork", "io"]);
            lp.ctx().stop(io).unwrap();
            lp.run(&mut log, RunMode::NoWait).unwrap();
        });
        assert_eq!(code, 0, "[{b}] the child's checks failed");
        a_peer.write_all(b"p").unwrap();
        let mut log = Log::default();
        lp.run(&mut log, RunMode::Once).unwrap();
        assert_eq!(
            log.events,
            ["io"],
            "[{b}] parent io after an automatic fork"
        );
    });
}

fn stat_after_fork_uses_its_own_inotify() {
    for_each_backend(|b| {
        let dir = std::env::temp_dir().join(format!("evloop-fork-stat-{}-{b}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let mut lp = new_loop::<u32>(b);
        let mut ctx = lp.ctx();
        let s = ctx
            .new_stat(&path, Duration::from_secs(60), |ctx, n, id, _| {
                *n += 1;
                ctx.stop(id).unwrap();
            })
            .unwrap();
        ctx.start(s).unwrap();
        let p2 = path.clone();
        let code = in_child(|| {
            lp.ctx().loop_fork().unwrap();
            std::fs::write(&p2, b"1").unwrap();
            let mut n = 0;
            run_default(&mut lp, &mut n).unwrap();
            assert_eq!(n, 1);
        });
        assert_eq!(code, 0, "[{b}] the child's checks failed");
        // The parent sees the same change through its own inotify (the
        // 60 s polling interval is far beyond the watchdog).
        let mut n = 0;
        run_default(&mut lp, &mut n).unwrap();
        assert_eq!(n, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

/// Runs `outer` until the log of the loop that `e` embeds satisfies
/// `done` (looked at after every sweep); fails after 5 s with `what`.
fn run_until(
    outer: &mut Loop<Log>,
    e: EmbedId<Log>,
    what: &str,
    done: impl Fn(&Log) -> bool + 'static,
) {
    let mut ctx = outer.ctx();
    let mut w = ctx.embed(e).unwrap();
    if done(w.inner().1) {
        return;
    }
    w.set_callback(move |ctx, _, id, _| {
        if done(ctx.embed(id).unwrap().inner().1) {
            ctx.break_loop(Break::One);
        }
    });
    let (fired, t) = watchdog(outer, Duration::from_secs(5));
    outer.run(&mut Log::default(), RunMode::Default).unwrap();
    let mut ctx = outer.ctx();
    let log = &ctx.embed(e).unwrap().inner().1.events.clone();
    assert!(!fired.get(), "{what}: not within 5 s (inner log {log:?})");
    ctx.remove(t).unwrap();
}

/// Adds a one-shot 20 ms timer to the loop `e` embeds, logging "timer".
fn inner_timer(outer: &mut Loop<Log>, e: EmbedId<Log>) {
    let mut ctx = outer.ctx();
    let mut w = ctx.embed(e).unwrap();
    let (mut inner, _) = w.inner();
    let t = inner
        .new_timer(Duration::from_millis(20), Duration::ZERO, |_, log, _, _| {
            log.events.push("timer")
        })
        .unwrap();
    inner.start(t).unwrap();
}

/// After a real fork, `loop_fork` on an outer loop forks the epoll loop it
/// embeds too: in the child the inner loop's fork watcher runs, and its io
/// and a new timer work through the outer loop; stopping the inner io
/// watcher there (which, on an epoll set shared with the parent, would
/// take the fd out of the parent's set too) leaves the parent alone. The
/// parent's loops run no fork watcher and still serve inner io and timers.
fn embedded_loop_forks_with_its_outer_loop() {
    for_each_backend(|b| {
        let mut inner: Loop<Log> = new_loop(Backend::Epoll);
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let io = reader(&mut inner, a);
        let mut ictx = inner.ctx();
        let f = ictx
            .new_fork(|_, log, _, ev| {
                assert_eq!(ev, Events::FORK);
                log.events.push("fork");
            })
            .unwrap();
        ictx.start(f).unwrap();
        let mut outer = new_loop::<Log>(b);
        let mut ctx = outer.ctx();
        let e = ctx
            .new_embed(inner, Log::default(), |_, _, _, _| {})
            .unwrap();
        ctx.start(e).unwrap();

        a_peer.write_all(b"p1").unwrap();
        run_until(&mut outer, e, "inner io before the fork", |log| {
            log.bytes == b"p1"
        });

        let code = in_child(|| {
            outer.ctx().loop_fork().unwrap();
            run_until(&mut outer, e, "the inner fork watcher", |log| {
                log.events.contains(&"fork")
            });
            a_peer.write_all(b"c").unwrap();
            run_until(&mut outer, e, "inner io in the child", |log| {
                log.bytes == b"p1c"
            });
            // Stop the inner io watcher; the next sweep's preparation
            // applies it to the inner backend.
            outer.ctx().embed(e).unwrap().inner().0.stop(io).unwrap();
            inner_timer(&mut outer, e);
            let start = Instant::now();
            run_until(&mut outer, e, "an inner timer in the child", |log| {
                log.events.contains(&"timer")
            });
            assert!(start.elapsed() >= Duration::from_millis(20), "timer early");
            let mut ctx = outer.ctx();
            let mut w = ctx.embed(e).unwrap();
            assert_eq!(w.inner().1.events, ["io", "fork", "io", "timer"]);
            assert!(w.take_error().is_none());
        });
        assert_eq!(code, 0, "[{b}] the child's checks failed");

        // The parent: no fork watcher ran, its inner io is still
        // registered, and inner timers fire.
        a_peer.write_all(b"p2").unwrap();
        run_until(
            &mut outer,
            e,
            "inner io in the parent after the fork",
            |log| log.bytes == b"p1p2",
        );
        inner_timer(&mut outer, e);
        run_until(&mut outer, e, "an inner timer in the parent", |log| {
            log.events.contains(&"timer")
        });
        let mut ctx = outer.ctx();
        let mut w = ctx.embed(e).unwrap();
        assert_eq!(w.inner().1.events, ["io", "io", "timer"], "[{b}]");
        assert!(w.take_error().is_none(), "[{b}]");
    });
}

fn main() {
    harness_main(&[
        (
            "child_serves_io_and_timers_and_parent_is_unharmed",
            child_serves_io_and_timers_and_parent_is_unharmed,
        ),
        (
            "async_and_signal_after_fork_stay_in_their_process",
            async_and_signal_after_fork_stay_in_their_process,
        ),
        (
            "child_wakeups_do_not_wake_the_parent",
            child_wakeups_do_not_wake_the_parent,
        ),
        ("fork_check_needs_no_call", fork_check_needs_no_call),
        (
            "stat_after_fork_uses_its_own_inotify",
            stat_after_fork_uses_its_own_inotify,
        ),
        (
            "embedded_loop_forks_with_its_outer_loop",
            embedded_loop_forks_with_its_outer_loop,
        ),
    ]);
}
