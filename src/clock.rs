//! Where the loop gets its time from, and a clock tests can move by hand.
//!
//! The loop reads two clocks: a monotonic one for timers and a wall clock for
//! periodics. It updates its time once after each poll (and once before a
//! blocking poll) and caches the result: that is [`Ctx::now`](crate::Ctx::now)
//! (and [`Ctx::now_wall`](crate::Ctx::now_wall)), the time every callback of
//! one iteration sees. As libev does, the system's wall clock is read only
//! every half second of monotonic time and interpolated in between, so a
//! step of the system's wall clock is noticed within half a second; a
//! custom [`Clock`] is read in full at every update.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of monotonic and wall-clock time.
///
/// The default is [`SystemClock`]. A test installs a [`ManualClock`] with
/// [`LoopBuilder::clock`](crate::LoopBuilder::clock) to step time, and to
/// make the wall clock jump, without waiting.
pub trait Clock {
    /// Monotonic time. It must never go backwards.
    fn monotonic(&self) -> Instant;
    /// Wall-clock time.
    fn wall(&self) -> SystemTime;
}

/// The operating system's clocks: `CLOCK_MONOTONIC` and `CLOCK_REALTIME`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn monotonic(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to. Clones share the same time, so a
/// test keeps one clone and hands another to the loop.
///
/// A loop on a manual clock still polls the OS for io; the time it computes
/// its poll timeouts from is the manual one. Tests therefore drive it with
/// [`RunMode::NoWait`](crate::RunMode::NoWait) after moving the clock.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    /// What monotonic time zero is as an `Instant`.
    base: Instant,
    mono_ns: AtomicU64,
    /// Wall time in ns since the Unix epoch (negative = before it).
    wall_ns: AtomicI64,
}

impl ManualClock {
    /// A clock at the given wall-clock time; its monotonic time starts at the
    /// moment of creation and moves only by [`advance`](Self::advance).
    pub fn new(wall: SystemTime) -> Self {
        ManualClock {
            inner: Arc::new(ManualInner {
                base: Instant::now(),
                mono_ns: AtomicU64::new(0),
                wall_ns: AtomicI64::new(wall_to_ns(wall)),
            }),
        }
    }

    /// Moves both clocks forward by `d`, as real time passing would.
    pub fn advance(&self, d: Duration) {
        let ns = d.as_nanos() as u64;
        self.inner.mono_ns.fetch_add(ns, Ordering::SeqCst);
        self.inner.wall_ns.fetch_add(ns as i64, Ordering::SeqCst);
    }

    /// Sets the wall clock alone, forwards or backwards, as an administrator
    /// or NTP stepping the clock would; monotonic time does not move.
    pub fn set_wall(&self, wall: SystemTime) {
        self.inner.wall_ns.store(wall_to_ns(wall), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn monotonic(&self) -> Instant {
        self.inner.base + Duration::from_nanos(self.inner.mono_ns.load(Ordering::SeqCst))
    }

    fn wall(&self) -> SystemTime {
        ns_to_wall(self.inner.wall_ns.load(Ordering::SeqCst))
    }
}

/// Wall time as signed nanoseconds since the Unix epoch (enough for ±292 years).
pub(crate) fn wall_to_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos().min(i64::MAX as u128) as i64,
        Err(e) => -(e.duration().as_nanos().min(i64::MAX as u128) as i64),
    }
}

/// The inverse of [`wall_to_ns`].
pub(crate) fn ns_to_wall(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}
