//! eventfds: the wake-up fds that other threads and signal handlers write
//! to, and that the loop watches like any other fd.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
/// maximum, which means a wake-up is pending anyway; a closed fd (the
/// number is only ever one of ours that stays open) is ignored too.
pub(crate) fn signal(fd: RawFd) {
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
pub(crate) fn drain(fd: RawFd) {
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
pub(crate) fn renew(fd: RawFd) -> io::Result<()> {
    let new = eventfd()?;
    // SAFETY: both are open fds owned by this process; dup3 atomically
    // replaces `fd`'s file description and `new` is closed after.
    if unsafe { libc::dup3(new.as_raw_fd(), fd, libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
