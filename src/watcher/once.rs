//! One-shot "io or timeout" (libev's `ev_once`): wait for an fd to become
//! ready, or for a timeout, whichever comes first, then call a closure once
//! and clean up.

use std::os::fd::AsFd;
use std::time::Duration;

use crate::handle::{IoId, TimerId};
use crate::{Ctx, Error, Events};

impl<T> Ctx<T> {
    /// Calls `cb` once when `source` is ready for `interest`, or when
    /// `timeout` has passed (if given), whichever is first, with the bits
    /// that happened (READ/WRITE, or TIMER, or ERROR for a bad fd). Both
    /// internal watchers are removed, and `source` is dropped (closed), just
    /// before `cb` is called. Nothing needs to be started or removed by the
    /// caller.
    ///
    /// Returns a [`Once`] that [`cancel_once`](Self::cancel_once) takes to
    /// give up waiting without calling `cb`.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use std::time::Duration;
    /// use evloop::{Events, Loop, RunMode};
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// let mut lp: Loop<Events> = Loop::new()?;
    /// // Nobody writes to `_b`: the 5 ms timeout wins.
    /// lp.once_io(a, Events::READ, Some(Duration::from_millis(5)), |_ctx, got, ev| *got = ev)?;
    /// let mut got = Events::empty();
    /// lp.run(&mut got, RunMode::Default)?;
    /// assert_eq!(got, Events::TIMER);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for bad interest bits or a timeout beyond
    /// 292 years.
    pub fn once_io<S, F>(
        &mut self,
        source: S,
        interest: Events,
        timeout: Option<Duration>,
        cb: F,
    ) -> Result<Once, Error>
    where
        S: AsFd + 'static,
        F: FnOnce(&mut Ctx<T>, &mut T, Events) + 'static,
    {
        let timer = match timeout {
            Some(t) => Some(self.timer(t, Duration::ZERO, |_, _, _, _| {})?),
            None => None,
        };
        let mut cb = Some(cb);
        let io = match self.io(source, interest, move |ctx, data, id, ev| {
            if let Some(t) = timer {
                let _ = ctx.remove(t);
            }
            let _ = ctx.remove(id);
            if let Some(cb) = cb.take() {
                cb(ctx, data, ev);
            }
        }) {
            Ok(io) => io,
            Err(e) => {
                if let Some(t) = timer {
                    let _ = self.remove(t);
                }
                return Err(e);
            }
        };
        if let Some(t) = timer {
            // The timeout hands its event to the io watcher, whose closure
            // owns the user's callback.
            self.replace_timer_callback(t, move |ctx, _d, _id, ev| {
                let _ = ctx.feed_event(io, ev);
            });
            self.start(t)?;
        }
        self.start(io)?;
        Ok(Once { io, timer })
    }

    /// Calls `cb` once after `timeout`; the timer removes itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, RunMode};
    ///
    /// let mut lp: Loop<bool> = Loop::new()?;
    /// lp.once_timer(Duration::from_millis(1), |_ctx, done, _ev| *done = true)?;
    /// let mut done = false;
    /// lp.run(&mut done, RunMode::Default)?;
    /// assert!(done);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a timeout beyond 292 years.
    pub fn once_timer<F>(&mut self, timeout: Duration, cb: F) -> Result<TimerId, Error>
    where
        F: FnOnce(&mut Ctx<T>, &mut T, Events) + 'static,
    {
        let mut cb = Some(cb);
        let t = self.timer(timeout, Duration::ZERO, move |ctx, data, id, ev| {
            let _ = ctx.remove(id);
            if let Some(cb) = cb.take() {
                cb(ctx, data, ev);
            }
        })?;
        self.start(t)?;
        Ok(t)
    }

    /// Cancels a pending [`once_io`](Self::once_io) without calling it;
    /// does nothing if it has run already.
    pub fn cancel_once(&mut self, once: Once) {
        let _ = self.remove(once.io);
        if let Some(t) = once.timer {
            let _ = self.remove(t);
        }
    }

    fn replace_timer_callback<F>(&mut self, id: TimerId, mut cb: F)
    where
        F: FnMut(&mut Ctx<T>, &mut T, TimerId, Events) + 'static,
    {
        if let Some(place) = self.callbacks.get_mut(id.0) {
            *place = Some(Box::new(move |c, d, k, e| cb(c, d, TimerId(k), e)));
        }
    }
}

/// The watchers behind one [`Ctx::once_io`], to cancel it.
#[derive(Debug, Clone, Copy)]
pub struct Once {
    io: IoId,
    timer: Option<TimerId>,
}
