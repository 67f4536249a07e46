//! A request's one timer: the head wait, the body stall, the whole
//! request, the `100 Continue` wait, whichever comes first.
//!
//! Lazy, as the server's: activity only moves the recorded times; the
//! timer fires when it was armed for, finds the deadline later, and is
//! armed again for the rest.
//!
//! The timer also keeps the loop running for a request on a connection
//! that reads: such a connection's stream stops doing so once it has been
//! idle (idle connections must not hold the loop), and turning it on and
//! off for every request costs more than a timer kept running. Timers
//! outlive their requests: a request that ends leaves its timer, stopped,
//! for the next one.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::{Ctx, TimerId};

use super::finish::fail;
use super::send::release_body;
use super::state::{clients, req, Clients, ConnPhase};
use super::{ClientError, TimeoutKind};

/// How far off the timer of a request without a deadline is set while its
/// connection reads (it fires then only to be set again).
const HOLD: Duration = Duration::from_secs(3600);

/// Spare timers kept at most (more are removed).
const MAX_SPARE: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Due {
    Timeout(TimeoutKind),
    Continue,
    /// No deadline: the timer only keeps the loop running.
    Hold,
}

/// A timer for request `rid`: a spare one, or a new one. Its cell names
/// the request it works for (0: none).
/// `spare` is one the caller took from the spare timers already (`None`:
/// they are looked at here).
pub(crate) fn timer_for<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    rid: u64,
    spare: Option<(TimerId, Rc<Cell<u64>>)>,
) -> Result<(TimerId, Rc<Cell<u64>>), evloop::Error> {
    let spare = spare.or_else(|| clients::<T>(ctx).and_then(|cs| cs.spare_timers.pop()));
    if let Some((id, cell)) = spare {
        cell.set(rid);
        return Ok((id, cell));
    }
    let cell = Rc::new(Cell::new(rid));
    let mine = Rc::clone(&cell);
    let id = ctx.new_timer(
        Duration::from_secs(1),
        Duration::ZERO,
        move |ctx, data, _, _| on_timer(ctx, data, mine.get()),
    )?;
    Ok((id, cell))
}

/// The timer `id` of a request that ended works for none now, and is kept
/// for another if there is room (returned): then [`stop_kept`] stops it.
pub(crate) fn keep_timer<T: 'static>(
    cs: &mut Clients<T>,
    id: TimerId,
    cell: &Rc<Cell<u64>>,
) -> bool {
    cell.set(0);
    let kept = cs.spare_timers.len() < MAX_SPARE;
    if kept {
        cs.spare_timers.push((id, Rc::clone(cell)));
    }
    kept
}

/// Stops the timer [`keep_timer`] kept, or removes it if it was not kept.
/// A timer the loop no longer has is not kept.
pub(crate) fn stop_kept<T: 'static>(ctx: &mut Ctx<'_, T>, id: TimerId, kept: bool) {
    match ctx.timer(id) {
        Ok(mut t) => {
            t.stop();
            if !kept {
                let _ = ctx.remove(id);
            }
        }
        Err(_) => {
            if let Some(cs) = clients::<T>(ctx).filter(|_| kept) {
                cs.spare_timers.retain(|(t, _)| *t != id);
            }
        }
    }
}

fn wanted<T: 'static>(cs: &Clients<T>, rid: u64, now: Instant) -> Option<(Instant, Due)> {
    let r = cs.reqs.get(&rid)?;
    let o = &cs.clients.get(&r.client)?.opts;
    let mut best: Option<(Instant, Due)> = None;
    let mut consider = |at: Option<Instant>, d: Option<Duration>, due| {
        if let (Some(at), Some(d)) = (at, d) {
            let t = at + d;
            if best.is_none_or(|(b, _)| t < b) {
                best = Some((t, due));
            }
        }
    };
    consider(
        Some(r.started),
        r.timeout,
        Due::Timeout(TimeoutKind::Request),
    );
    if r.conn.is_some() {
        if r.framing.is_none() {
            consider(
                r.head_since,
                o.head_timeout,
                Due::Timeout(TimeoutKind::Head),
            );
            consider(
                r.continue_since,
                Some(o.expect_continue_timeout),
                Due::Continue,
            );
        } else if !(r.stream_response && r.redirect.is_none() && (r.paused || r.read_cb.is_none()))
        {
            consider(
                Some(r.body_since),
                o.body_timeout,
                Due::Timeout(TimeoutKind::Body),
            );
        }
    }
    if best.is_none() {
        let reading = r
            .conn
            .and_then(|c| cs.conns.get(&c))
            .is_some_and(|c| matches!(c.phase, ConnPhase::Busy(_)) && !c.read_off);
        if reading {
            best = Some((now + HOLD, Due::Hold));
        }
    }
    best
}

/// Makes sure the request's timer fires no later than its next deadline
/// (and runs while its connection reads).
pub(crate) fn arm<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) {
    let now = ctx.now();
    let Some(cs) = clients::<T>(ctx) else { return };
    let want = wanted(cs, rid, now);
    let Some(r) = cs.reqs.get_mut(&rid) else {
        return;
    };
    let Some((at, due)) = want else {
        // Set only to hold the loop for a connection that has stopped
        // reading: the connection's stream holds it now, if anything.
        if r.hold {
            r.hold = false;
            r.armed = None;
            let timer = r.timer;
            if let Ok(mut t) = ctx.timer(timer) {
                t.stop();
            }
        }
        return;
    };
    if r.armed.is_some_and(|armed| armed <= at) {
        return;
    }
    r.armed = Some(at);
    r.hold = due == Due::Hold;
    let timer = r.timer;
    let d = at.saturating_duration_since(now);
    if let Ok(mut t) = ctx.timer(timer) {
        let _ = t.again_with(d.max(Duration::from_nanos(1)));
    }
}

pub(crate) fn on_timer<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: u64) {
    let now = ctx.now();
    let Some(r) = req::<T>(ctx, rid) else { return };
    r.armed = None;
    r.hold = false;
    let timer = r.timer;
    match clients::<T>(ctx).and_then(|cs| wanted(cs, rid, now)) {
        Some((at, due)) if at <= now => {
            if let Ok(mut t) = ctx.timer(timer) {
                t.stop();
            }
            match due {
                Due::Continue => {
                    release_body(ctx, rid);
                    arm(ctx, rid);
                }
                Due::Timeout(kind) => fail(ctx, data, rid, ClientError::Timeout(kind)),
                Due::Hold => arm(ctx, rid),
            }
        }
        Some(_) => arm(ctx, rid),
        None => {
            if let Ok(mut t) = ctx.timer(timer) {
                t.stop();
            }
        }
    }
}
