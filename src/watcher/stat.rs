//! Stat watchers (libev's `ev_stat`): a path's attributes changed.
//!
//! The attributes come from `lstat` (as libev's code does, whatever its
//! documentation says): a symlink is watched as the link itself, not its
//! target, unless [`Ctx::set_stat_follow`] asks for `stat`. Changes are
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

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::handle::{IoId, StatId, TimerId, WatcherKey};
use crate::watcher::Kind;
use crate::{Ctx, Error, Events};

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

/// The loop's inotify instance.
pub(crate) struct Inotify {
    pub io: WatcherKey,
    pub fd: i32,
    /// Which stat watchers each watch descriptor serves.
    pub wds: HashMap<i32, Vec<WatcherKey>>,
}

/// What the path's directory and the path itself are watched for. The
/// path is watched without following a symlink unless the watcher follows.
const WATCH_MASK: u32 = libc::IN_ATTRIB
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MODIFY
    | libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

fn add_watch(fd: i32, path: &Path, follow: bool) -> Option<i32> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mask = if follow {
        WATCH_MASK
    } else {
        WATCH_MASK | libc::IN_DONT_FOLLOW
    };
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), mask) };
    (wd >= 0).then_some(wd)
}

impl<T> Ctx<T> {
    /// Creates a stopped stat watcher (libev's `ev_stat`) for `path`, which
    /// need not exist. While active, the callback runs with
    /// [`Events::STAT`] whenever the path's attributes (from `lstat`: size,
    /// times, permissions, owner, links, inode; existence) differ from the
    /// last ones seen; [`stat_attrs`](Self::stat_attrs) gives the previous
    /// and current ones. `interval` is how often the path is polled; zero
    /// means [`DEFAULT_STAT_INTERVAL`], and anything below
    /// [`MIN_STAT_INTERVAL`] is raised to it. With inotify (the default on
    /// Linux), most changes are seen at once, and polling is the check
    /// behind it. Starting the watcher takes the current attributes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, RunMode};
    ///
    /// let dir = std::env::temp_dir().join(format!("evloop-doc-stat-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("file");
    /// let mut lp: Loop<bool> = Loop::new()?;
    /// let id = lp.stat(&path, Duration::from_millis(50), |ctx, created, id, _ev| {
    ///     let (_prev, now) = ctx.stat_attrs(id).unwrap();
    ///     *created = now.exists;
    ///     ctx.stop(id).unwrap();
    /// })?;
    /// lp.start(id)?;
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
    pub fn stat<F>(
        &mut self,
        path: impl AsRef<Path>,
        interval: Duration,
        mut cb: F,
    ) -> Result<StatId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, StatId, Events) + 'static,
    {
        let interval = if interval.is_zero() {
            DEFAULT_STAT_INTERVAL
        } else {
            interval.max(MIN_STAT_INTERVAL)
        };
        let key = self.insert(
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
            Box::new(move |c, d, k, e| cb(c, d, StatId(k), e)),
        );
        let timer = self.timer(interval, interval, move |ctx, _, _, _| ctx.stat_check(key))?;
        self.slots[timer.0].keepalive = false;
        if let Kind::Stat(s) = &mut self.slots[key].kind {
            s.timer = timer.0;
        }
        Ok(StatId(key))
    }

    /// The previous and the current attributes of a stat watcher's path
    /// (libev's `prev` and `attr`).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn stat_attrs(&self, id: StatId) -> Result<(StatAttrs, StatAttrs), Error> {
        let s = self.stat_data(id.0)?;
        Ok((s.prev, s.attr))
    }

    /// `lstat`s the path now and makes that the current attributes, without
    /// running the callback (libev's `ev_stat_stat`); returns them.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn stat_now(&mut self, id: StatId) -> Result<StatAttrs, Error> {
        let s = self.stat_data_mut(id.0)?;
        s.attr = StatAttrs::read(&s.path, s.follow);
        Ok(s.attr)
    }

    /// Whether this loop's stat watchers get inotify's help: `false` if the
    /// builder turned it off or inotify could not be set up (then they poll
    /// only). Before the first stat watcher starts, this is what the loop
    /// will try.
    pub fn stat_uses_inotify(&self) -> bool {
        self.opts.inotify
    }

    /// A stat watcher's polling interval (after defaulting and raising).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn stat_interval(&self, id: StatId) -> Result<Duration, Error> {
        Ok(self.stat_data(id.0)?.interval)
    }

    /// Makes a stat watcher follow symlinks (`stat` instead of `lstat`):
    /// it then reports changes of the file a symlink points to, such as a
    /// log file behind a `current.log` link, and a change of the link's
    /// target shows as a new inode. Off by default, as in libev. Changes
    /// in the target's directory (a new file renamed over the target) may
    /// be seen by polling only: inotify watches the link's directory and
    /// the target file itself.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`], or [`Error::Active`] while the watcher is
    /// active (stop it first, as for the other settings).
    pub fn set_stat_follow(&mut self, id: StatId, follow: bool) -> Result<(), Error> {
        if self.slots.get(id.0).ok_or(Error::StaleHandle)?.active {
            return Err(Error::Active);
        }
        self.stat_data_mut(id.0)?.follow = follow;
        Ok(())
    }

    /// The path a stat watcher watches.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn stat_path(&self, id: StatId) -> Result<&Path, Error> {
        Ok(&self.stat_data(id.0)?.path)
    }

    fn stat_data(&self, key: WatcherKey) -> Result<&StatData, Error> {
        match &self.slots.get(key).ok_or(Error::StaleHandle)?.kind {
            Kind::Stat(s) => Ok(s),
            _ => Err(Error::StaleHandle),
        }
    }

    fn stat_data_mut(&mut self, key: WatcherKey) -> Result<&mut StatData, Error> {
        match &mut self.slots.get_mut(key).ok_or(Error::StaleHandle)?.kind {
            Kind::Stat(s) => Ok(s),
            _ => Err(Error::StaleHandle),
        }
    }

    pub(crate) fn stat_start(&mut self, key: WatcherKey) -> Result<(), Error> {
        let s = self.stat_data_mut(key)?;
        s.attr = StatAttrs::read(&s.path, s.follow);
        let timer = TimerId(s.timer);
        self.start(timer)?;
        if self.opts.inotify {
            self.inotify_watch(key);
        }
        Ok(())
    }

    pub(crate) fn stat_stop(&mut self, key: WatcherKey) {
        let Ok(s) = self.stat_data_mut(key) else {
            return;
        };
        let timer = s.timer;
        let wds = [s.wd_dir.take(), s.wd_self.take()];
        self.stop_key(timer);
        for wd in wds.into_iter().flatten() {
            self.inotify_unwatch(wd, key);
        }
    }

    pub(crate) fn stat_forget(&mut self, key: WatcherKey) {
        if let Ok(s) = self.stat_data(key) {
            let timer = s.timer;
            let _ = self.remove(TimerId(timer));
        }
    }

    /// The loop's inotify fd, created on first use; `None` if inotify is
    /// unavailable (the loop then polls only).
    fn inotify_fd(&mut self) -> Option<i32> {
        if let Some(n) = &self.inotify {
            return Some(n.fd);
        }
        // SAFETY: inotify_init1 takes flags only; the result is checked.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            self.opts.inotify = false;
            return None;
        }
        // SAFETY: the fd was just created and nothing else owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let io = self
            .internal_io(owned, |ctx, _, id, _| ctx.inotify_read(id))
            .ok()?;
        self.inotify = Some(Inotify {
            io,
            fd,
            wds: HashMap::new(),
        });
        Some(fd)
    }

    /// Adds the inotify watches a watcher lacks: its directory, and the path
    /// itself while it exists.
    fn inotify_watch(&mut self, key: WatcherKey) {
        let Some(fd) = self.inotify_fd() else {
            return;
        };
        let Ok(s) = self.stat_data_mut(key) else {
            return;
        };
        let mut added = Vec::new();
        if s.wd_dir.is_none() {
            let dir = match s.path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            s.wd_dir = add_watch(fd, &dir, true);
            added.extend(s.wd_dir);
        }
        if s.wd_self.is_none() && s.attr.exists {
            s.wd_self = add_watch(fd, &s.path, s.follow);
            added.extend(s.wd_self);
        }
        if let Some(n) = &mut self.inotify {
            for wd in added {
                let list = n.wds.entry(wd).or_default();
                if !list.contains(&key) {
                    list.push(key);
                }
            }
        }
    }

    fn inotify_unwatch(&mut self, wd: i32, key: WatcherKey) {
        let Some(n) = &mut self.inotify else {
            return;
        };
        if let Some(list) = n.wds.get_mut(&wd) {
            list.retain(|&k| k != key);
            if list.is_empty() {
                n.wds.remove(&wd);
                // SAFETY: plain integer arguments; a wd the kernel dropped
                // already gives EINVAL, which is fine.
                unsafe { libc::inotify_rm_watch(n.fd, wd) };
            }
        }
    }

    /// inotify has events: check the watchers they concern.
    fn inotify_read(&mut self, id: IoId) {
        let Ok(fd) = self.io_fd(id) else {
            return;
        };
        let mut buf = [0u8; 4096];
        let mut keys: Vec<WatcherKey> = Vec::new();
        let mut all = false;
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let mut off = 0usize;
            let head = std::mem::size_of::<libc::inotify_event>();
            while off + head <= n as usize {
                // SAFETY: the kernel wrote a whole inotify_event header at
                // `off`; read_unaligned copes with the byte buffer's alignment.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf.as_ptr().add(off).cast()) };
                off += head + ev.len as usize;
                if ev.mask & libc::IN_Q_OVERFLOW != 0 {
                    all = true;
                    continue;
                }
                if let Some(list) = self.inotify.as_ref().and_then(|n| n.wds.get(&ev.wd)) {
                    keys.extend_from_slice(list);
                }
                if ev.mask & libc::IN_IGNORED != 0 {
                    self.inotify_dropped(ev.wd);
                }
            }
        }
        if all {
            keys = self
                .inotify
                .as_ref()
                .map(|n| n.wds.values().flatten().copied().collect())
                .unwrap_or_default();
        }
        keys.sort();
        keys.dedup();
        for key in keys {
            self.stat_check(key);
        }
    }

    /// The kernel dropped a watch (its file went away).
    fn inotify_dropped(&mut self, wd: i32) {
        let Some(list) = self.inotify.as_mut().and_then(|n| n.wds.remove(&wd)) else {
            return;
        };
        for key in list {
            if let Ok(s) = self.stat_data_mut(key) {
                if s.wd_dir == Some(wd) {
                    s.wd_dir = None;
                }
                if s.wd_self == Some(wd) {
                    s.wd_self = None;
                }
            }
        }
    }

    /// `lstat`s the path; if anything changed, records it and queues the
    /// watcher.
    fn stat_check(&mut self, key: WatcherKey) {
        let Some(slot) = self.slots.get_mut(key) else {
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
        if self.opts.inotify {
            if let Kind::Stat(s) = &mut self.slots[key].kind {
                if s.prev.ino != s.attr.ino || !s.attr.exists {
                    if let Some(wd) = s.wd_self.take() {
                        self.inotify_unwatch(wd, key);
                    }
                }
            }
            self.inotify_watch(key);
        }
        self.queue_key(key, Events::STAT);
    }

    /// After `fork`: a new inotify instance with the same watches.
    pub(crate) fn stat_after_fork(&mut self) -> Result<(), Error> {
        let Some(n) = self.inotify.take() else {
            return Ok(());
        };
        let mut keys: Vec<WatcherKey> = n.wds.values().flatten().copied().collect();
        keys.sort();
        keys.dedup();
        // Closing the child's copy leaves the parent's instance alone.
        let _ = self.remove(IoId(n.io));
        for &key in &keys {
            if let Ok(s) = self.stat_data_mut(key) {
                s.wd_dir = None;
                s.wd_self = None;
            }
        }
        for key in keys {
            self.inotify_watch(key);
        }
        Ok(())
    }
}
