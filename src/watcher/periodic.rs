//! Periodic watchers (libev's `ev_periodic`): wall-clock times.

use std::panic::{self, AssertUnwindSafe};
use std::time::SystemTime;

use super::timer::to_ns;
use super::{Contract, Kind, Schedule, Slot, NO_INDEX};
use crate::clock::{ns_to_wall, wall_to_ns};
use crate::handle::{handle, WatcherKey};
use crate::inner::Inner;
use crate::timer_heap::TimerHeap;
use crate::{Ctx, Error, Events, Watcher};

handle! {
    /// Handle of a periodic watcher (libev's `ev_periodic`).
    PeriodicId, Periodic
}

/// The periodic part of a watcher slot.
pub(crate) struct PeriodicData {
    /// Boxed: periodics are rare, and every watcher slot is as large as the
    /// largest kind.
    pub schedule: Box<Schedule>,
    /// The next time to fire, ns since the Unix epoch (while active).
    pub at: i64,
    pub heap: u32,
}

/// The loop's periodics, by next time.
#[derive(Default)]
pub(crate) struct PeriodicState {
    heap: TimerHeap<WatcherKey>,
}

#[inline]
fn set_heap(slots: &mut slotmap::SlotMap<WatcherKey, Slot>, key: WatcherKey, idx: u32) {
    if let Some(Slot {
        kind: Kind::Periodic(p),
        ..
    }) = slots.get_mut(key)
    {
        p.heap = idx;
    }
}

/// The first time strictly after `now` on the grid `offset + k * interval`.
fn next_aligned(now: i64, interval: i64, offset: i64) -> i64 {
    let offset = offset.rem_euclid(interval);
    let k = (now - offset).div_euclid(interval) + 1;
    offset.saturating_add(k.saturating_mul(interval))
}

/// What the schedule says after `now`: the next time, `None` to stop, or
/// the panic of a custom schedule's closure (to be resumed once the loop's
/// structures are consistent again).
enum Next {
    At(i64),
    Stop,
    Panicked(Box<dyn std::any::Any + Send>),
}

/// The next time for `schedule` after `now`.
fn next_time(schedule: &mut Schedule, now: i64, first: bool) -> Next {
    let t = match schedule {
        Schedule::At(t) => first.then(|| wall_to_ns(*t)),
        Schedule::Every { interval, offset } => Some(next_aligned(
            now,
            interval.as_nanos().min(i64::MAX as u128) as i64,
            offset.as_nanos().min(i64::MAX as u128) as i64,
        )),
        Schedule::Custom(f) => match panic::catch_unwind(AssertUnwindSafe(|| f(ns_to_wall(now)))) {
            Ok(t) => t.map(wall_to_ns),
            Err(p) => return Next::Panicked(p),
        },
    };
    t.map_or(Next::Stop, Next::At)
}

fn check_schedule(s: &Schedule) -> Result<(), Error> {
    if let Schedule::Every { interval, offset } = s {
        if interval.is_zero() {
            return Err(Error::InvalidArgument(
                "a periodic interval must not be zero",
            ));
        }
        to_ns(*interval, "periodic interval too large")?;
        to_ns(*offset, "periodic offset too large")?;
    }
    Ok(())
}

pub(crate) struct Periodic;

impl Contract for Periodic {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        let now = inner.time.wall_ns;
        let slots = &mut inner.slots;
        let Kind::Periodic(p) = &mut slots[key].kind else {
            return Ok(());
        };
        let at = match next_time(&mut p.schedule, now, true) {
            Next::At(at) => at,
            Next::Stop => {
                return Err(Error::InvalidArgument(
                    "the periodic's schedule gave no time to fire",
                ))
            }
            // Nothing of the periodic's own was changed yet; undo the
            // loop's marking it active, then let the panic go on.
            Next::Panicked(p) => {
                inner.start_failed(key);
                panic::resume_unwind(p)
            }
        };
        p.at = at;
        inner
            .kinds
            .periodic
            .heap
            .push(at, key, &mut |k, i| set_heap(slots, k, i));
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        let slots = &mut inner.slots;
        let Kind::Periodic(p) = &mut slots[key].kind else {
            return;
        };
        let heap = std::mem::replace(&mut p.heap, NO_INDEX);
        if heap != NO_INDEX {
            inner
                .kinds
                .periodic
                .heap
                .remove(heap, &mut |k, i| set_heap(slots, k, i));
        }
    }
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped periodic watcher with the given wall-clock schedule.
    /// The callback gets [`Events::PERIODIC`].
    ///
    /// A timer says "in ten minutes" and keeps counting monotonic time whatever
    /// happens to the wall clock. A periodic says "at 12:00" or "on every full
    /// hour" and follows the wall clock: when the clock is set forward or back,
    /// it fires at the wall-clock time it was given, not after the duration
    /// that was left. The loop notices a jump of the wall clock against the
    /// monotonic clock by one second or more (checked at the first iteration
    /// half a second or more after the last check, as libev does, and at
    /// every [`now_update`](Self::now_update); a custom [`Clock`](crate::Clock)
    /// at every iteration; it wakes at least once a minute while periodics
    /// exist) and then
    /// reschedules every periodic: [`Schedule::Every`] to its next aligned
    /// time after the new now (missed times are not fired),
    /// [`Schedule::Custom`] by asking its closure again, while
    /// [`Schedule::At`] keeps its time and simply fires if that has now
    /// passed. Like a timer, a periodic fires once its time has passed, not
    /// at it.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use evloop::{Loop, RunMode, Schedule};
    ///
    /// let mut lp: Loop<bool> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let at = SystemTime::now() + Duration::from_millis(2);
    /// let p = ctx.new_periodic(Schedule::At(at), |_ctx, fired, _id, _ev| *fired = true)?;
    /// ctx.start(p)?;
    /// let mut fired = false;
    /// lp.run(&mut fired, RunMode::Default)?;
    /// assert!(fired && SystemTime::now() > at);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a zero interval or durations beyond 292 years.
    pub fn new_periodic<F>(&mut self, schedule: Schedule, cb: F) -> Result<PeriodicId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, PeriodicId, Events) + 'static,
    {
        check_schedule(&schedule)?;
        let kind = Kind::Periodic(PeriodicData {
            schedule: Box::new(schedule),
            at: 0,
            heap: NO_INDEX,
        });
        let key = self.inner.insert(kind, super::wrap(cb));
        Ok(self.inner.handle(key))
    }

    /// A view of a periodic watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn periodic(&mut self, id: PeriodicId) -> Result<Watcher<'_, T, PeriodicId>, Error> {
        self.watcher(id)
    }
}

impl<'a, T> Watcher<'a, T, PeriodicId> {
    fn data(&self) -> &PeriodicData {
        match &self.inner.slots[self.key].kind {
            Kind::Periodic(p) => p,
            _ => unreachable!("a PeriodicId resolves to a periodic"),
        }
    }

    /// Replaces the schedule of a stopped periodic (libev's `ev_periodic_set`).
    ///
    /// # Errors
    ///
    /// [`Error::Active`] if it is active, [`Error::InvalidArgument`] for a
    /// bad schedule.
    pub fn set_schedule(&mut self, schedule: Schedule) -> Result<(), Error> {
        check_schedule(&schedule)?;
        if self.is_active() {
            return Err(Error::Active);
        }
        if let Kind::Periodic(p) = &mut self.inner.slots[self.key].kind {
            *p.schedule = schedule;
        }
        Ok(())
    }

    /// The wall-clock time an active periodic fires next (libev's
    /// `ev_periodic_at`); `None` if it is stopped.
    pub fn at(&self) -> Option<SystemTime> {
        self.is_active().then(|| ns_to_wall(self.data().at))
    }

    /// Recomputes an active periodic's next time from its schedule and the
    /// loop's wall time, or starts a stopped one (libev's
    /// `ev_periodic_again`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the schedule yields no time.
    pub fn again(&mut self) -> Result<(), Error> {
        self.stop();
        self.start()
    }

    crate::view::set_callback!(PeriodicId);
}

/// The time the earliest periodic fires, if any.
pub(crate) fn next_at<T>(inner: &Inner<T>) -> Option<i64> {
    inner.kinds.periodic.heap.peek().map(|e| e.at)
}

/// Queues every periodic whose time has passed, earliest first, and
/// schedules each one's next time.
#[inline]
pub(crate) fn reify<T>(inner: &mut Inner<T>) {
    // Nearly every iteration has none due (most loops have no periodic):
    // that check is inlined into the loop, the work is not.
    if inner
        .kinds
        .periodic
        .heap
        .peek()
        .is_some_and(|top| top.at < inner.time.wall_ns)
    {
        reify_due(inner);
    }
}

fn reify_due<T>(inner: &mut Inner<T>) {
    let now = inner.time.wall_ns;
    let mut panicked = None;
    while let Some(top) = inner.kinds.periodic.heap.peek() {
        if top.at >= now {
            break;
        }
        let key = top.key;
        let slots = &mut inner.slots;
        let slot = &mut slots[key];
        let Kind::Periodic(p) = &mut slot.kind else {
            unreachable!("only periodics in the periodic heap")
        };
        let heap = &mut inner.kinds.periodic.heap;
        match next_time(&mut p.schedule, now, false) {
            Next::At(at) => {
                // A custom schedule that does not move forward fires
                // again next iteration, not in this one.
                p.at = at;
                heap.set_at(0, at.max(now), &mut |k, i| set_heap(slots, k, i));
            }
            stop => {
                if let Next::Panicked(p) = stop {
                    panicked.get_or_insert(p);
                }
                p.heap = NO_INDEX;
                slot.active = false;
                if slot.keepalive {
                    inner.refs -= 1;
                }
                heap.remove(0, &mut |k, i| set_heap(slots, k, i));
            }
        }
        inner.expired.push(key);
    }
    super::timer::queue_expired(inner, Events::PERIODIC);
    if let Some(p) = panicked {
        panic::resume_unwind(p);
    }
}

/// After a wall-clock jump (or a resume): every periodic computes its next
/// time anew. A custom schedule that panics stops its periodic; the heap is
/// put in order before the panic goes on.
pub(crate) fn reschedule<T>(inner: &mut Inner<T>) {
    let now = inner.time.wall_ns;
    let mut stopped = Vec::new();
    let mut panicked = None;
    for e in inner.kinds.periodic.heap.entries_mut() {
        if let Some(Kind::Periodic(p)) = inner.slots.get_mut(e.key).map(|s| &mut s.kind) {
            if !matches!(*p.schedule, Schedule::At(_)) {
                match next_time(&mut p.schedule, now, false) {
                    Next::At(at) => p.at = at,
                    Next::Stop => stopped.push(e.key),
                    Next::Panicked(pn) => {
                        stopped.push(e.key);
                        panicked.get_or_insert(pn);
                    }
                }
            }
            e.at = p.at;
        }
    }
    let slots = &mut inner.slots;
    inner
        .kinds
        .periodic
        .heap
        .rebuild(&mut |k, i| set_heap(slots, k, i));
    for key in stopped {
        inner.stop_key(key);
    }
    if let Some(p) = panicked {
        panic::resume_unwind(p);
    }
}

#[cfg(test)]
mod tests {
    use super::next_aligned;

    #[test]
    fn aligned_grid() {
        assert_eq!(next_aligned(0, 10, 0), 10);
        assert_eq!(next_aligned(9, 10, 0), 10);
        assert_eq!(next_aligned(10, 10, 0), 20);
        assert_eq!(next_aligned(10, 10, 3), 13);
        assert_eq!(next_aligned(13, 10, 3), 23);
        assert_eq!(next_aligned(-5, 10, 0), 0);
        assert_eq!(next_aligned(5, 10, 27), 7);
    }
}
