//! Io watchers (libev's `ev_io`): readiness of a file descriptor,
//! level-triggered.

use std::any::Any;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use crate::handle::{IoId, WatcherKey};
use crate::watcher::{Kind, Slot};
use crate::{Ctx, Error, Events};

/// An owned io source, type-erased but still reachable by its type.
pub(crate) trait IoSource: Any {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<S: AsFd + 'static> IoSource for S {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The io part of a watcher slot.
pub(crate) struct IoData {
    pub fd: RawFd,
    pub interest: Events,
    /// The owned source, `None` for a raw fd.
    pub source: Option<Box<dyn IoSource>>,
    /// The fd was set since the watcher last started: the backend must not
    /// trust what it registered for this fd number before.
    pub fd_reset: bool,
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

impl<T> Ctx<T> {
    /// Creates a stopped io watcher that owns `source` (a socket, a pipe end,
    /// anything [`AsFd`]) and watches it for `interest` (READ, WRITE or both;
    /// empty is allowed and watches nothing).
    ///
    /// The watcher keeps the source open for as long as it exists, so the
    /// fd cannot be closed under it; [`io_source_mut`](Self::io_source_mut)
    /// reaches it from callbacks, and [`remove`](Self::remove) deregisters
    /// it from the kernel *before* closing it. Several watchers may watch
    /// one fd (pass `BorrowedFd<'static>` or an `Rc` for the others); the
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
    /// let id = lp.io(a, Events::READ, |ctx, got, id, _ev| {
    ///     let mut buf = [0u8; 16];
    ///     let n = ctx.io_source_mut::<UnixStream>(id).unwrap().read(&mut buf).unwrap();
    ///     got.extend_from_slice(&buf[..n]);
    ///     ctx.remove(id).unwrap(); // drops and closes the stream
    /// })?;
    /// lp.start(id)?;
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
    pub fn io<S, F>(&mut self, source: S, interest: Events, cb: F) -> Result<IoId, Error>
    where
        S: AsFd + 'static,
        F: FnMut(&mut Ctx<T>, &mut T, IoId, Events) + 'static,
    {
        check_interest(interest)?;
        let fd = source.as_fd().as_raw_fd();
        Ok(self.io_insert(fd, Some(Box::new(source)), interest, cb))
    }

    /// Creates a stopped io watcher on a raw fd, for ports of C code that
    /// manage fds themselves.
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
    pub unsafe fn io_raw<F>(&mut self, fd: RawFd, interest: Events, cb: F) -> Result<IoId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, IoId, Events) + 'static,
    {
        check_interest(interest)?;
        if fd < 0 {
            return Err(Error::InvalidArgument("fd must not be negative"));
        }
        Ok(self.io_insert(fd, None, interest, cb))
    }

    fn io_insert<F>(
        &mut self,
        fd: RawFd,
        source: Option<Box<dyn IoSource>>,
        interest: Events,
        mut cb: F,
    ) -> IoId
    where
        F: FnMut(&mut Ctx<T>, &mut T, IoId, Events) + 'static,
    {
        let kind = Kind::Io(IoData {
            fd,
            interest,
            source,
            fd_reset: true,
        });
        IoId(self.insert(kind, Box::new(move |c, d, k, e| cb(c, d, IoId(k), e))))
    }

    fn io_data(&self, id: IoId) -> Result<&IoData, Error> {
        match self.slots.get(id.0) {
            Some(Slot {
                kind: Kind::Io(io), ..
            }) => Ok(io),
            _ => Err(Error::StaleHandle),
        }
    }

    fn io_data_mut(&mut self, id: IoId) -> Result<(&mut IoData, bool), Error> {
        match self.slots.get_mut(id.0) {
            Some(Slot {
                kind: Kind::Io(io),
                active,
                ..
            }) => Ok((io, *active)),
            _ => Err(Error::StaleHandle),
        }
    }

    /// The fd the watcher watches.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn io_fd(&self, id: IoId) -> Result<RawFd, Error> {
        Ok(self.io_data(id)?.fd)
    }

    /// The watcher's interest.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn io_interest(&self, id: IoId) -> Result<Events, Error> {
        Ok(self.io_data(id)?.interest)
    }

    /// The source the watcher owns, as its concrete type.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed,
    /// [`Error::WrongSourceType`] if the source is not an `S` (or the
    /// watcher was made with [`io_raw`](Self::io_raw)).
    pub fn io_source<S: 'static>(&self, id: IoId) -> Result<&S, Error> {
        self.io_data(id)?
            .source
            .as_ref()
            .and_then(|s| s.as_any().downcast_ref())
            .ok_or(Error::WrongSourceType)
    }

    /// The source the watcher owns, mutably (to read from or write to it).
    ///
    /// # Errors
    ///
    /// As [`io_source`](Self::io_source).
    pub fn io_source_mut<S: 'static>(&mut self, id: IoId) -> Result<&mut S, Error> {
        self.io_data_mut(id)?
            .0
            .source
            .as_mut()
            .and_then(|s| s.as_any_mut().downcast_mut())
            .ok_or(Error::WrongSourceType)
    }

    /// Removes the watcher and hands back the source it owned, deregistered
    /// from the kernel and still open: for passing a connection on to other
    /// code, or to another watcher. The counterpart of [`io`](Self::io) that
    /// loses nothing the caller handed over.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::net::TcpStream;
    /// use std::os::unix::net::UnixStream;
    /// use evloop::{Error, Events, Loop};
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// let mut lp: Loop<()> = Loop::new()?;
    /// let id = lp.io(a, Events::READ, |_, _, _, _| {})?;
    /// lp.start(id)?;
    /// // The wrong type is refused and the watcher stays.
    /// assert!(matches!(lp.remove_io::<TcpStream>(id), Err(Error::WrongSourceType)));
    /// assert!(lp.is_active(id));
    /// let mut a: UnixStream = lp.remove_io(id)?;
    /// assert!(!lp.contains(id));
    /// b.write_all(b"x")?;
    /// let mut buf = [0u8; 1];
    /// a.read_exact(&mut buf)?; // still open, still ours
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`], or [`Error::WrongSourceType`] if the source
    /// is not an `S` (the watcher is then left as it was).
    pub fn remove_io<S: 'static>(&mut self, id: IoId) -> Result<S, Error> {
        self.io_source::<S>(id)?;
        self.stop_key(id.0);
        self.io_forget(id.0);
        self.callbacks.remove(id.0);
        let Some(Slot {
            kind:
                Kind::Io(IoData {
                    source: Some(source),
                    ..
                }),
            ..
        }) = self.slots.remove(id.0)
        else {
            unreachable!("checked above that the watcher owns an S")
        };
        match source.into_any().downcast::<S>() {
            Ok(s) => Ok(*s),
            Err(_) => unreachable!("checked above that the source is an S"),
        }
    }

    /// Changes what the watcher waits for (libev's `ev_io_modify`, but also
    /// allowed while active: the change reaches the kernel before the next
    /// poll).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`], or [`Error::InvalidArgument`] for bits other
    /// than READ and WRITE.
    pub fn set_io_interest(&mut self, id: IoId, interest: Events) -> Result<(), Error> {
        check_interest(interest)?;
        let (io, active) = self.io_data_mut(id)?;
        if io.interest == interest {
            return Ok(());
        }
        io.interest = interest;
        let fd = io.fd;
        if active {
            self.fds.set_interest(fd, id.0, interest);
        }
        Ok(())
    }

    /// Gives a stopped watcher a new source, returning the old one (if it
    /// owned one). The old fd is deregistered before the old source is
    /// handed back, so dropping it leaves nothing behind in the kernel.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`], or [`Error::Active`] if the watcher is active.
    pub fn set_io_source<S: AsFd + 'static>(
        &mut self,
        id: IoId,
        source: S,
    ) -> Result<Option<Box<dyn Any>>, Error> {
        let fd = source.as_fd().as_raw_fd();
        self.io_replace(id, fd, Some(Box::new(source)))
    }

    /// Gives a stopped watcher a new raw fd, returning the old source (if
    /// it owned one).
    ///
    /// # Safety
    ///
    /// As for [`io_raw`](Self::io_raw).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`], [`Error::Active`], or
    /// [`Error::InvalidArgument`] for a negative fd.
    pub unsafe fn set_io_raw_fd(
        &mut self,
        id: IoId,
        fd: RawFd,
    ) -> Result<Option<Box<dyn Any>>, Error> {
        if fd < 0 {
            return Err(Error::InvalidArgument("fd must not be negative"));
        }
        self.io_replace(id, fd, None)
    }

    fn io_replace(
        &mut self,
        id: IoId,
        fd: RawFd,
        source: Option<Box<dyn IoSource>>,
    ) -> Result<Option<Box<dyn Any>>, Error> {
        let (io, active) = self.io_data_mut(id)?;
        if active {
            return Err(Error::Active);
        }
        let old_fd = io.fd;
        let had_source = io.source.is_some();
        io.fd = fd;
        io.fd_reset = true;
        let old = std::mem::replace(&mut io.source, source);
        if had_source {
            self.flush_fd(old_fd);
        }
        Ok(old.map(|s| s.into_any()))
    }

    /// Applies a queued change of `fd` now, before its owner closes it.
    fn flush_fd(&mut self, fd: RawFd) {
        if self.fds.get(fd).is_some_and(|e| e.changed) {
            // A bad fd here is reported to its watchers; other errors will
            // resurface at the next poll.
            let _ = self.reify_one(fd);
        }
    }

    /// Before the slot (and the source it owns) is dropped.
    pub(crate) fn io_forget(&mut self, key: WatcherKey) {
        let Kind::Io(io) = &self.slots[key].kind else {
            return;
        };
        if io.source.is_some() {
            let fd = io.fd;
            self.flush_fd(fd);
        }
    }
}
