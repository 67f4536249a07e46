//! Embed watchers (libev's `ev_embed`): one loop driven by another.
//!
//! The inner loop must have a backend with a pollable fd (epoll): that fd
//! becomes readable when any fd of the inner loop is ready. The outer loop
//! watches it with an internal io watcher and *sweeps* the inner loop (one
//! non-blocking iteration) when it is; an internal prepare watcher applies
//! the inner loop's fd changes and arms an internal timer for the inner
//! loop's next timeout before the outer loop polls, so inner timers fire on
//! time too (libev leaves that to the user).

use std::os::fd::{AsFd, BorrowedFd};

use crate::handle::{EmbedId, IoId, PrepareId, TimerId, WatcherKey};
use crate::watcher::Kind;
use crate::{Ctx, Error, Events, Loop, RunMode};

/// The embed part of a watcher slot.
pub(crate) struct EmbedData {
    pub io: WatcherKey,
    pub prepare: WatcherKey,
    pub timer: WatcherKey,
    /// The error of the last failed sweep, until taken.
    pub error: Option<Error>,
}

/// What the internal io watcher owns: the inner loop and its state.
struct Embedded<U> {
    lp: Loop<U>,
    data: U,
}

impl<U> AsFd for Embedded<U> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.lp
            .backend_fd()
            .expect("embed() accepts only loops with a backend fd")
    }
}

impl<T> Ctx<T> {
    /// Creates a stopped embed watcher (libev's `ev_embed`): while active,
    /// this loop drives `inner`, whose callbacks get `data` as their state.
    /// Whenever the inner loop has events (ready fds, due timers), this loop
    /// runs one non-blocking iteration of it and then `cb` with
    /// [`Events::EMBED`] (or `EMBED | ERROR` if that iteration failed; the
    /// watcher has then stopped, and [`embed_take_error`](Self::embed_take_error)
    /// has the error).
    ///
    /// The inner loop and its state stay reachable with
    /// [`embedded_mut`](Self::embedded_mut), and come back with
    /// [`remove_embed`](Self::remove_embed).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Backend, Loop, RunMode};
    ///
    /// let mut inner: Loop<u32> = Loop::builder().backend(Backend::Epoll).build()?;
    /// let t = inner.timer(Duration::from_millis(1), Duration::ZERO, |_, n, _, _| *n += 1)?;
    /// inner.start(t)?;
    /// let mut outer: Loop<()> = Loop::new()?;
    /// let e = outer.embed(inner, 0u32, |ctx, _, id, _ev| {
    ///     let (_inner, n) = ctx.embedded_mut::<u32>(id).unwrap();
    ///     if *n == 1 {
    ///         ctx.stop(id).unwrap();
    ///     }
    /// })?;
    /// outer.start(e)?;
    /// outer.run(&mut (), RunMode::Default)?;
    /// let (_inner, n) = outer.remove_embed::<u32>(e)?;
    /// assert_eq!(n, 1);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `inner` has no backend fd (poll and
    /// select have none; use epoll for loops to be embedded).
    pub fn embed<U, F>(&mut self, inner: Loop<U>, data: U, mut cb: F) -> Result<EmbedId, Error>
    where
        U: 'static,
        F: FnMut(&mut Ctx<T>, &mut T, EmbedId, Events) + 'static,
    {
        if inner.backend_fd().is_none() {
            return Err(Error::InvalidArgument(
                "only a loop with a backend fd (epoll) can be embedded",
            ));
        }
        // Keys of the internal watchers are filled in below; the slot
        // exists first so that their closures can name it.
        let key = self.insert(
            Kind::Embed(Box::new(EmbedData {
                io: WatcherKey::default(),
                prepare: WatcherKey::default(),
                timer: WatcherKey::default(),
                error: None,
            })),
            Box::new(move |c, d, k, e| cb(c, d, EmbedId(k), e)),
        );
        let io = self.io(
            Embedded { lp: inner, data },
            Events::READ,
            move |ctx, _, _, _| {
                ctx.embed_sweep_key::<U>(key);
            },
        )?;
        let timer = self.timer(
            std::time::Duration::ZERO,
            std::time::Duration::ZERO,
            move |ctx, _, _, _| ctx.embed_sweep_key::<U>(key),
        )?;
        let prepare = self.prepare(move |ctx, _, _, _| ctx.embed_arm::<U>(key))?;
        for k in [io.0, timer.0, prepare.0] {
            self.slots[k].keepalive = false;
        }
        if let Kind::Embed(e) = &mut self.slots[key].kind {
            e.io = io.0;
            e.prepare = prepare.0;
            e.timer = timer.0;
        }
        Ok(EmbedId(key))
    }

    /// The embedded loop and its state.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed,
    /// [`Error::WrongSourceType`] if its state is not a `U`.
    pub fn embedded_mut<U: 'static>(
        &mut self,
        id: EmbedId,
    ) -> Result<(&mut Loop<U>, &mut U), Error> {
        let io = self.embed_data(id.0)?.io;
        let e = self.io_source_mut::<Embedded<U>>(IoId(io))?;
        Ok((&mut e.lp, &mut e.data))
    }

    /// Removes an embed watcher and gives back the inner loop and its state.
    ///
    /// # Errors
    ///
    /// As [`embedded_mut`](Self::embedded_mut); on error nothing is removed.
    pub fn remove_embed<U: 'static>(&mut self, id: EmbedId) -> Result<(Loop<U>, U), Error> {
        let e = self.embed_data(id.0)?;
        let (io, prepare, timer) = (e.io, e.prepare, e.timer);
        self.io_source::<Embedded<U>>(IoId(io))?;
        self.stop_key(id.0);
        self.remove(PrepareId(prepare))?;
        self.remove(TimerId(timer))?;
        let inner = self.remove_io::<Embedded<U>>(IoId(io))?;
        if let Some(Kind::Embed(e)) = self.slots.get_mut(id.0).map(|s| &mut s.kind) {
            // Already removed above; the slot must not remove them again.
            e.io = WatcherKey::default();
            e.prepare = WatcherKey::default();
            e.timer = WatcherKey::default();
        }
        self.remove(id)?;
        Ok((inner.lp, inner.data))
    }

    /// Takes the error of the last failed sweep, if any.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn embed_take_error(&mut self, id: EmbedId) -> Result<Option<Error>, Error> {
        match &mut self.slots.get_mut(id.0).ok_or(Error::StaleHandle)?.kind {
            Kind::Embed(e) => Ok(e.error.take()),
            _ => Err(Error::StaleHandle),
        }
    }

    fn embed_data(&self, key: WatcherKey) -> Result<&EmbedData, Error> {
        match &self.slots.get(key).ok_or(Error::StaleHandle)?.kind {
            Kind::Embed(e) => Ok(e),
            _ => Err(Error::StaleHandle),
        }
    }

    pub(crate) fn embed_start(&mut self, key: WatcherKey) -> Result<(), Error> {
        let e = self.embed_data(key)?;
        let (io, prepare) = (e.io, e.prepare);
        self.start(IoId(io))?;
        self.start(PrepareId(prepare))
    }

    pub(crate) fn embed_stop(&mut self, key: WatcherKey) {
        if let Ok(e) = self.embed_data(key) {
            let keys = [e.io, e.prepare, e.timer];
            for k in keys {
                self.stop_key(k);
            }
        }
    }

    pub(crate) fn embed_forget(&mut self, key: WatcherKey) {
        if let Ok(e) = self.embed_data(key) {
            let (io, prepare, timer) = (e.io, e.prepare, e.timer);
            let _ = self.remove(IoId(io));
            let _ = self.remove(PrepareId(prepare));
            let _ = self.remove(TimerId(timer));
        }
    }

    /// One non-blocking iteration of the inner loop, then the user's
    /// callback.
    fn embed_sweep_key<U: 'static>(&mut self, key: WatcherKey) {
        let Ok(io) = self.embed_data(key).map(|e| e.io) else {
            return;
        };
        let Ok(e) = self.io_source_mut::<Embedded<U>>(IoId(io)) else {
            return;
        };
        match e.lp.run(&mut e.data, RunMode::NoWait) {
            Ok(_) => self.queue_key(key, Events::EMBED),
            Err(err) => {
                self.stop_key(key);
                if let Some(Kind::Embed(e)) = self.slots.get_mut(key).map(|s| &mut s.kind) {
                    e.error = Some(err);
                }
                self.queue_key(key, Events::EMBED | Events::ERROR);
            }
        }
    }

    /// Before this loop polls: the inner loop's fd changes go to its
    /// backend, and the internal timer covers its next timeout.
    fn embed_arm<U: 'static>(&mut self, key: WatcherKey) {
        let Ok((io, timer)) = self.embed_data(key).map(|e| (e.io, e.timer)) else {
            return;
        };
        let Ok(e) = self.io_source_mut::<Embedded<U>>(IoId(io)) else {
            return;
        };
        let next = match e.lp.flush_fd_changes() {
            Ok(()) => e.lp.next_timeout(),
            // Let the sweep meet the error and report it.
            Err(_) => Some(std::time::Duration::ZERO),
        };
        let timer = TimerId(timer);
        match next {
            Some(after) => {
                let _ = self.stop(timer);
                let _ = self.set_timer(timer, after, std::time::Duration::ZERO);
                let _ = self.start(timer);
            }
            None => {
                let _ = self.stop(timer);
            }
        }
    }
}
