//! The OS readiness mechanisms behind one small trait; each lives in its
//! own file under `sys/`.
//!
//! The loop owns the fd table and decides *what* each fd should be watched
//! for; a backend only mirrors that into the kernel ([`Poller::modify`]) and
//! reports readiness ([`Poller::poll`]). Backends are chosen at run time:
//! [`Loop::new`](crate::Loop::new) takes the best one in
//! [`recommended_backends`] that can be created, and `EVLOOP_BACKEND` or the
//! builder can name another. kqueue (BSD, macOS) would be one more file in
//! `sys/`, behind `cfg`, and one more arm in [`create`].

use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::str::FromStr;
use std::time::Duration;

use bitflags::bitflags;

use crate::{sys, Error, Events};

/// One OS readiness mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Linux `epoll(7)`: O(active fds) per poll; the default on Linux.
    Epoll,
    /// POSIX `poll(2)`: O(watched fds) per poll, no kernel state.
    Poll,
    /// POSIX `select(2)`: O(highest fd) per poll, no kernel state. evloop
    /// sizes its fd sets itself, so fds above `FD_SETSIZE` work (as in libev).
    Select,
}

impl Backend {
    /// The backend's lower-case name, as `EVLOOP_BACKEND` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::Poll => "poll",
            Backend::Select => "select",
        }
    }

    fn flag(self) -> Backends {
        match self {
            Backend::Epoll => Backends::EPOLL,
            Backend::Poll => Backends::POLL,
            Backend::Select => Backends::SELECT,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    /// Parses `epoll`, `poll` or `select` (ASCII case ignored).
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "epoll" => Ok(Backend::Epoll),
            "poll" => Ok(Backend::Poll),
            "select" => Ok(Backend::Select),
            _ => Err(Error::UnknownBackend(s.to_string())),
        }
    }
}

bitflags! {
    /// A set of backends, libev's `EVBACKEND_*` mask.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Backends: u32 {
        /// `select(2)`.
        const SELECT = 0x01;
        /// `poll(2)`.
        const POLL = 0x02;
        /// `epoll(7)`.
        const EPOLL = 0x04;
    }
}

impl Backends {
    /// The backends of this set, best first (the order the loop tries them).
    pub fn iter_best_first(self) -> impl Iterator<Item = Backend> {
        [Backend::Epoll, Backend::Poll, Backend::Select]
            .into_iter()
            .filter(move |b| self.contains(b.flag()))
    }

    /// Whether the set holds `backend`.
    pub fn has(self, backend: Backend) -> bool {
        self.contains(backend.flag())
    }
}

/// The backends compiled in for this OS (libev's `ev_supported_backends`).
pub fn supported_backends() -> Backends {
    let mut b = Backends::POLL | Backends::SELECT;
    if cfg!(any(target_os = "linux", target_os = "android")) {
        b |= Backends::EPOLL;
    }
    b
}

/// The backends worth using on this OS (libev's `ev_recommended_backends`):
/// all supported ones here; the loop takes the best that can be created.
pub fn recommended_backends() -> Backends {
    supported_backends()
}

/// What a backend reports for one fd after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdEvent {
    pub fd: RawFd,
    /// READ and/or WRITE, or ERROR when the kernel says the fd is invalid
    /// (poll's `POLLNVAL`, select's `EBADF`).
    pub events: Events,
}

/// Why [`Poller::modify`] could not mirror a change.
#[derive(Debug)]
pub(crate) enum ModifyError {
    /// The fd is not open (or not pollable): the loop stops the fd's
    /// watchers and sends them an ERROR event. The OS error is kept for
    /// debugging output.
    BadFd(#[allow(dead_code)] io::Error),
    /// Anything else (out of memory, a limit): reported to the caller of `run`.
    Other(io::Error),
}

/// The internal contract every backend meets.
///
/// * `modify` is called at most once per changed fd per iteration, just
///   before `poll`, with the interest the backend had (`old`) and the one it
///   should have (`new`). `reset` is true when the fd number may now refer to
///   a different file description than the one registered before (the
///   watcher was given a new fd), so kernel state must not be trusted.
/// * `poll` appends to `out` one entry per ready fd (it never clears `out`)
///   and waits at most `timeout` (`None` = forever). A signal interrupting
///   the wait is not an error: it returns with nothing appended.
/// * Reported bits are READ/WRITE, already mapped from the OS's flags
///   (hang-up and error conditions count as both), or ERROR alone.
pub(crate) trait Poller {
    /// Which mechanism this is.
    fn kind(&self) -> Backend;
    /// Mirror a change of interest for `fd` into the kernel.
    fn modify(
        &mut self,
        fd: RawFd,
        old: Events,
        new: Events,
        reset: bool,
    ) -> Result<(), ModifyError>;
    /// Wait for readiness; see the trait docs.
    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<FdEvent>) -> io::Result<()>;
    /// The kernel object a foreign loop can wait on, if there is one.
    fn backend_fd(&self) -> Option<BorrowedFd<'_>>;
    /// Counts the times `backend_fd` was replaced by a new kernel object
    /// (epoll rebuilds its set to get rid of ghost registrations), so that
    /// a loop driving this one knows to watch the new fd.
    fn epoch(&self) -> u64 {
        0
    }
}

/// Creates the given backend.
pub(crate) fn create(backend: Backend) -> Result<Box<dyn Poller>, Error> {
    match backend {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Backend::Epoll => sys::epoll::Epoll::new()
            .map(|p| Box::new(p) as Box<dyn Poller>)
            .map_err(|e| Error::BackendUnavailable(backend, Some(e))),
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        Backend::Epoll => Err(Error::BackendUnavailable(backend, None)),
        Backend::Poll => Ok(Box::new(sys::poll::PollBackend::new())),
        Backend::Select => Ok(Box::new(sys::select::Select::new())),
    }
}
