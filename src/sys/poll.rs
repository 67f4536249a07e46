//! The `poll(2)` backend.
//!
//! poll keeps no kernel state, so the whole interest set lives here as the
//! `pollfd` array handed to every call; an fd -> position index keeps
//! `modify` O(1) while the array stays dense (no holes for the kernel to
//! skip).

use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use crate::backend::{Backend, FdEvent, ModifyError, Poller};
use crate::Events;

/// `index` entry of an fd that has no `pollfd`.
const ABSENT: u32 = u32::MAX;

/// Revents that make a read not block: data, end of file, an error, urgent data.
const READ_REVENTS: libc::c_short = libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLPRI;

/// Revents that make a write not block (it fails at once on hang-up or error).
const WRITE_REVENTS: libc::c_short = libc::POLLOUT | libc::POLLHUP | libc::POLLERR;

/// The `poll(2)` backend: one `pollfd` per watched fd, in no particular order.
#[derive(Default)]
pub(crate) struct PollBackend {
    /// The array given to the kernel, dense so that each poll costs
    /// O(watched fds) whatever the fd numbers are.
    fds: Vec<libc::pollfd>,
    /// `index[fd]` is the position of `fd`'s entry in `fds`, or [`ABSENT`].
    index: Vec<u32>,
}

impl PollBackend {
    /// An empty backend; nothing is asked of the kernel until `poll`.
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

/// The `events` field asking for `interest` (READ/WRITE; other bits ignored).
fn poll_events(interest: Events) -> libc::c_short {
    let mut events = 0;
    if interest.contains(Events::READ) {
        events |= libc::POLLIN;
    }
    if interest.contains(Events::WRITE) {
        events |= libc::POLLOUT;
    }
    events
}

/// The READ/WRITE bits `revents` stands for, before masking by interest.
fn readiness(revents: libc::c_short) -> Events {
    let mut ready = Events::empty();
    if revents & READ_REVENTS != 0 {
        ready |= Events::READ;
    }
    if revents & WRITE_REVENTS != 0 {
        ready |= Events::WRITE;
    }
    ready
}

/// The interest an `events` field was built from (inverse of [`poll_events`]).
fn interest(events: libc::c_short) -> Events {
    let mut interest = Events::empty();
    if events & libc::POLLIN != 0 {
        interest |= Events::READ;
    }
    if events & libc::POLLOUT != 0 {
        interest |= Events::WRITE;
    }
    interest
}

/// The error `modify` reports when growing a table fails.
fn out_of_memory(_: std::collections::TryReserveError) -> ModifyError {
    ModifyError::Other(io::ErrorKind::OutOfMemory.into())
}

impl Poller for PollBackend {
    fn kind(&self) -> Backend {
        Backend::Poll
    }

    // `old` is not needed: `index` already knows whether the fd has an
    // entry, and trusting our own table cannot drift from what poll is given.
    // `reset` does not matter either: poll looks fds up afresh on every call.
    fn modify(
        &mut self,
        fd: RawFd,
        _old: Events,
        new: Events,
        _reset: bool,
    ) -> Result<(), ModifyError> {
        let Ok(slot) = usize::try_from(fd) else {
            return Err(ModifyError::BadFd(io::Error::from_raw_os_error(
                libc::EBADF,
            )));
        };
        let events = poll_events(new);
        let pos = self.index.get(slot).copied().unwrap_or(ABSENT);
        match (pos, events) {
            (ABSENT, 0) => {}
            (ABSENT, _) => {
                if self.index.len() <= slot {
                    self.index
                        .try_reserve(slot + 1 - self.index.len())
                        .map_err(out_of_memory)?;
                    self.index.resize(slot + 1, ABSENT);
                }
                self.fds.try_reserve(1).map_err(out_of_memory)?;
                // Fits: there are fewer entries than fd numbers (<= i32::MAX + 1).
                self.index[slot] = self.fds.len() as u32;
                self.fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
            }
            (pos, 0) => {
                self.fds.swap_remove(pos as usize);
                self.index[slot] = ABSENT;
                if let Some(moved) = self.fds.get(pos as usize) {
                    // Entries only hold fds that passed the check above.
                    self.index[moved.fd as usize] = pos;
                }
            }
            (pos, _) => self.fds[pos as usize].events = events,
        }
        Ok(())
    }

    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<FdEvent>) -> io::Result<()> {
        // The entry count is bounded by the number of distinct fds, so it fits.
        let nfds = self.fds.len() as libc::nfds_t;
        // ppoll takes nanoseconds: a timer due in 300 µs is waited for 300 µs,
        // not rounded up to a whole millisecond as poll would need.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let n = {
            let ts = timeout.map(super::to_timespec);
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: the pointer and count describe exactly the initialised,
            // exclusively borrowed `self.fds`, which outlives the call; the
            // kernel only writes the `revents` fields of those entries (and
            // reads none when the vector is empty and its pointer dangling).
            // `ts_ptr` is null or points to `ts`, alive across the call; a null
            // signal mask leaves the mask alone.
            unsafe { libc::ppoll(self.fds.as_mut_ptr(), nfds, ts_ptr, std::ptr::null()) }
        };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        // SAFETY: as for ppoll above.
        let n = unsafe { libc::poll(self.fds.as_mut_ptr(), nfds, super::timeout_ms_ceil(timeout)) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EINTR) => Ok(()),
                _ => Err(err),
            };
        }
        // `n` counts the entries with nonzero revents, so once that many have
        // been seen the rest of the array is idle and need not be scanned.
        let mut remaining = n as usize;
        for pfd in &self.fds {
            if remaining == 0 {
                break;
            }
            if pfd.revents == 0 {
                continue;
            }
            remaining -= 1;
            let events = if pfd.revents & libc::POLLNVAL != 0 {
                Events::ERROR
            } else {
                // Hang-up and error are reported whatever was asked for;
                // a watcher only interested in reading must not be told
                // that it can write.
                readiness(pfd.revents) & interest(pfd.events)
            };
            if !events.is_empty() {
                out.push(FdEvent { fd: pfd.fd, events });
            }
        }
        Ok(())
    }

    fn backend_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::sys::test_util::{dup_onto, poll_once, DUE};

    /// Checks that `index` and `fds` agree both ways.
    fn assert_consistent(backend: &PollBackend) {
        for (pos, pfd) in backend.fds.iter().enumerate() {
            assert_eq!(backend.index[pfd.fd as usize], pos as u32);
        }
        let present = backend.index.iter().filter(|&&p| p != ABSENT).count();
        assert_eq!(present, backend.fds.len());
    }

    #[test]
    fn hang_up_is_masked_by_interest() {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        drop(b);
        drop(d);
        let mut p = PollBackend::new();
        p.modify(a.as_raw_fd(), Events::empty(), Events::READ, false)
            .unwrap();
        p.modify(c.as_raw_fd(), Events::empty(), Events::WRITE, false)
            .unwrap();
        let mut got = poll_once(&mut p, DUE);
        got.sort_by_key(|e| e.fd);
        let mut want = [
            FdEvent {
                fd: a.as_raw_fd(),
                events: Events::READ,
            },
            FdEvent {
                fd: c.as_raw_fd(),
                events: Events::WRITE,
            },
        ];
        want.sort_by_key(|e| e.fd);
        assert_eq!(got, want);
    }

    #[test]
    fn removal_stops_reports_and_keeps_index_consistent() {
        let pairs: Vec<_> = (0..3).map(|_| UnixStream::pair().unwrap()).collect();
        let [x, y, z] = [0, 1, 2].map(|i| pairs[i].0.as_raw_fd());
        let mut p = PollBackend::new();
        for fd in [x, y, z] {
            p.modify(fd, Events::empty(), Events::WRITE, false).unwrap();
        }
        assert_eq!(poll_once(&mut p, DUE).len(), 3);

        // Removing the first entry moves the last one into its place; the
        // change to `z` must reach the moved entry.
        p.modify(x, Events::WRITE, Events::empty(), false).unwrap();
        assert_consistent(&p);
        p.modify(z, Events::WRITE, Events::READ, false).unwrap();
        assert_consistent(&p);
        assert_eq!(
            poll_once(&mut p, DUE),
            [FdEvent {
                fd: y,
                events: Events::WRITE
            }]
        );

        p.modify(y, Events::WRITE, Events::empty(), false).unwrap();
        p.modify(z, Events::READ, Events::empty(), false).unwrap();
        assert_consistent(&p);
        assert!(p.fds.is_empty());
        assert!(poll_once(&mut p, Some(Duration::ZERO)).is_empty());

        // Removing an fd that was never added is a no-op.
        p.modify(x, Events::empty(), Events::empty(), false)
            .unwrap();
        assert_consistent(&p);
    }

    #[test]
    fn closed_fd_yields_error() {
        let (a, _b) = UnixStream::pair().unwrap();
        // A high number nothing else in the process allocates, so that no
        // other test thread can reuse it between the close and the poll.
        let fd = dup_onto(&a, 1571);
        let raw = fd.as_raw_fd();
        let mut p = PollBackend::new();
        p.modify(raw, Events::empty(), Events::READ, false).unwrap();
        drop(fd);
        assert_eq!(
            poll_once(&mut p, DUE),
            [FdEvent {
                fd: raw,
                events: Events::ERROR
            }]
        );
    }
}
