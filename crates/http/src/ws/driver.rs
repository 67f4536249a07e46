//! What moves a WebSocket: the stream callbacks it installs, message
//! delivery, and the close handshake (RFC 6455 sections 5.5.1 and 7).

use std::time::Duration;

use evloop::{Ctx, Events};
use evloop_buffer::{Direction, StreamEvent, StreamExt, StreamId, Watermarks};

use super::close::{CloseCode, CloseFrame, Closed};
use super::config::{Config, Role};
use super::decoder::ProtocolError;
use super::frame::{close_payload, encode_frame, mask_for};
use super::message::{Message, OpCode};
use super::socket::WsId;
use super::state::{conn, Conn, Phase, Sockets};

/// Makes `stream` a WebSocket: takes over its callbacks and settings, and
/// has the bytes already in its input decoded on the loop's next turn.
pub(crate) fn adopt<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    stream: StreamId,
    role: Role,
    config: Config,
) -> Result<WsId, evloop::Error> {
    let pending_input = {
        let mut s = ctx.stream(stream)?;
        s.clear_data_callbacks();
        s.set_watermarks(Watermarks::default());
        s.set_timeouts(None, None)?;
        s.enable(Direction::Read);
        s.enable(Direction::Write);
        s.on_read(on_read);
        s.on_event(on_event);
        !s.input().is_empty()
    };
    ctx.ext_or_default::<Sockets<T>>()
        .map
        .insert(stream, Conn::new(role, config));
    if pending_input {
        // Bytes that came with the handshake must not wait for more to
        // arrive.
        kick(ctx, stream)?;
    }
    Ok(WsId(stream))
}

/// Has the input already buffered decoded from the loop, soon (once the
/// caller has set its callbacks), rather than when more bytes arrive: a
/// fed watcher that removes itself.
pub(crate) fn kick<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    stream: StreamId,
) -> Result<(), evloop::Error> {
    let idle = ctx.new_idle(move |ctx, data, me, _| {
        let _ = ctx.remove(me);
        on_read(ctx, data, stream);
    })?;
    ctx.idle(idle)?.feed(Events::IDLE)
}

/// The stream's read callback: decode and deliver every whole message.
pub(crate) fn on_read<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, sid: StreamId) {
    loop {
        let Some(c) = conn(ctx, sid) else { return };
        if c.paused {
            // `set_reading(true)` goes on with what is buffered.
            return;
        }
        if c.phase == Phase::AwaitEof {
            // Nothing may follow the close handshake; what does is dropped.
            if let Ok(mut s) = ctx.stream(sid) {
                s.input().clear();
            }
            return;
        }
        // None while a message callback further up the stack (a nested
        // run of the loop) is decoding: that one will go on.
        let Some(mut dec) = c.decoder.take() else {
            return;
        };
        let res = match ctx.stream(sid) {
            Ok(mut s) => dec.decode(s.input()),
            Err(_) => Ok(None),
        };
        if let Some(c) = conn(ctx, sid) {
            c.decoder = Some(dec);
        }
        match res {
            Ok(None) => return,
            Ok(Some(msg)) => {
                if !handle(ctx, data, sid, msg) {
                    return;
                }
            }
            Err(e) => {
                fail(ctx, data, sid, e);
                return;
            }
        }
    }
}

/// Acts on one message; false once the WebSocket has ended.
fn handle<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, sid: StreamId, msg: Message) -> bool {
    let Some(c) = conn(ctx, sid) else {
        return false;
    };
    let (role, phase) = (c.role, c.phase);
    match &msg {
        Message::Ping(payload) if c.config.auto_pong && phase == Phase::Open => {
            let payload = payload.clone();
            if let Ok(mut s) = ctx.stream(sid) {
                encode_frame(s.output(), OpCode::Pong, true, &payload, mask_for(role));
            }
        }
        Message::Close(frame) => {
            c.peer_close = Some(match frame {
                Some(f) => (f.code, f.reason.clone()),
                None => (CloseCode::NO_STATUS, String::new()),
            });
            // Nothing may be sent after a close frame, not even by the
            // message callback that is told of this one.
            c.phase = Phase::CloseSent;
            if phase == Phase::Open {
                // Echo the code (RFC 6455 section 5.5.1), without the reason.
                let echo = frame.as_ref().map(|f| CloseFrame {
                    code: f.code,
                    reason: String::new(),
                });
                if let Ok(mut s) = ctx.stream(sid) {
                    let p = close_payload(echo.as_ref());
                    encode_frame(s.output(), OpCode::Close, true, &p, mask_for(role));
                }
            }
            deliver(ctx, data, sid, msg);
            closed_handshake_done(ctx, data, sid);
            return false;
        }
        _ => {}
    }
    deliver(ctx, data, sid, msg);
    conn(ctx, sid).is_some()
}

/// Hands `msg` to the message callback (taken out while it runs, put back
/// unless it installed another or the WebSocket ended).
fn deliver<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, sid: StreamId, msg: Message) {
    let Some(mut cb) = conn(ctx, sid).and_then(|c| c.on_message.take()) else {
        return;
    };
    cb(ctx, data, WsId(sid), msg);
    if let Some(c) = conn(ctx, sid) {
        if c.on_message.is_none() {
            c.on_message = Some(cb);
        }
    }
}

/// Close frames went both ways: a server closes the TCP connection (once
/// its close frame is out), a client waits for the server to.
fn closed_handshake_done<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, sid: StreamId) {
    let Some(c) = conn(ctx, sid) else { return };
    let (code, reason) = c
        .peer_close
        .clone()
        .unwrap_or((CloseCode::NO_STATUS, String::new()));
    let closed = Closed {
        code,
        reason,
        clean: true,
    };
    match c.role {
        Role::Server => finish(ctx, data, sid, closed, false),
        Role::Client => {
            c.phase = Phase::AwaitEof;
            let wait = c.config.close_timeout;
            if let Ok(mut s) = ctx.stream(sid) {
                let _ = s.set_timeouts(Some(wait), Some(wait));
            }
        }
    }
}

/// Fails the connection (RFC 6455 section 7.1.7): our close frame with
/// the error's code, unless we sent one already, then the TCP close.
fn fail<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, sid: StreamId, e: ProtocolError) {
    let Some(c) = conn(ctx, sid) else { return };
    let (role, phase) = (c.role, c.phase);
    if phase == Phase::Open {
        if let Ok(mut s) = ctx.stream(sid) {
            let p = close_payload(Some(&CloseFrame {
                code: e.code,
                reason: e.reason.to_owned(),
            }));
            encode_frame(s.output(), OpCode::Close, true, &p, mask_for(role));
        }
    }
    let closed = Closed {
        code: e.code,
        reason: e.reason.to_owned(),
        clean: false,
    };
    finish(ctx, data, sid, closed, false);
}

/// Ends the WebSocket: forgets it, closes its stream (now, or once what
/// is queued has been sent, within the close timeout), then tells
/// `on_close`.
fn finish<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    sid: StreamId,
    closed: Closed,
    now: bool,
) {
    let Some(c) = ctx.ext_mut::<Sockets<T>>().and_then(|s| s.map.remove(&sid)) else {
        return;
    };
    close_stream(ctx, sid, now, c.config.close_timeout);
    if let Some(mut cb) = c.on_close {
        cb(ctx, data, WsId(sid), closed);
    }
}

fn close_stream<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId, now: bool, wait: Duration) {
    let Ok(mut s) = ctx.stream(sid) else { return };
    if now || s.has_failed() {
        s.close();
    } else {
        // A peer that never reads must not keep the stream forever.
        let _ = s.set_timeouts(None, Some(wait));
        s.close_when_flushed();
    }
}

/// The stream's event callback.
fn on_event<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, sid: StreamId, ev: StreamEvent) {
    let Some(c) = conn(ctx, sid) else {
        // The WebSocket has ended and its stream is flushing its last
        // bytes: a timeout or an error ends that too.
        if matches!(ev, StreamEvent::Timeout(_) | StreamEvent::Error { .. }) {
            if let Ok(s) = ctx.stream(sid) {
                s.close();
            }
        }
        return;
    };
    if matches!(ev, StreamEvent::Connected) {
        return;
    }
    let closed = match (c.phase, c.peer_close.clone()) {
        (Phase::AwaitEof, Some((code, reason))) => Closed {
            code,
            reason,
            clean: true,
        },
        _ => Closed {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
            clean: false,
        },
    };
    let now = !matches!(ev, StreamEvent::Eof);
    finish(ctx, data, sid, closed, now);
}

/// The stream's write callback, installed by `on_drain`.
pub(crate) fn on_write<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, sid: StreamId) {
    let Some(mut cb) = conn(ctx, sid).and_then(|c| c.on_drain.take()) else {
        return;
    };
    cb(ctx, data, WsId(sid));
    if let Some(c) = conn(ctx, sid) {
        if c.on_drain.is_none() {
            c.on_drain = Some(cb);
        }
    }
}

/// Sends our close frame and waits for the peer's (within the close
/// timeout).
pub(crate) fn start_close<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    sid: StreamId,
    frame: Option<CloseFrame>,
) {
    let Some(c) = conn(ctx, sid) else { return };
    c.phase = Phase::CloseSent;
    let (role, wait) = (c.role, c.config.close_timeout);
    if let Ok(mut s) = ctx.stream(sid) {
        let p = close_payload(frame.as_ref());
        encode_frame(s.output(), OpCode::Close, true, &p, mask_for(role));
        let _ = s.set_timeouts(Some(wait), Some(wait));
    }
}
