//! dns_server: a small authoritative DNS server on evloop-dns's server
//! side, for one zone given in a simple zone file or on the command line.
//!
//! ```text
//! cargo run -p evloop-dns --example dns_server -- --zone crates/dns/examples/example.zone --listen 127.0.0.1:5300
//! dig @127.0.0.1 -p 5300 www.example.test
//! dig @127.0.0.1 -p 5300 +tcp example.test MX
//! ```
//!
//! The zone file is a subset of the RFC 1035 master format, one record per
//! line: `NAME [TTL] [IN] TYPE DATA`, with `$ORIGIN` and `$TTL`, `@` for
//! the origin, names without a final dot relative to it, `;` comments and
//! quoted TXT strings. Types: A, AAAA, TXT, MX, CNAME, NS, SOA, PTR.
//! `crates/dns/examples/example.zone` holds this one:
//!
//! ```text
//! $ORIGIN example.test.
//! $TTL 300
//! @     SOA   ns1 hostmaster 2024010101 3600 600 86400 60
//! @     NS    ns1
//! ns1   A     127.0.0.1
//! www   A     192.0.2.1
//! www   AAAA  2001:db8::1
//! @     MX    10 mail
//! mail  A     192.0.2.25
//! txt   TXT   "hello" "world"
//! alias CNAME www
//! ```
//!
//! Answers are authoritative (AA): the records asked for; a CNAME and the
//! chain it starts inside the zone; NXDOMAIN with the SOA in the authority
//! section for a name that does not exist; NODATA (NOERROR, no answers,
//! the SOA) for a name that exists without records of the type (empty
//! non-terminals included); REFUSED for names outside the zone and for
//! classes other than IN; NOTIMP for zone transfers (AXFR, IXFR). MX and NS
//! answers carry the in-zone addresses of their targets as additional
//! records. Large answers over UDP are truncated (TC) and dig retries over
//! TCP on the same port.
//!
//! It prints `dns_server: listening on ADDR (udp+tcp), zone ORIGIN, N records`
//! and exits with status 0 on SIGINT or SIGTERM; 2 on a usage or zone error.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use evloop::{signum, Break, Ctx, Loop, RunMode};
use evloop_dns::server::{Action, Request, ServerExt, ServerOptions};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{CNAME, MX, NS, PTR, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

const USAGE: &str = "\
usage: dns_server [--listen ADDR] (--zone FILE | --record LINE ...) [--origin NAME]

  --listen ADDR    where to serve UDP and TCP (default 127.0.0.1:5300; port 0 picks one)
  --zone FILE      a zone file (see the example's docs for the format)
  --record LINE    one zone-file line, e.g. \"www 300 A 192.0.2.1\" (repeatable)
  --origin NAME    the zone's origin (default: the SOA's owner, or $ORIGIN)

SIGINT and SIGTERM stop it.";

/// How long a CNAME chain inside the zone may be.
const MAX_CHAIN: usize = 8;

struct Options {
    listen: SocketAddr,
    text: String,
    origin: Option<Name>,
}

fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut listen: SocketAddr = "127.0.0.1:5300".parse().unwrap_or_else(|_| unreachable!());
    let mut text = String::new();
    let mut origin = None;
    let mut have_zone = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let v = value("--listen")?;
                listen = v
                    .parse()
                    .map_err(|_| format!("--listen: not an IP:port address: {v}"))?;
            }
            "--zone" => {
                let path = value("--zone")?;
                let t = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read zone file {path}: {e}"))?;
                text.push_str(&t);
                text.push('\n');
                have_zone = true;
            }
            "--record" => {
                text.push_str(&value("--record")?);
                text.push('\n');
                have_zone = true;
            }
            "--origin" => {
                let v = value("--origin")?;
                origin = Some(fqdn(&v, &Name::root()).map_err(|e| format!("--origin: {e}"))?);
            }
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    if !have_zone {
        return Err("give a zone with --zone FILE or --record LINE".into());
    }
    Ok(Some(Options {
        listen,
        text,
        origin,
    }))
}

/// A name from zone text: `@` is the origin, a name without a final dot
/// is relative to it.
fn fqdn(s: &str, origin: &Name) -> Result<Name, String> {
    if s == "@" {
        return Ok(origin.clone());
    }
    let n = Name::from_ascii(s).map_err(|e| format!("bad name {s:?}: {e}"))?;
    if n.is_fqdn() {
        Ok(n)
    } else {
        n.append_domain(origin)
            .map_err(|e| format!("bad name {s:?}: {e}"))
    }
}

/// Splits a line into fields; double-quoted strings (TXT) stay one field,
/// without their quotes; `;` starts a comment outside quotes.
fn fields(line: &str) -> Result<Vec<(String, bool)>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_field = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                out.push((std::mem::take(&mut cur), true));
                quoted = false;
            }
            '\\' if quoted => cur.push(chars.next().ok_or("a \\ ends the line")?),
            _ if quoted => cur.push(c),
            '"' => {
                if in_field {
                    out.push((std::mem::take(&mut cur), false));
                    in_field = false;
                }
                quoted = true;
            }
            ';' => break,
            c if c.is_whitespace() => {
                if in_field {
                    out.push((std::mem::take(&mut cur), false));
                    in_field = false;
                }
            }
            c => {
                cur.push(c);
                in_field = true;
            }
        }
    }
    if quoted {
        return Err("unterminated quoted string".into());
    }
    if in_field {
        out.push((cur, false));
    }
    Ok(out)
}

/// The records of a zone text, and the origin it ended with.
fn parse_zone(text: &str, origin: Option<Name>) -> Result<(Vec<Record>, Option<Name>), String> {
    let mut origin_set = origin.clone();
    let mut default_ttl = 3600u32;
    let mut last_owner: Option<Name> = None;
    let mut records = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let err = |e: String| format!("line {}: {e}: {line}", no + 1);
        let starts_blank = line.starts_with([' ', '\t']);
        let f = fields(line).map_err(err)?;
        if f.is_empty() {
            continue;
        }
        let word = |i: usize| f.get(i).map(|(s, _)| s.as_str());
        match word(0) {
            Some("$ORIGIN") => {
                let o = word(1).ok_or_else(|| err("$ORIGIN needs a name".into()))?;
                origin_set = Some(fqdn(o, &Name::root()).map_err(err)?);
                continue;
            }
            Some("$TTL") => {
                let t = word(1).ok_or_else(|| err("$TTL needs a value".into()))?;
                default_ttl = t.parse().map_err(|_| err(format!("bad TTL {t}")))?;
                continue;
            }
            _ => {}
        }
        let origin = origin_set.clone().unwrap_or_else(Name::root);
        let mut i = 0;
        let owner = if starts_blank {
            last_owner
                .clone()
                .ok_or_else(|| err("no owner name yet".into()))?
        } else {
            i = 1;
            fqdn(&f[0].0, &origin).map_err(err)?
        };
        let mut ttl = default_ttl;
        if let Some(Ok(t)) = word(i).map(str::parse::<u32>) {
            ttl = t;
            i += 1;
        }
        if word(i).is_some_and(|w| w.eq_ignore_ascii_case("IN")) {
            i += 1;
        }
        let rtype = word(i).ok_or_else(|| err("no record type".into()))?;
        let data: Vec<&str> = f[i + 1..].iter().map(|(s, _)| s.as_str()).collect();
        let rdata = rdata(rtype, &data, &origin).map_err(err)?;
        last_owner = Some(owner.clone());
        records.push(Record::from_rdata(owner, ttl, rdata));
    }
    Ok((records, origin_set))
}

fn rdata(rtype: &str, d: &[&str], origin: &Name) -> Result<RData, String> {
    let need = |n: usize| {
        if d.len() == n {
            Ok(())
        } else {
            Err(format!("{rtype} takes {n} field(s), got {}", d.len()))
        }
    };
    let num = |s: &str| s.parse::<u32>().map_err(|_| format!("not a number: {s}"));
    Ok(match rtype.to_ascii_uppercase().as_str() {
        "A" => {
            need(1)?;
            let ip: Ipv4Addr = d[0]
                .parse()
                .map_err(|_| format!("bad IPv4 address {}", d[0]))?;
            RData::A(ip.into())
        }
        "AAAA" => {
            need(1)?;
            let ip: Ipv6Addr = d[0]
                .parse()
                .map_err(|_| format!("bad IPv6 address {}", d[0]))?;
            RData::AAAA(ip.into())
        }
        "TXT" => {
            if d.is_empty() {
                return Err("TXT needs at least one string".into());
            }
            if d.iter().any(|s| s.len() > 255) {
                return Err("a TXT string is longer than 255 bytes".into());
            }
            RData::TXT(TXT::new(d.iter().map(|s| s.to_string()).collect()))
        }
        "MX" => {
            need(2)?;
            let pref = u16::try_from(num(d[0])?).map_err(|_| "MX preference too large")?;
            RData::MX(MX::new(pref, fqdn(d[1], origin)?))
        }
        "CNAME" => {
            need(1)?;
            RData::CNAME(CNAME(fqdn(d[0], origin)?))
        }
        "NS" => {
            need(1)?;
            RData::NS(NS(fqdn(d[0], origin)?))
        }
        "PTR" => {
            need(1)?;
            RData::PTR(PTR(fqdn(d[0], origin)?))
        }
        "SOA" => {
            need(7)?;
            RData::SOA(SOA::new(
                fqdn(d[0], origin)?,
                fqdn(d[1], origin)?,
                num(d[2])?,
                i32::try_from(num(d[3])?).map_err(|_| "SOA refresh too large")?,
                i32::try_from(num(d[4])?).map_err(|_| "SOA retry too large")?,
                i32::try_from(num(d[5])?).map_err(|_| "SOA expire too large")?,
                num(d[6])?,
            ))
        }
        other => return Err(format!("unsupported record type {other}")),
    })
}

/// One zone, indexed by lower-case owner name.
struct Zone {
    origin: Name,
    soa: Record,
    by_name: HashMap<Name, Vec<Record>>,
    /// Names that own no record but have names below them (empty
    /// non-terminals): they exist, so they get NODATA, not NXDOMAIN.
    non_terminals: HashSet<Name>,
    count: usize,
}

impl Zone {
    fn new(records: Vec<Record>, origin: Option<Name>) -> Result<Zone, String> {
        let soa = records
            .iter()
            .find(|r| r.record_type() == RecordType::SOA)
            .cloned();
        let origin = match (&soa, origin) {
            (Some(s), _) => s.name().to_lowercase(),
            (None, Some(o)) => o.to_lowercase(),
            (None, None) => return Err("the zone has no SOA record and no --origin".into()),
        };
        // Without an SOA, a default one (negative answers need it).
        let soa = soa.unwrap_or_else(|| {
            let host = |l: &str| Name::from_ascii(l).and_then(|n| n.append_domain(&origin));
            let mname = host("ns").unwrap_or_else(|_| origin.clone());
            let rname = host("hostmaster").unwrap_or_else(|_| origin.clone());
            let soa = SOA::new(mname, rname, 1, 3600, 600, 86400, 60);
            Record::from_rdata(origin.clone(), 3600, RData::SOA(soa))
        });
        let mut by_name: HashMap<Name, Vec<Record>> = HashMap::new();
        let count = records.len();
        for r in records {
            if !origin.zone_of(r.name()) {
                return Err(format!("{} is outside the zone {origin}", r.name()));
            }
            by_name.entry(r.name().to_lowercase()).or_default().push(r);
        }
        by_name
            .entry(origin.clone())
            .or_default()
            .retain(|r| r.record_type() != RecordType::SOA);
        by_name.entry(origin.clone()).or_default().push(soa.clone());
        let mut non_terminals = HashSet::new();
        for name in by_name.keys() {
            let mut up = name.base_name();
            while origin.zone_of(&up) && up != origin {
                non_terminals.insert(up.clone());
                up = up.base_name();
            }
        }
        Ok(Zone {
            origin,
            soa,
            by_name,
            non_terminals,
            count,
        })
    }

    /// Whether the name exists: it owns records, or a name below it does
    /// (an empty non-terminal).
    fn exists(&self, name: &Name) -> bool {
        self.by_name.contains_key(name) || self.non_terminals.contains(name)
    }

    /// The SOA for the authority section of a negative answer, its TTL
    /// lowered to the negative TTL (RFC 2308 section 3).
    fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        if let RData::SOA(s) = soa.data() {
            let ttl = soa.ttl().min(s.minimum());
            soa.set_ttl(ttl);
        }
        soa
    }

    /// The in-zone A and AAAA records of `target`.
    fn glue(&self, target: &Name) -> Vec<Record> {
        self.by_name
            .get(&target.to_lowercase())
            .into_iter()
            .flatten()
            .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
            .cloned()
            .collect()
    }

    fn answer(&self, req: &Request) -> Action {
        let qname = req.name().to_lowercase();
        if !self.origin.zone_of(&qname) || req.qclass() != DNSClass::IN {
            return Action::Refuse;
        }
        let qtype = req.qtype();
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            // Zone transfers are not offered (RFC 5936 allows NOTIMP).
            return Action::Fail(ResponseCode::NotImp);
        }
        let mut msg = req.reply();
        msg.set_authoritative(true);
        let mut name = qname;
        let mut owner = req.name().clone();
        for _ in 0..=MAX_CHAIN {
            let recs = self.by_name.get(&name).map(Vec::as_slice).unwrap_or(&[]);
            let cname = recs.iter().find(|r| r.record_type() == RecordType::CNAME);
            match cname {
                Some(c) if qtype != RecordType::CNAME && qtype != RecordType::ANY => {
                    let RData::CNAME(target) = c.data() else {
                        break;
                    };
                    let target = target.0.clone();
                    let mut c = c.clone();
                    c.set_name(owner);
                    msg.add_answer(c);
                    name = target.to_lowercase();
                    owner = target;
                    if !self.origin.zone_of(&name) {
                        // Out of the zone: the client resolves the rest.
                        return Action::Answer(msg);
                    }
                }
                _ => {
                    let found: Vec<Record> = recs
                        .iter()
                        .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
                        .map(|r| {
                            let mut r = r.clone();
                            r.set_name(owner.clone());
                            r
                        })
                        .collect();
                    if found.is_empty() {
                        // Also after a CNAME to a name that does not
                        // exist: the chain and NXDOMAIN (RFC 6604).
                        if !self.exists(&name) {
                            msg.set_response_code(ResponseCode::NXDomain);
                        }
                        msg.add_name_server(self.negative_soa());
                        return Action::Answer(msg);
                    }
                    for r in &found {
                        let target = match r.data() {
                            RData::MX(mx) => Some(mx.exchange().clone()),
                            RData::NS(ns) => Some(ns.0.clone()),
                            _ => None,
                        };
                        if let Some(t) = target {
                            msg.add_additionals(self.glue(&t));
                        }
                    }
                    msg.add_answers(found);
                    return Action::Answer(msg);
                }
            }
        }
        // A chain longer than any sane zone has (or a loop).
        Action::Fail(ResponseCode::ServFail)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("dns_server: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let zone = match parse_zone(&opts.text, opts.origin.clone())
        .and_then(|(recs, origin)| Zone::new(recs, opts.origin.clone().or(origin)))
    {
        Ok(z) => z,
        Err(msg) => {
            eprintln!("dns_server: {msg}");
            return ExitCode::from(2);
        }
    };
    match serve(&opts, zone) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dns_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(opts: &Options, zone: Zone) -> Result<(), Box<dyn std::error::Error>> {
    let mut lp: Loop<()> = Loop::new()?;
    let mut ctx = lp.ctx();
    let origin = zone.origin.clone();
    let count = zone.count;
    let id = ctx
        .serve_dns(opts.listen, &ServerOptions::new(), move |_ctx, _, req| {
            zone.answer(req)
        })
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let addr = ctx.dns_server(id)?.local_addr();
    stop_on_signals(&mut ctx)?;
    println!("dns_server: listening on {addr} (udp+tcp), zone {origin}, {count} records");
    lp.run(&mut (), RunMode::Default)?;
    // Stdout may be gone by now (a closed pipe); that is no failure.
    let _ = writeln!(std::io::stdout(), "dns_server: exiting");
    Ok(())
}

/// SIGINT and SIGTERM end `run`; they do not keep the loop running.
fn stop_on_signals(ctx: &mut Ctx<'_, ()>) -> Result<(), evloop::Error> {
    for signal in [signum::SIGINT, signum::SIGTERM] {
        let id = ctx.new_signal(signal, |ctx, _, _, _| ctx.break_loop(Break::All))?;
        let mut w = ctx.signal(id)?;
        w.set_keepalive(false);
        w.start()?;
    }
    Ok(())
}
