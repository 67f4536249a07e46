//! Happy-eyeballs connect by host name (RFC 8305).
//!
//! [`ConnectExt::connect_host`] asks the resolver for AAAA and A records at
//! once. If the AAAA answer comes first, connecting starts at once; if the
//! A answer comes first, it waits up to the *resolution delay* (50 ms) for
//! the AAAA one (the other way round when IPv4 is preferred). Addresses are tried with the families interleaved, the
//! preferred one (IPv6 unless told otherwise) first, a new attempt every
//! *connection attempt delay* (250 ms) while the earlier ones go on, or at
//! once when an attempt fails. The first TCP connect that succeeds wins;
//! the others are closed and the pending lookups cancelled. The result is
//! an evloop-buffer [`StreamId`], connected, or a [`ConnectError`] that
//! says what failed.
//!
//! [`ConnectExt::connect_addrs`] races over a list of addresses without a
//! resolver. Both return a [`ConnectId`] for
//! [`ConnectExt::cancel_connect`].
//!
//! ```
//! use std::net::TcpListener;
//! use evloop::{Loop, RunMode};
//! use evloop_dns::config::{Config, Hosts};
//! use evloop_dns::connect::{ConnectExt, ConnectOptions};
//! use evloop_dns::resolver::ResolverExt;
//!
//! let server = TcpListener::bind("127.0.0.1:0")?;
//! let port = server.local_addr()?.port();
//! let mut lp: Loop<Option<std::net::SocketAddr>> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let hosts = Hosts::parse("127.0.0.1 app.internal\n");
//! let r = ctx.new_resolver(Config::default().with_hosts(hosts))?;
//! ctx.connect_host(r, "app.internal", port, &ConnectOptions::new(), |ctx, out, res| {
//!     let conn = res.expect("connected");
//!     *out = Some(conn.addr);
//!     // The stream is ours now: write, set callbacks, or close it.
//!     use evloop_buffer::StreamExt;
//!     ctx.stream(conn.stream).unwrap().close();
//! });
//! let mut out = None;
//! lp.run(&mut out, RunMode::Default)?;
//! assert_eq!(out.map(|a| a.port()), Some(port));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use evloop::{Ctx, LoopId, Once};
use evloop_buffer::{StreamEvent, StreamExt, StreamId};
use hickory_proto::rr::RecordType;

use crate::resolver::{LookupId, LookupResult, ResolverExt, ResolverId, Status};

/// RFC 8305's recommended resolution delay.
pub const RESOLUTION_DELAY: Duration = Duration::from_millis(50);
/// RFC 8305's recommended connection attempt delay.
pub const CONNECTION_ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// How a happy-eyeballs connect runs.
///
/// ```
/// use std::time::Duration;
/// use evloop_dns::connect::ConnectOptions;
///
/// let opts = ConnectOptions::new()
///     .attempt_delay(Duration::from_millis(100))
///     .prefer_ipv4(true)
///     .timeout(Some(Duration::from_secs(5)));
/// assert_eq!(opts.attempt_delay_value(), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    resolution_delay: Duration,
    attempt_delay: Duration,
    prefer_v4: bool,
    timeout: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            resolution_delay: RESOLUTION_DELAY,
            attempt_delay: CONNECTION_ATTEMPT_DELAY,
            prefer_v4: false,
            timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl ConnectOptions {
    /// RFC 8305's values: 50 ms resolution delay, 250 ms between attempts,
    /// IPv6 first; 30 s for the whole connect.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long an A answer waits for the AAAA one before connecting
    /// starts with IPv4.
    pub fn resolution_delay(mut self, d: Duration) -> Self {
        self.resolution_delay = d;
        self
    }

    /// How long an attempt runs alone before the next one starts
    /// (RFC 8305 asks for at least 100 ms in practice; 10 ms is the
    /// floor applied here).
    pub fn attempt_delay(mut self, d: Duration) -> Self {
        self.attempt_delay = d.max(Duration::from_millis(10));
        self
    }

    /// The connection attempt delay in use.
    pub fn attempt_delay_value(&self) -> Duration {
        self.attempt_delay
    }

    /// Try IPv4 addresses first (default: IPv6 first, as RFC 8305 and
    /// RFC 6724 prefer).
    pub fn prefer_ipv4(mut self, on: bool) -> Self {
        self.prefer_v4 = on;
        self
    }

    /// A bound on the whole connect, resolution included (`None`: only
    /// the resolver's and the kernel's own timeouts apply).
    pub fn timeout(mut self, t: Option<Duration>) -> Self {
        self.timeout = t;
        self
    }
}

/// A successful connect.
#[derive(Debug)]
pub struct Connected {
    /// The connected stream, now the caller's. Its event callback closes it
    /// on EOF, errors and timeouts until the caller sets its own.
    pub stream: StreamId,
    /// The address it is connected to.
    pub addr: SocketAddr,
    /// Attempts that failed before this one won.
    pub failed: Vec<(SocketAddr, io::Error)>,
}

/// Why a connect failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The name gave no address: how the AAAA and the A lookups ended.
    Resolve {
        /// The AAAA lookup's status.
        aaaa: Status,
        /// The A lookup's status.
        a: Status,
    },
    /// [`ConnectExt::connect_addrs`] was given no address.
    NoAddress,
    /// Every address was tried and every attempt failed.
    Failed(Vec<(SocketAddr, io::Error)>),
    /// The [`ConnectOptions::timeout`] ran out.
    TimedOut {
        /// Attempts still running then.
        pending: Vec<SocketAddr>,
        /// Attempts that had failed.
        failed: Vec<(SocketAddr, io::Error)>,
    },
    /// The resolver handle is stale, or a timer could not be armed.
    Loop(evloop::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, v: &[(SocketAddr, io::Error)]| {
            for (i, (a, e)) in v.iter().enumerate() {
                write!(f, "{}{a}: {e}", if i == 0 { "" } else { "; " })?;
            }
            Ok(())
        };
        match self {
            ConnectError::Resolve { aaaa, a } => {
                write!(f, "no address found (AAAA: {aaaa}, A: {a})")
            }
            ConnectError::NoAddress => write!(f, "no address to connect to"),
            ConnectError::Failed(v) => {
                write!(f, "every connect failed: ")?;
                list(f, v)
            }
            ConnectError::TimedOut { pending, failed } => {
                write!(f, "connect timed out ({} still trying", pending.len())?;
                if !failed.is_empty() {
                    write!(f, "; failed: ")?;
                    list(f, failed)?;
                }
                write!(f, ")")
            }
            ConnectError::Loop(e) => write!(f, "connect could not run: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Names a connect in progress, for [`ConnectExt::cancel_connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectId {
    key: u64,
    lp: LoopId,
}

type Callback<T> = Box<dyn FnOnce(&mut Ctx<'_, T>, &mut T, Result<Connected, ConnectError>)>;

/// Every connect in progress on one loop.
struct Connects<T: 'static> {
    next: u64,
    map: HashMap<u64, Attempt<T>>,
}

impl<T: 'static> Default for Connects<T> {
    fn default() -> Self {
        Connects {
            next: 0,
            map: HashMap::new(),
        }
    }
}

/// The state of one family's lookup.
#[derive(Default)]
struct Family {
    lookup: Option<LookupId>,
    /// `None` while the lookup runs.
    status: Option<Status>,
    queue: VecDeque<SocketAddr>,
}

struct Attempt<T: 'static> {
    cb: Option<Callback<T>>,
    opts: ConnectOptions,
    resolver: Option<ResolverId>,
    v6: Family,
    v4: Family,
    /// The family the next attempt takes from, if it has addresses.
    next_v6: bool,
    /// Connecting started (the first attempt was made).
    started: bool,
    racing: Vec<(StreamId, SocketAddr)>,
    failed: Vec<(SocketAddr, io::Error)>,
    /// The resolution delay timer, then the attempt delay timer.
    wait: Option<Once>,
    deadline: Option<Once>,
}

fn attempt<'c, T: 'static>(ctx: &'c mut Ctx<'_, T>, key: u64) -> Option<&'c mut Attempt<T>> {
    ctx.ext_mut::<Connects<T>>()?.map.get_mut(&key)
}

/// Happy-eyeballs connect calls on evloop's [`Ctx`].
pub trait ConnectExt<T: 'static> {
    /// Resolves `host` with `resolver` (AAAA and A in parallel) and
    /// connects to `port` on the first address that accepts, as the
    /// [module docs](self) describe. An IP literal is connected to
    /// directly. `cb` runs exactly once, from the loop, unless the connect
    /// is cancelled.
    fn connect_host<F>(
        &mut self,
        resolver: ResolverId,
        host: &str,
        port: u16,
        opts: &ConnectOptions,
        cb: F,
    ) -> ConnectId
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<Connected, ConnectError>) + 'static;

    /// Races TCP connects over `addrs` (families interleaved, the first
    /// address's family first, each family in the given order), one new
    /// attempt every [`ConnectOptions::attempt_delay`].
    ///
    /// ```
    /// use std::net::{SocketAddr, TcpListener};
    /// use evloop::{Loop, RunMode};
    /// use evloop_dns::connect::{ConnectError, ConnectExt, ConnectOptions};
    ///
    /// // Nothing listens on these ports: both are refused.
    /// let free = |_| TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    /// let addrs: Vec<SocketAddr> = (0..2).map(free).collect();
    /// let mut lp: Loop<usize> = Loop::new()?;
    /// lp.ctx().connect_addrs(addrs, &ConnectOptions::new(), |_, n, res| match res {
    ///     Err(ConnectError::Failed(v)) => *n = v.len(),
    ///     other => panic!("{other:?}"),
    /// });
    /// let mut n = 0;
    /// lp.run(&mut n, RunMode::Default)?;
    /// assert_eq!(n, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn connect_addrs<F>(
        &mut self,
        addrs: Vec<SocketAddr>,
        opts: &ConnectOptions,
        cb: F,
    ) -> ConnectId
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<Connected, ConnectError>) + 'static;

    /// Gives up a connect: its callback never runs, its attempts are
    /// closed and its lookups cancelled. False if it had ended already.
    fn cancel_connect(&mut self, id: ConnectId) -> bool;
}

impl<T: 'static> ConnectExt<T> for Ctx<'_, T> {
    fn connect_host<F>(
        &mut self,
        resolver: ResolverId,
        host: &str,
        port: u16,
        opts: &ConnectOptions,
        cb: F,
    ) -> ConnectId
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<Connected, ConnectError>) + 'static,
    {
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return self.connect_addrs(vec![SocketAddr::new(ip, port)], opts, cb);
        }
        let id = begin(self, opts, Some(resolver), Box::new(cb));
        for v6 in [true, false] {
            let rtype = if v6 { RecordType::AAAA } else { RecordType::A };
            let key = id.key;
            let lookup = match self.resolver(resolver) {
                Ok(mut r) => Some(r.lookup(host, rtype, move |ctx, data, res| {
                    resolved(ctx, data, key, v6, port, res)
                })),
                Err(e) => {
                    finish(self, None, key, Err(ConnectError::Loop(e)));
                    return id;
                }
            };
            if let Some(a) = attempt(self, key) {
                family(a, v6).lookup = lookup;
            }
        }
        id
    }

    fn connect_addrs<F>(
        &mut self,
        addrs: Vec<SocketAddr>,
        opts: &ConnectOptions,
        cb: F,
    ) -> ConnectId
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<Connected, ConnectError>) + 'static,
    {
        let id = begin(self, opts, None, Box::new(cb));
        if let Some(a) = attempt(self, id.key) {
            a.next_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
            for addr in addrs {
                family(a, addr.is_ipv6()).queue.push_back(addr);
            }
            a.v6.status = Some(Status::NoError);
            a.v4.status = Some(Status::NoError);
        }
        // Started from the loop, so that the callback never runs inside
        // this call (a connect refused at once reports at once).
        let key = id.key;
        let started = self.once_timer(Duration::ZERO, move |ctx, data, _| {
            try_next(ctx, data, key);
        });
        if let Err(e) = started {
            finish(self, None, key, Err(ConnectError::Loop(e)));
        }
        id
    }

    fn cancel_connect(&mut self, id: ConnectId) -> bool {
        if id.lp != self.loop_id() {
            return false;
        }
        let Some(mut a) = self
            .ext_mut::<Connects<T>>()
            .and_then(|c| c.map.remove(&id.key))
        else {
            return false;
        };
        tidy(self, &mut a, None);
        true
    }
}

fn family<T>(a: &mut Attempt<T>, v6: bool) -> &mut Family {
    if v6 {
        &mut a.v6
    } else {
        &mut a.v4
    }
}

/// Registers a new connect, with its deadline.
fn begin<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    opts: &ConnectOptions,
    resolver: Option<ResolverId>,
    cb: Callback<T>,
) -> ConnectId {
    let all = ctx.ext_or_default::<Connects<T>>();
    let key = all.next;
    all.next += 1;
    all.map.insert(
        key,
        Attempt {
            cb: Some(cb),
            opts: opts.clone(),
            resolver,
            v6: Family::default(),
            v4: Family::default(),
            next_v6: !opts.prefer_v4,
            started: false,
            racing: Vec::new(),
            failed: Vec::new(),
            wait: None,
            deadline: None,
        },
    );
    if let Some(t) = opts.timeout {
        let armed = ctx.once_timer(t, move |ctx, data, _| timed_out(ctx, data, key));
        match armed {
            Ok(o) => {
                if let Some(a) = attempt(ctx, key) {
                    a.deadline = Some(o);
                }
            }
            Err(e) => finish(ctx, None, key, Err(ConnectError::Loop(e))),
        }
    }
    ConnectId {
        key,
        lp: ctx.loop_id(),
    }
}

/// A lookup ended: queue its addresses and decide whether to start.
fn resolved<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    key: u64,
    v6: bool,
    port: u16,
    res: LookupResult,
) {
    let Some(a) = attempt(ctx, key) else { return };
    let fam = family(a, v6);
    fam.lookup = None;
    fam.status = Some(res.status);
    let want_v6 = v6;
    for ip in res.addrs {
        // A hosts entry may list the other family for this name.
        if ip.is_ipv6() == want_v6 {
            fam.queue.push_back(SocketAddr::new(ip, port));
        }
    }
    let other_done = family(a, !v6).status.is_some();
    if a.started {
        // Late addresses: start at once if nothing is waiting to start.
        if a.wait.is_none() {
            try_next(ctx, data, key);
        } else {
            check_done(ctx, data, key);
        }
        return;
    }
    let have = !a.v6.queue.is_empty() || !a.v4.queue.is_empty();
    let preferred = v6 != a.opts.prefer_v4;
    if !preferred && !other_done && have {
        // A before AAAA (or the other way round when IPv4 is preferred):
        // give the preferred family the resolution delay.
        if a.wait.is_none() {
            let d = a.opts.resolution_delay;
            match ctx.once_timer(d, move |ctx, data, _| {
                if let Some(a) = attempt(ctx, key) {
                    a.wait = None;
                }
                try_next(ctx, data, key);
            }) {
                Ok(o) => {
                    if let Some(a) = attempt(ctx, key) {
                        a.wait = Some(o);
                    }
                }
                Err(_) => try_next(ctx, data, key),
            }
        }
        return;
    }
    if let Some(w) = a.wait.take() {
        ctx.cancel_once(w);
    }
    try_next(ctx, data, key);
}

/// The next address to try: families alternate, starting with
/// `next_v6`'s.
fn next_addr<T>(a: &mut Attempt<T>) -> Option<SocketAddr> {
    let first = a.next_v6;
    let addr = family(a, first)
        .queue
        .pop_front()
        .or_else(|| family(a, !first).queue.pop_front())?;
    a.next_v6 = !addr.is_ipv6();
    Some(addr)
}

/// Starts the next attempt (and arms the attempt delay for the one after),
/// or ends the connect if nothing is left.
fn try_next<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: u64) {
    loop {
        let Some(a) = attempt(ctx, key) else { return };
        if let Some(w) = a.wait.take() {
            ctx.cancel_once(w);
        }
        let Some(a) = attempt(ctx, key) else { return };
        let Some(addr) = next_addr(a) else { break };
        a.started = true;
        match ctx.new_stream_connect(addr) {
            Ok(sid) => {
                if let Ok(mut s) = ctx.stream(sid) {
                    s.on_event(move |ctx, data, sid, ev| event(ctx, data, key, sid, ev));
                }
                let delay = attempt(ctx, key).map(|a| {
                    a.racing.push((sid, addr));
                    a.opts.attempt_delay
                });
                let Some(delay) = delay else { return };
                let timer = ctx.once_timer(delay, move |ctx, data, _| {
                    if let Some(a) = attempt(ctx, key) {
                        a.wait = None;
                    }
                    try_next(ctx, data, key);
                });
                if let (Ok(t), Some(a)) = (timer, attempt(ctx, key)) {
                    a.wait = Some(t);
                }
                return;
            }
            Err(e) => {
                if let Some(a) = attempt(ctx, key) {
                    a.failed.push((addr, e));
                }
            }
        }
    }
    check_done(ctx, data, key);
}

/// An attempt's stream reports.
fn event<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: u64, sid: StreamId, ev: StreamEvent) {
    let Some(a) = attempt(ctx, key) else {
        // The connect ended meanwhile: this stream is not wanted.
        if let Ok(s) = ctx.stream(sid) {
            s.close();
        }
        return;
    };
    let Some(pos) = a.racing.iter().position(|(s, _)| *s == sid) else {
        return;
    };
    let (_, addr) = a.racing.remove(pos);
    match ev {
        StreamEvent::Connected => {
            if let Ok(mut s) = ctx.stream(sid) {
                // Until the caller sets its own: close on anything.
                s.on_event(|ctx, _, sid, ev| {
                    if !matches!(ev, StreamEvent::Connected) {
                        if let Ok(s) = ctx.stream(sid) {
                            s.close();
                        }
                    }
                });
            }
            let failed = attempt(ctx, key).map(|a| std::mem::take(&mut a.failed));
            let done = Connected {
                stream: sid,
                addr,
                failed: failed.unwrap_or_default(),
            };
            finish(ctx, Some(data), key, Ok(done));
        }
        StreamEvent::Error { error, .. } => {
            a.failed.push((addr, error));
            if let Ok(s) = ctx.stream(sid) {
                s.close();
            }
            // A failure starts the next attempt without waiting.
            try_next(ctx, data, key);
        }
        other => {
            let e = io::Error::other(format!(
                "unexpected stream event while connecting: {other:?}"
            ));
            if let Some(a) = attempt(ctx, key) {
                a.failed.push((addr, e));
            }
            if let Ok(s) = ctx.stream(sid) {
                s.close();
            }
            try_next(ctx, data, key);
        }
    }
}

/// Ends the connect with an error if nothing is left to try or wait for.
fn check_done<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: u64) {
    let Some(a) = attempt(ctx, key) else { return };
    let resolving = a.v6.status.is_none() || a.v4.status.is_none();
    let queued = !a.v6.queue.is_empty() || !a.v4.queue.is_empty();
    if !a.racing.is_empty() || resolving || queued || a.wait.is_some() {
        return;
    }
    let err = if a.failed.is_empty() && a.resolver.is_none() {
        ConnectError::NoAddress
    } else if a.failed.is_empty() {
        ConnectError::Resolve {
            aaaa: a.v6.status.clone().unwrap_or(Status::NoData),
            a: a.v4.status.clone().unwrap_or(Status::NoData),
        }
    } else {
        ConnectError::Failed(std::mem::take(&mut a.failed))
    };
    finish(ctx, Some(data), key, Err(err));
}

fn timed_out<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: u64) {
    let Some(a) = attempt(ctx, key) else { return };
    a.deadline = None;
    let pending = a.racing.iter().map(|(_, addr)| *addr).collect();
    let failed = std::mem::take(&mut a.failed);
    finish(
        ctx,
        Some(data),
        key,
        Err(ConnectError::TimedOut { pending, failed }),
    );
}

/// Removes the connect, tidies up, and runs the callback (when `data` is
/// at hand; otherwise from the loop's next iteration).
fn finish<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: Option<&mut T>,
    key: u64,
    res: Result<Connected, ConnectError>,
) {
    let Some(mut a) = ctx
        .ext_mut::<Connects<T>>()
        .and_then(|c| c.map.remove(&key))
    else {
        return;
    };
    let winner = res.as_ref().ok().map(|c| c.stream);
    tidy(ctx, &mut a, winner);
    let Some(cb) = a.cb.take() else { return };
    match data {
        Some(data) => cb(ctx, data, res),
        None => {
            // Not from a callback of ours (no `&mut T`): defer. If even
            // that fails the loop is broken beyond reporting.
            let _ = ctx.once_timer(Duration::ZERO, move |ctx, data, _| cb(ctx, data, res));
        }
    }
}

/// Closes the losing attempts, cancels timers and lookups.
fn tidy<T: 'static>(ctx: &mut Ctx<'_, T>, a: &mut Attempt<T>, winner: Option<StreamId>) {
    for (sid, _) in a.racing.drain(..) {
        if Some(sid) != winner {
            if let Ok(s) = ctx.stream(sid) {
                s.close();
            }
        }
    }
    for o in [a.wait.take(), a.deadline.take()].into_iter().flatten() {
        ctx.cancel_once(o);
    }
    if let Some(rid) = a.resolver {
        for lookup in [a.v6.lookup.take(), a.v4.lookup.take()]
            .into_iter()
            .flatten()
        {
            if let Ok(mut r) = ctx.resolver(rid) {
                r.cancel(lookup);
            }
        }
    }
}
