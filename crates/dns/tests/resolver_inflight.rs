//! 10,000 lookups with 100 in flight: the server holds every query it gets
//! until it has all the client's outstanding ones, checks that their ids
//! are distinct, then answers them all (so "held" is exactly "in flight").

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use evloop::{Ctx, Loop, RunMode};
use evloop_dns::config::Config;
use evloop_dns::resolver::{LookupResult, ResolverExt, ResolverId, Status};
use evloop_dns::server::{Responder, ServerExt, ServerOptions};
use hickory_proto::rr::{RData, Record, RecordType};

const TOTAL: usize = 10_000;
const WINDOW: usize = 100;

#[derive(Default)]
struct Held {
    held: Vec<Responder>,
    answered: usize,
    duplicate_batches: usize,
    max_batch: usize,
    flush_armed: bool,
}

fn addr_of(name: &str) -> Ipv4Addr {
    let i: u32 = name
        .trim_start_matches('n')
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    Ipv4Addr::from(0x0a00_0000 | i)
}

fn flush(ctx: &mut Ctx<'_, Held>, h: &mut Held) {
    h.flush_armed = false;
    let ids: HashSet<u16> = h.held.iter().map(|r| r.request().id()).collect();
    if ids.len() != h.held.len() {
        h.duplicate_batches += 1;
    }
    h.max_batch = h.max_batch.max(h.held.len());
    for r in std::mem::take(&mut h.held) {
        let req = r.request();
        let rec = Record::from_rdata(
            req.name().clone(),
            60,
            RData::A(addr_of(&req.name().to_ascii()).into()),
        );
        let action = req.answer([rec]);
        ctx.respond(r, action).unwrap();
        h.answered += 1;
    }
}

fn server() -> (SocketAddr, std::thread::JoinHandle<Held>) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut lp: Loop<Held> = Loop::new().unwrap();
        let mut ctx = lp.ctx();
        let id = ctx
            .serve_dns(
                "127.0.0.1:0".parse().unwrap(),
                &ServerOptions::new(),
                |ctx, h: &mut Held, req| {
                    h.held.push(req.responder());
                    if h.held.len() == WINDOW && !h.flush_armed {
                        h.flush_armed = true;
                        ctx.once_timer(Duration::ZERO, |ctx, h, _| flush(ctx, h))
                            .unwrap();
                    } else if h.held.len() == 1 {
                        // a safety net, should the client ever hold fewer
                        // than WINDOW outstanding: answer what is held
                        ctx.once_timer(Duration::from_millis(200), |ctx, h: &mut Held, _| {
                            if !h.held.is_empty() {
                                flush(ctx, h);
                            }
                        })
                        .unwrap();
                    }
                    if h.answered + h.held.len() >= TOTAL && !h.flush_armed {
                        h.flush_armed = true;
                        ctx.once_timer(Duration::ZERO, |ctx, h, _| flush(ctx, h))
                            .unwrap();
                    }
                    evloop_dns::server::Action::Defer
                },
            )
            .unwrap();
        tx.send(ctx.dns_server(id).unwrap().local_addr()).unwrap();
        let mut h = Held::default();
        while h.answered < TOTAL {
            lp.run(&mut h, RunMode::Once).unwrap();
        }
        h
    });
    (rx.recv().unwrap(), t)
}

struct Client {
    rid: ResolverId,
    next: usize,
    ok: usize,
    bad: Vec<String>,
}

fn start_next(ctx: &mut Ctx<'_, Client>, c: &mut Client) {
    let i = c.next;
    c.next += 1;
    let name = format!("n{i}.bench.test");
    ctx.resolver(c.rid).unwrap().lookup(
        &name,
        RecordType::A,
        move |ctx, c: &mut Client, r: LookupResult| {
            if r.status == Status::NoError && r.addrs == [IpAddr::V4(addr_of(&format!("n{i}")))] {
                c.ok += 1;
            } else {
                c.bad.push(format!("n{i}: {:?} {:?}", r.status, r.addrs));
            }
            if c.next < TOTAL {
                start_next(ctx, c);
            }
        },
    );
}

#[test]
fn ten_thousand_lookups_100_in_flight_no_duplicate_ids() {
    window_test(Config::default());
}

/// The same with replies read as each comes instead of every coalescing
/// period (the default under load).
#[test]
fn ten_thousand_lookups_100_in_flight_without_reply_coalescing() {
    window_test(Config {
        reply_coalescing: Duration::ZERO,
        ..Config::default()
    });
}

fn window_test(cfg: Config) {
    let (addr, srv) = server();
    let mut lp: Loop<Client> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let cfg = cfg.with_nameserver(addr).with_cache(false);
    let rid = ctx.new_resolver(cfg).unwrap();
    let mut c = Client {
        rid,
        next: 0,
        ok: 0,
        bad: Vec::new(),
    };
    for _ in 0..WINDOW {
        start_next(&mut ctx, &mut c);
    }
    lp.run(&mut c, RunMode::Default).unwrap();
    let h = srv.join().unwrap();
    assert!(c.bad.is_empty(), "{:?}", &c.bad[..c.bad.len().min(5)]);
    assert_eq!(c.ok, TOTAL);
    assert_eq!(h.answered, TOTAL, "one query per lookup, no retransmission");
    assert_eq!(
        h.duplicate_batches, 0,
        "an id was used twice while in flight"
    );
    assert_eq!(
        h.max_batch, WINDOW,
        "the server saw the whole window outstanding"
    );
}
