//! UDP (`-U`), framed as memcached frames it. A datagram starts with 8
//! bytes: a request id, a sequence number, the count of datagrams in the
//! request and 2 reserved bytes, each a 16-bit big-endian number. It holds
//! whole requests, text or binary (its first byte decides, as for a new TCP
//! connection); a request in several datagrams is dropped, as memcached
//! drops it, since nothing says in which order they come.
//!
//! The replies to one datagram go back to its sender as one message, cut
//! into datagrams of at most 1,400 bytes, each behind a header with the
//! request id, its sequence number (from 0) and the count of datagrams in
//! the message, so a client can put them back in order and tell when it
//! has them all. (memcached 1.6 numbers the part of a multi-get reply for
//! each key as a message of its own; a client that reads the count from the
//! first datagram then stops early. One message per request is what the
//! protocol describes.)
//!
//! Replies are built whole before the first datagram leaves, because the
//! first header carries the count: a reply larger than
//! [`reply_max`] (which fits any single item) is not sent, and a text
//! request gets `SERVER_ERROR out of memory writing get response` instead,
//! memcached's reply when a multi-get's reply does not fit.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use bytes::Bytes;
use evloop::{Ctx, Events, IoId};

use crate::exec::Session;
use crate::reply::ReplySink;
use crate::server::{lock, shutdown, tick_clock, App};

/// The frame header's length.
pub const HEADER: usize = 8;

/// The largest datagram sent, header included (memcached's
/// `UDP_MAX_PAYLOAD_SIZE`: it fits an Ethernet frame).
pub const DATAGRAM_MAX: usize = 1400;

/// Reply bytes per datagram.
const DATA_MAX: usize = DATAGRAM_MAX - HEADER;

/// Datagrams taken per readiness event, so that TCP clients and timers get
/// their turn under a flood.
const BATCH: usize = 64;

/// Reply bytes produced per step of a long multi-get: the step's size
/// only, the whole reply is kept (see [`reply_max`]).
const STEP: usize = 64 << 10;

/// The largest reply to one datagram: any single item (`item_max`) with
/// room for its header line, at least 4 MiB, and at most what 65,535
/// datagrams (the count field's limit) hold.
pub fn reply_max(item_max: usize) -> usize {
    (item_max + 1024)
        .max(4 << 20)
        .min(usize::from(u16::MAX) * DATA_MAX)
}

/// The requests of a datagram's payload, or why it has none: too short
/// for a header, or one part of a request in several datagrams.
pub fn parse(datagram: &[u8]) -> Option<(u16, &[u8])> {
    // memcached also ignores a header with nothing behind it.
    if datagram.len() <= HEADER {
        return None;
    }
    let id = u16::from_be_bytes([datagram[0], datagram[1]]);
    let count = u16::from_be_bytes([datagram[4], datagram[5]]);
    (count == 1).then_some((id, &datagram[HEADER..]))
}

/// A reply message going out as datagrams.
#[derive(Debug)]
pub struct Message {
    /// Who asked.
    peer: SocketAddr,
    /// The request id, repeated in every datagram.
    id: u16,
    /// The whole reply.
    reply: Vec<u8>,
    /// The next datagram to send.
    next: usize,
}

impl Message {
    /// The reply to request `id` from `peer`.
    pub fn new(peer: SocketAddr, id: u16, reply: Vec<u8>) -> Message {
        Message {
            peer,
            id,
            reply,
            next: 0,
        }
    }

    /// How many datagrams carry it.
    pub fn count(&self) -> usize {
        self.reply.len().div_ceil(DATA_MAX)
    }

    /// Datagram `seq` (below [`count`](Self::count)) into `buf`, header
    /// first.
    pub fn datagram<'b>(&self, seq: usize, buf: &'b mut [u8; DATAGRAM_MAX]) -> &'b [u8] {
        let start = seq * DATA_MAX;
        let piece = &self.reply[start..self.reply.len().min(start + DATA_MAX)];
        // The count is below 65,536 (see `reply_max`), so are the sequence
        // numbers.
        let [s0, s1] = (seq as u16).to_be_bytes();
        let [c0, c1] = (self.count() as u16).to_be_bytes();
        let [i0, i1] = self.id.to_be_bytes();
        buf[..HEADER].copy_from_slice(&[i0, i1, s0, s1, c0, c1, 0, 0]);
        buf[HEADER..HEADER + piece.len()].copy_from_slice(piece);
        &buf[..HEADER + piece.len()]
    }

    /// Sends what is left; returns the bytes sent, and `false` if the
    /// socket's buffer filled first (call again once it is writable).
    fn send(&mut self, sock: &UdpSocket) -> (u64, bool) {
        let mut buf = [0u8; DATAGRAM_MAX];
        let mut sent = 0;
        while self.next < self.count() {
            let d = self.datagram(self.next, &mut buf);
            match sock.send_to(d, self.peer) {
                Ok(n) => sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (sent, false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The peer's port is closed (an ICMP error of an earlier
                // datagram), or the like: the rest goes nowhere either.
                Err(_) => return (sent, true),
            }
            self.next += 1;
        }
        (sent, true)
    }
}

/// A reply sink that stops a long multi-get every [`STEP`] bytes, so its
/// size is checked as it grows.
struct Reply {
    buf: Vec<u8>,
    /// The length when the current step began.
    mark: usize,
}

impl ReplySink for Reply {
    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn put_bytes(&mut self, bytes: Bytes) {
        self.buf.extend_from_slice(&bytes);
    }

    fn is_full(&self) -> bool {
        self.buf.len() - self.mark >= STEP
    }
}

/// What one datagram's requests come to.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// The replies (empty: nothing to send).
    pub reply: Vec<u8>,
    /// `shutdown` was among them.
    pub shutdown: bool,
}

/// Runs the requests of one datagram's `payload` on a fresh session
/// (`new_session`), as a TCP connection runs its input, and returns the
/// reply, bounded by `max` bytes.
pub fn answer(
    payload: &[u8],
    mut session: Session,
    store: &mut crate::store::Store,
    stats: &mut crate::stats::Stats,
    max: usize,
) -> Answer {
    let mut out = Reply {
        buf: Vec::new(),
        mark: 0,
    };
    let mut used = 0;
    let mut shutdown = false;
    loop {
        out.mark = out.buf.len();
        let p = session.process(&payload[used..], store, stats, &mut out);
        used += p.consumed;
        if out.buf.len() > max {
            // Nothing of it goes: a partial reply would look whole.
            out.buf.clear();
            if !session.speaks_binary() {
                out.buf
                    .extend_from_slice(b"SERVER_ERROR out of memory writing get response\r\n");
            }
            break;
        }
        if p.shutdown {
            shutdown = true;
        }
        if p.watch.is_some() {
            // Log lines go to a connection; a datagram socket has none.
            out.buf
                .extend_from_slice(b"CLIENT_ERROR watch is not served over UDP\r\n");
        }
        if p.close {
            break;
        }
        if p.consumed == 0 && !session.busy() {
            // What is left is the start of a request whose rest cannot
            // follow (a request is one datagram).
            if used < payload.len() && !session.speaks_binary() {
                out.buf
                    .extend_from_slice(b"CLIENT_ERROR incomplete request in datagram\r\n");
            }
            break;
        }
    }
    Answer {
        reply: out.buf,
        shutdown,
    }
}

/// The io watcher (started) that serves UDP on `sock`.
pub fn watch(ctx: &mut Ctx<'_, App>, sock: UdpSocket) -> Result<IoId<UdpSocket>, evloop::Error> {
    // The largest datagram there is; kept by the watcher's closure.
    let mut buf = vec![0u8; 65536];
    let mut pending: Option<Message> = None;
    // `watch` lines name the socket's descriptor, as memcached's do.
    let fd = sock.as_raw_fd();
    let id = ctx.new_io(sock, Events::READ, move |ctx, app, io, ev| {
        if ev.contains(Events::WRITE) {
            let Some(msg) = &mut pending else { return };
            let Ok(w) = ctx.io(io) else { return };
            let (sent, done) = msg.send(w.source());
            lock(&app.core).stats.bytes_written += sent;
            if !done {
                return;
            }
            pending = None;
            if let Ok(mut w) = ctx.io(io) {
                let _ = w.set_interest(Events::READ);
            }
        }
        for _ in 0..BATCH {
            let got = match ctx.io(io) {
                Ok(w) => w.source().recv_from(&mut buf),
                Err(_) => return,
            };
            let (n, peer) = match got {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An ICMP error of an earlier reply (ECONNREFUSED), and the
                // like: it concerns one peer, not the socket.
                Err(_) => continue,
            };
            let mut guard = lock(&app.core);
            let core = &mut *guard;
            core.stats.bytes_read += n as u64;
            let Some((rid, payload)) = parse(&buf[..n]) else {
                continue;
            };
            tick_clock(ctx, &mut core.store);
            let session = Session::with_limits(app.opts.item_max, app.opts.protocol, usize::MAX);
            let max = reply_max(app.opts.item_max);
            core.store.log.cfd = fd;
            let a = answer(payload, session, &mut core.store, &mut core.stats, max);
            core.publish_events();
            drop(guard);
            if a.shutdown {
                shutdown(ctx, app);
            }
            if a.reply.is_empty() {
                continue;
            }
            let mut msg = Message::new(peer, rid, a.reply);
            let Ok(w) = ctx.io(io) else { return };
            let (sent, done) = msg.send(w.source());
            lock(&app.core).stats.bytes_written += sent;
            if !done {
                // The rest once the socket drains; no reading meanwhile,
                // so one reply at most waits.
                pending = Some(msg);
                if let Ok(mut w) = ctx.io(io) {
                    let _ = w.set_interest(Events::WRITE);
                }
                return;
            }
        }
    })?;
    ctx.start(id)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::exec::Protocol;
    use crate::stats::Stats;
    use crate::store::Store;

    fn frame(id: u16, seq: u16, count: u16, body: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        for n in [id, seq, count, 0] {
            d.extend_from_slice(&n.to_be_bytes());
        }
        d.extend_from_slice(body);
        d
    }

    fn run(payload: &[u8], store: &mut Store, max: usize) -> Answer {
        let session = Session::with_limits(1 << 20, Protocol::Auto, usize::MAX);
        answer(payload, session, store, &mut Stats::default(), max)
    }

    #[test]
    fn a_datagram_carries_one_request_behind_its_header() {
        assert_eq!(
            parse(&frame(7, 0, 1, b"get a\r\n")),
            Some((7, &b"get a\r\n"[..]))
        );
        // A part of a request in several datagrams, or no request at all.
        assert_eq!(parse(&frame(7, 0, 2, b"get a\r\n")), None);
        assert_eq!(parse(&frame(7, 1, 0, b"get a\r\n")), None);
        assert_eq!(parse(&frame(7, 0, 1, b"")), None);
        assert_eq!(parse(b"\0\x07"), None);
    }

    #[test]
    fn replies_are_cut_into_numbered_datagrams() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let reply: Vec<u8> = (0..DATA_MAX * 2 + 10).map(|i| i as u8).collect();
        let msg = Message::new(peer, 0x1234, reply.clone());
        assert_eq!(msg.count(), 3);
        let mut joined = Vec::new();
        let mut buf = [0u8; DATAGRAM_MAX];
        for seq in 0..3 {
            let d = msg.datagram(seq, &mut buf);
            assert!(d.len() <= DATAGRAM_MAX);
            assert_eq!(&d[..HEADER], &frame(0x1234, seq as u16, 3, b"")[..]);
            joined.extend_from_slice(&d[HEADER..]);
        }
        assert_eq!(joined, reply);
        assert_eq!(Message::new(peer, 1, vec![1]).count(), 1);
    }

    #[test]
    fn every_request_of_a_datagram_is_answered_in_one_reply() {
        let mut store = Store::new(64 << 20, 1 << 20, Clock::starting_at(1000));
        let a = run(
            b"set k 0 0 2\r\nhi\r\nget k\r\nincr k 1\r\n",
            &mut store,
            1 << 20,
        );
        assert_eq!(
            a.reply,
            b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        );
        // A request cut short cannot get its rest from another datagram.
        let a = run(b"get k\r\nset j 0 0 9\r\nabc", &mut store, 1 << 20);
        assert_eq!(
            a.reply,
            b"VALUE k 0 2\r\nhi\r\nEND\r\nCLIENT_ERROR incomplete request in datagram\r\n"
        );
        // Binary: the first byte decides, per datagram.
        let mut get = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        get.extend_from_slice(&[0; 8]);
        get.push(b'k');
        let a = run(&get, &mut store, 1 << 20);
        assert_eq!(&a.reply[..2], &[0x81, 0x00]);
        assert!(a.reply.ends_with(b"hi"));
    }

    #[test]
    fn a_reply_too_large_for_a_message_is_an_error() {
        let mut store = Store::new(64 << 20, 1 << 20, Clock::starting_at(1000));
        let value = vec![b'v'; 100_000];
        let mut set = b"set big 0 0 100000\r\n".to_vec();
        set.extend_from_slice(&value);
        set.extend_from_slice(b"\r\n");
        assert_eq!(run(&set, &mut store, 1 << 20).reply, b"STORED\r\n");
        // 20 copies of the value are 2 MB: past a 1 MB bound, in steps.
        let get = format!("get{}\r\n", " big".repeat(20));
        let a = run(get.as_bytes(), &mut store, 1 << 20);
        assert_eq!(
            a.reply,
            b"SERVER_ERROR out of memory writing get response\r\n"
        );
        let a = run(get.as_bytes(), &mut store, 4 << 20);
        assert_eq!(a.reply.len(), 20 * (20 + 100_002) + 5);
        assert!(reply_max(1 << 20) >= 4 << 20);
        assert!(reply_max(1 << 30) <= usize::from(u16::MAX) * DATA_MAX);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Any datagram: no panic, and a reply that fits its message (the
        /// bound, or the one error line that replaces what went past it).
        #[test]
        fn any_datagram_gets_a_bounded_reply(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            text in proptest::sample::select(vec![
                &b""[..], b"get a b c\r\n", b"set a 0 0 5\r\n", b"\x80\x01\x00\x01",
            ]),
        ) {
            let mut store = Store::new(64 << 20, 1 << 20, Clock::starting_at(1000));
            let mut datagram = frame(1, 0, 1, text);
            datagram.extend_from_slice(&body);
            if let Some((id, payload)) = parse(&datagram) {
                proptest::prop_assert_eq!(id, 1);
                let a = run(payload, &mut store, 4096);
                proptest::prop_assert!(a.reply.len() <= 4096 + 64);
            }
        }
    }
}
