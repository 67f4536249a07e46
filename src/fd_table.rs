//! The fd table: which io watchers are active on each fd, what the backend
//! has registered for it, and which fds changed since the last poll.
//!
//! Starting and stopping io watchers only edits this table and marks the fd
//! changed; the loop applies all changes once, just before it polls (libev's
//! `fd_change`/`fd_reify`). A watcher stopped and started again within one
//! iteration therefore costs no system call.
//!
//! Each entry keeps its watchers' interests next to their keys, so the
//! union the backend needs is computed without visiting the watcher slots,
//! and the first watcher of an fd (nearly always the only one) lives inline
//! in the entry rather than behind a separate allocation.

use std::os::fd::RawFd;

use crate::handle::WatcherKey;
use crate::Events;

/// One active io watcher on an fd.
pub(crate) type Watch = (WatcherKey, Events);

/// What the table knows about one fd number.
#[derive(Debug, Default)]
pub(crate) struct FdEntry {
    /// The first active io watcher on this fd.
    first: Option<Watch>,
    /// Any further ones.
    rest: Vec<Watch>,
    /// The interest the backend has for this fd.
    pub registered: Events,
    /// Queued in `changes`.
    pub changed: bool,
    /// The fd may now be another file description than the one registered:
    /// the backend must register it afresh.
    pub reset: bool,
}

impl FdEntry {
    /// The active watchers on this fd with their interests.
    #[inline]
    pub fn watchers(&self) -> impl Iterator<Item = Watch> + '_ {
        self.first.into_iter().chain(self.rest.iter().copied())
    }

    /// The union of the active watchers' interests.
    #[inline]
    pub fn wanted(&self) -> Events {
        self.watchers()
            .fold(Events::empty(), |acc, (_, ev)| acc | ev)
    }

    fn find(&mut self, key: WatcherKey) -> Option<&mut Watch> {
        match &mut self.first {
            Some(w) if w.0 == key => Some(w),
            _ => self.rest.iter_mut().find(|w| w.0 == key),
        }
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct FdTable {
    entries: Vec<FdEntry>,
    /// fds whose interest may differ from `registered`.
    pub changes: Vec<RawFd>,
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
    #[inline]
    pub fn attach(&mut self, fd: RawFd, key: WatcherKey, interest: Events, reset: bool) {
        let e = self.entry(fd);
        if e.first.is_none() {
            e.first = Some((key, interest));
        } else {
            e.rest.push((key, interest));
        }
        e.reset |= reset;
        if !e.changed {
            e.changed = true;
            self.changes.push(fd);
        }
    }

    /// Removes an active watcher from `fd`.
    #[inline]
    pub fn detach(&mut self, fd: RawFd, key: WatcherKey) {
        let e = self.entry(fd);
        if e.first.is_some_and(|w| w.0 == key) {
            e.first = e.rest.pop();
        } else if let Some(pos) = e.rest.iter().position(|w| w.0 == key) {
            e.rest.swap_remove(pos);
        }
        if !e.changed {
            e.changed = true;
            self.changes.push(fd);
        }
    }

    /// The file behind `fd` may have changed: register it afresh.
    pub fn reset(&mut self, fd: RawFd) {
        self.entry(fd).reset = true;
        self.mark_changed(fd);
    }

    /// Forgets what any backend registered: after `fork` the loop has a new
    /// backend, which must be told about every fd that has watchers.
    pub fn reset_all(&mut self) {
        for (fd, e) in self.entries.iter_mut().enumerate() {
            e.registered = Events::empty();
            e.reset = true;
            if e.first.is_some() && !e.changed {
                e.changed = true;
                self.changes.push(fd as RawFd);
            }
        }
    }

    /// Records a new interest for an active watcher on `fd`.
    pub fn set_interest(&mut self, fd: RawFd, key: WatcherKey, interest: Events) {
        if let Some(w) = self.entry(fd).find(key) {
            w.1 = interest;
        }
        self.mark_changed(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotmap::SlotMap;

    #[test]
    fn watchers_and_union_follow_attach_and_detach() {
        let mut keys: SlotMap<WatcherKey, ()> = SlotMap::with_key();
        let (a, b, c) = (keys.insert(()), keys.insert(()), keys.insert(()));
        let mut t = FdTable::default();
        t.attach(5, a, Events::READ, true);
        t.attach(5, b, Events::WRITE, false);
        t.attach(5, c, Events::READ, false);
        assert_eq!(t.changes, [5]);
        let e = t.get(5).unwrap();
        assert_eq!(e.wanted(), Events::READ | Events::WRITE);
        assert!(e.reset);
        t.detach(5, a);
        let mut keys_left: Vec<_> = t.get(5).unwrap().watchers().map(|w| w.0).collect();
        keys_left.sort();
        let mut want = vec![b, c];
        want.sort();
        assert_eq!(keys_left, want);
        t.detach(5, b);
        assert_eq!(t.get(5).unwrap().wanted(), Events::READ);
        t.set_interest(5, c, Events::WRITE);
        assert_eq!(t.get(5).unwrap().wanted(), Events::WRITE);
        t.detach(5, c);
        assert_eq!(t.get(5).unwrap().wanted(), Events::empty());
        assert_eq!(t.changes, [5], "an fd is queued once until applied");
    }
}
