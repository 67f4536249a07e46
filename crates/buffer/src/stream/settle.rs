//! Keeping the loop in line with a stream's state: its io interest and
//! timers (`settle`), its timeouts, deferred errors, and closing.

use std::io::{self, ErrorKind};
use std::os::fd::AsFd;
use std::time::Duration;

use evloop::{Ctx, Events};

use super::driver::{on_timeout, state};
use super::state::Closing;
use super::{sys, Direction, StreamId};

/// Closes the stream now: its watchers go, and with them the socket and
/// both buffers. Returns how many output bytes were never sent.
pub(super) fn close<T: 'static>(ctx: &mut Ctx<T>, id: StreamId) -> usize {
    let Some(st) = state(ctx, id) else { return 0 };
    let timers = [st.read_timer, st.write_timer];
    let unsent = st.output.len();
    for t in timers.into_iter().flatten() {
        let _ = ctx.remove(t);
    }
    let _ = ctx.remove(id.0);
    unsent
}

/// Queues an error found outside the loop's callbacks, for the io watcher
/// to report.
pub(super) fn defer_error<T: 'static>(
    ctx: &mut Ctx<T>,
    id: StreamId,
    error: io::Error,
    direction: Direction,
) {
    if let Some(st) = state(ctx, id) {
        if st.deferred_error.is_none() {
            st.deferred_error = Some((error, direction));
            let _ = ctx.feed_event(id.0, Events::CUSTOM);
        }
    }
    settle(ctx, id);
}

/// Applies what the state wants: the io interest (and whether the watcher
/// runs at all), the two timers, and a flushed close or shutdown. Cheap
/// when nothing changed; never calls user code.
pub(super) fn settle<T: 'static>(ctx: &mut Ctx<T>, id: StreamId) {
    let Some(st) = state(ctx, id) else { return };
    if let Some(how) = st.closing {
        let flushed = st.output.is_empty() && !st.connecting;
        if flushed && !st.failed && st.deferred_error.is_none() {
            match how {
                Closing::Close => {
                    close(ctx, id);
                    return;
                }
                Closing::Shutdown => {
                    st.closing = None;
                    st.write_shut = true;
                    // A failure here means the connection is gone; reading
                    // will tell.
                    let _ = sys::shutdown_write(st.fd.as_fd());
                }
            }
        }
    }
    if st.write_shut && !st.output.is_empty() && !st.failed && st.deferred_error.is_none() {
        let e = io::Error::new(
            ErrorKind::BrokenPipe,
            "data queued after the write side was shut down",
        );
        defer_error(ctx, id, e, Direction::Write);
        return;
    }
    let interest = st.interest();
    let read_timer = st.read_timer.map(|t| (t, st.wants_read()));
    let write_timer = st.write_timer.map(|t| (t, st.wants_write()));

    let io = id.0;
    if ctx.io_interest(io).ok() != Some(interest) {
        let _ = ctx.set_io_interest(io, interest);
    }
    let active = ctx.is_active(io);
    if interest.is_empty() && active {
        let _ = ctx.stop(io);
    } else if !interest.is_empty() && !active {
        let _ = ctx.start(io);
    }
    for (t, want) in [read_timer, write_timer].into_iter().flatten() {
        let on = ctx.is_active(t);
        if want && !on {
            let _ = ctx.timer_again(t); // starts it, counting from now
        } else if !want && on {
            let _ = ctx.stop(t);
        }
    }
}

/// Sets or clears one direction's timeout (zero counts as none).
pub(super) fn set_timeout<T: 'static>(
    ctx: &mut Ctx<T>,
    id: StreamId,
    dir: Direction,
    timeout: Option<Duration>,
) -> Result<(), evloop::Error> {
    let timeout = timeout.filter(|d| !d.is_zero());
    let st = state(ctx, id).ok_or(evloop::Error::StaleHandle)?;
    let (slot, setting) = match dir {
        Direction::Read => (&mut st.read_timer, &mut st.read_timeout),
        Direction::Write => (&mut st.write_timer, &mut st.write_timeout),
    };
    *setting = timeout;
    let old = slot.take();
    let new = match (old, timeout) {
        (Some(t), None) => {
            ctx.remove(t)?;
            None
        }
        (None, Some(d)) => Some(ctx.timer(d, d, move |ctx, data, _t, _ev| {
            on_timeout(ctx, data, id, dir);
        })?),
        (Some(t), Some(d)) => {
            ctx.set_timer_repeat(t, d)?;
            if ctx.is_active(t) {
                ctx.timer_again(t)?;
            }
            Some(t)
        }
        (None, None) => None,
    };
    if let Some(st) = state(ctx, id) {
        match dir {
            Direction::Read => st.read_timer = new,
            Direction::Write => st.write_timer = new,
        }
    }
    settle(ctx, id);
    Ok(())
}
