//! Ending connections: after an error (its status, then a close), or at
//! once; and the one log line a failed connection may print.

use evloop::Ctx;
use evloop_buffer::StreamExt;
use http::{StatusCode, Version};

use super::deadline::arm;
use super::engine::release;
use super::kick::kick_server;
use super::respond::{advance, error_response, respond};
use super::slab::Key;
use super::state::{parts, BodyCb, BodyRead, Exchange, Out, Reader, Servers, Sink};
use super::{BodyChunk, Responder};

/// Ends the connection after an error: the request being read gets
/// `status` (if it has no response yet, and a status is given), nothing
/// more is read, and the connection closes once the responses in flight
/// are sent. A body callback hears `Aborted`.
pub(crate) fn fail<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    key: Key,
    status: Option<StatusCode>,
    reason: &'static str,
) {
    match status {
        Some(s) => log(ctx, key, &format!("{} {reason}", s.as_str())),
        None => log(ctx, key, reason),
    }
    let lp = ctx.loop_id();
    let Some((_, c)) = parts(ctx, key) else {
        return;
    };
    let sid = c.stream;
    let mut aborted = None;
    let body_seq = match std::mem::replace(&mut c.reader, Reader::Stopped) {
        Reader::Body(b) => {
            if let Sink::Stream { cb: Some(cb), .. } = b.sink {
                aborted = Some(cb);
            }
            Some(b.seq)
        }
        _ => None,
    };
    // The request whose body broke gets the status, unless its handler
    // has answered already (then the connection just closes after that
    // answer); a broken head gets a response of its own.
    let target = match (body_seq, status) {
        (Some(seq), Some(_)) => c
            .queue
            .iter()
            .any(|e| e.seq == seq && matches!(e.state, Out::Pending))
            .then_some(seq),
        (Some(_), None) => None,
        (None, Some(_)) => {
            let seq = c.next_seq;
            c.next_seq += 1;
            c.queue.push_back(Exchange {
                seq,
                head_request: false,
                version: Version::HTTP_11,
                keep_alive: false,
                upgradable: false,
                connect: false,
                out: None,
                state: Out::Pending,
            });
            Some(seq)
        }
        (None, None) => None,
    };
    // Only the last exchange closes the connection: the answers queued
    // before it still go out, in order, on a connection kept open for them
    // (closing after the first of them would lose the others). With
    // nothing queued, the stopped reader closes the connection.
    if let Some(e) = c.queue.back_mut() {
        e.keep_alive = false;
    }
    c.hold_in.clear();
    if let Ok(mut s) = ctx.stream(sid) {
        s.input().clear();
    }
    if let (Some(mut cb), Some(seq)) = (aborted, body_seq) {
        cb(
            ctx,
            data,
            Responder { lp, conn: key, seq },
            BodyChunk::Aborted,
        );
    }
    match (target, status) {
        (Some(seq), Some(status)) => {
            let r = Responder { lp, conn: key, seq };
            let _ = respond(ctx, r, error_response(status, None));
        }
        _ => {
            let _ = advance(ctx, key);
        }
    }
    arm(ctx, key);
}

/// Forgets the connection and closes its stream (after sending what is
/// queued if `flush`). A body callback hears `Aborted`.
pub(crate) fn drop_conn<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key, flush: bool) {
    let lp = ctx.loop_id();
    let how = if flush { Close::Flush } else { Close::Now };
    if let Some((cb, seq)) = forget(ctx, key, how) {
        let mut cb = cb;
        cb(
            ctx,
            data,
            Responder { lp, conn: key, seq },
            BodyChunk::Aborted,
        );
    }
}

/// What becomes of a forgotten connection's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    Now,
    Flush,
    /// Left open: it was handed over (upgrade).
    Keep,
}

/// [`drop_conn`] without calling anyone: returns the body callback that
/// should hear `Aborted`, if any.
pub(crate) fn forget<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    key: Key,
    how: Close,
) -> Option<(Box<BodyCb<T>>, u64)> {
    release(ctx, key);
    let lp = ctx.loop_id();
    let sv = ctx.ext_mut::<Servers<T>>()?;
    let mut c = sv.conns.remove(key)?;
    let skey = c.server;
    let (count, max, at_cap, shutting) = match sv.servers.get_mut(skey) {
        Some(s) => {
            if how != Close::Keep && !c.closers.is_empty() {
                // Requests still waiting for their answers are dropped.
                let pending = super::on_close::waiting(&c.queue);
                super::on_close::release(s, &mut c, lp, key, |seq| pending.contains(&seq));
            }
            s.conn_count -= 1;
            (
                s.conn_count,
                s.opts.max_connections,
                s.at_capacity,
                s.shutting_down,
            )
        }
        None => (0, usize::MAX, false, false),
    };
    let _ = ctx.remove(c.timer);
    if let Ok(s) = ctx.stream(c.stream) {
        match how {
            Close::Flush => {
                s.close_when_flushed();
            }
            Close::Now => {
                s.close();
            }
            Close::Keep => {}
        }
    }
    if at_cap && count < max {
        super::handle::set_capacity(ctx, skey, false);
    }
    if shutting && count == 0 {
        kick_server(ctx, skey);
    }
    super::on_close::fire_soon(ctx, skey);
    match c.reader {
        Reader::Body(BodyRead {
            seq,
            sink: Sink::Stream { cb: Some(cb), .. },
            ..
        }) => Some((cb, seq)),
        _ => c.aborted,
    }
}

/// One line on stderr for a connection that ends in an error, when the
/// server was asked to log, and only once per connection.
pub(crate) fn log<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key, what: &str) {
    let Some((server, c)) = parts(ctx, key) else {
        return;
    };
    if !server.opts.log_errors || c.logged {
        return;
    }
    c.logged = true;
    match c.peer {
        Some(p) => eprintln!("evloop-http: {p}: {what}"),
        None => eprintln!("evloop-http: {what}"),
    }
}
