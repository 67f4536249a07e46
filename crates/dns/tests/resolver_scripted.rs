//! The resolver against a scripted server (the crate's own server side on
//! a thread): answers, negative answers and their caching, search lists,
//! hosts, truncation, EDNS, 0x20, CNAMEs, cancel and shutdown.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{a_rec, cname_rec, Reply, TestServer};
use evloop::{Ctx, Loop, RunMode};
use evloop_dns::config::{Config, Hosts};
use evloop_dns::resolver::{LookupResult, ResolverExt, ResolverId, Source, Status};
use evloop_dns::server::{ServerOptions, Transport};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

type Out = Vec<LookupResult>;

fn config(srv: &TestServer) -> Config {
    Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(Duration::from_millis(300))
        .with_attempts(2)
}

/// Runs a loop with one resolver until every lookup ended; `start` begins
/// them. Results in the order the callbacks ran.
fn run(cfg: Config, start: impl FnOnce(&mut Ctx<'_, Out>, ResolverId)) -> Out {
    let mut lp: Loop<Out> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let rid = ctx.new_resolver(cfg).unwrap();
    start(&mut ctx, rid);
    let mut out = Vec::new();
    lp.run(&mut out, RunMode::Default).unwrap();
    out
}

fn push(_: &mut Ctx<'_, Out>, out: &mut Out, r: LookupResult) {
    out.push(r);
}

fn one(cfg: Config, name: &str, t: RecordType) -> LookupResult {
    let name = name.to_string();
    let mut out = run(cfg, move |ctx, rid| {
        ctx.resolver(rid).unwrap().lookup(&name, t, push);
    });
    assert_eq!(out.len(), 1, "one callback");
    out.pop().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn a_answer_with_ttl_name_and_source() {
    let srv = TestServer::start();
    srv.on(
        "host.test",
        RecordType::A,
        Reply::a(&["10.0.0.1", "10.0.0.2"], 300),
    );
    let r = one(config(&srv), "host.test", RecordType::A);
    assert_eq!(r.status, Status::NoError);
    assert_eq!(r.addrs, [ip("10.0.0.1"), ip("10.0.0.2")]);
    assert_eq!(r.ttl, Some(300));
    assert_eq!(r.source, Source::Network);
    assert_eq!(r.name.unwrap().to_ascii(), "host.test.");
    assert!(r.canonical.is_none());
    // EDNS0 with the default payload was sent
    assert_eq!(srv.seen()[0].edns, Some(1232));
}

#[test]
fn txt_and_mx_records() {
    let srv = TestServer::start();
    srv.on(
        "t.test",
        RecordType::TXT,
        Reply::txt(&["hello ", "world"], 60),
    );
    srv.on("m.test", RecordType::MX, Reply::mx(10, "mail.test", 60));
    let r = one(config(&srv), "t.test", RecordType::TXT);
    let RData::TXT(t) = r.records[0].data() else {
        panic!("not TXT")
    };
    assert_eq!(t.to_string(), "hello world");
    let r = one(config(&srv), "m.test", RecordType::MX);
    let RData::MX(mx) = r.records[0].data() else {
        panic!("not MX")
    };
    assert_eq!(
        (mx.preference(), mx.exchange().to_ascii()),
        (10, "mail.test.".to_string())
    );
}

#[test]
fn cache_hit_sends_no_second_query_and_counts_ttl_down() {
    let srv = TestServer::start();
    srv.on("c.test", RecordType::A, Reply::a(&["10.1.1.1"], 120));
    let out = run(config(&srv), |ctx, rid| {
        ctx.resolver(rid)
            .unwrap()
            .lookup("c.test", RecordType::A, move |ctx, out: &mut Out, r| {
                out.push(r);
                ctx.resolver(rid)
                    .unwrap()
                    .lookup("C.TEST", RecordType::A, push);
            });
    });
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].status, Status::NoError);
    assert_eq!(out[1].source, Source::Cache);
    assert_eq!(out[1].addrs, [ip("10.1.1.1")]);
    assert!(out[1].ttl.unwrap() <= 120);
    assert_eq!(srv.count("c.test", RecordType::A), 1);
}

#[test]
fn cache_off_asks_again() {
    let srv = TestServer::start();
    srv.on("c.test", RecordType::A, Reply::a(&["10.1.1.1"], 120));
    let cfg = config(&srv).with_cache(false);
    one(cfg.clone(), "c.test", RecordType::A);
    let out = run(cfg, |ctx, rid| {
        ctx.resolver(rid)
            .unwrap()
            .lookup("c.test", RecordType::A, move |ctx, out: &mut Out, r| {
                out.push(r);
                ctx.resolver(rid)
                    .unwrap()
                    .lookup("c.test", RecordType::A, push);
            });
    });
    assert_eq!(out[1].source, Source::Network);
    assert_eq!(srv.count("c.test", RecordType::A), 3);
}

#[test]
fn nxdomain_and_nodata_are_distinct_and_cached_by_soa() {
    let srv = TestServer::start();
    srv.on(
        "gone.test",
        RecordType::A,
        Reply::NxDomain {
            soa_ttl: 600,
            minimum: 30,
        },
    );
    srv.on(
        "v4only.test",
        RecordType::AAAA,
        Reply::NoData {
            soa_ttl: 20,
            minimum: 900,
        },
    );
    srv.on(
        "nosoa.test",
        RecordType::A,
        Reply::Rcode(ResponseCode::NXDomain),
    );
    let out = run(config(&srv), |ctx, rid| {
        let mut r = ctx.resolver(rid).unwrap();
        r.lookup(
            "gone.test",
            RecordType::A,
            move |ctx, out: &mut Out, res| {
                out.push(res);
                let mut r = ctx.resolver(rid).unwrap();
                r.lookup("gone.test", RecordType::A, push);
                r.lookup(
                    "v4only.test",
                    RecordType::AAAA,
                    move |ctx, out: &mut Out, res| {
                        out.push(res);
                        let mut r = ctx.resolver(rid).unwrap();
                        r.lookup("v4only.test", RecordType::AAAA, push);
                        r.lookup(
                            "nosoa.test",
                            RecordType::A,
                            move |ctx, out: &mut Out, res| {
                                out.push(res);
                                ctx.resolver(rid).unwrap().lookup(
                                    "nosoa.test",
                                    RecordType::A,
                                    push,
                                );
                            },
                        );
                    },
                );
            },
        );
    });
    let st: Vec<_> = out
        .iter()
        .map(|r| (r.status.clone(), r.ttl, r.source))
        .collect();
    assert_eq!(
        st,
        [
            (Status::NxDomain, Some(30), Source::None),
            (Status::NxDomain, Some(30), Source::None),
            (Status::NoData, Some(20), Source::None),
            (Status::NoData, Some(20), Source::None),
            (Status::NxDomain, None, Source::None),
            (Status::NxDomain, None, Source::None),
        ]
    );
    assert_eq!(srv.count("gone.test", RecordType::A), 1, "NXDOMAIN cached");
    assert_eq!(
        srv.count("v4only.test", RecordType::AAAA),
        1,
        "NODATA cached"
    );
    assert_eq!(
        srv.count("nosoa.test", RecordType::A),
        2,
        "no SOA: not cached"
    );
    assert_eq!(
        srv.count("v4only.test", RecordType::A),
        0,
        "per-type entries"
    );
}

#[test]
fn identical_lookups_in_flight_share_one_query() {
    let srv = TestServer::start();
    srv.on(
        "s.test",
        RecordType::A,
        Reply::Delay(
            Duration::from_millis(30),
            Box::new(Reply::a(&["10.2.2.2"], 60)),
        ),
    );
    let out = run(config(&srv).with_cache(false), |ctx, rid| {
        let mut r = ctx.resolver(rid).unwrap();
        for _ in 0..5 {
            r.lookup("s.test", RecordType::A, push);
        }
    });
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|r| r.addrs == [ip("10.2.2.2")]));
    assert_eq!(srv.count("s.test", RecordType::A), 1);
}

#[test]
fn truncated_answer_is_asked_again_over_tcp() {
    let srv = TestServer::start();
    let many: Vec<String> = (0..100).map(|i| format!("10.254.0.{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    srv.on(
        "big.test",
        RecordType::A,
        Reply::TcpOnly(Box::new(Reply::a(&many, 300))),
    );
    let r = one(config(&srv), "big.test", RecordType::A);
    assert_eq!(r.status, Status::NoError);
    assert_eq!(r.addrs.len(), 100);
    assert_eq!(srv.count_udp("big.test", RecordType::A), 1);
    assert_eq!(srv.count_tcp("big.test", RecordType::A), 1);
}

#[test]
fn tcp_replies_split_into_single_bytes_are_reassembled() {
    let srv =
        TestServer::start_with(ServerOptions::new().tcp_write_chunks(1, Duration::from_millis(1)));
    srv.on(
        "split.test",
        RecordType::TXT,
        Reply::TcpOnly(Box::new(Reply::txt(&["x".repeat(200).as_str()], 60))),
    );
    let r = one(
        config(&srv).with_timeout(Duration::from_secs(3)),
        "split.test",
        RecordType::TXT,
    );
    assert_eq!(r.status, Status::NoError);
    let RData::TXT(t) = r.records[0].data() else {
        panic!()
    };
    assert_eq!(t.to_string().len(), 200);
}

#[test]
fn tcp_frames_merged_in_one_read_are_each_checked() {
    let srv = TestServer::start();
    // Over TCP: a frame with a wrong id, then the real answer, written
    // back to back (one read on the client side, usually).
    let real = Reply::a(&["10.3.3.3"], 60);
    let spoof = Reply::WrongId(Box::new(Reply::a(&["6.6.6.6"], 60)));
    srv.on(
        "merged.test",
        RecordType::A,
        Reply::TcpOnly(Box::new(Reply::Many(vec![spoof, real]))),
    );
    let r = one(config(&srv), "merged.test", RecordType::A);
    assert_eq!(r.addrs, [ip("10.3.3.3")]);
}

#[test]
fn formerr_without_opt_retries_without_edns() {
    let srv = TestServer::start();
    srv.on(
        "old.test",
        RecordType::A,
        Reply::NoEdns(Box::new(Reply::a(&["10.4.4.4"], 60))),
    );
    let r = one(config(&srv), "old.test", RecordType::A);
    assert_eq!(r.addrs, [ip("10.4.4.4")]);
    let edns: Vec<_> = srv.seen().iter().map(|s| s.edns).collect();
    assert_eq!(edns, [Some(1232), None]);
}

#[test]
fn edns_off_and_other_payload() {
    let srv = TestServer::start();
    srv.on("e.test", RecordType::A, Reply::a(&["10.4.4.5"], 60));
    one(config(&srv).with_edns(None), "e.test", RecordType::A);
    one(
        config(&srv).with_edns(Some(4000)).with_cache(false),
        "e.test",
        RecordType::A,
    );
    let edns: Vec<_> = srv.seen().iter().map(|s| s.edns).collect();
    assert_eq!(edns, [None, Some(4000)]);
}

#[test]
fn case_randomisation_is_sent_and_a_case_mismatch_goes_to_tcp() {
    let srv = TestServer::start();
    let long = "abcdefghijklmnopqrstuvwxyz.abcdefghijklmnopqrstuvwxyz.test";
    srv.on(long, RecordType::A, Reply::a(&["10.5.5.5"], 60));
    srv.on(
        "flip.abcdefghijklmnopqrstuvwxyz.test",
        RecordType::A,
        Reply::CaseFlipped(Box::new(Reply::a(&["10.5.5.6"], 60))),
    );
    let cfg = config(&srv).with_case_randomization(true);
    let r = one(cfg.clone(), long, RecordType::A);
    assert_eq!(r.addrs, [ip("10.5.5.5")]);
    let sent = &srv.seen()[0].name;
    assert!(sent.eq_ignore_ascii_case(&format!("{long}.")));
    assert_ne!(
        sent,
        &format!("{long}."),
        "52 letters, all lower case: not random"
    );
    // The flipped echo is a spoof under 0x20: asked again over TCP, where
    // the server's (flipped) answer is accepted.
    let r = one(cfg, "flip.abcdefghijklmnopqrstuvwxyz.test", RecordType::A);
    assert_eq!(r.addrs, [ip("10.5.5.6")]);
    assert_eq!(
        srv.count_tcp("flip.abcdefghijklmnopqrstuvwxyz.test", RecordType::A),
        1
    );
    // Without 0x20 the same flipped echo is fine over UDP.
    srv.reset_counts();
    let r = one(
        config(&srv),
        "flip.abcdefghijklmnopqrstuvwxyz.test",
        RecordType::A,
    );
    assert_eq!(r.addrs, [ip("10.5.5.6")]);
    assert_eq!(
        srv.count_tcp("flip.abcdefghijklmnopqrstuvwxyz.test", RecordType::A),
        0
    );
}

#[test]
fn cname_chain_in_answer_gives_canonical_name_and_min_ttl() {
    let srv = TestServer::start();
    srv.on(
        "www.test",
        RecordType::A,
        Reply::Answer(vec![
            cname_rec("www.test", 300, "web.test"),
            cname_rec("web.test", 50, "host.test"),
            a_rec("host.test", 100, "10.6.6.6"),
        ]),
    );
    let r = one(config(&srv), "www.test", RecordType::A);
    assert_eq!(r.status, Status::NoError);
    assert_eq!(r.addrs, [ip("10.6.6.6")]);
    assert_eq!(r.canonical.unwrap().to_ascii(), "host.test.");
    assert_eq!(r.ttl, Some(50));
}

#[test]
fn cname_loop_is_an_error() {
    let srv = TestServer::start();
    srv.on(
        "loop1.test",
        RecordType::A,
        Reply::Answer(vec![
            cname_rec("loop1.test", 60, "loop2.test"),
            cname_rec("loop2.test", 60, "loop1.test"),
        ]),
    );
    let r = one(config(&srv), "loop1.test", RecordType::A);
    assert!(
        matches!(&r.status, Status::Error(reason) if reason.contains("loop")),
        "{:?}",
        r.status
    );
}

#[test]
fn dangling_cname_is_chased_with_a_second_query() {
    let srv = TestServer::start();
    srv.on("alias.test", RecordType::A, Reply::cname("target.test", 60));
    srv.on("target.test", RecordType::A, Reply::a(&["10.7.7.7"], 30));
    let r = one(config(&srv), "alias.test", RecordType::A);
    assert_eq!(r.addrs, [ip("10.7.7.7")]);
    assert_eq!(r.canonical.unwrap().to_ascii(), "target.test.");
    assert_eq!(srv.count("target.test", RecordType::A), 1);
}

#[test]
fn search_list_and_ndots() {
    let srv = TestServer::start();
    srv.on(
        "db.a.test",
        RecordType::A,
        Reply::NxDomain {
            soa_ttl: 60,
            minimum: 60,
        },
    );
    srv.on("db.b.test", RecordType::A, Reply::a(&["10.8.8.8"], 60));
    srv.otherwise(Reply::NxDomain {
        soa_ttl: 60,
        minimum: 60,
    });
    let cfg = config(&srv).with_search("a.test").with_search("b.test");
    let r = one(cfg.clone(), "db", RecordType::A);
    assert_eq!(r.addrs, [ip("10.8.8.8")]);
    assert_eq!(r.name.unwrap().to_ascii(), "db.b.test.");
    let names: Vec<_> = srv.seen().iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["db.a.test.", "db.b.test."]);

    // A trailing dot: only the name itself.
    srv.reset_counts();
    let r = one(cfg.clone(), "db.", RecordType::A);
    assert_eq!(r.status, Status::NxDomain);
    let names: Vec<_> = srv.seen().iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["db."]);

    // ndots:1 and one dot: as given first, then the list.
    srv.reset_counts();
    let r = one(cfg.clone().with_cache(false), "x.y", RecordType::A);
    assert_eq!(r.status, Status::NxDomain);
    let names: Vec<_> = srv.seen().iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["x.y.", "x.y.a.test.", "x.y.b.test."]);

    // ndots:2: the list first, as given last.
    srv.reset_counts();
    one(cfg.with_ndots(2).with_cache(false), "x.y", RecordType::A);
    let names: Vec<_> = srv.seen().iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["x.y.a.test.", "x.y.b.test.", "x.y."]);
}

#[test]
fn nodata_on_a_candidate_wins_over_a_later_nxdomain() {
    let srv = TestServer::start();
    srv.on(
        "h.a.test",
        RecordType::A,
        Reply::NoData {
            soa_ttl: 60,
            minimum: 60,
        },
    );
    srv.otherwise(Reply::NxDomain {
        soa_ttl: 60,
        minimum: 60,
    });
    let r = one(config(&srv).with_search("a.test"), "h", RecordType::A);
    assert_eq!(r.status, Status::NoData);
    assert_eq!(srv.total(), 2);
}

#[test]
fn hosts_file_answers_first_and_literals_directly() {
    let srv = TestServer::start();
    srv.otherwise(Reply::a(&["10.9.9.9"], 60));
    let hosts = Hosts::parse("10.0.0.42 printer.lan printer\n::1 printer.lan\n");
    let cfg = config(&srv).with_hosts(hosts);
    let r = one(cfg.clone(), "printer.lan", RecordType::A);
    assert_eq!(
        (r.addrs.clone(), r.source),
        (vec![ip("10.0.0.42")], Source::Hosts)
    );
    let r = one(cfg.clone(), "PRINTER.LAN", RecordType::AAAA);
    assert_eq!(
        (r.addrs.clone(), r.source),
        (vec![ip("::1")], Source::Hosts)
    );
    let r = one(cfg.clone(), "192.0.2.9", RecordType::A);
    assert_eq!(
        (r.addrs.clone(), r.source),
        (vec![ip("192.0.2.9")], Source::Literal)
    );
    let r = one(cfg, "other.lan", RecordType::A);
    assert_eq!(r.source, Source::Network);
    assert_eq!(srv.total(), 1, "only other.lan went to the server");
}

#[test]
fn lookup_addr_asks_both_families_and_reports_partial_results() {
    let srv = TestServer::start();
    srv.on("dual.test", RecordType::A, Reply::a(&["10.10.0.1"], 60));
    srv.on(
        "dual.test",
        RecordType::AAAA,
        Reply::aaaa(&["2001:db8::2"], 30),
    );
    srv.on("half.test", RecordType::A, Reply::a(&["10.10.0.2"], 60));
    srv.on(
        "half.test",
        RecordType::AAAA,
        Reply::Rcode(ResponseCode::ServFail),
    );
    let out = run(config(&srv), |ctx, rid| {
        let mut r = ctx.resolver(rid).unwrap();
        r.lookup_addr("dual.test", push);
        r.lookup_addr("half.test", push);
    });
    let dual = out
        .iter()
        .find(|r| r.name.as_ref().unwrap().to_ascii() == "dual.test.")
        .unwrap();
    assert_eq!(dual.status, Status::NoError);
    let mut got = dual.addrs.clone();
    got.sort();
    assert_eq!(got, [ip("10.10.0.1"), ip("2001:db8::2")]);
    assert_eq!(dual.ttl, Some(30));
    let half = out
        .iter()
        .find(|r| r.name.as_ref().unwrap().to_ascii() == "half.test.")
        .unwrap();
    assert_eq!(half.status, Status::NoError);
    assert_eq!(half.addrs, [ip("10.10.0.2")]);
    assert_eq!(half.families, Some((Status::NoError, Status::ServFail)));
}

#[test]
fn reverse_lookup_asks_the_arpa_names() {
    let srv = TestServer::start();
    srv.on(
        "4.3.2.10.in-addr.arpa",
        RecordType::PTR,
        Reply::Answer(vec![common::rec(
            "4.3.2.10.in-addr.arpa",
            60,
            RData::PTR(hickory_proto::rr::rdata::PTR(common::name("h.test"))),
        )]),
    );
    srv.otherwise(Reply::NxDomain {
        soa_ttl: 60,
        minimum: 60,
    });
    let out = run(config(&srv), |ctx, rid| {
        let mut r = ctx.resolver(rid).unwrap();
        r.reverse(ip("10.2.3.4"), push);
        r.reverse(ip("2001:db8::1"), push);
    });
    assert_eq!(out.len(), 2);
    let ok = out.iter().find(|r| r.status == Status::NoError).unwrap();
    assert_eq!(ok.records[0].data().to_string(), "h.test.");
    let names: Vec<_> = srv.seen().iter().map(|s| s.name.clone()).collect();
    assert!(names.contains(
        &"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.".to_string()
    ));
}

#[test]
fn silence_times_out_after_attempts() {
    let srv = TestServer::start();
    srv.on("quiet.test", RecordType::A, Reply::Drop);
    let t0 = Instant::now();
    let r = one(
        config(&srv)
            .with_timeout(Duration::from_millis(100))
            .with_attempts(3),
        "quiet.test",
        RecordType::A,
    );
    assert_eq!(r.status, Status::Timeout);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(srv.count("quiet.test", RecordType::A), 3);
}

#[test]
fn rcode_failures_are_reported_when_every_server_gave_them() {
    let srv = TestServer::start();
    srv.on(
        "sf.test",
        RecordType::A,
        Reply::Rcode(ResponseCode::ServFail),
    );
    srv.on("ni.test", RecordType::A, Reply::Rcode(ResponseCode::NotImp));
    srv.on("rf.test", RecordType::A, Reply::Refuse);
    srv.on(
        "fe.test",
        RecordType::A,
        Reply::Rcode(ResponseCode::FormErr),
    );
    let cfg = config(&srv).with_edns(None);
    assert_eq!(
        one(cfg.clone(), "sf.test", RecordType::A).status,
        Status::ServFail
    );
    assert_eq!(
        one(cfg.clone(), "ni.test", RecordType::A).status,
        Status::NotImp
    );
    assert_eq!(
        one(cfg.clone(), "rf.test", RecordType::A).status,
        Status::Refused
    );
    assert_eq!(one(cfg, "fe.test", RecordType::A).status, Status::FormErr);
    // one server: one query each (an rcode is an answer, not silence)
    assert_eq!(srv.count("sf.test", RecordType::A), 1);
}

#[test]
fn cancel_before_the_reply_drops_the_callback_and_the_late_reply() {
    let srv = TestServer::start();
    srv.on(
        "slow.test",
        RecordType::A,
        Reply::Delay(
            Duration::from_millis(40),
            Box::new(Reply::a(&["10.11.0.1"], 60)),
        ),
    );
    srv.on("fast.test", RecordType::A, Reply::a(&["10.11.0.2"], 60));
    let mut lp: Loop<(Out, usize)> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let rid = ctx.new_resolver(config(&srv)).unwrap();
    let mut r = ctx.resolver(rid).unwrap();
    let slow = r.lookup(
        "slow.test",
        RecordType::A,
        |_, out: &mut (Out, usize), res| out.0.push(res),
    );
    // cancelled at once, before it was sent
    let fast = r.lookup(
        "fast.test",
        RecordType::A,
        |_, out: &mut (Out, usize), res| out.0.push(res),
    );
    assert!(r.cancel(fast));
    assert!(!r.cancel(fast), "a second cancel finds nothing");
    ctx.once_timer(
        Duration::from_millis(10),
        move |ctx, out: &mut (Out, usize), _| {
            out.1 += usize::from(ctx.resolver(rid).unwrap().cancel(slow));
        },
    )
    .unwrap();
    // keep the loop alive past the slow reply
    ctx.once_timer(Duration::from_millis(120), |_, _, _| {})
        .unwrap();
    let mut out = (Vec::new(), 0);
    lp.run(&mut out, RunMode::Default).unwrap();
    assert!(out.0.is_empty(), "no callback of a cancelled lookup ran");
    assert_eq!(out.1, 1);
    // The query cancelled before the loop ran never left (sends go out
    // just before the loop polls); the slow one did, and its late reply
    // (after the loop above ran past it) was dropped.
    assert_eq!(srv.wait_total(1, Duration::from_secs(1)), 1);
    assert_eq!(srv.count("fast.test", RecordType::A), 0);
    let stats = lp.ctx().resolver(rid).unwrap().stats();
    assert_eq!(stats.pending, 0);
    assert_eq!(stats.inflight, 0);
    assert_eq!(stats.accepted, 0, "late replies were dropped");
}

#[test]
fn cancel_of_a_cached_answer_not_yet_delivered() {
    let srv = TestServer::start();
    let hosts = Hosts::parse("10.0.0.1 h.lan");
    let out = run(config(&srv).with_hosts(hosts), |ctx, rid| {
        let mut r = ctx.resolver(rid).unwrap();
        let id = r.lookup("h.lan", RecordType::A, push);
        assert!(r.cancel(id));
        r.lookup_addr("h.lan", push);
    });
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].addrs, [ip("10.0.0.1")]);
}

#[test]
fn shutdown_ends_every_pending_lookup_once() {
    let srv = TestServer::start();
    srv.otherwise(Reply::Drop);
    let mut lp: Loop<Out> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let rid = ctx
        .new_resolver(config(&srv).with_timeout(Duration::from_secs(5)))
        .unwrap();
    let mut r = ctx.resolver(rid).unwrap();
    for i in 0..5 {
        r.lookup(&format!("p{i}.test"), RecordType::A, push);
    }
    r.lookup_addr("both.test", push);
    r.lookup("p0.test", RecordType::A, push); // shares p0's query
    ctx.once_timer(Duration::from_millis(30), move |ctx, _, _| {
        let mut r = ctx.resolver(rid).unwrap();
        r.shutdown();
        assert!(r.is_shut_down());
        r.lookup("after.test", RecordType::A, push);
    })
    .unwrap();
    let t0 = Instant::now();
    let mut out = Vec::new();
    lp.run(&mut out, RunMode::Default).unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "did not wait for timeouts"
    );
    assert_eq!(out.len(), 8);
    assert!(
        out.iter().all(|r| r.status == Status::Shutdown),
        "{:?}",
        out.iter().map(|r| &r.status).collect::<Vec<_>>()
    );
    assert_eq!(srv.count("after.test", RecordType::A), 0);
}

#[test]
fn inflight_cap_queues_the_rest() {
    let srv = TestServer::start();
    srv.otherwise(Reply::Delay(
        Duration::from_millis(20),
        Box::new(Reply::a(&["10.12.0.1"], 60)),
    ));
    let mut lp: Loop<Out> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let rid = ctx.new_resolver(config(&srv).with_max_inflight(2)).unwrap();
    let mut r = ctx.resolver(rid).unwrap();
    for i in 0..6 {
        r.lookup(&format!("q{i}.test"), RecordType::A, push);
    }
    let s = r.stats();
    assert_eq!((s.inflight, s.queued, s.pending), (2, 4, 6));
    let mut out = Vec::new();
    lp.run(&mut out, RunMode::Default).unwrap();
    assert_eq!(out.len(), 6);
    assert!(out.iter().all(|r| r.status == Status::NoError));
}

#[test]
fn invalid_names_and_no_nameserver_are_errors() {
    let r = one(Config::default(), "host.test", RecordType::A);
    assert!(matches!(r.status, Status::Error(ref m) if m.contains("nameserver")));
    let long = "a".repeat(70);
    let r = one(
        Config::default().with_nameserver("127.0.0.1:9".parse().unwrap()),
        &long,
        RecordType::A,
    );
    assert!(
        matches!(r.status, Status::Error(ref m) if m.contains("invalid name")),
        "{:?}",
        r.status
    );
}

#[test]
fn udp_queries_use_random_ids_and_several_source_ports() {
    let srv = TestServer::start();
    srv.otherwise(Reply::a(&["10.13.0.1"], 60));
    let cfg = Config {
        udp_max_queries: 4,
        ..config(&srv).with_cache(false)
    };
    run(cfg, |ctx, rid| {
        let mut r = ctx.resolver(rid).unwrap();
        for i in 0..40 {
            r.lookup(&format!("r{i}.test"), RecordType::A, push);
        }
    });
    let seen = srv.seen();
    assert_eq!(seen.len(), 40);
    let mut ports: Vec<u16> = seen.iter().map(|s| s.peer.port()).collect();
    ports.sort();
    ports.dedup();
    assert!(
        ports.len() >= 10,
        "a new socket every 4 queries: {} ports",
        ports.len()
    );
    let mut ids: Vec<u16> = seen.iter().map(|s| s.id).collect();
    ids.sort();
    ids.dedup();
    assert!(ids.len() >= 38, "ids look random and distinct");
    assert!(seen.iter().all(|s| s.transport == Transport::Udp));
}

#[test]
fn rcode_failure_moves_to_the_next_server() {
    let bad = TestServer::start();
    let good = TestServer::start();
    bad.on(
        "f.test",
        RecordType::A,
        Reply::Rcode(ResponseCode::ServFail),
    );
    good.on("f.test", RecordType::A, Reply::a(&["10.14.0.1"], 60));
    let cfg = config(&bad).with_nameserver(good.addr());
    let r = one(cfg, "f.test", RecordType::A);
    assert_eq!(r.addrs, [ip("10.14.0.1")]);
    assert_eq!((bad.total(), good.total()), (1, 1));
}

#[test]
fn a_silent_server_is_skipped_until_its_retry_time() {
    let dead = TestServer::start();
    let live = TestServer::start();
    dead.otherwise(Reply::Drop);
    live.otherwise(Reply::a(&["10.15.0.1"], 60));
    let cfg = config(&dead)
        .with_nameserver(live.addr())
        .with_timeout(Duration::from_millis(100))
        .with_cache(false);
    let cfg = Config {
        server_retry_delay: Duration::from_secs(60),
        ..cfg
    };
    let out = run(cfg, |ctx, rid| {
        ctx.resolver(rid)
            .unwrap()
            .lookup("a.test", RecordType::A, move |ctx, out: &mut Out, r| {
                out.push(r);
                let mut res = ctx.resolver(rid).unwrap();
                res.lookup("b.test", RecordType::A, push);
                res.lookup("c.test", RecordType::A, push);
            });
    });
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|r| r.addrs == [ip("10.15.0.1")]));
    // the first lookup waited for the dead server once; the next ones went
    // straight to the live one
    assert_eq!(dead.total(), 1);
    assert_eq!(live.total(), 3);
}

#[test]
fn a_failed_server_is_probed_again_after_its_retry_delay() {
    let flaky = TestServer::start();
    let backup = TestServer::start();
    flaky.on_seq(
        "p.test",
        RecordType::A,
        vec![Reply::Drop, Reply::a(&["10.16.0.1"], 60)],
    );
    backup.otherwise(Reply::a(&["10.16.0.2"], 60));
    let cfg = Config {
        server_retry_delay: Duration::from_millis(50),
        ..config(&flaky)
            .with_nameserver(backup.addr())
            .with_timeout(Duration::from_millis(100))
            .with_cache(false)
    };
    let out = run(cfg, |ctx, rid| {
        ctx.resolver(rid)
            .unwrap()
            .lookup("p.test", RecordType::A, move |ctx, out: &mut Out, r| {
                out.push(r);
                ctx.once_timer(Duration::from_millis(80), move |ctx, _, _| {
                    ctx.resolver(rid)
                        .unwrap()
                        .lookup("p.test", RecordType::A, push);
                })
                .unwrap();
            });
    });
    assert_eq!(out[0].addrs, [ip("10.16.0.2")], "failed over to the backup");
    assert_eq!(
        out[1].addrs,
        [ip("10.16.0.1")],
        "the recovered server was probed"
    );
    assert_eq!(flaky.total(), 2);
}

#[test]
fn rotate_spreads_queries_over_servers() {
    let a = TestServer::start();
    let b = TestServer::start();
    a.otherwise(Reply::a(&["10.17.0.1"], 60));
    b.otherwise(Reply::a(&["10.17.0.1"], 60));
    let cfg = config(&a)
        .with_nameserver(b.addr())
        .with_rotate(true)
        .with_cache(false);
    run(cfg, |ctx, rid| {
        let mut r = ctx.resolver(rid).unwrap();
        for i in 0..10 {
            r.lookup(&format!("r{i}.test"), RecordType::A, push);
        }
    });
    assert_eq!((a.total(), b.total()), (5, 5));
}

#[test]
fn spoofed_replies_are_dropped_and_the_real_one_accepted() {
    let srv = TestServer::start();
    let real = || Box::new(Reply::a(&["10.18.0.1"], 60));
    srv.on(
        "spoof.test",
        RecordType::A,
        Reply::Many(vec![
            Reply::WrongId(Box::new(Reply::a(&["6.6.6.1"], 60))),
            Reply::WrongName("other.test".into(), Box::new(Reply::a(&["6.6.6.2"], 60))),
            Reply::WrongType(RecordType::AAAA, Box::new(Reply::a(&["6.6.6.3"], 60))),
            Reply::WrongClass(Box::new(Reply::a(&["6.6.6.4"], 60))),
            Reply::FromOtherPort(Box::new(Reply::a(&["6.6.6.5"], 60))),
            Reply::Delay(Duration::from_millis(20), real()),
        ]),
    );
    let mut lp: Loop<Out> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let rid = ctx.new_resolver(config(&srv)).unwrap();
    ctx.resolver(rid)
        .unwrap()
        .lookup("spoof.test", RecordType::A, push);
    let mut out = Vec::new();
    lp.run(&mut out, RunMode::Default).unwrap();
    assert_eq!(out[0].addrs, [ip("10.18.0.1")]);
    let stats = lp.ctx().resolver(rid).unwrap().stats();
    assert_eq!(stats.accepted, 1);
    assert!(stats.dropped >= 4, "{stats:?}");
}

#[test]
fn a_refusing_port_is_an_error_that_says_so_and_fails_over_at_once() {
    // nothing listens on this UDP port: the kernel answers ICMP unreachable
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let live = TestServer::start();
    live.otherwise(Reply::a(&["10.19.0.1"], 60));
    let slow = Duration::from_secs(5);
    let t0 = Instant::now();
    let cfg = Config::default()
        .with_nameserver(dead)
        .with_nameserver(live.addr())
        .with_timeout(slow);
    let r = one(cfg, "x.test", RecordType::A);
    assert_eq!(r.addrs, [ip("10.19.0.1")]);
    let cfg = Config::default().with_nameserver(dead).with_timeout(slow);
    let r = one(cfg, "x.test", RecordType::A);
    assert!(
        matches!(&r.status, Status::Error(m) if m.contains("refused")),
        "{:?}",
        r.status
    );
    assert!(t0.elapsed() < slow, "no timeout was waited for");
}

#[test]
fn case_randomised_answers_come_back_in_the_askers_spelling() {
    let srv = TestServer::start();
    srv.on(
        "www.example.test",
        RecordType::A,
        Reply::Answer(vec![
            cname_rec("www.example.test", 60, "host.example.test"),
            a_rec("host.example.test", 60, "10.20.0.1"),
        ]),
    );
    let cfg = config(&srv).with_case_randomization(true);
    let r = one(cfg, "www.Example.test", RecordType::A);
    assert_eq!(r.addrs, [ip("10.20.0.1")]);
    assert_eq!(r.name.unwrap().to_ascii(), "www.Example.test.");
    let canonical = r.canonical.unwrap().to_ascii();
    assert_eq!(canonical.to_ascii_lowercase(), "host.example.test.");
}

#[test]
fn an_oversized_udp_reply_is_taken_as_truncated() {
    let srv = TestServer::start();
    srv.on_fn("huge.test", RecordType::A, |req, _| {
        let recs: Vec<_> = (0..300u32)
            .map(|i| {
                let ip = std::net::Ipv4Addr::from(0x0a15_0000 + i);
                hickory_proto::rr::Record::from_rdata(req.name().clone(), 60, RData::A(ip.into()))
            })
            .collect();
        match req.transport() {
            // ~4.8 kB in one datagram, whatever payload the client announced
            Transport::Udp => {
                let mut m = req.reply();
                m.add_answers(recs);
                evloop_dns::server::Action::Raw(m.to_vec().unwrap())
            }
            Transport::Tcp => req.answer(recs),
        }
    });
    let r = one(config(&srv), "huge.test", RecordType::A);
    assert_eq!(r.status, Status::NoError);
    assert_eq!(r.addrs.len(), 300);
    assert_eq!(srv.count_tcp("huge.test", RecordType::A), 1);
}

/// 100 lookups at once are read in coalescing periods (64 or more in
/// flight); once they are done the resolver reads on readiness again: a
/// lone lookup started from the last callback is answered at once, not
/// after its timeout, and nothing was sent twice.
#[test]
fn after_a_coalesced_burst_a_lone_lookup_is_read_when_its_reply_comes() {
    let srv = TestServer::start();
    srv.otherwise(Reply::a(&["10.15.0.1"], 60));
    let cfg = config(&srv).with_cache(false);
    let out = run(cfg, |ctx, rid| {
        let mut r = ctx.resolver(rid).unwrap();
        for i in 0..100 {
            r.lookup(
                &format!("b{i}.test"),
                RecordType::A,
                move |ctx: &mut Ctx<'_, Out>, out: &mut Out, res: LookupResult| {
                    out.push(res);
                    if out.len() == 100 {
                        ctx.resolver(rid)
                            .unwrap()
                            .lookup("lone.test", RecordType::A, push);
                    }
                },
            );
        }
    });
    assert_eq!(out.len(), 101);
    let bad: Vec<_> = out
        .iter()
        .filter(|r| r.status != Status::NoError)
        .map(|r| (r.name.clone(), r.status.clone()))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(out[100].addrs, [ip("10.15.0.1")]);
    assert_eq!(srv.total(), 101, "no query waited for its timeout");
}
