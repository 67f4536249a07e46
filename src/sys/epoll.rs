//! Linux epoll.
//!
//! epoll registers *file descriptions*, not fd numbers: a registration
//! outlives `close(fd)` when the description is still open elsewhere (a
//! `dup`, a child process), and keeps reporting events under the old number.
//! As libev does, every registration carries a per-fd generation in the high
//! 32 bits of its event data; an event whose generation is not the current
//! one belongs to such a ghost, and the only way to get rid of a ghost is to
//! rebuild the epoll set from scratch, which `poll` then does.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{timeout_ms_ceil, to_timespec};
use crate::backend::{Backend, FdEvent, ModifyError, Poller};
use crate::Events;

/// Initial and minimum number of events fetched per `epoll_wait`.
const MIN_EVENTS: usize = 64;

/// What epoll knows about one fd number.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// The interest registered in the kernel (empty = not registered).
    events: Events,
    /// Bumped on every `EPOLL_CTL_ADD`; travels in the event data.
    generation: u32,
    /// The fd could not be added because it is a regular file or similar
    /// (`EPERM`): it is reported ready on every poll, as poll(2) would.
    always_ready: bool,
}

/// The epoll backend.
pub(crate) struct Epoll {
    epfd: OwnedFd,
    slots: Vec<Slot>,
    events: Vec<libc::epoll_event>,
    /// fds registered as `always_ready`, polled with a zero timeout.
    always_ready: Vec<RawFd>,
    /// A ghost was seen: rebuild the set before the next wait.
    rebuild: bool,
    /// `epoll_pwait2` (nanosecond timeouts) may be tried.
    pwait2: bool,
    /// How many times the set was rebuilt (see `Poller::epoch`).
    rebuilds: u64,
}

fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1 takes no pointers; a non-negative return is a
    // fresh fd that nothing else owns.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by the kernel and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn to_epoll(ev: Events) -> u32 {
    let mut bits = 0;
    if ev.contains(Events::READ) {
        bits |= libc::EPOLLIN as u32;
    }
    if ev.contains(Events::WRITE) {
        bits |= libc::EPOLLOUT as u32;
    }
    bits
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Epoll {
            epfd: epoll_create()?,
            slots: Vec::new(),
            events: Vec::with_capacity(MIN_EVENTS),
            always_ready: Vec::new(),
            rebuild: false,
            pwait2: true,
            rebuilds: 0,
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: Events, generation: u32) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: to_epoll(events),
            u64: (fd as u32 as u64) | ((generation as u64) << 32),
        };
        // SAFETY: `ev` is a valid epoll_event that lives across the call;
        // epoll_ctl does not keep the pointer.
        let r = unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn add(&mut self, fd: RawFd, new: Events) -> Result<(), ModifyError> {
        let slot = &mut self.slots[fd as usize];
        slot.generation = slot.generation.wrapping_add(1);
        let generation = slot.generation;
        match self.ctl(libc::EPOLL_CTL_ADD, fd, new, generation) {
            Ok(()) => Ok(()),
            // Registered already: under an old generation, or by a reset of
            // the watcher's fd. Re-stamp it with the current one.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => self
                .ctl(libc::EPOLL_CTL_MOD, fd, new, generation)
                .map_err(classify),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let slot = &mut self.slots[fd as usize];
                if !slot.always_ready {
                    slot.always_ready = true;
                    self.always_ready.push(fd);
                }
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }

    fn drop_always_ready(&mut self, fd: RawFd) {
        if std::mem::take(&mut self.slots[fd as usize].always_ready) {
            self.always_ready.retain(|&f| f != fd);
        }
    }

    /// One `epoll_wait`, or `epoll_pwait2` when the timeout has a part below
    /// a millisecond: epoll_wait would round a timer due in 300 µs up to
    /// 1 ms and fire it late. Kernels before 5.11 lack epoll_pwait2
    /// (ENOSYS; seccomp filters may say EPERM): then it is not tried again.
    fn wait(&mut self, timeout: Option<Duration>) -> libc::c_int {
        let cap = self.events.capacity() as libc::c_int;
        if let Some(d) = timeout.filter(|d| self.pwait2 && d.subsec_nanos() % 1_000_000 != 0) {
            let ts = to_timespec(d);
            // SAFETY: the kernel writes at most `cap` events into the vector's
            // spare capacity, which is allocated and properly aligned; `ts`
            // lives across the call; a null signal mask leaves it alone.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.epfd.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    cap,
                    &ts as *const libc::timespec,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            } as libc::c_int;
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::ENOSYS) | Some(libc::EPERM) if n < 0 => self.pwait2 = false,
                _ => return n,
            }
        }
        // SAFETY: as above.
        unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                cap,
                timeout_ms_ceil(timeout),
            )
        }
    }

    /// Throws the kernel set away and registers every fd again, dropping any
    /// ghost registrations with it.
    fn rebuild_set(&mut self) -> io::Result<()> {
        self.rebuild = false;
        self.epfd = epoll_create()?;
        self.rebuilds += 1;
        for fd in 0..self.slots.len() {
            let slot = self.slots[fd];
            if slot.events.is_empty() || slot.always_ready {
                continue;
            }
            let fd = fd as RawFd;
            if let Err(ModifyError::Other(e)) = self.add(fd, slot.events) {
                return Err(e);
            }
            // A BadFd here means the fd was closed without stopping its
            // watcher; it then never reports again, as with any closed fd.
        }
        Ok(())
    }
}

fn classify(e: io::Error) -> ModifyError {
    match e.raw_os_error() {
        Some(libc::EBADF) | Some(libc::EPERM) | Some(libc::EINVAL) | Some(libc::ENOENT) => {
            ModifyError::BadFd(e)
        }
        _ => ModifyError::Other(e),
    }
}

impl Poller for Epoll {
    fn kind(&self) -> Backend {
        Backend::Epoll
    }

    fn modify(
        &mut self,
        fd: RawFd,
        old: Events,
        new: Events,
        reset: bool,
    ) -> Result<(), ModifyError> {
        if fd < 0 {
            return Err(ModifyError::BadFd(io::Error::from_raw_os_error(
                libc::EBADF,
            )));
        }
        let idx = fd as usize;
        if idx >= self.slots.len() {
            self.slots.resize(idx + 1, Slot::default());
        }
        debug_assert_eq!(self.slots[idx].events, old);
        let result = if new.is_empty() {
            self.drop_always_ready(fd);
            let generation = self.slots[idx].generation;
            match self.ctl(libc::EPOLL_CTL_DEL, fd, Events::empty(), generation) {
                Ok(()) => Ok(()),
                Err(_) => {
                    // The fd was closed (or replaced) before we could remove
                    // it. If its description lives on elsewhere the kernel
                    // keeps a ghost under the current generation; moving to a
                    // new generation makes its events recognisable.
                    self.slots[idx].generation = self.slots[idx].generation.wrapping_add(1);
                    Ok(())
                }
            }
        } else if old.is_empty() || reset {
            self.drop_always_ready(fd);
            self.add(fd, new)
        } else if self.slots[idx].always_ready {
            Ok(())
        } else {
            let generation = self.slots[idx].generation;
            match self.ctl(libc::EPOLL_CTL_MOD, fd, new, generation) {
                Ok(()) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => self.add(fd, new),
                Err(e) => Err(classify(e)),
            }
        };
        self.slots[idx].events = if result.is_ok() { new } else { Events::empty() };
        result
    }

    fn poll(&mut self, timeout: Option<Duration>, out: &mut Vec<FdEvent>) -> io::Result<()> {
        if self.rebuild {
            self.rebuild_set()?;
        }
        let timeout = if self.always_ready.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        let n = self.wait(timeout);
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::EINTR) {
                Ok(())
            } else {
                Err(e)
            };
        }
        let n = n as usize;
        let cap = self.events.capacity();
        // SAFETY: epoll_wait initialised the first n entries.
        unsafe { self.events.set_len(n) };
        for ev in &self.events {
            let fd = ev.u64 as u32 as RawFd;
            let generation = (ev.u64 >> 32) as u32;
            let Some(slot) = self.slots.get(fd as usize) else {
                self.rebuild = true;
                continue;
            };
            if slot.generation != generation {
                self.rebuild = true;
                continue;
            }
            let bits = ev.events;
            let mut events = Events::empty();
            if bits & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) as u32 != 0
            {
                events |= Events::READ;
            }
            if bits & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                events |= Events::WRITE;
            }
            events &= slot.events;
            if !events.is_empty() {
                out.push(FdEvent { fd, events });
            }
        }
        for &fd in &self.always_ready {
            out.push(FdEvent {
                fd,
                events: self.slots[fd as usize].events,
            });
        }
        // A full buffer means more were ready: fetch more next time.
        if n == cap {
            self.events.reserve(cap);
        }
        self.events.clear();
        Ok(())
    }

    fn backend_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.epfd.as_fd())
    }

    fn epoch(&self) -> u64 {
        self.rebuilds
    }
}
