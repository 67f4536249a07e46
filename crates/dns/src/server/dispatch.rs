//! From received bytes to the handler, and from its [`Action`] to bytes
//! sent, for both transports.

use std::net::SocketAddr;

use evloop::Ctx;
use evloop_buffer::{StreamExt, StreamId};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};

use super::action::encode;
use super::request::Via;
use super::state::state;
use super::{Action, Request, ServerId};

/// The largest message TCP framing carries.
const TCP_MAX: usize = u16::MAX as usize;

/// Handles one received message: checks it, asks the handler, carries out
/// its action.
pub(crate) fn packet<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    server: ServerId,
    bytes: &[u8],
    peer: SocketAddr,
    via: Via,
) {
    let Some(st) = state(ctx, server) else { return };
    match via {
        Via::Udp => st.stats.udp_received += 1,
        Via::Tcp(_) => st.stats.tcp_received += 1,
    }
    let payload = st.opts.payload;
    // Never answer a response (QR=1): two servers could ping-pong forever.
    // Nor a source port 0, which no answer can reach.
    if bytes.len() < 12 || bytes[2] & 0x80 != 0 || peer.port() == 0 {
        if bytes.len() < 12 {
            st.stats.malformed += 1;
        }
        return;
    }
    let msg = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(_) => {
            st.stats.malformed += 1;
            let id = u16::from_be_bytes([bytes[0], bytes[1]]);
            let op = OpCode::from_u8((bytes[2] >> 3) & 0x0f);
            let mut err = Message::error_msg(id, op, ResponseCode::FormErr);
            err.set_recursion_desired(bytes[2] & 0x01 != 0);
            send_message(ctx, server, &err, peer, via, None);
            return;
        }
    };
    let req = Request {
        message: msg,
        peer,
        via,
        server,
        server_payload: payload,
    };
    let msg = &req.message;
    let refusal = if msg.message_type() != MessageType::Query {
        return;
    } else if msg.op_code() != OpCode::Query {
        Some(ResponseCode::NotImp)
    } else if msg.queries().len() != 1 {
        Some(ResponseCode::FormErr)
    } else if msg.extensions().as_ref().is_some_and(|e| e.version() != 0) {
        Some(ResponseCode::BADVERS)
    } else {
        None
    };
    if let Some(rcode) = refusal {
        let mut err = Message::error_msg(msg.id(), msg.op_code(), rcode);
        err.set_recursion_desired(msg.recursion_desired());
        if rcode != ResponseCode::FormErr {
            err.add_queries(msg.queries().iter().cloned());
        }
        if rcode == ResponseCode::BADVERS {
            let mut edns = hickory_proto::op::Edns::new();
            edns.set_max_payload(payload.max(512));
            err.set_edns(edns);
        }
        send_message(ctx, server, &err, peer, via, Some(req.max_udp_payload()));
        return;
    }
    let action = call_handler(ctx, data, server, &req);
    if let Some(action) = action {
        perform(ctx, server, &req, action);
    }
}

/// Runs the handler, taken out of its slot meanwhile. `None` if the
/// server is gone or its handler is running already (a nested run).
fn call_handler<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    server: ServerId,
    req: &Request,
) -> Option<Action> {
    let mut handler = state(ctx, server)?.handler.take()?;
    let action = handler(ctx, data, req);
    if let Some(st) = state(ctx, server) {
        if st.handler.is_none() {
            st.handler = Some(handler);
        }
    }
    Some(action)
}

/// Carries out `action` for `req`.
pub(crate) fn perform<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    server: ServerId,
    req: &Request,
    action: Action,
) {
    let limit = match req.via {
        Via::Udp => Some(req.max_udp_payload()),
        Via::Tcp(_) => None,
    };
    match action {
        Action::Answer(msg) => send_message(ctx, server, &msg, req.peer, req.via, limit),
        Action::Refuse => {
            let msg = req.reply_with(ResponseCode::Refused);
            send_message(ctx, server, &msg, req.peer, req.via, limit);
        }
        Action::Fail(rcode) => {
            let msg = req.reply_with(rcode);
            send_message(ctx, server, &msg, req.peer, req.via, limit);
        }
        Action::Raw(bytes) => send(ctx, server, bytes, req.peer, req.via),
        Action::Many(actions) => {
            for a in actions {
                perform(ctx, server, req, a);
            }
        }
        Action::Delay(after, action) => {
            let r = req.clone();
            expect_answer(ctx, server, req.via);
            let armed = ctx.once_timer(after, move |ctx, _, _| {
                answered(ctx, server, r.via);
                perform(ctx, server, &r, *action);
                if let Via::Tcp(sid) = r.via {
                    close_if_done(ctx, server, sid);
                }
            });
            // A delay too long for the loop cannot be waited for: the
            // answer is dropped, as an answer from a server that never
            // comes.
            if armed.is_err() {
                answered(ctx, server, req.via);
            }
        }
        Action::Close => {
            if let Via::Tcp(sid) = req.via {
                close_conn(ctx, server, sid);
            }
        }
        Action::Defer => expect_answer(ctx, server, req.via),
        Action::Drop => {}
    }
}

/// Encodes and sends `msg`, truncated to `limit` for UDP; SERVFAIL if it
/// cannot be encoded.
fn send_message<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    server: ServerId,
    msg: &Message,
    peer: SocketAddr,
    via: Via,
    limit: Option<usize>,
) {
    let limit = limit.unwrap_or(TCP_MAX);
    let bytes = encode(msg, limit).or_else(|| {
        let mut err = Message::error_msg(msg.id(), msg.op_code(), ResponseCode::ServFail);
        err.add_queries(msg.queries().iter().cloned());
        encode(&err, limit)
    });
    if let Some(bytes) = bytes {
        send(ctx, server, bytes, peer, via);
    }
}

/// Sends one message: a datagram, or a length-prefixed TCP frame.
fn send<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    server: ServerId,
    bytes: Vec<u8>,
    peer: SocketAddr,
    via: Via,
) {
    let Some(st) = state(ctx, server) else { return };
    match via {
        Via::Udp => {
            // A full socket buffer loses the answer, as the network could;
            // the client retries.
            if st.udp.send_to(&bytes, peer).is_ok() {
                st.stats.sent += 1;
            }
        }
        Via::Tcp(sid) => {
            let Ok(len) = u16::try_from(bytes.len()) else {
                return;
            };
            let chunks = st.opts.chunks;
            let Some(conn) = st.conns.get_mut(&sid) else {
                return;
            };
            st.stats.sent += 1;
            match chunks {
                None => {
                    if let Ok(mut s) = ctx.stream(sid) {
                        s.write(&len.to_be_bytes());
                        s.write(&bytes);
                    }
                }
                Some(_) => {
                    conn.queue.extend(len.to_be_bytes());
                    conn.queue.extend(bytes);
                    if !conn.writing {
                        conn.writing = true;
                        write_chunk(ctx, server, sid);
                    }
                }
            }
        }
    }
}

/// Writes the next chunk of a connection's queue and arms a timer for the
/// one after.
fn write_chunk<T: 'static>(ctx: &mut Ctx<'_, T>, server: ServerId, sid: StreamId) {
    let Some(st) = state(ctx, server) else { return };
    let Some((size, gap)) = st.opts.chunks else {
        return;
    };
    let Some(conn) = st.conns.get_mut(&sid) else {
        return;
    };
    let n = size.min(conn.queue.len());
    let chunk: Vec<u8> = conn.queue.drain(..n).collect();
    let more = !conn.queue.is_empty();
    conn.writing = more;
    if let Ok(mut s) = ctx.stream(sid) {
        s.write(&chunk);
    }
    if more {
        let armed = ctx.once_timer(gap, move |ctx, _, _| write_chunk(ctx, server, sid));
        if armed.is_err() {
            close_conn(ctx, server, sid);
        }
    } else {
        close_if_done(ctx, server, sid);
    }
}

/// Notes that an answer will come later on a TCP connection, which then
/// stays open after the client shut down its sending side.
fn expect_answer<T: 'static>(ctx: &mut Ctx<'_, T>, server: ServerId, via: Via) {
    if let Via::Tcp(sid) = via {
        if let Some(conn) = state(ctx, server).and_then(|st| st.conns.get_mut(&sid)) {
            conn.pending += 1;
        }
    }
}

/// A later answer is being sent (or given up): see [`expect_answer`].
pub(crate) fn answered<T: 'static>(ctx: &mut Ctx<'_, T>, server: ServerId, via: Via) {
    if let Via::Tcp(sid) = via {
        if let Some(conn) = state(ctx, server).and_then(|st| st.conns.get_mut(&sid)) {
            conn.pending = conn.pending.saturating_sub(1);
        }
    }
}

/// After the client shut down its sending side: closes the connection
/// once no answer is pending and every byte is written.
pub(crate) fn close_if_done<T: 'static>(ctx: &mut Ctx<'_, T>, server: ServerId, sid: StreamId) {
    let Some(st) = state(ctx, server) else { return };
    let done = st
        .conns
        .get(&sid)
        .is_some_and(|c| c.eof && c.pending == 0 && !c.writing);
    if !done {
        return;
    }
    if let Some(linger) = st.conns.remove(&sid).and_then(|c| c.linger) {
        ctx.cancel_once(linger);
    }
    if let Ok(s) = ctx.stream(sid) {
        s.close_when_flushed();
    }
}

/// Closes a TCP connection and forgets it.
pub(crate) fn close_conn<T: 'static>(ctx: &mut Ctx<'_, T>, server: ServerId, sid: StreamId) {
    let Some(conn) = state(ctx, server).and_then(|st| st.conns.remove(&sid)) else {
        return;
    };
    if let Some(linger) = conn.linger {
        ctx.cancel_once(linger);
    }
    if let Ok(s) = ctx.stream(sid) {
        s.close();
    }
}
