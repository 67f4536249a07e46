//! Io watchers (libev's `ev_io`): readiness of a file descriptor,
//! level-triggered; and the loop's io plumbing (fd changes to the backend,
//! readiness to pending events).

use std::any::Any;
use std::fmt;
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use super::{Callback, Contract, Kind};
use crate::backend::{FdEvent, ModifyError};
use crate::fd_table::FdTable;
use crate::handle::{typed_handle, WatcherKey};
use crate::inner::Inner;
use crate::{Ctx, Error, Events, Watcher};

typed_handle! {
    /// Handle of an io watcher (libev's `ev_io`) whose source is an `S`: a
    /// `TcpStream`, `UnixStream`, `OwnedFd`, anything [`AsFd`], or `RawFd` for
    /// a watcher made with [`Ctx::new_io_raw`]. The type makes
    /// [`Watcher::source`] hand back an `&S` without a downcast.
    IoId<S = RawFd>, Io
}

/// The io part of a watcher slot.
pub(crate) struct IoData {
    pub fd: RawFd,
    pub interest: Events,
    /// What the watcher owns: its source (an `S` of its `IoId<S>`), the
    /// `RawFd` of a raw watcher, or whatever an internal watcher keeps.
    pub source: Box<dyn Any>,
    /// The fd was set since the watcher last started: the backend must not
    /// trust what it registered for this fd number before.
    pub fd_reset: bool,
}

/// The loop's io state: which watchers are on each fd, and the readiness
/// buffer the backend fills.
#[derive(Default)]
pub(crate) struct IoState {
    pub fds: FdTable,
    /// Readiness reported by the last poll; kept for its capacity.
    events: Vec<FdEvent>,
}

pub(crate) struct Io;

impl Contract for Io {
    #[inline]
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        if let Kind::Io(io) = &mut inner.slots[key].kind {
            let reset = std::mem::take(&mut io.fd_reset);
            inner.kinds.io.fds.attach(io.fd, key, io.interest, reset);
        }
        Ok(())
    }

    #[inline]
    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        if let Kind::Io(io) = &inner.slots[key].kind {
            inner.kinds.io.fds.detach(io.fd, key);
        }
    }

    /// The fd may be closed right after (the source is dropped with the
    /// slot): its deregistration goes to the kernel now, while the fd is
    /// still open, so epoll is not left with a ghost of it.
    fn forget<T>(inner: &mut Inner<T>, key: WatcherKey) {
        if let Kind::Io(io) = &inner.slots[key].kind {
            flush_fd(inner, io.fd);
        }
    }
}

fn check_interest(interest: Events) -> Result<(), Error> {
    if Events::IO.contains(interest) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(
            "io interest may only hold READ and WRITE",
        ))
    }
}

/// Creates a stopped io watcher.
pub(crate) fn insert<T>(
    inner: &mut Inner<T>,
    fd: RawFd,
    source: Box<dyn Any>,
    interest: Events,
    cb: Callback<T>,
) -> WatcherKey {
    let kind = Kind::Io(IoData {
        fd,
        interest,
        source,
        fd_reset: true,
    });
    inner.insert(kind, cb)
}

/// Creates and starts an io watcher the loop keeps for itself, watching
/// `fd` for reading. `keep` is what it owns (the fd's owner, or `()` when
/// the caller guarantees the fd outlives the watcher).
pub(crate) fn internal<T>(
    inner: &mut Inner<T>,
    fd: RawFd,
    keep: Box<dyn Any>,
    cb: Callback<T>,
) -> WatcherKey {
    let key = insert(inner, fd, keep, Events::READ, cb);
    inner.make_internal(key);
    // An io watcher's start cannot fail.
    let _ = inner.start_key(key);
    key
}

/// Points an io watcher at another fd number (its source now has another
/// fd, or the embedded loop a new backend fd). The old number's
/// registration is dropped, the new one registered afresh.
pub(crate) fn retarget<T>(inner: &mut Inner<T>, key: WatcherKey, fd: RawFd) {
    let Some(slot) = inner.slots.get_mut(key) else {
        return;
    };
    let active = slot.active;
    let Kind::Io(io) = &mut slot.kind else {
        return;
    };
    retarget_data(&mut inner.kinds.io.fds, key, io, active, fd);
}

fn retarget_data(fds: &mut FdTable, key: WatcherKey, io: &mut IoData, active: bool, fd: RawFd) {
    if io.fd == fd {
        return;
    }
    if active {
        fds.detach(io.fd, key);
        fds.attach(fd, key, io.interest, true);
    } else {
        io.fd_reset = true;
    }
    io.fd = fd;
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped io watcher that owns `source` (a socket, a pipe end,
    /// anything [`AsFd`]) and watches it for `interest` (READ, WRITE or both;
    /// empty is allowed and watches nothing).
    ///
    /// The watcher keeps the source open for as long as it exists, so the
    /// fd cannot be closed under it: [`Watcher::source`] lends it for
    /// reading and writing, never for replacing; [`Watcher::remove`]
    /// deregisters it from the kernel *before* closing it, and
    /// [`Watcher::into_source`] hands it back. Several watchers may watch
    /// one fd (pass a `BorrowedFd<'static>` or an `Rc` for the others); the
    /// kernel is asked for the union of their interests.
    ///
    /// The callback gets the readiness (READ/WRITE), or ERROR together with
    /// its interest if the fd turned out to be invalid, in which case the
    /// watcher has been stopped.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use evloop::{Events, Loop, RunMode};
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// let mut lp: Loop<Vec<u8>> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let id = ctx.new_io(a, Events::READ, |ctx, got, id, _ev| {
    ///     let mut io = ctx.io(id).unwrap();
    ///     let mut buf = [0u8; 16];
    ///     let n = io.source().read(&mut buf).unwrap(); // `&UnixStream` reads
    ///     got.extend_from_slice(&buf[..n]);
    ///     io.remove(); // drops and closes the stream
    /// })?;
    /// ctx.start(id)?;
    /// b.write_all(b"hi")?;
    /// let mut got = Vec::new();
    /// lp.run(&mut got, RunMode::Default)?;
    /// assert_eq!(got, b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `interest` holds other bits.
    pub fn new_io<S, F>(&mut self, source: S, interest: Events, cb: F) -> Result<IoId<S>, Error>
    where
        S: AsFd + 'static,
        F: FnMut(&mut Ctx<'_, T>, &mut T, IoId<S>, Events) + 'static,
    {
        check_interest(interest)?;
        let fd = source.as_fd().as_raw_fd();
        let key = insert(self.inner, fd, Box::new(source), interest, super::wrap(cb));
        Ok(self.inner.handle(key))
    }

    /// Creates a stopped io watcher on a raw fd, for ports of C code that
    /// manage fds themselves. Its source is the `RawFd`.
    ///
    /// # Safety
    ///
    /// The caller keeps `fd` open, and refers to the same file, until the
    /// watcher is stopped and the loop has polled once more, or the watcher
    /// is removed. Closing a watched fd early is not undefined behaviour in
    /// the Rust sense (the loop never touches memory through it), but its
    /// events may then be lost or belong to another file that got the same
    /// number; with epoll, a duplicate of it elsewhere keeps the registration
    /// alive.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a negative fd or bad interest bits.
    #[allow(unsafe_code)] // an unsafe contract, no unsafe operation
    pub unsafe fn new_io_raw<F>(
        &mut self,
        fd: RawFd,
        interest: Events,
        cb: F,
    ) -> Result<IoId<RawFd>, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, IoId<RawFd>, Events) + 'static,
    {
        check_interest(interest)?;
        if fd < 0 {
            return Err(Error::InvalidArgument("fd must not be negative"));
        }
        let key = insert(self.inner, fd, Box::new(fd), interest, super::wrap(cb));
        Ok(self.inner.handle(key))
    }

    /// A view of an io watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn io<S: 'static>(&mut self, id: IoId<S>) -> Result<Watcher<'_, T, IoId<S>>, Error> {
        self.watcher(id)
    }

    /// Feeds an io event to every active io watcher on `fd` that is
    /// interested in it (libev's `ev_feed_fd_event`).
    pub fn feed_fd_event(&mut self, fd: RawFd, events: Events) {
        if fd >= 0 {
            fd_event(self.inner, fd, events & Events::IO);
        }
    }
}

impl<'a, T, S: 'static> Watcher<'a, T, IoId<S>> {
    fn data(&self) -> &IoData {
        match &self.inner.slots[self.key].kind {
            Kind::Io(io) => io,
            _ => unreachable!("an IoId resolves to an io watcher"),
        }
    }

    /// The fd it watches.
    pub fn fd(&self) -> RawFd {
        self.data().fd
    }

    /// Its interest.
    pub fn interest(&self) -> Events {
        self.data().interest
    }

    /// Changes what the watcher waits for (libev's `ev_io_modify`, but also
    /// allowed while active: the change reaches the kernel before the next
    /// poll).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for bits other than READ and WRITE.
    #[inline]
    pub fn set_interest(&mut self, interest: Events) -> Result<(), Error> {
        check_interest(interest)?;
        let key = self.key;
        let slot = &mut self.inner.slots[key];
        let Kind::Io(io) = &mut slot.kind else {
            unreachable!("an IoId resolves to an io watcher")
        };
        if io.interest != interest {
            io.interest = interest;
            if slot.active {
                self.inner.kinds.io.fds.set_interest(io.fd, key, interest);
            }
        }
        Ok(())
    }

    /// The source, to read from and write to (`&TcpStream`, `&UnixStream`
    /// and `&File` implement `Read` and `Write`). It cannot be replaced or
    /// closed through this: the loop has its fd registered.
    pub fn source(&self) -> &S {
        match self.data().source.downcast_ref() {
            Some(s) => s,
            None => unreachable!("an IoId<S> watcher owns an S"),
        }
    }

    /// Removes the watcher and hands back its source, deregistered from the
    /// kernel and still open: for passing a connection on to other code, or
    /// to another watcher. The counterpart of [`Ctx::new_io`] that loses
    /// nothing the caller handed over.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use evloop::{Events, Loop};
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// let mut lp: Loop<()> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let id = ctx.new_io(a, Events::READ, |_, _, _, _| {})?;
    /// ctx.start(id)?;
    /// let mut a: UnixStream = ctx.io(id)?.into_source();
    /// assert!(!ctx.contains(id));
    /// b.write_all(b"x")?;
    /// let mut buf = [0u8; 1];
    /// a.read_exact(&mut buf)?; // still open, still ours
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_source(self) -> S {
        match self.inner.remove_key(self.key).map(|s| s.kind) {
            Some(Kind::Io(io)) => match io.source.downcast() {
                Ok(s) => *s,
                Err(_) => unreachable!("an IoId<S> watcher owns an S"),
            },
            _ => unreachable!("an IoId resolves to an io watcher"),
        }
    }

    super::super::view::set_callback!(IoId<S>);
}

impl<'a, T, S: AsFd + 'static> Watcher<'a, T, IoId<S>> {
    /// The source, mutably, for sources whose reading or writing needs
    /// `&mut` (types that implement `Read`/`Write` only on `&mut self`).
    /// The guard reads and writes (and derefs to `&S`) but does not lend
    /// `&mut S`, so the source cannot be swapped for another; and if a
    /// `Read`/`Write` impl of the source changes its fd (even to another
    /// file at the same number), the loop watches the new one from when the
    /// guard is dropped. That renewal costs the epoll backend one
    /// `epoll_ctl` per guard at the next poll: use [`source`](Self::source)
    /// where `&S` reads and writes (sockets, files).
    pub fn source_mut(&mut self) -> SourceMut<'_, S> {
        let key = self.key;
        let inner = &mut *self.inner;
        let slot = &mut inner.slots[key];
        let active = slot.active;
        let Kind::Io(io) = &mut slot.kind else {
            unreachable!("an IoId resolves to an io watcher")
        };
        SourceMut {
            io,
            fds: &mut inner.kinds.io.fds,
            key,
            active,
            _s: PhantomData,
        }
    }

    /// Gives a stopped watcher a new source and returns the old one. The
    /// old fd is deregistered before the old source is handed back, so
    /// dropping it leaves nothing behind in the kernel.
    ///
    /// # Errors
    ///
    /// [`Error::Active`] if the watcher is active (the source is handed
    /// back in the error's place: nothing is lost).
    pub fn set_source(&mut self, source: S) -> Result<S, (Error, S)> {
        if self.is_active() {
            return Err((Error::Active, source));
        }
        let fd = source.as_fd().as_raw_fd();
        let old = replace(self.inner, self.key, fd, Box::new(source));
        match old.downcast() {
            Ok(s) => Ok(*s),
            Err(_) => unreachable!("an IoId<S> watcher owns an S"),
        }
    }
}

impl<'a, T> Watcher<'a, T, IoId<RawFd>> {
    /// Gives a stopped raw watcher another fd; returns the old one.
    ///
    /// # Safety
    ///
    /// As for [`Ctx::new_io_raw`].
    ///
    /// # Errors
    ///
    /// [`Error::Active`] if the watcher is active,
    /// [`Error::InvalidArgument`] for a negative fd.
    #[allow(unsafe_code)] // an unsafe contract, no unsafe operation
    pub unsafe fn set_fd(&mut self, fd: RawFd) -> Result<RawFd, Error> {
        if fd < 0 {
            return Err(Error::InvalidArgument("fd must not be negative"));
        }
        if self.is_active() {
            return Err(Error::Active);
        }
        let old = replace(self.inner, self.key, fd, Box::new(fd));
        Ok(old.downcast().map_or(-1, |b| *b))
    }
}

/// Gives a stopped watcher a new fd and what it owns; flushes the old fd's
/// pending deregistration first.
fn replace<T>(
    inner: &mut Inner<T>,
    key: WatcherKey,
    fd: RawFd,
    source: Box<dyn Any>,
) -> Box<dyn Any> {
    let Kind::Io(io) = &mut inner.slots[key].kind else {
        unreachable!("an IoId resolves to an io watcher")
    };
    let old_fd = io.fd;
    io.fd = fd;
    io.fd_reset = true;
    let old = std::mem::replace(&mut io.source, source);
    flush_fd(inner, old_fd);
    old
}

/// A source lent mutably by [`Watcher::source_mut`]: reads, writes and
/// derefs to `&S`, but cannot be swapped out. If the source's fd changed
/// while it was lent, the watcher follows it when the guard is dropped.
pub struct SourceMut<'a, S: AsFd + 'static> {
    io: &'a mut IoData,
    fds: &'a mut FdTable,
    key: WatcherKey,
    active: bool,
    _s: PhantomData<&'a mut S>,
}

impl<S: AsFd + 'static> SourceMut<'_, S> {
    fn get_mut(&mut self) -> &mut S {
        match self.io.source.downcast_mut() {
            Some(s) => s,
            None => unreachable!("an IoId<S> watcher owns an S"),
        }
    }
}

impl<S: AsFd + 'static> Deref for SourceMut<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        match self.io.source.downcast_ref() {
            Some(s) => s,
            None => unreachable!("an IoId<S> watcher owns an S"),
        }
    }
}

impl<S: AsFd + Read + 'static> Read for SourceMut<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.get_mut().read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
        self.get_mut().read_vectored(bufs)
    }
}

impl<S: AsFd + Write + 'static> Write for SourceMut<'_, S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.get_mut().write(buf)
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.get_mut().write_vectored(bufs)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.get_mut().flush()
    }
}

impl<S: AsFd + 'static> Drop for SourceMut<'_, S> {
    /// The source may have replaced its fd, even by another file at the
    /// same number (a reconnect that closes first and opens next gets the
    /// lowest free number back): the registration is renewed either way,
    /// which costs the epoll backend one `epoll_ctl` at the next poll.
    fn drop(&mut self) {
        let now = (**self).as_fd().as_raw_fd();
        if now == self.io.fd {
            if self.active {
                self.fds.reset(now);
            } else {
                self.io.fd_reset = true;
            }
        } else {
            retarget_data(self.fds, self.key, self.io, self.active, now);
        }
    }
}

impl<S: AsFd + fmt::Debug + 'static> fmt::Debug for SourceMut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SourceMut").field(&**self).finish()
    }
}

// ---------------------------------------------------------------- plumbing

/// Mirrors every changed fd's interest into the backend.
#[inline]
pub(crate) fn reify<T>(inner: &mut Inner<T>) -> Result<(), Error> {
    // Most iterations change no fd's interest: that check is inlined into
    // the loop, the work is not.
    if inner.kinds.io.fds.changes.is_empty() {
        return Ok(());
    }
    reify_changes(inner)
}

fn reify_changes<T>(inner: &mut Inner<T>) -> Result<(), Error> {
    // The list is taken out while it is applied, and put back with its
    // capacity: swapping two lists instead would leave one of them
    // empty, and the next burst of changes would regrow it.
    let mut changes = std::mem::take(&mut inner.kinds.io.fds.changes);
    let mut result = Ok(());
    for &fd in &changes {
        if let Err(e) = reify_one(inner, fd) {
            result = Err(e);
        }
    }
    changes.clear();
    // fds marked while applying (a bad fd's watchers were stopped), for
    // the next iteration; nearly always none, and then no allocation.
    let fds = &mut inner.kinds.io.fds;
    let marked = std::mem::replace(&mut fds.changes, changes);
    fds.changes.extend_from_slice(&marked);
    result
}

/// Applies the change of one fd at once.
fn reify_one<T>(inner: &mut Inner<T>, fd: RawFd) -> Result<(), Error> {
    let e = inner.kinds.io.fds.entry(fd);
    e.changed = false;
    let wanted = e.wanted();
    let reset = std::mem::take(&mut e.reset);
    let old = e.registered;
    // A reset matters only if something is to be registered afresh.
    let fresh = reset && !wanted.is_empty();
    if wanted == old && !fresh {
        return Ok(());
    }
    match inner.poller.modify(fd, old, wanted, reset) {
        Ok(()) => {
            inner.kinds.io.fds.entry(fd).registered = wanted;
            Ok(())
        }
        Err(ModifyError::BadFd(_)) => {
            inner.kinds.io.fds.entry(fd).registered = Events::empty();
            fd_kill(inner, fd);
            Ok(())
        }
        Err(ModifyError::Other(e)) => {
            // Out of memory or a kernel limit: the error goes to the
            // caller of `run`, and the change is tried again next time,
            // registering afresh since the kernel state is unknown.
            let fds = &mut inner.kinds.io.fds;
            let entry = fds.entry(fd);
            entry.registered = Events::empty();
            entry.reset = true;
            fds.mark_changed(fd);
            Err(Error::Io(e))
        }
    }
}

/// Applies a queued change of `fd` now, before its owner closes it.
fn flush_fd<T>(inner: &mut Inner<T>, fd: RawFd) {
    if inner.kinds.io.fds.get(fd).is_some_and(|e| e.changed) {
        // A bad fd here is reported to its watchers; other errors will
        // resurface at the next poll.
        let _ = reify_one(inner, fd);
    }
}

/// Waits for readiness (at most `timeout`) and queues the io events.
pub(crate) fn poll<T>(inner: &mut Inner<T>, timeout: Option<Duration>) -> Result<(), Error> {
    let mut events = std::mem::take(&mut inner.kinds.io.events);
    let polled = inner.poller.poll(timeout, &mut events);
    for ev in events.drain(..) {
        if ev.events == Events::ERROR {
            fd_kill(inner, ev.fd);
        } else {
            fd_event(inner, ev.fd, ev.events);
        }
    }
    inner.kinds.io.events = events;
    polled.map_err(Error::Io)
}

/// Queues the events of a ready fd for its watchers.
#[inline]
fn fd_event<T>(inner: &mut Inner<T>, fd: RawFd, events: Events) {
    let Some(entry) = inner.kinds.io.fds.get(fd) else {
        return;
    };
    for (key, interest) in entry.watchers() {
        let ev = interest & events;
        if !ev.is_empty() {
            if let Some(slot) = inner.slots.get_mut(key) {
                inner
                    .pending
                    .queue(&mut slot.pending, slot.priority, key, ev);
            }
        }
    }
}

/// The fd is bad: stop its watchers and tell each with an ERROR event.
fn fd_kill<T>(inner: &mut Inner<T>, fd: RawFd) {
    let Some(entry) = inner.kinds.io.fds.get(fd) else {
        return;
    };
    // Rare (an fd went bad): a short-lived copy of the list is fine.
    let watches: Vec<_> = entry.watchers().collect();
    for (key, interest) in watches {
        inner.stop_key(key);
        inner.queue_key(key, Events::ERROR | interest);
    }
}
