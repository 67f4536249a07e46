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
    let sock = connected_udp(st.servers[server].addr)?;
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
            // While paused, the coalescing timer reads it.
            if !st.paused {
                w.start()?;
            }
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

/// A non-blocking UDP socket connected to `addr`: the connect binds it to
/// a random ephemeral port, so it takes two system calls (std's bind,
/// connect and set_nonblocking take four).
fn connected_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use nix::sys::socket::{
        connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6,
    };
    use std::os::fd::AsRawFd;
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd = match addr {
        SocketAddr::V4(a) => {
            let fd = socket(AddressFamily::Inet, SockType::Datagram, flags, None)?;
            connect(fd.as_raw_fd(), &SockaddrIn::from(a))?;
            fd
        }
        SocketAddr::V6(a) => {
            let fd = socket(AddressFamily::Inet6, SockType::Datagram, flags, None)?;
            connect(fd.as_raw_fd(), &SockaddrIn6::from(a))?;
            fd
        }
    };
    Ok(UdpSocket::from(fd))
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
    detach_parts(st, ctx, txn.sock.take(), txn.stream.take());
}

/// [`detach`] for what was taken out of a query left in its slot.
pub(super) fn detach_parts<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    sock: Option<Key>,
    stream: Option<StreamId>,
) {
    if let Some(sk) = sock {
        if let Some(s) = st.socks.get_mut(sk) {
            s.live -= 1;
            if s.live == 0 && st.current.get(s.server) != Some(&Some(sk)) {
                close_sock(st, ctx, sk);
            }
        }
    }
    if let Some(sid) = stream {
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
    let load = st.inflight;
    read_udp(&mut st, ctx, sk, io);
    moderate(&mut st, ctx, load);
    put(ctx, st);
    drain(ctx, data, rid);
}

/// The coalescing period is over: reads every UDP socket.
pub(super) fn on_coalesce<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: ResolverId) {
    let Some(mut st) = take(ctx, rid) else { return };
    let load = st.inflight;
    for sk in st.socks.keys() {
        // A socket no query waits on has nothing to read worth a call.
        let live = st.socks.get(sk).filter(|s| s.live > 0).and_then(|s| s.io);
        if let Some(io) = live {
            read_udp(&mut st, ctx, sk, io);
        }
    }
    moderate(&mut st, ctx, load);
    put(ctx, st);
    drain(ctx, data, rid);
}

/// Reads on readiness when few queries are in flight, every
/// `reply_coalescing` period under load (the socket watchers stopped, a
/// timer instead). A watcher stopped and started within one loop iteration
/// costs no system call, so staying in either mode costs nothing. `load`
/// is the number in flight before the replies just read: the lookups they
/// end usually start new queries right after, so the number after them
/// would switch modes back and forth under a steady load.
fn moderate<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, load: usize) {
    let period = st.cfg.reply_coalescing;
    let busy = !period.is_zero() && !st.shut && load >= COALESCE_MIN_INFLIGHT;
    if busy != st.paused {
        st.paused = busy;
        for sk in st.socks.keys() {
            if let Some(io) = st.socks.get(sk).and_then(|s| s.io) {
                if let Ok(mut w) = ctx.io(io) {
                    if busy {
                        w.stop();
                    } else {
                        let _ = w.start();
                    }
                }
            }
        }
    }
    if !busy {
        let _ = ctx.stop(st.coalesce);
    }
    // else the period starts once this iteration's queries are sent
    // (arm_tick, from the prepare watcher)
}

/// Starts the next coalescing period, counted from now (after the replies
/// were handled and the queries they led to sent): counted from the start
/// of the iteration, a period shorter than the work left the loop no time
/// to sleep.
fn arm_tick<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>) {
    if st.paused && !ctx.is_active(st.coalesce) {
        ctx.now_update();
        if let Ok(mut t) = ctx.timer(st.coalesce) {
            let _ = t.again_with(st.cfg.reply_coalescing);
        }
    }
}

/// Reads what waits on one socket and handles each datagram.
fn read_udp<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, sk: Key, io: IoId<UdpSocket>) {
    let Some(mut batch) = st.batch.take() else {
        return;
    };
    let Ok(fd) = ctx.io(io).map(|w| w.fd()) else {
        st.batch = Some(batch);
        return;
    };
    loop {
        match batch.recv(fd) {
            Ok(0) => break,
            Ok(n) => {
                for i in 0..n {
                    let (d, bytes) = batch.get(i);
                    match d.from {
                        Some(from) => udp_reply(st, ctx, sk, from, bytes, d.truncated),
                        None => st.stats.dropped += 1,
                    }
                }
                // A short batch emptied the socket: no call just to hear
                // EAGAIN. And a socket closed meanwhile must not be read
                // (its fd may be reused).
                if n < SLOTS || st.socks.get(sk).is_none() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                sock_error(st, ctx, sk, &e);
                break;
            }
        }
    }
    st.batch = Some(batch);
}

pub(super) fn on_flush<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: ResolverId) {
    let Some(mut st) = take(ctx, rid) else { return };
    if st.outq.is_empty() {
        arm_tick(&mut st, ctx);
        put(ctx, st);
        return;
    }
    flush(&mut st, ctx);
    arm_tick(&mut st, ctx);
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
            let mut live: Vec<(usize, Key)> = run
                .iter()
                .filter_map(|&(_, tk, seq)| {
                    st.txns
                        .get(tk)
                        .filter(|t| t.sock == Some(sk) && t.seq == seq)
                        .map(|t| (t.wire.len(), tk))
                })
                .collect();
            // Longest first: a run of equal sizes, and one shorter query
            // to end it, make one segmented send.
            live.sort_by_key(|&(len, _)| std::cmp::Reverse(len));
            let mut rest = &live[..];
            while !rest.is_empty() {
                let seg = rest[0].0;
                let same = rest
                    .iter()
                    .take(GSO_SEGMENTS)
                    .take_while(|&&(len, _)| len == seg)
                    .count();
                let n = (same + 1).min(rest.len()).min(GSO_SEGMENTS);
                let (group, tail) = rest.split_at(n);
                rest = tail;
                send_group(st, ctx, io, group, &mut failed);
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
        // The queue keeps its room for the next iteration's queries.
        if st.outq.is_empty() {
            q.clear();
            st.outq = q;
        }
    }
}

/// Sends one socket's queries (longest first; all of one size but the
/// last): segmented if possible, else in batches of [`SLOTS`], else one by
/// one (to learn which failed).
fn send_group<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    io: IoId<UdpSocket>,
    group: &[(usize, Key)],
    failed: &mut Vec<(Key, String)>,
) {
    let Ok(fd) = ctx.io(io).map(|w| w.fd()) else {
        return;
    };
    if group.len() > 1 {
        let msgs: Vec<&[u8]> = group
            .iter()
            .filter_map(|&(_, tk)| st.txns.get(tk).map(|t| t.wire.as_slice()))
            .collect();
        let seg = u16::try_from(group[0].0).unwrap_or(u16::MAX);
        if let Ok(true) = st.sender.send_segmented(fd, &msgs, seg) {
            st.stats.sent += msgs.len() as u64;
            return;
        }
    }
    for part in group.chunks(SLOTS) {
        let batch_ok = part.len() > 1 && {
            let msgs: Vec<&[u8]> = part
                .iter()
                .filter_map(|&(_, tk)| st.txns.get(tk).map(|t| t.wire.as_slice()))
                .collect();
            st.sender.send(fd, &msgs).is_ok()
        };
        if batch_ok {
            st.stats.sent += part.len() as u64;
            continue;
        }
        for &(_, tk) in part {
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
