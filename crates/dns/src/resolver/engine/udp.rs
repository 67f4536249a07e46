//! UDP: sockets shared by a few queries each, batched sends and reads,
//! and the checks a datagram passes before it counts as a reply.

use super::*;

pub(super) fn udp_socket<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    server: usize,
) -> io::Result<Key> {
    if let Some(sk) = st.current[server] {
        if let Some(s) = st.socks.get_mut(sk) {
            if s.used < st.cfg.udp_max_queries {
                s.used += 1;
                s.live += 1;
                return Ok(sk);
            }
            let idle = s.live == 0;
            st.current[server] = None;
            if idle {
                close_sock(st, ctx, sk);
            }
        }
    }
    let addr = st.servers[server].addr;
    let bind: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(addr)?;
    sock.set_nonblocking(true)?;
    let sk = st.socks.insert(Sock {
        io: None,
        server,
        used: 1,
        live: 1,
    });
    let rid = st.rid;
    let made = ctx
        .new_io(sock, Events::READ, move |ctx, data, io, _| {
            on_udp(ctx, data, rid, sk, io)
        })
        .and_then(|io| {
            let mut w = ctx.io(io)?;
            w.set_keepalive(false);
            w.start()?;
            Ok(io)
        });
    match made {
        Ok(io) => {
            if let Some(s) = st.socks.get_mut(sk) {
                s.io = Some(io);
            }
            st.current[server] = Some(sk);
            Ok(sk)
        }
        Err(e) => {
            st.socks.remove(sk);
            Err(to_io(e))
        }
    }
}

pub(super) fn close_sock<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, sk: Key) {
    if let Some(s) = st.socks.remove(sk) {
        if let Some(io) = s.io {
            let _ = ctx.remove(io);
        }
        if st.current.get(s.server) == Some(&Some(sk)) {
            st.current[s.server] = None;
        }
    }
}

/// Leaves the query's socket (closing a retired one it was the last on)
/// and closes its TCP stream.
pub(super) fn detach<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, txn: &mut Txn) {
    if let Some(sk) = txn.sock.take() {
        if let Some(s) = st.socks.get_mut(sk) {
            s.live -= 1;
            if s.live == 0 && st.current.get(s.server) != Some(&Some(sk)) {
                close_sock(st, ctx, sk);
            }
        }
    }
    if let Some(sid) = txn.stream.take() {
        if let Ok(s) = ctx.stream(sid) {
            s.close();
        }
    }
}

pub(super) fn on_udp<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    rid: ResolverId,
    sk: Key,
    io: IoId<UdpSocket>,
) {
    let Some(mut st) = take(ctx, rid) else { return };
    let (Some(mut batch), Ok(fd)) = (st.batch.take(), ctx.io(io).map(|w| w.fd())) else {
        put(ctx, st);
        return;
    };
    loop {
        match batch.recv(fd) {
            Ok(0) => break,
            Ok(n) => {
                for i in 0..n {
                    let (d, bytes) = batch.get(i);
                    match d.from {
                        Some(from) => udp_reply(&mut st, ctx, sk, from, bytes, d.truncated),
                        None => st.stats.dropped += 1,
                    }
                }
                // A short batch emptied the socket: no call just to hear
                // EAGAIN (the watcher is level-triggered). And a socket
                // closed meanwhile must not be read (its fd may be reused).
                if n < SLOTS || st.socks.get(sk).is_none() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                sock_error(&mut st, ctx, sk, &e);
                break;
            }
        }
    }
    st.batch = Some(batch);
    put(ctx, st);
    drain(ctx, data, rid);
    // The lookups those callbacks started go out now, while the loop
    // handles its other events.
    on_flush(ctx, data, rid);
}

pub(super) fn on_flush<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: ResolverId) {
    let Some(mut st) = take(ctx, rid) else { return };
    if st.outq.is_empty() {
        put(ctx, st);
        return;
    }
    flush(&mut st, ctx);
    put(ctx, st);
    drain(ctx, data, rid);
}

/// Sends the queued UDP queries, a batch per socket; a query whose send
/// fails moves on to its next server (which may queue it again).
pub(super) fn flush<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>) {
    while !st.outq.is_empty() {
        let mut q = std::mem::take(&mut st.outq);
        // keep each socket's queries together, in order
        q.sort_by_key(|&(sk, _, _)| (sk.idx, sk.gen));
        let mut failed = Vec::new();
        for run in q.chunk_by(|a, b| a.0 == b.0) {
            let sk = run[0].0;
            let Some(io) = st.socks.get(sk).and_then(|s| s.io) else {
                continue;
            };
            let live: Vec<Key> = run
                .iter()
                .filter(|&&(_, tk, seq)| {
                    st.txns
                        .get(tk)
                        .is_some_and(|t| t.sock == Some(sk) && t.seq == seq)
                })
                .map(|&(_, tk, _)| tk)
                .collect();
            for part in live.chunks(SLOTS) {
                let batch_ok = part.len() > 1 && {
                    let Ok(fd) = ctx.io(io).map(|w| w.fd()) else {
                        break;
                    };
                    let msgs: Vec<&[u8]> = part
                        .iter()
                        .filter_map(|&tk| st.txns.get(tk).map(|t| t.wire.as_slice()))
                        .collect();
                    st.sender.send(fd, &msgs).is_ok()
                };
                if batch_ok {
                    st.stats.sent += part.len() as u64;
                    continue;
                }
                // one by one, to learn which failed
                for &tk in part {
                    let Some(t) = st.txns.get(tk) else { continue };
                    let r = ctx.io(io).map(|w| w.source().send(&t.wire));
                    match r {
                        Ok(Ok(_)) => st.stats.sent += 1,
                        Ok(Err(e)) => failed.push((tk, e.to_string())),
                        Err(e) => failed.push((tk, e.to_string())),
                    }
                }
            }
        }
        let now = ctx.now();
        for (tk, err) in failed {
            if let Some(t) = st.txns.get_mut(tk) {
                let s = t.server;
                t.io_error = Some(format!("{}: {err}", st.servers[s].addr));
                server_failed(st, s, now);
                send_next(st, ctx, tk);
            }
        }
    }
}

pub(super) fn txn_of_id<T>(st: &State<T>, bytes: &[u8]) -> Option<Key> {
    let id = wire::id_of(bytes)?;
    st.by_id.get(&id).and_then(|&idx| st.txns.key_at(idx))
}

pub(super) fn udp_reply<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    sk: Key,
    from: SocketAddr,
    bytes: &[u8],
    cut: bool,
) {
    let exact = st.cfg.case_randomization;
    let verdict = txn_of_id(st, bytes).and_then(|tk| {
        let txn = st.txns.get(tk)?;
        if txn.sock != Some(sk) || txn.tcp || from != st.servers[txn.server].addr {
            return None;
        }
        Some((tk, wire::check_reply(bytes, &txn.wire, txn.qend, exact)))
    });
    match verdict {
        Some((tk, Match::Yes)) if cut => {
            // Larger than our buffer (the server ignored the payload size
            // we announced): taken as truncated, asked again over TCP.
            st.stats.dropped += 1;
            if let Some(txn) = st.txns.get_mut(tk) {
                txn.tcp = true;
            }
            resend_same(st, ctx, tk);
        }
        Some((tk, Match::Yes)) => {
            st.stats.accepted += 1;
            handle_reply(st, ctx, tk, bytes, false);
        }
        Some((tk, Match::CaseOnly)) => {
            // A 0x20 mismatch: someone guessed id and port but not the
            // case. Ask over TCP, which a blind spoofer cannot answer.
            st.stats.dropped += 1;
            if let Some(txn) = st.txns.get_mut(tk) {
                txn.tcp = true;
            }
            resend_same(st, ctx, tk);
        }
        _ => st.stats.dropped += 1,
    }
}

/// A socket error (an ICMP port unreachable, ...): the queries waiting on
/// it move on to their next server at once.
pub(super) fn sock_error<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    sk: Key,
    err: &io::Error,
) {
    let now = ctx.now();
    for tk in st.txns.keys() {
        let Some(txn) = st.txns.get_mut(tk) else {
            continue;
        };
        if txn.sock == Some(sk) && !txn.tcp {
            let s = txn.server;
            txn.io_error = Some(format!("{}: {err}", st.servers[s].addr));
            server_failed(st, s, now);
            send_next(st, ctx, tk);
        }
    }
}
