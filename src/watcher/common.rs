//! The calls every watcher kind shares: start, stop, remove, priority,
//! pending state, feeding events, keepalive.

use crate::handle::{WatcherId, WatcherKey};
use crate::watcher::Kind;
use crate::{Ctx, Error, Events, Priority};

impl<T> Ctx<T> {
    /// Starts a watcher (libev's `ev_TYPE_start`). Starting an active
    /// watcher does nothing. What "start" means is per kind: an io watcher
    /// begins to watch its fd, a timer counts `after` from [`now`](Self::now),
    /// a periodic computes its next wall-clock time.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed; for a periodic
    /// whose schedule yields no time, [`Error::InvalidArgument`].
    pub fn start<W: WatcherId>(&mut self, id: W) -> Result<(), Error> {
        let key = id.key();
        let slot = self.slots.get_mut(key).ok_or(Error::StaleHandle)?;
        if slot.active {
            return Ok(());
        }
        match &mut slot.kind {
            // Io inline: stop+start of every watcher is what a server does
            // when it re-arms, and one slot lookup is all it needs.
            Kind::Io(io) => {
                let reset = std::mem::take(&mut io.fd_reset);
                self.fds.attach(io.fd, key, io.interest, reset);
                slot.active = true;
                self.refs += slot.keepalive as isize;
                return Ok(());
            }
            Kind::Timer(_) => self.timer_start(key),
            Kind::Periodic(_) => self.periodic_start(key)?,
            Kind::Idle(_)
            | Kind::Prepare(_)
            | Kind::Check(_)
            | Kind::Fork(_)
            | Kind::Cleanup(_) => self.list_start(key),
            Kind::Signal(_) => self.signal_start(key)?,
            Kind::Child(_) => {
                // Mark first: the start may report a child that already
                // exited, which stops the watcher again.
                self.mark_active(key);
                if let Err(e) = self.child_start(key) {
                    self.stop_key(key);
                    return Err(e);
                }
                return Ok(());
            }
            Kind::Async(_) => self.async_start(key),
            Kind::Stat(_) => self.stat_start(key)?,
            Kind::Embed(_) => self.embed_start(key)?,
        }
        self.mark_active(key);
        Ok(())
    }

    /// Stops a watcher (libev's `ev_TYPE_stop`): it is no longer active, and
    /// an event it had pending is dropped, so its callback will not run for
    /// anything that happened before the stop. Stopping a stopped watcher
    /// does nothing. Allowed from any callback, the watcher's own included.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn stop<W: WatcherId>(&mut self, id: W) -> Result<(), Error> {
        if self.stop_key(id.key()) {
            Ok(())
        } else {
            Err(Error::StaleHandle)
        }
    }

    /// Stops and forgets a watcher. Its closure (and, for an io watcher, the
    /// source it owns) is dropped; if the watcher is running its own
    /// callback, the closure is dropped when that returns. The handle, and
    /// any copy of it, is stale from now on.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed already.
    pub fn remove<W: WatcherId>(&mut self, id: W) -> Result<(), Error> {
        let key = id.key();
        if !self.slots.contains_key(key) {
            return Err(Error::StaleHandle);
        }
        self.stop_key(key);
        self.forget_kind(key);
        self.slots.remove(key);
        // A closure that is running is not in the map; the dispatcher drops
        // it when it returns and finds no place for it.
        self.callbacks.remove(key);
        Ok(())
    }

    /// Whether the watcher is active (started and not stopped since; a
    /// one-shot timer stops itself when it fires). `false` for a stale handle.
    pub fn is_active<W: WatcherId>(&self, id: W) -> bool {
        self.slots.get(id.key()).is_some_and(|s| s.active)
    }

    /// Whether the watcher has an event waiting for its callback.
    /// `false` for a stale handle.
    pub fn is_pending<W: WatcherId>(&self, id: W) -> bool {
        self.slots
            .get(id.key())
            .is_some_and(|s| s.pending != 0 || !s.missed.is_empty())
    }

    /// Whether the handle still refers to a watcher.
    pub fn contains<W: WatcherId>(&self, id: W) -> bool {
        self.slots.contains_key(id.key())
    }

    /// Drops the watcher's pending event, if any, and returns its bits
    /// (libev's `ev_clear_pending`; empty if it was not pending).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn clear_pending<W: WatcherId>(&mut self, id: W) -> Result<Events, Error> {
        let slot = self.slots.get_mut(id.key()).ok_or(Error::StaleHandle)?;
        // An event held back for a callback that is running further up the
        // stack (a nested run) is pending too.
        let held = std::mem::take(&mut slot.missed);
        Ok(self.pending.clear(&mut slot.pending, slot.priority) | held)
    }

    /// Makes the watcher pending with `events`, as if they had happened
    /// (libev's `ev_feed_event`). Works on stopped watchers too. Feeding a
    /// watcher that is pending already ORs the bits into its event, so its
    /// callback still runs once.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn feed_event<W: WatcherId>(&mut self, id: W, events: Events) -> Result<(), Error> {
        let key = id.key();
        if !self.slots.contains_key(key) {
            return Err(Error::StaleHandle);
        }
        self.queue_key(key, events);
        Ok(())
    }

    /// The watcher's priority.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn priority<W: WatcherId>(&self, id: W) -> Result<Priority, Error> {
        Ok(self.slots.get(id.key()).ok_or(Error::StaleHandle)?.priority)
    }

    /// Sets the watcher's priority. Unlike libev, this is allowed at any
    /// time: a pending event moves to the new priority's queue, and an
    /// active idle watcher to the new priority's idle list.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn set_priority<W: WatcherId>(&mut self, id: W, priority: Priority) -> Result<(), Error> {
        let key = id.key();
        let slot = self.slots.get_mut(key).ok_or(Error::StaleHandle)?;
        if slot.priority == priority {
            return Ok(());
        }
        let events = self.pending.clear(&mut slot.pending, slot.priority);
        let idle_active = slot.active && matches!(slot.kind, Kind::Idle(_));
        if idle_active {
            self.list_stop(key);
        }
        let slot = &mut self.slots[key];
        slot.priority = priority;
        if idle_active {
            self.list_start(key);
        }
        if !events.is_empty() {
            self.queue_key(key, events);
        }
        Ok(())
    }

    /// Whether being active keeps [`run`](Self::run) going (the default), or
    /// not: a watcher with keepalive off is still served while `run` runs,
    /// but `run` in [`RunMode::Default`](crate::RunMode::Default) returns
    /// once only such watchers are left. This is libev's "start, then
    /// `ev_unref`" idiom, kept in step with start and stop automatically.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn set_keepalive<W: WatcherId>(&mut self, id: W, keepalive: bool) -> Result<(), Error> {
        let slot = self.slots.get_mut(id.key()).ok_or(Error::StaleHandle)?;
        if slot.keepalive != keepalive {
            slot.keepalive = keepalive;
            if slot.active {
                self.refs += if keepalive { 1 } else { -1 };
            }
        }
        Ok(())
    }

    /// Marks a watcher active and takes its reference.
    pub(crate) fn mark_active(&mut self, key: WatcherKey) {
        let slot = &mut self.slots[key];
        slot.active = true;
        if slot.keepalive {
            self.refs += 1;
        }
    }

    /// Stops the watcher behind a valid key and clears its pending event.
    /// Returns false if the key is stale.
    #[inline]
    pub(crate) fn stop_key(&mut self, key: WatcherKey) -> bool {
        let Some(slot) = self.slots.get_mut(key) else {
            return false;
        };
        self.pending.clear(&mut slot.pending, slot.priority);
        // An event deferred while its callback runs (nested run) is pending
        // too: a stop drops it.
        slot.missed = Events::empty();
        if !slot.active {
            return true;
        }
        slot.active = false;
        self.refs -= slot.keepalive as isize;
        match &slot.kind {
            Kind::Io(io) => self.fds.detach(io.fd, key),
            // The heap entry stays behind, dead; see `Ctx::timer`.
            Kind::Timer(_) => {}
            Kind::Periodic(_) => self.periodic_stop(key),
            Kind::Idle(_)
            | Kind::Prepare(_)
            | Kind::Check(_)
            | Kind::Fork(_)
            | Kind::Cleanup(_) => self.list_stop(key),
            Kind::Signal(_) => self.signal_stop(key),
            Kind::Child(_) => self.child_stop(key),
            Kind::Async(_) => self.async_stop(key),
            Kind::Stat(_) => self.stat_stop(key),
            Kind::Embed(_) => self.embed_stop(key),
        }
        true
    }

    /// Releases what a stopped watcher still holds before its slot goes.
    fn forget_kind(&mut self, key: WatcherKey) {
        match self.slots[key].kind {
            Kind::Io(_) => self.io_forget(key),
            Kind::Timer(_) => self.timer_forget(key),
            Kind::Child(_) => self.child_forget(key),
            Kind::Stat(_) => self.stat_forget(key),
            Kind::Embed(_) => self.embed_forget(key),
            Kind::Cleanup(_) => self.cleanup_forget(key),
            _ => {}
        }
    }

    /// Stores a typed callback as the loop's uniform callback.
    pub(crate) fn insert(&mut self, kind: Kind, cb: super::Callback<T>) -> WatcherKey {
        let key = self.slots.insert(super::Slot::new(kind));
        self.callbacks.insert(key, Some(cb));
        key
    }
}
