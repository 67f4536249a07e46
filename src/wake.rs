//! The wake-up fd: an eventfd that other threads and signal handlers write
//! to, and that the loop watches like any other fd.
//!
//! Writing is async-signal-safe (an atomic swap and one `write(2)`), so an
//! [`AsyncSender`](crate::AsyncSender) may be used from a signal handler. A
//! flag keeps repeated wake-ups before the loop has noticed the first one
//! from costing a system call each (libev's `pipe_write_wanted`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys::eventfd;

/// One loop's wake-up fd, shared with every sender.
#[derive(Debug)]
pub(crate) struct Waker {
    fd: OwnedFd,
    /// A wake-up was written and the loop has not drained it yet.
    armed: AtomicBool,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        Ok(Waker {
            fd: eventfd::eventfd()?,
            armed: AtomicBool::new(false),
        })
    }

    /// Makes the loop's next (or current) poll return. Async-signal-safe.
    pub(crate) fn wake(&self) {
        if !self.armed.swap(true, Ordering::AcqRel) {
            eventfd::signal(self.fd.as_raw_fd());
        }
    }

    /// Called by the loop when the fd was readable, *before* it looks at
    /// what the wakers wanted: a wake-up after this point writes again.
    pub(crate) fn reset(&self) {
        self.armed.store(false, Ordering::SeqCst);
        eventfd::drain(self.fd.as_raw_fd());
    }

    /// After `fork`: a fresh eventfd at the same number (see
    /// [`eventfd::renew`]).
    pub(crate) fn renew_after_fork(&self) -> io::Result<()> {
        eventfd::renew(self.fd.as_raw_fd())?;
        self.armed.store(false, Ordering::SeqCst);
        Ok(())
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
