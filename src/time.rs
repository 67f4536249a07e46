//! The loop's cached time: monotonic for timers, wall-clock for periodics,
//! updated once per iteration, with wall-clock jump detection and suspend.
//!
//! As in libev (`time_update`), an update reads the monotonic clock, and
//! the system's wall clock only every [`WALL_RESYNC_NS`] of monotonic time:
//! in between, wall time is monotonic time plus the offset measured at the
//! last read, and a step of the wall clock is noticed at the next read (so
//! within half a second). [`Ctx::now_update`](crate::Ctx::now_update) and
//! `resume` read both clocks. A custom [`Clock`] (a test's
//! [`ManualClock`](crate::ManualClock)) is read in full at every update, so
//! a test sees a step of its wall clock at the next iteration.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

use crate::clock::{wall_to_ns, Clock};
use crate::inner::Inner;
use crate::sys::clock::{monotonic_ns, realtime_ns};
use crate::watcher::{periodic, timer};

/// A wall-clock step against monotonic time smaller than this is drift, not
/// a jump (libev's `MIN_TIMEJUMP`).
const MIN_TIMEJUMP_NS: i64 = 1_000_000_000;

/// How long the system wall clock is interpolated from the monotonic one
/// before it is read again (libev's `MIN_TIMEJUMP * 0.5`).
const WALL_RESYNC_NS: i64 = MIN_TIMEJUMP_NS / 2;

/// Where the time comes from.
enum Source {
    /// The system's clocks, read with `clock_gettime`; `base_ns` is
    /// `CLOCK_MONOTONIC` at `origin` (read just after it, so the loop's
    /// time never runs ahead of `Instant::now()`).
    System { base_ns: Option<i64> },
    /// A clock the builder was given.
    Custom(Box<dyn Clock>),
}

pub(crate) struct Time {
    source: Source,
    /// The instant monotonic time zero stands for.
    pub origin: Instant,
    /// Cached monotonic time, ns since `origin`.
    pub now_ns: i64,
    /// `now_ns` as an `Instant`, made at the first `Ctx::now` after an
    /// update (a server calls it several times per event, or never).
    now_instant: Cell<Option<Instant>>,
    /// Cached wall time, ns since the Unix epoch.
    pub wall_ns: i64,
    /// `wall_ns - now_ns` at the last read of the wall clock, to
    /// interpolate wall time and to detect wall-clock jumps.
    wall_offset: i64,
    /// `now_ns` at the last read of the wall clock.
    wall_read_at: i64,
    /// Monotonic time at `suspend`, while suspended.
    pub suspended_at: Option<i64>,
    /// `set_io_collect_interval`, `set_timeout_collect_interval`.
    pub io_collect: Duration,
    pub timeout_collect: Duration,
    /// Monotonic time the previous poll returned, for the io collect interval.
    pub last_poll_ns: i64,
}

impl Time {
    /// Time from `clock`, or from the system's clocks for `None`.
    pub(crate) fn new(clock: Option<Box<dyn Clock>>) -> Self {
        let (source, origin) = match clock {
            Some(c) => {
                let origin = c.monotonic();
                (Source::Custom(c), origin)
            }
            None => {
                let origin = Instant::now();
                let base_ns = monotonic_ns();
                (Source::System { base_ns }, origin)
            }
        };
        let mut time = Time {
            source,
            origin,
            now_ns: 0,
            now_instant: Cell::new(None),
            wall_ns: 0,
            wall_offset: 0,
            wall_read_at: 0,
            suspended_at: None,
            io_collect: Duration::ZERO,
            timeout_collect: Duration::ZERO,
            last_poll_ns: 0,
        };
        time.wall_ns = time.read_wall();
        time.wall_offset = time.wall_ns;
        time
    }

    /// The cached monotonic time as an `Instant`.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match self.now_instant.get() {
            Some(now) => now,
            None => {
                let now = self.origin + Duration::from_nanos(self.now_ns as u64);
                self.now_instant.set(Some(now));
                now
            }
        }
    }

    /// Monotonic time now, ns since `origin`.
    #[inline]
    fn read_monotonic(&self) -> i64 {
        let since = match &self.source {
            Source::System {
                base_ns: Some(base),
            } => {
                if let Some(ns) = monotonic_ns() {
                    return ns.saturating_sub(*base).max(0);
                }
                Instant::now().saturating_duration_since(self.origin)
            }
            Source::System { base_ns: None } => {
                Instant::now().saturating_duration_since(self.origin)
            }
            Source::Custom(c) => c.monotonic().saturating_duration_since(self.origin),
        };
        since.as_nanos().min(i64::MAX as u128) as i64
    }

    /// Wall time now, ns since the Unix epoch.
    fn read_wall(&self) -> i64 {
        match &self.source {
            Source::System { .. } => realtime_ns().unwrap_or_else(|| wall_to_ns(SystemTime::now())),
            Source::Custom(c) => wall_to_ns(c.wall()),
        }
    }

    /// Updates the cached time: the monotonic clock, and the wall clock if
    /// `full`, if it is a custom clock, or if the last read is
    /// [`WALL_RESYNC_NS`] old (interpolated otherwise). Returns whether the
    /// wall clock jumped.
    #[inline]
    fn read(&mut self, full: bool) -> bool {
        // The clock must never go back; a clock that does is held still.
        self.now_ns = self.now_ns.max(self.read_monotonic());
        self.now_instant.set(None);
        if !full
            && matches!(self.source, Source::System { .. })
            && self.now_ns - self.wall_read_at < WALL_RESYNC_NS
        {
            self.wall_ns = self.now_ns.saturating_add(self.wall_offset);
            return false;
        }
        self.read_full()
    }

    #[inline(never)]
    fn read_full(&mut self) -> bool {
        self.wall_read_at = self.now_ns;
        self.wall_ns = self.read_wall();
        let offset = self.wall_ns.saturating_sub(self.now_ns);
        let jumped = offset.abs_diff(self.wall_offset) >= MIN_TIMEJUMP_NS as u64;
        self.wall_offset = offset;
        jumped
    }
}

impl<T> Inner<T> {
    /// Updates the cached time (see the module docs); after a wall-clock
    /// jump the periodics are rescheduled.
    #[inline]
    pub(crate) fn time_update(&mut self) {
        if self.time.read(false) {
            periodic::reschedule(self);
        }
    }

    /// Reads both clocks now (`now_update`, `resume`); after a wall-clock
    /// jump the periodics are rescheduled.
    pub(crate) fn time_update_full(&mut self) {
        if self.time.read(true) {
            periodic::reschedule(self);
        }
    }

    /// libev's `ev_suspend`.
    pub(crate) fn suspend(&mut self) {
        if self.time.suspended_at.is_none() {
            self.time_update();
            self.time.suspended_at = Some(self.time.now_ns);
        }
    }

    /// libev's `ev_resume`: timers are pushed back by the time suspended.
    pub(crate) fn resume(&mut self) {
        if let Some(at) = self.time.suspended_at {
            // Read the clock before leaving the suspended state: a clock
            // that panics leaves the loop suspended, not half resumed.
            self.time_update_full();
            self.time.suspended_at = None;
            let delta = self.time.now_ns - at;
            timer::shift(self, delta);
            periodic::reschedule(self);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system_wall_ns() -> i64 {
        wall_to_ns(SystemTime::now())
    }

    #[test]
    fn system_wall_clock_is_interpolated_then_read_again() {
        let mut t = Time::new(None);
        // As if the wall clock had been 10 s behind at the last read: a
        // jump the loop has not seen yet.
        let shift = 10 * MIN_TIMEJUMP_NS;
        t.wall_offset -= shift;
        t.wall_read_at = t.now_ns;
        assert!(!t.read(false), "interpolated: no read, no jump");
        assert_eq!(t.wall_ns, t.now_ns + t.wall_offset);
        assert!(t.wall_ns < system_wall_ns() - shift / 2);
        // Half a second of monotonic time later the wall clock is read.
        t.wall_read_at = t.now_ns - WALL_RESYNC_NS;
        assert!(t.read(false), "the step is found at the next read");
        let after = system_wall_ns();
        assert!(t.wall_ns <= after && t.wall_ns > after - MIN_TIMEJUMP_NS);
        assert_eq!(t.wall_read_at, t.now_ns);
    }

    #[test]
    fn a_full_update_reads_the_system_wall_clock_at_once() {
        let mut t = Time::new(None);
        t.wall_offset -= 10 * MIN_TIMEJUMP_NS;
        t.wall_read_at = t.now_ns;
        assert!(t.read(true));
        assert!(t.wall_ns > system_wall_ns() - MIN_TIMEJUMP_NS);
    }

    #[test]
    fn system_monotonic_time_matches_instant() {
        let mut t = Time::new(None);
        let before = Instant::now();
        t.read(false);
        let after = Instant::now();
        // The loop's time is not ahead of std's clock, and not far behind.
        assert!(t.now() <= after);
        assert!(t.now() + Duration::from_millis(100) >= before);
    }
}
