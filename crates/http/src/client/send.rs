//! Writing a request on its connection: the head and the body at once,
//! or the body later (after `100 Continue`).

use evloop::Ctx;
use evloop_buffer::{Direction, StreamExt};

use super::deadline::arm;
use super::finish::defer_error;
use super::state::{clients, req, Conn, ConnPhase};
use super::{ClientError, RequestBody};

/// Output at or below this much counts as drained for a streamed request
/// body's producer.
pub(crate) const DRAIN_LOW: usize = 64 * 1024;

/// Puts request `rid` on connection `id` and writes it: the head, and
/// the body unless it waits for `100 Continue`.
pub(crate) fn assign<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64, id: u64) {
    let now = ctx.now();
    let Some(cs) = clients::<T>(ctx) else { return };
    let Some(c) = cs.conns.get_mut(&id) else {
        return;
    };
    c.phase = ConnPhase::Busy(rid);
    let was_off = std::mem::take(&mut c.read_off);
    let sid = c.stream;
    let mut info = c.info;
    let Some(r) = cs.reqs.get_mut(&rid) else {
        return;
    };
    // Made for this request only if it is the connection the request
    // had opened; any other came from the pool.
    if r.connecting != Some(id) {
        info.reused = true;
        info.connect_time = None;
    }
    r.connection = info;
    if let Some(other) = r.connecting.take() {
        if other != id {
            if let Some(Conn {
                phase: ConnPhase::Connecting { for_req, .. },
                ..
            }) = cs.conns.get_mut(&other)
            {
                *for_req = None;
            }
        }
    }
    r.conn = Some(id);
    let Some(sid) = sid else { return };
    // Lent out while the stream is borrowed, then put back.
    let head = std::mem::take(&mut r.wire_head);
    let wait = r.expect_wait;
    if wait {
        r.continue_since = Some(now);
    }
    let written = match ctx.stream(sid) {
        Ok(mut s) => {
            if was_off {
                s.enable(Direction::Read);
            }
            s.output().add(&head);
            true
        }
        Err(_) => false,
    };
    // Without a body the request is all out now: what `write_body` would
    // note, noted in this lookup.
    let mut queued = false;
    if let Some(r) = req::<T>(ctx, rid) {
        r.wire_head = head;
        if written && !wait && matches!(r.body, RequestBody::Empty) && r.out.is_none() {
            r.body_queued = true;
            r.head_since = Some(now);
            queued = true;
        }
    }
    if !written {
        return;
    }
    if wait || queued {
        arm(ctx, rid);
    } else {
        write_body(ctx, rid, sid);
    }
}

/// Sends a body held for `100 Continue` (the server said go, or the wait
/// ran out).
pub(crate) fn release_body<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) {
    let Some(cs) = clients::<T>(ctx) else { return };
    let Some(r) = cs.reqs.get_mut(&rid) else {
        return;
    };
    if !r.expect_wait {
        return;
    }
    r.expect_wait = false;
    r.continue_since = None;
    if let Some(sid) = r.conn.and_then(|c| cs.conns.get(&c)).and_then(|c| c.stream) {
        write_body(ctx, rid, sid);
    }
}

/// Queues request `rid`'s body on stream `sid`: a fixed or file body
/// whole, a streamed one as far as it was produced (the rest follows
/// through `send_body`).
fn write_body<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64, sid: evloop_buffer::StreamId) {
    let now = ctx.now();
    let Some(r) = req::<T>(ctx, rid) else { return };
    let streamed = r.out.is_some();
    let queued = r.out.as_ref().is_none_or(|o| o.finished);
    if !matches!(r.body, RequestBody::Empty) {
        let body = r.body.clone();
        let mut held = std::mem::take(&mut r.held);
        let Ok(mut s) = ctx.stream(sid) else { return };
        let out = s.output();
        match body {
            RequestBody::Empty => {}
            RequestBody::Bytes(b) => out.add_bytes(b),
            RequestBody::File { file, offset, len } => {
                if let Err(e) = out.add_file(file, offset, len) {
                    drop(s);
                    defer_error(ctx, rid, ClientError::Io(e));
                    return;
                }
            }
            RequestBody::Stream => out.append_buffer(&mut held),
        }
        drop(s);
    }
    if let Some(r) = req::<T>(ctx, rid) {
        r.body_queued = queued;
        if queued {
            r.head_since = Some(now);
        }
    }
    arm(ctx, rid);
    if streamed {
        // Its producer may go on now.
        super::finish::kick(ctx, rid);
    }
}
