//! The TCP side (RFC 7766): a listener, and per connection a stream whose
//! input is cut into length-prefixed frames, however the reads split them.

use std::net::SocketAddr;

use evloop::Ctx;
use evloop_buffer::{Accepted, StreamEvent, StreamExt, StreamId};

use super::dispatch::{self, close_conn, close_if_done};
use super::request::Via;
use super::state::{state, Conn};
use super::ServerId;

/// Takes a new connection: closed at once when the server has its fill.
pub(crate) fn accept<T: 'static>(ctx: &mut Ctx<'_, T>, server: ServerId, conn: Accepted) {
    let Accepted::Tcp { stream, peer } = conn else {
        return;
    };
    let Some(st) = state(ctx, server) else { return };
    st.stats.tcp_connections += 1;
    if st.conns.len() >= st.opts.max_clients {
        return; // dropping `stream` closes it
    }
    let idle = st.opts.idle;
    // Answers are small and each one is awaited by the client.
    let _ = stream.set_nodelay(true);
    let Ok(sid) = ctx.new_stream(stream) else {
        return;
    };
    let Some(st) = state(ctx, server) else { return };
    st.conns.insert(sid, Conn::default());
    let Ok(mut s) = ctx.stream(sid) else { return };
    s.on_read(move |ctx, data, sid| read(ctx, data, server, sid, peer));
    s.on_event(move |ctx, _, sid, ev| match ev {
        // The client is done sending: answer what is pending, then
        // close. Answers that never come (a responder dropped) are waited
        // for one idle timeout at most.
        StreamEvent::Eof => {
            let Some(conn) = state(ctx, server).and_then(|st| st.conns.get_mut(&sid)) else {
                return;
            };
            conn.eof = true;
            close_if_done(ctx, server, sid);
            let open = state(ctx, server).is_some_and(|st| st.conns.contains_key(&sid));
            if open && !idle.is_zero() {
                let linger = ctx.once_timer(idle, move |ctx, _, _| {
                    if let Some(c) = state(ctx, server).and_then(|st| st.conns.get_mut(&sid)) {
                        c.linger = None; // it is running: nothing to cancel
                    }
                    close_conn(ctx, server, sid)
                });
                if let (Ok(o), Some(c)) = (
                    linger,
                    state(ctx, server).and_then(|st| st.conns.get_mut(&sid)),
                ) {
                    c.linger = Some(o);
                }
            }
        }
        StreamEvent::Connected => {}
        _ => close_conn(ctx, server, sid),
    });
    let timeout = (!idle.is_zero()).then_some(idle);
    let timed = s.set_timeouts(timeout, timeout);
    drop(s);
    if timed.is_err() {
        close_conn(ctx, server, sid);
    }
}

/// Handles every complete frame in the input.
fn read<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    server: ServerId,
    sid: StreamId,
    peer: SocketAddr,
) {
    loop {
        let frame = {
            let Ok(mut s) = ctx.stream(sid) else { return };
            let Some(frame) = crate::frame::take_frame(s.input()) else {
                return;
            };
            frame
        };
        dispatch::packet(ctx, data, server, &frame, peer, Via::Tcp(sid));
        // The handler may have closed the connection or the server.
        let open = state(ctx, server).is_some_and(|st| st.conns.contains_key(&sid));
        if !open {
            return;
        }
    }
}
