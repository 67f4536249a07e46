//! Periodic watchers (libev's `ev_periodic`): wall-clock times.

use std::time::SystemTime;

use crate::clock::{ns_to_wall, wall_to_ns};
use crate::handle::{PeriodicId, WatcherKey};
use crate::watcher::timer::to_ns;
use crate::watcher::{Kind, Schedule, Slot, NO_INDEX};
use crate::{Ctx, Error, Events};

/// The periodic part of a watcher slot.
pub(crate) struct PeriodicData {
    /// Boxed: periodics are rare, and every watcher slot is as large as the
    /// largest kind.
    pub schedule: Box<Schedule>,
    /// The next time to fire, ns since the Unix epoch (while active).
    pub at: i64,
    pub heap: u32,
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

/// The next time for `schedule` after `now`, or `None` to stop.
fn next_time(schedule: &mut Schedule, now: i64, first: bool) -> Option<i64> {
    match schedule {
        Schedule::At(t) => first.then(|| wall_to_ns(*t)),
        Schedule::Every { interval, offset } => Some(next_aligned(
            now,
            interval.as_nanos().min(i64::MAX as u128) as i64,
            offset.as_nanos().min(i64::MAX as u128) as i64,
        )),
        Schedule::Custom(f) => f(ns_to_wall(now)).map(wall_to_ns),
    }
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

impl<T> Ctx<T> {
    /// Creates a stopped periodic watcher with the given wall-clock schedule.
    /// The callback gets [`Events::PERIODIC`].
    ///
    /// A timer says "in ten minutes" and keeps counting monotonic time whatever
    /// happens to the wall clock. A periodic says "at 12:00" or "on every full
    /// hour" and follows the wall clock: when the clock is set forward or back,
    /// it fires at the wall-clock time it was given, not after the duration
    /// that was left. The loop notices a jump of the wall clock against the
    /// monotonic clock by one second or more (checked at every iteration, and
    /// it wakes at least once a minute while periodics exist) and then
    /// reschedules every periodic: [`Schedule::Every`](crate::Schedule::Every) to
    /// its next aligned time after the new now (missed times are not fired),
    /// [`Schedule::Custom`](crate::Schedule::Custom) by asking its closure again,
    /// while [`Schedule::At`](crate::Schedule::At) keeps its time and simply
    /// fires if that has now passed.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use evloop::{Loop, RunMode, Schedule};
    ///
    /// let mut lp: Loop<bool> = Loop::new()?;
    /// let at = SystemTime::now() + Duration::from_millis(2);
    /// let p = lp.periodic(Schedule::At(at), |_ctx, fired, _id, _ev| *fired = true)?;
    /// lp.start(p)?;
    /// let mut fired = false;
    /// lp.run(&mut fired, RunMode::Default)?;
    /// assert!(fired && SystemTime::now() >= at);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a zero interval or durations beyond 292 years.
    pub fn periodic<F>(&mut self, schedule: Schedule, mut cb: F) -> Result<PeriodicId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, PeriodicId, Events) + 'static,
    {
        check_schedule(&schedule)?;
        let kind = Kind::Periodic(PeriodicData {
            schedule: Box::new(schedule),
            at: 0,
            heap: NO_INDEX,
        });
        Ok(PeriodicId(self.insert(
            kind,
            Box::new(move |c, d, k, e| cb(c, d, PeriodicId(k), e)),
        )))
    }

    /// Replaces the schedule of a stopped periodic (libev's `ev_periodic_set`).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`], [`Error::Active`], or [`Error::InvalidArgument`].
    pub fn set_periodic(&mut self, id: PeriodicId, schedule: Schedule) -> Result<(), Error> {
        check_schedule(&schedule)?;
        match self.slots.get_mut(id.0) {
            Some(Slot {
                active: true,
                kind: Kind::Periodic(_),
                ..
            }) => Err(Error::Active),
            Some(Slot {
                kind: Kind::Periodic(p),
                ..
            }) => {
                *p.schedule = schedule;
                Ok(())
            }
            _ => Err(Error::StaleHandle),
        }
    }

    /// The wall-clock time an active periodic fires next (libev's
    /// `ev_periodic_at`); `None` if it is stopped.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`].
    pub fn periodic_at(&self, id: PeriodicId) -> Result<Option<SystemTime>, Error> {
        match self.slots.get(id.0) {
            Some(Slot {
                active,
                kind: Kind::Periodic(p),
                ..
            }) => Ok(active.then(|| ns_to_wall(p.at))),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Recomputes an active periodic's next time from its schedule and the
    /// loop's wall time, or starts a stopped one (libev's
    /// `ev_periodic_again`).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`]; [`Error::InvalidArgument`] if the schedule
    /// yields no time.
    pub fn periodic_again(&mut self, id: PeriodicId) -> Result<(), Error> {
        if !self.is_active(id) {
            return self.start(id);
        }
        self.stop(id)?;
        self.start(id)
    }

    pub(crate) fn periodic_start(&mut self, key: WatcherKey) -> Result<(), Error> {
        let now = self.wall_ns;
        let slots = &mut self.slots;
        let Kind::Periodic(p) = &mut slots[key].kind else {
            return Ok(());
        };
        let at = next_time(&mut p.schedule, now, true).ok_or(Error::InvalidArgument(
            "the periodic's schedule gave no time to fire",
        ))?;
        p.at = at;
        self.periodics
            .push(at, key, &mut |k, i| set_heap(slots, k, i));
        Ok(())
    }

    pub(crate) fn periodic_stop(&mut self, key: WatcherKey) {
        let slots = &mut self.slots;
        let Kind::Periodic(p) = &mut slots[key].kind else {
            return;
        };
        let heap = std::mem::replace(&mut p.heap, NO_INDEX);
        if heap != NO_INDEX {
            self.periodics
                .remove(heap, &mut |k, i| set_heap(slots, k, i));
        }
    }

    /// Queues every periodic whose time has come, earliest first, and
    /// schedules each one's next time.
    pub(crate) fn periodics_reify(&mut self) {
        let now = self.wall_ns;
        while let Some(top) = self.periodics.peek() {
            if top.at > now {
                break;
            }
            let key = top.key;
            let slots = &mut self.slots;
            let slot = &mut slots[key];
            let Kind::Periodic(p) = &mut slot.kind else {
                unreachable!("only periodics in the periodic heap")
            };
            match next_time(&mut p.schedule, now, false) {
                Some(at) => {
                    // A custom schedule that does not move forward fires
                    // again next iteration, not in this one.
                    p.at = at;
                    self.periodics
                        .set_at(0, at.max(now.saturating_add(1)), &mut |k, i| {
                            set_heap(slots, k, i)
                        });
                }
                None => {
                    p.heap = NO_INDEX;
                    slot.active = false;
                    if slot.keepalive {
                        self.refs -= 1;
                    }
                    self.periodics.remove(0, &mut |k, i| set_heap(slots, k, i));
                }
            }
            self.expired.push(key);
        }
        self.queue_expired(Events::PERIODIC);
    }

    /// After a wall-clock jump: every periodic computes its next time anew.
    pub(crate) fn periodics_reschedule(&mut self) {
        let now = self.wall_ns;
        let mut stopped = Vec::new();
        for e in self.periodics.entries_mut() {
            if let Some(Slot {
                kind: Kind::Periodic(p),
                ..
            }) = self.slots.get_mut(e.key)
            {
                if !matches!(*p.schedule, Schedule::At(_)) {
                    match next_time(&mut p.schedule, now, false) {
                        Some(at) => p.at = at,
                        None => stopped.push(e.key),
                    }
                }
                e.at = p.at;
            }
        }
        let slots = &mut self.slots;
        self.periodics.rebuild(&mut |k, i| set_heap(slots, k, i));
        for key in stopped {
            self.stop_key(key);
        }
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
