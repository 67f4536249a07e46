//! A connection's stream callbacks, and the pump that moves a response
//! from its input to the request's callbacks.

use evloop::Ctx;
use evloop_buffer::{Direction, StreamEvent, StreamExt, StreamId};

use super::connect::connect_failed;
use super::finish::{complete, deliver_chunk_with, deliver_head, fail, retry_or_fail, upgraded};
use super::pool::close_conn;
use super::read::{step, Step};
use super::send::release_body;
use super::state::{clients, conn, Clients, ConnPhase};
use super::{ClientError, ResponseChunk, TimeoutKind};

pub(crate) fn on_read<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: u64) {
    pump(ctx, data, id);
}

/// Output drained (to the low watermark): a streamed body's producer may
/// go on; a fully queued request restarts its head wait from now.
pub(crate) fn on_write<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: u64) {
    let now = ctx.now();
    let Some(cs) = clients::<T>(ctx) else { return };
    let Some(c) = cs.conns.get(&id) else { return };
    let ConnPhase::Busy(rid) = c.phase else {
        return;
    };
    let Some(r) = cs.reqs.get_mut(&rid) else {
        return;
    };
    r.body_since = now;
    if r.body_queued && r.framing.is_none() {
        r.head_since = Some(now);
    }
    // Only a streamed body's producer waits for this (`drain` asks the
    // same first; asked here, the common request costs no more lookups).
    if r.out
        .as_ref()
        .is_some_and(|o| o.on_drain.is_some() && !o.finished)
    {
        super::body_out::drain(ctx, data, rid);
    }
}

pub(crate) fn on_event<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    id: u64,
    sid: StreamId,
    ev: StreamEvent,
) {
    let Some(c) = conn::<T>(ctx, id) else {
        if let Ok(s) = ctx.stream(sid) {
            s.close();
        }
        return;
    };
    match c.phase {
        ConnPhase::Connecting { .. } => {
            let err = match ev {
                StreamEvent::Connected => {
                    super::connect::connected(ctx, id, sid);
                    return;
                }
                StreamEvent::Error { error, .. } => ClientError::Connect(error),
                StreamEvent::Timeout(_) => ClientError::Timeout(TimeoutKind::Connect),
                StreamEvent::Eof => ClientError::Closed,
            };
            connect_failed(ctx, data, id, err);
        }
        ConnPhase::Idle => {
            // The server closed it, it failed, or it idled out.
            let cid = c.client;
            close_conn(ctx, id);
            super::pool::dispatch(ctx, cid);
        }
        ConnPhase::Busy(rid) => match ev {
            StreamEvent::Connected => {}
            StreamEvent::Eof => {
                c.eof = true;
                pump(ctx, data, id);
            }
            StreamEvent::Error { error, .. } => {
                c.eof = true;
                c.error = Some(error);
                pump(ctx, data, id);
            }
            StreamEvent::Timeout(Direction::Write) => {
                fail(ctx, data, rid, ClientError::Timeout(TimeoutKind::Body));
            }
            StreamEvent::Timeout(Direction::Read) => {
                // The idle timeout, running on: the request has deadlines
                // of its own.
                if !c.read_off {
                    if let Ok(mut s) = ctx.stream(sid) {
                        s.enable(Direction::Read);
                    }
                }
            }
        },
    }
}

/// Reads what the connection's input holds for its request, handing each
/// event to the request's callbacks, until more input is needed.
pub(crate) fn pump<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: u64) {
    let mut rearm = None;
    pump_steps(ctx, data, id, &mut rearm);
    // The deadlines changed at the head: the timer is set for them once
    // the steps are done, if the request is still there (most responses
    // are read to their end in the same steps). A timer fires only from
    // the loop, which these steps do not return to.
    if let Some(rid) = rearm {
        super::deadline::arm(ctx, rid);
    }
}

/// What a step leaves to do once the connection's state is let go (it
/// calls into the loop, or user code).
enum After<T: 'static> {
    /// Nothing: take the next step.
    Next,
    Stop,
    /// Bytes came on an idle connection, or it ended: it goes.
    DropIdle(u64),
    /// More input is needed (`true`: none will come).
    NeedMore(bool),
    Interim(bool),
    /// The final head: check a redirect (`may_follow`), the body's size
    /// (`too_large`), then hand the head over (`streamed`).
    Head {
        may_follow: bool,
        too_large: bool,
        streamed: bool,
    },
    /// A body piece for the streamed body's callback, taken out of the
    /// request in the same look.
    Chunk(Box<super::state::ChunkCb<T>>, bytes::Bytes),
    TooLarge,
    /// A redirect's body grew past what is worth reading.
    GiveUpRedirect,
    Paused,
    End(http::HeaderMap),
    Upgrade,
    Unanswered,
    Fail(ClientError),
}

/// [`pump`]'s steps; `rearm` gets the request whose timer is to be set.
///
/// Each step looks at the connection once: the stream's input and the
/// client's state come in one borrow, the step's bookkeeping on the
/// request is done in it, and what needs the loop or user code comes
/// after (see [`After`]).
fn pump_steps<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: u64, rearm: &mut Option<u64>) {
    // A connection keeps its stream: a closed stream is a stale id below.
    let Some(sid) = conn::<T>(ctx, id).and_then(|c| c.stream) else {
        return;
    };
    loop {
        let now = ctx.now();
        let Ok(mut s) = ctx.stream(sid) else { return };
        let (after, rid) = match s.buffers_with_ext::<Clients<T>>() {
            Some((input, _, cs)) => look::<T>(cs, input, id, now),
            None => (After::Stop, 0),
        };
        drop(s);
        match after {
            After::Next => {}
            After::Stop => return,
            After::DropIdle(cid) => {
                close_conn(ctx, id);
                super::pool::dispatch(ctx, cid);
                return;
            }
            After::NeedMore(eof) => {
                set_reading(ctx, id, true);
                if eof {
                    // Nothing more will come (a socket error before any
                    // framing decision).
                    let err = take_error(ctx, id).unwrap_or(ClientError::Closed);
                    fail(ctx, data, rid, err);
                }
                return;
            }
            After::Interim(cont) => {
                if cont {
                    release_body(ctx, rid);
                }
            }
            After::Head {
                may_follow,
                too_large,
                streamed,
            } => {
                if may_follow {
                    match super::follow::check(ctx, rid) {
                        super::follow::Follow::No => {}
                        super::follow::Follow::Yes => continue,
                        super::follow::Follow::Fail(e) => {
                            fail(ctx, data, rid, e);
                            return;
                        }
                    }
                }
                if too_large {
                    fail(ctx, data, rid, ClientError::BodyTooLarge);
                    return;
                }
                if streamed {
                    deliver_head(ctx, data, rid);
                }
                *rearm = Some(rid);
            }
            After::Chunk(cb, bytes) => {
                deliver_chunk_with(ctx, data, rid, cb, ResponseChunk::Data(bytes));
            }
            After::TooLarge => {
                fail(ctx, data, rid, ClientError::BodyTooLarge);
                return;
            }
            After::GiveUpRedirect => {
                // Not worth reading to keep the connection.
                close_conn(ctx, id);
                super::follow::restart(ctx, rid);
                return;
            }
            After::Paused => {
                // An EOF stays recorded on the connection: the body ends
                // (or fails) once it is taken.
                set_reading(ctx, id, false);
                return;
            }
            After::End(trailers) => {
                // Over, or (a redirect) sent again with its timer set.
                *rearm = None;
                complete(ctx, data, rid, id, trailers);
                return;
            }
            After::Upgrade => {
                *rearm = None;
                upgraded(ctx, data, rid, id);
                return;
            }
            After::Unanswered => {
                let err = take_error(ctx, id).unwrap_or(ClientError::Closed);
                retry_or_fail(ctx, data, rid, id, err);
                return;
            }
            After::Fail(e) => {
                let e = match e {
                    ClientError::Closed => take_error(ctx, id).unwrap_or(ClientError::Closed),
                    e => e,
                };
                fail(ctx, data, rid, e);
                return;
            }
        }
    }
}

/// One step on connection `id`, whose stream's input is `input`: what
/// it read, with the request's bookkeeping done; and the request's id.
fn look<T: 'static>(
    cs: &mut Clients<T>,
    input: &mut evloop_buffer::Buffer,
    id: u64,
    now: std::time::Instant,
) -> (After<T>, u64) {
    let Some(c) = cs.conns.get_mut(&id) else {
        return (After::Stop, 0);
    };
    let rid = match c.phase {
        ConnPhase::Busy(rid) => rid,
        ConnPhase::Idle => {
            // Bytes nobody asked for: the connection is out of step.
            if !input.is_empty() || c.eof {
                return (After::DropIdle(c.client), 0);
            }
            return (After::Stop, 0);
        }
        ConnPhase::Connecting { .. } => return (After::Stop, 0),
    };
    let Some(r) = cs.reqs.get_mut(&rid) else {
        return (After::Stop, rid);
    };
    let Some(cl) = cs.clients.get(&r.client) else {
        return (After::Stop, rid);
    };
    let limits = &cl.opts.limits;
    let after = match step(r, input, c.eof, limits, &cl.opts.lenient, &mut c.fields) {
        Step::NeedMore => After::NeedMore(c.eof),
        Step::Interim(cont) => After::Interim(cont),
        Step::Head => {
            r.body_since = now;
            r.head_since = None;
            if r.expect_wait {
                // A final answer before 100: the body is not sent, and
                // the connection cannot carry another request.
                r.expect_wait = false;
                r.continue_since = None;
                r.body_abandoned = true;
                r.held.clear();
            }
            // Only a redirect (3xx) to a request that follows them
            // needs `follow::check`, and its lookups.
            let may_follow =
                r.max_redirects > 0 && r.head.as_ref().is_some_and(|h| h.status.is_redirection());
            // What a check that does not follow leaves as it is.
            let streamed = r.stream_response;
            let too_large = !streamed
                && matches!(
                    r.head.as_ref().map(|h| h.body),
                    Some(crate::proto::ResponseBodyKind::Length(n)) if n > limits.max_body
                );
            After::Head {
                may_follow,
                too_large,
                streamed,
            }
        }
        Step::Data(bytes) => {
            r.body_since = now;
            if r.redirect.is_some() {
                r.discarded += bytes.len() as u64;
                if r.discarded > super::follow::MAX_DISCARD {
                    r.conn = None;
                    After::GiveUpRedirect
                } else {
                    After::Next
                }
            } else if r.stream_response {
                match r.read_cb.take() {
                    Some(cb) => After::Chunk(cb, bytes),
                    None => After::Next,
                }
            } else {
                r.collected.add_bytes(bytes);
                if r.collected.len() as u64 > limits.max_body {
                    After::TooLarge
                } else {
                    After::Next
                }
            }
        }
        Step::Paused => After::Paused,
        Step::End(trailers) => After::End(trailers),
        Step::Upgrade => After::Upgrade,
        Step::Unanswered => After::Unanswered,
        Step::Fail(e) => After::Fail(e),
    };
    (after, rid)
}

fn take_error<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64) -> Option<ClientError> {
    conn::<T>(ctx, id)?.error.take().map(ClientError::Io)
}

/// Turns reading on or off (a streamed body nobody takes holds the
/// socket, so the server is held back by TCP flow control). The
/// request's timer holds the loop only while its connection reads: it is
/// re-armed.
pub(crate) fn set_reading<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64, on: bool) {
    let Some(c) = conn::<T>(ctx, id) else { return };
    if c.read_off != on {
        return;
    }
    c.read_off = !on;
    let busy = match c.phase {
        ConnPhase::Busy(rid) => Some(rid),
        _ => None,
    };
    // Not reading, the connection holds the loop by its stream as any
    // stream does (while it writes).
    let reref = !on && std::mem::take(&mut c.unrefd);
    let Some(sid) = c.stream else { return };
    if let Ok(mut s) = ctx.stream(sid) {
        if reref {
            s.set_keepalive(true);
        }
        if on {
            s.enable(Direction::Read);
        } else {
            s.disable(Direction::Read);
        }
    }
    if let Some(rid) = busy {
        super::deadline::arm(ctx, rid);
    }
}
