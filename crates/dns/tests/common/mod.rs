//! Shared test helpers: a scripted DNS responder built on the crate's own
//! server side, running its loop on a thread.
//!
//! ```ignore
//! let srv = TestServer::start();
//! srv.on("host.test", RecordType::A, Reply::a(&["10.0.0.1"], 300));
//! srv.on_seq("flaky.test", RecordType::A, vec![Reply::Rcode(ResponseCode::ServFail), Reply::a(&["10.0.0.2"], 60)]);
//! srv.on_fn("any.test", RecordType::TXT, |req, nth| req.answer([]));
//! // ... point a resolver at srv.addr() ...
//! assert_eq!(srv.count("host.test", RecordType::A), 1);
//! assert_eq!(srv.count_tcp("host.test", RecordType::A), 0);
//! ```
//!
//! Names are matched case-insensitively, with or without the trailing
//! dot; what was seen (exact case included) is in [`TestServer::seen`].
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evloop::{AsyncSender, Loop, RunMode};
use evloop_dns::server::{Action, Request, ServerExt, ServerOptions, Transport};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, MX, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// A canned reply, turned into an [`Action`] for each query.
#[derive(Clone)]
pub enum Reply {
    /// NOERROR with these answer records (the question's name is used for
    /// records built by the constructors below).
    Answer(Vec<Record>),
    /// NOERROR with these answer records and these authority records.
    AnswerAuth(Vec<Record>, Vec<Record>),
    /// NXDOMAIN with a SOA in authority (TTL, minimum).
    NxDomain { soa_ttl: u32, minimum: u32 },
    /// NOERROR, no answers, a SOA in authority (NODATA).
    NoData { soa_ttl: u32, minimum: u32 },
    /// An error response code, question echoed, no records.
    Rcode(ResponseCode),
    /// REFUSED.
    Refuse,
    /// No answer at all.
    Drop,
    /// TCP: close the connection; UDP: no answer.
    Close,
    /// These exact bytes (length-prefixed over TCP).
    Raw(Vec<u8>),
    /// Over UDP: TC=1 with empty sections; over TCP: the inner reply.
    TcpOnly(Box<Reply>),
    /// The inner reply with its id changed (id + 1).
    WrongId(Box<Reply>),
    /// The inner reply with the question replaced by this name.
    WrongName(String, Box<Reply>),
    /// The inner reply with the question's type replaced.
    WrongType(RecordType, Box<Reply>),
    /// The inner reply with the question's class set to CH.
    WrongClass(Box<Reply>),
    /// The inner reply with the question's name in another case (0x20).
    CaseFlipped(Box<Reply>),
    /// The inner reply sent from another UDP socket (another source port)
    /// of the same address.
    FromOtherPort(Box<Reply>),
    /// The inner reply sent from 127.0.0.2 (skipped with a note when that
    /// address cannot be bound).
    FromOtherAddr(Box<Reply>),
    /// Each of these in order (e.g. a spoof and then the real answer).
    Many(Vec<Reply>),
    /// The inner reply after a delay.
    Delay(Duration, Box<Reply>),
    /// The inner reply's encoding cut to this many bytes.
    Cut(usize, Box<Reply>),
    /// FORMERR without an OPT record to EDNS queries, the inner reply to
    /// queries without EDNS.
    NoEdns(Box<Reply>),
}

impl Reply {
    /// A records for the question's name.
    pub fn a(addrs: &[&str], ttl: u32) -> Reply {
        Reply::Answer(
            addrs
                .iter()
                .map(|a| {
                    let ip: Ipv4Addr = a.parse().expect("an IPv4 address");
                    rec_q(ttl, RData::A(ip.into()))
                })
                .collect(),
        )
    }

    /// AAAA records for the question's name.
    pub fn aaaa(addrs: &[&str], ttl: u32) -> Reply {
        Reply::Answer(
            addrs
                .iter()
                .map(|a| {
                    let ip: Ipv6Addr = a.parse().expect("an IPv6 address");
                    rec_q(ttl, RData::AAAA(ip.into()))
                })
                .collect(),
        )
    }

    /// One TXT record with these character-strings.
    pub fn txt(strings: &[&str], ttl: u32) -> Reply {
        let txt = TXT::new(strings.iter().map(|s| s.to_string()).collect());
        Reply::Answer(vec![rec_q(ttl, RData::TXT(txt))])
    }

    /// A CNAME from the question's name to `target`.
    pub fn cname(target: &str, ttl: u32) -> Reply {
        Reply::Answer(vec![rec_q(ttl, RData::CNAME(CNAME(name(target))))])
    }

    /// An MX record.
    pub fn mx(pref: u16, exchange: &str, ttl: u32) -> Reply {
        Reply::Answer(vec![rec_q(ttl, RData::MX(MX::new(pref, name(exchange))))])
    }
}

/// A record whose owner is filled in with the question's name when sent.
fn rec_q(ttl: u32, rdata: RData) -> Record {
    Record::from_rdata(Name::root(), ttl, rdata)
}

/// A record with an explicit owner name.
pub fn rec(owner: &str, ttl: u32, rdata: RData) -> Record {
    Record::from_rdata(name(owner), ttl, rdata)
}

/// An A record with an explicit owner.
pub fn a_rec(owner: &str, ttl: u32, ip: &str) -> Record {
    let ip: Ipv4Addr = ip.parse().expect("an IPv4 address");
    rec(owner, ttl, RData::A(ip.into()))
}

/// A CNAME record with an explicit owner.
pub fn cname_rec(owner: &str, ttl: u32, target: &str) -> Record {
    rec(owner, ttl, RData::CNAME(CNAME(name(target))))
}

/// A fully qualified name (a trailing dot is added).
pub fn name(s: &str) -> Name {
    let fq = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::from_ascii(&fq).expect("a valid name")
}

/// The SOA record used in negative answers: for the question's parent
/// zone ("test." for "x.test.").
fn soa_for(q: &Name, ttl: u32, minimum: u32) -> Record {
    let zone = if q.num_labels() > 1 {
        q.base_name()
    } else {
        q.clone()
    };
    let soa = SOA::new(
        name("ns.test"),
        name("hostmaster.test"),
        1,
        3600,
        600,
        86400,
        minimum,
    );
    Record::from_rdata(zone, ttl, RData::SOA(soa))
}

fn key(n: &str) -> String {
    n.trim_end_matches('.').to_ascii_lowercase()
}

type ScriptFn = dyn Fn(&Request, usize) -> Action + Send + Sync + 'static;

enum Script {
    Seq(Vec<Reply>),
    Fn(Arc<ScriptFn>),
}

/// One query the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The name as sent (exact case, trailing dot).
    pub name: String,
    pub qtype: RecordType,
    pub transport: Transport,
    pub id: u16,
    pub peer: SocketAddr,
    /// The EDNS payload size, if the query had an OPT record.
    pub edns: Option<u16>,
}

#[derive(Default)]
struct Shared {
    scripts: HashMap<(String, RecordType), Script>,
    default: Option<Reply>,
    counts: HashMap<(String, RecordType, Transport), usize>,
    seen: Vec<Seen>,
}

/// A scripted DNS server on 127.0.0.1 (UDP and TCP, same port) running
/// on its own thread until dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Option<AsyncSender>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server on 127.0.0.1, any free port, default options.
    pub fn start() -> TestServer {
        Self::start_opts("127.0.0.1:0".parse().unwrap(), ServerOptions::new())
    }

    /// A server with these options.
    pub fn start_with(opts: ServerOptions) -> TestServer {
        Self::start_opts("127.0.0.1:0".parse().unwrap(), opts)
    }

    /// A server at this address with these options.
    pub fn start_opts(addr: SocketAddr, opts: ServerOptions) -> TestServer {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sh = shared.clone();
        let thread = std::thread::spawn(move || {
            let mut lp: Loop<()> = Loop::new().expect("a loop");
            let mut ctx = lp.ctx();
            let other_port = UdpSocket::bind("127.0.0.1:0").expect("a spoof socket");
            let other_addr = UdpSocket::bind("127.0.0.2:0").ok();
            let served = ctx.serve_dns(addr, &opts, move |_ctx, _, req| {
                handle(&sh, req, &other_port, other_addr.as_ref())
            });
            let id = match served {
                Ok(id) => id,
                Err(e) => {
                    tx.send(Err(e)).unwrap();
                    return;
                }
            };
            let local = ctx.dns_server(id).unwrap().local_addr();
            let (stop, sender) = ctx
                .new_async(|ctx, _, _, _| ctx.break_loop(evloop::Break::All))
                .unwrap();
            ctx.start(stop).unwrap();
            tx.send(Ok((local, sender))).unwrap();
            lp.run(&mut (), RunMode::Default).unwrap();
        });
        let (addr, sender) = rx.recv().unwrap().expect("the test server binds");
        TestServer {
            addr,
            shared,
            stop: Some(sender),
            thread: Some(thread),
        }
    }

    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every query for (name, type) gets `reply`.
    pub fn on(&self, n: &str, qtype: RecordType, reply: Reply) {
        self.on_seq(n, qtype, vec![reply]);
    }

    /// The nth query for (name, type) gets `replies[n]`; the last one is
    /// repeated after that.
    pub fn on_seq(&self, n: &str, qtype: RecordType, replies: Vec<Reply>) {
        assert!(!replies.is_empty());
        let mut sh = self.shared.lock().unwrap();
        sh.scripts.insert((key(n), qtype), Script::Seq(replies));
    }

    /// Queries for (name, type) are answered by `f(request, nth)` (nth
    /// counts from 0 over both transports).
    pub fn on_fn(
        &self,
        n: &str,
        qtype: RecordType,
        f: impl Fn(&Request, usize) -> Action + Send + Sync + 'static,
    ) {
        let mut sh = self.shared.lock().unwrap();
        sh.scripts.insert((key(n), qtype), Script::Fn(Arc::new(f)));
    }

    /// The reply to unscripted questions (default: REFUSED).
    pub fn otherwise(&self, reply: Reply) {
        self.shared.lock().unwrap().default = Some(reply);
    }

    /// Queries received for (name, type), both transports.
    pub fn count(&self, n: &str, qtype: RecordType) -> usize {
        self.count_udp(n, qtype) + self.count_tcp(n, qtype)
    }

    /// Queries received over UDP for (name, type).
    pub fn count_udp(&self, n: &str, qtype: RecordType) -> usize {
        self.count_on(n, qtype, Transport::Udp)
    }

    /// Queries received over TCP for (name, type).
    pub fn count_tcp(&self, n: &str, qtype: RecordType) -> usize {
        self.count_on(n, qtype, Transport::Tcp)
    }

    fn count_on(&self, n: &str, qtype: RecordType, t: Transport) -> usize {
        let sh = self.shared.lock().unwrap();
        sh.counts.get(&(key(n), qtype, t)).copied().unwrap_or(0)
    }

    /// Every query received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }

    /// Queries received in all.
    pub fn total(&self) -> usize {
        self.shared.lock().unwrap().seen.len()
    }

    /// Forgets the counts and the queries seen (scripts stay).
    pub fn reset_counts(&self) {
        let mut sh = self.shared.lock().unwrap();
        sh.counts.clear();
        sh.seen.clear();
    }

    /// Waits until `total()` reaches `n` or `limit` passes; returns the
    /// total.
    pub fn wait_total(&self, n: usize, limit: Duration) -> usize {
        let end = Instant::now() + limit;
        loop {
            let t = self.total();
            if t >= n || Instant::now() >= end {
                return t;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            s.send();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether 127.0.0.2 can be bound here (for source-address spoof tests).
pub fn have_127_0_0_2() -> bool {
    UdpSocket::bind("127.0.0.2:0").is_ok()
}

fn handle(
    shared: &Mutex<Shared>,
    req: &Request,
    other_port: &UdpSocket,
    other_addr: Option<&UdpSocket>,
) -> Action {
    let mut sh = shared.lock().unwrap();
    let k = (key(&req.name().to_ascii()), req.qtype());
    let t = req.transport();
    let nth: usize = [Transport::Udp, Transport::Tcp]
        .iter()
        .map(|t| sh.counts.get(&(k.0.clone(), k.1, *t)).copied().unwrap_or(0))
        .sum();
    *sh.counts.entry((k.0.clone(), k.1, t)).or_default() += 1;
    sh.seen.push(Seen {
        name: req.name().to_ascii(),
        qtype: req.qtype(),
        transport: t,
        id: req.id(),
        peer: req.peer(),
        edns: req.edns().map(|e| e.max_payload()),
    });
    let reply = match sh.scripts.get(&k) {
        Some(Script::Fn(f)) => {
            // Called without the lock, so a script may use the server.
            let f = f.clone();
            drop(sh);
            return f(req, nth);
        }
        Some(Script::Seq(v)) => v[nth.min(v.len() - 1)].clone(),
        None => sh.default.clone().unwrap_or(Reply::Refuse),
    };
    drop(sh);
    to_action(req, &reply, other_port, other_addr)
}

/// The message a reply stands for (None for replies that are not one
/// message).
fn to_message(req: &Request, reply: &Reply) -> Option<Message> {
    let fill = |r: &Record| {
        let mut r = r.clone();
        if r.name().is_root() {
            r.set_name(req.name().clone());
        }
        r
    };
    Some(match reply {
        Reply::Answer(recs) => {
            let mut m = req.reply();
            m.set_authoritative(true);
            m.add_answers(recs.iter().map(fill));
            m
        }
        Reply::AnswerAuth(ans, auth) => {
            let mut m = req.reply();
            m.set_authoritative(true);
            m.add_answers(ans.iter().map(fill));
            m.add_name_servers(auth.iter().map(fill));
            m
        }
        Reply::NxDomain { soa_ttl, minimum } | Reply::NoData { soa_ttl, minimum } => {
            let nx = matches!(reply, Reply::NxDomain { .. });
            let mut m = req.reply_with(if nx {
                ResponseCode::NXDomain
            } else {
                ResponseCode::NoError
            });
            m.set_authoritative(true);
            m.add_name_server(soa_for(req.name(), *soa_ttl, *minimum));
            m
        }
        Reply::Rcode(rc) => req.reply_with(*rc),
        Reply::Refuse => req.reply_with(ResponseCode::Refused),
        Reply::WrongId(inner) => {
            let mut m = to_message(req, inner)?;
            m.set_id(req.id().wrapping_add(1));
            m
        }
        Reply::WrongName(n, inner) => {
            let mut m = to_message(req, inner)?;
            m.queries_mut()[0].set_name(name(n));
            m
        }
        Reply::WrongType(t, inner) => {
            let mut m = to_message(req, inner)?;
            m.queries_mut()[0].set_query_type(*t);
            m
        }
        Reply::WrongClass(inner) => {
            let mut m = to_message(req, inner)?;
            m.queries_mut()[0].set_query_class(hickory_proto::rr::DNSClass::CH);
            m
        }
        Reply::CaseFlipped(inner) => {
            let mut m = to_message(req, inner)?;
            let flipped = flip_case(&req.name().to_ascii());
            m.queries_mut()[0].set_name(Name::from_ascii(&flipped).unwrap());
            m
        }
        _ => return None,
    })
}

fn to_action(
    req: &Request,
    reply: &Reply,
    other_port: &UdpSocket,
    other_addr: Option<&UdpSocket>,
) -> Action {
    match reply {
        Reply::Drop => Action::Drop,
        Reply::Close => Action::Close,
        Reply::Raw(b) => Action::Raw(b.clone()),
        Reply::TcpOnly(inner) => match req.transport() {
            Transport::Tcp => to_action(req, inner, other_port, other_addr),
            Transport::Udp => {
                let mut m = req.reply();
                m.set_truncated(true);
                Action::Answer(m)
            }
        },
        Reply::FromOtherPort(inner) | Reply::FromOtherAddr(inner) => {
            let sock = match reply {
                Reply::FromOtherPort(_) => Some(other_port),
                _ => other_addr,
            };
            if let (Some(sock), Some(bytes)) = (sock, bytes_of(req, inner)) {
                let _ = sock.send_to(&bytes, req.peer());
            }
            Action::Drop
        }
        Reply::Many(v) => Action::Many(
            v.iter()
                .map(|r| to_action(req, r, other_port, other_addr))
                .collect(),
        ),
        Reply::Delay(d, inner) => {
            Action::Delay(*d, Box::new(to_action(req, inner, other_port, other_addr)))
        }
        Reply::Cut(n, inner) => match bytes_of(req, inner) {
            Some(mut b) => {
                b.truncate(*n);
                Action::Raw(b)
            }
            None => Action::Drop,
        },
        Reply::NoEdns(inner) => {
            if req.edns().is_some() {
                let mut m =
                    Message::error_msg(req.id(), req.message().op_code(), ResponseCode::FormErr);
                m.add_query(req.question().clone());
                Action::Answer(m)
            } else {
                to_action(req, inner, other_port, other_addr)
            }
        }
        other => match to_message(req, other) {
            Some(m) => Action::Answer(m),
            None => Action::Drop,
        },
    }
}

/// The encoded form of a one-message reply.
fn bytes_of(req: &Request, reply: &Reply) -> Option<Vec<u8>> {
    match reply {
        Reply::Raw(b) => Some(b.clone()),
        r => to_message(req, r)?.to_vec().ok(),
    }
}

/// Whether `dig` is installed; prints a SKIP line when it is not.
pub fn have_dig(test: &str) -> bool {
    let ok = std::process::Command::new("dig")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP {test}: dig not installed (apt-get install -y dnsutils)");
    }
    ok
}

/// Runs dig against `addr` with extra arguments; returns its stdout.
pub fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let out = std::process::Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .arg("-p")
        .arg(addr.port().to_string())
        .args(["+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("dig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An IP address from a string (panics on a bad literal: test data).
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

/// A lookup's result and how long it took.
pub type Timed = (evloop_dns::resolver::LookupResult, Duration);

/// One lookup with a fresh resolver on a fresh loop.
pub fn resolve(cfg: evloop_dns::config::Config, n: &str, t: RecordType) -> Timed {
    let mut v = resolve_seq(cfg, &[(n, t)]);
    assert_eq!(v.len(), 1, "the lookup's callback ran once");
    v.pop().unwrap()
}

/// Lookups one after the other (each starts when the previous ended)
/// with one resolver, so its cache and server state carry over.
pub fn resolve_seq(cfg: evloop_dns::config::Config, qs: &[(&str, RecordType)]) -> Vec<Timed> {
    let plan: Vec<(Duration, &str, RecordType)> =
        qs.iter().map(|(n, t)| (Duration::ZERO, *n, *t)).collect();
    resolve_plan(cfg, &plan)
}

/// Like [`resolve_seq`], each lookup starting the given pause after the
/// previous one ended.
pub fn resolve_plan(
    cfg: evloop_dns::config::Config,
    plan: &[(Duration, &str, RecordType)],
) -> Vec<Timed> {
    use evloop_dns::resolver::{ResolverExt, ResolverId};
    type Rest = std::collections::VecDeque<(Duration, String, RecordType)>;
    fn start(
        ctx: &mut evloop::Ctx<'_, Vec<Timed>>,
        rid: ResolverId,
        n: String,
        t: RecordType,
        rest: Rest,
    ) {
        // Timed on the loop's clock, which the resolver's timers use too:
        // lower bounds on waits are then exact.
        ctx.now_update();
        let t0 = ctx.now();
        ctx.resolver(rid)
            .unwrap()
            .lookup(&n, t, move |ctx, out, res| {
                out.push((res, ctx.now().saturating_duration_since(t0)));
                next(ctx, rid, rest);
            });
    }
    fn next(ctx: &mut evloop::Ctx<'_, Vec<Timed>>, rid: ResolverId, mut rest: Rest) {
        let Some((pause, n, t)) = rest.pop_front() else {
            return;
        };
        if pause.is_zero() {
            start(ctx, rid, n, t, rest);
        } else {
            ctx.once_timer(pause, move |ctx, _, _| start(ctx, rid, n, t, rest))
                .unwrap();
        }
    }
    let mut lp: Loop<Vec<Timed>> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let rid = ctx.new_resolver(cfg).unwrap();
    let rest = plan
        .iter()
        .map(|(p, n, t)| (*p, n.to_string(), *t))
        .collect();
    next(&mut ctx, rid, rest);
    // A guard against a hang that does not itself keep the loop going.
    let guard = ctx
        .once_timer(Duration::from_secs(30), |ctx, _, _| {
            ctx.break_loop(evloop::Break::All)
        })
        .unwrap();
    ctx.set_once_keepalive(guard, false).unwrap();
    let mut out = Vec::new();
    lp.run(&mut out, RunMode::Default).unwrap();
    out
}

/// The addresses of a result, as strings.
pub fn addrs(r: &evloop_dns::resolver::LookupResult) -> Vec<String> {
    r.addrs.iter().map(|a| a.to_string()).collect()
}

/// `name` with the case of every ASCII letter swapped (a reply whose
/// question is the query's with its 0x20 bits flipped).
pub fn flip_case(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}
