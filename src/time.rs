//! The loop's cached time: monotonic for timers, wall-clock for periodics,
//! read once per iteration, with wall-clock jump detection and suspend.

use std::time::{Duration, Instant};

use crate::clock::{wall_to_ns, Clock};
use crate::inner::Inner;
use crate::watcher::{periodic, timer};

/// A wall-clock step against monotonic time smaller than this is drift, not
/// a jump (libev's `MIN_TIMEJUMP`).
const MIN_TIMEJUMP_NS: i64 = 1_000_000_000;

pub(crate) struct Time {
    clock: Box<dyn Clock>,
    /// The instant monotonic time zero stands for.
    pub origin: Instant,
    /// Cached monotonic time, ns since `origin`.
    pub now_ns: i64,
    /// Cached wall time, ns since the Unix epoch.
    pub wall_ns: i64,
    /// `wall_ns - now_ns` at the last update, to detect wall-clock jumps.
    wall_offset: i64,
    /// Monotonic time at `suspend`, while suspended.
    pub suspended_at: Option<i64>,
    /// `set_io_collect_interval`, `set_timeout_collect_interval`.
    pub io_collect: Duration,
    pub timeout_collect: Duration,
    /// Monotonic time the previous poll returned, for the io collect interval.
    pub last_poll_ns: i64,
}

impl Time {
    pub(crate) fn new(clock: Box<dyn Clock>) -> Self {
        let origin = clock.monotonic();
        let wall_ns = wall_to_ns(clock.wall());
        Time {
            clock,
            origin,
            now_ns: 0,
            wall_ns,
            wall_offset: wall_ns,
            suspended_at: None,
            io_collect: Duration::ZERO,
            timeout_collect: Duration::ZERO,
            last_poll_ns: 0,
        }
    }

    /// The cached monotonic time as an `Instant`.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.now_ns as u64)
    }

    /// Reads both clocks; returns whether the wall clock jumped.
    fn read(&mut self) -> bool {
        let mono = self
            .clock
            .monotonic()
            .saturating_duration_since(self.origin);
        // The clock must never go back; a clock that does is held still.
        self.now_ns = self
            .now_ns
            .max(mono.as_nanos().min(i64::MAX as u128) as i64);
        self.wall_ns = wall_to_ns(self.clock.wall());
        let offset = self.wall_ns - self.now_ns;
        let jumped = (offset - self.wall_offset).abs() >= MIN_TIMEJUMP_NS;
        self.wall_offset = offset;
        jumped
    }
}

impl<T> Inner<T> {
    /// Reads both clocks; after a wall-clock jump the periodics are
    /// rescheduled.
    pub(crate) fn time_update(&mut self) {
        if self.time.read() {
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
            self.time_update();
            self.time.suspended_at = None;
            let delta = self.time.now_ns - at;
            timer::shift(self, delta);
            periodic::reschedule(self);
        }
    }
}
