//! The resolver's state machine. The state of each resolver is boxed in
//! the loop's extension slot and taken out while an entry point works on
//! it (so sockets, streams and timers can be reached through the `Ctx` at
//! the same time), then put back before any user callback runs: finished
//! lookups queue their callbacks in `completed`, run once the state is in
//! place again (so a callback may start, cancel or shut down lookups).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::{Ctx, Events, IoId, PrepareId, TimerId};
use evloop_buffer::{StreamEvent, StreamExt, StreamId};
use hickory_proto::rr::{rdata, Name, RData, Record, RecordType};

use super::batch::{RecvBatch, SendBatch, SLOTS};
use super::cache::Cache;
use super::result::{LookupResult, Source, Status};
use super::rng::Rng;
use super::search;
use super::slab::{Key, Slab};
use super::sort::{self, Reach};
use super::wire::{self, Match, Outcome};
use super::{Callback, LookupId, ResolverId, Stats};
use crate::config::Config;

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
    while let Some((_, cb, res)) = with_state(ctx, rid, |st| st.completed.pop_front()).flatten() {
        cb(ctx, data, res);
    }
}

/// For entry points without `&mut T`: callbacks run from the loop.
fn put_and_defer<T: 'static>(ctx: &mut Ctx<'_, T>, mut st: Box<State<T>>) {
    // Enough queries queued to fill a batch: send them now rather than
    // at the end of the iteration (the server works on them meanwhile).
    if st.outq.len() >= SLOTS {
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

pub(crate) fn lookup<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    rid: ResolverId,
    name: &str,
    qtype: RecordType,
    cb: Callback<T>,
    search: bool,
) -> LookupId {
    let Some(mut st) = take(ctx, rid) else {
        return LookupId {
            rid,
            key: Key {
                idx: u32::MAX,
                gen: 0,
            },
            addr: false,
        };
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
        return LookupId {
            rid,
            key: Key {
                idx: u32::MAX,
                gen: 0,
            },
            addr: false,
        };
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
        return LookupId {
            rid,
            key: Key {
                idx: u32::MAX,
                gen: 0,
            },
            addr: true,
        };
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
    let _ = ctx.stop(st.timer);
    let _ = ctx.stop(st.flush);
    put_and_defer(ctx, st);
}

// ------------------------------------------------------------ lookups

impl<T> Lookup<T> {
    fn new(owner: Owner<T>, qtype: RecordType) -> Self {
        Lookup {
            owner,
            qtype,
            single: None,
            candidates: Vec::new(),
            next: 0,
            asked: None,
            current: None,
            chase: None,
            chases: 0,
            canonical: None,
            saw_nodata: false,
            saw_servfail: false,
            negative_ttl: None,
            txn: None,
        }
    }
}

fn answer(
    qtype: RecordType,
    name: Option<Name>,
    records: Vec<Record>,
    source: Source,
) -> LookupResult {
    let mut r = LookupResult::status_only(Status::NoError, qtype);
    r.name = name;
    r.records = records;
    r.source = source;
    r.fill_addrs();
    r
}

fn address_record(name: &Name, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(a) => RData::A(rdata::A(a)),
        IpAddr::V6(a) => RData::AAAA(rdata::AAAA(a)),
    };
    Record::from_rdata(name.clone(), 0, data)
}

fn address_answer(ips: &[IpAddr], name: Option<Name>, source: Source) -> LookupResult {
    let owner = name.clone().unwrap_or_else(Name::root);
    let records = ips.iter().map(|&ip| address_record(&owner, ip)).collect();
    answer(RecordType::A, name, records, source)
}

/// Answers from a literal or the hosts file, or starts the DNS part.
fn start_lookup<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    key: Key,
    input: &str,
    search: bool,
) {
    let qtype = match st.lookups.get(key) {
        Some(l) => l.qtype,
        None => return,
    };
    if st.shut {
        finish(st, key, LookupResult::status_only(Status::Shutdown, qtype));
        return;
    }
    if search && matches!(qtype, RecordType::A | RecordType::AAAA) {
        let want_v6 = qtype == RecordType::AAAA;
        if let Ok(ip) = input.parse::<IpAddr>() {
            let res = if ip.is_ipv6() == want_v6 {
                let mut r = address_answer(&[ip], None, Source::Literal);
                r.record_type = qtype;
                r
            } else {
                let mut r = LookupResult::status_only(Status::NoData, qtype);
                r.source = Source::Literal;
                r
            };
            finish(st, key, res);
            return;
        }
        let found: Vec<IpAddr> = st
            .cfg
            .hosts
            .as_ref()
            .map(|h| {
                h.lookup(input)
                    .iter()
                    .copied()
                    .filter(|ip| ip.is_ipv6() == want_v6)
                    .collect()
            })
            .unwrap_or_default();
        if !found.is_empty() {
            let name = search::parse_name(input).ok().map(|mut n| {
                n.set_fqdn(true);
                n
            });
            let mut r = address_answer(&found, name, Source::Hosts);
            r.record_type = qtype;
            finish(st, key, r);
            return;
        }
    }
    start_names(st, ctx, key, input, search);
}

/// Computes the search candidates and asks the first.
fn start_names<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    key: Key,
    input: &str,
    search: bool,
) {
    let Some(qtype) = st.lookups.get(key).map(|l| l.qtype) else {
        return;
    };
    // (single name, search candidates)
    let names = if search && !st.cfg.search.is_empty() && !input.ends_with('.') {
        search::candidates(input, &st.cfg).map(|c| (None, c))
    } else {
        search::parse_name(input).map(|mut n| {
            n.set_fqdn(true);
            (Some(n), Vec::new())
        })
    };
    match names {
        Err(reason) => finish(
            st,
            key,
            LookupResult::status_only(Status::Error(reason), qtype),
        ),
        Ok(_) if st.servers.is_empty() => finish(
            st,
            key,
            LookupResult::status_only(Status::Error("no nameserver configured".into()), qtype),
        ),
        Ok((single, candidates)) => {
            if let Some(l) = st.lookups.get_mut(key) {
                l.single = single;
                l.candidates = candidates;
            }
            advance(st, ctx, key);
        }
    }
}

/// Asks the lookup's next name: a CNAME target, else the next search
/// candidate; from the cache, by joining an identical query in flight, or
/// with a new query.
fn advance<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, key: Key) {
    loop {
        let Some(l) = st.lookups.get_mut(key) else {
            return;
        };
        let name = if let Some(t) = l.chase.take() {
            t
        } else if let Some(n) = l.single.take() {
            n
        } else if l.next < l.candidates.len() {
            l.next += 1;
            l.canonical = None;
            l.candidates[l.next - 1].clone()
        } else {
            let status = if l.saw_nodata {
                Status::NoData
            } else if l.saw_servfail {
                Status::ServFail
            } else {
                Status::NxDomain
            };
            let mut r = LookupResult::status_only(status, l.qtype);
            r.ttl = l.negative_ttl;
            r.canonical = l.canonical.clone();
            finish(st, key, r);
            return;
        };
        let qtype = l.qtype;
        if st.cfg.cache {
            let now = ctx.now();
            if let Some((outcome, left)) = st.cache.get(&name, qtype, now) {
                st.stats.cache_hits += 1;
                l.current = Some(name);
                if apply(st, key, TxnEnd::Answer(outcome), Some(left), Source::Cache) {
                    continue;
                }
                return;
            }
        }
        // The query's bytes are written first: their question section is
        // what identical lookups share on (hashed and compared as bytes).
        let mut wire = st.spare_wire.pop().unwrap_or_default();
        let case = st.cfg.case_randomization.then_some(&mut st.rng);
        let qend = wire::encode_query(&mut wire, 0, &name, qtype, st.cfg.edns, case);
        let question = &wire[wire::HEADER_LEN..qend];
        let hash = question_hash(question);
        if let Some(&tk) = st.shared.get(&hash) {
            if let Some(txn) = st
                .txns
                .get_mut(tk)
                .filter(|t| t.wire[wire::HEADER_LEN..t.qend].eq_ignore_ascii_case(question))
            {
                st.spare_wire.push(wire);
                txn.more_waiters.push(key);
                l.txn = Some(tk);
                l.current = Some(name);
                return;
            }
        }
        let tk = new_txn(st, name.clone(), qtype, key, (wire, qend, hash));
        st.shared.entry(hash).or_insert(tk);
        if let Some(l) = st.lookups.get_mut(key) {
            l.txn = Some(tk);
            l.current = Some(name);
        }
        if st.inflight < st.cfg.max_inflight {
            begin(st, ctx, tk);
        } else {
            st.queue.push_back(tk);
        }
        return;
    }
}

/// Hands a query's end to one of its lookups. True: the lookup goes on
/// (next candidate or a CNAME target); false: it finished.
fn apply<T: 'static>(
    st: &mut State<T>,
    key: Key,
    end: TxnEnd,
    left: Option<u32>,
    source: Source,
) -> bool {
    let Some(l) = st.lookups.get_mut(key) else {
        return false;
    };
    l.txn = None;
    let chasing = l.chases > 0;
    let qtype = l.qtype;
    let outcome = match end {
        TxnEnd::Fail(Status::ServFail) if !chasing => {
            l.saw_servfail = true;
            return true;
        }
        TxnEnd::Fail(s) => {
            finish(st, key, LookupResult::status_only(s.clone(), qtype));
            return false;
        }
        TxnEnd::Owned(Outcome::Records {
            records,
            canonical,
            ttl,
            aliased,
        }) => return apply_records(st, key, (records, canonical, ttl, aliased), left, source),
        TxnEnd::Owned(other) => Rc::new(other),
        TxnEnd::Answer(o) => o,
    };
    // The last holder of an answer (no cache, one lookup) takes its
    // records instead of copying them.
    let outcome = match Rc::try_unwrap(outcome) {
        Ok(Outcome::Records {
            records,
            canonical,
            ttl,
            aliased,
        }) => Err((records, canonical, ttl, aliased)),
        Ok(other) => Ok(Rc::new(other)),
        Err(rc) => Ok(rc),
    };
    let outcome = match outcome {
        Err(owned) => return apply_records(st, key, owned, left, source),
        Ok(rc) => rc,
    };
    match &*outcome {
        Outcome::Records {
            records,
            canonical,
            ttl,
            aliased,
        } => apply_records(
            st,
            key,
            (records.clone(), canonical.clone(), *ttl, *aliased),
            left,
            source,
        ),
        Outcome::NoData {
            negative_ttl,
            canonical,
        }
        | Outcome::NxDomain {
            negative_ttl,
            canonical,
        } => {
            let nx = matches!(&*outcome, Outcome::NxDomain { .. });
            if l.chases > 0
                || !l
                    .current
                    .as_ref()
                    .is_some_and(|c| wire::same_name(c, canonical))
            {
                l.canonical = Some(canonical.clone());
            }
            l.negative_ttl = negative_ttl.map(|t| left.map_or(t, |left| left.min(t)));
            if !nx {
                l.saw_nodata = true;
            }
            if chasing {
                let status = if nx { Status::NxDomain } else { Status::NoData };
                let mut r = LookupResult::status_only(status, qtype);
                r.ttl = l.negative_ttl;
                r.canonical = l.canonical.clone();
                finish(st, key, r);
                return false;
            }
            true
        }
        Outcome::Dangling { target, .. } => {
            if l.chases >= MAX_CHASES {
                let reason = format!("CNAME chain longer than {MAX_CHASES} queries");
                finish(
                    st,
                    key,
                    LookupResult::status_only(Status::Error(reason), qtype),
                );
                return false;
            }
            l.chases += 1;
            if l.asked.is_none() {
                l.asked = l.current.clone();
            }
            l.chase = Some(target.clone());
            l.canonical = Some(target.clone());
            true
        }
        Outcome::Error(reason) => {
            finish(
                st,
                key,
                LookupResult::status_only(Status::Error(reason.clone()), qtype),
            );
            false
        }
    }
}

fn apply_records<T: 'static>(
    st: &mut State<T>,
    key: Key,
    (mut records, canonical, ttl, aliased): (Vec<Record>, Name, u32, bool),
    left: Option<u32>,
    source: Source,
) -> bool {
    let Some(l) = st.lookups.get_mut(key) else {
        return false;
    };
    let ttl = left.map_or(ttl, |left| left.min(ttl));
    if source == Source::Cache {
        for r in &mut records {
            let t = r.ttl().min(ttl);
            r.set_ttl(t);
        }
    }
    let renamed = l.chases > 0 || aliased;
    let qtype = l.qtype;
    let mut r = answer(qtype, l.current.take(), records, source);
    r.ttl = Some(ttl);
    r.canonical = renamed.then_some(canonical);
    if l.chases > 0 {
        r.name = l.asked.take();
    }
    finish(st, key, r);
    false
}

/// Ends a lookup: queues its callback, or completes its address lookup.
fn finish<T: 'static>(st: &mut State<T>, key: Key, mut res: LookupResult) {
    let Some(l) = st.lookups.remove(key) else {
        return;
    };
    if res.name.is_none() {
        res.name = l.asked.or(l.current);
    }
    match l.owner {
        Owner::Callback(cb) => {
            let id = LookupId {
                rid: st.rid,
                key,
                addr: false,
            };
            st.completed.push_back((id, cb, res));
        }
        Owner::Addr(pk, v6) => {
            let Some(a) = st.addrs.get_mut(pk) else {
                return;
            };
            if v6 {
                a.v6 = Some(res);
            } else {
                a.v4 = Some(res);
            }
            if a.v4.is_some() && a.v6.is_some() {
                let Some(a) = st.addrs.remove(pk) else { return };
                let reach = *st.reach.get_or_insert_with(Reach::probe);
                let (Some(v4), Some(v6), Some(cb)) = (a.v4, a.v6, a.cb) else {
                    return;
                };
                let id = LookupId {
                    rid: st.rid,
                    key: pk,
                    addr: true,
                };
                st.completed.push_back((id, cb, combine(v4, v6, reach)));
            }
        }
    }
}

fn combine(v4: LookupResult, v6: LookupResult, reach: Reach) -> LookupResult {
    let status = if v4.status.is_ok() || v6.status.is_ok() {
        Status::NoError
    } else if v4.status == Status::NoData || v6.status == Status::NoData {
        Status::NoData
    } else {
        v4.status.clone()
    };
    let ttl = [&v4, &v6]
        .iter()
        .filter(|r| r.status.is_ok())
        .filter_map(|r| r.ttl)
        .min()
        .or(if status.is_ok() {
            None
        } else {
            v4.ttl.or(v6.ttl)
        });
    let source = if v4.status.is_ok() {
        v4.source
    } else {
        v6.source
    };
    let mut addrs: Vec<IpAddr> = v4.addrs.iter().chain(&v6.addrs).copied().collect();
    sort::sort(&mut addrs, reach);
    LookupResult {
        status,
        record_type: RecordType::A,
        name: v4.name.clone().or(v6.name.clone()),
        canonical: v4.canonical.clone().or(v6.canonical.clone()),
        ttl,
        records: v4.records.iter().chain(&v6.records).cloned().collect(),
        addrs,
        source,
        families: Some((v4.status, v6.status)),
    }
}

/// Removes a lookup without a callback (cancel); its query goes on only if
/// another lookup shares it.
fn drop_lookup<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, key: Key) {
    let Some(l) = st.lookups.remove(key) else {
        return;
    };
    let Some(tk) = l.txn else { return };
    let Some(txn) = st.txns.get_mut(tk) else {
        return;
    };
    if txn.waiter == Some(key) {
        txn.waiter = txn.more_waiters.pop();
    } else {
        txn.more_waiters.retain(|&w| w != key);
    }
    if txn.waiter.is_none() {
        if let Some(mut txn) = st.txns.remove(tk) {
            if txn.started {
                st.inflight -= 1;
            }
            release(st, ctx, &mut txn);
        }
        idle_check(st, ctx);
    }
}

// ------------------------------------------------------------ queries

/// FNV-1a over the question section (name lower-cased, type, class):
/// computed once per query, and the map then uses the u64 as is (a
/// collision only costs a query not shared: the bytes are compared too).
fn question_hash(question: &[u8]) -> u64 {
    question.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Passes an already computed hash through.
#[derive(Default)]
struct IdHasher(u64);

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
fn new_txn<T>(
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
fn server_order<T>(st: &mut State<T>, start: usize) -> Vec<u16> {
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

fn begin<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, tk: Key) {
    if let Some(txn) = st.txns.get_mut(tk) {
        txn.started = true;
        st.inflight += 1;
        send_next(st, ctx, tk);
    }
}

fn start_queued<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>) {
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
fn send_next<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, tk: Key) {
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
fn transmit<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, tk: Key) -> io::Result<()> {
    let Some(mut txn) = st.txns.remove_in_place(tk) else {
        return Ok(());
    };
    detach(st, ctx, &mut txn);
    let addr = st.servers[txn.server].addr;
    let r = if txn.tcp {
        open_tcp(st.rid, ctx, tk, addr, &txn.wire).map(|sid| {
            txn.stream = Some(sid);
            st.stats.sent += 1;
            st.stats.sent_tcp += 1;
        })
    } else {
        udp_socket(st, ctx, txn.server).map(|sk| {
            txn.sock = Some(sk);
            st.outq.push((sk, tk, txn.seq.wrapping_add(1)));
        })
    };
    if r.is_ok() {
        txn.seq = txn.seq.wrapping_add(1);
        let when = ctx.now() + st.cfg.timeout;
        st.deadlines.push_back((when, tk, txn.seq));
    } else {
        detach(st, ctx, &mut txn);
    }
    st.txns.restore(tk, txn);
    if r.is_ok() {
        arm(st, ctx);
    }
    r
}

/// Sends again to the same server without spending an attempt (after TC,
/// a 0x20 mismatch, or a FORMERR to EDNS).
fn resend_same<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, tk: Key) {
    if transmit(st, ctx, tk).is_err() {
        if let Some(s) = st.txns.get(tk).map(|t| t.server) {
            server_failed(st, s, ctx.now());
        }
        send_next(st, ctx, tk);
    }
}

fn server_failed<T>(st: &mut State<T>, s: usize, now: Instant) {
    let sv = &mut st.servers[s];
    sv.failures = sv.failures.saturating_add(1);
    sv.retry_at = now + st.cfg.server_retry_delay;
}

fn end_txn<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, tk: Key, end: TxnEnd) {
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
fn release<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, txn: &mut Txn) {
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

fn idle_check<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>) {
    if st.txns.len() == 0 {
        st.deadlines.clear();
        if st.armed.take().is_some() {
            let _ = ctx.stop(st.timer);
        }
    }
}

fn arm<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>) {
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

fn on_deadline<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: ResolverId) {
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

// ------------------------------------------------------------ UDP

fn udp_socket<T: 'static>(
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

fn close_sock<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, sk: Key) {
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
fn detach<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, txn: &mut Txn) {
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

fn on_udp<T: 'static>(
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

fn on_flush<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: ResolverId) {
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
fn flush<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>) {
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

fn txn_of_id<T>(st: &State<T>, bytes: &[u8]) -> Option<Key> {
    let id = wire::id_of(bytes)?;
    st.by_id.get(&id).and_then(|&idx| st.txns.key_at(idx))
}

fn udp_reply<T: 'static>(
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
fn sock_error<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, sk: Key, err: &io::Error) {
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

// ------------------------------------------------------------ replies

fn handle_reply<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    tk: Key,
    bytes: &[u8],
    tcp: bool,
) {
    let Some(txn) = st.txns.get_mut(tk) else {
        return;
    };
    if !tcp && wire::is_truncated(bytes) {
        txn.tcp = true;
        resend_same(st, ctx, tk);
        return;
    }
    let rcode = wire::rcode_of(bytes);
    if rcode == 1 && txn.edns.is_some() {
        let no_opt = wire::decode_full(bytes).map_or(true, |m| m.extensions().is_none());
        if no_opt {
            txn.edns = None;
            let case = st.cfg.case_randomization.then_some(&mut st.rng);
            txn.qend =
                wire::encode_query(&mut txn.wire, txn.txid, &txn.name, txn.qtype, None, case);
            resend_same(st, ctx, tk);
            return;
        }
    }
    let failure = match rcode {
        1 => Some(Status::FormErr),
        2 => Some(Status::ServFail),
        4 => Some(Status::NotImp),
        5 => Some(Status::Refused),
        _ => None,
    };
    if let Some(status) = failure {
        let s = txn.server;
        if s < 64 {
            txn.rcode_failed |= 1 << s;
        }
        txn.last_rcode = Some(status);
        st.servers[s].failures = 0;
        send_next(st, ctx, tk);
        return;
    }
    match wire::decode(bytes, txn.qend, &txn.name, txn.qtype) {
        Err(reason) => {
            // Never ends the query early: the real answer may follow.
            txn.malformed = Some(reason);
            st.stats.dropped += 1;
            st.stats.accepted -= 1;
        }
        Ok(reply) => {
            let s = txn.server;
            st.servers[s].failures = 0;
            let mut outcome = wire::resolve(reply, &txn.name, txn.qtype);
            if st.cfg.case_randomization {
                wire::unrandomize(&mut outcome, &txn.name);
            }
            let end = if st.cfg.cache && outcome.cache_ttl().is_some_and(|t| t > 0) {
                let outcome = Rc::new(outcome);
                let now = ctx.now();
                let name = txn.name.clone();
                let qtype = txn.qtype;
                st.cache.insert(&name, qtype, outcome.clone(), now);
                TxnEnd::Answer(outcome)
            } else {
                TxnEnd::Owned(outcome)
            };
            end_txn(st, ctx, tk, end);
        }
    }
}

// ------------------------------------------------------------ TCP

fn open_tcp<T: 'static>(
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

/// Cuts RFC 7766 frames (2-byte length, then the message) out of the
/// stream's input: a read may end anywhere, or hold several frames.
fn take_frames<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId) -> Vec<bytes::Bytes> {
    let mut frames = Vec::new();
    if let Ok(mut s) = ctx.stream(sid) {
        let input = s.input();
        loop {
            let mut len = [0u8; 2];
            if input.copy_out_at(0, &mut len) < 2 {
                break;
            }
            let n = usize::from(u16::from_be_bytes(len));
            if input.len() < 2 + n {
                break;
            }
            input.drain(2);
            frames.push(input.split_to(n));
        }
    }
    frames
}

fn on_tcp_read<T: 'static>(
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

fn on_tcp_event<T: 'static>(
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
