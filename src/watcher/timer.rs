//! Timer watchers (libev's `ev_timer`): relative timeouts on the monotonic
//! clock, optionally repeating.

use std::time::Duration;

use slotmap::SecondaryMap;

use super::{Contract, Kind, NO_INDEX};
use crate::handle::{handle, WatcherKey};
use crate::inner::Inner;
use crate::timer_heap::TimerHeap;
use crate::{Ctx, Error, Events, Priority, Watcher};

handle! {
    /// Handle of a timer watcher (libev's `ev_timer`).
    TimerId, Timer
}

/// The timer part of a watcher slot. Times are ns on the loop's monotonic
/// time line.
pub(crate) struct TimerData {
    pub after: i64,
    pub repeat: i64,
    /// When it fires, while active.
    pub deadline: i64,
    /// A copy of its heap entry's `at` (the entry's index is in
    /// `TimerState::pos`). Never later than `deadline` while the timer is
    /// active. Kept here so that re-arming can tell whether the entry must
    /// move without touching the heap (a cache miss in big heaps).
    pub entry_at: i64,
}

/// The loop's timers.
#[derive(Default)]
pub(crate) struct TimerState {
    heap: TimerHeap<WatcherKey>,
    /// Heap index of every timer watcher (`NO_INDEX` when it has no entry).
    /// The positions live in this dense side table, not in the (much
    /// larger) watcher slots, because every sift step writes one: in a heap
    /// of a million timers that is the difference between touching 8 bytes
    /// and a whole slot per step.
    pos: SecondaryMap<WatcherKey, u32>,
    /// Scratch space for walking the heap.
    scratch: Vec<u32>,
}

/// A duration in ns on the loop's time line; beyond 292 years is an error.
#[inline]
pub(crate) fn to_ns(d: Duration, what: &'static str) -> Result<i64, Error> {
    const NANOS: u64 = 1_000_000_000;
    let secs = d.as_secs();
    if secs < i64::MAX as u64 / NANOS {
        // No overflow: the common case, without u128 arithmetic.
        return Ok((secs * NANOS + d.subsec_nanos() as u64) as i64);
    }
    i64::try_from(d.as_nanos()).map_err(|_| Error::InvalidArgument(what))
}

/// Records a moved heap entry's new index.
#[inline]
fn set_pos(pos: &mut SecondaryMap<WatcherKey, u32>, key: WatcherKey, idx: u32) {
    if let Some(p) = pos.get_mut(key) {
        *p = idx;
    }
}

pub(crate) struct Timer;

impl Contract for Timer {
    #[inline]
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        let Kind::Timer(t) = &mut inner.slots[key].kind else {
            return Ok(());
        };
        let deadline = inner.time.now_ns.saturating_add(t.after);
        arm(&mut inner.kinds.timer, t, key, deadline);
        Ok(())
    }

    /// The heap entry stays behind, dead; see [`Ctx::new_timer`].
    #[inline]
    fn stop<T>(_inner: &mut Inner<T>, _key: WatcherKey) {}

    /// Deletes the heap entry of a timer that is going away.
    fn forget<T>(inner: &mut Inner<T>, key: WatcherKey) {
        let st = &mut inner.kinds.timer;
        let pos = &mut st.pos;
        let heap = pos.remove(key).unwrap_or(NO_INDEX);
        if heap != NO_INDEX {
            st.heap.remove(heap, &mut |k, i| set_pos(pos, k, i));
        }
    }
}

/// Gives a new timer watcher its (empty) place in the heap's index.
pub(crate) fn register<T>(inner: &mut Inner<T>, key: WatcherKey) {
    inner.kinds.timer.pos.insert(key, NO_INDEX);
}

/// Gives the timer a new deadline, reusing its heap entry if it has one.
#[inline]
fn arm(st: &mut TimerState, t: &mut TimerData, key: WatcherKey, deadline: i64) {
    t.deadline = deadline;
    let pos = &mut st.pos;
    let heap = pos.get(key).copied().unwrap_or(NO_INDEX);
    if heap == NO_INDEX {
        t.entry_at = deadline;
        st.heap.push(deadline, key, &mut |k, i| set_pos(pos, k, i));
    } else {
        debug_assert_eq!(st.heap.get(heap).at, t.entry_at);
        if deadline < t.entry_at {
            t.entry_at = deadline;
            st.heap
                .set_at(heap, deadline, &mut |k, i| set_pos(pos, k, i));
        }
        // Later than the entry: leave it early; see `new_timer`'s docs.
    }
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped timer (libev's `ev_timer_init`). Once started, it
    /// fires when `after` has passed from the loop's [`now`](Self::now),
    /// then every `repeat` if that is not zero, until stopped. It fires
    /// only once its time has *passed*, as libev's do: a timer is never
    /// early.
    ///
    /// A repeating timer's next deadline is its previous deadline plus
    /// `repeat`, so it does not drift. If the loop fell behind by more than
    /// one period (a long callback, a stopped process), the timer fires once
    /// and continues one period after the current time: missed periods are
    /// not caught up in a burst, and it fires at most once per iteration.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, RunMode};
    ///
    /// let mut lp: Loop<u32> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// // After 1 ms, then every 1 ms; stops itself on the third run.
    /// let t = ctx.new_timer(Duration::from_millis(1), Duration::from_millis(1), |ctx, n, id, _ev| {
    ///     *n += 1;
    ///     if *n == 3 {
    ///         ctx.stop(id).unwrap();
    ///     }
    /// })?;
    /// ctx.start(t)?;
    /// let mut n = 0;
    /// lp.run(&mut n, RunMode::Default)?;
    /// assert_eq!(n, 3);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # How timers are kept
    ///
    /// Active timers sit in a 4-ary heap ordered by deadline, and each timer
    /// knows its heap index. Two cases are made cheap on purpose, because they
    /// are what per-connection idle timeouts do all day:
    ///
    /// * [`again`](Watcher::again) (or a stop and start) that moves a
    ///   deadline *later* only records the new deadline. The heap entry stays
    ///   where it is, early; when it reaches the top, the loop sees the real
    ///   deadline and sinks it (libev's manual suggests this trick to its
    ///   users; here the loop does it for them).
    /// * [`stop`](Watcher::stop) leaves the heap entry in place, marked dead;
    ///   a later start reuses it, and an entry still dead when it reaches the
    ///   top is dropped there. [`remove`](Watcher::remove) deletes it at once.
    ///
    /// Moving a deadline earlier sifts the entry up at once, so the heap's top
    /// is never later than the earliest real deadline: the loop may wake up
    /// early (and go back to sleep), never late.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for durations beyond 292 years.
    pub fn new_timer<F>(
        &mut self,
        after: Duration,
        repeat: Duration,
        cb: F,
    ) -> Result<TimerId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, TimerId, Events) + 'static,
    {
        let kind = Kind::Timer(TimerData {
            after: to_ns(after, "timer delay too large")?,
            repeat: to_ns(repeat, "timer repeat too large")?,
            deadline: 0,
            entry_at: 0,
        });
        let key = self.inner.insert(kind, super::wrap(cb));
        register(self.inner, key);
        Ok(self.inner.handle(key))
    }

    /// A view of a timer watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn timer(&mut self, id: TimerId) -> Result<Watcher<'_, T, TimerId>, Error> {
        self.watcher(id)
    }
}

impl<'a, T> Watcher<'a, T, TimerId> {
    #[inline]
    fn data(&self) -> &TimerData {
        match &self.inner.slots[self.key].kind {
            Kind::Timer(t) => t,
            _ => unreachable!("a TimerId resolves to a timer"),
        }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut TimerData {
        match &mut self.inner.slots[self.key].kind {
            Kind::Timer(t) => t,
            _ => unreachable!("a TimerId resolves to a timer"),
        }
    }

    /// Sets `after` and `repeat` of a stopped timer (libev's `ev_timer_set`).
    ///
    /// # Errors
    ///
    /// [`Error::Active`] if the timer is active (use [`again`](Self::again)
    /// or stop it first), or [`Error::InvalidArgument`] for durations beyond
    /// 292 years.
    #[inline]
    pub fn set(&mut self, after: Duration, repeat: Duration) -> Result<(), Error> {
        let after = to_ns(after, "timer delay too large")?;
        let repeat = to_ns(repeat, "timer repeat too large")?;
        let slot = &mut self.inner.slots[self.key];
        if slot.active {
            return Err(Error::Active);
        }
        if let Kind::Timer(t) = &mut slot.kind {
            t.after = after;
            t.repeat = repeat;
        }
        Ok(())
    }

    /// Changes the repeat interval (libev's `w->repeat = ...`); allowed at
    /// any time, used from the next expiry or [`again`](Self::again) on.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a duration beyond 292 years.
    #[inline]
    pub fn set_repeat(&mut self, repeat: Duration) -> Result<(), Error> {
        self.data_mut().repeat = to_ns(repeat, "timer repeat too large")?;
        Ok(())
    }

    /// The repeat interval.
    pub fn repeat(&self) -> Duration {
        Duration::from_nanos(self.data().repeat as u64)
    }

    /// The delay a start counts from now.
    pub fn after(&self) -> Duration {
        Duration::from_nanos(self.data().after as u64)
    }

    /// Restarts the timer to fire `repeat` from now (libev's
    /// `ev_timer_again`): an active timer with a repeat is re-armed, an
    /// active one without is stopped, a stopped one with a repeat is
    /// started. A pending event of the timer is dropped in every case (as
    /// libev does): the timeout it reported is superseded. This is the call
    /// for idle timeouts: set `repeat` to the timeout once, and call `again`
    /// on every activity. A timeout that expired in the same iteration as
    /// the activity then does not run if the activity's callback runs first:
    /// an io watcher of a higher priority than its timer, a check watcher,
    /// or an earlier timer. (At equal priority, the iteration runs timer
    /// callbacks before io callbacks, as libev does, so the timeout runs
    /// first and may see the activity in the input.)
    #[inline]
    pub fn again(&mut self) {
        self.again_ns(None);
    }

    /// `again`, with a new repeat first if given: one slot access for both.
    #[inline(always)]
    fn again_ns(&mut self, repeat: Option<i64>) {
        let key = self.key;
        let inner = &mut *self.inner;
        let now = inner.time.now_ns;
        let slot = &mut inner.slots[key];
        if slot.pending != 0 {
            inner.pending.clear(&mut slot.pending, slot.priority);
        }
        slot.missed = Events::empty();
        let Kind::Timer(t) = &mut slot.kind else {
            unreachable!("a TimerId resolves to a timer")
        };
        if let Some(r) = repeat {
            t.repeat = r;
        }
        if t.repeat > 0 {
            let deadline = now.saturating_add(t.repeat);
            arm(&mut inner.kinds.timer, t, key, deadline);
            if !slot.active {
                slot.active = true;
                inner.refs += slot.keepalive as isize;
            }
        } else if slot.active {
            inner.stop_kind(key, super::KindTag::Timer);
        }
    }

    /// Sets `repeat` and restarts the timer with it: the same as
    /// [`set_repeat`](Self::set_repeat) followed by [`again`](Self::again).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a duration beyond 292 years.
    #[inline]
    pub fn again_with(&mut self, repeat: Duration) -> Result<(), Error> {
        let repeat = to_ns(repeat, "timer repeat too large")?;
        self.again_ns(Some(repeat));
        Ok(())
    }

    /// Time left until an active timer fires, measured from the loop's
    /// [`now`](crate::Ctx::now) (libev's `ev_timer_remaining`); `None` if
    /// the timer is stopped. Zero if it is due.
    pub fn remaining(&self) -> Option<Duration> {
        let now = self.inner.time.now_ns;
        let deadline = self.data().deadline;
        self.is_active()
            .then(|| Duration::from_nanos((deadline - now).max(0) as u64))
    }

    crate::view::set_callback!(TimerId);
}

/// Fixes the entry on top of the heap if it is dead (drops it) or early
/// (sinks it to the real deadline). Returns false when the top is a live
/// timer at its real deadline, or the heap is empty.
#[inline]
fn fix_top<T>(inner: &mut Inner<T>) -> bool {
    let st = &mut inner.kinds.timer;
    let Some(top) = st.heap.peek() else {
        return false;
    };
    let (key, at) = (top.key, top.at);
    let slot = &mut inner.slots[key];
    let Kind::Timer(t) = &mut slot.kind else {
        unreachable!("only timers in the timer heap")
    };
    let pos = &mut st.pos;
    if !slot.active {
        pos[key] = NO_INDEX;
        st.heap.remove(0, &mut |k, i| set_pos(pos, k, i));
        true
    } else if t.deadline > at {
        t.entry_at = t.deadline;
        let deadline = t.deadline;
        st.heap.set_at(0, deadline, &mut |k, i| set_pos(pos, k, i));
        true
    } else {
        false
    }
}

/// The earliest real timer deadline. Settles every dead or early entry
/// on the way, so the loop never blocks on a deadline that is not real:
/// called only before a blocking poll.
pub(crate) fn next_at<T>(inner: &mut Inner<T>) -> Option<i64> {
    while fix_top(inner) {}
    inner.kinds.timer.heap.peek().map(|e| e.at)
}

/// Queues every expired timer (its deadline has passed), earliest deadline
/// first. Only entries that are due are looked at: dead or early entries
/// further down wait until they reach the top *and* are due, so re-arming
/// many timers costs nothing here until their old deadlines come.
///
/// The pending stacks run the most recently queued entry first, so the
/// earliest timer must be queued last. Timers of the default priority
/// (nearly all) are written straight into a block reserved on their
/// stack, filled from the top down, while the timer's slot is at hand;
/// the block's size is the number of due heap entries, counted on the
/// heap alone, and what dead or early entries leave unused stays blank
/// (skipped when popped). Timers of other priorities, and timers that
/// are pending already, go through `expired` and are queued in reverse
/// afterwards, which touches their slots a second time.
#[inline]
pub(crate) fn reify<T>(inner: &mut Inner<T>) {
    // Most iterations have no timer due: that check is inlined into the
    // loop, the work is not.
    if inner
        .kinds
        .timer
        .heap
        .peek()
        .is_some_and(|top| top.at < inner.time.now_ns)
    {
        reify_due(inner);
    }
}

fn reify_due<T>(inner: &mut Inner<T>) {
    let now = inner.time.now_ns;
    let st = &mut inner.kinds.timer;
    let due = st.heap.count_due(now, &mut st.scratch);
    if due == 0 {
        return;
    }
    let base = inner.pending.reserve(Priority::DEFAULT, due);
    let mut next_free = base + due;
    while let Some(&top) = inner.kinds.timer.heap.peek() {
        if top.at >= now {
            break;
        }
        if fix_top(inner) {
            continue;
        }
        let key = top.key;
        let slot = &mut inner.slots[key];
        let Kind::Timer(t) = &mut slot.kind else {
            unreachable!("only timers in the timer heap")
        };
        let st = &mut inner.kinds.timer;
        let pos = &mut st.pos;
        if t.repeat > 0 {
            let mut next = t.deadline.saturating_add(t.repeat);
            if next < now {
                next = now.saturating_add(t.repeat);
            }
            t.deadline = next;
            t.entry_at = next;
            st.heap.set_at(0, next, &mut |k, i| set_pos(pos, k, i));
        } else {
            slot.active = false;
            if slot.keepalive {
                inner.refs -= 1;
            }
            pos[key] = NO_INDEX;
            st.heap.remove(0, &mut |k, i| set_pos(pos, k, i));
        }
        if slot.pending == 0 && slot.priority == Priority::DEFAULT && next_free > base {
            next_free -= 1;
            inner.pending.place(
                &mut slot.pending,
                Priority::DEFAULT,
                next_free,
                key,
                Events::TIMER,
            );
        } else {
            inner.expired.push(key);
        }
    }
    queue_expired(inner, Events::TIMER);
}

/// Queues the collected expired watchers so that the earliest runs first.
pub(crate) fn queue_expired<T>(inner: &mut Inner<T>, events: Events) {
    while let Some(key) = inner.expired.pop() {
        inner.queue_key(key, events);
    }
}

/// Moves every timer by `delta` (after a suspend).
pub(crate) fn shift<T>(inner: &mut Inner<T>, delta: i64) {
    let st = &mut inner.kinds.timer;
    st.heap.shift_all(delta);
    for e in st.heap.entries() {
        if let Some(Kind::Timer(t)) = inner.slots.get_mut(e.key).map(|s| &mut s.kind) {
            t.deadline = t.deadline.saturating_add(delta);
            t.entry_at = t.entry_at.saturating_add(delta);
        }
    }
}
