//! One-shot "io or timeout" (libev's `ev_once`): wait for an fd to become
//! ready, or for a timeout, whichever comes first, then call a closure once
//! and clean up. The watchers behind it are the loop's own; the [`Once`]
//! handle cancels it or changes its keepalive.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use super::timer::to_ns;
use super::{io, Kind};
use crate::handle::{LoopId, WatcherKey};
use crate::inner::Inner;
use crate::{Ctx, Error, Events};

/// The watchers behind one [`Ctx::once_io`] or [`Ctx::once_timer`]: for
/// [`Ctx::cancel_once`] and [`Ctx::set_once_keepalive`]. `S` is the source
/// a `once_io` waits on (`()` for `once_timer`).
pub struct Once<S = ()> {
    io: Option<WatcherKey>,
    timer: Option<WatcherKey>,
    lp: LoopId,
    _s: PhantomData<fn() -> S>,
}

impl<S> Clone for Once<S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for Once<S> {}

impl<S> fmt::Debug for Once<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("io", &self.io.is_some())
            .field("timer", &self.timer.is_some())
            .field("loop", &self.lp)
            .finish()
    }
}

/// Makes a watcher the loop's own (no public handle reaches it) while
/// keeping its keepalive and priority: a once keeps `run` going, as libev's
/// does, unless told otherwise.
fn hide<T>(inner: &mut Inner<T>, key: WatcherKey) {
    inner.slots[key].internal = true;
}

/// Takes a once's io watcher away and gives back its source.
fn take_source<T, S: 'static>(inner: &mut Inner<T>, io: WatcherKey) -> Option<S> {
    match inner.remove_key(io)?.kind {
        Kind::Io(data) => data.source.downcast().ok().map(|b| *b),
        _ => None,
    }
}

impl<'a, T> Ctx<'a, T> {
    /// Calls `cb` once when `source` is ready for `interest`, or when
    /// `timeout` has passed (if given), whichever is first, with the bits
    /// that happened (READ/WRITE, or TIMER, or ERROR for a bad fd) and the
    /// source itself, handed back: nothing the caller gave is closed behind
    /// its back. Both watchers behind it are gone before `cb` runs; nothing
    /// needs to be started or removed by the caller. Like libev's `ev_once`,
    /// it keeps [`run`](Self::run) going until it has run;
    /// [`set_once_keepalive`](Self::set_once_keepalive) changes that.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use std::time::Duration;
    /// use evloop::{Events, Loop, RunMode};
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// let mut lp: Loop<Option<(Events, UnixStream)>> = Loop::new()?;
    /// // Nobody writes to `_b`: the 5 ms timeout wins, and `a` comes back.
    /// lp.ctx().once_io(a, Events::READ, Some(Duration::from_millis(5)), |_ctx, got, a, ev| {
    ///     *got = Some((ev, a));
    /// })?;
    /// let mut got = None;
    /// lp.run(&mut got, RunMode::Default)?;
    /// assert_eq!(got.map(|(ev, _a)| ev), Some(Events::TIMER));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for bad interest bits or a timeout beyond
    /// 292 years; the source is dropped then.
    pub fn once_io<S, F>(
        &mut self,
        source: S,
        interest: Events,
        timeout: Option<Duration>,
        cb: F,
    ) -> Result<Once<S>, Error>
    where
        S: AsFd + 'static,
        F: FnOnce(&mut Ctx<'_, T>, &mut T, S, Events) + 'static,
    {
        if !Events::IO.contains(interest) {
            return Err(Error::InvalidArgument(
                "io interest may only hold READ and WRITE",
            ));
        }
        let after = match timeout {
            Some(t) => Some(to_ns(t, "once timeout too large")?),
            None => None,
        };
        let fd = source.as_fd().as_raw_fd();
        // The io watcher's closure owns the user's callback and needs the
        // timer's key, the timer's closure the io watcher's: the io watcher
        // comes first, with its real closure set once both exist.
        let io = io::insert(
            self.inner,
            fd,
            Box::new(source),
            interest,
            Box::new(|_, _, _, _| {}),
        );
        hide(self.inner, io);
        let timer = match after {
            Some(after) => {
                let t = self.inner.insert(
                    Kind::Timer(super::timer::TimerData {
                        after,
                        repeat: 0,
                        deadline: 0,
                        entry_at: 0,
                    }),
                    // The timeout hands its event to the io watcher.
                    Box::new(move |ctx, _d, _k, ev| ctx.inner.queue_key(io, ev)),
                );
                super::timer::register(self.inner, t);
                hide(self.inner, t);
                Some(t)
            }
            None => None,
        };
        let mut cb = Some(cb);
        self.inner.set_callback(
            io,
            Box::new(move |ctx, data, key, ev| {
                if let Some(t) = timer {
                    ctx.inner.remove_key(t);
                }
                let Some(source) = take_source::<T, S>(ctx.inner, key) else {
                    return;
                };
                if let Some(cb) = cb.take() {
                    cb(ctx, data, source, ev);
                }
            }),
        );
        if let Some(t) = timer {
            self.inner.start_key(t)?;
        }
        self.inner.start_key(io)?;
        Ok(Once {
            io: Some(io),
            timer,
            lp: self.inner.id,
            _s: PhantomData,
        })
    }

    /// Calls `cb` once after `timeout` (with [`Events::TIMER`]); the timer
    /// behind it is the loop's own and goes away by itself. Like libev's
    /// `ev_once`, it keeps [`run`](Self::run) going until it has run;
    /// [`set_once_keepalive`](Self::set_once_keepalive) changes that.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, RunMode};
    ///
    /// let mut lp: Loop<bool> = Loop::new()?;
    /// lp.ctx().once_timer(Duration::from_millis(1), |_ctx, done, _ev| *done = true)?;
    /// let mut done = false;
    /// lp.run(&mut done, RunMode::Default)?;
    /// assert!(done);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a timeout beyond 292 years.
    pub fn once_timer<F>(&mut self, timeout: Duration, cb: F) -> Result<Once<()>, Error>
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, Events) + 'static,
    {
        let after = to_ns(timeout, "once timeout too large")?;
        let mut cb = Some(cb);
        let t = self.inner.insert(
            Kind::Timer(super::timer::TimerData {
                after,
                repeat: 0,
                deadline: 0,
                entry_at: 0,
            }),
            Box::new(move |ctx, data, key, ev| {
                ctx.inner.remove_key(key);
                if let Some(cb) = cb.take() {
                    cb(ctx, data, ev);
                }
            }),
        );
        super::timer::register(self.inner, t);
        hide(self.inner, t);
        self.inner.start_key(t)?;
        Ok(Once {
            io: None,
            timer: Some(t),
            lp: self.inner.id,
            _s: PhantomData,
        })
    }

    /// Gives up a [`once_io`](Self::once_io) or
    /// [`once_timer`](Self::once_timer) that has not run yet, without
    /// calling it; returns its source (`()` for a timer), or `None` if it
    /// has run already or was cancelled.
    pub fn cancel_once<S: 'static>(&mut self, once: Once<S>) -> Option<S> {
        if once.lp != self.inner.id {
            return None;
        }
        let timer_left = once.timer.and_then(|t| self.inner.remove_key(t)).is_some();
        match once.io {
            Some(io) => take_source(self.inner, io),
            // `()` is the only S of a once_timer.
            None if timer_left => {
                let unit: Box<dyn std::any::Any> = Box::new(());
                unit.downcast().ok().map(|b| *b)
            }
            None => None,
        }
    }

    /// Whether a once that has not run yet keeps [`run`](Self::run) going
    /// (the default, as in libev) or not.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it has run already or was cancelled,
    /// [`Error::ForeignHandle`] if it is another loop's.
    pub fn set_once_keepalive<S>(&mut self, once: Once<S>, keepalive: bool) -> Result<(), Error> {
        if once.lp != self.inner.id {
            return Err(Error::ForeignHandle);
        }
        let mut found = false;
        for key in [once.io, once.timer].into_iter().flatten() {
            if let Some(slot) = self.inner.slots.get_mut(key) {
                found = true;
                if slot.keepalive != keepalive {
                    slot.keepalive = keepalive;
                    if slot.active {
                        self.inner.refs += if keepalive { 1 } else { -1 };
                    }
                }
            }
        }
        if found {
            Ok(())
        } else {
            Err(Error::StaleHandle)
        }
    }
}
