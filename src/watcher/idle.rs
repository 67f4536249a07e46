//! Idle, prepare and check watchers: callbacks tied to the loop's own
//! rhythm rather than to outside events.
//!
//! * **Idle** (libev's `ev_idle`): runs once per iteration while nothing of
//!   its priority or higher is pending, and keeps the loop from blocking
//!   while active. Use it for background work in small slices.
//! * **Prepare** (`ev_prepare`): runs just before the loop polls, after fd
//!   changes have been queued; the place to flush buffers or to register
//!   another library's fds.
//! * **Check** (`ev_check`): runs just after the poll, before every other
//!   callback of the same or lower priority in that iteration; the place
//!   to hand events over to another library.
//!
//! ```
//! use evloop::{Loop, RunMode};
//!
//! #[derive(Default)]
//! struct Trace(Vec<&'static str>);
//! let mut lp: Loop<Trace> = Loop::new()?;
//! let p = lp.prepare(|_c, t, _id, _ev| t.0.push("prepare"))?;
//! let c = lp.check(|_c, t, _id, _ev| t.0.push("check"))?;
//! let i = lp.idle(|c, t, id, _ev| {
//!     t.0.push("idle");
//!     c.stop(id).unwrap();
//! })?;
//! for w in [lp.start(p), lp.start(c), lp.start(i)] {
//!     w?;
//! }
//! lp.set_keepalive(p, false)?;
//! lp.set_keepalive(c, false)?;
//! let mut t = Trace::default();
//! lp.run(&mut t, RunMode::Default)?;
//! assert_eq!(t.0, ["prepare", "check", "idle"]);
//! # Ok::<(), evloop::Error>(())
//! ```

use crate::handle::{CheckId, IdleId, PrepareId, WatcherKey};
use crate::watcher::{Kind, NO_INDEX};
use crate::{Ctx, Error, Events};

impl<T> Ctx<T> {
    /// Creates a stopped idle watcher; see the module docs. The callback
    /// gets [`Events::IDLE`].
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn idle<F>(&mut self, mut cb: F) -> Result<IdleId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, IdleId, Events) + 'static,
    {
        Ok(IdleId(self.insert(
            Kind::Idle(NO_INDEX),
            Box::new(move |c, d, k, e| cb(c, d, IdleId(k), e)),
        )))
    }

    /// Creates a stopped prepare watcher; see the module docs. The callback
    /// gets [`Events::PREPARE`].
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn prepare<F>(&mut self, mut cb: F) -> Result<PrepareId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, PrepareId, Events) + 'static,
    {
        Ok(PrepareId(self.insert(
            Kind::Prepare(NO_INDEX),
            Box::new(move |c, d, k, e| cb(c, d, PrepareId(k), e)),
        )))
    }

    /// Creates a stopped check watcher; see the module docs. The callback
    /// gets [`Events::CHECK`].
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn check<F>(&mut self, mut cb: F) -> Result<CheckId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, CheckId, Events) + 'static,
    {
        Ok(CheckId(self.insert(
            Kind::Check(NO_INDEX),
            Box::new(move |c, d, k, e| cb(c, d, CheckId(k), e)),
        )))
    }

    /// The list a list-kept watcher belongs in.
    fn list_of(&mut self, key: WatcherKey) -> (&mut Vec<WatcherKey>, bool) {
        let slot = &self.slots[key];
        match slot.kind {
            Kind::Idle(_) => (&mut self.idles[slot.priority.index()], true),
            Kind::Prepare(_) => (&mut self.prepares, false),
            _ => (&mut self.checks, false),
        }
    }

    pub(crate) fn list_start(&mut self, key: WatcherKey) {
        let (list, idle) = self.list_of(key);
        list.push(key);
        let idx = (list.len() - 1) as u32;
        if idle {
            self.idle_count += 1;
        }
        set_index(&mut self.slots[key].kind, idx);
    }

    pub(crate) fn list_stop(&mut self, key: WatcherKey) {
        let idx = match self.slots[key].kind {
            Kind::Idle(i) | Kind::Prepare(i) | Kind::Check(i) => i,
            _ => return,
        };
        if idx == NO_INDEX {
            return;
        }
        let (list, idle) = self.list_of(key);
        list.swap_remove(idx as usize);
        let moved = list.get(idx as usize).copied();
        if idle {
            self.idle_count -= 1;
        }
        set_index(&mut self.slots[key].kind, NO_INDEX);
        if let Some(m) = moved {
            set_index(&mut self.slots[m].kind, idx);
        }
    }
}

fn set_index(kind: &mut Kind, idx: u32) {
    if let Kind::Idle(i) | Kind::Prepare(i) | Kind::Check(i) = kind {
        *i = idx;
    }
}
