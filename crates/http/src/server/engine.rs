//! The engine's run for one connection: the stream's buffers held for the
//! run, requests taken from the input one step at a time, handlers and
//! body callbacks called with the loop (never while the server's state is
//! borrowed).

use bytes::Bytes;
use evloop::Ctx;
use evloop_buffer::stream::Direction;
use evloop_buffer::{Buffer, StreamExt, StreamId};
use http::{HeaderMap, StatusCode};

use super::close::{fail, forget, Close};
use super::read::step_with;
use super::respond::{respond, with_target};
use super::route::Reply;
use super::slab::Key;
use super::state::{conn, parts, server, BodyCb, BodyRead, HandlerRef, Reader, Servers, Sink};
use super::{BodyChunk, Request, Responder};

/// What the engine does next for a connection; computed while it holds the
/// server's state, done once it has let go (handlers get the loop).
pub(crate) enum Act<T: 'static> {
    /// Nothing more until more bytes arrive (or a response moves things).
    Idle,
    /// Look again.
    Again,
    Call(HandlerRef, Request),
    /// The engine answers itself (404, 405, 413, 501).
    Answer(Responder, http::Response<super::Body>),
    /// `100 Continue` for this request.
    Continue(Responder),
    /// A piece of a streamed body; the end too if `end` is set.
    Deliver(Responder, Bytes),
    End(Responder, Box<BodyCb<T>>, Bytes, HeaderMap),
    Fail(Option<StatusCode>, &'static str),
}

/// Reads requests out of the input for as long as there is something to do.
pub(crate) fn pump<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    let Some(c) = conn(ctx, key) else { return };
    c.in_pump = true;
    let sid = c.stream;
    if !c.holding {
        hold(ctx, key, sid);
    }
    loop {
        match step(ctx, key) {
            Act::Idle => break,
            Act::Again => {}
            Act::Call(h, req) => call(ctx, data, key, h, req),
            Act::Answer(r, resp) => {
                let _ = respond(ctx, r, resp);
            }
            Act::Continue(r) => send_continue(ctx, r),
            Act::Deliver(r, bytes) => deliver(ctx, data, r, BodyChunk::Data(bytes)),
            Act::End(r, mut cb, bytes, trailers) => {
                if !bytes.is_empty() {
                    cb(ctx, data, r, BodyChunk::Data(bytes));
                }
                cb(ctx, data, r, BodyChunk::End(trailers));
            }
            Act::Fail(status, reason) => {
                fail(ctx, data, key, status, reason);
                break;
            }
        }
    }
    let Some(off) = give_back(ctx, key, true) else {
        return;
    };
    if let Ok(mut s) = ctx.stream(sid) {
        if off == s.is_enabled(Direction::Read) {
            if off {
                s.disable(Direction::Read);
            } else {
                s.enable(Direction::Read);
            }
        }
    }
}

/// Takes the stream's buffers into the connection for a run of the engine
/// (the caller checked that it does not hold them already). While it holds
/// nothing, the connection's two buffers are empty spares: they and the
/// stream's are swapped, in one look at both tables, so that nothing is
/// made, moved or dropped per request.
fn hold<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key, sid: StreamId) {
    let Ok(mut s) = ctx.stream(sid) else { return };
    let Some((si, so, sv)) = s.buffers_with_ext::<Servers<T>>() else {
        return;
    };
    let Some(c) = sv.conns.get_mut(key) else {
        return;
    };
    std::mem::swap(si, &mut c.hold_in);
    std::mem::swap(so, &mut c.hold_out);
    c.holding = true;
}

/// Gives the held buffers back to the stream (what may have reached the
/// stream meanwhile stays after them).
pub(crate) fn release<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) {
    give_back(ctx, key, false);
}

/// [`release`]; with `end_pump`, also ends the engine's run in the same
/// look at the connection, and returns whether reading must be turned off
/// (`Some(true)`) or on (`Some(false)`), if that changed.
fn give_back<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key, end_pump: bool) -> Option<bool> {
    let c = conn(ctx, key)?;
    let mut read_off = None;
    if end_pump {
        c.in_pump = false;
        if c.read_off != c.read_off_applied {
            c.read_off_applied = c.read_off;
            read_off = Some(c.read_off);
        }
    }
    if !c.holding {
        return read_off;
    }
    c.holding = false;
    let sid = c.stream;
    let swapped = ctx.stream(sid).ok().and_then(|mut s| {
        let (si, so, sv) = s.buffers_with_ext::<Servers<T>>()?;
        let c = sv.conns.get_mut(key)?;
        put_back(si, &mut c.hold_in);
        put_back(so, &mut c.hold_out);
        Some(())
    });
    if swapped.is_none() {
        // The stream is gone: what was held goes with it.
        if let Some(c) = conn(ctx, key) {
            c.hold_in = Buffer::new();
            c.hold_out = Buffer::new();
        }
    }
    read_off
}

/// Gives one held buffer back to the stream; the stream's becomes the
/// connection's spare. What reached the stream meanwhile (rare) stays
/// after the held bytes, and the spare then lets go of its memory.
fn put_back(stream: &mut Buffer, held: &mut Buffer) {
    if !stream.is_empty() {
        held.append_buffer(stream);
        std::mem::swap(stream, held);
        *held = Buffer::new();
    } else {
        std::mem::swap(stream, held);
    }
}

/// The next thing to do for the connection, given its (held) input.
pub(crate) fn step<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) -> Act<T> {
    let now = ctx.now();
    let lp = ctx.loop_id();
    let Some((server, conn)) = parts(ctx, key) else {
        return Act::Idle;
    };
    if !conn.holding {
        return Act::Idle;
    }
    step_with(server, conn, now, lp, key)
}

/// Calls a handler (taken out of the router while it runs) and sends what
/// it returns.
pub(crate) fn call<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    key: Key,
    h: HandlerRef,
    req: Request,
) {
    let r = req.responder;
    let has_body = req.has_body;
    let Some((sv, c)) = parts(ctx, key) else {
        return;
    };
    let skey = c.server;
    let taken = match h {
        HandlerRef::Route(i) => sv.router.routes[i].handler.take(),
        HandlerRef::Fallback => sv.router.fallback.take(),
    };
    let Some(mut f) = taken else { return };
    // A panicking handler goes back into its route, and the connection
    // gives its buffers back, before the panic goes on out of `run`.
    let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(ctx, data, req)));
    if let Some(sv) = server(ctx, skey) {
        match h {
            HandlerRef::Route(i) => sv.router.routes[i].handler = Some(f),
            HandlerRef::Fallback => sv.router.fallback = Some(f),
        }
    }
    let reply = match reply {
        Ok(reply) => reply,
        Err(panic) => {
            release(ctx, key);
            if let Some(c) = conn(ctx, key) {
                c.in_pump = false;
            }
            forget(ctx, key, Close::Now);
            std::panic::resume_unwind(panic);
        }
    };
    if let Reply::Now(resp) = reply {
        if has_body {
            // Drops or refuses a body the handler did not read.
            let _ = r.respond(ctx, resp);
        } else {
            let _ = respond(ctx, r, resp);
        }
    }
}

/// `100 Continue`, in its place among the responses.
pub(crate) fn send_continue<T: 'static>(ctx: &mut Ctx<'_, T>, r: Responder) {
    let _ = with_target(ctx, r, |_, _, out| {
        out.add(b"HTTP/1.1 100 Continue\r\n\r\n");
        Ok(())
    });
}

/// Hands a piece of body to the request's body callback.
pub(crate) fn deliver<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    r: Responder,
    chunk: BodyChunk,
) {
    let Some(mut cb) = body_cb(ctx, r) else {
        return;
    };
    cb(ctx, data, r, chunk);
    if let Some(c) = conn(ctx, r.conn) {
        if let Reader::Body(BodyRead {
            seq,
            sink: Sink::Stream {
                cb: slot @ None, ..
            },
            ..
        }) = &mut c.reader
        {
            if *seq == r.seq {
                *slot = Some(cb);
                return;
            }
        }
    }
    // While it ran, the body was cut off (a response that closes the
    // connection, an error, the connection gone): it hears so now.
    cb(ctx, data, r, BodyChunk::Aborted);
}

pub(crate) fn body_cb<T: 'static>(ctx: &mut Ctx<'_, T>, r: Responder) -> Option<Box<BodyCb<T>>> {
    match &mut conn(ctx, r.conn)?.reader {
        Reader::Body(BodyRead {
            seq,
            sink: Sink::Stream { cb, .. },
            ..
        }) if *seq == r.seq => cb.take(),
        _ => None,
    }
}
