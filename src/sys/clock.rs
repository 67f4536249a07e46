//! The system clocks read straight into nanoseconds: `clock_gettime`
//! (a vDSO call on Linux, no system call), without the checks and the
//! `Instant`/`SystemTime` arithmetic std wraps around it. The loop reads
//! the monotonic clock twice per iteration, so this is on its hot path.

/// `CLOCK_MONOTONIC` in ns, or `None` if the call failed (it cannot for
/// this clock on Linux; the caller then falls back to std).
#[inline]
pub(crate) fn monotonic_ns() -> Option<i64> {
    read(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_REALTIME` in ns since the Unix epoch (negative before it), or
/// `None` if the call failed.
#[inline]
pub(crate) fn realtime_ns() -> Option<i64> {
    read(libc::CLOCK_REALTIME)
}

#[inline]
fn read(id: libc::clockid_t) -> Option<i64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return None;
    }
    // `time_t` and `c_long` are 32 bits wide on some targets.
    #[allow(clippy::useless_conversion)]
    let (secs, nsecs) = (i64::from(ts.tv_sec), i64::from(ts.tv_nsec));
    secs.checked_mul(1_000_000_000)?.checked_add(nsecs)
}
