//! Stat watchers: create, modify, chmod and delete in a temporary
//! directory, seen with inotify and by polling alone, on every backend.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{backends, run_default};
use evloop::{Backend, Loop, StatAttrs, StatId};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "evloop-stat-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Seen = Vec<(StatAttrs, StatAttrs)>;

fn stat_loop(b: Backend, inotify: bool) -> Loop<Seen> {
    Loop::builder()
        .backend(b)
        .ignore_env(true)
        .inotify(inotify)
        .build()
        .unwrap()
}

/// Starts a watcher that records (prev, now) and breaks the run.
fn watch(lp: &mut Loop<Seen>, path: &Path, interval: Duration) -> StatId {
    let mut ctx = lp.ctx();
    let id = ctx
        .new_stat(path, interval, |ctx, seen, id, ev| {
            assert_eq!(ev, evloop::Events::STAT);
            seen.push(ctx.stat(id).unwrap().attrs());
            ctx.break_loop(evloop::Break::One);
        })
        .unwrap();
    ctx.start(id).unwrap();
    id
}

/// The watcher's (previous, current) attributes.
fn attrs(lp: &mut Loop<Seen>, id: StatId) -> (StatAttrs, StatAttrs) {
    lp.ctx().stat(id).unwrap().attrs()
}

/// Runs until the watcher reports, and returns the report and how long it
/// took.
fn next_change(lp: &mut Loop<Seen>) -> ((StatAttrs, StatAttrs), Duration) {
    let start = Instant::now();
    let mut seen = Vec::new();
    run_default(lp, &mut seen).unwrap();
    assert_eq!(seen.len(), 1, "one change, one report: {seen:?}");
    (seen[0], start.elapsed())
}

fn each_mode(body: impl Fn(Backend, bool)) {
    for b in backends() {
        for inotify in [true, false] {
            body(b, inotify);
        }
    }
}

#[test]
fn create_modify_chmod_delete_are_seen() {
    each_mode(|b, inotify| {
        let label = format!("{b}, inotify {inotify}");
        let dir = TempDir::new("cycle");
        let path = dir.0.join("file");
        let interval = Duration::from_millis(100);
        let mut lp = stat_loop(b, inotify);
        let id = watch(&mut lp, &path, interval);
        let (_, now) = attrs(&mut lp, id);
        assert!(!now.exists, "{label}: start takes the attributes");
        // The slack: a polling watcher sees a change within one interval;
        // the bound is generous against a busy machine.
        let bound = interval * 20;

        std::fs::write(&path, b"hello").unwrap();
        let ((prev, now), took) = next_change(&mut lp);
        assert!(
            !prev.exists && now.exists && now.size == 5,
            "{label}: create"
        );
        assert!(took < bound, "{label}: create seen after {took:?}");

        std::fs::write(&path, b"hello, world").unwrap();
        let ((prev, now), took) = next_change(&mut lp);
        assert_eq!((prev.size, now.size), (5, 12), "{label}: modify");
        assert!(took < bound, "{label}: modify seen after {took:?}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ((prev, now), took) = next_change(&mut lp);
        assert_ne!(prev.mode & 0o777, 0o600);
        assert_eq!(now.mode & 0o777, 0o600, "{label}: chmod");
        assert!(took < bound, "{label}: chmod seen after {took:?}");

        std::fs::remove_file(&path).unwrap();
        let ((prev, now), took) = next_change(&mut lp);
        assert!(prev.exists && !now.exists, "{label}: delete");
        assert!(took < bound, "{label}: delete seen after {took:?}");

        // And created again after the delete (inotify must re-watch).
        std::fs::write(&path, b"again").unwrap();
        let ((_, now), _) = next_change(&mut lp);
        assert!(now.exists && now.size == 5, "{label}: re-create");
    });
}

#[test]
fn with_inotify_a_change_is_seen_long_before_the_interval() {
    for b in backends() {
        let dir = TempDir::new("fast");
        let path = dir.0.join("file");
        let mut lp = stat_loop(b, true);
        watch(&mut lp, &path, Duration::from_secs(3600));
        std::fs::write(&path, b"x").unwrap();
        let (_, took) = next_change(&mut lp);
        assert!(took < Duration::from_secs(60), "[{b}] took {took:?}");
    }
}

#[test]
fn without_inotify_a_change_waits_for_the_poll() {
    let dir = TempDir::new("poll");
    let path = dir.0.join("file");
    let interval = Duration::from_millis(300);
    let mut lp = stat_loop(Backend::Epoll, false);
    watch(&mut lp, &path, interval);
    let start = Instant::now();
    std::fs::write(&path, b"x").unwrap();
    let (_, _) = next_change(&mut lp);
    // Polling only: not before the first poll, an interval after start.
    assert!(start.elapsed() >= interval - Duration::from_millis(20));
}

#[test]
fn stopped_watcher_reports_nothing_and_restart_rebases() {
    each_mode(|b, inotify| {
        let dir = TempDir::new("stop");
        let path = dir.0.join("file");
        let mut lp = stat_loop(b, inotify);
        let id = watch(&mut lp, &path, Duration::from_millis(50));
        let mut ctx = lp.ctx();
        ctx.stop(id).unwrap();
        std::fs::write(&path, b"while stopped").unwrap();
        let t = ctx
            .new_timer(Duration::from_millis(150), Duration::ZERO, |_, _, _, _| {})
            .unwrap();
        ctx.start(t).unwrap();
        let mut seen = Vec::new();
        run_default(&mut lp, &mut seen).unwrap();
        assert!(seen.is_empty(), "[{b}, inotify {inotify}] {seen:?}");
        // Restarting takes the attributes as they are now: no report for
        // what happened while stopped.
        lp.ctx().start(id).unwrap();
        assert!(attrs(&mut lp, id).1.exists);
        std::fs::remove_file(&path).unwrap();
        let ((prev, now), _) = next_change(&mut lp);
        assert!(prev.exists && !now.exists);
    });
}

#[test]
fn two_watchers_on_one_directory_and_removal() {
    each_mode(|b, inotify| {
        let dir = TempDir::new("two");
        let (p1, p2) = (dir.0.join("a"), dir.0.join("b"));
        let mut lp = stat_loop(b, inotify);
        let a = watch(&mut lp, &p1, Duration::from_millis(50));
        let bid = watch(&mut lp, &p2, Duration::from_millis(50));
        // Removing one must not take the shared directory watch from the other.
        lp.ctx().remove(a).unwrap();
        std::fs::write(&p1, b"1").unwrap();
        std::fs::write(&p2, b"22").unwrap();
        let ((_, now), _) = next_change(&mut lp);
        assert_eq!(now.size, 2, "[{b}, inotify {inotify}] only b reports");
        assert_eq!(lp.ctx().stat(bid).unwrap().path(), p2.as_path());
        assert!(matches!(lp.ctx().stat(a), Err(evloop::Error::StaleHandle)));
    });
}

#[test]
fn interval_defaults_and_minimum() {
    let mut lp: Loop<()> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let d = ctx
        .new_stat("/nonexistent", Duration::ZERO, |_, _, _, _| {})
        .unwrap();
    assert_eq!(
        ctx.stat(d).unwrap().interval(),
        evloop::DEFAULT_STAT_INTERVAL
    );
    let m = ctx
        .new_stat("/nonexistent", Duration::from_nanos(1), |_, _, _, _| {})
        .unwrap();
    assert_eq!(ctx.stat(m).unwrap().interval(), evloop::MIN_STAT_INTERVAL);
}

#[test]
fn symlinks_are_watched_as_links() {
    let dir = TempDir::new("link");
    let target = dir.0.join("target");
    let link = dir.0.join("link");
    std::fs::write(&target, b"t").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut lp = stat_loop(Backend::Epoll, true);
    let id = watch(&mut lp, &link, Duration::from_millis(50));
    let (_, now) = attrs(&mut lp, id);
    assert_eq!(now.mode & libc::S_IFMT, libc::S_IFLNK, "lstat, not stat");
}

#[test]
fn following_a_symlink_reports_its_target() {
    each_mode(|b, inotify| {
        let dir = TempDir::new("follow");
        let target = dir.0.join("target");
        let link = dir.0.join("link");
        std::fs::write(&target, b"t").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut lp = stat_loop(b, inotify);
        let mut ctx = lp.ctx();
        let id = ctx
            .new_stat(&link, Duration::from_millis(50), |ctx, seen, id, _| {
                seen.push(ctx.stat(id).unwrap().attrs());
                ctx.break_loop(evloop::Break::One);
            })
            .unwrap();
        let mut w = ctx.stat(id).unwrap();
        w.set_follow(true).unwrap();
        w.start().unwrap();
        assert!(matches!(w.set_follow(false), Err(evloop::Error::Active)));
        let (_, now) = attrs(&mut lp, id);
        assert_eq!(
            now.mode & libc::S_IFMT,
            libc::S_IFREG,
            "stat follows the link"
        );
        // Writing the target through another name changes what the link
        // shows.
        std::fs::write(&target, b"longer").unwrap();
        let ((prev, now), _) = next_change(&mut lp);
        assert_eq!((prev.size, now.size), (1, 6), "[{b}, inotify {inotify}]");
    });
}

/// `stat_now` takes the current attributes without running the callback
/// (libev's `ev_stat_stat`): a change it has already taken is not reported
/// again, and the next report has them as its previous attributes.
#[test]
fn stat_now_takes_the_attributes_without_a_report() {
    each_mode(|b, inotify| {
        let label = format!("{b}, inotify {inotify}");
        let dir = TempDir::new("now");
        let path = dir.0.join("file");
        let mut lp = stat_loop(b, inotify);
        let id = watch(&mut lp, &path, Duration::from_millis(50));
        assert_eq!(lp.ctx().stat_uses_inotify(), inotify, "{label}");
        std::fs::write(&path, b"abc").unwrap();
        let now = lp.ctx().stat(id).unwrap().stat_now();
        assert!(now.exists && now.size == 3, "{label}: {now:?}");
        assert_eq!(attrs(&mut lp, id).1, now);
        // A few polling intervals: nothing to report (the timer ends the
        // run, which the active stat watcher would keep going).
        let mut ctx = lp.ctx();
        let t = ctx
            .new_timer(
                Duration::from_millis(200),
                Duration::ZERO,
                |ctx, _, _, _| ctx.break_loop(evloop::Break::One),
            )
            .unwrap();
        ctx.start(t).unwrap();
        let mut seen = Vec::new();
        run_default(&mut lp, &mut seen).unwrap();
        assert!(
            seen.is_empty(),
            "{label}: reported what stat_now took: {seen:?}"
        );
        std::fs::write(&path, b"abcdef").unwrap();
        let ((prev, now), _) = next_change(&mut lp);
        assert_eq!((prev.size, now.size), (3, 6), "{label}");
    });
}
