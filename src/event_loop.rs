//! The loop ([`Loop`]) and one iteration, in libev's order.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::clock::Clock;
use crate::inner::{Inner, Options};
use crate::watcher::{fork, io, lists, periodic, timer};
use crate::{Ctx, Error, LoopBuilder};

/// How long `run` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunMode {
    /// Iterate until no active watcher keeps the loop alive, or until
    /// [`Ctx::break_loop`] (libev's `ev_run(loop, 0)`).
    #[default]
    Default,
    /// One iteration that does not block, even if nothing is ready
    /// (`EVRUN_NOWAIT`).
    NoWait,
    /// One iteration that blocks until something happens (`EVRUN_ONCE`).
    Once,
}

/// Which `run` calls [`Ctx::break_loop`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// The innermost `run` returns after the current iteration (`EVBREAK_ONE`).
    One,
    /// Every nested `run` returns (`EVBREAK_ALL`).
    All,
    /// Withdraw an earlier break that has not taken effect (`EVBREAK_CANCEL`).
    Cancel,
}

/// How long a wait may last while periodics exist, so that a wall-clock jump
/// is noticed within a minute even without a kernel notification (libev's
/// `MAX_BLOCKTIME`; the odd value avoids phase-locking with round timers).
const MAX_BLOCK_WITH_PERIODICS: Duration = Duration::from_millis(59_743);

impl<T> Inner<T> {
    /// See [`Ctx::run`].
    pub(crate) fn run(&mut self, data: &mut T, mode: RunMode) -> Result<bool, Error> {
        self.depth += 1;
        self.breaking = None;
        let r = panic::catch_unwind(AssertUnwindSafe(|| self.run_inner(data, mode)));
        self.depth -= 1;
        if self.breaking == Some(Break::One) {
            self.breaking = None;
        }
        match r {
            Ok(r) => r.map(|()| self.refs > 0),
            Err(p) => {
                self.breaking = None;
                panic::resume_unwind(p)
            }
        }
    }

    fn run_inner(&mut self, data: &mut T, mode: RunMode) -> Result<(), Error> {
        // Events queued before run (fed, or left by a panic) go first.
        self.invoke_pending(data);
        loop {
            if self.breaking.is_some() {
                break;
            }
            if fork::reify(self)? {
                self.invoke_pending(data);
            }
            if !self.kinds.prepare.is_empty() {
                lists::queue_prepares(self);
                self.invoke_pending(data);
                if self.breaking.is_some() {
                    break;
                }
            }
            io::reify(self)?;

            let block = mode != RunMode::NoWait
                && self.kinds.idle.count == 0
                && self.refs > 0
                && self.pending.count() == 0;
            let timeout = if block {
                self.time_update();
                self.block_time()
            } else {
                Some(Duration::ZERO)
            };
            self.iteration += 1;
            let polled = io::poll(self, timeout);
            self.time_update();
            self.time.last_poll_ns = self.time.now_ns;
            polled?;

            if self.time.suspended_at.is_none() {
                timer::reify(self);
            }
            periodic::reify(self);
            lists::queue_idles(self);
            if !self.kinds.check.is_empty() {
                lists::queue_checks(self);
            }
            self.invoke_pending(data);

            if self.breaking.is_some() || mode != RunMode::Default || self.refs <= 0 {
                break;
            }
        }
        Ok(())
    }

    /// How long the next poll may wait: until the next timer or periodic,
    /// `None` for forever; sleeps first for the io collect interval.
    fn block_time(&mut self) -> Option<Duration> {
        let mut wait = self.block_time_nosleep();
        if !self.time.io_collect.is_zero() {
            let since = self.time.now_ns - self.time.last_poll_ns;
            let since = Duration::from_nanos(since.max(0) as u64);
            let mut sleep = self.time.io_collect.saturating_sub(since);
            if let Some(w) = wait {
                sleep = sleep.min(w);
            }
            if !sleep.is_zero() {
                std::thread::sleep(sleep);
                self.time_update();
                wait = wait.map(|w| w.saturating_sub(sleep));
            }
        }
        wait
    }

    /// [`block_time`](Self::block_time) without the io collect sleep.
    pub(crate) fn block_time_nosleep(&mut self) -> Option<Duration> {
        let mut wait: Option<i64> = None;
        if self.time.suspended_at.is_none() {
            if let Some(at) = timer::next_at(self) {
                wait = Some((at - self.time.now_ns).max(0));
            }
        }
        if let Some(at) = periodic::next_at(self) {
            let w = (at - self.time.wall_ns).max(0);
            let cap = MAX_BLOCK_WITH_PERIODICS.as_nanos() as i64;
            wait = Some(wait.map_or(w, |x| x.min(w)).min(cap));
        }
        let mut wait = wait.map(|ns| Duration::from_nanos(ns as u64));
        if let Some(w) = wait.as_mut() {
            if *w < self.time.timeout_collect {
                *w = self.time.timeout_collect;
            }
        }
        wait
    }

    /// Runs every pending callback, highest priority first: take the
    /// closure out of its place, call it, put it back if the watcher still
    /// exists and no new closure was set meanwhile.
    pub(crate) fn invoke_pending(&mut self, data: &mut T) {
        while let Some((key, events)) = self.pending.pop() {
            let Some(slot) = self.slots.get_mut(key) else {
                continue;
            };
            slot.pending = 0;
            if slot.running {
                // Its callback is running further up the stack: the event
                // waits until it returns.
                slot.missed |= events;
                continue;
            }
            let Some(mut cb) = self.callbacks.get_mut(key).and_then(Option::take) else {
                continue;
            };
            slot.running = true;
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                cb(&mut Ctx::new(self), data, key, events)
            }));
            if let (Some(slot), Some(place)) =
                (self.slots.get_mut(key), self.callbacks.get_mut(key))
            {
                slot.running = false;
                if place.is_none() {
                    *place = Some(cb);
                }
                let missed = std::mem::take(&mut slot.missed);
                if !missed.is_empty() {
                    self.queue_key(key, missed);
                }
            }
            if let Err(p) = r {
                panic::resume_unwind(p);
            }
        }
    }
}

/// The event loop. Owns every watcher; [`run`](Self::run) drives them.
///
/// `T` is the application state that `run` lends to every callback. The
/// loop's calls are on [`Ctx`], which callbacks receive and which
/// [`ctx`](Self::ctx) gives outside them.
///
/// ```
/// use std::time::Duration;
/// use evloop::{Loop, RunMode};
///
/// let mut lp: Loop<u32> = Loop::new()?;
/// let mut ctx = lp.ctx();
/// let t = ctx.new_timer(Duration::from_millis(1), Duration::ZERO, |_ctx, fired, _id, _ev| {
///     *fired += 1;
/// })?;
/// ctx.start(t)?;
/// let mut fired = 0;
/// lp.run(&mut fired, RunMode::Default)?;
/// assert_eq!(fired, 1);
/// # Ok::<(), evloop::Error>(())
/// ```
pub struct Loop<T> {
    inner: Inner<T>,
}

impl<T> Loop<T> {
    /// A loop on the best backend available (or the one `EVLOOP_BACKEND`
    /// names).
    ///
    /// # Errors
    ///
    /// See [`LoopBuilder::build`].
    pub fn new() -> Result<Self, Error> {
        LoopBuilder::new().build()
    }

    pub(crate) fn from_parts(
        poller: Box<dyn crate::backend::Poller>,
        clock: Option<Box<dyn Clock>>,
        opts: Options,
    ) -> Self {
        Loop {
            inner: Inner::new(poller, clock, opts),
        }
    }

    /// The loop's API outside callbacks: create, start, stop and reach
    /// watchers, read the time, and so on. A `Ctx` borrows the loop; end
    /// its use before calling [`run`](Self::run).
    #[inline]
    pub fn ctx(&mut self) -> Ctx<'_, T> {
        Ctx::new(&mut self.inner)
    }

    /// Runs the loop (libev's `ev_run`); the same as [`Ctx::run`].
    ///
    /// # Errors
    ///
    /// See [`Ctx::run`].
    pub fn run(&mut self, data: &mut T, mode: RunMode) -> Result<bool, Error> {
        self.inner.run(data, mode)
    }

    pub(crate) fn inner_ref(&self) -> &Inner<T> {
        &self.inner
    }
}

impl<T> Drop for Loop<T> {
    /// Runs the active cleanup watchers, then drops every watcher (closing
    /// the fds they own), the extension values and the backend.
    fn drop(&mut self) {
        crate::watcher::cleanup::run_all(&mut self.inner);
        // Extensions may hold handles and fds of the loop's watchers; drop
        // them while everything else still exists.
        drop(self.inner.ext.take_all());
    }
}

impl Loop<()> {
    /// Options for a new loop; [`LoopBuilder::build`] picks the loop's `T`.
    /// (Defined on `Loop<()>` only so that `Loop::builder()` needs no type
    /// annotation.)
    pub fn builder() -> LoopBuilder {
        LoopBuilder::new()
    }
}

impl<T> std::fmt::Debug for Loop<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<T> std::fmt::Debug for Inner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loop")
            .field("id", &self.id)
            .field("backend", &self.poller.kind())
            .field("watchers", &self.slots.len())
            .field("refs", &self.refs)
            .field("pending", &self.pending.count())
            .field("depth", &self.depth)
            .field("iteration", &self.iteration)
            .finish_non_exhaustive()
    }
}
