//! The loop's state ([`Inner`]) and the operations every watcher kind
//! shares: resolving handles, creating, starting, stopping and removing
//! watchers, queueing events.

use slotmap::{SecondaryMap, SlotMap};

use crate::backend::Poller;
use crate::clock::Clock;
use crate::ext::Extensions;
use crate::handle::{LoopId, Mint, RawId, WatcherId, WatcherKey};
use crate::pending::PendingQueues;
use crate::time::Time;
use crate::watcher::{self, Callback, Kind, KindTag, Kinds, Slot};
use crate::{Break, Error, Events, Priority};

/// Loop-wide choices made by the builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Compare the pid each iteration (libev's `EVFLAG_FORKCHECK`).
    pub fork_check: bool,
    /// Use inotify for stat watchers.
    pub inotify: bool,
    /// Use pidfds for child watchers.
    pub pidfd: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fork_check: false,
            inotify: true,
            pidfd: true,
        }
    }
}

/// Everything a loop is. [`Loop`](crate::Loop) owns it; callbacks reach it
/// through a [`Ctx`](crate::Ctx), which borrows it and has no public
/// fields, so safe code can neither replace nor move it.
pub(crate) struct Inner<T> {
    pub id: LoopId,
    pub slots: SlotMap<WatcherKey, Slot>,
    /// Each watcher's closure; `None` while it runs (the dispatcher holds it).
    pub callbacks: SecondaryMap<WatcherKey, Option<Callback<T>>>,
    pub pending: PendingQueues,
    pub poller: Box<dyn Poller>,
    /// How often `poller` was replaced (by `loop_fork`); with the poller's
    /// own epoch, tells a loop that embeds this one to watch a new fd.
    pub pollers_made: u64,
    pub time: Time,
    /// Active watchers that keep `run` alive, plus `ref_loop` - `unref_loop`.
    pub refs: isize,
    pub depth: u32,
    pub iteration: u64,
    pub breaking: Option<Break>,
    pub opts: Options,
    /// Expired timers and periodics, collected earliest first and queued in
    /// reverse, so that the LIFO pending stacks run them earliest first.
    pub expired: Vec<WatcherKey>,
    pub kinds: Kinds<T>,
    pub ext: Extensions,
}

impl<T> Inner<T> {
    pub(crate) fn new(
        poller: Box<dyn Poller>,
        clock: Option<Box<dyn Clock>>,
        opts: Options,
    ) -> Self {
        Inner {
            id: LoopId::fresh(),
            slots: SlotMap::with_key(),
            callbacks: SecondaryMap::new(),
            pending: PendingQueues::default(),
            poller,
            pollers_made: 0,
            time: Time::new(clock),
            refs: 0,
            depth: 0,
            iteration: 0,
            breaking: None,
            opts,
            expired: Vec::new(),
            kinds: Kinds::default(),
            ext: Extensions::default(),
        }
    }

    /// The key behind a public handle, after checking that the handle is
    /// this loop's, of the right kind, current, and not of an internal
    /// watcher.
    #[inline(always)]
    pub(crate) fn resolve<W: WatcherId>(&self, id: W) -> Result<WatcherKey, Error> {
        let RawId { key, lp } = id.raw();
        if lp != self.id {
            return Err(Error::ForeignHandle);
        }
        match self.slots.get(key) {
            Some(s) if !s.internal && s.kind.tag() == W::KIND => Ok(key),
            _ => Err(Error::StaleHandle),
        }
    }

    /// The public handle of a key.
    #[inline]
    pub(crate) fn handle<W: WatcherId>(&self, key: WatcherKey) -> W {
        W::from_raw(RawId { key, lp: self.id }, Mint::NEW)
    }

    /// Stores a new, stopped watcher and its callback.
    pub(crate) fn insert(&mut self, kind: Kind, cb: Callback<T>) -> WatcherKey {
        let key = self.slots.insert(Slot::new(kind));
        self.callbacks.insert(key, Some(cb));
        key
    }

    /// Gives a (still stopped) watcher the settings of one the loop keeps
    /// for itself: unreachable by handles, highest priority (its callback
    /// only queues the user's watchers), and keepalive off (the user's
    /// watchers it serves keep the loop going).
    pub(crate) fn make_internal(&mut self, key: WatcherKey) {
        let slot = &mut self.slots[key];
        slot.internal = true;
        slot.keepalive = false;
        slot.priority = Priority::MAX;
    }

    /// Starts the watcher behind a valid key: marks it active, then lets its
    /// kind enter it. Starting an active watcher does nothing.
    #[inline]
    pub(crate) fn start_key(&mut self, key: WatcherKey) -> Result<(), Error> {
        let tag = self.slots[key].kind.tag();
        self.start_kind(key, tag)
    }

    /// [`start_key`](Self::start_key) for a watcher whose kind is known:
    /// a view knows it from its handle's type, and with the kind a constant
    /// the dispatch folds to one direct call.
    #[inline(always)]
    pub(crate) fn start_kind(&mut self, key: WatcherKey, tag: KindTag) -> Result<(), Error> {
        let slot = &mut self.slots[key];
        if slot.active {
            return Ok(());
        }
        slot.active = true;
        self.refs += slot.keepalive as isize;
        let r = watcher::start(self, key, tag);
        if r.is_err() {
            self.start_failed(key);
        }
        r
    }

    /// A kind refused to start the watcher (or is about to unwind out of
    /// its start): it is not active after all.
    #[cold]
    pub(crate) fn start_failed(&mut self, key: WatcherKey) {
        if let Some(slot) = self.slots.get_mut(key) {
            if slot.active {
                slot.active = false;
                self.refs -= slot.keepalive as isize;
            }
        }
    }

    /// Stops the watcher behind a key and clears its pending event. Returns
    /// false if the key is stale.
    #[inline]
    pub(crate) fn stop_key(&mut self, key: WatcherKey) -> bool {
        let Some(slot) = self.slots.get(key) else {
            return false;
        };
        let tag = slot.kind.tag();
        self.stop_kind(key, tag);
        true
    }

    /// [`stop_key`](Self::stop_key) for a valid key whose kind is known
    /// (see [`start_kind`](Self::start_kind)).
    #[inline(always)]
    pub(crate) fn stop_kind(&mut self, key: WatcherKey, tag: KindTag) {
        let slot = &mut self.slots[key];
        self.pending.clear(&mut slot.pending, slot.priority);
        // An event deferred while its callback runs (nested run) is pending
        // too: a stop drops it.
        slot.missed = Events::empty();
        if !slot.active {
            return;
        }
        slot.active = false;
        self.refs -= slot.keepalive as isize;
        watcher::stop(self, key, tag);
    }

    /// Stops and forgets the watcher behind a key; returns its slot (with
    /// what it owns) so that the caller can take its data out or drop it.
    /// The closure is dropped here, or when it returns if it is running.
    pub(crate) fn remove_key(&mut self, key: WatcherKey) -> Option<Slot> {
        if !self.stop_key(key) {
            return None;
        }
        let tag = self.slots[key].kind.tag();
        watcher::forget(self, key, tag);
        // A closure that is running is not in the map; the dispatcher drops
        // it when it returns and finds no place for it.
        self.callbacks.remove(key);
        self.slots.remove(key)
    }

    /// Queues an event for the watcher behind `key`.
    #[inline]
    pub(crate) fn queue_key(&mut self, key: WatcherKey, events: Events) {
        if let Some(slot) = self.slots.get_mut(key) {
            self.pending
                .queue(&mut slot.pending, slot.priority, key, events);
        }
    }

    /// Queues `events` for every watcher of a list.
    pub(crate) fn queue_all(&mut self, list: &[WatcherKey], events: Events) {
        for &key in list {
            if let Some(slot) = self.slots.get_mut(key) {
                self.pending
                    .queue(&mut slot.pending, slot.priority, key, events);
            }
        }
    }

    /// Replaces a watcher's callback (the running one included: the new one
    /// is kept when the old returns).
    pub(crate) fn set_callback(&mut self, key: WatcherKey, cb: Callback<T>) {
        if let Some(place) = self.callbacks.get_mut(key) {
            *place = Some(cb);
        }
    }
}
