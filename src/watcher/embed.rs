//! Embed watchers (libev's `ev_embed`): one loop driven by another.
//!
//! The inner loop must have a backend with a pollable fd (epoll): that fd
//! becomes readable when any fd of the inner loop is ready. The outer loop
//! watches it with an internal io watcher and *sweeps* the inner loop (one
//! non-blocking iteration) when it is; an internal prepare watcher applies
//! the inner loop's fd changes and arms an internal timer for the inner
//! loop's next timeout before the outer loop polls, so inner timers fire on
//! time too (libev leaves that to the user).
//!
//! The inner loop's backend fd is not fixed: epoll rebuilds its set (a new
//! fd) to get rid of ghost registrations, and `loop_fork` makes a new one.
//! The inner loop counts such changes (its epoch); the outer one compares
//! it after every sweep and before every poll and moves its io watcher to
//! the new fd. The outer loop's `loop_fork` forks every embedded loop too
//! (libev's embed watcher has a fork watcher for this).

use std::any::Any;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::{io, Contract, Kind};
use crate::handle::{typed_handle, WatcherKey};
use crate::inner::Inner;
use crate::{Ctx, Error, Events, Loop, RunMode, Watcher};

typed_handle! {
    /// Handle of an embed watcher (libev's `ev_embed`) whose inner loop has
    /// state `U`.
    EmbedId<U>, Embed
}

/// An embedded loop with its state, whatever its `U`.
trait Embedded {
    /// The inner backend fd and the epoch it belongs to.
    fn backend(&self) -> (Option<RawFd>, u64);
    /// One non-blocking iteration.
    fn sweep(&mut self) -> Result<(), Error>;
    /// Before the outer loop polls: the inner loop's fd changes go to its
    /// backend; how long until the inner loop must be swept anyway.
    fn arm(&mut self) -> Option<Duration>;
    fn loop_fork(&mut self) -> Result<(), Error>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

struct Inside<U> {
    lp: Loop<U>,
    data: U,
}

impl<U: 'static> Embedded for Inside<U> {
    fn backend(&self) -> (Option<RawFd>, u64) {
        let inner = self.lp.inner_ref();
        let fd = inner.poller.backend_fd().map(|fd| fd.as_raw_fd());
        (fd, inner.pollers_made + inner.poller.epoch())
    }

    fn sweep(&mut self) -> Result<(), Error> {
        self.lp.run(&mut self.data, RunMode::NoWait).map(|_| ())
    }

    fn arm(&mut self) -> Option<Duration> {
        let mut ctx = self.lp.ctx();
        match ctx.flush_fd_changes() {
            Ok(()) => ctx.next_timeout(),
            // Let the sweep meet the error and report it.
            Err(_) => Some(Duration::ZERO),
        }
    }

    fn loop_fork(&mut self) -> Result<(), Error> {
        self.lp.ctx().loop_fork()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The embed part of a watcher slot.
pub(crate) struct EmbedData {
    inside: Box<dyn Embedded>,
    /// The internal watchers: io on the inner backend fd, the prepare that
    /// arms the timer for the inner loop's next timeout.
    io: WatcherKey,
    prepare: WatcherKey,
    timer: WatcherKey,
    /// The inner loop's epoch the io watcher's fd belongs to.
    epoch: u64,
    /// The error of the last failed sweep, until taken.
    error: Option<Error>,
}

fn data_mut<T>(inner: &mut Inner<T>, key: WatcherKey) -> Option<&mut EmbedData> {
    match &mut inner.slots.get_mut(key)?.kind {
        Kind::Embed(e) => Some(e),
        _ => None,
    }
}

pub(crate) struct Embed;

impl Contract for Embed {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        let Some(e) = data_mut(inner, key) else {
            return Ok(());
        };
        let (io, prepare) = (e.io, e.prepare);
        follow_backend(inner, key);
        inner.start_key(io)?;
        inner.start_key(prepare)
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        if let Some(e) = data_mut(inner, key) {
            for k in [e.io, e.prepare, e.timer] {
                inner.stop_key(k);
            }
        }
    }

    fn forget<T>(inner: &mut Inner<T>, key: WatcherKey) {
        if let Some(e) = data_mut(inner, key) {
            for k in [e.io, e.prepare, e.timer] {
                inner.remove_key(k);
            }
        }
        if let Some(i) = inner.kinds.embed.iter().position(|&k| k == key) {
            inner.kinds.embed.swap_remove(i);
        }
    }

    /// Every embedded loop shares the forked kernel objects too: fork it,
    /// and watch its new backend fd.
    fn after_fork<T>(inner: &mut Inner<T>) -> Result<(), Error> {
        for key in inner.kinds.embed.clone() {
            if let Some(e) = data_mut(inner, key) {
                e.inside.loop_fork()?;
                follow_backend(inner, key);
            }
        }
        Ok(())
    }
}

/// Points the io watcher at the inner loop's current backend fd if it
/// changed since it was last looked at.
fn follow_backend<T>(inner: &mut Inner<T>, key: WatcherKey) {
    let Some(e) = data_mut(inner, key) else {
        return;
    };
    let (fd, epoch) = e.inside.backend();
    if epoch == e.epoch {
        return;
    }
    e.epoch = epoch;
    let io = e.io;
    if let Some(fd) = fd {
        io::retarget(inner, io, fd);
    }
}

/// One non-blocking iteration of the inner loop, then the user's callback.
fn sweep<T>(inner: &mut Inner<T>, key: WatcherKey) {
    let Some(e) = data_mut(inner, key) else {
        return;
    };
    match e.inside.sweep() {
        Ok(()) => {
            follow_backend(inner, key);
            inner.queue_key(key, Events::EMBED);
        }
        Err(err) => {
            e.error = Some(err);
            inner.stop_key(key);
            inner.queue_key(key, Events::EMBED | Events::ERROR);
        }
    }
}

/// Before this loop polls: the inner loop's fd changes go to its backend,
/// the io watcher follows its backend fd, and the internal timer covers its
/// next timeout.
fn arm<T>(inner: &mut Inner<T>, key: WatcherKey) {
    let Some(e) = data_mut(inner, key) else {
        return;
    };
    let next = e.inside.arm();
    let timer = e.timer;
    follow_backend(inner, key);
    inner.stop_key(timer);
    if let Some(after) = next {
        if let Kind::Timer(t) = &mut inner.slots[timer].kind {
            t.after = super::timer::to_ns(after, "embedded timeout").unwrap_or(i64::MAX);
            t.repeat = 0;
        }
        let _ = inner.start_key(timer);
    }
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped embed watcher (libev's `ev_embed`): while active,
    /// this loop drives `inner`, whose callbacks get `data` as their state.
    /// Whenever the inner loop has events (ready fds, due timers), this loop
    /// runs one non-blocking iteration of it and then `cb` with
    /// [`Events::EMBED`] (or `EMBED | ERROR` if that iteration failed; the
    /// watcher has then stopped, and [`Watcher::take_error`] has the
    /// error).
    ///
    /// The inner loop and its state stay reachable with
    /// [`Watcher::inner`], and come back with [`Watcher::into_inner`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Backend, Loop, RunMode};
    ///
    /// let mut inner: Loop<u32> = Loop::builder().backend(Backend::Epoll).build()?;
    /// let mut ictx = inner.ctx();
    /// let t = ictx.new_timer(Duration::from_millis(1), Duration::ZERO, |_, n, _, _| *n += 1)?;
    /// ictx.start(t)?;
    /// let mut outer: Loop<()> = Loop::new()?;
    /// let mut ctx = outer.ctx();
    /// let e = ctx.new_embed(inner, 0u32, |ctx, _, id, _ev| {
    ///     let mut w = ctx.embed(id).unwrap();
    ///     let (_inner, n) = w.inner();
    ///     if *n == 1 {
    ///         w.stop();
    ///     }
    /// })?;
    /// ctx.start(e)?;
    /// outer.run(&mut (), RunMode::Default)?;
    /// let (_inner, n) = outer.ctx().embed(e)?.into_inner();
    /// assert_eq!(n, 1);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `inner` has no backend fd (poll and
    /// select have none; use epoll for loops to be embedded); the loop and
    /// its state are dropped then.
    pub fn new_embed<U, F>(&mut self, inner: Loop<U>, data: U, cb: F) -> Result<EmbedId<U>, Error>
    where
        U: 'static,
        F: FnMut(&mut Ctx<'_, T>, &mut T, EmbedId<U>, Events) + 'static,
    {
        let inside = Inside { lp: inner, data };
        let (Some(fd), epoch) = inside.backend() else {
            return Err(Error::InvalidArgument(
                "only a loop with a backend fd (epoll) can be embedded",
            ));
        };
        // The internal watchers' closures name the embed watcher, so it
        // exists first; their keys are filled in below.
        let key = self.inner.insert(
            Kind::Embed(Box::new(EmbedData {
                inside: Box::new(inside),
                io: WatcherKey::default(),
                prepare: WatcherKey::default(),
                timer: WatcherKey::default(),
                epoch,
                error: None,
            })),
            super::wrap(cb),
        );
        // The inner loop (and so its backend fd) lives in the embed
        // watcher's slot, which is removed after these watchers.
        let io = io::insert(
            self.inner,
            fd,
            Box::new(()),
            Events::READ,
            Box::new(move |ctx, _, _, _| sweep(ctx.inner, key)),
        );
        let timer = self
            .new_timer(Duration::ZERO, Duration::ZERO, move |ctx, _, _, _| {
                sweep(ctx.inner, key)
            })?
            .0
            .key;
        let prepare = self
            .new_prepare(move |ctx, _, _, _| arm(ctx.inner, key))?
            .0
            .key;
        for k in [io, timer, prepare] {
            self.inner.make_internal(k);
        }
        if let Some(e) = data_mut(self.inner, key) {
            e.io = io;
            e.prepare = prepare;
            e.timer = timer;
        }
        self.inner.kinds.embed.push(key);
        Ok(self.inner.handle(key))
    }

    /// A view of an embed watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn embed<U: 'static>(
        &mut self,
        id: EmbedId<U>,
    ) -> Result<Watcher<'_, T, EmbedId<U>>, Error> {
        self.watcher(id)
    }
}

impl<'a, T, U: 'static> Watcher<'a, T, EmbedId<U>> {
    fn data_mut(&mut self) -> &mut EmbedData {
        match &mut self.inner.slots[self.key].kind {
            Kind::Embed(e) => e,
            _ => unreachable!("an EmbedId resolves to an embed watcher"),
        }
    }

    /// The embedded loop's API and its state, to add or change its watchers
    /// (the loop itself cannot be replaced: this loop watches its backend).
    pub fn inner(&mut self) -> (Ctx<'_, U>, &mut U) {
        let any = self.data_mut().inside.as_any_mut();
        match any.downcast_mut::<Inside<U>>() {
            Some(i) => (i.lp.ctx(), &mut i.data),
            None => unreachable!("an EmbedId<U> watcher embeds a Loop<U>"),
        }
    }

    /// Runs one non-blocking iteration of the inner loop now (libev's
    /// `ev_embed_sweep`); its callback is queued as when the loop does it.
    pub fn sweep(&mut self) {
        sweep(self.inner, self.key);
    }

    /// Takes the error of the last failed sweep, if any.
    pub fn take_error(&mut self) -> Option<Error> {
        self.data_mut().error.take()
    }

    /// Removes the watcher and gives back the inner loop and its state.
    pub fn into_inner(self) -> (Loop<U>, U) {
        match self.inner.remove_key(self.key).map(|s| s.kind) {
            Some(Kind::Embed(e)) => match e.inside.into_any().downcast::<Inside<U>>() {
                Ok(i) => (i.lp, i.data),
                Err(_) => unreachable!("an EmbedId<U> watcher embeds a Loop<U>"),
            },
            _ => unreachable!("an EmbedId resolves to an embed watcher"),
        }
    }

    crate::view::set_callback!(EmbedId<U>);
}
