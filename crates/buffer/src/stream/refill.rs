//! A rate-limited stream's own refill timer (see [`super::rate`]), and
//! setting or lifting its limit.

use std::io;

use evloop::Ctx;

use super::driver::state;
use super::settle::{defer_error, settle};
use super::{Direction, StreamId};

/// Starts or stops the refill timer of a limited stream: it runs while a
/// bucket is below its burst, on a stream that can still move bytes.
/// Kept out of `settle_if`, which every stream runs after every event.
#[inline(never)]
pub(super) fn settle_refill<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId) {
    let Some(st) = state(ctx, id) else { return };
    let live = !st.failed;
    let Some(r) = st.rate.as_deref_mut().and_then(|l| l.own.as_mut()) else {
        return;
    };
    let wanted = live && r.refilling();
    if wanted != r.timer_on {
        r.timer_on = wanted;
        apply_refill(ctx, id, wanted);
    }
}

/// Starts the refill timer on the next tick boundary, then every tick
/// (making it the first time), or stops it.
fn apply_refill<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId, start: bool) {
    let now = ctx.now();
    let Some(st) = state(ctx, id) else { return };
    let (priority, keepalive) = (st.priority, st.keepalive);
    let Some(r) = st.rate.as_deref_mut().and_then(|l| l.own.as_mut()) else {
        return;
    };
    if start {
        r.restart(now);
    }
    let (timer, after, tick) = (r.timer, r.until_next_tick(now), r.limit.tick());
    if !start {
        if let Some(mut t) = timer.and_then(|t| ctx.timer(t).ok()) {
            t.stop();
        }
        return;
    }
    let timer = match timer {
        Some(t) => t,
        None => {
            let made = ctx.new_timer(after, tick, move |ctx, _, _, _| on_refill(ctx, id));
            let Ok(t) = made else {
                // Durations were checked when the limit was set; a timer
                // that cannot be made leaves the stream held back, so say
                // so rather than stall.
                let e = io::Error::other("cannot start the rate limit's refill timer");
                defer_error(ctx, id, e, Direction::Read);
                return;
            };
            let own = state(ctx, id).and_then(|st| st.rate.as_deref_mut()?.own.as_mut());
            if let Some(r) = own {
                r.timer = Some(t);
            }
            t
        }
    };
    if let Ok(mut t) = ctx.timer(timer) {
        t.stop();
        let _ = t.set(after, tick);
        t.set_priority(priority);
        t.set_keepalive(keepalive);
        let _ = t.start();
    }
}

/// A tick: the buckets get their tokens, and a direction held back by an
/// empty one goes on.
fn on_refill<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId) {
    let now = ctx.now();
    let Some(st) = state(ctx, id) else { return };
    if let Some(r) = st.rate.as_deref_mut().and_then(|l| l.own.as_mut()) {
        r.refill(now);
    }
    settle(ctx, id);
}

/// Sets, replaces or removes a stream's rate limit.
pub(super) fn set_rate_limit<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    id: StreamId,
    limit: Option<super::RateLimit>,
) -> Result<(), evloop::Error> {
    if let Some(l) = &limit {
        l.validate()?;
    }
    let now = ctx.now();
    let st = state(ctx, id).ok_or(evloop::Error::StaleHandle)?;
    let limits = st.rate.get_or_insert_with(Default::default);
    let old_timer = match (limits.own.as_mut(), limit) {
        (Some(r), Some(l)) => {
            let tick_changed = r.limit.tick() != l.tick();
            r.replace(l, now);
            if tick_changed && r.timer_on {
                // Started again below, on the new tick's boundaries.
                r.timer_on = false;
            }
            None
        }
        (None, Some(l)) => {
            limits.own = Some(super::rate::Buckets::new(l, now, None));
            None
        }
        (Some(_), None) => limits.own.take().and_then(|r| r.timer),
        (None, None) => None,
    };
    if limits.is_empty() {
        st.rate = None;
    }
    if let Some(t) = old_timer {
        ctx.remove(t)?;
    }
    settle(ctx, id);
    Ok(())
}
