//! How a request ends: complete (its connection back to the pool), failed,
//! retried once, upgraded, cancelled; and the deferred work (`kick`) that
//! calls from outside the loop's callbacks leave for the loop.

use std::time::Duration;

use evloop::Ctx;
use http::HeaderMap;

use super::conn::pump;
use super::pool::{close_conn, detach, dispatch, release};
use super::prepare::idempotent;
use super::state::{clients, conn, req, ConnPhase, Req};
use super::{ClientError, RequestId, Response, ResponseChunk};

/// The response of `r`, taking its head and URL: no later step of a
/// request needs them once its response is handed over (a redirect is
/// decided, and its URL taken, before).
fn response<T: 'static>(r: &mut Req<T>, id: RequestId, streaming: bool) -> Response {
    let (status, version, reason, headers) = match r.head.as_mut() {
        Some(h) => (
            h.status,
            h.version,
            std::mem::take(&mut h.reason),
            std::mem::take(&mut h.headers),
        ),
        None => (
            http::StatusCode::OK,
            http::Version::HTTP_11,
            Default::default(),
            HeaderMap::new(),
        ),
    };
    Response {
        status,
        version,
        reason,
        headers,
        body: bytes::Bytes::new(),
        trailers: HeaderMap::new(),
        informational: std::mem::take(&mut r.informational),
        url: std::mem::take(&mut r.url),
        redirects: r.redirects,
        upgrade: None,
        id,
        streaming,
        connection: r.connection,
    }
}

/// Takes request `rid` out of everything: the map, the queue, the
/// connection being made for it, its timer; its connection is closed (a
/// connection whose response was read to the end was released before).
fn detach_req<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) -> Option<Box<Req<T>>> {
    let cs = clients::<T>(ctx)?;
    let r = cs.reqs.remove(&rid)?;
    if let Some(cl) = cs.clients.get_mut(&r.client) {
        cl.queue.retain(|&q| q != rid);
    }
    if let Some(c) = r.connecting.and_then(|c| cs.conns.get_mut(&c)) {
        if let ConnPhase::Connecting { for_req, .. } = &mut c.phase {
            *for_req = None;
        }
    }
    // Its timer kept for another request in this lookup, stopped below.
    let kept = super::deadline::keep_timer(cs, r.timer, &r.timer_rid);
    super::deadline::stop_kept(ctx, r.timer, kept);
    if let Some(c) = r.conn {
        close_conn(ctx, c);
    }
    Some(r)
}

/// The response's body is read to its end.
pub(crate) fn complete<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    rid: u64,
    cid: u64,
    trailers: HeaderMap,
) {
    // An EOF read together with the end of the body is seen here (the
    // stream says so before its Eof event): such a connection must not
    // take another request.
    let Some(cs) = clients::<T>(ctx) else { return };
    let (eof, sid) = cs
        .conns
        .get(&cid)
        .map_or((true, None), |c| (c.eof, c.stream));
    let Some(r) = cs.reqs.get_mut(&rid) else {
        return;
    };
    let body_done = r.body_queued && r.out.as_ref().is_none_or(|o| o.finished);
    let keep =
        r.head.as_ref().is_some_and(|h| h.keep_alive) && !r.close && !r.body_abandoned && body_done;
    r.conn = None;
    // Releasing the connection runs no user code and hands this request
    // nothing: whether it follows a redirect stays as it is.
    let redirect = r.redirect.is_some();
    let eof = eof
        || sid.is_none_or(|sid| {
            evloop_buffer::StreamExt::stream(ctx, sid)
                .map_or(true, |s| s.is_eof() || s.has_failed())
        });
    let reusable = keep && !eof;
    release(ctx, cid, reusable);
    if redirect {
        super::follow::restart(ctx, rid);
        super::pool::unref_idle(ctx, cid);
        return;
    }
    let Some(mut r) = detach_req(ctx, rid) else {
        return;
    };
    let id = RequestId {
        lp: ctx.loop_id(),
        id: rid,
    };
    if r.stream_response {
        if let Some(mut cb) = r.read_cb.take() {
            cb(ctx, data, id, ResponseChunk::End(trailers));
        }
    } else {
        let mut resp = response(&mut r, id, false);
        resp.body = r.collected.split_to(usize::MAX);
        resp.trailers = trailers;
        if let Some(cb) = r.cb.take() {
            cb(ctx, data, Ok(resp));
        }
    }
    recycle(ctx, r, cid);
}

/// Spare request records kept at most.
const MAX_SPARE_REQS: usize = 64;

/// Keeps the record of a request that ended for a later one. What the
/// caller gave it (callbacks, the body) and any payload bytes go now, as
/// they would have with the record; the rest when the record is reused. Then (in the same
/// lookup) what [`unref_idle`](super::pool::unref_idle) does for the
/// connection `cid` it was read from.
fn recycle<T: 'static>(ctx: &mut Ctx<'_, T>, mut r: Box<Req<T>>, cid: u64) {
    r.cb = None;
    r.read_cb = None;
    r.out = None;
    r.body = super::RequestBody::Empty;
    r.redirect = None;
    // Payload bytes are not kept alive by a spare record either (both are
    // empty after a response read to its end, so this frees nothing then).
    r.held = Default::default();
    r.collected = Default::default();
    let Some(cs) = clients::<T>(ctx) else { return };
    if cs.spare_reqs.len() < MAX_SPARE_REQS {
        cs.spare_reqs.push(r);
    }
    if let Some(sid) = super::pool::unref_in(cs, cid) {
        super::pool::stop_holding(ctx, sid);
    }
}

/// Request `rid` fails with `err`.
pub(crate) fn fail<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: u64, err: ClientError) {
    let Some(r) = req::<T>(ctx, rid) else { return };
    let client = r.client;
    if r.stream_response && r.head_delivered && r.read_cb.is_none() {
        // The caller has the head and will ask for the body: it hears the
        // error then.
        let c = r.conn.take();
        r.pending_error = Some(err);
        if let Some(c) = c {
            close_conn(ctx, c);
        }
        dispatch(ctx, client);
        return;
    }
    let Some(mut r) = detach_req(ctx, rid) else {
        return;
    };
    dispatch(ctx, client);
    let id = RequestId {
        lp: ctx.loop_id(),
        id: rid,
    };
    if r.head_delivered {
        if let Some(mut cb) = r.read_cb.take() {
            cb(ctx, data, id, ResponseChunk::Error(err));
        }
    } else if let Some(cb) = r.cb.take() {
        cb(ctx, data, Err(err));
    }
}

/// The connection ended before any byte of the response: the keep-alive
/// race. An idempotent request with a replayable body, on a connection
/// that had served before, is sent once more on a new connection.
pub(crate) fn retry_or_fail<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    rid: u64,
    cid: u64,
    err: ClientError,
) {
    let reused = conn::<T>(ctx, cid).is_some_and(|c| c.served > 0);
    let Some(r) = req::<T>(ctx, rid) else { return };
    let retry = reused
        && !r.retried
        && idempotent(&r.method)
        && r.body.is_replayable()
        && !r.head_delivered
        && r.informational.is_empty();
    if !retry {
        fail(ctx, data, rid, err);
        return;
    }
    r.conn = None;
    r.retried = true;
    r.fresh_only = true;
    reset_response(r);
    let client = r.client;
    close_conn(ctx, cid);
    if let Some(cl) = super::state::client::<T>(ctx, client) {
        cl.queue.push_front(rid);
    }
    dispatch(ctx, client);
}

/// Forgets what was read of a response (before the request goes again).
pub(crate) fn reset_response<T: 'static>(r: &mut Req<T>) {
    r.got_bytes = false;
    r.scanner.reset();
    r.informational.clear();
    r.head = None;
    r.framing = None;
    r.collected.clear();
    r.head_since = None;
    r.body_queued = false;
    r.body_abandoned = false;
    r.expect_wait = r.expect;
    r.continue_since = None;
}

/// `101` or a 2xx to CONNECT: the stream goes to the caller with the
/// response.
pub(crate) fn upgraded<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: u64, cid: u64) {
    if let Some(r) = req::<T>(ctx, rid) {
        r.conn = None;
    }
    let sid = detach(ctx, cid);
    let Some(mut r) = detach_req(ctx, rid) else {
        if let Some(sid) = sid {
            if let Ok(s) = evloop_buffer::StreamExt::stream(ctx, sid) {
                s.close();
            }
        }
        return;
    };
    let id = RequestId {
        lp: ctx.loop_id(),
        id: rid,
    };
    let mut resp = response(&mut r, id, false);
    resp.upgrade = sid;
    if let Some(cb) = r.cb.take() {
        cb(ctx, data, Ok(resp));
    }
}

/// A streamed response's head goes to the callback.
pub(crate) fn deliver_head<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: u64) {
    let lp = ctx.loop_id();
    let Some(r) = req::<T>(ctx, rid) else { return };
    let resp = response(r, RequestId { lp, id: rid }, true);
    r.head_delivered = true;
    let Some(cb) = r.cb.take() else { return };
    r.in_head_cb = true;
    cb(ctx, data, Ok(resp));
    if let Some(r) = req::<T>(ctx, rid) {
        r.in_head_cb = false;
    }
}

/// A piece of a streamed body goes to the `read_body` callback `cb`,
/// taken out of the request by the caller: it is put back after the call
/// unless the call set another.
pub(crate) fn deliver_chunk_with<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    rid: u64,
    mut cb: Box<super::state::ChunkCb<T>>,
    chunk: ResponseChunk,
) {
    let lp = ctx.loop_id();
    cb(ctx, data, RequestId { lp, id: rid }, chunk);
    if let Some(r) = req::<T>(ctx, rid) {
        if r.read_cb.is_none() {
            r.read_cb = Some(cb);
        }
    }
}

/// Request `rid` fails from the loop (the error was found where no
/// callback may run).
pub(crate) fn defer_error<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64, err: ClientError) {
    if let Some(r) = req::<T>(ctx, rid) {
        r.pending_error = Some(err);
        kick(ctx, rid);
    }
}

/// Has the loop look at request `rid` soon: a deferred error, a producer
/// to call, input to pump.
pub(crate) fn kick<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) {
    let Some(r) = req::<T>(ctx, rid) else { return };
    if r.kicked {
        return;
    }
    r.kicked = true;
    let t = ctx.once_timer(Duration::ZERO, move |ctx, data, _| kicked(ctx, data, rid));
    if t.is_err() {
        if let Some(r) = req::<T>(ctx, rid) {
            r.kicked = false;
        }
    }
}

fn kicked<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: u64) {
    let Some(r) = req::<T>(ctx, rid) else { return };
    r.kicked = false;
    if r.pending_error.is_some() {
        if r.stream_response && r.head_delivered && r.read_cb.is_none() {
            return;
        }
        let err = r.pending_error.take().unwrap_or(ClientError::Closed);
        // `fail` keeps a request whose caller holds the head; this one
        // has its body callback or no head out, so it ends here: `fail`
        // closes its connection and dispatches the waiting requests.
        fail(ctx, data, rid, err);
        return;
    }
    super::body_out::drain(ctx, data, rid);
    let Some(c) = req::<T>(ctx, rid).and_then(|r| r.conn) else {
        return;
    };
    pump(ctx, data, c);
}

/// Drops request `rid`: no callback of it runs again.
pub(crate) fn cancel<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) -> bool {
    let Some(r) = detach_req(ctx, rid) else {
        return false;
    };
    dispatch(ctx, r.client);
    true
}
