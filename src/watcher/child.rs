//! Child watchers (libev's `ev_child`): a child process exited, was killed,
//! stopped or continued.
//!
//! Two mechanisms, chosen per loop:
//!
//! * **pidfd** (Linux 5.3+, the default): each watcher of one pid holds a
//!   pidfd; an internal io watcher on it calls `waitid(P_PIDFD)` when it
//!   becomes readable, i.e. when that child exits. Only that child is ever
//!   waited for, so any number of loops can watch children, and children
//!   the application waits for itself (`std::process::Child::wait`) are
//!   never reaped behind its back. A pidfd does not report stops, so a
//!   watcher that asks for stops and continues also listens to SIGCHLD.
//! * **SIGCHLD** (kernels without pidfd, or
//!   [`LoopBuilder::pidfd`](crate::LoopBuilder::pidfd)`(false)`): an
//!   internal signal watcher on SIGCHLD polls every watched pid with
//!   `waitpid(pid, WNOHANG)`. Still only watched pids are reaped, but the
//!   process's SIGCHLD disposition is evloop's while any child watcher is
//!   active (the previous one is put back when the last stops).
//!
//! A watcher of pid 0 (any child) must use `waitid(P_ALL)` and therefore
//! reaps *every* child that exits while it is active, as libev does.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::handle::{ChildId, IoId, WatcherKey};
use crate::watcher::{Kind, NO_INDEX};
use crate::{Ctx, Error, Events};

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
}

/// The child part of a watcher slot (boxed: it is the biggest kind).
pub(crate) struct ChildData {
    /// The pid watched, 0 for any child.
    pub pid: i32,
    /// Report stops and continues too (libev's `trace`).
    pub trace: bool,
    /// Index in the loop's list of active child watchers.
    pub index: u32,
    /// The internal io watcher on this child's pidfd, if the loop uses pidfds.
    pub pidfd_io: Option<WatcherKey>,
    /// The last state change: pid and status (libev's `rpid`, `rstatus`).
    pub last: Option<(u32, ChildStatus)>,
}

/// One `waitid` with `WNOHANG`; `Ok(None)` if nothing changed.
fn wait_one(
    idtype: libc::idtype_t,
    id: libc::id_t,
    flags: i32,
) -> std::io::Result<Option<(u32, ChildStatus)>> {
    // SAFETY: `info` is zeroed, as waitid with WNOHANG requires to tell
    // "nothing to report" (si_pid stays 0) from a report; the pointer is
    // valid for the call.
    let (r, info) = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(idtype, id, &mut info, flags | libc::WNOHANG);
        (r, info)
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: after a successful waitid the fields are those of a SIGCHLD
    // siginfo, which si_pid and si_status read.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    let status = match info.si_code {
        libc::CLD_EXITED => ChildStatus::Exited(status),
        libc::CLD_KILLED => ChildStatus::Signaled {
            signal: status,
            core_dumped: false,
        },
        libc::CLD_DUMPED => ChildStatus::Signaled {
            signal: status,
            core_dumped: true,
        },
        libc::CLD_STOPPED | libc::CLD_TRAPPED => ChildStatus::Stopped(status),
        libc::CLD_CONTINUED => ChildStatus::Continued,
        _ => return Ok(None),
    };
    Ok(Some((pid as u32, status)))
}

fn wait_flags(trace: bool) -> i32 {
    libc::WEXITED
        | if trace {
            libc::WSTOPPED | libc::WCONTINUED
        } else {
            0
        }
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just created this fd for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl<T> Ctx<T> {
    /// Creates a stopped child watcher (libev's `ev_child`) for `pid`, a
    /// child of this process (`std::process::Child::id()`), or for any
    /// child with `pid` 0. The callback gets [`Events::CHILD`];
    /// [`child_status`](Self::child_status) tells which child and how it
    /// changed. With `trace`, stops and continues are reported too.
    ///
    /// Any loop may watch children, not only one. A watcher of one pid
    /// stops itself once that child has exited or was killed (the pid is
    /// gone; libev leaves it active). Only the watched pid is reaped; a
    /// pid-0 watcher reaps every child that exits while it is active. See
    /// the module notes in the crate docs for pidfd and SIGCHLD.
    ///
    /// ```
    /// use std::process::Command;
    /// use evloop::{ChildStatus, Loop, RunMode};
    ///
    /// let child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
    /// let mut lp: Loop<Option<ChildStatus>> = Loop::new()?;
    /// let id = lp.child(child.id(), false, |ctx, got, id, _ev| {
    ///     *got = ctx.child_status(id).unwrap().map(|(_pid, st)| st);
    /// })?;
    /// lp.start(id)?;
    /// let mut got = None;
    /// lp.run(&mut got, RunMode::Default)?; // returns: the watcher stopped itself
    /// assert_eq!(got, Some(ChildStatus::Exited(3)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `pid` is not a child of this process
    /// (with pidfds this is checked here), [`Error::Io`] if the pidfd
    /// cannot be opened.
    pub fn child<F>(&mut self, pid: u32, trace: bool, mut cb: F) -> Result<ChildId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, ChildId, Events) + 'static,
    {
        let pid = i32::try_from(pid).map_err(|_| Error::InvalidArgument("pid out of range"))?;
        let key = self.insert(
            Kind::Child(Box::new(ChildData {
                pid,
                trace,
                index: NO_INDEX,
                pidfd_io: None,
                last: None,
            })),
            Box::new(move |c, d, k, e| cb(c, d, ChildId(k), e)),
        );
        if pid != 0 && self.opts.pidfd {
            match pidfd_open(pid) {
                Ok(fd) => {
                    // A pidfd opens for any process; waitid says whether
                    // it is ours. WNOWAIT leaves its state to be reported.
                    let probe = wait_one(
                        libc::P_PIDFD,
                        fd.as_raw_fd() as libc::id_t,
                        libc::WEXITED | libc::WNOWAIT,
                    );
                    if let Err(e) = probe {
                        self.remove(ChildId(key))?;
                        return Err(if e.raw_os_error() == Some(libc::ECHILD) {
                            Error::InvalidArgument("the pid is not a child of this process")
                        } else {
                            Error::Io(e)
                        });
                    }
                    let io = self.io(fd, Events::READ, move |ctx, _, _, _| {
                        ctx.child_poll(key);
                    })?;
                    self.make_internal(io.0);
                    if let Kind::Child(c) = &mut self.slots[key].kind {
                        c.pidfd_io = Some(io.0);
                    }
                }
                // No pidfd on this kernel: this loop falls back to SIGCHLD.
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => self.opts.pidfd = false,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                    self.remove(ChildId(key))?;
                    return Err(Error::InvalidArgument("no such process"));
                }
                Err(e) => {
                    self.remove(ChildId(key))?;
                    return Err(Error::Io(e));
                }
            }
        }
        Ok(ChildId(key))
    }

    /// The last state change a child watcher saw: the child's pid (useful
    /// with pid 0) and its status; `None` before the first.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn child_status(&self, id: ChildId) -> Result<Option<(u32, ChildStatus)>, Error> {
        match &self.slots.get(id.0).ok_or(Error::StaleHandle)?.kind {
            Kind::Child(c) => Ok(c.last),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Whether this watcher needs SIGCHLD (no pidfd, pid 0, or stops).
    fn child_needs_sigchld(c: &ChildData) -> bool {
        c.pidfd_io.is_none() || c.trace
    }

    pub(crate) fn child_start(&mut self, key: WatcherKey) -> Result<(), Error> {
        let Kind::Child(c) = &self.slots[key].kind else {
            return Ok(());
        };
        let needs_sigchld = Self::child_needs_sigchld(c);
        let pidfd_io = c.pidfd_io;
        if needs_sigchld {
            self.sigchld_acquire()?;
        }
        if let Some(io) = pidfd_io {
            self.start(IoId(io))?;
        }
        self.children.push(key);
        let index = (self.children.len() - 1) as u32;
        if let Kind::Child(c) = &mut self.slots[key].kind {
            c.index = index;
        }
        // It may have changed state before we listened.
        if needs_sigchld {
            self.children_poll();
        }
        Ok(())
    }

    pub(crate) fn child_stop(&mut self, key: WatcherKey) {
        let Kind::Child(c) = &mut self.slots[key].kind else {
            return;
        };
        let index = std::mem::replace(&mut c.index, NO_INDEX);
        let needs_sigchld = Self::child_needs_sigchld(c);
        let pidfd_io = c.pidfd_io;
        if index == NO_INDEX {
            return;
        }
        if let Some(io) = pidfd_io {
            self.stop_key(io);
        }
        self.children.swap_remove(index as usize);
        if let Some(&moved) = self.children.get(index as usize) {
            if let Kind::Child(m) = &mut self.slots[moved].kind {
                m.index = index;
            }
        }
        if needs_sigchld {
            self.sigchld_release();
        }
    }

    /// Removes the pidfd watcher of a child watcher that goes away.
    pub(crate) fn child_forget(&mut self, key: WatcherKey) {
        if let Kind::Child(c) = &mut self.slots[key].kind {
            if let Some(io) = c.pidfd_io.take() {
                let _ = self.remove(IoId(io));
            }
        }
    }

    fn sigchld_acquire(&mut self) -> Result<(), Error> {
        let key = match self.sigchld {
            Some(k) => k,
            None => {
                let id = self.signal(libc::SIGCHLD, |ctx, _, _, _| ctx.children_poll())?;
                self.make_internal(id.0);
                self.sigchld = Some(id.0);
                id.0
            }
        };
        if self.sigchld_users == 0 {
            self.start(crate::SignalId(key))?;
        }
        self.sigchld_users += 1;
        Ok(())
    }

    fn sigchld_release(&mut self) {
        self.sigchld_users -= 1;
        if self.sigchld_users == 0 {
            if let Some(k) = self.sigchld {
                self.stop_key(k);
            }
        }
    }

    /// Records a state change for one watcher and queues it; a watcher of
    /// one pid stops once the child is gone.
    fn child_report(&mut self, key: WatcherKey, pid: u32, status: ChildStatus) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        let Kind::Child(c) = &mut slot.kind else {
            return;
        };
        c.last = Some((pid, status));
        let stop = c.pid != 0 && status.is_terminated();
        if stop {
            self.stop_key(key);
        }
        self.queue_key(key, Events::CHILD);
    }

    /// A pidfd became readable: its child changed state. If the watcher's
    /// last report is still pending, the pidfd stays readable and the next
    /// poll brings us back.
    fn child_poll(&mut self, key: WatcherKey) {
        let Some(slot) = self.slots.get(key) else {
            return;
        };
        if slot.pending != 0 {
            return;
        }
        let Kind::Child(c) = &slot.kind else {
            return;
        };
        let (Some(io), trace) = (c.pidfd_io, c.trace) else {
            return;
        };
        let Ok(fd) = self.io_fd(IoId(io)) else {
            return;
        };
        match wait_one(libc::P_PIDFD, fd as libc::id_t, wait_flags(trace)) {
            Ok(Some((pid, status))) => self.child_report(key, pid, status),
            Ok(None) => {}
            // Reaped by someone else: it is gone, but its status is not ours
            // to report; stop watching a pidfd that stays readable.
            Err(_) => {
                self.stop_key(io);
            }
        }
    }

    /// SIGCHLD arrived (or a watcher started): poll every watched child
    /// that relies on it, then, if a pid-0 watcher is active, reap any.
    ///
    /// A watcher whose last report its callback has not seen yet gets no
    /// new one now (it would overwrite the first): its child is left for
    /// a rescan at the start of the next iteration, after the callback ran.
    pub(crate) fn children_poll(&mut self) {
        let mut any_child = false;
        let mut any_trace = false;
        let mut i = 0;
        while i < self.children.len() {
            let key = self.children[i];
            i += 1;
            let Kind::Child(c) = &self.slots[key].kind else {
                continue;
            };
            if c.pid == 0 {
                any_child = true;
                any_trace |= c.trace;
                continue;
            }
            if self.slots[key].pending != 0 {
                self.child_rescan = true;
                continue;
            }
            let (idtype, id) = match c.pidfd_io.and_then(|io| self.io_fd(IoId(io)).ok()) {
                Some(fd) => (libc::P_PIDFD, fd as libc::id_t),
                None => (libc::P_PID, c.pid as libc::id_t),
            };
            if let Ok(Some((pid, status))) = wait_one(idtype, id, wait_flags(c.trace)) {
                let before = self.children.len();
                self.child_report(key, pid, status);
                // The report stopped it: the list shrank at `i - 1`.
                if self.children.len() < before {
                    i -= 1;
                }
            }
        }
        if !any_child {
            return;
        }
        loop {
            let busy = self.children.iter().any(|&k| {
                matches!(&self.slots[k].kind, Kind::Child(c) if c.pid == 0)
                    && self.slots[k].pending != 0
            });
            if busy {
                self.child_rescan = true;
                return;
            }
            let Ok(Some((pid, status))) = wait_one(libc::P_ALL, 0, wait_flags(any_trace)) else {
                return;
            };
            let mut i = 0;
            while i < self.children.len() {
                let key = self.children[i];
                i += 1;
                let Kind::Child(c) = &self.slots[key].kind else {
                    continue;
                };
                let wants =
                    (c.pid == 0 || c.pid as u32 == pid) && (c.trace || status.is_terminated());
                if wants {
                    let before = self.children.len();
                    self.child_report(key, pid, status);
                    if self.children.len() < before {
                        i -= 1;
                    }
                }
            }
        }
    }
}
