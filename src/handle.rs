//! Typed watcher handles and priorities.

use crate::Error;

slotmap::new_key_type! {
    /// The untyped key of a watcher slot; never handed to the kernel.
    /// (Public only so the sealed [`WatcherId`] can name it; not exported.)
    pub struct WatcherKey;
}

mod sealed {
    pub trait Sealed {}
}

/// Implemented by every typed watcher handle, so that the generic calls
/// ([`Ctx::start`](crate::Ctx::start), [`stop`](crate::Ctx::stop),
/// [`remove`](crate::Ctx::remove), ...) take any of them.
///
/// Handles are small `Copy` values. A handle outlives its watcher harmlessly:
/// once the watcher is removed every call with it returns
/// [`Error::StaleHandle`], even if a new watcher took the same slot.
pub trait WatcherId: sealed::Sealed + Copy + std::fmt::Debug {
    #[doc(hidden)]
    fn key(self) -> WatcherKey;
}

macro_rules! handles {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) WatcherKey);

        impl sealed::Sealed for $name {}

        impl WatcherId for $name {
            #[inline]
            fn key(self) -> WatcherKey {
                self.0
            }
        }
    )*};
}

handles! {
    /// Handle of an io watcher (libev's `ev_io`).
    IoId;
    /// Handle of a timer watcher (libev's `ev_timer`).
    TimerId;
    /// Handle of a periodic watcher (libev's `ev_periodic`).
    PeriodicId;
    /// Handle of an idle watcher (libev's `ev_idle`).
    IdleId;
    /// Handle of a prepare watcher (libev's `ev_prepare`).
    PrepareId;
    /// Handle of a check watcher (libev's `ev_check`).
    CheckId;
    /// Handle of a signal watcher (libev's `ev_signal`).
    SignalId;
    /// Handle of a child watcher (libev's `ev_child`).
    ChildId;
    /// Handle of an async watcher (libev's `ev_async`).
    AsyncId;
    /// Handle of a fork watcher (libev's `ev_fork`).
    ForkId;
    /// Handle of a cleanup watcher (libev's `ev_cleanup`).
    CleanupId;
    /// Handle of a stat watcher (libev's `ev_stat`).
    StatId;
    /// Handle of an embed watcher (libev's `ev_embed`).
    EmbedId;
}

/// A watcher priority, libev's `EV_MINPRI..=EV_MAXPRI`: -2 (lowest) to 2
/// (highest), 0 by default. Pending watchers of a higher priority run before
/// those of a lower one, and an idle watcher runs only when nothing of its
/// priority or higher is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Priority(i8);

impl Priority {
    /// The lowest priority, -2.
    pub const MIN: Priority = Priority(-2);
    /// The default priority, 0.
    pub const DEFAULT: Priority = Priority(0);
    /// The highest priority, 2.
    pub const MAX: Priority = Priority(2);
    /// How many levels there are.
    pub(crate) const LEVELS: usize = 5;

    /// A priority from -2..=2; anything else is an error (libev clamps
    /// silently; a port that relied on that should clamp itself).
    pub fn new(p: i8) -> Result<Priority, Error> {
        if (-2..=2).contains(&p) {
            Ok(Priority(p))
        } else {
            Err(Error::InvalidArgument("priority must be within -2..=2"))
        }
    }

    /// The numeric value, -2..=2.
    pub fn get(self) -> i8 {
        self.0
    }

    /// Index into per-priority arrays, 0 = lowest.
    #[inline]
    pub(crate) fn index(self) -> usize {
        (self.0 + 2) as usize
    }
}
