//! Watcher storage: one slot per watcher, whatever its kind, and one file per
//! kind with that kind's calls on [`Ctx`](crate::Ctx).

use std::time::SystemTime;

use crate::handle::WatcherKey;
use crate::{Ctx, Events, Priority};

pub(crate) mod asyncw;
pub(crate) mod child;
pub(crate) mod cleanup;
pub(crate) mod common;
pub(crate) mod embed;
pub(crate) mod fork;
pub(crate) mod idle;
pub(crate) mod inotify;
pub(crate) mod internal;
pub(crate) mod io;
pub(crate) mod once;
pub(crate) mod periodic;
pub(crate) mod signal;
pub(crate) mod stat;
pub(crate) mod timer;

/// The boxed callback as the loop stores it: every kind's closure is wrapped
/// into this one shape, with the typed handle rebuilt from the key.
pub(crate) type Callback<T> = Box<dyn FnMut(&mut Ctx<T>, &mut T, WatcherKey, Events)>;

/// Marks "not in the heap" / "not in a list".
pub(crate) const NO_INDEX: u32 = u32::MAX;

/// One watcher's state, for its whole life. Its closure lives beside it in
/// `Ctx::callbacks`: the slot is what start, stop, the fd table and the
/// timer heap touch all day, and without the 16-byte closure pointer it fits
/// one cache line together with slotmap's version.
pub(crate) struct Slot {
    pub active: bool,
    /// Whether being active keeps `run` going (see `Ctx::set_keepalive`).
    pub keepalive: bool,
    pub priority: Priority,
    /// 1 + index in the pending queue of `priority`, or 0 if not pending.
    pub pending: u32,
    /// Events that arrived while the callback was running further up the
    /// stack (a nested `run`); fed again when it returns.
    pub missed: Events,
    pub kind: Kind,
}

/// The per-kind part of a slot.
pub(crate) enum Kind {
    Io(io::IoData),
    Timer(timer::TimerData),
    Periodic(periodic::PeriodicData),
    /// Idle, prepare and check watchers only need their index in their list.
    Idle(u32),
    Prepare(u32),
    Check(u32),
    Signal(signal::SignalData),
    Child(Box<child::ChildData>),
    Async(asyncw::AsyncData),
    /// Fork and cleanup watchers: their index in their list.
    Fork(u32),
    Cleanup(u32),
    Stat(Box<stat::StatData>),
    Embed(Box<embed::EmbedData>),
}

impl Slot {
    pub(crate) fn new(kind: Kind) -> Self {
        Slot {
            active: false,
            keepalive: true,
            priority: Priority::DEFAULT,
            pending: 0,
            missed: Events::empty(),
            kind,
        }
    }
}

/// The wall-clock schedule of a periodic watcher.
pub enum Schedule {
    /// Fire once, when the wall clock reaches this time (libev: interval 0).
    /// If the clock is set back before it fires, it waits for the new
    /// distance; if set forward past it, it fires at once.
    At(SystemTime),
    /// Fire at every wall-clock time `t` with `(t - UNIX_EPOCH - offset)` a
    /// multiple of `interval`, e.g. `interval` one hour and `offset` zero fires
    /// on every full hour, whatever the clock does between (libev's
    /// `offset + N * interval`). `offset` is taken modulo `interval`.
    Every {
        /// The period; must not be zero.
        interval: std::time::Duration,
        /// Where in the period to fire, from the Unix epoch.
        offset: std::time::Duration,
    },
    /// Ask the closure for the next time each time the periodic is started,
    /// fires, or the wall clock jumps (libev's `reschedule_cb`). It gets the
    /// loop's wall-clock time and returns the next time to fire, later than
    /// that; `None` stops the periodic. A time not later than now makes it
    /// fire in the next iteration.
    Custom(Box<dyn FnMut(SystemTime) -> Option<SystemTime>>),
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::At(t) => f.debug_tuple("At").field(t).finish(),
            Schedule::Every { interval, offset } => f
                .debug_struct("Every")
                .field("interval", interval)
                .field("offset", offset)
                .finish(),
            Schedule::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_slot_and_its_version_fit_one_cache_line() {
        // slotmap stores a u32 version after each value.
        assert!(std::mem::size_of::<super::Slot>() + 4 <= 64);
    }
}
