//! inotify: an instance, watches, and reading its events.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What a stat watcher's directory and path are watched for.
const WATCH_MASK: u32 = libc::IN_ATTRIB
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MODIFY
    | libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// A new non-blocking, close-on-exec inotify instance.
pub(crate) fn init() -> io::Result<OwnedFd> {
    // SAFETY: inotify_init1 takes flags only; the result is checked.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Watches `path` (following a symlink only if `follow`); the watch
/// descriptor, or `None` if the path cannot be watched now.
pub(crate) fn add_watch(fd: BorrowedFd<'_>, path: &Path, follow: bool) -> Option<i32> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mask = if follow {
        WATCH_MASK
    } else {
        WATCH_MASK | libc::IN_DONT_FOLLOW
    };
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) };
    (wd >= 0).then_some(wd)
}

/// Removes a watch; one the kernel dropped already is fine.
pub(crate) fn rm_watch(fd: BorrowedFd<'_>, wd: i32) {
    // SAFETY: plain integer arguments; a stale wd gives EINVAL, ignored.
    unsafe { libc::inotify_rm_watch(fd.as_raw_fd(), wd) };
}

/// One event: the watch it concerns and what happened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub wd: i32,
    /// The queue overflowed: events were lost, every watch may have changed.
    pub overflow: bool,
    /// The kernel dropped this watch (its file went away).
    pub ignored: bool,
}

/// Reads every queued event, appending them to `out`.
pub(crate) fn read_events(fd: BorrowedFd<'_>, out: &mut Vec<Event>) {
    let mut buf = [0u8; 4096];
    let head = std::mem::size_of::<libc::inotify_event>();
    loop {
        // SAFETY: `buf` is writable for its whole length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
        let n = n as usize;
        let mut off = 0usize;
        while off + head <= n {
            // SAFETY: the kernel wrote a whole inotify_event header at `off`;
            // read_unaligned copes with the byte buffer's alignment.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf.as_ptr().add(off).cast()) };
            off += head + ev.len as usize;
            out.push(Event {
                wd: ev.wd,
                overflow: ev.mask & libc::IN_Q_OVERFLOW != 0,
                ignored: ev.mask & libc::IN_IGNORED != 0,
            });
        }
    }
}
