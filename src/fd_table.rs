//! The fd table: which io watchers are active on each fd, what the backend
//! has registered for it, and which fds changed since the last poll.
//!
//! Starting and stopping io watchers only edits this table and marks the fd
//! changed; the loop applies all changes once, just before it polls (libev's
//! `fd_change`/`fd_reify`). A watcher stopped and started again within one
//! iteration therefore costs no system call.

use std::os::fd::RawFd;

use crate::handle::WatcherKey;
use crate::Events;

/// What the table knows about one fd number.
#[derive(Debug, Default)]
pub(crate) struct FdEntry {
    /// The active io watchers on this fd.
    pub watchers: Vec<WatcherKey>,
    /// The interest the backend has for this fd.
    pub registered: Events,
    /// Queued in `changes`.
    pub changed: bool,
    /// The fd may now be another file description than the one registered:
    /// the backend must register it afresh.
    pub reset: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct FdTable {
    entries: Vec<FdEntry>,
    /// fds whose interest may differ from `registered`.
    pub changes: Vec<RawFd>,
    /// A spare vector swapped with `changes` while they are applied.
    pub spare: Vec<RawFd>,
}

impl FdTable {
    /// The entry for `fd`, grown on demand. `fd` must be non-negative.
    #[inline]
    pub fn entry(&mut self, fd: RawFd) -> &mut FdEntry {
        let i = fd as usize;
        if i >= self.entries.len() {
            self.entries.resize_with(i + 1, FdEntry::default);
        }
        &mut self.entries[i]
    }

    /// The entry for `fd` if the table has ever seen it.
    #[inline]
    pub fn get(&self, fd: RawFd) -> Option<&FdEntry> {
        self.entries.get(fd as usize)
    }

    /// Marks `fd` for the next reify.
    #[inline]
    pub fn mark_changed(&mut self, fd: RawFd) {
        let e = self.entry(fd);
        if !e.changed {
            e.changed = true;
            self.changes.push(fd);
        }
    }

    /// Adds an active watcher on `fd`; `reset` if its fd was set anew.
    pub fn attach(&mut self, fd: RawFd, key: WatcherKey, reset: bool) {
        let e = self.entry(fd);
        e.watchers.push(key);
        e.reset |= reset;
        self.mark_changed(fd);
    }

    /// Removes an active watcher from `fd`.
    pub fn detach(&mut self, fd: RawFd, key: WatcherKey) {
        let e = self.entry(fd);
        if let Some(pos) = e.watchers.iter().position(|&k| k == key) {
            e.watchers.swap_remove(pos);
        }
        self.mark_changed(fd);
    }
}
