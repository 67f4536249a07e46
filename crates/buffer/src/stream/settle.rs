//! Keeping the loop in line with a stream's state: its io interest and
//! timers (`settle`), its timeouts, deferred errors, and closing.

use std::io::{self, ErrorKind};
use std::os::fd::AsFd;
use std::time::Duration;

use std::os::fd::OwnedFd;
use std::rc::Rc;

use evloop::{Ctx, Events, IoId, TimerId};

use super::driver::{on_timeout, state};
use super::state::{Closing, State, Streams, Wants};
use super::{sys, Direction, StreamId};

/// Closes the stream now: its watchers go, and with them the socket and
/// both buffers. Returns how many output bytes were never sent.
pub(super) fn close<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId) -> usize {
    let Some(st) = state(ctx, id) else { return 0 };
    let timers = st.timers();
    let (io, unsent) = (st.io, st.output.len());
    let member = st.rate.as_deref_mut().and_then(|l| l.group.take());
    if let Some(m) = member {
        super::group::forget(ctx, id, m);
    }
    for t in timers.into_iter().flatten() {
        let _ = ctx.remove(t);
    }
    // The watcher goes first, deregistering the fd; the state's reference
    // to the socket, dropped with it, then closes it.
    let _ = ctx.remove(io);
    if let Some(streams) = ctx.ext_mut::<Streams<T>>() {
        streams.map.remove(id.key);
    }
    unsent
}

/// Queues an error found outside the loop's callbacks, for the io watcher
/// to report.
pub(super) fn defer_error<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    id: StreamId,
    error: io::Error,
    direction: Direction,
) {
    if let Some(st) = state(ctx, id) {
        if st.deferred_error.is_none() {
            st.deferred_error = Some((error, direction));
            let io = st.io;
            if let Ok(mut w) = ctx.io(io) {
                let _ = w.feed(Events::CUSTOM);
            }
        }
    }
    settle(ctx, id);
}

/// Applies what the state wants: a due close or shutdown, then the io
/// interest (and whether the watcher runs at all) and the two timers.
/// Cheap when nothing changed (one table lookup, no call into the loop);
/// never calls user code.
pub(super) fn settle<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId) {
    settle_if(ctx, id, Settle::Always);
}

/// `settle` for a dropped view: nothing to do while the stream's io
/// callback runs, which settles the stream when it is done.
pub(super) fn settle_view<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId) {
    settle_if(ctx, id, Settle::View);
}

/// `settle` at the end of the stream's io callback, which it marks as
/// done (in the same lookup).
pub(super) fn settle_after_dispatch<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId) {
    settle_if(ctx, id, Settle::EndDispatch);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Settle {
    Always,
    View,
    EndDispatch,
}

/// The io interest, timers and fed write of a stream that is not
/// closing, from its state `$st` (a macro: the state borrows `$ctx`
/// until its fields are copied out).
macro_rules! apply_wants {
    ($ctx:expr, $st:expr) => {{
        let st = $st;
        let wants = Wants::of(st);
        // Output queued outside the stream's io callback, while the
        // socket is not known to be full: try it in this iteration's
        // pending phase instead of asking the poller (see
        // `State::writes_by_feed`).
        let feed = !st.dispatching && wants.write && wants.by_feed && st.deferred_error.is_none();
        let io = st.io;
        if let Some(changes) = changes(st, wants, feed) {
            changes.apply($ctx);
        }
        if feed {
            if let Ok(mut w) = $ctx.io(io) {
                let _ = w.feed(Events::WRITE);
            }
        }
    }};
}

#[inline]
fn settle_if<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId, how: Settle) {
    let Some(st) = state(ctx, id) else { return };
    match how {
        Settle::View if st.dispatching => return,
        Settle::EndDispatch => st.dispatching = false,
        _ => {}
    }
    // Closing and shutting down are rare: one test keeps them off the
    // common path.
    if st.closing.is_some() || st.write_shut {
        if st.close_due() {
            close(ctx, id);
            return;
        }
        if st.closing == Some(Closing::Shutdown)
            && st.output.is_empty()
            && !st.connecting
            && !st.failed
            && st.deferred_error.is_none()
        {
            st.closing = None;
            st.write_shut = true;
            // A failure here means the connection is gone; reading will tell.
            let _ = sys::shutdown_write(st.fd.as_fd());
        }
        if st.write_shut && !st.output.is_empty() && !st.failed && st.deferred_error.is_none() {
            let e = io::Error::new(
                ErrorKind::BrokenPipe,
                "data queued after the write side was shut down",
            );
            defer_error(ctx, id, e, Direction::Write);
            return;
        }
    }
    if st.rate.is_some() {
        settle_limited(ctx, id);
        return;
    }
    apply_wants!(ctx, st);
}

/// `settle_if`'s end for a rate-limited stream: the same, then its refill
/// timer. Out of line, so that the path every other stream takes after
/// every event stays as it was.
#[inline(never)]
fn settle_limited<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId) {
    let Some(st) = state(ctx, id) else { return };
    // What the stream moved since it last settled may have emptied its
    // group's bucket, or started it refilling: the group acts for all its
    // members (first, so that this one settles with it).
    let group = st.rate.as_deref().and_then(|l| l.group.as_ref());
    if let Some(key) = group.filter(|g| g.cell.needs_attention()).map(|g| g.key) {
        let gid = super::group::RateGroupId {
            key,
            lp: ctx.loop_id(),
        };
        super::group::after_spend(ctx, gid);
    }
    let Some(st) = state(ctx, id) else { return };
    apply_wants!(ctx, st);
    super::refill::settle_refill(ctx, id);
}

/// The io interest and the timers only, without closing: for the moment
/// between a failure and its report, when a pending close must wait for
/// the event callback to have heard of the error.
pub(super) fn apply<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId) {
    let Some(st) = state(ctx, id) else { return };
    let wants = Wants::of(st);
    if let Some(changes) = changes(st, wants, false) {
        changes.apply(ctx);
    }
}

/// What the loop must be told about a stream's watchers.
struct Changes {
    io: IoId<Rc<OwnedFd>>,
    interest: Option<Events>,
    /// Start (true) or stop the io watcher.
    run: Option<bool>,
    /// A timer to start (true) or stop.
    timers: [Option<(TimerId, bool)>; 2],
}

/// Compares what the stream wants with what the loop was told, records
/// the new state, and returns the difference (`None`: nothing changed).
///
/// With `feed` (the output is about to be sent through a fed WRITE event,
/// in this iteration) a write timer that is not running is left stopped:
/// the send usually takes everything, and starting the timer only to stop
/// it again costs two timer-heap updates. A send that stops short leaves
/// the stream write-blocked, and the settling after it starts the timer
/// then, counting from the loop's same `now`; a send that makes progress
/// restarts a running timer from that moment anyway.
#[inline]
fn changes<T: 'static>(st: &mut State<T>, wants: Wants, feed: bool) -> Option<Changes> {
    let interest = st.interest_for(wants);
    let on = !interest.is_empty();
    let io_change = (interest != st.io_interest, on != st.io_on);
    let read_timer = st
        .read_timer
        .filter(|_| wants.read != st.read_timer_on)
        .map(|t| (t, !st.read_timer_on));
    let write_timer = st
        .write_timer
        .filter(|_| (wants.write && (st.write_timer_on || !feed)) != st.write_timer_on)
        .map(|t| (t, !st.write_timer_on));
    if io_change == (false, false) && read_timer.is_none() && write_timer.is_none() {
        return None;
    }
    st.io_interest = interest;
    st.io_on = on;
    if read_timer.is_some() {
        st.read_timer_on = !st.read_timer_on;
    }
    if write_timer.is_some() {
        st.write_timer_on = !st.write_timer_on;
    }
    Some(Changes {
        io: st.io,
        interest: io_change.0.then_some(interest),
        run: io_change.1.then_some(on),
        timers: [read_timer, write_timer],
    })
}

impl Changes {
    fn apply<T: 'static>(self, ctx: &mut Ctx<'_, T>) {
        if self.interest.is_some() || self.run.is_some() {
            if let Ok(mut w) = ctx.io(self.io) {
                if let Some(interest) = self.interest {
                    let _ = w.set_interest(interest);
                }
                match self.run {
                    Some(true) => {
                        let _ = w.start();
                    }
                    Some(false) => w.stop(),
                    None => {}
                }
            }
        }
        for (t, start) in self.timers.into_iter().flatten() {
            let Ok(mut t) = ctx.timer(t) else { continue };
            if start {
                t.again(); // starts it, counting from now
            } else {
                t.stop();
            }
        }
    }
}

/// Gives every watcher of a stream (its io watcher `io` and its `timers`)
/// the stream's new priority; the caller has the state at hand already.
pub(super) fn set_watchers_priority<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    io: IoId<Rc<OwnedFd>>,
    timers: [Option<TimerId>; 3],
    priority: evloop::Priority,
) {
    if let Ok(mut w) = ctx.io(io) {
        w.set_priority(priority);
    }
    for t in timers.into_iter().flatten() {
        if let Ok(mut w) = ctx.timer(t) {
            w.set_priority(priority);
        }
    }
}

/// [`set_watchers_priority`] for the keepalive.
pub(super) fn set_watchers_keepalive<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    io: IoId<Rc<OwnedFd>>,
    timers: [Option<TimerId>; 3],
    keepalive: bool,
) {
    if let Ok(mut w) = ctx.io(io) {
        w.set_keepalive(keepalive);
    }
    for t in timers.into_iter().flatten() {
        if let Ok(mut w) = ctx.timer(t) {
            w.set_keepalive(keepalive);
        }
    }
}

/// The longest timeout the loop's timers take (about 292 years).
pub(super) const MAX_TIMEOUT: Duration = Duration::from_nanos(i64::MAX as u64);

/// Refuses a timeout the loop could not arm, before anything is changed.
pub(super) fn check_timeout(timeout: Option<Duration>) -> Result<(), evloop::Error> {
    match timeout {
        Some(d) if d > MAX_TIMEOUT => Err(evloop::Error::InvalidArgument(
            "stream timeout too large (at most about 292 years)",
        )),
        _ => Ok(()),
    }
}

/// Sets or clears one direction's timeout (zero counts as none). On an
/// error nothing has changed.
pub(super) fn set_timeout<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    id: StreamId,
    dir: Direction,
    timeout: Option<Duration>,
) -> Result<(), evloop::Error> {
    check_timeout(timeout)?;
    let timeout = timeout.filter(|d| !d.is_zero());
    let st = state(ctx, id).ok_or(evloop::Error::StaleHandle)?;
    let old = match dir {
        Direction::Read => st.read_timer,
        Direction::Write => st.write_timer,
    };
    let (priority, keepalive) = (st.priority, st.keepalive);
    let new = match (old, timeout) {
        (Some(t), None) => {
            ctx.remove(t)?;
            None
        }
        (None, Some(d)) => {
            let t = ctx.new_timer(d, d, move |ctx, data, _t, _ev| {
                on_timeout(ctx, data, id, dir);
            })?;
            let mut w = ctx.timer(t)?;
            w.set_priority(priority);
            w.set_keepalive(keepalive);
            Some(t)
        }
        (Some(t), Some(d)) => {
            let mut w = ctx.timer(t)?;
            w.set_repeat(d)?;
            if w.is_active() {
                w.again();
            }
            Some(t)
        }
        (None, None) => None,
    };
    if let Some(st) = state(ctx, id) {
        // A timer made or removed here is not running; one kept keeps its
        // state.
        let keep = |on: bool| on && new.is_some() && new == old;
        match dir {
            Direction::Read => {
                (st.read_timer, st.read_timeout) = (new, timeout);
                st.read_timer_on = keep(st.read_timer_on);
            }
            Direction::Write => {
                (st.write_timer, st.write_timeout) = (new, timeout);
                st.write_timer_on = keep(st.write_timer_on);
            }
        }
    }
    settle(ctx, id);
    Ok(())
}
