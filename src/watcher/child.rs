//! Child watchers (libev's `ev_child`): a child process exited, was killed,
//! stopped or continued.
//!
//! Two mechanisms, chosen per loop:
//!
//! * **pidfd** (Linux 5.3+, the default): each watcher of one pid holds a
//!   pidfd; an internal io watcher on it calls `waitid(P_PIDFD)` when it
//!   becomes readable, i.e. when that child exits. Only watched children
//!   are ever waited for, so any number of loops can watch children, and
//!   children the application waits for itself
//!   (`std::process::Child::wait`) are never reaped behind its back. A
//!   pidfd does not report stops, so a watcher that asks for stops and
//!   continues also listens to SIGCHLD.
//! * **SIGCHLD** (kernels without pidfd, or
//!   [`LoopBuilder::pidfd`](crate::LoopBuilder::pidfd)`(false)`): an
//!   internal signal watcher on SIGCHLD polls every watched pid with
//!   `waitid(P_PID, WNOHANG)`. Still only watched pids are reaped, but the
//!   process's SIGCHLD disposition is evloop's while any child watcher is
//!   active (the previous one is put back when the last stops).
//!
//! A watcher of pid 0 (any child) must use `waitid(P_ALL)` and therefore
//! reaps *every* child that exits while it is active, as libev does.
//!
//! Whichever way a state change is found, it goes to every active watcher
//! it concerns (libev's `child_reap`): the watchers of that pid and the
//! watchers of pid 0. Each watcher keeps a queue of the changes its
//! callback has not seen yet, so none is lost or overwritten when several
//! come before the callback runs.

use std::collections::VecDeque;
use std::os::fd::AsFd;

use super::{io, list_push, list_remove, Callback, Contract, Kind, NO_INDEX};
use crate::handle::{handle, WatcherKey};
use crate::inner::Inner;
use crate::sys::process::{self, WaitFlags, WaitFor, WaitInfo};
use crate::{Ctx, Error, Events, Watcher};

handle! {
    /// Handle of a child watcher (libev's `ev_child`).
    ChildId, Child
}

/// How a child changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled {
        /// The signal number.
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// A signal stopped it (reported only to watchers that asked for stops).
    Stopped(i32),
    /// It continued after a stop (likewise).
    Continued,
}

impl ChildStatus {
    /// Whether the child is gone (exited or killed).
    pub fn is_terminated(self) -> bool {
        matches!(self, ChildStatus::Exited(_) | ChildStatus::Signaled { .. })
    }

    /// The status as `waitpid(2)` stores it, for code that decodes it with
    /// `WIFEXITED`, `WEXITSTATUS` and friends (libev's `rstatus`).
    pub fn raw(self) -> i32 {
        match self {
            ChildStatus::Exited(code) => (code & 0xff) << 8,
            ChildStatus::Signaled {
                signal,
                core_dumped,
            } => (signal & 0x7f) | if core_dumped { 0x80 } else { 0 },
            ChildStatus::Stopped(signal) => ((signal & 0xff) << 8) | 0x7f,
            ChildStatus::Continued => 0xffff,
        }
    }
}

/// What a child watcher's callback is told: which child changed state and
/// how (libev's `rpid` and `rstatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildEvent {
    /// The child's pid (useful with a watcher of pid 0).
    pub pid: i32,
    /// The change, decoded.
    pub status: ChildStatus,
    /// The change as `waitpid(2)` reports it ([`ChildStatus::raw`]).
    pub raw_status: i32,
}

impl ChildEvent {
    /// The event for `pid` changing to `status`.
    pub fn new(pid: i32, status: ChildStatus) -> ChildEvent {
        ChildEvent {
            pid,
            status,
            raw_status: status.raw(),
        }
    }

    fn from_wait(w: WaitInfo) -> Option<ChildEvent> {
        let status = match w.code {
            libc::CLD_EXITED => ChildStatus::Exited(w.status),
            libc::CLD_KILLED => ChildStatus::Signaled {
                signal: w.status,
                core_dumped: false,
            },
            libc::CLD_DUMPED => ChildStatus::Signaled {
                signal: w.status,
                core_dumped: true,
            },
            libc::CLD_STOPPED | libc::CLD_TRAPPED => ChildStatus::Stopped(w.status),
            libc::CLD_CONTINUED => ChildStatus::Continued,
            _ => return None,
        };
        Some(ChildEvent::new(w.pid, status))
    }
}

/// The child part of a watcher slot (boxed: it is the biggest kind).
pub(crate) struct ChildData {
    /// The pid watched, 0 for any child.
    pid: i32,
    /// Report stops and continues too (libev's `trace`).
    trace: bool,
    /// Index in the loop's list of active child watchers.
    index: u32,
    /// The internal io watcher on this child's pidfd, if the loop uses pidfds.
    pidfd_io: Option<WatcherKey>,
    /// State changes the callback has not seen yet, oldest first.
    reports: VecDeque<ChildEvent>,
    /// The last one it saw.
    last: Option<ChildEvent>,
}

impl ChildData {
    /// Whether this watcher needs SIGCHLD (no pidfd, pid 0, or stops).
    fn needs_sigchld(&self) -> bool {
        self.pidfd_io.is_none() || self.trace
    }

    fn wants(&self, ev: &ChildEvent) -> bool {
        (self.pid == 0 || self.pid == ev.pid) && (self.trace || ev.status.is_terminated())
    }
}

/// How many exits reaped by a loop it remembers for watchers that start
/// later.
const REAPED_KEPT: usize = 64;

/// The loop's child watchers.
#[derive(Default)]
pub(crate) struct ChildState {
    /// The active ones.
    list: Vec<WatcherKey>,
    /// The internal SIGCHLD watcher, and how many active watchers need it.
    sigchld: Option<WatcherKey>,
    sigchld_users: usize,
    /// The last exits this loop reaped, newest last: a watcher of such a
    /// pid made or started after the reap (a pid-0 watcher reaps every
    /// child) is told at its start instead of waiting forever.
    reaped: std::collections::VecDeque<ChildEvent>,
}

impl ChildState {
    fn reaped(&self, pid: i32) -> Option<ChildEvent> {
        self.reaped.iter().rev().find(|e| e.pid == pid).copied()
    }

    /// The pid is a live (or unreaped) child again: an old record of it
    /// belongs to an earlier process that had the same number.
    fn forget_reaped(&mut self, pid: i32) {
        self.reaped.retain(|e| e.pid != pid);
    }

    fn record_reaped(&mut self, ev: ChildEvent) {
        self.forget_reaped(ev.pid);
        if self.reaped.len() == REAPED_KEPT {
            self.reaped.pop_front();
        }
        self.reaped.push_back(ev);
    }
}

fn data_mut<T>(inner: &mut Inner<T>, key: WatcherKey) -> Option<&mut ChildData> {
    match &mut inner.slots.get_mut(key)?.kind {
        Kind::Child(c) => Some(c),
        _ => None,
    }
}

pub(crate) struct Child;

impl Contract for Child {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        let Some(c) = data_mut(inner, key) else {
            return Ok(());
        };
        let needs_sigchld = c.needs_sigchld();
        let pidfd_io = c.pidfd_io;
        if needs_sigchld {
            sigchld_acquire(inner)?;
        }
        if let Some(io) = pidfd_io {
            // An io watcher's start cannot fail.
            let _ = inner.start_key(io);
        }
        let index = list_push(&mut inner.kinds.child.list, key);
        let Some(c) = data_mut(inner, key) else {
            return Ok(());
        };
        c.index = index;
        let pid = c.pid;
        // Its child may have been reaped already by this loop (a pid-0
        // watcher's wait), or may have changed state before we listened.
        if pid != 0 {
            if let Some(ev) = inner.kinds.child.reaped(pid) {
                deliver_to(inner, key, ev);
                return Ok(());
            }
        }
        if needs_sigchld {
            // The child may have changed state before SIGCHLD was watched:
            // look at once, but from the loop (the internal SIGCHLD
            // watcher is fed), not here. A wait here would reap before the
            // watchers started after this one (a pid-0 watcher) exist,
            // and they would never hear of it.
            if let Some(k) = inner.kinds.child.sigchld {
                inner.queue_key(k, Events::SIGNAL);
            }
        }
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        let Some(c) = data_mut(inner, key) else {
            return;
        };
        let index = std::mem::replace(&mut c.index, NO_INDEX);
        // A stop drops what the callback has not seen, as it drops a
        // pending event.
        c.reports.clear();
        let needs_sigchld = c.needs_sigchld();
        let pidfd_io = c.pidfd_io;
        if index == NO_INDEX {
            return;
        }
        if let Some(io) = pidfd_io {
            inner.stop_key(io);
        }
        if let Some(moved) = list_remove(&mut inner.kinds.child.list, index) {
            if let Some(m) = data_mut(inner, moved) {
                m.index = index;
            }
        }
        if needs_sigchld {
            sigchld_release(inner);
        }
    }

    /// Removes the pidfd watcher of a child watcher that goes away.
    fn forget<T>(inner: &mut Inner<T>, key: WatcherKey) {
        if let Some(io) = data_mut(inner, key).and_then(|c| c.pidfd_io.take()) {
            inner.remove_key(io);
        }
    }
}

fn sigchld_acquire<T>(inner: &mut Inner<T>) -> Result<(), Error> {
    let key = match inner.kinds.child.sigchld {
        Some(k) => k,
        None => {
            let id =
                Ctx::new(inner).new_signal(libc::SIGCHLD, |ctx, _, _, _| poll_all(ctx.inner))?;
            let key = id.0.key;
            inner.make_internal(key);
            inner.kinds.child.sigchld = Some(key);
            key
        }
    };
    if inner.kinds.child.sigchld_users == 0 {
        inner.start_key(key)?;
    }
    inner.kinds.child.sigchld_users += 1;
    Ok(())
}

fn sigchld_release<T>(inner: &mut Inner<T>) {
    let st = &mut inner.kinds.child;
    st.sigchld_users -= 1;
    if st.sigchld_users == 0 {
        if let Some(k) = st.sigchld {
            inner.stop_key(k);
        }
    }
}

/// Hands a state change to every active watcher it concerns and queues
/// them, and remembers an exit for watchers of the pid that start later.
fn deliver<T>(inner: &mut Inner<T>, ev: ChildEvent) {
    if ev.status.is_terminated() {
        inner.kinds.child.record_reaped(ev);
    }
    let mut i = 0;
    while i < inner.kinds.child.list.len() {
        let key = inner.kinds.child.list[i];
        if data_mut(inner, key).is_some_and(|c| c.wants(&ev)) && deliver_to(inner, key, ev) {
            // It stopped: the list's last entry moved into this place.
            continue;
        }
        i += 1;
    }
}

/// Queues a state change for one watcher; a watcher of one pid stops once
/// that child is gone (its unseen changes are kept for its callback).
/// Returns whether the watcher stopped.
fn deliver_to<T>(inner: &mut Inner<T>, key: WatcherKey, ev: ChildEvent) -> bool {
    let Some(c) = data_mut(inner, key) else {
        return false;
    };
    let mut reports = std::mem::take(&mut c.reports);
    reports.push_back(ev);
    let stop = c.pid != 0 && ev.status.is_terminated();
    if stop {
        inner.stop_key(key);
    }
    if let Some(c) = data_mut(inner, key) {
        c.reports = reports;
    }
    inner.queue_key(key, Events::CHILD);
    stop
}

/// A watcher's pidfd became readable: its child exited.
fn pidfd_ready<T>(inner: &mut Inner<T>, key: WatcherKey) {
    let Some(c) = data_mut(inner, key) else {
        return;
    };
    let (Some(io), trace) = (c.pidfd_io, c.trace) else {
        return;
    };
    match wait_pidfd(inner, io, trace) {
        Some(Ok(Some(ev))) => deliver(inner, ev),
        Some(Ok(None)) | None => {}
        // Reaped already (by a pid-0 watcher's wait, which told this
        // watcher, or by other code): the pidfd stays readable; stop it.
        Some(Err(_)) => {
            inner.stop_key(io);
        }
    }
}

/// `waitid(P_PIDFD)` on the pidfd an internal io watcher owns.
fn wait_pidfd<T>(
    inner: &Inner<T>,
    io: WatcherKey,
    trace: bool,
) -> Option<std::io::Result<Option<ChildEvent>>> {
    let Some(Kind::Io(data)) = inner.slots.get(io).map(|s| &s.kind) else {
        return None;
    };
    let fd = data.source.downcast_ref::<std::os::fd::OwnedFd>()?;
    let flags = WaitFlags { trace, peek: false };
    Some(
        process::wait(WaitFor::PidFd(fd.as_fd()), flags).map(|w| w.and_then(ChildEvent::from_wait)),
    )
}

/// SIGCHLD arrived (or a watcher started): poll every watched child that
/// relies on it, then, if a pid-0 watcher is active, reap any child.
fn poll_all<T>(inner: &mut Inner<T>) {
    // A copy: delivering stops watchers, which reorders the list. SIGCHLD
    // is rare enough for the allocation.
    let watchers = inner.kinds.child.list.clone();
    let mut any_child = false;
    let mut any_trace = false;
    for key in watchers {
        let Some(c) = data_mut(inner, key) else {
            continue;
        };
        if c.pid == 0 {
            any_child = true;
            any_trace |= c.trace;
            continue;
        }
        if !c.needs_sigchld() || c.index == NO_INDEX {
            continue; // its pidfd tells, or it stopped meanwhile
        }
        let (pid, trace, pidfd_io) = (c.pid, c.trace, c.pidfd_io);
        // Stops and continues may have queued up; an exit ends them.
        for _ in 0..64 {
            let found = match pidfd_io {
                Some(io) => wait_pidfd(inner, io, trace).and_then(Result::ok).flatten(),
                None => process::wait(WaitFor::Pid(pid), WaitFlags { trace, peek: false })
                    .ok()
                    .flatten()
                    .and_then(ChildEvent::from_wait),
            };
            let Some(ev) = found else { break };
            deliver(inner, ev);
            if ev.status.is_terminated() {
                break;
            }
        }
    }
    if !any_child {
        return;
    }
    let flags = WaitFlags {
        trace: any_trace,
        peek: false,
    };
    while let Ok(Some(w)) = process::wait(WaitFor::Any, flags) {
        if let Some(ev) = ChildEvent::from_wait(w) {
            deliver(inner, ev);
        }
    }
}

/// Wraps a child callback: it is called once per state change, with the
/// oldest one the watcher has not seen.
fn wrap<T, F>(mut cb: F) -> Callback<T>
where
    F: FnMut(&mut Ctx<'_, T>, &mut T, ChildId, ChildEvent) + 'static,
{
    Box::new(move |ctx, data, key, _ev| {
        let Some(c) = data_mut(ctx.inner, key) else {
            return;
        };
        let Some(ev) = c.reports.pop_front() else {
            return;
        };
        c.last = Some(ev);
        let id = ctx.inner.handle(key);
        cb(ctx, data, id, ev);
        if data_mut(ctx.inner, key).is_some_and(|c| !c.reports.is_empty()) {
            ctx.inner.queue_key(key, Events::CHILD);
        }
    })
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped child watcher (libev's `ev_child`) for `pid`, a
    /// child of this process (`std::process::Child::id() as i32`), or for
    /// any child with `pid` 0. The callback gets a [`ChildEvent`]: which
    /// child changed state and how. With `trace`, stops and continues are
    /// reported too.
    ///
    /// Any loop may watch children, not only one. Every active watcher of
    /// a pid, and every active pid-0 watcher, hears of each state change of
    /// that child. A watcher of one pid stops itself once that child has
    /// exited or was killed (the pid is gone; libev leaves it active). Only
    /// watched pids are reaped; a pid-0 watcher reaps every child that
    /// exits while it is active. See the module notes in the crate docs
    /// for pidfd and SIGCHLD.
    ///
    /// ```
    /// use std::process::Command;
    /// use evloop::{ChildStatus, Loop, RunMode};
    ///
    /// let child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
    /// let mut lp: Loop<Option<ChildStatus>> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let id = ctx.new_child(child.id() as i32, false, |_ctx, got, _id, ev| {
    ///     *got = Some(ev.status);
    /// })?;
    /// ctx.start(id)?;
    /// let mut got = None;
    /// lp.run(&mut got, RunMode::Default)?; // returns: the watcher stopped itself
    /// assert_eq!(got, Some(ChildStatus::Exited(3)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A watcher of a pid that this loop reaped already (a pid-0 watcher
    /// reaps every child) is told of that exit when it starts.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a negative pid, or one that is not a
    /// child of this process; [`Error::Io`] if the pidfd cannot be opened.
    pub fn new_child<F>(&mut self, pid: i32, trace: bool, cb: F) -> Result<ChildId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, ChildId, ChildEvent) + 'static,
    {
        if pid < 0 {
            return Err(Error::InvalidArgument(
                "a child watcher takes a pid, or 0 for any child",
            ));
        }
        let pidfd_io = if pid == 0 {
            None
        } else {
            self.open_child(pid)?
        };
        let key = self.inner.insert(
            Kind::Child(Box::new(ChildData {
                pid,
                trace,
                index: NO_INDEX,
                pidfd_io: None,
                reports: VecDeque::new(),
                last: None,
            })),
            wrap(cb),
        );
        if let Some(fd) = pidfd_io {
            use std::os::fd::AsRawFd;
            let raw = fd.as_raw_fd();
            let io = io::insert(
                self.inner,
                raw,
                Box::new(fd),
                Events::READ,
                Box::new(move |ctx, _, _, _| pidfd_ready(ctx.inner, key)),
            );
            self.inner.make_internal(io);
            if let Some(c) = data_mut(self.inner, key) {
                c.pidfd_io = Some(io);
            }
        }
        Ok(self.inner.handle(key))
    }

    /// Checks that `pid` is a child of this process (or one this loop has
    /// reaped and remembers), and opens its pidfd if the loop uses pidfds.
    fn open_child(&mut self, pid: i32) -> Result<Option<std::os::fd::OwnedFd>, Error> {
        let recorded = self.inner.kinds.child.reaped(pid).is_some();
        let not_ours = |e: std::io::Error| match e.raw_os_error() {
            Some(libc::ECHILD) | Some(libc::ESRCH) => {
                Error::InvalidArgument("the pid is not a child of this process")
            }
            _ => Error::Io(e),
        };
        // WNOWAIT leaves the child's state to be reported.
        let probe = WaitFlags {
            trace: false,
            peek: true,
        };
        if self.inner.opts.pidfd {
            match process::pidfd_open(pid) {
                // A pidfd opens for any process; waitid says whether it is
                // ours.
                Ok(fd) => match process::wait(WaitFor::PidFd(fd.as_fd()), probe) {
                    Ok(_) => {
                        self.inner.kinds.child.forget_reaped(pid);
                        return Ok(Some(fd));
                    }
                    Err(_) if recorded => return Ok(None),
                    Err(e) => return Err(not_ours(e)),
                },
                // No pidfd on this kernel: this loop falls back to SIGCHLD.
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => self.inner.opts.pidfd = false,
                Err(_) if recorded => return Ok(None),
                Err(e) => return Err(not_ours(e)),
            }
        }
        match process::wait(WaitFor::Pid(pid), probe) {
            Ok(_) => {
                self.inner.kinds.child.forget_reaped(pid);
                Ok(None)
            }
            Err(_) if recorded => Ok(None),
            Err(e) => Err(not_ours(e)),
        }
    }

    /// A view of a child watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn child(&mut self, id: ChildId) -> Result<Watcher<'_, T, ChildId>, Error> {
        self.watcher(id)
    }
}

impl<'a, T> Watcher<'a, T, ChildId> {
    fn data(&self) -> &ChildData {
        match &self.inner.slots[self.key].kind {
            Kind::Child(c) => c,
            _ => unreachable!("a ChildId resolves to a child watcher"),
        }
    }

    /// The pid it watches, 0 for any child.
    pub fn pid(&self) -> i32 {
        self.data().pid
    }

    /// Whether it reports stops and continues too.
    pub fn trace(&self) -> bool {
        self.data().trace
    }

    /// The last state change its callback was given (libev's `rpid` and
    /// `rstatus` after the callback); `None` before the first.
    pub fn last(&self) -> Option<ChildEvent> {
        self.data().last
    }

    /// Makes the watcher pending with `event`, as if that child had changed
    /// state (libev's `ev_feed_event` with a filled-in `rpid`/`rstatus`);
    /// nothing is waited for or reaped.
    pub fn feed_child(&mut self, event: ChildEvent) {
        if let Some(c) = data_mut(self.inner, self.key) {
            c.reports.push_back(event);
        }
        self.inner.queue_key(self.key, Events::CHILD);
    }

    /// Replaces the watcher's callback (libev's `ev_set_cb`), also from
    /// inside it: the running callback finishes, and the new one is called
    /// for the next state change.
    pub fn set_callback<F>(&mut self, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, ChildId, ChildEvent) + 'static,
    {
        self.inner.set_callback(self.key, wrap(cb));
    }
}
