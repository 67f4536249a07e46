//! The DNS benchmark client of `bench/dns` (see its README), and a small
//! `dig`-like tool.
//!
//! Bench mode resolves every name of a file as an A query, with at most
//! `--concurrency` outstanding, and prints one line:
//!
//! ```text
//! resolve_bench --nameserver 127.0.0.1:5353 --names FILE --concurrency 100
//! queries=10000 ok=10000 failed=0 elapsed_us=123456
//! ```
//!
//! Query mode does one lookup (or `--repeat N` of them) and prints a result
//! block each:
//!
//! ```text
//! resolve_bench --query NAME --type A|AAAA|TXT|PTR|ADDR|<any type> --nameserver HOST:PORT
//!               [--nameserver HOST:PORT] [--resolv-conf FILE] [--hosts FILE]
//!               [--timeout-ms N] [--attempts N] [--edns SIZE (0: off)] [--0x20 1]
//!               [--repeat N --interval-ms M] [--cancel-after-ms N] [--shutdown-after-ms N]
//! status=NOERROR answers=1 ttl=300
//! A 10.0.0.1
//! ```
//!
//! Exit status: 0 when every block is NOERROR with answers, 1 otherwise,
//! 2 for a usage error.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use evloop::{Ctx, Loop, RunMode};
use evloop_dns::config::{parse_nameserver, Config, Hosts, ResolvConf};
use evloop_dns::resolver::{LookupId, LookupResult, ResolverExt, ResolverId, Status};
use hickory_proto::rr::{RData, RecordType};

/// What `--help` prints: the flags of both modes.
const USAGE: &str = "\
usage: resolve_bench --nameserver HOST:PORT --names FILE [--concurrency N]
       resolve_bench --query NAME [--type A|AAAA|TXT|PTR|ADDR|<any type>] --nameserver HOST:PORT
                     [--nameserver HOST:PORT] [--resolv-conf FILE] [--hosts FILE]
                     [--timeout-ms N] [--attempts N] [--edns SIZE (0: off)] [--0x20 1]
                     [--repeat N --interval-ms M] [--cancel-after-ms N] [--shutdown-after-ms N]
Bench mode prints `queries=Q ok=K failed=F elapsed_us=T`; query mode prints a
`status=... answers=N` block per lookup. Exit status: 0 when every lookup
answered NOERROR with records, 1 otherwise, 2 for a usage error.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match parse(&args) {
        Ok(Mode::Bench(b)) => bench(b),
        Ok(Mode::Query(q)) => query(*q),
        Err(msg) => {
            eprintln!("resolve_bench: {msg}");
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

// ------------------------------------------------------------ arguments

struct BenchArgs {
    nameserver: SocketAddr,
    names: String,
    concurrency: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum QType {
    Addr,
    Reverse(IpAddr),
    Plain(RecordType),
}

struct QueryArgs {
    name: String,
    qtype: QType,
    config: Config,
    repeat: u32,
    interval: Duration,
    cancel_after: Option<Duration>,
    shutdown_after: Option<Duration>,
}

enum Mode {
    Bench(BenchArgs),
    Query(Box<QueryArgs>),
}

fn num<T: FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: not a number: {v:?}"))
}

fn parse(args: &[String]) -> Result<Mode, String> {
    let mut servers = Vec::new();
    let (mut names, mut query, mut qtype) = (None, None, "A".to_string());
    let mut concurrency = 100usize;
    let (mut resolv_conf, mut hosts) = (None, None);
    let (mut timeout, mut attempts, mut edns, mut x20) = (None, None, None, false);
    let (mut repeat, mut interval) = (1u32, Duration::ZERO);
    let (mut cancel_after, mut shutdown_after) = (None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--nameserver" => {
                let v = val()?;
                servers.push(
                    parse_nameserver(&v)
                        .ok_or_else(|| format!("--nameserver: not an IP[:PORT]: {v:?}"))?,
                );
            }
            "--names" => names = Some(val()?),
            "--concurrency" => concurrency = num::<usize>(flag, &val()?)?.max(1),
            "--query" => query = Some(val()?),
            "--type" => qtype = val()?.to_ascii_uppercase(),
            "--resolv-conf" => resolv_conf = Some(val()?),
            "--hosts" => hosts = Some(val()?),
            "--timeout-ms" => timeout = Some(Duration::from_millis(num(flag, &val()?)?)),
            "--attempts" => attempts = Some(num::<u32>(flag, &val()?)?),
            "--edns" => edns = Some(num::<u16>(flag, &val()?)?),
            "--0x20" => x20 = num::<u32>(flag, &val()?)? != 0,
            "--repeat" => repeat = num::<u32>(flag, &val()?)?.max(1),
            "--interval-ms" => interval = Duration::from_millis(num(flag, &val()?)?),
            "--cancel-after-ms" => cancel_after = Some(Duration::from_millis(num(flag, &val()?)?)),
            "--shutdown-after-ms" => {
                shutdown_after = Some(Duration::from_millis(num(flag, &val()?)?))
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Some(names) = names {
        if query.is_some() {
            return Err("--names and --query exclude each other".into());
        }
        let [nameserver] = servers[..] else {
            return Err("bench mode needs exactly one --nameserver".into());
        };
        return Ok(Mode::Bench(BenchArgs {
            nameserver,
            names,
            concurrency,
        }));
    }
    let name = query.ok_or("need --query NAME or --names FILE")?;
    let mut config = Config::default();
    if let Some(path) = resolv_conf {
        let rc = ResolvConf::from_file(&path).map_err(|e| format!("--resolv-conf {path}: {e}"))?;
        config = Config::from_resolv_conf(&rc);
        if !servers.is_empty() {
            config.nameservers.clear();
        }
    }
    config.nameservers.extend(servers);
    if config.nameservers.is_empty() {
        return Err("no nameserver (--nameserver or --resolv-conf)".into());
    }
    if let Some(path) = hosts {
        config.hosts = Some(Hosts::from_file(&path).map_err(|e| format!("--hosts {path}: {e}"))?);
    }
    if let Some(t) = timeout {
        config.timeout = t.max(Duration::from_millis(1));
    }
    if let Some(a) = attempts {
        config.attempts = a.max(1);
    }
    if let Some(e) = edns {
        config.edns = (e > 0).then_some(e.max(512));
    }
    config.case_randomization = x20;
    let qtype = match qtype.as_str() {
        "ADDR" => QType::Addr,
        "PTR" => match name.parse::<IpAddr>() {
            Ok(ip) => QType::Reverse(ip),
            Err(_) => QType::Plain(RecordType::PTR),
        },
        t => match RecordType::from_str(t) {
            Ok(RecordType::Unknown(_)) | Err(_) => {
                return Err(format!("--type: unknown type {t:?}"))
            }
            Ok(rt) => QType::Plain(rt),
        },
    };
    Ok(Mode::Query(Box::new(QueryArgs {
        name,
        qtype,
        config,
        repeat,
        interval,
        cancel_after,
        shutdown_after,
    })))
}

// ------------------------------------------------------------ bench mode

struct Bench {
    rid: ResolverId,
    names: Vec<String>,
    next: usize,
    done: usize,
    ok: usize,
    failed: usize,
    end: Option<Instant>,
}

/// `nI.bench.test` maps to 10.(i>>16).((i>>8)&255).(i&255).
fn expected(name: &str) -> Option<Ipv4Addr> {
    let i: u32 = name
        .strip_prefix('n')?
        .strip_suffix(".bench.test")?
        .parse()
        .ok()?;
    Some(Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8))
}

fn bench_next(ctx: &mut Ctx<'_, Bench>, b: &mut Bench) {
    let i = b.next;
    b.next += 1;
    let Ok(mut r) = ctx.resolver(b.rid) else {
        return;
    };
    r.lookup(
        &b.names[i],
        RecordType::A,
        move |ctx, b: &mut Bench, res| {
            let good = res.status == Status::NoError
                && !res.addrs.is_empty()
                && expected(&b.names[i])
                    .is_none_or(|want| res.addrs.iter().all(|a| *a == IpAddr::V4(want)));
            if good {
                b.ok += 1;
            } else {
                b.failed += 1;
                eprintln!("{}: {} {:?}", b.names[i], res.status, res.addrs);
            }
            b.done += 1;
            if b.done == b.names.len() {
                b.end = Some(Instant::now());
            }
            if b.next < b.names.len() {
                bench_next(ctx, b);
            }
        },
    );
}

fn bench(a: BenchArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&a.names) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("resolve_bench: {}: {e}", a.names);
            return ExitCode::from(2);
        }
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut lp: Loop<Bench> = match Loop::new() {
        Ok(lp) => lp,
        Err(e) => {
            eprintln!("resolve_bench: loop: {e}");
            return ExitCode::from(1);
        }
    };
    // As the README asks: this server only, no search list, no cache.
    let config = Config::default()
        .with_nameserver(a.nameserver)
        .with_cache(false)
        .with_max_inflight(a.concurrency);
    let rid = match lp.ctx().new_resolver(config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("resolve_bench: resolver: {e}");
            return ExitCode::from(1);
        }
    };
    let mut b = Bench {
        rid,
        names,
        next: 0,
        done: 0,
        ok: 0,
        failed: 0,
        end: None,
    };
    let start = Instant::now();
    {
        let mut ctx = lp.ctx();
        while b.next < b.names.len().min(a.concurrency) {
            bench_next(&mut ctx, &mut b);
        }
    }
    if let Err(e) = lp.run(&mut b, RunMode::Default) {
        eprintln!("resolve_bench: run: {e}");
    }
    let elapsed = b.end.unwrap_or_else(Instant::now) - start;
    println!(
        "queries={} ok={} failed={} elapsed_us={}",
        b.names.len(),
        b.ok,
        b.names.len() - b.ok,
        elapsed.as_micros()
    );
    ExitCode::SUCCESS
}

// ------------------------------------------------------------ query mode

struct Query {
    args: QueryArgs,
    rid: Option<ResolverId>,
    pending: Option<LookupId>,
    started: u32,
    all_ok: bool,
}

fn print_block(q: &mut Query, res: &LookupResult) {
    let mut lines = Vec::new();
    for r in &res.records {
        let line = match r.data() {
            RData::A(a) if q.args.qtype != QType::Addr => format!("A {a}"),
            RData::AAAA(a) if q.args.qtype != QType::Addr => format!("AAAA {a}"),
            RData::A(_) | RData::AAAA(_) => continue,
            RData::TXT(t) => {
                let bytes: Vec<u8> = t
                    .txt_data()
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect();
                format!("TXT {}", String::from_utf8_lossy(&bytes))
            }
            RData::PTR(p) => format!("PTR {}", p.0),
            other => format!("{} {}", r.record_type(), other),
        };
        lines.push(line);
    }
    if q.args.qtype == QType::Addr {
        lines = res
            .addrs
            .iter()
            .map(|ip| match ip {
                IpAddr::V4(a) => format!("A {a}"),
                IpAddr::V6(a) => format!("AAAA {a}"),
            })
            .collect();
    }
    let mut head = format!("status={} answers={}", res.status.name(), lines.len());
    if let Some(ttl) = res.ttl {
        head.push_str(&format!(" ttl={ttl}"));
    }
    if let Some(c) = &res.canonical {
        head.push_str(&format!(" canonical={c}"));
    }
    if let Some((v4, v6)) = &res.families {
        if !(v4.is_ok() && v6.is_ok()) && res.status.is_ok() {
            eprintln!("# partial: A {v4}, AAAA {v6}");
        }
    }
    if let Some(reason) = res.reason() {
        head.push_str(&format!(" reason={reason}"));
    }
    println!("{head}");
    for l in &lines {
        println!("{l}");
    }
    if !res.status.is_ok() || lines.is_empty() {
        q.all_ok = false;
    }
}

fn start_one(ctx: &mut Ctx<'_, Query>, q: &mut Query) {
    let Some(rid) = q.rid else { return };
    let Ok(mut r) = ctx.resolver(rid) else { return };
    q.started += 1;
    let cb = |ctx: &mut Ctx<'_, Query>, q: &mut Query, res: LookupResult| {
        q.pending = None;
        print_block(q, &res);
        next_or_stop(ctx, q);
    };
    let id = match q.args.qtype {
        QType::Addr => r.lookup_addr(&q.args.name, cb),
        QType::Reverse(ip) => r.reverse(ip, cb),
        QType::Plain(t) => r.lookup(&q.args.name, t, cb),
    };
    q.pending = Some(id);
}

fn next_or_stop(ctx: &mut Ctx<'_, Query>, q: &mut Query) {
    if q.started < q.args.repeat {
        let _ = ctx.once_timer(q.args.interval, |ctx, q: &mut Query, _| start_one(ctx, q));
    } else {
        ctx.break_loop(evloop::Break::All);
    }
}

fn query(args: QueryArgs) -> ExitCode {
    let mut lp: Loop<Query> = match Loop::new() {
        Ok(lp) => lp,
        Err(e) => {
            eprintln!("resolve_bench: loop: {e}");
            return ExitCode::from(1);
        }
    };
    let mut q = Query {
        rid: None,
        pending: None,
        started: 0,
        all_ok: true,
        args,
    };
    {
        let mut ctx = lp.ctx();
        match ctx.new_resolver(q.args.config.clone()) {
            Ok(r) => q.rid = Some(r),
            Err(e) => {
                println!("error {e}");
                return ExitCode::from(1);
            }
        }
        if let Some(after) = q.args.cancel_after {
            let _ = ctx.once_timer(after, |ctx, q: &mut Query, _| {
                let (Some(rid), Some(id)) = (q.rid, q.pending.take()) else {
                    return;
                };
                if ctx.resolver(rid).is_ok_and(|mut r| r.cancel(id)) {
                    // The cancelled lookup's callback never runs: the
                    // block is printed here.
                    println!("status=CANCELLED answers=0");
                    q.all_ok = false;
                    next_or_stop(ctx, q);
                }
            });
        }
        if let Some(after) = q.args.shutdown_after {
            let _ = ctx.once_timer(after, |ctx, q: &mut Query, _| {
                if let Some(mut r) = q.rid.and_then(|rid| ctx.resolver(rid).ok()) {
                    r.shutdown();
                }
            });
        }
        start_one(&mut ctx, &mut q);
    }
    if let Err(e) = lp.run(&mut q, RunMode::Default) {
        println!("error {e}");
        return ExitCode::from(1);
    }
    if q.all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
