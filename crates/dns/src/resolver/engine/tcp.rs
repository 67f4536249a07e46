//! TCP (after TC or a 0x20 mismatch): one connection per query, RFC 7766
//! framing.

use super::*;

pub(super) fn open_tcp<T: 'static>(
    rid: ResolverId,
    ctx: &mut Ctx<'_, T>,
    tk: Key,
    addr: SocketAddr,
    query: &[u8],
) -> io::Result<StreamId> {
    let sid = ctx.new_stream_connect(addr)?;
    let mut s = ctx.stream(sid).map_err(to_io)?;
    s.write(&(query.len() as u16).to_be_bytes());
    s.write(query);
    s.set_keepalive(false);
    s.on_read(move |ctx, data, sid| on_tcp_read(ctx, data, rid, tk, sid));
    s.on_event(move |ctx, data, sid, ev| on_tcp_event(ctx, data, rid, tk, sid, ev));
    Ok(sid)
}

/// Every whole frame now in the stream's input.
pub(super) fn take_frames<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId) -> Vec<bytes::Bytes> {
    let mut frames = Vec::new();
    if let Ok(mut s) = ctx.stream(sid) {
        while let Some(f) = crate::frame::take_frame(s.input()) {
            frames.push(f);
        }
    }
    frames
}

pub(super) fn on_tcp_read<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    rid: ResolverId,
    tk: Key,
    sid: StreamId,
) {
    let frames = take_frames(ctx, sid);
    let Some(mut st) = take(ctx, rid) else { return };
    for f in frames {
        let ok = st.txns.get(tk).is_some_and(|t| {
            t.stream == Some(sid) && wire::check_reply(&f, &t.wire, t.qend, false) == Match::Yes
        });
        if ok {
            st.stats.accepted += 1;
            handle_reply(&mut st, ctx, tk, &f, true);
        } else {
            st.stats.dropped += 1;
        }
    }
    put(ctx, st);
    drain(ctx, data, rid);
}

pub(super) fn on_tcp_event<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    rid: ResolverId,
    tk: Key,
    sid: StreamId,
    ev: StreamEvent,
) {
    if matches!(ev, StreamEvent::Connected) {
        return;
    }
    let Some(mut st) = take(ctx, rid) else { return };
    if let Some(txn) = st.txns.get_mut(tk).filter(|t| t.stream == Some(sid)) {
        let s = txn.server;
        let what = match &ev {
            StreamEvent::Error { error, .. } => format!("TCP: {error}"),
            StreamEvent::Eof => "TCP: closed without an answer".to_string(),
            _ => "TCP: timed out".to_string(),
        };
        txn.io_error = Some(format!("{}: {what}", st.servers[s].addr));
        server_failed(&mut st, s, ctx.now());
        send_next(&mut st, ctx, tk);
    } else if let Ok(s) = ctx.stream(sid) {
        s.close();
    }
    put(ctx, st);
    drain(ctx, data, rid);
}
