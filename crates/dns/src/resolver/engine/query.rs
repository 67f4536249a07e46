//! Queries on the wire: ids, server order, transmissions and retries,
//! timeouts, and the end of a query.

use super::*;

/// FNV-1a over the question section (name lower-cased, type, class):
/// computed once per query, and the map then uses the u64 as is (a
/// collision only costs a query not shared: the bytes are compared too).
pub(super) fn question_hash(question: &[u8]) -> u64 {
    question.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Passes an already computed hash through.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u16(&mut self, n: u16) {
        // ids are random already; spread them over the high bits too
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A new query for `name` whose bytes (id still 0), question end and
/// question hash are given.
pub(super) fn new_txn<T>(
    st: &mut State<T>,
    name: Name,
    qtype: RecordType,
    waiter: Key,
    (mut wire, qend, hash): (Vec<u8>, usize, u64),
) -> Key {
    let mut txid = st.rng.next_u16();
    while st.by_id.contains_key(&txid) {
        txid = st.rng.next_u16();
    }
    wire[..2].copy_from_slice(&txid.to_be_bytes());
    let edns = st.cfg.edns;
    let n = st.servers.len();
    let start = if st.cfg.rotate && n > 0 {
        st.rotate_next = (st.rotate_next + 1) % n;
        st.rotate_next
    } else {
        0
    };
    let order = server_order(st, start);
    let tk = st.txns.insert(Txn {
        name,
        qtype,
        hash,
        waiter: Some(waiter),
        more_waiters: Vec::new(),
        wire,
        qend,
        txid,
        order,
        sent: 0,
        server: 0,
        rcode_failed: 0,
        last_rcode: None,
        malformed: None,
        io_error: None,
        edns,
        tcp: false,
        sock: None,
        stream: None,
        seq: 0,
        started: false,
    });
    st.by_id.insert(txid, tk.idx);
    tk
}

/// Healthy servers first (from `start`, in turn), then failing ones by
/// their failure count; a failing server whose retry time has come counts
/// as healthy once (the query probes it).
pub(super) fn server_order<T>(st: &mut State<T>, start: usize) -> Vec<u16> {
    let n = st.servers.len();
    if n == 1 {
        // The common case: no allocation (send_next reads index 0).
        return Vec::new();
    }
    let now = Instant::now();
    let delay = st.cfg.server_retry_delay;
    let mut healthy = Vec::with_capacity(n);
    let mut sick = Vec::new();
    for i in 0..n {
        let s = (start + i) % n;
        let sv = &mut st.servers[s];
        if sv.failures == 0 {
            healthy.push(s as u16);
        } else if now >= sv.retry_at {
            sv.retry_at = now + delay;
            healthy.push(s as u16);
        } else {
            sick.push(s as u16);
        }
    }
    sick.sort_by_key(|&s| st.servers[usize::from(s)].failures);
    healthy.extend(sick);
    healthy
}

pub(super) fn begin<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, tk: Key) {
    if let Some(txn) = st.txns.get_mut(tk) {
        txn.started = true;
        st.inflight += 1;
        send_next(st, ctx, tk);
    }
}

pub(super) fn start_queued<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>) {
    while st.inflight < st.cfg.max_inflight {
        let Some(tk) = st.queue.pop_front() else {
            break;
        };
        if st.txns.get(tk).is_some_and(|t| !t.started) {
            begin(st, ctx, tk);
        }
    }
}

/// Sends to the next server in the query's order, or ends it when the
/// budget (attempts × servers) is spent or every server failed with an
/// rcode.
pub(super) fn send_next<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, tk: Key) {
    loop {
        let n = st.servers.len();
        let budget = st.cfg.attempts.saturating_mul(n as u32);
        let Some(txn) = st.txns.get_mut(tk) else {
            return;
        };
        let all_failed = (0..n).all(|i| i < 64 && txn.rcode_failed & (1 << i) != 0);
        if all_failed || txn.sent >= budget {
            let status = if all_failed {
                txn.last_rcode.clone().unwrap_or(Status::ServFail)
            } else if let Some(reason) = txn.malformed.take() {
                Status::Error(reason)
            } else if let Some(s) = txn.last_rcode.clone() {
                s
            } else if let Some(e) = txn.io_error.take() {
                Status::Error(e)
            } else {
                Status::Timeout
            };
            end_txn(st, ctx, tk, TxnEnd::Fail(status));
            return;
        }
        let s = txn
            .order
            .get(txn.sent as usize % n)
            .map_or(0, |&s| usize::from(s));
        txn.sent += 1;
        if s < 64 && txn.rcode_failed & (1 << s) != 0 {
            continue;
        }
        txn.server = s;
        if transmit(st, ctx, tk).is_ok() {
            return;
        }
        server_failed(st, s, ctx.now());
    }
}

/// Sends the query (again) to its current server.
pub(super) fn transmit<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    tk: Key,
) -> io::Result<()> {
    // The query stays in its slot (it is large: moving it out and back
    // costs more than the rest of this function).
    let Some(txn) = st.txns.get_mut(tk) else {
        return Ok(());
    };
    let (sock, stream) = (txn.sock.take(), txn.stream.take());
    let (server, tcp) = (txn.server, txn.tcp);
    detach_parts(st, ctx, sock, stream);
    let addr = st.servers[server].addr;
    let r = if tcp {
        match st.txns.get(tk) {
            Some(txn) => open_tcp(st.rid, ctx, tk, addr, &txn.wire).map(|sid| (None, Some(sid))),
            None => return Ok(()),
        }
    } else {
        udp_socket(st, ctx, server).map(|sk| (Some(sk), None))
    };
    let (sock, stream) = r?;
    let when = ctx.now() + st.cfg.timeout;
    let Some(txn) = st.txns.get_mut(tk) else {
        detach_parts(st, ctx, sock, stream);
        return Ok(());
    };
    txn.seq = txn.seq.wrapping_add(1);
    txn.sock = sock;
    txn.stream = stream;
    let seq = txn.seq;
    if let Some(sk) = sock {
        st.outq.push((sk, tk, seq));
    } else {
        st.stats.sent += 1;
        st.stats.sent_tcp += 1;
    }
    st.deadlines.push_back((when, tk, seq));
    arm(st, ctx);
    Ok(())
}

/// Sends again to the same server without spending an attempt (after TC,
/// a 0x20 mismatch, or a FORMERR to EDNS).
pub(super) fn resend_same<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, tk: Key) {
    if transmit(st, ctx, tk).is_err() {
        if let Some(s) = st.txns.get(tk).map(|t| t.server) {
            server_failed(st, s, ctx.now());
        }
        send_next(st, ctx, tk);
    }
}

pub(super) fn server_failed<T>(st: &mut State<T>, s: usize, now: Instant) {
    let sv = &mut st.servers[s];
    sv.failures = sv.failures.saturating_add(1);
    sv.retry_at = now + st.cfg.server_retry_delay;
}

pub(super) fn end_txn<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, tk: Key, end: TxnEnd) {
    let Some(mut txn) = st.txns.remove(tk) else {
        return;
    };
    if txn.started {
        st.inflight -= 1;
    }
    release(st, ctx, &mut txn);
    let waiters = std::mem::take(&mut txn.more_waiters);
    let last = txn.waiter.take();
    let end = match end {
        TxnEnd::Owned(o) if !waiters.is_empty() => TxnEnd::Answer(Rc::new(o)),
        e => e,
    };
    for w in waiters {
        if apply(st, w, end.clone(), None, Source::Network) {
            advance(st, ctx, w);
        }
    }
    if let Some(w) = last {
        if apply(st, w, end, None, Source::Network) {
            advance(st, ctx, w);
        }
    }
    start_queued(st, ctx);
    idle_check(st, ctx);
}

/// Frees a query's id, socket share, stream and buffer.
pub(super) fn release<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, txn: &mut Txn) {
    st.by_id.remove(&txn.txid);
    let hash = txn.hash;
    if st
        .shared
        .get(&hash)
        .is_some_and(|&k| st.txns.get(k).is_none())
    {
        st.shared.remove(&hash);
    }
    detach(st, ctx, txn);
    if st.spare_wire.len() < 64 {
        st.spare_wire.push(std::mem::take(&mut txn.wire));
    }
}

pub(super) fn idle_check<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>) {
    if st.txns.len() == 0 {
        st.deadlines.clear();
        if st.armed.take().is_some() {
            let _ = ctx.stop(st.timer);
        }
    }
}

pub(super) fn arm<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>) {
    match st.deadlines.front() {
        Some(&(when, _, _)) => {
            if st.armed != Some(when) {
                let d = when
                    .saturating_duration_since(ctx.now())
                    .max(Duration::from_micros(1));
                if let Ok(mut t) = ctx.timer(st.timer) {
                    let _ = t.again_with(d);
                }
                st.armed = Some(when);
            }
        }
        None => {
            if st.armed.take().is_some() {
                let _ = ctx.stop(st.timer);
            }
        }
    }
}

pub(super) fn on_deadline<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: ResolverId) {
    let Some(mut st) = take(ctx, rid) else { return };
    st.armed = None;
    let _ = ctx.stop(st.timer);
    let now = ctx.now();
    while let Some(&(when, tk, seq)) = st.deadlines.front() {
        if when > now {
            break;
        }
        st.deadlines.pop_front();
        let Some(txn) = st.txns.get(tk) else { continue };
        if txn.seq != seq || !txn.started {
            continue;
        }
        let s = txn.server;
        server_failed(&mut st, s, now);
        send_next(&mut st, ctx, tk);
    }
    arm(&mut st, ctx);
    put(ctx, st);
    drain(ctx, data, rid);
}
