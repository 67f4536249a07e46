//! Watchers the loop keeps for itself: the async wake-up fd, the signal
//! eventfd, pidfds, inotify, embedded loops. They are ordinary watchers
//! whose handles never leave the crate; they run at the highest priority
//! (their callbacks only queue the user's watchers) and do not keep `run`
//! going on their own (the user's watchers they serve do).

use std::os::fd::AsFd;

use crate::handle::{IoId, WatcherKey};
use crate::{Ctx, Error, Events, Priority};

impl<T> Ctx<T> {
    /// Creates and starts an internal io watcher.
    pub(crate) fn internal_io<S, F>(&mut self, source: S, cb: F) -> Result<WatcherKey, Error>
    where
        S: AsFd + 'static,
        F: FnMut(&mut Ctx<T>, &mut T, IoId, Events) + 'static,
    {
        let id = self.io(source, Events::READ, cb)?;
        self.make_internal(id.0);
        self.start(id)?;
        Ok(id.0)
    }

    /// Gives a (still stopped) watcher the settings of an internal one:
    /// highest priority, keepalive off.
    pub(crate) fn make_internal(&mut self, key: WatcherKey) {
        let slot = &mut self.slots[key];
        slot.keepalive = false;
        slot.priority = Priority::MAX;
    }
}
