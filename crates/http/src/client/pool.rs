//! The pool: handing waiting requests to idle connections, opening new
//! ones within the caps (see [`connect`](super::connect)), taking
//! connections back, closing them.

use evloop::Ctx;
use evloop_buffer::{Direction, StreamExt, StreamId};
use evloop_dns::connect::ConnectExt;

use super::connect::open;
use super::send::assign;
use super::state::{clients, req, Clients, Conn, ConnPhase};

/// Hands waiting requests of client `cid` to idle connections, and opens
/// connections for the others as far as the caps allow. Runs no user code.
pub(crate) fn dispatch<T: 'static>(ctx: &mut Ctx<'_, T>, cid: u64) {
    let mut i = 0;
    loop {
        let Some(cs) = clients::<T>(ctx) else { return };
        let Some(cl) = cs.clients.get_mut(&cid) else {
            return;
        };
        let Some(&rid) = cl.queue.get(i) else { return };
        let Some(r) = cs.reqs.get(&rid) else {
            cl.queue.remove(i);
            continue;
        };
        if r.pending_error.is_some() {
            i += 1;
            continue;
        }
        let fresh = r.fresh_only;
        let has_connect = r.connecting.is_some();
        let (per_host, max_total) = (cl.opts.max_per_host, cl.opts.max_total);
        // The pool is there but for a request's first connection: no
        // clone of the key (and its drop) to look it up.
        let pool = match cl.pools.get_mut(&r.key) {
            Some(p) => p,
            None => cl.pools.entry(r.key.clone()).or_default(),
        };
        if !fresh {
            if let Some(c) = pool.idle.pop() {
                // Mostly the oldest request: no general removal for it.
                if i == 0 {
                    cl.queue.pop_front();
                } else {
                    cl.queue.remove(i);
                }
                assign(ctx, rid, c);
                continue;
            }
        }
        if has_connect {
            i += 1;
            continue;
        }
        if pool.open >= per_host {
            if fresh && !pool.idle.is_empty() {
                // A retry needs a new connection: make room for it.
                let victim = pool.idle.remove(0);
                close_conn(ctx, victim);
                continue;
            }
            i += 1;
            continue;
        }
        if cl.total >= max_total {
            // Room taken by another host's idle connection is given back.
            let victim = cl
                .pools
                .values_mut()
                .find_map(|p| (!p.idle.is_empty()).then(|| p.idle.remove(0)));
            match victim {
                Some(v) => close_conn(ctx, v),
                None => i += 1,
            }
            continue;
        }
        pool.open += 1;
        cl.total += 1;
        let key = r.key.clone();
        open(ctx, cid, rid, key);
        i += 1;
    }
}

/// An idle connection in the pool: it closes after the idle timeout or
/// when the server closes it, and (once [`unref_idle`] ran, at once with
/// `unref`) it does not keep the loop running.
pub(crate) fn make_idle<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64, unref: bool) {
    let Some(cs) = clients::<T>(ctx) else { return };
    if let Some(sid) = make_idle_in(cs, id) {
        resume_reading(ctx, sid);
    }
    if unref {
        unref_idle(ctx, id);
    }
}

/// [`make_idle`]'s bookkeeping: the stream to switch reading back on, if
/// a streamed body had it off.
fn make_idle_in<T: 'static>(cs: &mut Clients<T>, id: u64) -> Option<StreamId> {
    let c = cs.conns.get_mut(&id)?;
    c.phase = ConnPhase::Idle;
    // Reading is on unless a streamed body had it off.
    let sid = if std::mem::take(&mut c.read_off) {
        c.stream
    } else {
        None
    };
    let cl = cs.clients.get_mut(&c.client)?;
    match cl.pools.get_mut(&c.key) {
        Some(p) => p.idle.push(id),
        None => cl.pools.entry(c.key.clone()).or_default().idle.push(id),
    }
    sid
}

/// Lets an idle connection stop keeping the loop running. A response's
/// callback often sends the next request on the connection it just
/// freed: this runs after it, so such a connection never switches.
pub(crate) fn unref_idle<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64) {
    let Some(sid) = clients::<T>(ctx).and_then(|cs| unref_in(cs, id)) else {
        return;
    };
    stop_holding(ctx, sid);
}

/// [`unref_idle`]'s bookkeeping: the stream to stop holding the loop, if
/// connection `id` is idle and still holds it.
pub(crate) fn unref_in<T: 'static>(cs: &mut Clients<T>, id: u64) -> Option<StreamId> {
    let c = cs.conns.get_mut(&id)?;
    if !matches!(c.phase, ConnPhase::Idle) || c.unrefd {
        return None;
    }
    c.unrefd = true;
    c.stream
}

/// The stream `sid` of a connection gone idle is read again (a streamed
/// body had reading off).
fn resume_reading<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId) {
    if let Ok(mut s) = ctx.stream(sid) {
        s.enable(Direction::Read);
    }
}

/// The stream `sid` no longer keeps the loop running.
pub(crate) fn stop_holding<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId) {
    if let Ok(mut s) = ctx.stream(sid) {
        s.set_keepalive(false);
    }
}

/// Takes connection `id` back after a response read to its end: to the
/// pool if it can carry another request, closed otherwise. Then waiting
/// requests get their turn.
pub(crate) fn release<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64, reusable: bool) {
    let Some(cs) = clients::<T>(ctx) else { return };
    let Some(c) = cs.conns.get_mut(&id) else {
        return;
    };
    c.served += 1;
    let cid = c.client;
    let (shut, waiting) = cs
        .clients
        .get(&cid)
        .map_or((true, false), |cl| (cl.shut, !cl.queue.is_empty()));
    if reusable && !shut {
        // In the lookup this has: most releases find no request waiting.
        if let Some(sid) = make_idle_in(cs, id) {
            resume_reading(ctx, sid);
        }
        if !waiting {
            return;
        }
    } else {
        close_conn(ctx, id);
    }
    dispatch(ctx, cid);
}

/// Closes connection `id` and forgets it.
pub(crate) fn close_conn<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64) {
    let Some(c) = clients::<T>(ctx).and_then(|cs| forget(cs, id)) else {
        return;
    };
    if let ConnPhase::Connecting { dns, for_req, .. } = c.phase {
        if let Some(d) = dns {
            ctx.cancel_connect(d);
        }
        if let Some(r) = for_req.and_then(|r| req::<T>(ctx, r)) {
            if r.connecting == Some(id) {
                r.connecting = None;
            }
        }
    }
    if let Some(sid) = c.stream {
        if let Ok(s) = ctx.stream(sid) {
            s.close();
        }
    }
}

/// Takes connection `id` out of the engine: out of the map, its pool's
/// counts and idle list, and its client's total.
fn forget<T: 'static>(cs: &mut Clients<T>, id: u64) -> Option<Conn> {
    let c = cs.conns.remove(&id)?;
    if let Some(cl) = cs.clients.get_mut(&c.client) {
        cl.total = cl.total.saturating_sub(1);
        if let Some(p) = cl.pools.get_mut(&c.key) {
            p.open = p.open.saturating_sub(1);
            p.idle.retain(|&x| x != id);
        }
    }
    Some(c)
}

/// Hands a connection's stream over (an upgrade): it leaves the pool.
pub(crate) fn detach<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64) -> Option<StreamId> {
    let c = forget(clients::<T>(ctx)?, id)?;
    let sid = c.stream?;
    if let Ok(mut s) = ctx.stream(sid) {
        s.clear_data_callbacks();
        s.set_keepalive(true);
        s.enable(Direction::Read);
        let _ = s.set_timeouts(None, None);
        s.on_event(|ctx, _, sid, ev| {
            if !matches!(ev, evloop_buffer::StreamEvent::Connected) {
                if let Ok(s) = ctx.stream(sid) {
                    s.close();
                }
            }
        });
    }
    dispatch(ctx, c.client);
    Some(sid)
}
