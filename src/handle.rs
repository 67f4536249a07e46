//! Watcher handles, the loop identity they carry, and priorities.
//!
//! A handle is a slotmap key (slot index and version) plus the [`LoopId`]
//! of the loop that made it; its Rust type says its kind. The loop checks
//! all three before it touches a slot, so a handle reaches exactly the
//! watcher it was made for, or yields an error value: never a watcher of
//! another loop (slotmap keys are deterministic: the first watcher of every
//! loop has the same key), never one of another kind, never one the loop
//! keeps for itself.

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::watcher::KindTag;
use crate::Error;

slotmap::new_key_type! {
    /// The untyped key of a watcher slot; never handed to the kernel.
    /// (Public only so the sealed [`WatcherId`] can name it; not exported.)
    pub struct WatcherKey;
}

/// The identity of one loop, unique in the process for its whole life.
/// Libraries whose own handles name things kept in a loop (evloop-buffer's
/// streams, say) store it in them, to refuse a handle of another loop as
/// the core does ([`Ctx::loop_id`](crate::Ctx::loop_id)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoopId(NonZeroU32);

impl LoopId {
    /// A new identity; panics after 4 billion loops, long before which the
    /// process has run out of fds.
    pub(crate) fn fresh() -> LoopId {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        LoopId(NonZeroU32::new(n).expect("more than 2^32 - 1 loops were created"))
    }
}

impl fmt::Display for LoopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loop {}", self.0)
    }
}

/// What every handle holds: the slot's key and the loop's identity.
/// (Public only so the sealed [`WatcherId`] can name it; not exported.)
///
/// Code outside the crate can read a handle's `RawId` but cannot make a
/// handle from one ([`WatcherId::from_raw`] needs a [`Mint`]), so a handle
/// cannot be retyped to another kind or another io source type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawId {
    pub(crate) key: WatcherKey,
    pub(crate) lp: LoopId,
}

impl fmt::Debug for RawId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = slotmap::Key::data(&self.key).as_ffi();
        write!(f, "{}v{}@{}", k as u32, k >> 32, self.lp.0)
    }
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Proof that a handle is being made inside the crate. (Public only so
/// the sealed [`WatcherId`] can name it; it cannot be built outside.)
#[derive(Debug, Clone, Copy)]
pub struct Mint(());

impl Mint {
    pub(crate) const NEW: Mint = Mint(());
}

/// Implemented by every typed watcher handle, so that the calls every kind
/// shares ([`Ctx::start`](crate::Ctx::start), [`Ctx::watcher`](crate::Ctx::watcher),
/// ...) take any of them.
///
/// Handles are small `Copy` values. A handle outlives its watcher
/// harmlessly: once the watcher is removed every call with it returns
/// [`Error::StaleHandle`], even if a new watcher took the same slot, and a
/// handle used with another loop than its own returns
/// [`Error::ForeignHandle`].
pub trait WatcherId: sealed::Sealed + Copy + Eq + Hash + fmt::Debug + 'static {
    #[doc(hidden)]
    const KIND: KindTag;
    #[doc(hidden)]
    fn raw(self) -> RawId;
    #[doc(hidden)]
    fn from_raw(raw: RawId, mint: Mint) -> Self;
}

/// Defines a handle type of one kind.
macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $tag:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) $crate::handle::RawId);

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl $crate::handle::sealed::Sealed for $name {}

        impl $crate::handle::WatcherId for $name {
            const KIND: $crate::watcher::KindTag = $crate::watcher::KindTag::$tag;
            #[inline]
            fn raw(self) -> $crate::handle::RawId {
                self.0
            }
            #[inline]
            fn from_raw(raw: $crate::handle::RawId, _: $crate::handle::Mint) -> Self {
                $name(raw)
            }
        }
    };
}
pub(crate) use handle;

/// Defines a handle type of one kind that is generic over what the watcher
/// holds (an io watcher's source, an embedded loop's state), so that access
/// to it needs no downcast that could fail.
macro_rules! typed_handle {
    ($(#[$doc:meta])* $name:ident<$p:ident $(= $default:ty)?>, $tag:ident) => {
        $(#[$doc])*
        pub struct $name<$p $(= $default)?>(
            pub(crate) $crate::handle::RawId,
            ::std::marker::PhantomData<fn() -> $p>,
        );

        impl<$p> Clone for $name<$p> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<$p> Copy for $name<$p> {}
        impl<$p> PartialEq for $name<$p> {
            fn eq(&self, other: &Self) -> bool {
                self.0 == other.0
            }
        }
        impl<$p> Eq for $name<$p> {}
        impl<$p> ::std::hash::Hash for $name<$p> {
            fn hash<H: ::std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state)
            }
        }
        impl<$p> PartialOrd for $name<$p> {
            fn partial_cmp(&self, other: &Self) -> Option<::std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl<$p> Ord for $name<$p> {
            fn cmp(&self, other: &Self) -> ::std::cmp::Ordering {
                self.0.cmp(&other.0)
            }
        }
        impl<$p> ::std::fmt::Debug for $name<$p> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }
        impl<$p> $crate::handle::sealed::Sealed for $name<$p> {}
        impl<$p: 'static> $crate::handle::WatcherId for $name<$p> {
            const KIND: $crate::watcher::KindTag = $crate::watcher::KindTag::$tag;
            #[inline]
            fn raw(self) -> $crate::handle::RawId {
                self.0
            }
            #[inline]
            fn from_raw(raw: $crate::handle::RawId, _: $crate::handle::Mint) -> Self {
                $name(raw, ::std::marker::PhantomData)
            }
        }
    };
}
pub(crate) use typed_handle;

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
