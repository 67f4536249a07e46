//! Stat watchers (libev's `ev_stat`): a path's attributes changed.
//!
//! The attributes come from `lstat` (as libev's code does, whatever its
//! documentation says): a symlink is watched as the link itself, not its
//! target, unless [`Watcher::set_follow`] asks for `stat`. Changes are
//! noticed two ways:
//!
//! * **inotify** (unless [`LoopBuilder::inotify`](crate::LoopBuilder::inotify)`(false)`):
//!   the loop watches the path's directory (creation, deletion, renames,
//!   writes and attribute changes of its entries) and, while it exists, the
//!   path itself (so a directory's own changes count too). Any event for
//!   either makes the loop `lstat` the path at once.
//! * **polling**: every watcher also `lstat`s its path at its interval. With
//!   inotify this is the check behind it (a directory that does not exist
//!   yet, network file systems, overflowed event queues); without it, it is
//!   the only way, and changes are seen within one interval.
//!
//! Only a difference in the attributes makes the callback run; two changes
//! within one check look like one.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::inotify::{self, Inotify};
use super::{Contract, Kind};
use crate::handle::{handle, WatcherKey};
use crate::inner::Inner;
use crate::{Ctx, Error, Events, TimerId, Watcher};

handle! {
    /// Handle of a stat watcher (libev's `ev_stat`).
    StatId, Stat
}

/// The polling interval when none is given (libev's odd value, which keeps
/// many watchers from polling in lockstep with other periodic work).
pub const DEFAULT_STAT_INTERVAL: Duration = Duration::from_nanos(5_007_489_100);

/// The shortest polling interval accepted; shorter ones are raised to it.
pub const MIN_STAT_INTERVAL: Duration = Duration::from_millis(10);

/// What `lstat` said about a path. All zero (and `exists` false) when the
/// path did not exist or could not be examined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatAttrs {
    /// Whether `lstat` succeeded.
    pub exists: bool,
    /// Device of the file system.
    pub dev: u64,
    /// Inode number: a different one means the path names another file now.
    pub ino: u64,
    /// File type and permission bits.
    pub mode: u32,
    /// Number of hard links.
    pub nlink: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub mtime: SystemTime,
    /// Last status change (permissions, owner, links).
    pub ctime: SystemTime,
}

impl Default for StatAttrs {
    fn default() -> Self {
        StatAttrs {
            exists: false,
            dev: 0,
            ino: 0,
            mode: 0,
            nlink: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
        }
    }
}

fn time(secs: i64, nsec: i64) -> SystemTime {
    let t = Duration::new(secs.unsigned_abs(), nsec.clamp(0, 999_999_999) as u32);
    if secs >= 0 {
        UNIX_EPOCH + t
    } else {
        UNIX_EPOCH - t
    }
}

impl StatAttrs {
    /// `lstat`s `path` now.
    pub fn of(path: &Path) -> StatAttrs {
        Self::read(path, false)
    }

    /// `lstat`s `path` now, or `stat`s it (following symlinks) if `follow`.
    pub fn read(path: &Path, follow: bool) -> StatAttrs {
        let m = if follow {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        };
        match m {
            Ok(m) => StatAttrs {
                exists: true,
                dev: m.dev(),
                ino: m.ino(),
                mode: m.mode(),
                nlink: m.nlink(),
                uid: m.uid(),
                gid: m.gid(),
                size: m.size(),
                mtime: time(m.mtime(), m.mtime_nsec()),
                ctime: time(m.ctime(), m.ctime_nsec()),
            },
            Err(_) => StatAttrs::default(),
        }
    }
}

/// The stat part of a watcher slot (boxed).
pub(crate) struct StatData {
    pub path: PathBuf,
    pub interval: Duration,
    pub prev: StatAttrs,
    pub attr: StatAttrs,
    /// The internal polling timer.
    pub timer: WatcherKey,
    /// inotify watch descriptors: the path's directory and the path itself.
    pub wd_dir: Option<i32>,
    pub wd_self: Option<i32>,
    /// `stat` instead of `lstat`: watch what a symlink points to.
    pub follow: bool,
}

/// The loop's stat state: its inotify instance, made on first use.
#[derive(Default)]
pub(crate) struct StatState {
    pub inotify: Option<Inotify>,
}

pub(crate) fn data_mut<T>(inner: &mut Inner<T>, key: WatcherKey) -> Option<&mut StatData> {
    match &mut inner.slots.get_mut(key)?.kind {
        Kind::Stat(s) => Some(s),
        _ => None,
    }
}

pub(crate) struct Stat;

impl Contract for Stat {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        let Some(s) = data_mut(inner, key) else {
            return Ok(());
        };
        s.attr = StatAttrs::read(&s.path, s.follow);
        let timer = s.timer;
        inner.start_key(timer)?;
        if inner.opts.inotify {
            inotify::watch(inner, key);
        }
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        let Some(s) = data_mut(inner, key) else {
            return;
        };
        let timer = s.timer;
        let wds = [s.wd_dir.take(), s.wd_self.take()];
        inner.stop_key(timer);
        for wd in wds.into_iter().flatten() {
            inotify::unwatch(inner, wd, key);
        }
    }

    fn forget<T>(inner: &mut Inner<T>, key: WatcherKey) {
        if let Some(s) = data_mut(inner, key) {
            let timer = s.timer;
            inner.remove_key(timer);
        }
    }

    fn after_fork<T>(inner: &mut Inner<T>) -> Result<(), Error> {
        inotify::after_fork(inner);
        Ok(())
    }
}

/// `lstat`s the path; if anything changed, records it and queues the
/// watcher.
pub(crate) fn check<T>(inner: &mut Inner<T>, key: WatcherKey) {
    let Some(slot) = inner.slots.get_mut(key) else {
        return;
    };
    if !slot.active {
        return;
    }
    let Kind::Stat(s) = &mut slot.kind else {
        return;
    };
    let now = StatAttrs::read(&s.path, s.follow);
    if now == s.attr {
        return;
    }
    s.prev = s.attr;
    s.attr = now;
    // The file appeared or was replaced, or its directory did: watch
    // what exists now.
    if inner.opts.inotify {
        let replaced = s.prev.ino != s.attr.ino || !s.attr.exists;
        if let Some(wd) = replaced.then(|| s.wd_self.take()).flatten() {
            inotify::unwatch(inner, wd, key);
        }
        inotify::watch(inner, key);
    }
    inner.queue_key(key, Events::STAT);
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped stat watcher (libev's `ev_stat`) for `path`, which
    /// need not exist. While active, the callback runs with
    /// [`Events::STAT`] whenever the path's attributes (from `lstat`: size,
    /// times, permissions, owner, links, inode; existence) differ from the
    /// last ones seen; [`Watcher::attrs`] gives the previous and current
    /// ones. `interval` is how often the path is polled; zero means
    /// [`DEFAULT_STAT_INTERVAL`], and anything below [`MIN_STAT_INTERVAL`]
    /// is raised to it. With inotify (the default on Linux), most changes
    /// are seen at once, and polling is the check behind it. Starting the
    /// watcher takes the current attributes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, RunMode};
    ///
    /// let dir = std::env::temp_dir().join(format!("evloop-doc-stat-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("file");
    /// let mut lp: Loop<bool> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let id = ctx.new_stat(&path, Duration::from_millis(50), |ctx, created, id, _ev| {
    ///     let mut w = ctx.stat(id).unwrap();
    ///     let (_prev, now) = w.attrs();
    ///     *created = now.exists;
    ///     w.stop();
    /// })?;
    /// ctx.start(id)?;
    /// std::fs::write(&path, b"hello")?;
    /// let mut created = false;
    /// lp.run(&mut created, RunMode::Default)?;
    /// assert!(created);
    /// std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn new_stat<F>(
        &mut self,
        path: impl AsRef<Path>,
        interval: Duration,
        cb: F,
    ) -> Result<StatId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, StatId, Events) + 'static,
    {
        let interval = if interval.is_zero() {
            DEFAULT_STAT_INTERVAL
        } else {
            interval.max(MIN_STAT_INTERVAL)
        };
        let key = self.inner.insert(
            Kind::Stat(Box::new(StatData {
                path: path.as_ref().to_path_buf(),
                interval,
                prev: StatAttrs::default(),
                attr: StatAttrs::default(),
                timer: WatcherKey::default(),
                wd_dir: None,
                wd_self: None,
                follow: false,
            })),
            super::wrap(cb),
        );
        let timer: TimerId = self.new_timer(interval, interval, move |ctx, _, _, _| {
            check(ctx.inner, key)
        })?;
        let timer = timer.0.key;
        self.inner.make_internal(timer);
        // Polling runs at the default priority, as the watcher does.
        self.inner.slots[timer].priority = crate::Priority::DEFAULT;
        if let Some(s) = data_mut(self.inner, key) {
            s.timer = timer;
        }
        Ok(self.inner.handle(key))
    }

    /// A view of a stat watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn stat(&mut self, id: StatId) -> Result<Watcher<'_, T, StatId>, Error> {
        self.watcher(id)
    }

    /// Whether this loop's stat watchers get inotify's help: `false` if the
    /// builder turned it off or inotify could not be set up (then they poll
    /// only). Before the first stat watcher starts, this is what the loop
    /// will try.
    pub fn stat_uses_inotify(&self) -> bool {
        self.inner.opts.inotify
    }
}

impl<'a, T> Watcher<'a, T, StatId> {
    fn data(&self) -> &StatData {
        match &self.inner.slots[self.key].kind {
            Kind::Stat(s) => s,
            _ => unreachable!("a StatId resolves to a stat watcher"),
        }
    }

    fn data_mut(&mut self) -> &mut StatData {
        match &mut self.inner.slots[self.key].kind {
            Kind::Stat(s) => s,
            _ => unreachable!("a StatId resolves to a stat watcher"),
        }
    }

    /// The previous and the current attributes of the path (libev's `prev`
    /// and `attr`).
    pub fn attrs(&self) -> (StatAttrs, StatAttrs) {
        let s = self.data();
        (s.prev, s.attr)
    }

    /// `lstat`s the path now and makes that the current attributes, without
    /// running the callback (libev's `ev_stat_stat`); returns them.
    pub fn stat_now(&mut self) -> StatAttrs {
        let s = self.data_mut();
        s.attr = StatAttrs::read(&s.path, s.follow);
        s.attr
    }

    /// The polling interval (after defaulting and raising).
    pub fn interval(&self) -> Duration {
        self.data().interval
    }

    /// The path it watches.
    pub fn path(&self) -> &Path {
        &self.data().path
    }

    /// Makes the watcher follow symlinks (`stat` instead of `lstat`): it
    /// then reports changes of the file a symlink points to, such as a log
    /// file behind a `current.log` link, and a change of the link's target
    /// shows as a new inode. Off by default, as in libev. Changes in the
    /// target's directory (a new file renamed over the target) may be seen
    /// by polling only: inotify watches the link's directory and the target
    /// file itself.
    ///
    /// # Errors
    ///
    /// [`Error::Active`] while the watcher is active (stop it first, as for
    /// the other settings).
    pub fn set_follow(&mut self, follow: bool) -> Result<(), Error> {
        if self.is_active() {
            return Err(Error::Active);
        }
        self.data_mut().follow = follow;
        Ok(())
    }

    crate::view::set_callback!(StatId);
}
