//! [`Watcher`]: a view of one watcher, with the calls every kind shares.
//! Each kind adds its own calls in its file (`impl Watcher<'_, T, TimerId>`
//! in `watcher/timer.rs`, and so on).

use std::fmt;

use crate::handle::{WatcherId, WatcherKey};
use crate::inner::Inner;
use crate::{Error, Events, Priority};

/// One watcher, borrowed from the loop by its handle: the generic calls
/// here (start, stop, remove, priority, keepalive, feeding, pending state)
/// and the calls of its kind (`again` for a timer, `set_interest` for an io
/// watcher, ...). Get one with the kind's accessor on
/// [`Ctx`](crate::Ctx) (`ctx.timer(id)?`, `ctx.io(id)?`, ...) or with
/// [`Ctx::watcher`](crate::Ctx::watcher).
///
/// The handle was checked when the view was made, so the calls on it need
/// no further checks and most cannot fail. The view borrows the loop: use
/// it for one statement or a few, then let it go.
///
/// ```
/// use std::time::Duration;
/// use evloop::{Loop, Priority};
///
/// let mut lp: Loop<()> = Loop::new()?;
/// let mut ctx = lp.ctx();
/// let t = ctx.new_timer(Duration::from_secs(5), Duration::ZERO, |_, _, _, _| {})?;
/// let mut w = ctx.timer(t)?;
/// w.set_priority(Priority::MAX);
/// w.start()?;
/// assert!(w.is_active() && w.remaining().is_some());
/// w.remove();
/// assert!(ctx.timer(t).is_err());
/// # Ok::<(), evloop::Error>(())
/// ```
pub struct Watcher<'a, T, W: WatcherId> {
    pub(crate) inner: &'a mut Inner<T>,
    pub(crate) key: WatcherKey,
    id: W,
}

impl<'a, T, W: WatcherId> Watcher<'a, T, W> {
    #[inline(always)]
    pub(crate) fn new(inner: &'a mut Inner<T>, key: WatcherKey, id: W) -> Self {
        Watcher { inner, key, id }
    }

    /// Its handle.
    #[inline]
    pub fn id(&self) -> W {
        self.id
    }

    /// Starts the watcher (libev's `ev_TYPE_start`). Starting an active
    /// watcher does nothing. What "start" means is per kind: an io watcher
    /// begins to watch its fd, a timer counts `after` from the loop's
    /// [`now`](crate::Ctx::now), a periodic computes its next wall-clock
    /// time, a signal watcher installs the handler.
    ///
    /// # Errors
    ///
    /// Per kind: a periodic whose schedule yields no time, a signal or child
    /// watcher whose kernel setup fails. The watcher then stays stopped.
    #[inline(always)]
    pub fn start(&mut self) -> Result<(), Error> {
        self.inner.start_kind(self.key, W::KIND)
    }

    /// Stops the watcher (libev's `ev_TYPE_stop`): it is no longer active,
    /// and an event it had pending is dropped, so its callback will not run
    /// for anything that happened before the stop. Stopping a stopped
    /// watcher does nothing. Allowed from any callback, the watcher's own
    /// included.
    #[inline(always)]
    pub fn stop(&mut self) {
        self.inner.stop_kind(self.key, W::KIND);
    }

    /// Stops and forgets the watcher. Its closure, and what the watcher owns
    /// (an io watcher's source, deregistered from the kernel first), are
    /// dropped; if the watcher is running its own callback, the closure is
    /// dropped when that returns. The handle, and every copy of it, is stale
    /// from now on.
    pub fn remove(self) {
        self.inner.remove_key(self.key);
    }

    /// Whether the watcher is active (started and not stopped since; a
    /// one-shot timer stops itself when it fires).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.inner.slots[self.key].active
    }

    /// Whether the watcher has an event waiting for its callback.
    pub fn is_pending(&self) -> bool {
        let s = &self.inner.slots[self.key];
        s.pending != 0 || !s.missed.is_empty()
    }

    /// Drops the watcher's pending event, if any, and returns its bits
    /// (libev's `ev_clear_pending`; empty if it was not pending).
    pub fn clear_pending(&mut self) -> Events {
        let slot = &mut self.inner.slots[self.key];
        // An event held back for a callback that is running further up the
        // stack (a nested run) is pending too.
        let held = std::mem::take(&mut slot.missed);
        self.inner.pending.clear(&mut slot.pending, slot.priority) | held
    }

    /// Makes the watcher pending with `events`, as if they had happened
    /// (libev's `ev_feed_event`). Works on stopped watchers too. Feeding a
    /// watcher that is pending already ORs the bits into its event, so its
    /// callback still runs once. A child watcher's callback needs a child's
    /// state change, which only [`feed_child`](Watcher::feed_child) gives.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a child watcher.
    pub fn feed(&mut self, events: Events) -> Result<(), Error> {
        if W::KIND == crate::watcher::KindTag::Child {
            return Err(Error::InvalidArgument(
                "a child watcher is fed a state change with feed_child",
            ));
        }
        self.inner.queue_key(self.key, events);
        Ok(())
    }

    /// The watcher's priority.
    pub fn priority(&self) -> Priority {
        self.inner.slots[self.key].priority
    }

    /// Sets the watcher's priority. Unlike libev, this is allowed at any
    /// time: a pending event moves to the new priority's queue, and an
    /// active idle watcher to the new priority's idle list.
    pub fn set_priority(&mut self, priority: Priority) {
        let key = self.key;
        let inner = &mut *self.inner;
        let slot = &mut inner.slots[key];
        if slot.priority == priority {
            return;
        }
        let events = inner.pending.clear(&mut slot.pending, slot.priority);
        // Idle watchers are kept per priority: move it between the lists.
        let relist = slot.active && W::KIND == crate::watcher::KindTag::Idle;
        if relist {
            inner.stop_key(key);
        }
        inner.slots[key].priority = priority;
        if relist {
            // An idle watcher's start cannot fail.
            let _ = inner.start_key(key);
        }
        if !events.is_empty() {
            inner.queue_key(key, events);
        }
    }

    /// Whether being active keeps [`run`](crate::Ctx::run) going.
    pub fn keepalive(&self) -> bool {
        self.inner.slots[self.key].keepalive
    }

    /// Whether being active keeps [`run`](crate::Ctx::run) going (the
    /// default for every kind but fork and cleanup watchers), or not: a
    /// watcher with keepalive off is still served while `run` runs, but
    /// `run` in [`RunMode::Default`](crate::RunMode::Default) returns once
    /// only such watchers are left. This is libev's "start, then `ev_unref`"
    /// idiom, kept in step with start and stop automatically.
    pub fn set_keepalive(&mut self, keepalive: bool) {
        let slot = &mut self.inner.slots[self.key];
        if slot.keepalive != keepalive {
            slot.keepalive = keepalive;
            if slot.active {
                self.inner.refs += if keepalive { 1 } else { -1 };
            }
        }
    }
}

impl<T, W: WatcherId> fmt::Debug for Watcher<'_, T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner.slots[self.key];
        f.debug_struct("Watcher")
            .field("id", &self.id)
            .field("active", &s.active)
            .field("pending", &(s.pending != 0))
            .field("priority", &s.priority)
            .field("keepalive", &s.keepalive)
            .finish()
    }
}

/// Defines `set_callback` on a kind's view, for kinds whose callback has
/// the common shape `FnMut(&mut Ctx, &mut T, Id, Events)`.
macro_rules! set_callback {
    ($id:ty) => {
        /// Replaces the watcher's callback (libev's `ev_set_cb`), also from
        /// inside it: the running callback finishes, and the new one is
        /// called for the next event.
        pub fn set_callback<F>(&mut self, cb: F)
        where
            F: FnMut(&mut $crate::Ctx<'_, T>, &mut T, $id, $crate::Events) + 'static,
        {
            self.inner.set_callback(self.key, $crate::watcher::wrap(cb));
        }
    };
}
pub(crate) use set_callback;
