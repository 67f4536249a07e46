//! Truncated UDP answers retried over TCP, with the TCP replies split
//! into single bytes, several frames merged in one write (a spoof first),
//! and a server that closes the connection.

mod common;

use std::time::Duration;

use common::{resolve, Reply, TestServer};
use evloop_dns::config::Config;
use evloop_dns::resolver::Status;
use evloop_dns::server::ServerOptions;
use hickory_proto::rr::RecordType;

fn many_a() -> Reply {
    let ips: Vec<String> = (0..100).map(|i| format!("10.254.0.{i}")).collect();
    let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    Reply::a(&refs, 60)
}

fn cfg(srv: &TestServer) -> Config {
    Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(Duration::from_millis(1500))
        .with_attempts(2)
}

#[test]
fn truncated_answer_comes_over_tcp_in_single_bytes() {
    let opts = ServerOptions::new().tcp_write_chunks(1, Duration::ZERO);
    let srv = TestServer::start_with(opts);
    // 100 A records: 1.6 kB, over 1232 bytes, so UDP is truncated by the
    // server side itself.
    srv.on("biga.test", RecordType::A, many_a());
    let (r, _) = resolve(cfg(&srv), "biga.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(r.addrs.len(), 100);
    assert_eq!(srv.count_udp("biga.test", RecordType::A), 1);
    assert_eq!(srv.count_tcp("biga.test", RecordType::A), 1);
}

#[test]
fn big_txt_over_tcp_split_in_small_chunks() {
    let opts = ServerOptions::new().tcp_write_chunks(7, Duration::from_millis(1));
    let srv = TestServer::start_with(opts);
    let s = "x".repeat(250);
    let parts: Vec<&str> = (0..6).map(|_| s.as_str()).collect();
    srv.on("big.test", RecordType::TXT, Reply::txt(&parts, 60));
    let (r, _) = resolve(cfg(&srv), "big.test", RecordType::TXT);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(r.records.len(), 1);
    let text = r.records[0].data().to_string();
    assert_eq!(text.matches('x').count(), 1500, "all 1500 bytes");
}

#[test]
fn merged_frames_spoof_first_then_real() {
    let srv = TestServer::start();
    srv.on(
        "biga.test",
        RecordType::A,
        Reply::TcpOnly(Box::new(Reply::Many(vec![
            Reply::WrongId(Box::new(Reply::a(&["10.6.6.6"], 60))),
            Reply::WrongName("evil.test".into(), Box::new(Reply::a(&["10.6.6.7"], 60))),
            many_a(),
        ]))),
    );
    let (r, _) = resolve(cfg(&srv), "biga.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(r.addrs.len(), 100);
    assert!(r
        .addrs
        .iter()
        .all(|a| a.to_string().starts_with("10.254.0.")));
}

#[test]
fn tcp_closed_without_an_answer_fails_over() {
    let first = TestServer::start();
    let second = TestServer::start();
    first.on(
        "biga.test",
        RecordType::A,
        Reply::TcpOnly(Box::new(Reply::Close)),
    );
    second.on("biga.test", RecordType::A, many_a());
    let cfg = Config::default()
        .with_nameserver(first.addr())
        .with_nameserver(second.addr())
        .with_timeout(Duration::from_millis(400))
        .with_attempts(1);
    let (r, _) = resolve(cfg, "biga.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(r.addrs.len(), 100);
    assert_eq!(first.count_tcp("biga.test", RecordType::A), 1);
    assert_eq!(second.count_tcp("biga.test", RecordType::A), 1);
}

#[test]
fn a_truncated_answer_over_tcp_too_does_not_loop() {
    // TC=1 on both transports (a broken server): the lookup ends, with
    // a bounded number of queries.
    let srv = TestServer::start();
    srv.on_fn("tc.test", RecordType::A, |req, _| {
        let mut m = req.reply();
        m.set_truncated(true);
        evloop_dns::server::Action::Answer(m)
    });
    let c = Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(Duration::from_millis(300))
        .with_attempts(2);
    let (r, took) = resolve(c, "tc.test", RecordType::A);
    assert!(r.addrs.is_empty(), "{r:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(srv.count("tc.test", RecordType::A) <= 8, "bounded");
}

#[test]
fn partial_records_in_a_truncated_udp_answer_are_not_used() {
    // Over UDP: one record and TC=1 (a server that filled what fit);
    // over TCP: all three. The lookup must take the TCP answer.
    let srv = TestServer::start();
    srv.on_fn("part.test", RecordType::A, |req, _| {
        use evloop_dns::server::Transport;
        let rec = |ip: &str| {
            let ip: std::net::Ipv4Addr = ip.parse().unwrap();
            hickory_proto::rr::Record::from_rdata(
                req.name().clone(),
                60,
                hickory_proto::rr::RData::A(ip.into()),
            )
        };
        match req.transport() {
            Transport::Udp => {
                let mut m = req.reply();
                m.set_truncated(true);
                m.add_answer(rec("10.0.0.1"));
                evloop_dns::server::Action::Answer(m)
            }
            Transport::Tcp => req.answer([rec("10.0.0.1"), rec("10.0.0.2"), rec("10.0.0.3")]),
        }
    });
    let (r, _) = resolve(cfg(&srv), "part.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(r.addrs.len(), 3, "{r:?}");
    assert_eq!(srv.count_tcp("part.test", RecordType::A), 1);
}

fn two(first: &TestServer, second: &TestServer) -> Config {
    Config::default()
        .with_nameserver(first.addr())
        .with_nameserver(second.addr())
        .with_timeout(Duration::from_millis(300))
        .with_attempts(1)
}

#[test]
fn tcp_refused_after_truncation_fails_over() {
    // The first server truncates over UDP and has no TCP at all.
    let first = TestServer::start_with(ServerOptions::new().tcp(false));
    let second = TestServer::start();
    first.on("biga.test", RecordType::A, many_a());
    second.on("biga.test", RecordType::A, many_a());
    let (r, _) = resolve(two(&first, &second), "biga.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(r.addrs.len(), 100);
    assert_eq!(first.count_udp("biga.test", RecordType::A), 1);
    assert_eq!(second.count_tcp("biga.test", RecordType::A), 1);
}

#[test]
fn silent_tcp_after_truncation_times_out_and_fails_over() {
    let first = TestServer::start();
    let second = TestServer::start();
    first.on(
        "biga.test",
        RecordType::A,
        Reply::TcpOnly(Box::new(Reply::Drop)),
    );
    second.on("biga.test", RecordType::A, many_a());
    let (r, took) = resolve(two(&first, &second), "biga.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(r.addrs.len(), 100);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert_eq!(first.count_tcp("biga.test", RecordType::A), 1);
}

#[test]
fn a_malformed_tcp_frame_before_the_real_one_is_skipped() {
    let srv = TestServer::start();
    srv.on(
        "biga.test",
        RecordType::A,
        Reply::TcpOnly(Box::new(Reply::Many(vec![
            Reply::Cut(40, Box::new(many_a())),
            Reply::Raw(b"\x00\x01garbage".to_vec()),
            many_a(),
        ]))),
    );
    let (r, _) = resolve(cfg(&srv), "biga.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(r.addrs.len(), 100);
}

/// Starts a lookup of `biga.test` whose TCP answer comes 2 s late, then after
/// 50 ms cancels it or shuts the resolver down; returns the statuses the
/// callback saw and how long the loop ran.
fn interrupt_tcp(shutdown: bool) -> (Vec<Status>, Duration) {
    use evloop::{Loop, RunMode};
    use evloop_dns::resolver::ResolverExt;
    let srv = TestServer::start();
    srv.on(
        "biga.test",
        RecordType::A,
        Reply::TcpOnly(Box::new(Reply::Delay(
            Duration::from_secs(2),
            Box::new(many_a()),
        ))),
    );
    let mut lp: Loop<Vec<Status>> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let rid = ctx.new_resolver(cfg(&srv)).unwrap();
    let lid = ctx
        .resolver(rid)
        .unwrap()
        .lookup("biga.test", RecordType::A, |_, out, r| out.push(r.status));
    ctx.once_timer(Duration::from_millis(50), move |ctx, _, _| {
        let mut r = ctx.resolver(rid).unwrap();
        if shutdown {
            r.shutdown();
        } else {
            assert!(r.cancel(lid));
        }
    })
    .unwrap();
    let t0 = std::time::Instant::now();
    let mut out = Vec::new();
    lp.run(&mut out, RunMode::Default).unwrap();
    let took = t0.elapsed();
    assert_eq!(
        srv.count_tcp("biga.test", RecordType::A),
        1,
        "it was over TCP"
    );
    (out, took)
}

#[test]
fn cancel_during_the_tcp_retry_runs_no_callback() {
    let (out, took) = interrupt_tcp(false);
    assert!(out.is_empty(), "{out:?}");
    // The TCP connection went with the lookup: nothing kept the loop
    // running until the late answer.
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn shutdown_during_the_tcp_retry_ends_the_lookup_once() {
    let (out, _) = interrupt_tcp(true);
    assert_eq!(out, [Status::Shutdown]);
}
