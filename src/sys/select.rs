//! The `select(2)` backend.
//!
//! `fd_set` is a fixed `FD_SETSIZE` (1024) bits, but the kernel only reads
//! as many bits as `nfds` says. Like libev on Linux, this backend keeps its
//! own bitmaps of native `unsigned long` words, grown to the highest fd, and
//! hands them to `select` cast to `fd_set`, so fds above 1024 work. That is
//! the layout glibc and musl use for `fd_set` (bit `fd % W` of word `fd / W`),
//! so the cast only reinterprets memory the kernel expects anyway.

use std::collections::TryReserveError;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::ptr;
use std::time::Duration;

use crate::backend::{Backend, FdEvent, ModifyError, Poller};
use crate::Events;

/// One word of an fd bitmap: `fd_set`'s `fd_mask` on Linux.
type Word = libc::c_ulong;

/// The number of fds one [`Word`] covers.
const WORD_BITS: usize = Word::BITS as usize;

/// The longest wait handed to the kernel. Darwin rejects `tv_sec` above 10^8
/// with `EINVAL` and a huge `u64` would turn negative as `time_t`; waking
/// after three years is harmless because the loop just polls again.
const MAX_TIMEOUT_SECS: u64 = 100_000_000;

/// The `select(2)` backend.
#[derive(Debug, Default)]
pub(crate) struct Select {
    /// Read interest, one bit per fd.
    read: Vec<Word>,
    /// Write interest, one bit per fd; always as long as `read`.
    write: Vec<Word>,
    /// The copy of `read` the kernel overwrites with the readable fds, kept
    /// between calls so that polling does not allocate.
    read_out: Vec<Word>,
    /// The copy of `write` the kernel overwrites with the writable fds.
    write_out: Vec<Word>,
    /// One more than the highest registered fd, or an upper bound of it when
    /// `nfds_stale` (0 when nothing is registered).
    nfds: usize,
    /// The highest fd was removed: `nfds` is recomputed at the next poll, so
    /// that a burst of removals costs one scan instead of one each.
    nfds_stale: bool,
}

impl Select {
    /// An empty backend; nothing is asked of the kernel until `poll`.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Makes `nfds` exact again by finding the highest word with any interest.
    fn recompute_nfds(&mut self) {
        let words = self.nfds.div_ceil(WORD_BITS);
        self.nfds = (0..words)
            .rev()
            .find_map(|i| {
                let any = self.read[i] | self.write[i];
                (any != 0).then(|| i * WORD_BITS + (WORD_BITS - any.leading_zeros() as usize))
            })
            .unwrap_or(0);
        self.nfds_stale = false;
    }

    /// After `select` failed with `EBADF`: reports every registered fd that
    /// is no longer open, since the kernel does not say which one it was.
    fn report_bad_fds(&self, words: usize, out: &mut Vec<FdEvent>) {
        for (i, (&r, &w)) in self.read[..words]
            .iter()
            .zip(&self.write[..words])
            .enumerate()
        {
            for bit in set_bits(r | w) {
                // Fits: registered fds came in as non-negative `RawFd`s.
                let fd = (i * WORD_BITS + bit) as RawFd;
                // SAFETY: F_GETFD takes no third argument and only reads the
                // descriptor table; an fd that is not open just fails with EBADF.
                let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
                if flags == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EBADF) {
                    out.push(FdEvent {
                        fd,
                        events: Events::ERROR,
                    });
                }
            }
        }
    }
}

/// The positions of the set bits of `word`, lowest first.
fn set_bits(mut word: Word) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if word == 0 {
            return None;
        }
        let bit = word.trailing_zeros() as usize;
        word &= word - 1;
        Some(bit)
    })
}

/// `timeout` as a `timeval`, rounded up to whole microseconds so that the
/// loop never wakes before a timer is due.
fn to_timeval(timeout: Duration) -> libc::timeval {
    let mut secs = timeout.as_secs();
    let mut micros = timeout.subsec_nanos().div_ceil(1000);
    if micros == 1_000_000 {
        secs = secs.saturating_add(1);
        micros = 0;
    }
    libc::timeval {
        tv_sec: secs.min(MAX_TIMEOUT_SECS) as libc::time_t,
        tv_usec: micros as libc::suseconds_t,
    }
}

/// The error `modify` reports when growing the bitmaps fails.
fn out_of_memory(_: TryReserveError) -> ModifyError {
    ModifyError::Other(io::ErrorKind::OutOfMemory.into())
}

impl Poller for Select {
    fn kind(&self) -> Backend {
        Backend::Select
    }

    // Setting or clearing a bit is idempotent, and the bitmaps are the only
    // truth select sees; `old` and `reset` only say when an fd is new here.
    fn modify(
        &mut self,
        fd: RawFd,
        old: Events,
        new: Events,
        reset: bool,
    ) -> Result<(), ModifyError> {
        let Ok(slot) = usize::try_from(fd) else {
            return Err(ModifyError::BadFd(io::Error::from_raw_os_error(
                libc::EBADF,
            )));
        };
        let word = slot / WORD_BITS;
        let bit: Word = 1 << (slot % WORD_BITS);
        let wanted = !(new & Events::IO).is_empty();
        // Linux clamps `nfds` to the size of the fd table, so select never
        // sees (nor fails with EBADF on) a closed fd above it: check a new
        // fd here, or the loop would wait on it for ever.
        if wanted && (old.is_empty() || reset) {
            // SAFETY: F_GETFD takes no third argument and only reads the
            // descriptor table; an fd that is not open just fails with EBADF.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
                return Err(ModifyError::BadFd(io::Error::last_os_error()));
            }
        }
        if word >= self.read.len() {
            if !wanted {
                // Never registered: nothing to clear.
                return Ok(());
            }
            let extra = word + 1 - self.read.len();
            self.read.try_reserve(extra).map_err(out_of_memory)?;
            self.write.try_reserve(extra).map_err(out_of_memory)?;
            self.read_out.try_reserve(word + 1).map_err(out_of_memory)?;
            self.write_out
                .try_reserve(word + 1)
                .map_err(out_of_memory)?;
            self.read.resize(word + 1, 0);
            self.write.resize(word + 1, 0);
        }
        for (set, on) in [
            (&mut self.read, new.contains(Events::READ)),
            (&mut self.write, new.contains(Events::WRITE)),
        ] {
            if on {
                set[word] |= bit;
            } else {
                set[word] &= !bit;
            }
        }
        if wanted {
            // A stale `nfds` stays an upper bound, which is all it promises.
            self.nfds = self.nfds.max(slot + 1);
        } else if slot + 1 == self.nfds {
            self.nfds_stale = true;
        }
        Ok(())
    }

    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<FdEvent>) -> io::Result<()> {
        if self.nfds_stale {
            self.recompute_nfds();
        }
        let words = self.nfds.div_ceil(WORD_BITS);
        // The kernel overwrites the sets it is given, so it gets copies.
        // The copies never outgrow what `modify` reserved: no allocation here.
        self.read_out.clear();
        self.read_out.extend_from_slice(&self.read[..words]);
        self.write_out.clear();
        self.write_out.extend_from_slice(&self.write[..words]);

        // With nothing registered the call is a plain sleep, and null sets
        // keep the kernel away from the empty vectors' dangling pointers.
        let (read_set, write_set) = if words == 0 {
            (ptr::null_mut(), ptr::null_mut())
        } else {
            (
                self.read_out.as_mut_ptr().cast::<libc::fd_set>(),
                self.write_out.as_mut_ptr().cast::<libc::fd_set>(),
            )
        };
        let mut tv;
        let tv_ptr = match timeout {
            None => ptr::null_mut(),
            Some(d) => {
                tv = to_timeval(d);
                &raw mut tv
            }
        };
        // An fd beyond `c_int` cannot exist; saturating would only make the
        // kernel read less than the buffers hold.
        let nfds = libc::c_int::try_from(self.nfds).unwrap_or(libc::c_int::MAX);
        // SAFETY: each set pointer is null or points to `words` initialised,
        // exclusively borrowed words, which cover the `nfds` bits the kernel
        // reads and writes (it works in whole `unsigned long`s on Linux, the
        // unit of these vectors); the vectors are aligned for `fd_set`, whose
        // elements are `unsigned long` too. `tv_ptr` is null or points to
        // `tv`, alive until the call returns.
        let n = unsafe { libc::select(nfds, read_set, write_set, ptr::null_mut(), tv_ptr) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EINTR) => Ok(()),
                // The result sets are undefined now; the loop stops the
                // watchers of the bad fds, and the next poll goes on.
                Some(libc::EBADF) => {
                    self.report_bad_fds(words, out);
                    Ok(())
                }
                _ => Err(err),
            };
        }
        // `n` counts set bits over both sets; once all are seen, stop
        // scanning the rest of the bitmaps.
        let mut remaining = n as usize;
        for (i, (&r, &w)) in self.read_out.iter().zip(&self.write_out).enumerate() {
            if remaining == 0 {
                break;
            }
            for bit in set_bits(r | w) {
                let mask: Word = 1 << bit;
                let mut events = Events::empty();
                if r & mask != 0 {
                    events |= Events::READ;
                    remaining = remaining.saturating_sub(1);
                }
                if w & mask != 0 {
                    events |= Events::WRITE;
                    remaining = remaining.saturating_sub(1);
                }
                out.push(FdEvent {
                    // Fits: the bit was set by `modify` for a valid `RawFd`.
                    fd: (i * WORD_BITS + bit) as RawFd,
                    events,
                });
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
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::sys::test_util::{dup_onto, poll_once, DUE};

    #[test]
    fn removal_stops_reports() {
        let (a, _b) = UnixStream::pair().unwrap();
        let (c, _d) = UnixStream::pair().unwrap();
        let mut s = Select::new();
        for fd in [a.as_raw_fd(), c.as_raw_fd()] {
            s.modify(fd, Events::empty(), Events::WRITE, false).unwrap();
        }
        assert_eq!(poll_once(&mut s, DUE).len(), 2);
        s.modify(a.as_raw_fd(), Events::WRITE, Events::empty(), false)
            .unwrap();
        assert_eq!(
            poll_once(&mut s, DUE),
            [FdEvent {
                fd: c.as_raw_fd(),
                events: Events::WRITE
            }]
        );
        s.modify(c.as_raw_fd(), Events::WRITE, Events::empty(), false)
            .unwrap();
        assert!(poll_once(&mut s, Some(Duration::ZERO)).is_empty());
        assert_eq!(s.nfds, 0);
    }

    #[test]
    fn fds_above_fd_setsize_work() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (c, _d) = UnixStream::pair().unwrap();
        let high = dup_onto(&a, 1500);
        let mut s = Select::new();
        s.modify(c.as_raw_fd(), Events::empty(), Events::WRITE, false)
            .unwrap();
        s.modify(high.as_raw_fd(), Events::empty(), Events::READ, false)
            .unwrap();
        assert_eq!(s.nfds, 1501);
        assert_eq!(
            poll_once(&mut s, DUE),
            [FdEvent {
                fd: c.as_raw_fd(),
                events: Events::WRITE
            }]
        );
        b.write_all(b"x").unwrap();
        assert_eq!(
            poll_once(&mut s, DUE),
            [
                FdEvent {
                    fd: c.as_raw_fd(),
                    events: Events::WRITE
                },
                FdEvent {
                    fd: 1500,
                    events: Events::READ
                },
            ]
        );

        // Removing the highest fd shrinks `nfds` back at the next poll.
        s.modify(high.as_raw_fd(), Events::READ, Events::empty(), false)
            .unwrap();
        poll_once(&mut s, Some(Duration::ZERO));
        assert_eq!(s.nfds, c.as_raw_fd() as usize + 1);
        drop(high);
    }

    #[test]
    fn closed_fd_yields_error() {
        let (a, _b) = UnixStream::pair().unwrap();
        let (c, _d) = UnixStream::pair().unwrap();
        // A high number nothing else in the process allocates, so that no
        // other test thread can reuse it between the close and the poll.
        let fd = dup_onto(&a, 1537);
        let raw = fd.as_raw_fd();
        let mut s = Select::new();
        s.modify(raw, Events::empty(), Events::READ, false).unwrap();
        s.modify(c.as_raw_fd(), Events::empty(), Events::WRITE, false)
            .unwrap();
        drop(fd);
        // Only the bad fd: the ready sets are undefined after EBADF.
        assert_eq!(
            poll_once(&mut s, DUE),
            [FdEvent {
                fd: raw,
                events: Events::ERROR
            }]
        );
        s.modify(raw, Events::READ, Events::empty(), false).unwrap();
        assert_eq!(
            poll_once(&mut s, DUE),
            [FdEvent {
                fd: c.as_raw_fd(),
                events: Events::WRITE
            }]
        );
    }

    #[test]
    fn timeval_rounds_up() {
        let tv = to_timeval(Duration::from_nanos(1));
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 1));
        let tv = to_timeval(Duration::new(2, 999_999_001));
        assert_eq!((tv.tv_sec, tv.tv_usec), (3, 0));
        let tv = to_timeval(Duration::new(1, 5_000));
        assert_eq!((tv.tv_sec, tv.tv_usec), (1, 5));
        let tv = to_timeval(Duration::MAX);
        assert_eq!(
            (tv.tv_sec, tv.tv_usec),
            (MAX_TIMEOUT_SECS as libc::time_t, 0)
        );
    }
}
