//! Happy-eyeballs connect (RFC 8305) over real sockets: a blackholed
//! address first, refused addresses, IPv6 preference, the resolution
//! delay, resolution failures, cancel and the overall timeout.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::{Reply, TestServer};
use evloop::{Ctx, Loop, RunMode};
use evloop_buffer::{ListenAddr, ListenSocket, ListenerOptions, StreamExt};
use evloop_dns::config::{Config, Hosts};
use evloop_dns::connect::{ConnectError, ConnectExt, ConnectOptions, Connected, RESOLUTION_DELAY};
use evloop_dns::resolver::{ResolverExt, Status};
use hickory_proto::rr::RecordType;

type Out = Option<Result<Connected, ConnectError>>;

/// A listening socket whose accept queue is full: a SYN to it gets no
/// answer, as a blackholed address. `None` if the queue would not fill.
fn blackhole() -> Option<(ListenSocket, Vec<TcpStream>, SocketAddr)> {
    let addr = ListenAddr::Tcp("127.0.0.1:0".parse().unwrap());
    let l = ListenSocket::bind(&addr, &ListenerOptions::new().backlog(0)).ok()?;
    let ListenAddr::Tcp(at) = l.local_addr().ok()? else {
        return None;
    };
    let mut held = Vec::new();
    for _ in 0..32 {
        match TcpStream::connect_timeout(&at, Duration::from_millis(200)) {
            Ok(s) => held.push(s),
            Err(_) => return Some((l, held, at)),
        }
    }
    eprintln!("SKIP: could not fill a listen backlog here");
    None
}

/// A port nothing listens on.
fn refused() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn run_loop(start: impl FnOnce(&mut Ctx<'_, Out>)) -> (Out, Duration) {
    let mut lp: Loop<Out> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    // Timed from the loop's clock, from which the connect's timers count:
    // lower bounds on waits are then exact.
    ctx.now_update();
    let t0 = ctx.now();
    start(&mut ctx);
    // A guard against a hang that does not itself keep the loop going.
    let guard = ctx
        .once_timer(Duration::from_secs(10), |ctx, _, _| {
            ctx.break_loop(evloop::Break::All)
        })
        .unwrap();
    ctx.set_once_keepalive(guard, false).unwrap();
    let mut out = None;
    lp.run(&mut out, RunMode::Default).unwrap();
    (out, t0.elapsed())
}

fn store(ctx: &mut Ctx<'_, Out>, out: &mut Out, res: Result<Connected, ConnectError>) {
    // Close the winner: the loop then has nothing left and returns.
    if let Ok(c) = &res {
        ctx.stream(c.stream).unwrap().close();
    }
    *out = Some(res);
}

#[test]
fn blackholed_first_then_working_connects_after_the_attempt_delay() {
    let Some((_bh, _held, dead)) = blackhole() else {
        return;
    };
    let good = TcpListener::bind("127.0.0.1:0").unwrap();
    let good_addr = good.local_addr().unwrap();
    let delay = Duration::from_millis(100);
    let opts = ConnectOptions::new().attempt_delay(delay);
    let (out, took) = run_loop(|ctx| {
        ctx.connect_addrs(vec![dead, good_addr], &opts, store);
    });
    let c = out.expect("callback ran").expect("connected");
    assert_eq!(c.addr, good_addr);
    assert!(c.failed.is_empty(), "the blackholed attempt never failed");
    assert!(took >= delay, "the second attempt waited: {took:?}");
    // The server sees exactly the one connection.
    good.set_nonblocking(true).unwrap();
    assert!(good.accept().is_ok());
}

#[test]
fn a_refused_attempt_starts_the_next_at_once() {
    let good = TcpListener::bind("127.0.0.1:0").unwrap();
    let good_addr = good.local_addr().unwrap();
    let bad = refused();
    let opts = ConnectOptions::new().attempt_delay(Duration::from_secs(3));
    let (out, took) = run_loop(|ctx| {
        ctx.connect_addrs(vec![bad, good_addr], &opts, store);
    });
    let c = out.unwrap().unwrap();
    assert_eq!(c.addr, good_addr);
    assert_eq!(c.failed.len(), 1);
    assert_eq!(c.failed[0].0, bad);
    assert_eq!(c.failed[0].1.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(
        took < Duration::from_secs(2),
        "did not wait the 3 s delay: {took:?}"
    );
}

#[test]
fn all_refused_is_an_error_listing_each_address() {
    let addrs = vec![refused(), refused(), refused()];
    let (out, _) = run_loop(|ctx| {
        ctx.connect_addrs(addrs.clone(), &ConnectOptions::new(), store);
    });
    match out.unwrap() {
        Err(ConnectError::Failed(v)) => {
            let got: Vec<SocketAddr> = v.iter().map(|(a, _)| *a).collect();
            assert_eq!(got, addrs);
            let text = ConnectError::Failed(v).to_string();
            assert!(text.contains(&addrs[2].to_string()), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_overall_timeout_reports_what_was_pending() {
    let Some((_bh, _held, dead)) = blackhole() else {
        return;
    };
    let t = Duration::from_millis(150);
    let opts = ConnectOptions::new().timeout(Some(t));
    let (out, took) = run_loop(|ctx| {
        ctx.connect_addrs(vec![dead], &opts, store);
    });
    match out.unwrap() {
        Err(ConnectError::TimedOut { pending, failed }) => {
            assert_eq!(pending, [dead]);
            assert!(failed.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(took >= t);
}

#[test]
fn cancel_runs_no_callback_and_closes_the_attempts() {
    let Some((_bh, _held, dead)) = blackhole() else {
        return;
    };
    let (out, took) = run_loop(|ctx| {
        let id = ctx.connect_addrs(vec![dead], &ConnectOptions::new(), store);
        ctx.once_timer(Duration::from_millis(50), move |ctx, _, _| {
            assert!(ctx.cancel_connect(id));
            assert!(!ctx.cancel_connect(id), "only once");
        })
        .unwrap();
    });
    assert!(out.is_none(), "no callback after cancel");
    // The loop ended by itself: nothing of the connect was left (the
    // guard would have stopped it at 10 s).
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// Two listeners on one port, one per family; `None` without IPv6.
fn dual_listeners() -> Option<(TcpListener, TcpListener, u16)> {
    for _ in 0..16 {
        let v6 = match TcpListener::bind("[::1]:0") {
            Ok(l) => l,
            Err(_) => {
                eprintln!("SKIP: no IPv6 loopback here");
                return None;
            }
        };
        let port = v6.local_addr().ok()?.port();
        if let Ok(v4) = TcpListener::bind(("127.0.0.1", port)) {
            return Some((v6, v4, port));
        }
    }
    None
}

#[test]
fn ipv6_first_unless_told_otherwise() {
    let Some((_v6, _v4, port)) = dual_listeners() else {
        return;
    };
    for (prefer_v4, want_v6) in [(false, true), (true, false)] {
        let opts = ConnectOptions::new().prefer_ipv4(prefer_v4);
        let (out, _) = run_loop(|ctx| {
            let hosts = Hosts::parse("127.0.0.1 dual.lan\n::1 dual.lan\n");
            let r = ctx
                .new_resolver(Config::default().with_hosts(hosts))
                .unwrap();
            ctx.connect_host(r, "dual.lan", port, &opts, store);
        });
        let c = out.unwrap().unwrap();
        assert_eq!(
            c.addr.is_ipv6(),
            want_v6,
            "prefer_v4={prefer_v4}: {}",
            c.addr
        );
    }
}

#[test]
fn ip_literals_connect_directly() {
    let good = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = good.local_addr().unwrap().port();
    let (out, _) = run_loop(|ctx| {
        let r = ctx.new_resolver(Config::default()).unwrap();
        ctx.connect_host(r, "127.0.0.1", port, &ConnectOptions::new(), store);
    });
    assert_eq!(out.unwrap().unwrap().addr, good.local_addr().unwrap());
}

#[test]
fn a_answer_waits_the_resolution_delay_for_a_silent_aaaa() {
    let srv = TestServer::start();
    srv.on("slow6.test", RecordType::A, Reply::a(&["127.0.0.1"], 60));
    srv.on("slow6.test", RecordType::AAAA, Reply::Drop);
    let good = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = good.local_addr().unwrap().port();
    let cfg = Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(Duration::from_secs(2))
        .with_attempts(1);
    let rd = Duration::from_millis(80);
    let opts = ConnectOptions::new().resolution_delay(rd);
    let (out, took) = run_loop(|ctx| {
        let r = ctx.new_resolver(cfg).unwrap();
        ctx.connect_host(r, "slow6.test", port, &opts, store);
    });
    let c = out.unwrap().unwrap();
    assert_eq!(c.addr, SocketAddr::new(common::ip("127.0.0.1"), port));
    assert!(took >= rd, "waited for AAAA: {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "did not wait for the AAAA timeout: {took:?}"
    );
    assert_eq!(srv.count("slow6.test", RecordType::AAAA), 1, "both asked");
    assert_eq!(srv.count("slow6.test", RecordType::A), 1);
}

#[test]
fn a_name_without_addresses_is_a_resolve_error() {
    let srv = TestServer::start();
    let nx = Reply::NxDomain {
        soa_ttl: 60,
        minimum: 60,
    };
    srv.on("gone.test", RecordType::A, nx.clone());
    srv.on("gone.test", RecordType::AAAA, nx);
    let cfg = Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(Duration::from_millis(500));
    let (out, _) = run_loop(|ctx| {
        let r = ctx.new_resolver(cfg).unwrap();
        ctx.connect_host(r, "gone.test", 80, &ConnectOptions::new(), store);
    });
    match out.unwrap() {
        Err(ConnectError::Resolve { aaaa, a }) => {
            assert_eq!((aaaa, a), (Status::NxDomain, Status::NxDomain));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn blackholed_ipv6_falls_back_to_ipv4_after_the_attempt_delay() {
    // A full-backlog listener on [::1]:P and a working one on 127.0.0.1:P.
    let mut found = None;
    for _ in 0..16 {
        let v6 = ListenAddr::Tcp("[::1]:0".parse().unwrap());
        let Ok(l6) = ListenSocket::bind(&v6, &ListenerOptions::new().backlog(0)) else {
            eprintln!("SKIP: no IPv6 loopback here");
            return;
        };
        let Ok(ListenAddr::Tcp(at6)) = l6.local_addr() else {
            return;
        };
        if let Ok(l4) = TcpListener::bind(("127.0.0.1", at6.port())) {
            found = Some((l6, l4, at6));
            break;
        }
    }
    let Some((_l6, l4, at6)) = found else { return };
    let mut held = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&at6, Duration::from_millis(200)) {
        held.push(s);
        if held.len() > 32 {
            eprintln!("SKIP: could not fill a listen backlog here");
            return;
        }
    }
    let port = at6.port();
    let delay = Duration::from_millis(120);
    let opts = ConnectOptions::new().attempt_delay(delay);
    let (out, took) = run_loop(|ctx| {
        let hosts = Hosts::parse("::1 both.lan\n127.0.0.1 both.lan\n");
        let r = ctx
            .new_resolver(Config::default().with_hosts(hosts))
            .unwrap();
        ctx.connect_host(r, "both.lan", port, &opts, store);
    });
    let c = out.unwrap().unwrap();
    assert_eq!(c.addr, l4.local_addr().unwrap(), "IPv4 won");
    assert!(
        took >= delay,
        "IPv6 went first and was given {delay:?}: {took:?}"
    );
}

#[test]
fn an_empty_address_list_is_an_error() {
    let (out, _) = run_loop(|ctx| {
        ctx.connect_addrs(Vec::new(), &ConnectOptions::new(), store);
    });
    assert!(matches!(out.unwrap(), Err(ConnectError::NoAddress)));
}

#[test]
fn a_late_aaaa_answer_joins_the_race() {
    // IPv4 is a blackhole on 127.0.0.1:P, IPv6 works on [::1]:P; the AAAA
    // answer comes after the resolution delay, so IPv4 starts alone and
    // IPv6 joins when its turn comes.
    let mut found = None;
    for _ in 0..16 {
        let v4 = ListenAddr::Tcp("127.0.0.1:0".parse().unwrap());
        let l4 = ListenSocket::bind(&v4, &ListenerOptions::new().backlog(0)).unwrap();
        let Ok(ListenAddr::Tcp(at4)) = l4.local_addr() else {
            return;
        };
        match TcpListener::bind(("::1", at4.port())) {
            Ok(l6) => {
                found = Some((l4, l6, at4));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(_) => {
                eprintln!("SKIP: no IPv6 loopback here");
                return;
            }
        }
    }
    let Some((_l4, l6, at4)) = found else { return };
    let mut held = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&at4, Duration::from_millis(200)) {
        held.push(s);
        if held.len() > 32 {
            eprintln!("SKIP: could not fill a listen backlog here");
            return;
        }
    }
    let srv = TestServer::start();
    srv.on("late6.test", RecordType::A, Reply::a(&["127.0.0.1"], 60));
    srv.on(
        "late6.test",
        RecordType::AAAA,
        Reply::Delay(
            Duration::from_millis(150),
            Box::new(Reply::aaaa(&["::1"], 60)),
        ),
    );
    let cfg = Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(Duration::from_secs(2));
    let delay = Duration::from_millis(250);
    let opts = ConnectOptions::new().attempt_delay(delay);
    let (out, took) = run_loop(|ctx| {
        let r = ctx.new_resolver(cfg).unwrap();
        ctx.connect_host(r, "late6.test", at4.port(), &opts, store);
    });
    let c = out.unwrap().unwrap();
    assert_eq!(c.addr, l6.local_addr().unwrap(), "IPv6 won after joining");
    // IPv4 started after the 50 ms resolution delay, IPv6 one attempt
    // delay after that.
    assert!(took >= RESOLUTION_DELAY + delay, "{took:?}");
}
