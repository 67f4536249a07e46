//! The loop's inotify instance, serving stat watchers: one per loop,
//! created on first use, with a map from watch descriptor to the stat
//! watchers it concerns. A stat watcher watches its path's directory and,
//! while it exists, the path itself.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::handle::{IoId, WatcherKey};
use crate::{Ctx, Error};

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
    pub(crate) fn inotify_watch(&mut self, key: WatcherKey) {
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

    pub(crate) fn inotify_unwatch(&mut self, wd: i32, key: WatcherKey) {
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
