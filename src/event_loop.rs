//! The loop: its state ([`Ctx`]), the owner ([`Loop`]) and one iteration.

use std::ops::{Deref, DerefMut};
use std::os::fd::BorrowedFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use slotmap::{SecondaryMap, SlotMap};

use crate::backend::{Backend, FdEvent, Poller};
use crate::clock::{ns_to_wall, wall_to_ns, Clock};
use crate::fd_table::FdTable;
use crate::handle::WatcherKey;
use crate::pending::PendingQueues;
use crate::signals::SignalEntry;
use crate::timer_heap::TimerHeap;
use crate::wake::Waker;
use crate::watcher::cleanup::CleanupCallback;
use crate::watcher::inotify::Inotify;
use crate::watcher::{Callback, Slot};
use crate::{Error, Events, LoopBuilder, Priority};

/// How long `run` does.
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

/// A wall-clock step against monotonic time smaller than this is drift, not
/// a jump (libev's `MIN_TIMEJUMP`).
const MIN_TIMEJUMP_NS: i64 = 1_000_000_000;

/// The loop's state and its whole API, as callbacks see it.
///
/// Every callback receives `&mut Ctx<T>` and the application's `&mut T`;
/// through the `Ctx` it can create, start, stop, change and remove any
/// watcher, itself included, read the loop's time and break the loop.
/// Outside callbacks, [`Loop`] dereferences to the same `Ctx`, so there is
/// one API everywhere.
pub struct Ctx<T> {
    pub(crate) slots: SlotMap<WatcherKey, Slot>,
    /// Each watcher's closure; `None` while it runs (the dispatcher holds it).
    pub(crate) callbacks: SecondaryMap<WatcherKey, Option<Callback<T>>>,
    pub(crate) pending: PendingQueues,
    pub(crate) fds: FdTable,
    pub(crate) poller: Box<dyn Poller>,
    /// Readiness reported by the last poll; kept for its capacity.
    fd_events: Vec<FdEvent>,
    pub(crate) timers: TimerHeap<WatcherKey>,
    /// Heap index of every timer watcher (`NO_INDEX` when it has no entry).
    pub(crate) timer_pos: SecondaryMap<WatcherKey, u32>,
    pub(crate) periodics: TimerHeap<WatcherKey>,
    /// Active idle watchers per priority.
    pub(crate) idles: [Vec<WatcherKey>; Priority::LEVELS],
    pub(crate) idle_count: usize,
    pub(crate) prepares: Vec<WatcherKey>,
    pub(crate) checks: Vec<WatcherKey>,
    /// Expired timers and periodics, collected earliest first and queued in
    /// reverse, so that the LIFO pending stacks run them earliest first.
    pub(crate) expired: Vec<WatcherKey>,
    /// Scratch space for walking the timer heap.
    pub(crate) scratch: Vec<u32>,
    clock: Box<dyn Clock>,
    /// The instant monotonic time zero stands for.
    origin: Instant,
    /// Cached monotonic time, ns since `origin`.
    pub(crate) now_ns: i64,
    /// Cached wall time, ns since the Unix epoch.
    pub(crate) wall_ns: i64,
    /// `wall_ns - now_ns` at the last update, to detect wall-clock jumps.
    wall_offset: i64,
    /// Active watchers that keep `run` alive, plus `ref_loop` - `unref_loop`.
    pub(crate) refs: isize,
    depth: u32,
    iteration: u64,
    breaking: Option<Break>,
    suspended_at: Option<i64>,
    io_collect: Duration,
    timeout_collect: Duration,
    /// Monotonic time the previous poll returned, for the io collect interval.
    last_poll_ns: i64,
    pub(crate) opts: Options,
    /// Active async watchers, and the wake-up fd with its internal watcher.
    pub(crate) asyncs: Vec<WatcherKey>,
    pub(crate) waker: Option<(Arc<Waker>, WatcherKey)>,
    /// This loop's entry in the process's signal table, with the internal
    /// watcher on its eventfd; and the active watchers of each signal.
    pub(crate) sig: Option<(SignalEntry, WatcherKey)>,
    pub(crate) sig_watchers: Vec<Vec<WatcherKey>>,
    /// Active child watchers; the internal SIGCHLD watcher and how many of
    /// them need it.
    pub(crate) children: Vec<WatcherKey>,
    pub(crate) sigchld: Option<WatcherKey>,
    pub(crate) sigchld_users: usize,
    pub(crate) forks: Vec<WatcherKey>,
    /// The pid the loop's kernel state belongs to, and whether fork
    /// watchers are due.
    pub(crate) pid: i32,
    pub(crate) postfork: bool,
    pub(crate) cleanups: Vec<WatcherKey>,
    pub(crate) cleanup_cbs: SecondaryMap<WatcherKey, Option<CleanupCallback<T>>>,
    pub(crate) inotify: Option<Inotify>,
    /// Some child's state change waits for its watcher's callback to see
    /// the previous one; look again at the start of the next iteration.
    pub(crate) child_rescan: bool,
}

/// Loop-wide choices made by the builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Compare the pid each iteration (libev's `EVFLAG_FORKCHECK`).
    pub fork_check: bool,
    /// Use inotify for stat watchers.
    pub inotify: bool,
    /// Use pidfds for child watchers.
    pub pidfd: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fork_check: false,
            inotify: true,
            pidfd: true,
        }
    }
}

impl<T> Ctx<T> {
    fn new(poller: Box<dyn Poller>, clock: Box<dyn Clock>, opts: Options) -> Self {
        let origin = clock.monotonic();
        let wall_ns = wall_to_ns(clock.wall());
        Ctx {
            slots: SlotMap::with_key(),
            callbacks: SecondaryMap::new(),
            pending: PendingQueues::default(),
            fds: FdTable::default(),
            poller,
            fd_events: Vec::new(),
            timers: TimerHeap::default(),
            timer_pos: SecondaryMap::new(),
            periodics: TimerHeap::default(),
            idles: Default::default(),
            idle_count: 0,
            prepares: Vec::new(),
            checks: Vec::new(),
            expired: Vec::new(),
            scratch: Vec::new(),
            clock,
            origin,
            now_ns: 0,
            wall_ns,
            wall_offset: wall_ns,
            refs: 0,
            depth: 0,
            iteration: 0,
            breaking: None,
            suspended_at: None,
            io_collect: Duration::ZERO,
            timeout_collect: Duration::ZERO,
            last_poll_ns: 0,
            opts,
            asyncs: Vec::new(),
            waker: None,
            sig: None,
            sig_watchers: Vec::new(),
            children: Vec::new(),
            sigchld: None,
            sigchld_users: 0,
            forks: Vec::new(),
            // SAFETY: getpid cannot fail.
            pid: unsafe { libc::getpid() },
            postfork: false,
            cleanups: Vec::new(),
            cleanup_cbs: SecondaryMap::new(),
            inotify: None,
            child_rescan: false,
        }
    }

    // ---------------------------------------------------------------- time

    /// The loop's cached monotonic time (libev's `ev_now`): read once per
    /// iteration, so every callback of an iteration sees the same value.
    /// Timers count from it: a timer started with `after` fires when the
    /// loop time has reached `now() + after`, and not before. After a long
    /// computation inside a callback, call [`now_update`](Self::now_update)
    /// before starting timers that should count from the real time.
    #[inline]
    pub fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.now_ns as u64)
    }

    /// The loop's cached wall-clock time, read together with [`now`](Self::now).
    pub fn now_wall(&self) -> SystemTime {
        ns_to_wall(self.wall_ns)
    }

    /// Reads the clocks again (libev's `ev_now_update`).
    pub fn now_update(&mut self) {
        self.time_update();
    }

    /// Reads both clocks; detects a wall-clock jump and reschedules the
    /// periodics if there was one.
    pub(crate) fn time_update(&mut self) {
        let mono = self
            .clock
            .monotonic()
            .saturating_duration_since(self.origin);
        // The clock must never go back; a clock that does is held still.
        self.now_ns = self
            .now_ns
            .max(mono.as_nanos().min(i64::MAX as u128) as i64);
        self.wall_ns = wall_to_ns(self.clock.wall());
        let offset = self.wall_ns - self.now_ns;
        if (offset - self.wall_offset).abs() >= MIN_TIMEJUMP_NS {
            self.periodics_reschedule();
        }
        self.wall_offset = offset;
    }

    // ---------------------------------------------------------------- loop info

    /// The backend this loop polls with (libev's `ev_backend`).
    pub fn backend(&self) -> Backend {
        self.poller.kind()
    }

    /// The kernel object the backend waits on (the epoll fd), for driving
    /// this loop from another one; `None` for poll and select, which keep no
    /// kernel state.
    pub fn backend_fd(&self) -> Option<BorrowedFd<'_>> {
        self.poller.backend_fd()
    }

    /// How many times the loop has polled (libev's `ev_iteration`). It is
    /// incremented just before each poll, between the prepare and the check
    /// phase (as in libev): prepare watchers see the number of polls so far,
    /// check watchers of the same iteration that number plus one.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// How many `run` calls are on the stack (libev's `ev_depth`): 0 outside
    /// `run`, 1 inside a callback of a plain `run`, more in nested runs.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Watchers with an event waiting for their callback (`ev_pending_count`).
    pub fn pending_count(&self) -> usize {
        self.pending.count()
    }

    /// Ends `run` calls: see [`Break`] (libev's `ev_break`). The current
    /// iteration finishes first (pending callbacks still run).
    pub fn break_loop(&mut self, how: Break) {
        self.breaking = match how {
            Break::Cancel => None,
            Break::One if self.breaking == Some(Break::All) => Some(Break::All),
            other => Some(other),
        };
    }

    /// Adds one reference, as an active watcher does (libev's `ev_ref`).
    pub fn ref_loop(&mut self) {
        self.refs += 1;
    }

    /// Drops one reference (libev's `ev_unref`). The usual use is to let a
    /// watcher that is always active not keep `run` alive; prefer
    /// [`set_keepalive`](Self::set_keepalive), which cannot get out of step.
    pub fn unref_loop(&mut self) {
        self.refs -= 1;
    }

    /// The number of references that keep `run` (in [`RunMode::Default`])
    /// going: active watchers with keepalive, plus `ref_loop` - `unref_loop`.
    pub fn refs(&self) -> isize {
        self.refs
    }

    /// Polls for io at most about once per `interval`, sleeping the rest, so
    /// that more io gathers per iteration (libev's
    /// `ev_set_io_collect_interval`). Timers are not delayed by it. Zero (the
    /// default) turns it off.
    pub fn set_io_collect_interval(&mut self, interval: Duration) {
        self.io_collect = interval;
    }

    /// Never blocks for less than `interval` because of a timer, so that
    /// timers due close together fire in one wake-up (libev's
    /// `ev_set_timeout_collect_interval`); timers may then fire up to
    /// `interval` late. Zero (the default) turns it off.
    pub fn set_timeout_collect_interval(&mut self, interval: Duration) {
        self.timeout_collect = interval;
    }

    /// Freezes timers (libev's `ev_suspend`), e.g. before the process is
    /// stopped: time that passes until [`resume`](Self::resume) does not
    /// count towards any timer. Periodics follow the wall clock regardless.
    /// Calling it twice is harmless.
    pub fn suspend(&mut self) {
        if self.suspended_at.is_none() {
            self.time_update();
            self.suspended_at = Some(self.now_ns);
        }
    }

    /// Undoes [`suspend`](Self::suspend): every active timer is pushed back
    /// by the time spent suspended, and periodics are rescheduled.
    pub fn resume(&mut self) {
        if let Some(at) = self.suspended_at.take() {
            self.time_update();
            let delta = self.now_ns - at;
            self.timers_shift(delta);
            self.periodics_reschedule();
        }
    }

    // ---------------------------------------------------------------- running

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
            if (self.opts.fork_check || self.postfork) && self.fork_reify()? {
                self.invoke_pending(data);
            }
            if std::mem::take(&mut self.child_rescan) {
                self.children_poll();
            }
            if !self.prepares.is_empty() {
                self.queue_list(ListKind::Prepare, Events::PREPARE);
                self.invoke_pending(data);
                if self.breaking.is_some() {
                    break;
                }
            }
            self.fd_reify()?;

            let block = mode != RunMode::NoWait
                && self.idle_count == 0
                && self.refs > 0
                && self.pending.count() == 0;
            let timeout = if block {
                self.time_update();
                self.block_time()
            } else {
                Some(Duration::ZERO)
            };
            self.iteration += 1;
            let mut events = std::mem::take(&mut self.fd_events);
            let polled = self.poller.poll(timeout, &mut events);
            self.time_update();
            self.last_poll_ns = self.now_ns;
            if let Err(e) = polled {
                self.fd_events = events;
                return Err(Error::Io(e));
            }
            for ev in events.drain(..) {
                if ev.events == Events::ERROR {
                    self.fd_kill(ev.fd);
                } else {
                    self.fd_event(ev.fd, ev.events);
                }
            }
            self.fd_events = events;

            if self.suspended_at.is_none() {
                self.timers_reify();
            }
            self.periodics_reify();
            self.idle_reify();
            if !self.checks.is_empty() {
                self.queue_list(ListKind::Check, Events::CHECK);
            }
            self.invoke_pending(data);

            if self.breaking.is_some() || mode != RunMode::Default || self.refs <= 0 {
                break;
            }
        }
        Ok(())
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
    /// let t = lp.timer(Duration::from_millis(2), Duration::ZERO, |_, n, _, _| *n += 1)?;
    /// lp.start(t)?;
    /// let mut n = 0;
    /// while lp.refs() > 0 {
    ///     lp.flush_fd_changes()?; // the backend fd must reflect every watcher
    ///     let timeout = lp.next_timeout().map_or(-1, |d| d.as_millis().min(60_000) as i32 + 1);
    ///     let mut pfd = libc::pollfd { fd: lp.backend_fd().unwrap().as_raw_fd(), events: libc::POLLIN, revents: 0 };
    ///     // The foreign loop's poll (here plain poll(2)) waits for the backend fd.
    ///     // SAFETY: one valid pollfd.
    ///     unsafe { libc::poll(&mut pfd, 1, timeout) };
    ///     lp.run(&mut n, RunMode::NoWait)?;
    /// }
    /// assert_eq!(n, 1);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    pub fn next_timeout(&mut self) -> Option<Duration> {
        if self.idle_count > 0 || self.pending.count() > 0 || self.postfork || self.child_rescan {
            return Some(Duration::ZERO);
        }
        self.time_update();
        self.block_time_nosleep()
    }

    /// Applies the queued fd interest changes to the backend now (`run`
    /// does this before each poll). A foreign loop that polls
    /// [`backend_fd`](Self::backend_fd) must call it before it blocks, so
    /// that watchers started since the last `run` are in the kernel's set.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the backend fails; fds that turned out to be bad are
    /// not errors (their watchers get [`Events::ERROR`]).
    pub fn flush_fd_changes(&mut self) -> Result<(), Error> {
        self.fd_reify()
    }

    /// How long the next poll may wait: until the next timer or periodic,
    /// `None` for forever.
    fn block_time(&mut self) -> Option<Duration> {
        let mut wait = self.block_time_nosleep();
        if !self.io_collect.is_zero() {
            let since = Duration::from_nanos((self.now_ns - self.last_poll_ns).max(0) as u64);
            let mut sleep = self.io_collect.saturating_sub(since);
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
    fn block_time_nosleep(&mut self) -> Option<Duration> {
        let mut wait: Option<i64> = None;
        if self.suspended_at.is_none() {
            if let Some(at) = self.next_timer_at() {
                wait = Some((at - self.now_ns).max(0));
            }
        }
        if let Some(at) = self.periodics.peek().map(|e| e.at) {
            let w = (at - self.wall_ns).max(0);
            wait = Some(wait.map_or(w, |x| x.min(w)));
        }
        if !self.periodics.entries().is_empty() {
            let cap = MAX_BLOCK_WITH_PERIODICS.as_nanos() as i64;
            wait = Some(wait.map_or(cap, |x| x.min(cap)));
        }
        let mut wait = wait.map(|ns| Duration::from_nanos(ns as u64));
        if let Some(w) = wait.as_mut() {
            if *w < self.timeout_collect {
                *w = self.timeout_collect;
            }
        }
        wait
    }

    /// Runs every pending callback now, highest priority first (libev's
    /// `ev_invoke_pending`). `run` does this itself; call it only to flush
    /// events fed from outside `run`.
    pub fn invoke_pending(&mut self, data: &mut T) {
        while let Some((key, events)) = self.pending.pop() {
            let Some(slot) = self.slots.get_mut(key) else {
                continue;
            };
            slot.pending = 0;
            let Some(mut cb) = self.callbacks.get_mut(key).and_then(Option::take) else {
                // Its callback is running further up the stack.
                slot.missed |= events;
                continue;
            };
            let r = panic::catch_unwind(AssertUnwindSafe(|| cb(self, data, key, events)));
            if let (Some(slot), Some(place)) =
                (self.slots.get_mut(key), self.callbacks.get_mut(key))
            {
                if place.is_none() {
                    *place = Some(cb);
                    let missed = std::mem::take(&mut slot.missed);
                    if !missed.is_empty() {
                        self.queue_key(key, missed);
                    }
                }
            }
            if let Err(p) = r {
                panic::resume_unwind(p);
            }
        }
    }

    /// Queues an event for the watcher behind `key`.
    #[inline]
    pub(crate) fn queue_key(&mut self, key: WatcherKey, events: Events) {
        if let Some(slot) = self.slots.get_mut(key) {
            self.pending
                .queue(&mut slot.pending, slot.priority, key, events);
        }
    }

    // ---------------------------------------------------------------- io plumbing

    /// Mirrors every changed fd's interest into the backend.
    pub(crate) fn fd_reify(&mut self) -> Result<(), Error> {
        if self.fds.changes.is_empty() {
            return Ok(());
        }
        // The list is taken out while it is applied, and put back with its
        // capacity: swapping two lists instead would leave one of them
        // empty, and the next burst of changes would regrow it.
        let mut changes = std::mem::take(&mut self.fds.changes);
        let mut result = Ok(());
        for &fd in &changes {
            if let Err(e) = self.reify_one(fd) {
                result = Err(e);
            }
        }
        changes.clear();
        // fds marked while applying (a bad fd's watchers were stopped), for
        // the next iteration; nearly always none, and then no allocation.
        let marked = std::mem::replace(&mut self.fds.changes, changes);
        self.fds.changes.extend_from_slice(&marked);
        result
    }

    /// Applies the change of one fd at once.
    pub(crate) fn reify_one(&mut self, fd: std::os::fd::RawFd) -> Result<(), Error> {
        let e = self.fds.entry(fd);
        e.changed = false;
        let wanted = e.wanted();
        let reset = std::mem::take(&mut e.reset);
        let old = e.registered;
        // A reset matters only if something is to be registered afresh.
        let fresh = reset && !wanted.is_empty();
        if wanted == old && !fresh {
            return Ok(());
        }
        match self.poller.modify(fd, old, wanted, reset) {
            Ok(()) => {
                self.fds.entry(fd).registered = wanted;
                Ok(())
            }
            Err(crate::backend::ModifyError::BadFd(_)) => {
                self.fds.entry(fd).registered = Events::empty();
                self.fd_kill(fd);
                Ok(())
            }
            Err(crate::backend::ModifyError::Other(e)) => {
                // Out of memory or a kernel limit: the error goes to the
                // caller of `run`, and the change is tried again next time,
                // registering afresh since the kernel state is unknown.
                let entry = self.fds.entry(fd);
                entry.registered = Events::empty();
                entry.reset = true;
                self.fds.mark_changed(fd);
                Err(Error::Io(e))
            }
        }
    }

    /// Queues the events of a ready fd for its watchers.
    #[inline]
    fn fd_event(&mut self, fd: std::os::fd::RawFd, events: Events) {
        let Some(entry) = self.fds.get(fd) else {
            return;
        };
        for (key, interest) in entry.watchers() {
            let ev = interest & events;
            if !ev.is_empty() {
                if let Some(slot) = self.slots.get_mut(key) {
                    self.pending
                        .queue(&mut slot.pending, slot.priority, key, ev);
                }
            }
        }
    }

    /// Feeds an io event to every active io watcher on `fd` that is
    /// interested in it (libev's `ev_feed_fd_event`).
    pub fn feed_fd_event(&mut self, fd: std::os::fd::RawFd, events: Events) {
        if fd >= 0 {
            self.fd_event(fd, events & Events::IO);
        }
    }

    /// The fd is bad: stop its watchers and tell each with an ERROR event.
    pub(crate) fn fd_kill(&mut self, fd: std::os::fd::RawFd) {
        let Some(entry) = self.fds.get(fd) else {
            return;
        };
        // Rare (an fd went bad): a short-lived copy of the list is fine.
        let watches: Vec<_> = entry.watchers().collect();
        for (key, interest) in watches {
            self.stop_key(key);
            self.queue_key(key, Events::ERROR | interest);
        }
    }
}

/// Which of the plain watcher lists to queue.
#[derive(Clone, Copy)]
pub(crate) enum ListKind {
    Prepare,
    Check,
}

impl<T> Ctx<T> {
    fn queue_list(&mut self, which: ListKind, events: Events) {
        let list = match which {
            ListKind::Prepare => &self.prepares,
            ListKind::Check => &self.checks,
        };
        for &key in list {
            if let Some(slot) = self.slots.get_mut(key) {
                self.pending
                    .queue(&mut slot.pending, slot.priority, key, events);
            }
        }
    }

    /// Queues the idle watchers of the highest priority that has any, if
    /// nothing of that priority or higher is pending (libev's `idle_reify`:
    /// idle watchers of lower priorities wait for the higher ones to stop).
    fn idle_reify(&mut self) {
        if self.idle_count == 0 {
            return;
        }
        for p in (0..Priority::LEVELS).rev() {
            if self.pending.has_level(p) {
                return;
            }
            if !self.idles[p].is_empty() {
                for &key in &self.idles[p] {
                    if let Some(slot) = self.slots.get_mut(key) {
                        self.pending
                            .queue(&mut slot.pending, slot.priority, key, Events::IDLE);
                    }
                }
                return;
            }
        }
    }
}

/// The event loop. Owns every watcher; [`run`](Ctx::run) drives them.
///
/// `Loop<T>` dereferences to [`Ctx<T>`], which carries the whole API. `T` is
/// the application state that [`run`](Ctx::run) lends to every callback.
///
/// ```
/// use std::time::Duration;
/// use evloop::{Loop, RunMode};
///
/// let mut lp: Loop<u32> = Loop::new()?;
/// let t = lp.timer(Duration::from_millis(1), Duration::ZERO, |_ctx, fired, _id, _ev| {
///     *fired += 1;
/// })?;
/// lp.start(t)?;
/// let mut fired = 0;
/// lp.run(&mut fired, RunMode::Default)?;
/// assert_eq!(fired, 1);
/// # Ok::<(), evloop::Error>(())
/// ```
pub struct Loop<T> {
    ctx: Ctx<T>,
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
        poller: Box<dyn Poller>,
        clock: Box<dyn Clock>,
        opts: Options,
    ) -> Self {
        Loop {
            ctx: Ctx::new(poller, clock, opts),
        }
    }
}

impl<T> Drop for Loop<T> {
    /// Runs the active cleanup watchers, then drops every watcher (closing
    /// the fds they own) and the backend.
    fn drop(&mut self) {
        self.ctx.run_cleanups();
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

impl<T> Deref for Loop<T> {
    type Target = Ctx<T>;
    fn deref(&self) -> &Ctx<T> {
        &self.ctx
    }
}

impl<T> DerefMut for Loop<T> {
    fn deref_mut(&mut self) -> &mut Ctx<T> {
        &mut self.ctx
    }
}

impl<T> std::fmt::Debug for Ctx<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("backend", &self.backend())
            .field("watchers", &self.slots.len())
            .field("refs", &self.refs)
            .field("pending", &self.pending.count())
            .field("depth", &self.depth)
            .field("iteration", &self.iteration)
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Loop<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.ctx.fmt(f)
    }
}
