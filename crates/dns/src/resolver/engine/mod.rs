//! The resolver's state machine. The state of each resolver is boxed in
//! the loop's extension slot and taken out while an entry point works on
//! it (so sockets, streams and timers can be reached through the `Ctx` at
//! the same time), then put back before any user callback runs: finished
//! lookups queue their callbacks in `completed`, run once the state is in
//! place again (so a callback may start, cancel or shut down lookups).

mod lookup;
mod query;
mod reply;
mod tcp;
mod udp;

use lookup::*;
use query::*;
use reply::*;
use tcp::*;
use udp::*;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::{Ctx, Events, IoId, PrepareId, TimerId};
use evloop_buffer::{StreamEvent, StreamExt, StreamId};
use hickory_proto::rr::{rdata, Name, RData, Record, RecordType};

use super::batch::{RecvBatch, SendBatch, GSO_SEGMENTS, SLOTS};
use super::cache::Cache;
use super::result::{LookupResult, Source, Status};
use super::rng::Rng;
use super::search;
use super::slab::{Key, Slab};
use super::sort::{self, Reach};
use super::wire::{self, Match, Outcome};
use super::{Callback, LookupId, ResolverId, Stats};
use crate::config::{Config, COALESCE_MIN_INFLIGHT};

/// CNAME targets chased with a query of their own, per lookup.
const MAX_CHASES: u8 = 8;

pub(crate) struct Resolvers<T> {
    slots: Vec<Slot<T>>,
}

impl<T> Default for Resolvers<T> {
    fn default() -> Self {
        Resolvers { slots: Vec::new() }
    }
}

struct Slot<T> {
    gen: u32,
    state: Option<Box<State<T>>>,
}

struct Server {
    addr: SocketAddr,
    /// Consecutive transmissions without an answer.
    failures: u32,
    /// A failing server is tried again (probed) from then on.
    retry_at: Instant,
}

struct Sock {
    io: Option<IoId<UdpSocket>>,
    server: usize,
    /// Queries assigned to it so far (it is retired at the cap).
    used: u32,
    /// Queries waiting on it now.
    live: u32,
}

enum Owner<T> {
    Callback(Callback<T>),
    /// One family of an address lookup (false: A, true: AAAA).
    Addr(Key, bool),
}

struct Lookup<T> {
    owner: Owner<T>,
    qtype: RecordType,
    /// The name to ask when there is no search list (no allocation).
    single: Option<Name>,
    /// Search candidates, asked in order.
    candidates: Vec<Name>,
    next: usize,
    /// The candidate whose answer a CNAME chase continues.
    asked: Option<Name>,
    /// The name asked now (or last).
    current: Option<Name>,
    /// A CNAME target to ask next.
    chase: Option<Name>,
    chases: u8,
    canonical: Option<Name>,
    saw_nodata: bool,
    saw_servfail: bool,
    negative_ttl: Option<u32>,
    txn: Option<Key>,
}

struct AddrLookup<T> {
    cb: Option<Callback<T>>,
    v4: Option<LookupResult>,
    v6: Option<LookupResult>,
}

/// One question on the wire (shared by identical lookups).
struct Txn {
    name: Name,
    qtype: RecordType,
    /// Of the question section, the key in `shared`.
    hash: u64,
    /// The lookups waiting for it: the first without an allocation.
    waiter: Option<Key>,
    more_waiters: Vec<Key>,
    wire: Vec<u8>,
    qend: usize,
    txid: u16,
    order: Vec<u16>,
    sent: u32,
    server: usize,
    rcode_failed: u64,
    last_rcode: Option<Status>,
    malformed: Option<String>,
    /// The last socket error of a transmission (refused, unreachable).
    io_error: Option<String>,
    edns: Option<u16>,
    tcp: bool,
    sock: Option<Key>,
    stream: Option<StreamId>,
    seq: u32,
    started: bool,
}

#[derive(Clone)]
enum TxnEnd {
    /// An answer also held by the cache or several lookups.
    Answer(Rc<Outcome>),
    /// An answer for one lookup only (no cache): moved, not copied.
    Owned(Outcome),
    Fail(Status),
}

pub(crate) struct State<T> {
    rid: ResolverId,
    pub(crate) cfg: Config,
    servers: Vec<Server>,
    lookups: Slab<Lookup<T>>,
    addrs: Slab<AddrLookup<T>>,
    txns: Slab<Txn>,
    /// Query ids in flight, to the query's slot (a small map: a table of
    /// all 65536 ids costs a cache miss per reply).
    by_id: HashMap<u16, u32, BuildHasherDefault<IdHasher>>,
    /// Queries in flight by a hash of (lower-case name, type).
    shared: HashMap<u64, Key, BuildHasherDefault<IdHasher>>,
    queue: VecDeque<Key>,
    inflight: usize,
    socks: Slab<Sock>,
    current: Vec<Option<Key>>,
    deadlines: VecDeque<(Instant, Key, u32)>,
    timer: TimerId,
    armed: Option<Instant>,
    defer: TimerId,
    /// Reads the UDP sockets every `reply_coalescing` period while
    /// `paused` (their watchers stopped: under load).
    coalesce: TimerId,
    paused: bool,
    completed: VecDeque<(LookupId, Callback<T>, LookupResult)>,
    pub(crate) cache: Cache,
    rng: Rng,
    reach: Option<Reach>,
    /// Taken out while a socket is read.
    batch: Option<RecvBatch>,
    sender: SendBatch,
    /// UDP queries to send before the loop polls again: (socket, query,
    /// its transmission number).
    outq: Vec<(Key, Key, u32)>,
    flush: PrepareId,
    spare_wire: Vec<Vec<u8>>,
    rotate_next: usize,
    pub(crate) shut: bool,
    stats: Stats,
}

fn to_io(e: evloop::Error) -> io::Error {
    io::Error::other(e.to_string())
}

// ------------------------------------------------------------ state access

pub(crate) fn create<T: 'static>(ctx: &mut Ctx<'_, T>, mut cfg: Config) -> io::Result<ResolverId> {
    cfg.attempts = cfg.attempts.max(1);
    cfg.max_inflight = cfg.max_inflight.max(1);
    cfg.udp_max_queries = cfg.udp_max_queries.max(1);
    cfg.ndots = cfg.ndots.min(15);
    let idx = ctx.ext_or_default::<Resolvers<T>>().slots.len() as u32;
    let rid = ResolverId {
        idx,
        gen: 0,
        lp: ctx.loop_id(),
    };
    let timer = ctx
        .new_timer(Duration::ZERO, Duration::ZERO, move |ctx, data, _, _| {
            on_deadline(ctx, data, rid)
        })
        .map_err(to_io)?;
    let defer = ctx
        .new_timer(Duration::ZERO, Duration::ZERO, move |ctx, data, _, _| {
            drain(ctx, data, rid)
        })
        .map_err(to_io)?;
    let coalesce = ctx
        .new_timer(Duration::ZERO, Duration::ZERO, move |ctx, data, _, _| {
            on_coalesce(ctx, data, rid)
        })
        .map_err(to_io)?;
    if let Ok(mut t) = ctx.timer(coalesce) {
        t.set_keepalive(false);
    }
    // Sends queued during an iteration go out together just before the
    // loop polls. Not keeping the loop alive: a query in flight has its
    // deadline timer for that.
    let flush = ctx
        .new_prepare(move |ctx, data, _, _| on_flush(ctx, data, rid))
        .map_err(to_io)?;
    {
        let mut w = ctx.prepare(flush).map_err(to_io)?;
        w.set_keepalive(false);
        w.start().map_err(to_io)?;
    }
    let now = ctx.now();
    let servers = cfg
        .nameservers
        .iter()
        .map(|&addr| Server {
            addr,
            failures: 0,
            retry_at: now,
        })
        .collect::<Vec<_>>();
    let st = State {
        rid,
        current: vec![None; servers.len()],
        servers,
        lookups: Slab::new(),
        addrs: Slab::new(),
        txns: Slab::new(),
        by_id: HashMap::default(),
        shared: HashMap::default(),
        queue: VecDeque::new(),
        inflight: 0,
        socks: Slab::new(),
        deadlines: VecDeque::new(),
        timer,
        armed: None,
        defer,
        coalesce,
        paused: false,
        completed: VecDeque::new(),
        cache: Cache::new(cfg.cache_size, cfg.cache_max_ttl),
        rng: Rng::new(),
        reach: None,
        // Room for what the server was told, and for servers that ignore
        // it up to 4 kB (a longer datagram is taken as truncated).
        batch: Some(RecvBatch::new(usize::from(
            cfg.edns.unwrap_or(512).max(4096),
        ))),
        sender: SendBatch::new(),
        outq: Vec::new(),
        flush,
        spare_wire: Vec::new(),
        rotate_next: 0,
        shut: false,
        stats: Stats::default(),
        cfg,
    };
    ctx.ext_or_default::<Resolvers<T>>().slots.push(Slot {
        gen: 0,
        state: Some(Box::new(st)),
    });
    Ok(rid)
}

fn slot<'a, T: 'static>(ctx: &'a mut Ctx<'_, T>, rid: ResolverId) -> Option<&'a mut Slot<T>> {
    let s = ctx
        .ext_mut::<Resolvers<T>>()?
        .slots
        .get_mut(rid.idx as usize)?;
    (s.gen == rid.gen).then_some(s)
}

pub(crate) fn exists<T: 'static>(ctx: &mut Ctx<'_, T>, rid: ResolverId) -> bool {
    slot(ctx, rid).is_some()
}

fn take<T: 'static>(ctx: &mut Ctx<'_, T>, rid: ResolverId) -> Option<Box<State<T>>> {
    slot(ctx, rid)?.state.take()
}

fn put<T: 'static>(ctx: &mut Ctx<'_, T>, st: Box<State<T>>) {
    let rid = st.rid;
    if let Some(s) = slot(ctx, rid) {
        s.state = Some(st);
    }
}

pub(crate) fn with_state<T: 'static, R>(
    ctx: &mut Ctx<'_, T>,
    rid: ResolverId,
    f: impl FnOnce(&mut State<T>) -> R,
) -> Option<R> {
    slot(ctx, rid)?.state.as_deref_mut().map(f)
}

pub(crate) fn stats<T>(st: &mut State<T>) -> Stats {
    Stats {
        cache_entries: st.cache.len(),
        inflight: st.inflight,
        queued: st.txns.len() - st.inflight,
        pending: st.lookups.len() + st.addrs.len(),
        ..st.stats
    }
}

/// Runs the callbacks of finished lookups, one at a time with the state in
/// place (a callback may use the resolver, even cancel a later one).
fn drain<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: ResolverId) {
    let mut ran = false;
    while let Some((_, cb, res)) = with_state(ctx, rid, |st| st.completed.pop_front()).flatten() {
        cb(ctx, data, res);
        ran = true;
    }
    // A callback that used the resolver while others were still queued
    // started the deferred run; they have all run now, and a due timer
    // would only make the loop poll without waiting.
    if ran {
        if let Some(t) = with_state(ctx, rid, |st| st.defer) {
            if ctx.is_active(t) {
                let _ = ctx.stop(t);
            }
        }
    }
}

/// For entry points without `&mut T`: callbacks run from the loop.
fn put_and_defer<T: 'static>(ctx: &mut Ctx<'_, T>, mut st: Box<State<T>>) {
    // Enough queries queued to fill a batch: send them now rather than
    // at the end of the iteration (the server works on them meanwhile).
    if st.outq.len() >= GSO_SEGMENTS {
        flush(&mut st, ctx);
    }
    let defer = (!st.completed.is_empty()).then_some(st.defer);
    put(ctx, st);
    if let Some(t) = defer {
        if !ctx.is_active(t) {
            let _ = ctx.start(t);
        }
    }
}

// ------------------------------------------------------------ entry points

/// The id handed out when the resolver is gone: its key matches no
/// lookup, so cancelling it is a no-op.
fn dead_id(rid: ResolverId, addr: bool) -> LookupId {
    LookupId {
        rid,
        key: Key {
            idx: u32::MAX,
            gen: 0,
        },
        addr,
    }
}

pub(crate) fn lookup<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    rid: ResolverId,
    name: &str,
    qtype: RecordType,
    cb: Callback<T>,
    search: bool,
) -> LookupId {
    let Some(mut st) = take(ctx, rid) else {
        return dead_id(rid, false);
    };
    let key = st.lookups.insert(Lookup::new(Owner::Callback(cb), qtype));
    start_lookup(&mut st, ctx, key, name, search);
    put_and_defer(ctx, st);
    LookupId {
        rid,
        key,
        addr: false,
    }
}

pub(crate) fn reverse<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    rid: ResolverId,
    ip: IpAddr,
    cb: Callback<T>,
) -> LookupId {
    let Some(mut st) = take(ctx, rid) else {
        return dead_id(rid, false);
    };
    let key = st
        .lookups
        .insert(Lookup::new(Owner::Callback(cb), RecordType::PTR));
    let arpa = Name::from(ip);
    let from_hosts = st
        .cfg
        .hosts
        .as_ref()
        .and_then(|h| h.name_of(ip))
        .and_then(|n| search::parse_name(&format!("{n}.")).ok());
    if st.shut {
        finish(
            &mut st,
            key,
            LookupResult::status_only(Status::Shutdown, RecordType::PTR),
        );
    } else if let Some(target) = from_hosts {
        let rec = Record::from_rdata(arpa.clone(), 0, RData::PTR(rdata::PTR(target)));
        finish(
            &mut st,
            key,
            answer(RecordType::PTR, Some(arpa), vec![rec], Source::Hosts),
        );
    } else {
        start_lookup(&mut st, ctx, key, &arpa.to_ascii(), false);
    }
    put_and_defer(ctx, st);
    LookupId {
        rid,
        key,
        addr: false,
    }
}

pub(crate) fn lookup_addr<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    rid: ResolverId,
    host: &str,
    cb: Callback<T>,
) -> LookupId {
    let Some(mut st) = take(ctx, rid) else {
        return dead_id(rid, true);
    };
    let pk = st.addrs.insert(AddrLookup {
        cb: Some(cb),
        v4: None,
        v6: None,
    });
    let id = LookupId {
        rid,
        key: pk,
        addr: true,
    };
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let from_hosts: Vec<IpAddr> = st
        .cfg
        .hosts
        .as_ref()
        .map(|h| h.lookup(host).to_vec())
        .unwrap_or_default();
    let direct = if st.shut {
        Some(LookupResult::status_only(Status::Shutdown, RecordType::A))
    } else if let Some(ip) = literal {
        Some(address_answer(&[ip], None, Source::Literal))
    } else if !from_hosts.is_empty() {
        let name = search::parse_name(host).ok().map(|mut n| {
            n.set_fqdn(true);
            n
        });
        let mut r = address_answer(&from_hosts, name, Source::Hosts);
        let reach = *st.reach.get_or_insert_with(Reach::probe);
        sort::sort(&mut r.addrs, reach);
        Some(r)
    } else {
        None
    };
    if let Some(res) = direct {
        if let Some(a) = st.addrs.remove(pk) {
            if let Some(cb) = a.cb {
                st.completed.push_back((id, cb, res));
            }
        }
    } else {
        for v6 in [false, true] {
            let qtype = if v6 { RecordType::AAAA } else { RecordType::A };
            let key = st.lookups.insert(Lookup::new(Owner::Addr(pk, v6), qtype));
            start_names(&mut st, ctx, key, host, true);
        }
    }
    put_and_defer(ctx, st);
    id
}

pub(crate) fn cancel<T: 'static>(ctx: &mut Ctx<'_, T>, id: LookupId) -> bool {
    let Some(mut st) = take(ctx, id.rid) else {
        return false;
    };
    let mut found = false;
    if id.addr {
        if st.addrs.remove(id.key).is_some() {
            found = true;
            for k in st.lookups.keys() {
                let child = matches!(st.lookups.get(k).map(|l| &l.owner), Some(Owner::Addr(p, _)) if *p == id.key);
                if child {
                    drop_lookup(&mut st, ctx, k);
                }
            }
        }
    } else if matches!(
        st.lookups.get(id.key).map(|l| &l.owner),
        Some(Owner::Callback(_))
    ) {
        found = true;
        drop_lookup(&mut st, ctx, id.key);
    }
    let before = st.completed.len();
    st.completed.retain(|(lid, _, _)| *lid != id);
    found |= st.completed.len() != before;
    start_queued(&mut st, ctx);
    put(ctx, st);
    found
}

pub(crate) fn shutdown<T: 'static>(ctx: &mut Ctx<'_, T>, rid: ResolverId) {
    let Some(mut st) = take(ctx, rid) else { return };
    st.shut = true;
    for tk in st.txns.keys() {
        if let Some(mut txn) = st.txns.remove(tk) {
            release(&mut st, ctx, &mut txn);
        }
    }
    st.queue.clear();
    st.shared.clear();
    st.inflight = 0;
    for k in st.lookups.keys() {
        if let Some(l) = st.lookups.get_mut(k) {
            l.txn = None;
            let qtype = l.qtype;
            finish(
                &mut st,
                k,
                LookupResult::status_only(Status::Shutdown, qtype),
            );
        }
    }
    for sk in st.socks.keys() {
        close_sock(&mut st, ctx, sk);
    }
    st.current.iter_mut().for_each(|c| *c = None);
    st.deadlines.clear();
    st.outq.clear();
    st.armed = None;
    st.paused = false;
    let _ = ctx.stop(st.timer);
    let _ = ctx.stop(st.coalesce);
    let _ = ctx.stop(st.flush);
    put_and_defer(ctx, st);
}
