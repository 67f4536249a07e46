//! The stub resolver: queries on the loop, retries, failover, cache.
//!
//! A resolver lives inside the loop (in an extension slot, as
//! evloop-buffer's streams do): [`ResolverExt::new_resolver`] makes one from
//! a [`Config`], [`ResolverExt::resolver`] lends a [`Resolver`] view to
//! start lookups, cancel them or shut the resolver down. Callbacks are
//! `FnOnce(&mut Ctx<'_, T>, &mut T, LookupResult)`: they run from the loop,
//! never from inside the call that started the lookup (a cache hit, a hosts
//! entry or an IP literal is answered on the loop's next iteration).
//!
//! ```
//! use evloop::{Loop, RunMode};
//! use evloop_dns::config::Config;
//! use evloop_dns::resolver::{ResolverExt, Status};
//! use hickory_proto::rr::RecordType;
//!
//! let mut lp: Loop<Vec<String>> = Loop::new().unwrap();
//! let mut ctx = lp.ctx();
//! // no nameserver needed: IP literals are answered directly
//! let r = ctx.new_resolver(Config::default()).unwrap();
//! ctx.resolver(r).unwrap().lookup("192.0.2.7", RecordType::A, |_ctx, out: &mut Vec<String>, res| {
//!     assert_eq!(res.status, Status::NoError);
//!     out.push(res.addrs[0].to_string());
//! });
//! let mut out = Vec::new();
//! lp.run(&mut out, RunMode::Default).unwrap();
//! assert_eq!(out, ["192.0.2.7"]);
//! ```
//!
//! Against a real server (here the crate's own [server side](crate::server)
//! on the same loop), with the cache at work:
//!
//! ```
//! use std::net::Ipv4Addr;
//! use evloop::{Loop, RunMode};
//! use evloop_dns::config::Config;
//! use evloop_dns::resolver::{ResolverExt, Source, Status};
//! use evloop_dns::server::{ServerExt, ServerOptions};
//! use hickory_proto::rr::{rdata::A, RData, Record, RecordType};
//!
//! let mut lp: Loop<Vec<Source>> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! // every A query gets 192.0.2.1, TTL 300
//! let sid = ctx.serve_dns("127.0.0.1:0".parse()?, &ServerOptions::new(), |_, _, req| {
//!     let a = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
//!     req.answer([Record::from_rdata(req.name().clone(), 300, a)])
//! })?;
//! let addr = ctx.dns_server(sid)?.local_addr();
//! let rid = ctx.new_resolver(Config::default().with_nameserver(addr))?;
//! ctx.resolver(rid)?.lookup("www.example", RecordType::A, move |ctx, out: &mut Vec<Source>, res| {
//!     assert_eq!(res.status, Status::NoError);
//!     assert_eq!(res.ttl, Some(300));
//!     out.push(res.source);
//!     // asked again: answered from the cache, no packet sent
//!     let mut r = ctx.resolver(rid).unwrap();
//!     r.lookup("WWW.example", RecordType::A, move |ctx, out: &mut Vec<Source>, res| {
//!         out.push(res.source);
//!         let stats = ctx.resolver(rid).unwrap().stats();
//!         assert_eq!((stats.sent, stats.cache_hits), (1, 1));
//!         ctx.dns_server(sid).unwrap().close();
//!     });
//! });
//! let mut out = Vec::new();
//! lp.run(&mut out, RunMode::Default)?;
//! assert_eq!(out, [Source::Network, Source::Cache]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Behaviour (c-ares' defaults, stricter where it matters)
//!
//! * **Transport**: UDP from a fresh socket (random source port) every
//!   [`Config::udp_max_queries`] queries, connected to the server; query
//!   ids random and never two alike in flight. Queries started during one
//!   loop iteration leave together just before the loop polls (one
//!   segmented send per socket with UDP GSO where the kernel has it, else
//!   `sendmmsg`), and replies are read in batches (`recvmmsg`). Under load
//!   (at least [`COALESCE_MIN_INFLIGHT`](crate::config::COALESCE_MIN_INFLIGHT)
//!   queries in flight) replies are read every
//!   [`Config::reply_coalescing`] period rather than as each arrives, so a
//!   busy resolver pays one wake-up, read and send per period instead of
//!   per reply. A reply with TC set is asked
//!   again over TCP (RFC 7766 framing). EDNS0 with a 1232-byte payload by
//!   default; a FORMERR without OPT makes the query go again without EDNS.
//! * **Checks**: a reply counts only if it comes from the server's address
//!   and port, carries the query's id and echoes the question (name, type,
//!   class; the exact case when 0x20 is on, over UDP). Anything else is
//!   dropped and the query keeps waiting; a malformed reply does not end it
//!   either (it ends as `Error` only if nothing better came before the
//!   time ran out). A case-only mismatch under 0x20 is taken as a spoof:
//!   the query goes again over TCP.
//! * **Servers**: each transmission waits [`Config::timeout`]; servers are
//!   tried in order (or rotated), [`Config::attempts`] rounds over all of
//!   them, so the total is bounded by timeout × attempts × servers.
//!   SERVFAIL, REFUSED, NOTIMP or FORMERR from a server moves on to the
//!   next; when every server gave such an rcode, the lookup ends with it.
//!   A server that timed out goes after the healthy ones and is tried
//!   again (a real query as the probe) after
//!   [`Config::server_retry_delay`].
//! * **Search**: as resolv.conf(5), see [`Config::search`]; a name ending
//!   in a dot is not searched. NXDOMAIN, NODATA or SERVFAIL on a candidate
//!   moves to the next; when all fail, NODATA wins over SERVFAIL over
//!   NXDOMAIN (glibc's order).
//! * **CNAMEs**: chains are followed inside an answer (at most 16 links,
//!   a loop is an `Error`); a chain ending at a name the answer does not
//!   resolve (and no SOA saying it has no data) is chased with a new query
//!   for the target, at most 8 times.
//! * **Cache**: per (name, type): positive answers for their smallest TTL,
//!   NXDOMAIN and NODATA for min(SOA TTL, SOA minimum) (RFC 2308; without
//!   an SOA they are not cached), capped at [`Config::cache_max_ttl`] and
//!   [`Config::cache_size`] entries. Identical lookups in flight at the
//!   same time share one query, cache on or off.
//! * **Cancel and shutdown**: [`Resolver::cancel`] drops a lookup (its
//!   callback never runs; a late reply is dropped);
//!   [`Resolver::shutdown`] ends every pending lookup with
//!   [`Status::Shutdown`] (each callback runs exactly once) and makes later
//!   lookups end so too.

mod batch;
mod cache;
mod engine;
mod result;
mod rng;
mod search;
mod slab;
mod sort;
pub(crate) mod wire;

use std::io;
use std::net::IpAddr;

use evloop::{Ctx, LoopId};
use hickory_proto::rr::{Name, RecordType};

use crate::config::Config;

pub use result::{LookupResult, Source, Status};

/// Names a resolver of a loop: a small `Copy` handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResolverId {
    idx: u32,
    gen: u32,
    lp: LoopId,
}

/// Names a lookup, for [`Resolver::cancel`]. It goes stale once the
/// lookup's callback has run (or was cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LookupId {
    rid: ResolverId,
    key: slab::Key,
    addr: bool,
}

/// Counters of a resolver, for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Queries transmitted (UDP datagrams and TCP queries).
    pub sent: u64,
    /// Of them over TCP.
    pub sent_tcp: u64,
    /// Replies accepted (they passed every check).
    pub accepted: u64,
    /// Datagrams or frames dropped: wrong id, source, question, or
    /// malformed.
    pub dropped: u64,
    /// Lookups (or search candidates) answered from the cache.
    pub cache_hits: u64,
    /// Entries in the cache now.
    pub cache_entries: usize,
    /// Queries on the wire now.
    pub inflight: usize,
    /// Queries waiting for room under [`Config::max_inflight`].
    pub queued: usize,
    /// Lookups not finished yet.
    pub pending: usize,
}

/// The callback of a lookup.
pub type Callback<T> = Box<dyn FnOnce(&mut Ctx<'_, T>, &mut T, LookupResult)>;

/// Resolver calls on evloop's [`Ctx`] (outside callbacks, `Loop::ctx()`
/// gives one). `T` is the loop's application state.
pub trait ResolverExt<T: 'static> {
    /// Makes a resolver with `config`. Only a query in flight keeps the
    /// loop running (its timeout timer); an idle resolver does not.
    ///
    /// # Errors
    ///
    /// If the loop refuses its timers.
    fn new_resolver(&mut self, config: Config) -> io::Result<ResolverId>;

    /// Lends the resolver `id`.
    ///
    /// # Errors
    ///
    /// [`evloop::Error::StaleHandle`] for a handle this loop does not
    /// know, [`evloop::Error::ForeignHandle`] for another loop's.
    fn resolver(&mut self, id: ResolverId) -> Result<Resolver<'_, T>, evloop::Error>;
}

impl<T: 'static> ResolverExt<T> for Ctx<'_, T> {
    fn new_resolver(&mut self, config: Config) -> io::Result<ResolverId> {
        engine::create(self, config)
    }

    fn resolver(&mut self, id: ResolverId) -> Result<Resolver<'_, T>, evloop::Error> {
        if id.lp != self.loop_id() {
            return Err(evloop::Error::ForeignHandle);
        }
        if !engine::exists::<T>(self, id) {
            return Err(evloop::Error::StaleHandle);
        }
        Ok(Resolver {
            ctx: self.reborrow(),
            id,
        })
    }
}

/// A resolver, borrowed from the loop for a few calls.
pub struct Resolver<'a, T: 'static> {
    ctx: Ctx<'a, T>,
    id: ResolverId,
}

impl<T: 'static> Resolver<'_, T> {
    /// This resolver's handle.
    pub fn id(&self) -> ResolverId {
        self.id
    }

    /// Looks up records of `rtype` for `name` (search list applied, see
    /// the [module docs](self)). An A or AAAA lookup of an IP literal is
    /// answered directly, and of a name in the hosts file from there.
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    /// use evloop_dns::config::{Config, Hosts};
    /// use evloop_dns::resolver::{ResolverExt, Source};
    /// use hickory_proto::rr::RecordType;
    ///
    /// let mut lp: Loop<Option<Source>> = Loop::new().unwrap();
    /// let mut ctx = lp.ctx();
    /// let cfg = Config::default().with_hosts(Hosts::parse("10.9.8.7 printer.lan"));
    /// let r = ctx.new_resolver(cfg).unwrap();
    /// ctx.resolver(r).unwrap().lookup("printer.lan", RecordType::A, |_, out, res| {
    ///     assert_eq!(res.addrs[0].to_string(), "10.9.8.7");
    ///     *out = Some(res.source);
    /// });
    /// let mut out = None;
    /// lp.run(&mut out, RunMode::Default).unwrap();
    /// assert_eq!(out, Some(Source::Hosts));
    /// ```
    pub fn lookup<F>(&mut self, name: &str, rtype: RecordType, cb: F) -> LookupId
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, LookupResult) + 'static,
    {
        engine::lookup(&mut self.ctx, self.id, name, rtype, Box::new(cb), true)
    }

    /// Like [`lookup`](Self::lookup), but `name` is taken as fully
    /// qualified: no search list, no hosts file.
    pub fn lookup_exact<F>(&mut self, name: &Name, rtype: RecordType, cb: F) -> LookupId
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, LookupResult) + 'static,
    {
        let mut n = name.clone();
        n.set_fqdn(true);
        engine::lookup(
            &mut self.ctx,
            self.id,
            &n.to_ascii(),
            rtype,
            Box::new(cb),
            false,
        )
    }

    /// A reverse lookup: PTR records of `ip`'s `in-addr.arpa` /
    /// `ip6.arpa` name (the hosts file first).
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    /// use evloop_dns::config::{Config, Hosts};
    /// use evloop_dns::resolver::ResolverExt;
    ///
    /// let mut lp: Loop<String> = Loop::new().unwrap();
    /// let mut ctx = lp.ctx();
    /// let r = ctx.new_resolver(Config::default().with_hosts(Hosts::parse("10.0.0.5 db.lan"))).unwrap();
    /// ctx.resolver(r).unwrap().reverse("10.0.0.5".parse().unwrap(), |_, out, res| {
    ///     *out = res.records[0].data().to_string();
    /// });
    /// let mut out = String::new();
    /// lp.run(&mut out, RunMode::Default).unwrap();
    /// assert_eq!(out, "db.lan.");
    /// ```
    pub fn reverse<F>(&mut self, ip: IpAddr, cb: F) -> LookupId
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, LookupResult) + 'static,
    {
        engine::reverse(&mut self.ctx, self.id, ip, Box::new(cb))
    }

    /// A getaddrinfo-like lookup: an IP literal directly, else the hosts
    /// file, else A and AAAA asked in parallel. The result lists the
    /// addresses of both families in [`LookupResult::addrs`], sorted by a
    /// subset of RFC 6724 (reachable families first, then loopback and
    /// link-local, then the default policy table's precedence, IPv6
    /// before IPv4 for global addresses when the host has an IPv6 route);
    /// its status is NOERROR if either family found addresses (a partial
    /// result: [`LookupResult::families`] says how each ended).
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    /// use evloop_dns::config::{Config, Hosts};
    /// use evloop_dns::resolver::ResolverExt;
    ///
    /// let mut lp: Loop<usize> = Loop::new().unwrap();
    /// let mut ctx = lp.ctx();
    /// let hosts = Hosts::parse("127.0.0.1 me\n::1 me\n");
    /// let r = ctx.new_resolver(Config::default().with_hosts(hosts)).unwrap();
    /// ctx.resolver(r).unwrap().lookup_addr("me", |_, n, res| *n = res.addrs.len());
    /// let mut n = 0;
    /// lp.run(&mut n, RunMode::Default).unwrap();
    /// assert_eq!(n, 2);
    /// ```
    pub fn lookup_addr<F>(&mut self, host: &str, cb: F) -> LookupId
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, LookupResult) + 'static,
    {
        engine::lookup_addr(&mut self.ctx, self.id, host, Box::new(cb))
    }

    /// Cancels a lookup: its callback will not run, a reply arriving later
    /// is dropped. Returns false if it had already ended (or the handle is
    /// another resolver's).
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    /// use evloop_dns::config::Config;
    /// use evloop_dns::resolver::ResolverExt;
    /// use hickory_proto::rr::RecordType;
    ///
    /// let mut lp: Loop<u32> = Loop::new().unwrap();
    /// let mut ctx = lp.ctx();
    /// let r = ctx.new_resolver(Config::default()).unwrap();
    /// let mut res = ctx.resolver(r).unwrap();
    /// let id = res.lookup("192.0.2.1", RecordType::A, |_, calls: &mut u32, _| *calls += 1);
    /// assert!(res.cancel(id));
    /// assert!(!res.cancel(id));
    /// let mut calls = 0;
    /// lp.run(&mut calls, RunMode::Default).unwrap();
    /// assert_eq!(calls, 0);
    /// ```
    pub fn cancel(&mut self, id: LookupId) -> bool {
        id.rid == self.id && engine::cancel(&mut self.ctx, id)
    }

    /// Shuts the resolver down: every pending lookup ends with
    /// [`Status::Shutdown`] (callbacks run once each, from the loop),
    /// sockets are closed, and later lookups end with `Shutdown` too.
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    /// use evloop_dns::config::Config;
    /// use evloop_dns::resolver::{ResolverExt, Status};
    /// use hickory_proto::rr::RecordType;
    ///
    /// let mut lp: Loop<Vec<Status>> = Loop::new().unwrap();
    /// let mut ctx = lp.ctx();
    /// // a server that never answers (nothing listens on the discard port)
    /// let cfg = Config::default().with_nameserver("127.0.0.1:9".parse().unwrap());
    /// let r = ctx.new_resolver(cfg).unwrap();
    /// let mut res = ctx.resolver(r).unwrap();
    /// res.lookup("example.com", RecordType::A, |_, out: &mut Vec<Status>, r| out.push(r.status));
    /// res.shutdown();
    /// let mut out = Vec::new();
    /// lp.run(&mut out, RunMode::Default).unwrap();
    /// assert_eq!(out, [Status::Shutdown]);
    /// ```
    pub fn shutdown(&mut self) {
        engine::shutdown(&mut self.ctx, self.id);
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&mut self) -> bool {
        engine::with_state::<T, _>(&mut self.ctx, self.id, |st| st.shut).unwrap_or(true)
    }

    /// Empties the cache.
    pub fn clear_cache(&mut self) {
        engine::with_state::<T, _>(&mut self.ctx, self.id, |st| st.cache.clear());
    }

    /// The counters.
    pub fn stats(&mut self) -> Stats {
        engine::with_state::<T, _>(&mut self.ctx, self.id, engine::stats).unwrap_or_default()
    }

    /// The configuration it runs with.
    pub fn config(&mut self) -> Config {
        engine::with_state::<T, _>(&mut self.ctx, self.id, |st| st.cfg.clone()).unwrap_or_default()
    }
}
