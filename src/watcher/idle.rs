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

use crate::handle::{CheckId, IdleId, PrepareId, WatcherKey};
use crate::watcher::{Kind, NO_INDEX};
use crate::{Ctx, Error, Events};

impl<T> Ctx<T> {
    /// Creates a stopped idle watcher (libev's `ev_idle`). While active, it
    /// runs once per iteration in which nothing of its priority or higher is
    /// pending, and the loop does not block; use it for background work in
    /// small slices. The callback gets [`Events::IDLE`].
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    ///
    /// // Sum 1..=1000 in slices of 100, between other events.
    /// let mut lp: Loop<(u64, u64)> = Loop::new()?;
    /// let id = lp.idle(|ctx, (next, sum), id, _ev| {
    ///     for _ in 0..100 {
    ///         *next += 1;
    ///         *sum += *next;
    ///     }
    ///     if *next == 1000 {
    ///         ctx.stop(id).unwrap();
    ///     }
    /// })?;
    /// lp.start(id)?;
    /// let mut state = (0, 0);
    /// lp.run(&mut state, RunMode::Default)?;
    /// assert_eq!(state.1, 500_500);
    /// # Ok::<(), evloop::Error>(())
    /// ```
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

    /// Creates a stopped prepare watcher (libev's `ev_prepare`): it runs in
    /// every iteration just before the loop polls, the place to flush output
    /// or to hand another library's interests to the loop. The callback gets
    /// [`Events::PREPARE`].
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    ///
    /// let mut lp: Loop<Vec<u64>> = Loop::new()?;
    /// let p = lp.prepare(|ctx, seen, _id, _ev| seen.push(ctx.iteration()))?;
    /// lp.start(p)?;
    /// let mut seen = Vec::new();
    /// lp.run(&mut seen, RunMode::NoWait)?;
    /// lp.run(&mut seen, RunMode::NoWait)?;
    /// assert_eq!(seen, [0, 1]); // before the first and the second poll
    /// # Ok::<(), evloop::Error>(())
    /// ```
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

    /// Creates a stopped check watcher (libev's `ev_check`): it runs in every
    /// iteration just after the poll, before the other callbacks of its
    /// priority or lower, the place to hand events over to another library.
    /// The callback gets [`Events::CHECK`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, RunMode};
    ///
    /// let mut lp: Loop<Vec<&'static str>> = Loop::new()?;
    /// let t = lp.timer(Duration::ZERO, Duration::ZERO, |_c, log, _id, _ev| log.push("timer"))?;
    /// let c = lp.check(|ctx, log, id, _ev| {
    ///     log.push("check");
    ///     ctx.stop(id).unwrap();
    /// })?;
    /// lp.start(t)?;
    /// lp.start(c)?;
    /// let mut log = Vec::new();
    /// lp.run(&mut log, RunMode::Default)?;
    /// assert_eq!(log, ["check", "timer"]);
    /// # Ok::<(), evloop::Error>(())
    /// ```
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
            Kind::Fork(_) => (&mut self.forks, false),
            Kind::Cleanup(_) => (&mut self.cleanups, false),
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
            Kind::Idle(i)
            | Kind::Prepare(i)
            | Kind::Check(i)
            | Kind::Fork(i)
            | Kind::Cleanup(i) => i,
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
    if let Kind::Idle(i) | Kind::Prepare(i) | Kind::Check(i) | Kind::Fork(i) | Kind::Cleanup(i) =
        kind
    {
        *i = idx;
    }
}
