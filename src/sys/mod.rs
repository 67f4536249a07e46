//! Every system call the core makes, and the only `unsafe` in it.
//!
//! The rest of the crate is safe Rust (`#![deny(unsafe_code)]` at the
//! crate root; this module alone is allowed). Each file wraps one OS
//! facility in safe functions, mio-style: the readiness backends (one
//! file each), the clocks, eventfds, signal dispositions, process calls (pids, wait,
//! pidfd) and inotify. kqueue for the BSDs would be one more file here,
//! behind `cfg`, and one more arm in `backend::create`.

#![allow(unsafe_code)]

use std::time::Duration;

pub(crate) mod clock;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod epoll;
pub(crate) mod eventfd;
pub(crate) mod inotify;
pub(crate) mod poll;
pub(crate) mod process;
pub(crate) mod select;
pub(crate) mod signal;
#[cfg(test)]
mod test_util;

/// A timeout as a `timespec` for the nanosecond-resolution calls
/// (`epoll_pwait2`, `ppoll`), capped far beyond any real wait so that the
/// seconds always fit.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn to_timespec(d: Duration) -> libc::timespec {
    const MAX_SECS: u64 = 100_000_000;
    libc::timespec {
        tv_sec: d.as_secs().min(MAX_SECS) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// Rounds a timeout up to whole milliseconds for the ms-resolution system
/// calls, so that the loop never wakes before a timer is due (waking early
/// would only make it poll again). `None` becomes -1 (forever).
pub(crate) fn timeout_ms_ceil(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    }
}
