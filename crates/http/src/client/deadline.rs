//! A request's one timer: the head wait, the body stall, the whole
//! request, the `100 Continue` wait, whichever comes first.
//!
//! Lazy, as the server's: activity only moves the recorded times; the
//! timer fires when it was armed for, finds the deadline later, and is
//! armed again for the rest.

use std::time::{Duration, Instant};

use evloop::Ctx;

use super::finish::fail;
use super::send::release_body;
use super::state::{clients, req};
use super::{ClientError, TimeoutKind};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Due {
    Timeout(TimeoutKind),
    Continue,
}

fn wanted<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) -> Option<(Instant, Due)> {
    let cs = clients::<T>(ctx)?;
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
    best
}

/// Makes sure the request's timer fires no later than its next deadline.
pub(crate) fn arm<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) {
    let now = ctx.now();
    let Some((at, _)) = wanted(ctx, rid) else {
        return;
    };
    let Some(r) = req::<T>(ctx, rid) else { return };
    if r.armed.is_some_and(|armed| armed <= at) {
        return;
    }
    r.armed = Some(at);
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
    let timer = r.timer;
    match wanted(ctx, rid) {
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
