//! Idle, prepare and check watchers: callbacks tied to the loop's own
//! rhythm rather than to outside events. Each kind is a list of its active
//! watchers, and each watcher knows its index there.
//!
//! * **Idle** (libev's `ev_idle`): runs once per iteration while nothing of
//!   its priority or higher is pending, and keeps the loop from blocking
//!   while active. Use it for background work in small slices.
//! * **Prepare** (`ev_prepare`): runs just before the loop polls, after fd
//!   changes have been queued; the place to flush buffers or to register
//!   another library's fds.
//! * **Check** (`ev_check`): runs just after the poll, before every other
//!   callback of the same or lower priority in that iteration; the place
//!   to hand events over to another library.

use super::{list_push, list_remove, Contract, Kind, NO_INDEX};
use crate::handle::{handle, WatcherKey};
use crate::inner::Inner;
use crate::{Ctx, Error, Events, Priority, Watcher};

handle! {
    /// Handle of an idle watcher (libev's `ev_idle`).
    IdleId, Idle
}
handle! {
    /// Handle of a prepare watcher (libev's `ev_prepare`).
    PrepareId, Prepare
}
handle! {
    /// Handle of a check watcher (libev's `ev_check`).
    CheckId, Check
}

/// Active idle watchers, per priority.
#[derive(Default)]
pub(crate) struct IdleState {
    lists: [Vec<WatcherKey>; Priority::LEVELS],
    /// How many there are in all.
    pub count: usize,
}

/// The list index kept in the slot of a list-kept watcher (idle, prepare,
/// check, fork, cleanup).
#[inline]
pub(crate) fn index_mut(kind: &mut Kind) -> &mut u32 {
    match kind {
        Kind::Idle(i) | Kind::Prepare(i) | Kind::Check(i) | Kind::Fork(i) | Kind::Cleanup(i) => i,
        _ => unreachable!("only list-kept watchers have a list index"),
    }
}

/// Adds a watcher to `list` (a field of the loop's kinds, picked by `pick`).
pub(crate) fn enlist<T>(
    inner: &mut Inner<T>,
    key: WatcherKey,
    pick: fn(&mut Inner<T>, WatcherKey) -> &mut Vec<WatcherKey>,
) {
    let idx = list_push(pick(inner, key), key);
    *index_mut(&mut inner.slots[key].kind) = idx;
}

/// Takes a watcher out of its list.
pub(crate) fn delist<T>(
    inner: &mut Inner<T>,
    key: WatcherKey,
    pick: fn(&mut Inner<T>, WatcherKey) -> &mut Vec<WatcherKey>,
) {
    let idx = std::mem::replace(index_mut(&mut inner.slots[key].kind), NO_INDEX);
    if idx == NO_INDEX {
        return;
    }
    if let Some(moved) = list_remove(pick(inner, key), idx) {
        *index_mut(&mut inner.slots[moved].kind) = idx;
    }
}

fn idle_list<T>(inner: &mut Inner<T>, key: WatcherKey) -> &mut Vec<WatcherKey> {
    let p = inner.slots[key].priority.index();
    &mut inner.kinds.idle.lists[p]
}

fn prepare_list<T>(inner: &mut Inner<T>, _: WatcherKey) -> &mut Vec<WatcherKey> {
    &mut inner.kinds.prepare
}

fn check_list<T>(inner: &mut Inner<T>, _: WatcherKey) -> &mut Vec<WatcherKey> {
    &mut inner.kinds.check
}

pub(crate) struct Idle;

impl Contract for Idle {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        enlist(inner, key, idle_list);
        inner.kinds.idle.count += 1;
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        if *index_mut(&mut inner.slots[key].kind) != NO_INDEX {
            inner.kinds.idle.count -= 1;
        }
        delist(inner, key, idle_list);
    }
}

pub(crate) struct Prepare;

impl Contract for Prepare {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        enlist(inner, key, prepare_list);
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        delist(inner, key, prepare_list);
    }
}

pub(crate) struct Check;

impl Contract for Check {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        enlist(inner, key, check_list);
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        delist(inner, key, check_list);
    }
}

/// Queues every active prepare watcher.
pub(crate) fn queue_prepares<T>(inner: &mut Inner<T>) {
    let list = std::mem::take(&mut inner.kinds.prepare);
    inner.queue_all(&list, Events::PREPARE);
    inner.kinds.prepare = list;
}

/// Queues every active check watcher.
pub(crate) fn queue_checks<T>(inner: &mut Inner<T>) {
    let list = std::mem::take(&mut inner.kinds.check);
    inner.queue_all(&list, Events::CHECK);
    inner.kinds.check = list;
}

/// Queues the idle watchers of the highest priority that has any, if
/// nothing of that priority or higher is pending (libev's `idle_reify`:
/// idle watchers of lower priorities wait for the higher ones to stop).
#[inline]
pub(crate) fn queue_idles<T>(inner: &mut Inner<T>) {
    if inner.kinds.idle.count == 0 {
        return;
    }
    for p in (0..Priority::LEVELS).rev() {
        if inner.pending.has_level(p) {
            return;
        }
        if !inner.kinds.idle.lists[p].is_empty() {
            let list = std::mem::take(&mut inner.kinds.idle.lists[p]);
            inner.queue_all(&list, Events::IDLE);
            inner.kinds.idle.lists[p] = list;
            return;
        }
    }
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped idle watcher (libev's `ev_idle`). While active, it
    /// runs once per iteration in which nothing of its priority or higher is
    /// pending, and the loop does not block; use it for background work in
    /// small slices. The callback gets [`Events::IDLE`].
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    ///
    /// // Sum 1..=1000 in slices of 100, between other events.
    /// let mut lp: Loop<(u64, u64)> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let id = ctx.new_idle(|ctx, (next, sum), id, _ev| {
    ///     for _ in 0..100 {
    ///         *next += 1;
    ///         *sum += *next;
    ///     }
    ///     if *next == 1000 {
    ///         ctx.stop(id).unwrap();
    ///     }
    /// })?;
    /// ctx.start(id)?;
    /// let mut state = (0, 0);
    /// lp.run(&mut state, RunMode::Default)?;
    /// assert_eq!(state.1, 500_500);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn new_idle<F>(&mut self, cb: F) -> Result<IdleId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, IdleId, Events) + 'static,
    {
        let key = self.inner.insert(Kind::Idle(NO_INDEX), super::wrap(cb));
        Ok(self.inner.handle(key))
    }

    /// Creates a stopped prepare watcher (libev's `ev_prepare`): it runs in
    /// every iteration just before the loop polls, the place to flush output
    /// or to hand another library's interests to the loop. The callback gets
    /// [`Events::PREPARE`].
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    ///
    /// let mut lp: Loop<Vec<u64>> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let p = ctx.new_prepare(|ctx, seen, _id, _ev| seen.push(ctx.iteration()))?;
    /// ctx.start(p)?;
    /// let mut seen = Vec::new();
    /// lp.run(&mut seen, RunMode::NoWait)?;
    /// lp.run(&mut seen, RunMode::NoWait)?;
    /// assert_eq!(seen, [0, 1]); // before the first and the second poll
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn new_prepare<F>(&mut self, cb: F) -> Result<PrepareId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, PrepareId, Events) + 'static,
    {
        let key = self.inner.insert(Kind::Prepare(NO_INDEX), super::wrap(cb));
        Ok(self.inner.handle(key))
    }

    /// Creates a stopped check watcher (libev's `ev_check`): it runs in every
    /// iteration just after the poll, before the other callbacks of its
    /// priority or lower, the place to hand events over to another library.
    /// The callback gets [`Events::CHECK`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, RunMode};
    ///
    /// let mut lp: Loop<Vec<&'static str>> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let t = ctx.new_timer(Duration::ZERO, Duration::ZERO, |_c, log, _id, _ev| log.push("timer"))?;
    /// let c = ctx.new_check(|ctx, log, id, _ev| {
    ///     log.push("check");
    ///     ctx.stop(id).unwrap();
    /// })?;
    /// ctx.start(t)?;
    /// ctx.start(c)?;
    /// let mut log = Vec::new();
    /// lp.run(&mut log, RunMode::Default)?;
    /// assert_eq!(log, ["check", "timer"]);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn new_check<F>(&mut self, cb: F) -> Result<CheckId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, CheckId, Events) + 'static,
    {
        let key = self.inner.insert(Kind::Check(NO_INDEX), super::wrap(cb));
        Ok(self.inner.handle(key))
    }

    /// A view of an idle watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn idle(&mut self, id: IdleId) -> Result<Watcher<'_, T, IdleId>, Error> {
        self.watcher(id)
    }

    /// A view of a prepare watcher.
    ///
    /// # Errors
    ///
    /// As [`idle`](Self::idle).
    #[inline]
    pub fn prepare(&mut self, id: PrepareId) -> Result<Watcher<'_, T, PrepareId>, Error> {
        self.watcher(id)
    }

    /// A view of a check watcher.
    ///
    /// # Errors
    ///
    /// As [`idle`](Self::idle).
    #[inline]
    pub fn check(&mut self, id: CheckId) -> Result<Watcher<'_, T, CheckId>, Error> {
        self.watcher(id)
    }
}

impl<'a, T> Watcher<'a, T, IdleId> {
    crate::view::set_callback!(IdleId);
}

impl<'a, T> Watcher<'a, T, PrepareId> {
    crate::view::set_callback!(PrepareId);
}

impl<'a, T> Watcher<'a, T, CheckId> {
    crate::view::set_callback!(CheckId);
}
