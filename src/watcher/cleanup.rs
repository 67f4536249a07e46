//! Cleanup watchers (libev's `ev_cleanup`): run when the loop is dropped.

use crate::handle::{CleanupId, WatcherKey};
use crate::watcher::{Kind, NO_INDEX};
use crate::{Ctx, Error};

/// A cleanup callback. It gets no `&mut T`: the loop does not own the
/// application state, and when it is dropped there is no `run` lending it.
pub(crate) type CleanupCallback<T> = Box<dyn FnMut(&mut Ctx<T>, CleanupId)>;

impl<T> Ctx<T> {
    /// Creates a stopped cleanup watcher (libev's `ev_cleanup`). When the
    /// loop is dropped, every active cleanup watcher's callback runs, one
    /// after another (in no promised order), while all watchers and their
    /// fds still exist: the place to take sources back with
    /// [`remove_io`](Self::remove_io), flush them, or say goodbye to peers.
    /// Unlike other watchers, an active cleanup watcher does not keep `run`
    /// going (libev: it holds no loop reference).
    ///
    /// The callback receives the loop but no `&mut T`, which the loop does
    /// not own; capture what it needs. Cleanup callbacks may stop and remove
    /// watchers; watchers they create are dropped right after without
    /// running.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use evloop::Loop;
    ///
    /// let ran = Rc::new(Cell::new(false));
    /// let mut lp: Loop<()> = Loop::new()?;
    /// let r = ran.clone();
    /// let id = lp.cleanup(move |_ctx, _id| r.set(true))?;
    /// lp.start(id)?;
    /// drop(lp);
    /// assert!(ran.get());
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn cleanup<F>(&mut self, cb: F) -> Result<CleanupId, Error>
    where
        F: FnMut(&mut Ctx<T>, CleanupId) + 'static,
    {
        let key = self.slots.insert(super::Slot::new(Kind::Cleanup(NO_INDEX)));
        self.slots[key].keepalive = false;
        self.cleanup_cbs.insert(key, Some(Box::new(cb)));
        Ok(CleanupId(key))
    }

    /// Runs the active cleanup watchers; called once, when the loop drops.
    pub(crate) fn run_cleanups(&mut self) {
        while let Some(key) = self.cleanups.last().copied() {
            self.stop_key(key);
            let cb = self.cleanup_cbs.get_mut(key).and_then(Option::take);
            if let Some(mut cb) = cb {
                cb(self, CleanupId(key));
            }
        }
    }

    pub(crate) fn cleanup_forget(&mut self, key: WatcherKey) {
        self.cleanup_cbs.remove(key);
    }
}
