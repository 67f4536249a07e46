//! Signal dispositions: installing the loop's handler, putting the old
//! disposition back.

use std::io;

/// A disposition as `sigaction` reported it, to be put back later.
pub(crate) struct Disposition(libc::sigaction);

// SAFETY: `sigaction` is plain data (a handler address, a mask and flags).
unsafe impl Send for Disposition {}

/// Installs `handler` for `signum` with every signal blocked while it runs
/// and `SA_RESTART` (other code's blocking calls are not failed with
/// `EINTR`); returns the disposition it replaced.
pub(crate) fn install(signum: i32, handler: extern "C" fn(libc::c_int)) -> io::Result<Disposition> {
    // SAFETY: both sigaction structs are fully initialised (zeroed, then the
    // fields set); the handler is an `extern "C" fn(c_int)`, as `sa_handler`
    // requires without SA_SIGINFO.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigfillset(&mut sa.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signum, &sa, &mut old) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Disposition(old))
    }
}

/// Puts back a disposition [`install`] returned.
pub(crate) fn restore(signum: i32, previous: &Disposition) {
    // SAFETY: `previous` is what sigaction returned for this signal.
    unsafe {
        libc::sigaction(signum, &previous.0, std::ptr::null_mut());
    }
}

/// The lowest real-time signal number (glibc reserves the ones below).
pub(crate) fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}
