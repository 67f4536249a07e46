//! What the backends' unit tests share: helpers, and the contract every
//! backend meets (`Poller`'s docs), checked on each of them.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, setrlimit, Resource};

use crate::backend::{self, Backend, FdEvent, ModifyError, Poller};
use crate::Events;

/// A generous timeout for events that are already due: long enough not
/// to fail on a loaded machine, never actually waited for.
pub(crate) const DUE: Option<Duration> = Some(Duration::from_secs(5));

/// Polls once and returns what was reported, sorted by fd.
pub(crate) fn poll_once(backend: &mut dyn Poller, timeout: Option<Duration>) -> Vec<FdEvent> {
    let mut out = Vec::new();
    backend.poll(timeout, &mut out).expect("poll failed");
    out.sort_by_key(|e| e.fd);
    out
}

/// Duplicates `src` onto the fd number `target`, raising the soft
/// `RLIMIT_NOFILE` if `target` is above it.
pub(crate) fn dup_onto(src: &impl AsRawFd, target: RawFd) -> OwnedFd {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let needed = target as libc::rlim_t + 1;
    if soft < needed {
        assert!(
            hard >= needed,
            "hard RLIMIT_NOFILE {hard} is below {needed}"
        );
        setrlimit(Resource::RLIMIT_NOFILE, needed.max(hard.min(4096)), hard).expect("setrlimit");
    }
    // SAFETY: dup2 only edits the descriptor table; `target` is a number
    // reserved for this one test, so no other owner's fd is replaced.
    let fd = unsafe { libc::dup2(src.as_raw_fd(), target) };
    assert_eq!(fd, target, "dup2: {}", io::Error::last_os_error());
    // SAFETY: dup2 just made `target` a fresh descriptor nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Runs `check` on a fresh backend of every kind this OS has.
fn each_backend(mut check: impl FnMut(Backend, &mut dyn Poller)) {
    for b in backend::supported_backends().iter_best_first() {
        let mut p = backend::create(b).expect("backend");
        check(b, &mut *p);
    }
}

#[test]
fn readable_after_write() {
    each_backend(|b, p| {
        let (a, mut peer) = UnixStream::pair().unwrap();
        p.modify(a.as_raw_fd(), Events::empty(), Events::READ, false)
            .unwrap();
        assert!(poll_once(p, Some(Duration::ZERO)).is_empty(), "{b}");
        peer.write_all(b"x").unwrap();
        let want = [FdEvent {
            fd: a.as_raw_fd(),
            events: Events::READ,
        }];
        assert_eq!(poll_once(p, DUE), want, "{b}");
    });
}

#[test]
fn writable_at_once_and_merged_with_read() {
    each_backend(|b, p| {
        let (a, mut peer) = UnixStream::pair().unwrap();
        p.modify(a.as_raw_fd(), Events::empty(), Events::WRITE, false)
            .unwrap();
        let want = [FdEvent {
            fd: a.as_raw_fd(),
            events: Events::WRITE,
        }];
        assert_eq!(poll_once(p, DUE), want, "{b}");
        peer.write_all(b"x").unwrap();
        p.modify(a.as_raw_fd(), Events::WRITE, Events::IO, false)
            .unwrap();
        let want = [FdEvent {
            fd: a.as_raw_fd(),
            events: Events::IO,
        }];
        assert_eq!(poll_once(p, DUE), want, "{b}");
    });
}

#[test]
fn negative_fd_is_bad() {
    each_backend(|b, p| {
        for fd in [-1, -3] {
            match p.modify(fd, Events::empty(), Events::READ, false) {
                Err(ModifyError::BadFd(e)) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{b}")
                }
                other => panic!("{b}: expected BadFd, got {other:?}"),
            }
        }
    });
}

#[test]
fn timeouts_are_not_shorter_than_asked() {
    each_backend(|b, p| {
        let (a, _peer) = UnixStream::pair().unwrap();
        // Once with nothing registered (null sets for select), once with
        // an idle fd.
        for register in [false, true] {
            if register {
                p.modify(a.as_raw_fd(), Events::empty(), Events::READ, false)
                    .unwrap();
            }
            for timeout in [Duration::from_millis(20), Duration::from_micros(1500)] {
                let start = Instant::now();
                assert!(poll_once(p, Some(timeout)).is_empty(), "{b}");
                let took = start.elapsed();
                assert!(
                    took >= timeout,
                    "{b}: asked {timeout:?}, woke after {took:?}"
                );
            }
        }
    });
}
