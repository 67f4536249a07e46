//! Cleanup watchers (libev's `ev_cleanup`): run when the loop is dropped.

use slotmap::SecondaryMap;

use super::lists::{delist, enlist};
use super::{Contract, Kind, NO_INDEX};
use crate::handle::{handle, WatcherKey};
use crate::inner::Inner;
use crate::{Ctx, Error, Watcher};

handle! {
    /// Handle of a cleanup watcher (libev's `ev_cleanup`).
    CleanupId, Cleanup
}

/// A cleanup callback. It gets no `&mut T`: the loop does not own the
/// application state, and when it is dropped there is no `run` lending it.
type CleanupCallback<T> = Box<dyn FnMut(&mut Ctx<'_, T>, CleanupId)>;

/// The loop's cleanup watchers: the active ones, and every one's callback
/// (`None` while it runs).
pub(crate) struct CleanupState<T> {
    list: Vec<WatcherKey>,
    cbs: SecondaryMap<WatcherKey, Option<CleanupCallback<T>>>,
}

impl<T> Default for CleanupState<T> {
    fn default() -> Self {
        CleanupState {
            list: Vec::new(),
            cbs: SecondaryMap::new(),
        }
    }
}

fn cleanup_list<T>(inner: &mut Inner<T>, _: WatcherKey) -> &mut Vec<WatcherKey> {
    &mut inner.kinds.cleanup.list
}

pub(crate) struct Cleanup;

impl Contract for Cleanup {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        enlist(inner, key, cleanup_list);
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        delist(inner, key, cleanup_list);
    }

    fn forget<T>(inner: &mut Inner<T>, key: WatcherKey) {
        inner.kinds.cleanup.cbs.remove(key);
    }
}

/// Calls one cleanup callback (take, call, put back).
fn call<T>(inner: &mut Inner<T>, key: WatcherKey) {
    let Some(mut cb) = inner.kinds.cleanup.cbs.get_mut(key).and_then(Option::take) else {
        return;
    };
    let id = inner.handle(key);
    cb(&mut Ctx::new(inner), id);
    if let Some(place @ None) = inner.kinds.cleanup.cbs.get_mut(key) {
        *place = Some(cb);
    }
}

/// Runs the active cleanup watchers; called once, when the loop drops.
pub(crate) fn run_all<T>(inner: &mut Inner<T>) {
    while let Some(key) = inner.kinds.cleanup.list.last().copied() {
        inner.stop_key(key);
        call(inner, key);
    }
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped cleanup watcher (libev's `ev_cleanup`). When the
    /// loop is dropped, every active cleanup watcher's callback runs, one
    /// after another (in no promised order), while all watchers and their
    /// fds still exist: the place to take sources back with
    /// [`Watcher::into_source`], flush them, or say goodbye to peers.
    /// Unlike other watchers, an active cleanup watcher does not keep `run`
    /// going (libev: it holds no loop reference).
    ///
    /// The callback receives the loop but no `&mut T`, which the loop does
    /// not own; capture what it needs. Cleanup callbacks may stop and remove
    /// watchers; watchers they create are dropped right after without
    /// running. Feeding a cleanup watcher runs its callback at once in the
    /// next `run`.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use evloop::Loop;
    ///
    /// let ran = Rc::new(Cell::new(false));
    /// let mut lp: Loop<()> = Loop::new()?;
    /// let r = ran.clone();
    /// let mut ctx = lp.ctx();
    /// let id = ctx.new_cleanup(move |_ctx, _id| r.set(true))?;
    /// ctx.start(id)?;
    /// drop(lp);
    /// assert!(ran.get());
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn new_cleanup<F>(&mut self, cb: F) -> Result<CleanupId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, CleanupId) + 'static,
    {
        let key = self.inner.insert(
            Kind::Cleanup(NO_INDEX),
            Box::new(|ctx, _, key, _| call(ctx.inner, key)),
        );
        self.inner.slots[key].keepalive = false;
        self.inner.kinds.cleanup.cbs.insert(key, Some(Box::new(cb)));
        Ok(self.inner.handle(key))
    }

    /// A view of a cleanup watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn cleanup(&mut self, id: CleanupId) -> Result<Watcher<'_, T, CleanupId>, Error> {
        self.watcher(id)
    }
}

impl<'a, T> Watcher<'a, T, CleanupId> {
    /// Replaces the watcher's callback (libev's `ev_set_cb`).
    pub fn set_callback<F>(&mut self, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, CleanupId) + 'static,
    {
        self.inner
            .kinds
            .cleanup
            .cbs
            .insert(self.key, Some(Box::new(cb)));
    }
}
