//! Server time as memcached keeps it: whole seconds since a start point, set
//! from outside (the server's loop in production, the test in tests), and the
//! conversion of a client's exptime into that time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Largest exptime taken as relative: 30 days. Larger values are unix times.
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

/// Seconds the clock already shows at start, so that server time 1, which
/// marks "already expired", is always in the past (memcached does the same
/// by backdating its start).
const START_OFFSET: u32 = 2;

/// Server time. Items keep expiry and access times in it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Unix time of server time 0.
    started: i64,
    /// Current server time in seconds.
    now: u32,
}

impl Clock {
    /// A clock whose current unix time is `unix_now`.
    pub fn starting_at(unix_now: i64) -> Self {
        Clock {
            started: unix_now - START_OFFSET as i64,
            now: START_OFFSET,
        }
    }

    /// A clock at the system's current time.
    pub fn system() -> Self {
        Self::starting_at(system_unix_time())
    }

    /// Moves to unix time `unix_now`; server time never goes backwards.
    pub fn set_unix(&mut self, unix_now: i64) {
        let rel = (unix_now - self.started).clamp(0, u32::MAX as i64) as u32;
        self.now = self.now.max(rel);
    }

    /// Moves `secs` seconds forward (tests).
    #[cfg(test)]
    pub fn advance(&mut self, secs: u32) {
        self.now += secs;
    }

    /// Current server time.
    pub fn now(&self) -> u32 {
        self.now
    }

    /// Current unix time (the `time` stat).
    pub fn unix_now(&self) -> i64 {
        self.started + self.now as i64
    }

    /// Unix time of server time `t` (dumps show expiry and access times so).
    pub fn unix_of(&self, t: u32) -> i64 {
        self.started + t as i64
    }

    /// Seconds since start (the `uptime` stat).
    pub fn uptime(&self) -> u32 {
        self.now - START_OFFSET
    }

    /// Server time at which an item with the client's `exptime` expires, as
    /// memcached's `realtime()`: 0 never; negative already expired; up to 30
    /// days relative to now; beyond that a unix time, already expired if it
    /// is not after the start.
    pub fn expiry(&self, exptime: i64) -> u32 {
        if exptime == 0 {
            0
        } else if exptime < 0 {
            1
        } else if exptime > REALTIME_MAXDELTA {
            if exptime <= self.started {
                1
            } else {
                (exptime - self.started).min(u32::MAX as i64) as u32
            }
        } else {
            (exptime + self.now as i64).min(u32::MAX as i64) as u32
        }
    }
}

/// The system's unix time in whole seconds.
pub fn system_unix_time() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;

    #[test]
    fn relative_absolute_negative() {
        let mut c = Clock::starting_at(T0);
        assert_eq!(c.unix_now(), T0);
        assert_eq!(c.uptime(), 0);
        assert_eq!(c.expiry(0), 0);
        assert_eq!(c.expiry(10), c.now() + 10);
        assert_eq!(
            c.expiry(REALTIME_MAXDELTA),
            c.now() + REALTIME_MAXDELTA as u32
        );
        // one more second than 30 days: a unix time long past
        assert!(c.expiry(REALTIME_MAXDELTA + 1) <= c.now());
        assert!(c.expiry(-1) <= c.now());
        assert!(c.expiry(-1) > 0);
        // absolute in the future
        assert_eq!(c.expiry(T0 + 100), c.now() + 100);
        // absolute in the past, after the start
        c.advance(50);
        assert!(c.expiry(T0 + 10) <= c.now());
        assert_eq!(c.unix_now(), T0 + 50);
        assert_eq!(c.uptime(), 50);
    }

    #[test]
    fn never_goes_back() {
        let mut c = Clock::starting_at(T0);
        c.set_unix(T0 + 5);
        assert_eq!(c.uptime(), 5);
        c.set_unix(T0 + 1);
        assert_eq!(c.uptime(), 5);
    }
}
