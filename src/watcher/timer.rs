//! Timer watchers (libev's `ev_timer`): relative timeouts on the monotonic
//! clock, optionally repeating.

use std::time::Duration;

use slotmap::SecondaryMap;

use crate::handle::{TimerId, WatcherKey};
use crate::watcher::{Kind, Slot, NO_INDEX};
use crate::{Ctx, Error, Events, Priority};

/// The timer part of a watcher slot. Times are ns on the loop's monotonic
/// time line.
pub(crate) struct TimerData {
    pub after: i64,
    pub repeat: i64,
    /// When it fires, while active.
    pub deadline: i64,
    /// A copy of its heap entry's `at` (the entry's index is in
    /// `Ctx::timer_pos`). Never later than `deadline` while the timer is
    /// active. Kept here so that re-arming can tell whether
    /// the entry must move without touching the heap (a cache miss in big
    /// heaps).
    pub entry_at: i64,
}

pub(crate) fn to_ns(d: Duration, what: &'static str) -> Result<i64, Error> {
    i64::try_from(d.as_nanos()).map_err(|_| Error::InvalidArgument(what))
}

/// Records a moved heap entry's new index. The positions live in a dense
/// side table, not in the (much larger) watcher slots, because every sift
/// step writes one: in a heap of a million timers that is the difference
/// between touching 8 bytes and a whole slot per step.
#[inline]
fn set_pos(pos: &mut SecondaryMap<WatcherKey, u32>, key: WatcherKey, idx: u32) {
    if let Some(p) = pos.get_mut(key) {
        *p = idx;
    }
}

impl<T> Ctx<T> {
    /// Creates a stopped timer (libev's `ev_timer_init`). Once started, it
    /// fires `after` from the loop's [`now`](Self::now), then every `repeat`
    /// if that is not zero, until stopped.
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
    /// // After 1 ms, then every 1 ms; stops itself on the third run.
    /// let t = lp.timer(Duration::from_millis(1), Duration::from_millis(1), |ctx, n, id, _ev| {
    ///     *n += 1;
    ///     if *n == 3 {
    ///         ctx.stop(id).unwrap();
    ///     }
    /// })?;
    /// lp.start(t)?;
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
    /// * [`timer_again`](crate::Ctx::timer_again) (or a stop and start) that
    ///   moves a deadline *later* only records the new deadline. The heap entry
    ///   stays where it is, early; when it reaches the top, the loop sees the
    ///   real deadline and sinks it (libev's manual suggests this trick to its
    ///   users; here the loop does it for them).
    /// * [`stop`](crate::Ctx::stop) leaves the heap entry in place, marked
    ///   dead; a later start reuses it, and an entry still dead when it reaches
    ///   the top is dropped there. [`remove`](crate::Ctx::remove) deletes it
    ///   at once.
    ///
    /// Moving a deadline earlier sifts the entry up at once, so the heap's top
    /// is never later than the earliest real deadline: the loop may wake up
    /// early (and go back to sleep), never late.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for durations beyond 292 years.
    pub fn timer<F>(
        &mut self,
        after: Duration,
        repeat: Duration,
        mut cb: F,
    ) -> Result<TimerId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, TimerId, Events) + 'static,
    {
        let kind = Kind::Timer(TimerData {
            after: to_ns(after, "timer delay too large")?,
            repeat: to_ns(repeat, "timer repeat too large")?,
            deadline: 0,
            entry_at: 0,
        });
        let key = self.insert(kind, Box::new(move |c, d, k, e| cb(c, d, TimerId(k), e)));
        self.timer_pos.insert(key, NO_INDEX);
        Ok(TimerId(key))
    }

    fn timer_data(&self, id: TimerId) -> Result<(&TimerData, bool), Error> {
        match self.slots.get(id.0) {
            Some(Slot {
                kind: Kind::Timer(t),
                active,
                ..
            }) => Ok((t, *active)),
            _ => Err(Error::StaleHandle),
        }
    }

    fn timer_data_mut(&mut self, id: TimerId) -> Result<(&mut TimerData, bool), Error> {
        match self.slots.get_mut(id.0) {
            Some(Slot {
                kind: Kind::Timer(t),
                active,
                ..
            }) => Ok((t, *active)),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Sets `after` and `repeat` of a stopped timer (libev's `ev_timer_set`).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`], [`Error::Active`] if the timer is active
    /// (use [`timer_again`](Self::timer_again) or stop it first), or
    /// [`Error::InvalidArgument`] for durations beyond 292 years.
    pub fn set_timer(
        &mut self,
        id: TimerId,
        after: Duration,
        repeat: Duration,
    ) -> Result<(), Error> {
        let after = to_ns(after, "timer delay too large")?;
        let repeat = to_ns(repeat, "timer repeat too large")?;
        let (t, active) = self.timer_data_mut(id)?;
        if active {
            return Err(Error::Active);
        }
        t.after = after;
        t.repeat = repeat;
        Ok(())
    }

    /// Changes the repeat interval (libev's `w->repeat = ...`); allowed at any
    /// time, used from the next expiry or [`timer_again`](Self::timer_again) on.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] or [`Error::InvalidArgument`].
    pub fn set_timer_repeat(&mut self, id: TimerId, repeat: Duration) -> Result<(), Error> {
        let repeat = to_ns(repeat, "timer repeat too large")?;
        self.timer_data_mut(id)?.0.repeat = repeat;
        Ok(())
    }

    /// The repeat interval.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`].
    pub fn timer_repeat(&self, id: TimerId) -> Result<Duration, Error> {
        Ok(Duration::from_nanos(self.timer_data(id)?.0.repeat as u64))
    }

    /// Restarts the timer to fire `repeat` from now (libev's
    /// `ev_timer_again`): an active timer with a repeat is re-armed, an
    /// active one without is stopped, a stopped one with a repeat is
    /// started. This is the call for idle timeouts: set `repeat` to the
    /// timeout once, and call `timer_again` on every activity.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`].
    pub fn timer_again(&mut self, id: TimerId) -> Result<(), Error> {
        let now = self.now_ns;
        let key = id.0;
        let (t, active) = self.timer_data_mut(id)?;
        let repeat = t.repeat;
        if repeat > 0 {
            self.timer_arm(key, now.saturating_add(repeat));
            if !active {
                self.mark_active(key);
            }
        } else if active {
            self.stop_key(key);
        }
        Ok(())
    }

    /// Sets `repeat` and restarts the timer with it: the same as
    /// [`set_timer_repeat`](Self::set_timer_repeat) followed by
    /// [`timer_again`](Self::timer_again).
    ///
    /// # Errors
    ///
    /// As those two.
    pub fn timer_again_with(&mut self, id: TimerId, repeat: Duration) -> Result<(), Error> {
        self.set_timer_repeat(id, repeat)?;
        self.timer_again(id)
    }

    /// Time left until an active timer fires, measured from the loop's
    /// [`now`](Self::now) (libev's `ev_timer_remaining`); `None` if the
    /// timer is stopped. Zero if it is due.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`].
    pub fn timer_remaining(&self, id: TimerId) -> Result<Option<Duration>, Error> {
        let (t, active) = self.timer_data(id)?;
        Ok(active.then(|| Duration::from_nanos((t.deadline - self.now_ns).max(0) as u64)))
    }

    pub(crate) fn timer_start(&mut self, key: WatcherKey) {
        let Kind::Timer(t) = &self.slots[key].kind else {
            return;
        };
        let deadline = self.now_ns.saturating_add(t.after);
        self.timer_arm(key, deadline);
    }

    /// Gives the timer a new deadline, reusing its heap entry if it has one.
    #[inline]
    fn timer_arm(&mut self, key: WatcherKey, deadline: i64) {
        let Kind::Timer(t) = &mut self.slots[key].kind else {
            return;
        };
        t.deadline = deadline;
        let pos = &mut self.timer_pos;
        let heap = pos.get(key).copied().unwrap_or(NO_INDEX);
        if heap == NO_INDEX {
            t.entry_at = deadline;
            self.timers
                .push(deadline, key, &mut |k, i| set_pos(pos, k, i));
        } else {
            debug_assert_eq!(self.timers.get(heap).at, t.entry_at);
            if deadline < t.entry_at {
                t.entry_at = deadline;
                self.timers
                    .set_at(heap, deadline, &mut |k, i| set_pos(pos, k, i));
            }
            // Later than the entry: leave it early; see `timer`'s docs.
        }
    }

    /// Deletes the heap entry of a timer that is going away.
    pub(crate) fn timer_forget(&mut self, key: WatcherKey) {
        let pos = &mut self.timer_pos;
        let heap = pos.remove(key).unwrap_or(NO_INDEX);
        if heap != NO_INDEX {
            self.timers.remove(heap, &mut |k, i| set_pos(pos, k, i));
        }
    }

    /// Fixes the entry on top of the heap if it is dead (drops it) or early
    /// (sinks it to the real deadline). Returns false when the top is a live
    /// timer at its real deadline, or the heap is empty.
    #[inline]
    fn timers_fix_top(&mut self) -> bool {
        let Some(top) = self.timers.peek() else {
            return false;
        };
        let (key, at) = (top.key, top.at);
        let slot = &mut self.slots[key];
        let Kind::Timer(t) = &mut slot.kind else {
            unreachable!("only timers in the timer heap")
        };
        let pos = &mut self.timer_pos;
        if !slot.active {
            pos[key] = NO_INDEX;
            self.timers.remove(0, &mut |k, i| set_pos(pos, k, i));
            true
        } else if t.deadline > at {
            t.entry_at = t.deadline;
            let deadline = t.deadline;
            self.timers
                .set_at(0, deadline, &mut |k, i| set_pos(pos, k, i));
            true
        } else {
            false
        }
    }

    /// The earliest real timer deadline. Settles every dead or early entry
    /// on the way, so the loop never blocks on a deadline that is not real:
    /// called only before a blocking poll.
    pub(crate) fn next_timer_at(&mut self) -> Option<i64> {
        while self.timers_fix_top() {}
        self.timers.peek().map(|e| e.at)
    }

    /// Queues every expired timer, earliest deadline first. Only entries
    /// that are due are looked at: dead or early entries further down wait
    /// until they reach the top *and* are due, so re-arming many timers costs
    /// nothing here until their old deadlines come.
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
    pub(crate) fn timers_reify(&mut self) {
        let now = self.now_ns;
        let due = self.timers.count_due(now, &mut self.scratch);
        if due == 0 {
            return;
        }
        let base = self.pending.reserve(Priority::DEFAULT, due);
        let mut next_free = base + due;
        while let Some(&top) = self.timers.peek() {
            if top.at > now {
                break;
            }
            if self.timers_fix_top() {
                continue;
            }
            let key = top.key;
            let slot = &mut self.slots[key];
            let Kind::Timer(t) = &mut slot.kind else {
                unreachable!("only timers in the timer heap")
            };
            let pos = &mut self.timer_pos;
            if t.repeat > 0 {
                let mut next = t.deadline.saturating_add(t.repeat);
                if next <= now {
                    next = now.saturating_add(t.repeat);
                }
                t.deadline = next;
                t.entry_at = next;
                self.timers.set_at(0, next, &mut |k, i| set_pos(pos, k, i));
            } else {
                slot.active = false;
                if slot.keepalive {
                    self.refs -= 1;
                }
                pos[key] = NO_INDEX;
                self.timers.remove(0, &mut |k, i| set_pos(pos, k, i));
            }
            if slot.pending == 0 && slot.priority == Priority::DEFAULT && next_free > base {
                next_free -= 1;
                self.pending.place(
                    &mut slot.pending,
                    Priority::DEFAULT,
                    next_free,
                    key,
                    Events::TIMER,
                );
            } else {
                self.expired.push(key);
            }
        }
        self.queue_expired(Events::TIMER);
    }

    /// Queues the collected expired watchers so that the earliest runs first.
    pub(crate) fn queue_expired(&mut self, events: Events) {
        while let Some(key) = self.expired.pop() {
            if let Some(slot) = self.slots.get_mut(key) {
                self.pending
                    .queue(&mut slot.pending, slot.priority, key, events);
            }
        }
    }

    /// Moves every timer by `delta` (after a suspend).
    pub(crate) fn timers_shift(&mut self, delta: i64) {
        self.timers.shift_all(delta);
        for e in self.timers.entries() {
            if let Some(Slot {
                kind: Kind::Timer(t),
                ..
            }) = self.slots.get_mut(e.key)
            {
                t.deadline = t.deadline.saturating_add(delta);
                t.entry_at = t.entry_at.saturating_add(delta);
            }
        }
    }
}
