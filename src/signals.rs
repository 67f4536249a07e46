//! The process-wide side of signal watchers: one handler for every watched
//! signal, and a fixed table of the loops that watch signals.
//!
//! libev lets one loop own a signal. Here every loop that watches a signal
//! gets it: the handler marks the signal in each watching loop's entry and
//! writes that loop's eventfd; the loop then runs its watchers from inside
//! `run`, never from the handler. The handler touches only atomics and
//! `write(2)`, which are async-signal-safe.
//!
//! An entry's eventfd is created once and never closed, so the handler can
//! never write into an fd number that has since been reused for something
//! else; a loop that goes away leaves the entry (and its fd) to the next.

use std::io;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::sys::{eventfd, signal as sys_signal};
use crate::Error;

/// How many loops can watch signals at the same time.
pub(crate) const MAX_SIGNAL_LOOPS: usize = 64;

/// The highest signal number (Linux's `SIGRTMAX`, which fits one `u64`).
pub(crate) const MAX_SIGNAL: i32 = 64;

struct Entry {
    in_use: AtomicBool,
    /// The entry's eventfd, -1 until first used.
    fd: AtomicI32,
    /// Bit `n - 1` set: the loop watches signal `n`.
    watching: AtomicU64,
    /// Bit `n - 1` set: signal `n` arrived since the loop last looked.
    arrived: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)] // each array element is its own entry
const FREE: Entry = Entry {
    in_use: AtomicBool::new(false),
    fd: AtomicI32::new(-1),
    watching: AtomicU64::new(0),
    arrived: AtomicU64::new(0),
};

static ENTRIES: [Entry; MAX_SIGNAL_LOOPS] = [FREE; MAX_SIGNAL_LOOPS];

/// Per signal: how many loops watch it, and the disposition to restore
/// when the last stops.
struct Disposition {
    loops: usize,
    previous: sys_signal::Disposition,
}

static DISPOSITIONS: Mutex<Vec<Option<Disposition>>> = Mutex::new(Vec::new());

fn bit(signum: i32) -> u64 {
    1u64 << (signum - 1)
}

/// Signals a loop cannot watch: uncatchable ones, and the synchronous
/// faults, whose handler must act before the faulting code resumes.
pub(crate) fn check_signum(signum: i32) -> Result<(), Error> {
    if !(1..=MAX_SIGNAL).contains(&signum) {
        return Err(Error::InvalidArgument("signal number out of range 1..=64"));
    }
    match signum {
        libc::SIGKILL | libc::SIGSTOP => Err(Error::InvalidArgument(
            "SIGKILL and SIGSTOP cannot be caught",
        )),
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE => Err(Error::InvalidArgument(
            "synchronous fault signals cannot be delivered through a loop",
        )),
        _ if (32..sys_signal::sigrtmin()).contains(&signum) => Err(Error::InvalidArgument(
            "signals 32 up to SIGRTMIN are reserved by the C library",
        )),
        _ => Ok(()),
    }
}

extern "C" fn on_signal(signum: libc::c_int) {
    if !(1..=MAX_SIGNAL).contains(&signum) {
        return;
    }
    mark_arrived(signum);
}

/// What the handler does; also [`feed_signal`].
fn mark_arrived(signum: i32) {
    let b = bit(signum);
    for e in &ENTRIES {
        if e.watching.load(Ordering::Acquire) & b != 0 {
            e.arrived.fetch_or(b, Ordering::AcqRel);
            let fd = e.fd.load(Ordering::Acquire);
            if fd >= 0 {
                eventfd::signal(fd);
            }
        }
    }
}

/// Acts as if `signum` had arrived: every loop watching it runs its signal
/// watchers for it (libev's `ev_feed_signal`). Async-signal-safe, so an
/// application that installs its own handler for a signal can forward it to
/// the loops from there. Numbers outside 1..=64 are ignored.
pub fn feed_signal(signum: i32) {
    if (1..=MAX_SIGNAL).contains(&signum) {
        mark_arrived(signum);
    }
}

/// One loop's entry in the table; released when dropped.
#[derive(Debug)]
pub(crate) struct SignalEntry(usize);

impl SignalEntry {
    /// Takes a free entry.
    pub(crate) fn acquire() -> Result<SignalEntry, Error> {
        for (i, e) in ENTRIES.iter().enumerate() {
            if e.in_use
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                if e.fd.load(Ordering::Acquire) < 0 {
                    match eventfd::eventfd() {
                        // Never closed: see the module docs.
                        Ok(fd) => e.fd.store(fd.into_raw_fd(), Ordering::Release),
                        Err(err) => {
                            e.in_use.store(false, Ordering::Release);
                            return Err(Error::Io(err));
                        }
                    }
                }
                e.arrived.store(0, Ordering::SeqCst);
                eventfd::drain(e.fd.load(Ordering::Acquire));
                return Ok(SignalEntry(i));
            }
        }
        Err(Error::Io(io::Error::other(format!(
            "more than {MAX_SIGNAL_LOOPS} loops watch signals at once"
        ))))
    }

    fn entry(&self) -> &'static Entry {
        &ENTRIES[self.0]
    }

    /// The eventfd the handler writes to; open for the life of the process.
    pub(crate) fn fd(&self) -> RawFd {
        self.entry().fd.load(Ordering::Acquire)
    }

    /// Starts delivering `signum` to this loop, installing the handler if
    /// no loop watched it before.
    pub(crate) fn watch(&self, signum: i32) -> Result<(), Error> {
        let mut table = DISPOSITIONS.lock().unwrap_or_else(|p| p.into_inner());
        if table.len() <= signum as usize {
            table.resize_with(signum as usize + 1, || None);
        }
        // Mark first, so that a signal arriving while the handler goes in
        // is not missed.
        self.entry()
            .watching
            .fetch_or(bit(signum), Ordering::AcqRel);
        match &mut table[signum as usize] {
            Some(d) => d.loops += 1,
            slot @ None => match sys_signal::install(signum, on_signal) {
                Ok(previous) => *slot = Some(Disposition { loops: 1, previous }),
                Err(e) => {
                    self.entry()
                        .watching
                        .fetch_and(!bit(signum), Ordering::AcqRel);
                    return Err(Error::Io(e));
                }
            },
        }
        Ok(())
    }

    /// Stops delivering `signum` to this loop; the last loop to stop puts
    /// back the disposition that was there before the first started.
    pub(crate) fn unwatch(&self, signum: i32) {
        let mut table = DISPOSITIONS.lock().unwrap_or_else(|p| p.into_inner());
        let prev = self
            .entry()
            .watching
            .fetch_and(!bit(signum), Ordering::AcqRel);
        if prev & bit(signum) == 0 {
            return;
        }
        if let Some(slot) = table.get_mut(signum as usize) {
            if let Some(d) = slot {
                d.loops -= 1;
                if d.loops == 0 {
                    sys_signal::restore(signum, &d.previous);
                    *slot = None;
                }
            }
        }
    }

    /// Empties the eventfd and returns the signals that arrived since the
    /// last call. Draining first means a signal after it writes again.
    pub(crate) fn take_arrived(&self) -> u64 {
        eventfd::drain(self.fd());
        self.entry().arrived.swap(0, Ordering::AcqRel)
    }

    /// After `fork`, give the entry an eventfd of the child's own.
    pub(crate) fn renew_after_fork(&self) -> io::Result<()> {
        eventfd::renew(self.fd())
    }
}

impl Drop for SignalEntry {
    fn drop(&mut self) {
        let watching = self.entry().watching.load(Ordering::Acquire);
        for signum in 1..=MAX_SIGNAL {
            if watching & bit(signum) != 0 {
                self.unwatch(signum);
            }
        }
        self.entry().in_use.store(false, Ordering::Release);
    }
}
