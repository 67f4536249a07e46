//! A connection's life on the loop: accepting it, and what its stream's
//! read, write and event callbacks and its deadline timer do.

use std::collections::VecDeque;
use std::time::Duration;

use evloop::Ctx;
use evloop_buffer::stream::{StreamEvent, Watermarks};
use evloop_buffer::{Accepted, Buffer, StreamExt, StreamId};
use http::StatusCode;

use super::close::{drop_conn, fail, log};
use super::deadline::{arm, due};
use super::engine::pump;
use super::respond::advance;
use super::slab::Key;
use super::state::{conn, parts, server, Conn, Deadline, Out, Reader, Servers};
use super::{BodyChunk, Responder};
use crate::proto::{HeadCache, HeadScanner};

/// A new connection of server `skey`.
pub(crate) fn accept<T: 'static>(ctx: &mut Ctx<'_, T>, skey: Key, accepted: Accepted) {
    let peer = match &accepted {
        Accepted::Tcp { stream, peer } => {
            // Pipelined responses would wait on Nagle and delayed ACKs.
            let _ = stream.set_nodelay(true);
            Some(*peer)
        }
        Accepted::Unix { .. } => None,
    };
    let Some((low, write_timeout, rate_limit, group)) = server(ctx, skey).map(|s| {
        let o = &s.opts;
        (
            o.stream_low_water,
            o.write_timeout,
            o.rate_limit,
            s.rate_group,
        )
    }) else {
        return;
    };
    let Ok(sid) = ctx.new_stream(accepted) else {
        return;
    };
    let timer = match ctx.new_timer(Duration::from_secs(1), Duration::ZERO, |_, _, _, _| {}) {
        Ok(t) => t,
        Err(_) => {
            if let Ok(s) = ctx.stream(sid) {
                s.close();
            }
            return;
        }
    };
    let now = ctx.now();
    let c = Conn {
        server: skey,
        stream: sid,
        peer,
        scanner: HeadScanner::new(),
        head_cache: HeadCache::default(),
        reader: Reader::Head,
        queue: VecDeque::new(),
        next_seq: 0,
        timer,
        armed: None,
        deadline: None,
        idle_since: now,
        head_since: None,
        body_since: now,
        fresh: true,
        read_off: false,
        read_off_applied: false,
        in_pump: false,
        dirty: false,
        logged: false,
        aborted: None,
        holding: false,
        hold_in: Buffer::new(),
        hold_out: Buffer::new(),
        closers: Vec::new(),
    };
    let sv = ctx.ext_or_default::<Servers<T>>();
    let key = sv.conns.insert(c);
    let full = match sv.servers.get_mut(skey) {
        Some(s) => {
            s.conn_count += 1;
            s.conn_count >= s.opts.max_connections && !s.at_capacity
        }
        None => false,
    };
    if full {
        super::handle::set_capacity(ctx, skey, true);
    }
    if let Ok(mut t) = ctx.timer(timer) {
        t.set_callback(move |ctx, data, _, _| on_timer(ctx, data, key));
    }
    if let Ok(mut s) = ctx.stream(sid) {
        s.set_watermarks(Watermarks {
            write_low: low,
            ..Watermarks::default()
        });
        // The stream's write timeout runs only while output waits and
        // restarts on every byte sent: exactly a write stall. Zero is none.
        // It cannot fail: the option is clamped below the timers' limit.
        let _ = s.set_timeouts(None, Some(write_timeout));
        if rate_limit.is_some() {
            // Checked by `new_server`.
            let _ = s.set_rate_limit(rate_limit);
        }
        if group.is_some() {
            // The server's own group, there until the server is gone.
            let _ = s.set_rate_group(group);
        }
        s.on_read(move |ctx, data, _| on_read(ctx, data, key));
        // No write callback until a streamed response sets a producer
        // (Responder::on_drain installs it): calling one after every
        // reply that empties the output cost each request a look at the
        // connection for nothing.
        s.on_event(move |ctx, data, sid, ev| on_event(ctx, data, key, sid, ev));
    }
    arm(ctx, key);
}

pub(crate) fn on_read<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    run(ctx, data, key);
}

/// Everything the engine does for a connection after an event.
pub(crate) fn run<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    let Some(mut c) = conn(ctx, key) else { return };
    if c.aborted.is_some() {
        tell_aborted(ctx, data, key);
        let Some(again) = conn(ctx, key) else { return };
        c = again;
    }
    if matches!(c.reader, Reader::Linger) {
        let sid = c.stream;
        if let Ok(mut s) = ctx.stream(sid) {
            s.input().clear();
        }
        return;
    }
    pump(ctx, data, key);
    // One look at the connection for what the common event needs none of
    // (each call below looks it up again).
    let Some(mut c) = conn(ctx, key) else { return };
    if c.aborted.is_some() {
        tell_aborted(ctx, data, key);
        let Some(again) = conn(ctx, key) else { return };
        c = again;
    }
    let streaming = matches!(
        c.queue.front().map(|f| &f.state),
        Some(Out::Streaming { .. })
    );
    if streaming {
        drive(ctx, data, key);
    }
    arm(ctx, key);
}

/// A body callback cut off by a closing response hears `Aborted`.
fn tell_aborted<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    let lp = ctx.loop_id();
    let Some((mut cb, seq)) = conn(ctx, key).and_then(|c| c.aborted.take()) else {
        return;
    };
    cb(
        ctx,
        data,
        Responder { lp, conn: key, seq },
        BodyChunk::Aborted,
    );
}

pub(crate) fn on_event<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    key: Key,
    sid: StreamId,
    ev: StreamEvent,
) {
    let Some(c) = conn(ctx, key) else {
        // A connection forgotten while its last bytes are flushed: a
        // client that stopped reading them would hold the socket forever.
        if matches!(ev, StreamEvent::Timeout(_)) {
            if let Ok(s) = ctx.stream(sid) {
                s.close();
            }
        }
        return;
    };
    match ev {
        StreamEvent::Connected => {}
        // Responses queued in the same event as the EOF still go out.
        StreamEvent::Eof => match &c.reader {
            Reader::Linger => drop_conn(ctx, data, key, true),
            Reader::Head if c.queue.is_empty() => drop_conn(ctx, data, key, true),
            Reader::Body(_) => fail(ctx, data, key, None, "the client closed during a body"),
            _ => {
                let waiting = c.queue.iter().any(|e| !matches!(e.state, Out::Done));
                let skey = c.server;
                let eof_aborts = server(ctx, skey).is_some_and(|s| s.opts.client_eof_aborts);
                if waiting && eof_aborts {
                    // The client is taken to have left (nginx without
                    // proxy_ignore_client_abort): the requests waiting
                    // are dropped, their on_close callbacks run.
                    drop_conn(ctx, data, key, true);
                    return;
                }
                let Some(c) = conn(ctx, key) else { return };
                // Answers to requests in flight still go out (half-close).
                c.reader = Reader::Stopped;
                let _ = advance(ctx, key);
            }
        },
        StreamEvent::Timeout(_) => {
            // The write timeout (no read timeout is set): responses wait
            // and the client takes none of them. No response can get
            // through, so the connection just closes.
            log(
                ctx,
                key,
                "response write timed out (the client reads nothing)",
            );
            drop_conn(ctx, data, key, false);
        }
        StreamEvent::Error { error, .. } => {
            log(ctx, key, &format!("connection error: {error}"));
            drop_conn(ctx, data, key, false);
        }
    }
}

pub(crate) fn on_timer<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    let Some(kind) = due(ctx, key) else { return };
    match kind {
        Deadline::Head => {
            let started = conn(ctx, key).is_some_and(|c| c.head_since.is_some());
            if started {
                fail(
                    ctx,
                    data,
                    key,
                    Some(StatusCode::REQUEST_TIMEOUT),
                    "request head timed out",
                );
            } else {
                drop_conn(ctx, data, key, false);
            }
        }
        Deadline::Body => fail(
            ctx,
            data,
            key,
            Some(StatusCode::REQUEST_TIMEOUT),
            "request body timed out",
        ),
        Deadline::Idle | Deadline::Linger => drop_conn(ctx, data, key, false),
    }
}

/// Calls a streamed response's producer when the connection can take more.
pub(crate) fn drive<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    let lp = ctx.loop_id();
    let Some((server, c)) = parts(ctx, key) else {
        return;
    };
    let low = server.opts.stream_low_water;
    let Some(front) = c.queue.front_mut() else {
        return;
    };
    let Out::Streaming { on_drain, .. } = &mut front.state else {
        return;
    };
    if on_drain.is_none() {
        return;
    }
    let (sid, seq) = (c.stream, front.seq);
    let held = if c.holding { c.hold_out.len() } else { 0 };
    let queued = held + ctx.stream(sid).map_or(usize::MAX, |mut s| s.output().len());
    if queued > low {
        return;
    }
    let Some((_, c)) = parts(ctx, key) else {
        return;
    };
    let Some(Out::Streaming { on_drain, .. }) = c.queue.front_mut().map(|f| &mut f.state) else {
        return;
    };
    let Some(mut cb) = on_drain.take() else {
        return;
    };
    let r = Responder { lp, conn: key, seq };
    cb(ctx, data, r);
    if let Some((_, c)) = parts(ctx, key) {
        if let Some(f) = c.queue.iter_mut().find(|e| e.seq == seq) {
            if let Out::Streaming {
                on_drain: slot @ None,
                ..
            } = &mut f.state
            {
                *slot = Some(cb);
            }
        }
    }
}
