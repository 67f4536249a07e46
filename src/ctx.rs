//! [`Ctx`]: the loop's API, as callbacks (and `Loop::ctx`) lend it.
//!
//! This file has the loop's own calls and the calls every watcher kind
//! shares; each kind's constructor and its view accessor live in the kind's
//! file (`watcher/*.rs`), and a view's calls on [`Watcher`](crate::Watcher).

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant, SystemTime};

use crate::backend::Backend;
use crate::clock::ns_to_wall;
use crate::handle::{LoopId, WatcherId};
use crate::inner::Inner;
use crate::{Break, Error, RunMode, Watcher};

/// The loop's API, borrowed: what a callback gets as `&mut Ctx`, and what
/// [`Loop::ctx`](crate::Loop::ctx) gives outside callbacks.
///
/// Through it a callback creates watchers (`new_io`, `new_timer`, ...),
/// reaches any watcher through a view (`ctx.timer(id)?.again()`,
/// `ctx.io(id)?.set_interest(..)`), reads the loop's time and breaks the
/// loop. A `Ctx` is only a borrow of the loop: it cannot be used to move,
/// replace or drop the loop or anything the loop has registered with the
/// kernel.
pub struct Ctx<'a, T> {
    pub(crate) inner: &'a mut Inner<T>,
}

/// How many watchers a loop has: those the application created (the loop's
/// own internal ones are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatcherCount {
    /// Active watchers.
    pub active: usize,
    /// All watchers, active or not.
    pub total: usize,
}

impl<'a, T> Ctx<'a, T> {
    #[inline]
    pub(crate) fn new(inner: &'a mut Inner<T>) -> Self {
        Ctx { inner }
    }

    /// A `Ctx` for a shorter borrow of the same loop: for a library's view
    /// type that holds a `Ctx` by value (evloop-buffer's `BufferedStream`)
    /// and is made from a `&mut Ctx`.
    #[inline]
    pub fn reborrow(&mut self) -> Ctx<'_, T> {
        Ctx { inner: self.inner }
    }

    /// This loop's identity, which every handle it makes carries.
    #[inline]
    pub fn loop_id(&self) -> LoopId {
        self.inner.id
    }

    // ------------------------------------------------------------ time

    /// The loop's cached monotonic time (libev's `ev_now`): read once per
    /// iteration, so every callback of an iteration sees the same value.
    /// Timers count from it: a timer started with `after` fires once the
    /// loop time has passed `now() + after`. After a long computation inside
    /// a callback, call [`now_update`](Self::now_update) before starting
    /// timers that should count from the real time.
    #[inline]
    pub fn now(&self) -> Instant {
        self.inner.time.now()
    }

    /// The loop's cached wall-clock time, updated together with
    /// [`now`](Self::now) (from the system clock: read every half second
    /// and interpolated from monotonic time in between, as libev's
    /// `ev_now`).
    pub fn now_wall(&self) -> SystemTime {
        ns_to_wall(self.inner.time.wall_ns)
    }

    /// Reads the clocks again (libev's `ev_now_update`; unlike libev's, it
    /// reads the wall clock too, rather than interpolating it).
    pub fn now_update(&mut self) {
        self.inner.time_update_full();
    }

    /// Freezes timers (libev's `ev_suspend`), e.g. before the process is
    /// stopped: time that passes until [`resume`](Self::resume) does not
    /// count towards any timer. Periodics follow the wall clock regardless.
    /// Calling it twice is harmless.
    pub fn suspend(&mut self) {
        self.inner.suspend();
    }

    /// Undoes [`suspend`](Self::suspend): every active timer is pushed back
    /// by the time spent suspended, and periodics are rescheduled.
    pub fn resume(&mut self) {
        self.inner.resume();
    }

    /// Polls for io at most about once per `interval`, sleeping the rest, so
    /// that more io gathers per iteration (libev's
    /// `ev_set_io_collect_interval`). Timers are not delayed by it. Zero (the
    /// default) turns it off.
    pub fn set_io_collect_interval(&mut self, interval: Duration) {
        self.inner.time.io_collect = interval;
    }

    /// Never blocks for less than `interval` because of a timer, so that
    /// timers due close together fire in one wake-up (libev's
    /// `ev_set_timeout_collect_interval`); timers may then fire up to
    /// `interval` late. Zero (the default) turns it off.
    pub fn set_timeout_collect_interval(&mut self, interval: Duration) {
        self.inner.time.timeout_collect = interval;
    }

    // ------------------------------------------------------------ loop info

    /// The backend this loop polls with (libev's `ev_backend`).
    pub fn backend(&self) -> Backend {
        self.inner.poller.kind()
    }

    /// The kernel object the backend waits on (the epoll fd), for driving
    /// this loop from another one; `None` for poll and select, which keep no
    /// kernel state. It can change: after [`loop_fork`](Self::loop_fork),
    /// and when epoll rebuilds its set; a foreign loop should take it anew
    /// before each wait.
    pub fn backend_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.poller.backend_fd()
    }

    /// How many times the loop has polled (libev's `ev_iteration`). It is
    /// incremented just before each poll, between the prepare and the check
    /// phase (as in libev): prepare watchers see the number of polls so far,
    /// check watchers of the same iteration that number plus one.
    pub fn iteration(&self) -> u64 {
        self.inner.iteration
    }

    /// How many `run` calls are on the stack (libev's `ev_depth`): 0 outside
    /// `run`, 1 inside a callback of a plain `run`, more in nested runs.
    pub fn depth(&self) -> u32 {
        self.inner.depth
    }

    /// Watchers with an event waiting for their callback (`ev_pending_count`).
    pub fn pending_count(&self) -> usize {
        self.inner.pending.count()
    }

    /// How many watchers the application created, and how many of them are
    /// active (for introspection and leak checks; the loop's own internal
    /// watchers are not counted).
    pub fn watcher_count(&self) -> WatcherCount {
        let mut n = WatcherCount::default();
        for (_, s) in self.inner.slots.iter().filter(|(_, s)| !s.internal) {
            n.total += 1;
            n.active += s.active as usize;
        }
        n
    }

    /// Ends `run` calls: see [`Break`] (libev's `ev_break`). The current
    /// iteration finishes first (pending callbacks still run).
    pub fn break_loop(&mut self, how: Break) {
        let b = &mut self.inner.breaking;
        *b = match how {
            Break::Cancel => None,
            Break::One if *b == Some(Break::All) => Some(Break::All),
            other => Some(other),
        };
    }

    /// Adds one reference, as an active watcher does (libev's `ev_ref`).
    pub fn ref_loop(&mut self) {
        self.inner.refs += 1;
    }

    /// Drops one reference (libev's `ev_unref`). The usual use is to let a
    /// watcher that is always active not keep `run` alive; prefer
    /// [`Watcher::set_keepalive`], which cannot get out of step.
    pub fn unref_loop(&mut self) {
        self.inner.refs -= 1;
    }

    /// The number of references that keep `run` (in [`RunMode::Default`])
    /// going: active watchers with keepalive, plus `ref_loop` - `unref_loop`.
    pub fn refs(&self) -> isize {
        self.inner.refs
    }

    // ------------------------------------------------------------ running

    /// Runs the loop; see [`RunMode`] (libev's `ev_run`). May be called from
    /// inside a callback (a nested run; [`depth`](Self::depth) tells). A
    /// watcher whose callback is running further up the stack is not invoked
    /// by the nested run; its event is kept and delivered when that callback
    /// has returned.
    ///
    /// Returns whether referenced active watchers remain (so `false` after a
    /// `Default` run that ended because nothing was left to do).
    ///
    /// # Errors
    ///
    /// A failing backend call (not an interrupted wait, which is retried).
    ///
    /// # Panics
    ///
    /// A panic in a callback propagates out of `run`. The loop stays
    /// consistent: the callback is put back into its watcher, the events not
    /// yet delivered stay pending, and `run` can be called again.
    pub fn run(&mut self, data: &mut T, mode: RunMode) -> Result<bool, Error> {
        self.inner.run(data, mode)
    }

    /// Runs every pending callback now, highest priority first (libev's
    /// `ev_invoke_pending`). `run` does this itself; call it only to flush
    /// events fed from outside `run`.
    pub fn invoke_pending(&mut self, data: &mut T) {
        self.inner.invoke_pending(data);
    }

    /// How long a foreign loop that drives this one may block before it
    /// must call [`run`](Self::run) with [`RunMode::NoWait`] again: zero if
    /// events are pending or an idle watcher is active, the time to the next
    /// timer or periodic, or `None` if only fds can wake the loop. Together with
    /// [`backend_fd`](Self::backend_fd) and
    /// [`flush_fd_changes`](Self::flush_fd_changes), this is what embedding
    /// evloop in another loop takes:
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use std::time::Duration;
    /// use evloop::{Backend, Loop, RunMode};
    ///
    /// let mut lp: Loop<u32> = Loop::builder().backend(Backend::Epoll).build()?;
    /// let mut ctx = lp.ctx();
    /// let t = ctx.new_timer(Duration::from_millis(2), Duration::ZERO, |_, n, _, _| *n += 1)?;
    /// ctx.start(t)?;
    /// let mut n = 0;
    /// while lp.ctx().refs() > 0 {
    ///     let mut ctx = lp.ctx();
    ///     ctx.flush_fd_changes()?; // the backend fd must reflect every watcher
    ///     let timeout = ctx.next_timeout().map_or(-1, |d| d.as_millis().min(60_000) as i32 + 1);
    ///     let fd = ctx.backend_fd().unwrap().as_raw_fd();
    ///     let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    ///     // The foreign loop's poll (here plain poll(2)) waits for the backend fd.
    ///     // SAFETY: one valid pollfd.
    ///     unsafe { libc::poll(&mut pfd, 1, timeout) };
    ///     lp.run(&mut n, RunMode::NoWait)?;
    /// }
    /// assert_eq!(n, 1);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    pub fn next_timeout(&mut self) -> Option<Duration> {
        let inner = &mut *self.inner;
        if inner.kinds.idle.count > 0 || inner.pending.count() > 0 || inner.kinds.fork.postfork {
            return Some(Duration::ZERO);
        }
        inner.time_update();
        inner.block_time_nosleep()
    }

    /// Applies the queued fd interest changes to the backend now (`run`
    /// does this before each poll). A foreign loop that polls
    /// [`backend_fd`](Self::backend_fd) must call it before it blocks, so
    /// that watchers started since the last `run` are in the kernel's set.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the backend fails; fds that turned out to be bad are
    /// not errors (their watchers get [`Events::ERROR`](crate::Events::ERROR)).
    pub fn flush_fd_changes(&mut self) -> Result<(), Error> {
        crate::watcher::io::reify(self.inner)
    }

    // ------------------------------------------------------------ watchers

    /// A view of any watcher, by its handle; the kind's accessor
    /// ([`timer`](Self::timer), [`io`](Self::io), ...) is the same thing
    /// with the handle's type spelled out.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed,
    /// [`Error::ForeignHandle`] if the handle is another loop's.
    #[inline(always)]
    pub fn watcher<W: WatcherId>(&mut self, id: W) -> Result<Watcher<'_, T, W>, Error> {
        let key = self.inner.resolve(id)?;
        Ok(Watcher::new(self.inner, key, id))
    }

    /// Starts a watcher: the same as `watcher(id)?.start()` (libev's
    /// `ev_TYPE_start`); see [`Watcher::start`].
    ///
    /// # Errors
    ///
    /// As [`watcher`](Self::watcher) and [`Watcher::start`].
    #[inline(always)]
    pub fn start<W: WatcherId>(&mut self, id: W) -> Result<(), Error> {
        self.watcher(id)?.start()
    }

    /// Stops a watcher: the same as `watcher(id)?.stop()`; see
    /// [`Watcher::stop`].
    ///
    /// # Errors
    ///
    /// As [`watcher`](Self::watcher).
    #[inline(always)]
    pub fn stop<W: WatcherId>(&mut self, id: W) -> Result<(), Error> {
        self.watcher(id)?.stop();
        Ok(())
    }

    /// Removes a watcher: the same as `watcher(id)?.remove()`; see
    /// [`Watcher::remove`].
    ///
    /// # Errors
    ///
    /// As [`watcher`](Self::watcher).
    pub fn remove<W: WatcherId>(&mut self, id: W) -> Result<(), Error> {
        self.watcher(id)?.remove();
        Ok(())
    }

    /// Whether the handle names a watcher of this loop that still exists.
    pub fn contains<W: WatcherId>(&self, id: W) -> bool {
        self.inner.resolve(id).is_ok()
    }

    /// Whether the watcher is active; `false` for a stale or foreign handle.
    pub fn is_active<W: WatcherId>(&self, id: W) -> bool {
        self.inner
            .resolve(id)
            .is_ok_and(|key| self.inner.slots[key].active)
    }

    // ------------------------------------------------------------ extensions

    /// The loop's value of type `E`, if one was inserted: a library's state
    /// for this loop (see [`insert_ext`](Self::insert_ext)).
    #[inline]
    pub fn ext<E: 'static>(&self) -> Option<&E> {
        self.inner.ext.get()
    }

    /// The loop's value of type `E`, mutably.
    #[inline]
    pub fn ext_mut<E: 'static>(&mut self) -> Option<&mut E> {
        self.inner.ext.get_mut()
    }

    /// The loop's values of types `A` and `B`, both mutably at once: for a
    /// library that moves data between its own state and another
    /// library's (say, a server's connection table and evloop-buffer's
    /// streams) without taking either out of the loop. `None` if either is
    /// missing, or if `A` and `B` are the same type.
    ///
    /// ```
    /// use evloop::Loop;
    ///
    /// #[derive(Default)]
    /// struct Inbox(Vec<u8>);
    /// #[derive(Default)]
    /// struct Outbox(Vec<u8>);
    ///
    /// let mut lp: Loop<()> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// ctx.ext_or_default::<Inbox>().0.extend_from_slice(b"hi");
    /// ctx.ext_or_default::<Outbox>();
    /// let (inbox, outbox) = ctx.ext_pair_mut::<Inbox, Outbox>().unwrap();
    /// std::mem::swap(&mut inbox.0, &mut outbox.0);
    /// assert_eq!(ctx.ext::<Outbox>().unwrap().0, b"hi");
    /// assert!(ctx.ext_pair_mut::<Inbox, Inbox>().is_none());
    /// # Ok::<(), evloop::Error>(())
    /// ```
    #[inline]
    pub fn ext_pair_mut<A: 'static, B: 'static>(&mut self) -> Option<(&mut A, &mut B)> {
        self.inner.ext.get_pair_mut()
    }

    /// Stores a value of type `E` in the loop, one per type, returning the
    /// one it replaces. It lives as long as the loop (dropped after the
    /// cleanup watchers ran, before the watchers): the place for a
    /// library's per-loop state, such as a connection pool, a cache, or a
    /// table of the library's own objects, reached from any callback
    /// without a global. Use a type private to the library, so no other
    /// code can reach or replace it.
    ///
    /// ```
    /// use evloop::Loop;
    ///
    /// #[derive(Default)]
    /// struct Counters { accepted: u64 }
    ///
    /// let mut lp: Loop<()> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// ctx.ext_or_default::<Counters>().accepted += 1;
    /// assert_eq!(ctx.ext::<Counters>().map(|c| c.accepted), Some(1));
    /// # Ok::<(), evloop::Error>(())
    /// ```
    pub fn insert_ext<E: 'static>(&mut self, value: E) -> Option<E> {
        self.inner.ext.insert(value)
    }

    /// Takes the loop's value of type `E` out.
    pub fn remove_ext<E: 'static>(&mut self) -> Option<E> {
        self.inner.ext.remove()
    }

    /// The loop's value of type `E`, inserted with `E::default()` first if
    /// there is none.
    pub fn ext_or_default<E: Default + 'static>(&mut self) -> &mut E {
        if self.inner.ext.get::<E>().is_none() {
            self.inner.ext.insert(E::default());
        }
        self.inner
            .ext
            .get_mut()
            .expect("the value was inserted just above")
    }
}

impl<T> std::fmt::Debug for Ctx<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}
