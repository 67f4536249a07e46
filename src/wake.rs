//! The wake-up fd: an eventfd that other threads and signal handlers write
//! to, and that the loop watches like any other fd.
//!
//! Writing is async-signal-safe (an atomic swap and one `write(2)`), so an
//! [`AsyncSender`](crate::AsyncSender) may be used from a signal handler. A
//! flag keeps repeated wake-ups before the loop has noticed the first one
//! from costing a system call each (libev's `pipe_write_wanted`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// A non-blocking, close-on-exec eventfd.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter, keeping `errno` as it was (this runs
/// in signal handlers). The only possible failure is a counter at its
/// maximum, which means a wake-up is pending anyway.
pub(crate) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: errno is thread-local and `__errno_location` always returns a
    // valid pointer to it; `write` reads exactly 8 bytes from `one`.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        libc::write(fd, (&one as *const u64).cast(), 8);
        *errno = saved;
    }
}

/// Empties an eventfd's counter.
pub(crate) fn eventfd_drain(fd: RawFd) {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is 8 writable bytes, as eventfd reads need; EAGAIN on an
    // empty counter is expected and ignored.
    unsafe {
        libc::read(fd, buf.as_mut_ptr().cast(), 8);
    }
}

/// Puts a fresh eventfd at `fd`'s number, so that everything that holds
/// the number (senders, signal handlers) reaches this process only. After
/// `fork`, the child shares the parent's eventfds; without this, a child's
/// wake-up could be consumed by the parent or the other way round.
pub(crate) fn eventfd_renew(fd: RawFd) -> io::Result<()> {
    let new = eventfd()?;
    // SAFETY: both are open fds owned by this process; dup3 atomically
    // replaces `fd`'s file description and `new` is closed after.
    if unsafe { libc::dup3(new.as_raw_fd(), fd, libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

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
            fd: eventfd()?,
            armed: AtomicBool::new(false),
        })
    }

    /// Makes the loop's next (or current) poll return. Async-signal-safe.
    pub(crate) fn wake(&self) {
        if !self.armed.swap(true, Ordering::AcqRel) {
            eventfd_signal(self.fd.as_raw_fd());
        }
    }

    /// Called by the loop when the fd was readable, *before* it looks at
    /// what the wakers wanted: a wake-up after this point writes again.
    pub(crate) fn reset(&self) {
        self.armed.store(false, Ordering::SeqCst);
        eventfd_drain(self.fd.as_raw_fd());
    }

    /// See [`eventfd_renew`].
    pub(crate) fn renew_after_fork(&self) -> io::Result<()> {
        eventfd_renew(self.fd.as_raw_fd())?;
        self.armed.store(false, Ordering::SeqCst);
        Ok(())
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
