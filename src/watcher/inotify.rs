//! The loop's inotify instance, serving stat watchers: one per loop,
//! created on first use, with a map from watch descriptor to the stat
//! watchers it concerns. A stat watcher watches its path's directory and,
//! while it exists, the path itself.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use super::io;
use super::stat;
use crate::handle::WatcherKey;
use crate::inner::Inner;
use crate::sys::inotify as sys;

/// The loop's inotify instance.
pub(crate) struct Inotify {
    fd: OwnedFd,
    /// The internal io watcher on `fd` (which it does not own: it is
    /// removed before `fd` is closed).
    io: WatcherKey,
    /// Which stat watchers each watch descriptor serves.
    wds: HashMap<i32, Vec<WatcherKey>>,
}

/// The loop's inotify fd, created on first use; `None` if inotify is
/// unavailable (the loop then polls only).
fn instance<T>(inner: &mut Inner<T>) -> Option<&mut Inotify> {
    if inner.kinds.stat.inotify.is_none() {
        let Ok(fd) = sys::init() else {
            inner.opts.inotify = false;
            return None;
        };
        let raw = fd.as_raw_fd();
        let io = io::internal(
            inner,
            raw,
            Box::new(()),
            Box::new(|ctx, _, _, _| read(ctx.inner)),
        );
        inner.kinds.stat.inotify = Some(Inotify {
            fd,
            io,
            wds: HashMap::new(),
        });
    }
    inner.kinds.stat.inotify.as_mut()
}

/// Adds the inotify watches a stat watcher lacks: its directory, and the
/// path itself while it exists.
pub(crate) fn watch<T>(inner: &mut Inner<T>, key: WatcherKey) {
    if instance(inner).is_none() {
        return;
    }
    // The instance and the watcher's slot are disjoint parts of the loop.
    let (Some(n), Some(s)) = (
        inner.kinds.stat.inotify.as_mut(),
        stat_data(&mut inner.slots, key),
    ) else {
        return;
    };
    let mut added = Vec::new();
    if s.wd_dir.is_none() {
        let dir = match s.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        s.wd_dir = sys::add_watch(n.fd.as_fd(), &dir, true);
        added.extend(s.wd_dir);
    }
    if s.wd_self.is_none() && s.attr.exists {
        s.wd_self = sys::add_watch(n.fd.as_fd(), &s.path, s.follow);
        added.extend(s.wd_self);
    }
    for wd in added {
        let list = n.wds.entry(wd).or_default();
        if !list.contains(&key) {
            list.push(key);
        }
    }
}

/// Drops a stat watcher from a watch; the last one out removes it.
pub(crate) fn unwatch<T>(inner: &mut Inner<T>, wd: i32, key: WatcherKey) {
    let Some(n) = &mut inner.kinds.stat.inotify else {
        return;
    };
    if let Some(list) = n.wds.get_mut(&wd) {
        list.retain(|&k| k != key);
        if list.is_empty() {
            n.wds.remove(&wd);
            sys::rm_watch(n.fd.as_fd(), wd);
        }
    }
}

/// inotify has events: check the watchers they concern.
fn read<T>(inner: &mut Inner<T>) {
    let Some(n) = &mut inner.kinds.stat.inotify else {
        return;
    };
    let mut events = Vec::new();
    sys::read_events(n.fd.as_fd(), &mut events);
    let mut keys: Vec<WatcherKey> = Vec::new();
    let mut all = false;
    for ev in events {
        if ev.overflow {
            all = true;
            continue;
        }
        if let Some(list) = n.wds.get(&ev.wd) {
            keys.extend_from_slice(list);
        }
        if ev.ignored {
            // The kernel dropped the watch (its file went away).
            for key in n.wds.remove(&ev.wd).unwrap_or_default() {
                if let Some(s) = stat_data(&mut inner.slots, key) {
                    if s.wd_dir == Some(ev.wd) {
                        s.wd_dir = None;
                    }
                    if s.wd_self == Some(ev.wd) {
                        s.wd_self = None;
                    }
                }
            }
        }
    }
    if all {
        keys = n.wds.values().flatten().copied().collect();
    }
    keys.sort();
    keys.dedup();
    for key in keys {
        stat::check(inner, key);
    }
}

/// A stat watcher's data, borrowing only the slots (so that the inotify
/// instance can be borrowed beside it).
fn stat_data(
    slots: &mut slotmap::SlotMap<WatcherKey, super::Slot>,
    key: WatcherKey,
) -> Option<&mut stat::StatData> {
    match &mut slots.get_mut(key)?.kind {
        super::Kind::Stat(s) => Some(s),
        _ => None,
    }
}

/// After `fork`: a new inotify instance with the same watches.
pub(crate) fn after_fork<T>(inner: &mut Inner<T>) {
    let Some(n) = inner.kinds.stat.inotify.take() else {
        return;
    };
    let mut keys: Vec<WatcherKey> = n.wds.values().flatten().copied().collect();
    keys.sort();
    keys.dedup();
    // Closing the child's copy leaves the parent's instance alone.
    inner.remove_key(n.io);
    drop(n.fd);
    for &key in &keys {
        if let Some(s) = stat_data(&mut inner.slots, key) {
            s.wd_dir = None;
            s.wd_self = None;
        }
    }
    for key in keys {
        watch(inner, key);
    }
}
