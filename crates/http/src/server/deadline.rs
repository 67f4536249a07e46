//! A connection's one timer: the header deadline, the body idle timeout,
//! the keep-alive idle timeout and the linger time, whichever applies now.
//!
//! The timer is lazy (libev's advice for idle timeouts): activity only
//! moves the recorded deadline; the timer fires at the time it was armed
//! for, finds the deadline later, and is armed again for the rest. So a
//! busy connection costs no timer operation per request.

use std::time::{Duration, Instant};

use evloop::Ctx;

use super::slab::Key;
use super::state::{parts, Conn, Deadline, Reader, ServerState, Sink};

/// What the connection waits for now, and until when.
fn wanted<T: 'static>(server: &ServerState<T>, conn: &Conn<T>) -> Option<(Instant, Deadline)> {
    let o = &server.opts;
    let at = |since: Instant, d: Duration, kind| (!d.is_zero()).then(|| (since + d, kind));
    match &conn.reader {
        Reader::Head => {
            if let Some(since) = conn.head_since {
                at(since, o.header_timeout, Deadline::Head)
            } else if !conn.queue.is_empty() {
                None
            } else if conn.fresh {
                at(conn.idle_since, o.header_timeout, Deadline::Head)
            } else {
                at(conn.idle_since, o.keepalive_timeout, Deadline::Idle)
            }
        }
        Reader::Body(b) => match &b.sink {
            Sink::Await | Sink::Stream { paused: true, .. } => None,
            _ => at(conn.body_since, o.body_timeout, Deadline::Body),
        },
        Reader::Linger => at(conn.idle_since, o.linger, Deadline::Linger),
        Reader::Wait | Reader::Stopped => None,
    }
}

/// Records the deadline that applies now and makes sure the timer fires
/// no later than it.
pub(crate) fn arm<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) {
    let now = ctx.now();
    let Some((server, conn)) = parts(ctx, key) else {
        return;
    };
    if let Some(plan) = plan(server, conn) {
        plan.apply(ctx, now);
    }
}

/// The timer operation `arm` needs, if any.
pub(crate) struct Arm {
    timer: evloop::TimerId,
    at: Instant,
}

/// `arm`'s bookkeeping, for a caller that has the connection at hand
/// already (one lookup less); the timer is then set with [`Arm::apply`].
pub(crate) fn plan<T: 'static>(server: &ServerState<T>, conn: &mut Conn<T>) -> Option<Arm> {
    let want = wanted(server, conn);
    conn.deadline = want;
    let (at, _) = want?;
    if conn.armed.is_some_and(|armed| armed <= at) {
        return None;
    }
    conn.armed = Some(at);
    Some(Arm {
        timer: conn.timer,
        at,
    })
}

impl Arm {
    pub(crate) fn apply<T: 'static>(self, ctx: &mut Ctx<'_, T>, now: Instant) {
        let d = self.at.saturating_duration_since(now);
        if let Ok(mut t) = ctx.timer(self.timer) {
            // A zero repeat would mean "no repeat": fire at once instead.
            let _ = t.again_with(d.max(Duration::from_nanos(1)));
        }
    }
}

/// The timer fired: what is due, if anything (and the timer re-armed or
/// stopped as the state wants).
pub(crate) fn due<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) -> Option<Deadline> {
    let now = ctx.now();
    let (server, conn) = parts(ctx, key)?;
    conn.armed = None;
    let want = wanted(server, conn);
    conn.deadline = want;
    let timer = conn.timer;
    match want {
        Some((at, kind)) if at <= now => {
            if let Ok(mut t) = ctx.timer(timer) {
                t.stop();
            }
            Some(kind)
        }
        Some(_) => {
            arm(ctx, key);
            None
        }
        None => {
            if let Ok(mut t) = ctx.timer(timer) {
                t.stop();
            }
            None
        }
    }
}
