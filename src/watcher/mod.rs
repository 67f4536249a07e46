//! Watcher storage and the contract every watcher kind implements.
//!
//! Every watcher, whatever its kind, is one [`Slot`] in the loop's slotmap:
//! the state the loop touches all day (active, keepalive, priority, pending
//! index) and a per-kind part ([`Kind`]). Its closure lives beside it in
//! `Inner::callbacks`.
//!
//! A kind lives in one file: its handle type, its slot data, its share of
//! the loop's state (a field of [`Kinds`]), its constructor on
//! [`Ctx`](crate::Ctx), its calls on [`Watcher`](crate::Watcher), and its
//! implementation of [`Contract`], which the generic calls (start, stop,
//! remove, fork) go through. The one line per kind in the [`kinds!`] table
//! below ties these together; nothing else in the loop names a kind,
//! except the iteration in `event_loop.rs`, which drives the kinds that
//! are part of its order (timers, periodics, idle, prepare, check, fork).

use std::time::SystemTime;

use crate::handle::WatcherKey;
use crate::inner::Inner;
use crate::{Ctx, Error, Events, Priority};

pub(crate) mod asyncw;
pub(crate) mod child;
pub(crate) mod cleanup;
pub(crate) mod embed;
pub(crate) mod fork;
pub(crate) mod inotify;
pub(crate) mod io;
pub(crate) mod lists;
pub(crate) mod once;
pub(crate) mod periodic;
pub(crate) mod signal;
pub(crate) mod stat;
pub(crate) mod timer;

/// What a watcher kind does when a watcher of it is started, stopped or
/// removed, and after `fork`. The loop calls these with the watcher's slot
/// in place; `start` finds it marked active already (and the loop unmarks
/// it if `start` fails, so a failing start must leave nothing behind);
/// `stop` finds it marked inactive and its pending event cleared.
pub(crate) trait Contract {
    /// Enters the watcher into the kind's structures.
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error>;
    /// Takes the watcher out of them.
    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey);
    /// Releases what a stopped watcher holds before its slot goes
    /// (internal watchers, kernel registrations).
    fn forget<T>(_inner: &mut Inner<T>, _key: WatcherKey) {}
    /// Renews the kind's kernel objects in a forked child
    /// ([`Ctx::loop_fork`](crate::Ctx::loop_fork)).
    fn after_fork<T>(_inner: &mut Inner<T>) -> Result<(), Error> {
        Ok(())
    }
}

/// The registration table: per kind, its slot data, its [`Contract`], and
/// its field and type in [`Kinds`].
macro_rules! kinds {
    ($( $variant:ident($data:ty) => $contract:ty, $field:ident: $state:ty; )*) => {
        /// The per-kind part of a slot.
        pub(crate) enum Kind {
            $( $variant($data), )*
        }

        /// Which kind a slot or handle is. (Public only because the sealed
        /// [`WatcherId`](crate::WatcherId) names it; not exported.)
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum KindTag {
            $( #[allow(missing_docs)] $variant, )*
        }

        impl Kind {
            #[inline]
            pub(crate) fn tag(&self) -> KindTag {
                match self {
                    $( Kind::$variant(_) => KindTag::$variant, )*
                }
            }
        }

        /// Each kind's share of the loop's state.
        pub(crate) struct Kinds<T> {
            $( pub $field: $state, )*
            _t: std::marker::PhantomData<fn(T)>,
        }

        impl<T> Default for Kinds<T> {
            fn default() -> Self {
                Kinds {
                    $( $field: Default::default(), )*
                    _t: std::marker::PhantomData,
                }
            }
        }

        #[inline(always)]
        pub(crate) fn start<T>(inner: &mut Inner<T>, key: WatcherKey, tag: KindTag) -> Result<(), Error> {
            match tag {
                $( KindTag::$variant => <$contract as Contract>::start(inner, key), )*
            }
        }

        #[inline(always)]
        pub(crate) fn stop<T>(inner: &mut Inner<T>, key: WatcherKey, tag: KindTag) {
            match tag {
                $( KindTag::$variant => <$contract as Contract>::stop(inner, key), )*
            }
        }

        pub(crate) fn forget<T>(inner: &mut Inner<T>, key: WatcherKey, tag: KindTag) {
            match tag {
                $( KindTag::$variant => <$contract as Contract>::forget(inner, key), )*
            }
        }

        pub(crate) fn after_fork<T>(inner: &mut Inner<T>) -> Result<(), Error> {
            $( <$contract as Contract>::after_fork(inner)?; )*
            Ok(())
        }
    };
}

kinds! {
    Io(io::IoData)                    => io::Io,             io: io::IoState;
    Timer(timer::TimerData)           => timer::Timer,       timer: timer::TimerState;
    Periodic(periodic::PeriodicData)  => periodic::Periodic, periodic: periodic::PeriodicState;
    Idle(u32)                         => lists::Idle,        idle: lists::IdleState;
    Prepare(u32)                      => lists::Prepare,     prepare: Vec<WatcherKey>;
    Check(u32)                        => lists::Check,       check: Vec<WatcherKey>;
    Signal(signal::SignalData)        => signal::Signal,     signal: signal::SignalState;
    Child(Box<child::ChildData>)      => child::Child,       child: child::ChildState;
    Async(asyncw::AsyncData)          => asyncw::Async,      asyncw: asyncw::AsyncState;
    Fork(u32)                         => fork::Fork,         fork: fork::ForkState;
    Cleanup(u32)                      => cleanup::Cleanup,   cleanup: cleanup::CleanupState<T>;
    Stat(Box<stat::StatData>)         => stat::Stat,         stat: stat::StatState;
    Embed(Box<embed::EmbedData>)      => embed::Embed,       embed: Vec<WatcherKey>;
}

/// The boxed callback as the loop stores it: every kind's closure is wrapped
/// into this one shape, with the typed handle rebuilt from the key.
pub(crate) type Callback<T> = Box<dyn FnMut(&mut Ctx<'_, T>, &mut T, WatcherKey, Events)>;

/// Marks "not in the heap" / "not in a list".
pub(crate) const NO_INDEX: u32 = u32::MAX;

/// One watcher's state, for its whole life. Its closure lives beside it in
/// `Inner::callbacks`: the slot is what start, stop, the fd table and the
/// timer heap touch all day, and without the 16-byte closure pointer it fits
/// one cache line together with slotmap's version.
pub(crate) struct Slot {
    pub active: bool,
    /// Whether being active keeps `run` going (see `Watcher::set_keepalive`).
    pub keepalive: bool,
    /// Kept by the loop or a once: no public handle may reach it.
    pub internal: bool,
    /// Its callback is running (further up the stack, for a nested run):
    /// it must not be called again until it returns, even if a new
    /// callback was set meanwhile.
    pub running: bool,
    pub priority: Priority,
    /// 1 + index in the pending queue of `priority`, or 0 if not pending.
    pub pending: u32,
    /// Events that arrived while the callback was running further up the
    /// stack (a nested `run`); fed again when it returns.
    pub missed: Events,
    pub kind: Kind,
}

impl Slot {
    pub(crate) fn new(kind: Kind) -> Self {
        Slot {
            active: false,
            keepalive: true,
            internal: false,
            running: false,
            priority: Priority::DEFAULT,
            pending: 0,
            missed: Events::empty(),
            kind,
        }
    }
}

/// Adds `key` to a list of active watchers; returns its index there, which
/// the watcher keeps for [`list_remove`].
#[inline]
pub(crate) fn list_push(list: &mut Vec<WatcherKey>, key: WatcherKey) -> u32 {
    list.push(key);
    (list.len() - 1) as u32
}

/// Removes the entry at `idx` in O(1); returns the key that moved into its
/// place (which must be told its new index), if any.
#[inline]
pub(crate) fn list_remove(list: &mut Vec<WatcherKey>, idx: u32) -> Option<WatcherKey> {
    list.swap_remove(idx as usize);
    list.get(idx as usize).copied()
}

/// The wall-clock schedule of a periodic watcher.
pub enum Schedule {
    /// Fire once, when the wall clock has passed this time (libev: interval
    /// 0). If the clock is set back before it fires, it waits for the new
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

/// Wraps a callback of the common shape `FnMut(&mut Ctx, &mut T, Id,
/// Events)` into the loop's uniform one, rebuilding the typed handle from
/// the key.
pub(crate) fn wrap<T, W, F>(mut cb: F) -> Callback<T>
where
    W: crate::WatcherId,
    F: FnMut(&mut Ctx<'_, T>, &mut T, W, Events) + 'static,
{
    Box::new(move |ctx, data, key, ev| {
        let id = ctx.inner.handle(key);
        cb(ctx, data, id, ev)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_slot_and_its_version_fit_one_cache_line() {
        // slotmap stores a u32 version after each value.
        assert!(std::mem::size_of::<super::Slot>() + 4 <= 64);
    }
}
