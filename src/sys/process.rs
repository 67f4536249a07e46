//! Process calls: pids, credentials, waiting for children, pidfds.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// This process's id.
pub(crate) fn getpid() -> i32 {
    // SAFETY: getpid takes nothing and cannot fail.
    unsafe { libc::getpid() }
}

/// Whether this is a set-user-ID or set-group-ID program.
pub(crate) fn privileged() -> bool {
    // SAFETY: these four calls take no arguments and cannot fail.
    unsafe { libc::getuid() != libc::geteuid() || libc::getgid() != libc::getegid() }
}

/// What `waitid` reported: the child, how it changed (`CLD_*`) and the
/// exit code or signal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaitInfo {
    pub pid: i32,
    pub code: i32,
    pub status: i32,
}

/// Which children a wait looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WaitFor<'a> {
    /// Any child.
    Any,
    /// One pid.
    Pid(i32),
    /// The child behind a pidfd.
    PidFd(BorrowedFd<'a>),
}

/// Wait flags: which changes to report, and whether to leave the child
/// waitable (`peek`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitFlags {
    /// Stops and continues too (`WSTOPPED | WCONTINUED`).
    pub trace: bool,
    /// `WNOWAIT`: report without reaping.
    pub peek: bool,
}

/// One `waitid(.., WEXITED | WNOHANG ..)`; `Ok(None)` if nothing changed.
pub(crate) fn wait(which: WaitFor<'_>, flags: WaitFlags) -> io::Result<Option<WaitInfo>> {
    let (idtype, id) = match which {
        WaitFor::Any => (libc::P_ALL, 0),
        WaitFor::Pid(pid) => (libc::P_PID, pid as libc::id_t),
        WaitFor::PidFd(fd) => (libc::P_PIDFD, fd.as_raw_fd() as libc::id_t),
    };
    let mut options = libc::WEXITED | libc::WNOHANG;
    if flags.trace {
        options |= libc::WSTOPPED | libc::WCONTINUED;
    }
    if flags.peek {
        options |= libc::WNOWAIT;
    }
    // SAFETY: `info` is zeroed, as waitid with WNOHANG requires to tell
    // "nothing to report" (si_pid stays 0) from a report; the pointer is
    // valid for the call.
    let (r, info) = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(idtype, id, &mut info, options);
        (r, info)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful waitid the fields are those of a SIGCHLD
    // siginfo, which si_pid and si_status read.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(WaitInfo {
        pid,
        code: info.si_code,
        status,
    }))
}

/// `pidfd_open(pid, 0)`.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just created this fd for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
