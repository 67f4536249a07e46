//! Helpers shared by the integration tests (each test binary compiles
//! this module and uses part of it, hence the `dead_code` allowance).

#![allow(dead_code)]

use std::cell::Cell;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use evloop::{Break, Loop, RunMode};

/// How long a `RunMode::Default` run that should end by itself may take
/// before the test calls it hung: generous, only a broken run gets near.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Runs `lp` in `RunMode::Default` under a watchdog: a timer that does not
/// keep the loop alive (keepalive off) and breaks the run after `limit`.
/// Returns whether the run ended by itself (the watchdog did not fire);
/// the watchdog is removed again, so watcher counts are unaffected.
pub fn run_ends_within<T>(lp: &mut Loop<T>, data: &mut T, limit: Duration) -> bool {
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    let mut ctx = lp.ctx();
    let t = ctx
        .new_timer(limit, Duration::ZERO, move |ctx, _, _, _| {
            f.set(true);
            ctx.break_loop(Break::All);
        })
        .unwrap();
    let mut w = ctx.timer(t).unwrap();
    w.set_keepalive(false);
    w.start().unwrap();
    lp.run(data, RunMode::Default).unwrap();
    let _ = lp.ctx().remove(t);
    !fired.get()
}

/// [`run_ends_within`] with [`PATIENCE`], asserting that the run ended by
/// itself.
pub fn run_to_end<T>(lp: &mut Loop<T>, data: &mut T) {
    assert!(
        run_ends_within(lp, data, PATIENCE),
        "run(RunMode::Default) did not return by itself within {PATIENCE:?}"
    );
}

/// The number of watchers the application side of `lp` has (streams and
/// listeners count with theirs).
pub fn watchers<T>(lp: &mut Loop<T>) -> usize {
    lp.ctx().watcher_count().total
}

/// Runs at most `n` non-blocking iterations, fewer once nothing is left.
pub fn spin<T>(lp: &mut Loop<T>, data: &mut T, n: usize) {
    for _ in 0..n {
        if !lp.run(data, RunMode::NoWait).unwrap() {
            return;
        }
    }
}

/// A path in the temporary directory for this process's `name`.
pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("evloop-buffer-{name}-{}", std::process::id()))
}

/// An unlinked temporary file holding `data`.
pub fn temp_file(name: &str, data: &[u8]) -> Arc<File> {
    let path = temp_path(name);
    let mut f = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    f.write_all(data).unwrap();
    Arc::new(f)
}
