//! Shared helpers for the integration tests: run a test body once per
//! backend this machine supports (epoll, poll, select on Linux).
//!
//! Usage, in a test file:
//!
//! ```ignore
//! mod common;
//! use common::{for_each_backend, new_loop};
//!
//! #[test]
//! fn something() {
//!     for_each_backend(|b| {
//!         let mut lp: evloop::Loop<u32> = new_loop(b);
//!         // ... assertions; a failure is labelled with the backend name.
//!     });
//! }
//! ```
//!
//! Every test binary compiles this module separately and uses only part of
//! it, hence the `dead_code` allowance.

#![allow(dead_code)]

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use evloop::{Backend, Break, Loop};

/// The backends this machine supports, best first.
pub fn backends() -> Vec<Backend> {
    evloop::supported_backends().iter_best_first().collect()
}

/// A new loop on exactly backend `b`, ignoring `EVLOOP_BACKEND`.
///
/// Panics if the backend cannot be created.
pub fn new_loop<T>(b: Backend) -> Loop<T> {
    Loop::builder()
        .backend(b)
        .ignore_env(true)
        .build()
        .unwrap_or_else(|e| panic!("[backend {b}] cannot create loop: {e:?}"))
}

/// Runs `body` once for every supported backend. If it panics for a backend,
/// the panic is re-raised with a message naming that backend (the original
/// message is printed by the panic hook first, and repeated in the new one).
pub fn for_each_backend(mut body: impl FnMut(Backend)) {
    let all = backends();
    assert!(!all.is_empty(), "no supported backend");
    for b in all {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| body(b))) {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "<non-string panic>".to_string());
            panic!("[backend {b}] {msg}");
        }
    }
}

/// Arms a watchdog on `lp`: a timer that, `after` the next `run` starts
/// polling, breaks every `run` and sets the returned flag. It does not keep
/// the loop alive (keepalive off), so a `RunMode::Default` run that should
/// end by itself still does; one that would hang ends instead, and the test
/// asserts `!flag.get()` to fail with a message rather than hang.
/// Remove it with the returned id if a test counts watchers or timers.
pub fn watchdog<T>(lp: &mut Loop<T>, after: Duration) -> (Rc<Cell<bool>>, evloop::TimerId) {
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let mut ctx = lp.ctx();
    let t = ctx
        .new_timer(after, Duration::ZERO, move |ctx, _, _, _| {
            f.set(true);
            ctx.break_loop(Break::All);
        })
        .expect("watchdog timer");
    let mut w = ctx.timer(t).expect("watchdog view");
    w.set_keepalive(false);
    w.start().expect("watchdog start");
    (fired, t)
}

/// `lp.run(data, RunMode::Default)` under a 10 s [`watchdog`]: panics with a
/// clear message instead of hanging if the run does not end by itself.
pub fn run_default<T>(lp: &mut Loop<T>, data: &mut T) -> evloop::Result<bool> {
    let (fired, t) = watchdog(lp, Duration::from_secs(10));
    let r = lp.run(data, evloop::RunMode::Default);
    assert!(
        !fired.get(),
        "run(RunMode::Default) did not return within 10 s (watchdog)"
    );
    let _ = lp.ctx().remove(t);
    r
}

/// A loop on backend `b` whose time moves only when the test says so
/// (`ManualClock::advance`, `set_wall`), its wall clock starting at `wall`.
pub fn manual_loop_at<T>(
    b: Backend,
    wall: std::time::SystemTime,
) -> (Loop<T>, evloop::ManualClock) {
    let clock = evloop::ManualClock::new(wall);
    let lp = Loop::builder()
        .backend(b)
        .ignore_env(true)
        .clock(clock.clone())
        .build()
        .unwrap_or_else(|e| panic!("cannot create loop on {b}: {e:?}"));
    (lp, clock)
}

/// [`manual_loop_at`] with the wall clock at 2023-11-14 22:13:20 UTC.
pub fn manual_loop<T>(b: Backend) -> (Loop<T>, evloop::ManualClock) {
    manual_loop_at(
        b,
        std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

/// `main` of a `harness = false` test binary: runs each case in turn,
/// prints `test NAME ... ok|FAILED` and `N passed, M failed`, and exits
/// non-zero if any failed. A filter argument (as `cargo test -- NAME`
/// passes) runs only the cases whose name contains it.
pub fn harness_main(cases: &[(&str, fn())]) {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in cases {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        match panic::catch_unwind(AssertUnwindSafe(case)) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

/// The path of example `name` of the root package, built first.
///
/// `cargo test --test X` alone does not build examples, and a binary left
/// from an earlier build may be stale, so the first call in a test binary
/// runs `cargo build` for all of `examples` (a no-op when they are fresh),
/// with the test binary's own profile. Every call of a test binary must
/// pass the same list; `name` must be in it.
pub fn example_bin(examples: &[&str], name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    assert!(examples.contains(&name), "{name} is not among {examples:?}");
    let dir = DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/<test>-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in target/<profile>/deps");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "evloop"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        for ex in examples {
            cmd.args(["--example", ex]);
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("cannot run cargo");
        assert!(
            out.status.success(),
            "cargo build of {examples:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile_dir.join("examples")
    });
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}

/// Waits for a child process to exit, at most `timeout`, polling (so a
/// process that does not exit fails the test instead of hanging it);
/// `what` names it in the failure.
pub fn wait_exit(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
