//! NXDOMAIN vs NODATA and their negative caching (counted at the
//! server), and CNAME chains and loops.

mod common;

use std::time::Duration;

use common::{a_rec, addrs, cname_rec, resolve, resolve_seq, Reply, TestServer};
use evloop_dns::config::Config;
use evloop_dns::resolver::Status;
use hickory_proto::rr::RecordType;

fn cfg(srv: &TestServer) -> Config {
    Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(Duration::from_secs(2))
}

#[test]
fn nxdomain_is_cached_for_the_soa_negative_ttl() {
    let srv = TestServer::start();
    srv.on(
        "nope.test",
        RecordType::A,
        Reply::NxDomain {
            soa_ttl: 300,
            minimum: 60,
        },
    );
    let q = ("nope.test", RecordType::A);
    let out = resolve_seq(cfg(&srv), &[q, q]);
    assert_eq!(out[0].0.status, Status::NxDomain);
    assert_eq!(out[0].0.ttl, Some(60), "min(SOA TTL, minimum)");
    assert_eq!(out[1].0.status, Status::NxDomain);
    assert_eq!(
        srv.count("nope.test", RecordType::A),
        1,
        "the second sent nothing"
    );
}

#[test]
fn nodata_is_distinct_and_cached_per_type() {
    let srv = TestServer::start();
    srv.on("v4only.test", RecordType::A, Reply::a(&["10.0.0.1"], 60));
    srv.on(
        "v4only.test",
        RecordType::AAAA,
        Reply::NoData {
            soa_ttl: 30,
            minimum: 120,
        },
    );
    let out = resolve_seq(
        cfg(&srv),
        &[
            ("v4only.test", RecordType::AAAA),
            ("v4only.test", RecordType::AAAA),
            ("v4only.test", RecordType::A),
        ],
    );
    assert_eq!(out[0].0.status, Status::NoData);
    assert_eq!(out[0].0.ttl, Some(30));
    assert_eq!(out[1].0.status, Status::NoData);
    assert_eq!(out[2].0.status, Status::NoError, "the A entry is separate");
    assert_eq!(srv.count("v4only.test", RecordType::AAAA), 1);
    assert_eq!(srv.count("v4only.test", RecordType::A), 1);
}

#[test]
fn negative_answers_without_soa_or_with_zero_ttl_are_not_cached() {
    let srv = TestServer::start();
    srv.on(
        "zero.test",
        RecordType::A,
        Reply::NxDomain {
            soa_ttl: 300,
            minimum: 0,
        },
    );
    srv.on(
        "bare.test",
        RecordType::A,
        Reply::Rcode(hickory_proto::op::ResponseCode::NXDomain),
    );
    let out = resolve_seq(
        cfg(&srv),
        &[
            ("zero.test", RecordType::A),
            ("zero.test", RecordType::A),
            ("bare.test", RecordType::A),
            ("bare.test", RecordType::A),
        ],
    );
    assert!(out.iter().all(|(r, _)| r.status == Status::NxDomain));
    assert_eq!(srv.count("zero.test", RecordType::A), 2);
    assert_eq!(srv.count("bare.test", RecordType::A), 2);
}

#[test]
fn cname_chain_in_one_answer() {
    let srv = TestServer::start();
    srv.on(
        "www.test",
        RecordType::A,
        Reply::Answer(vec![
            cname_rec("www.test", 300, "edge.test"),
            cname_rec("edge.test", 40, "host.test"),
            a_rec("host.test", 200, "10.0.0.7"),
        ]),
    );
    let (r, _) = resolve(cfg(&srv), "www.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), ["10.0.0.7"]);
    assert_eq!(r.canonical.as_ref().unwrap().to_ascii(), "host.test.");
    assert_eq!(r.ttl, Some(40), "the smallest TTL along the chain");
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
    let (r, took) = resolve(cfg(&srv), "loop1.test", RecordType::A);
    assert!(matches!(r.status, Status::Error(_)), "{r:?}");
    assert!(r.addrs.is_empty());
    assert!(
        took < Duration::from_secs(2),
        "no wait for a timeout: {took:?}"
    );
}

#[test]
fn cname_loop_across_queries_is_an_error() {
    let srv = TestServer::start();
    // Each answer has only the CNAME: the resolver chases the target,
    // which points back.
    srv.on("ping.test", RecordType::A, Reply::cname("pong.test", 60));
    srv.on("pong.test", RecordType::A, Reply::cname("ping.test", 60));
    let (r, _) = resolve(cfg(&srv), "ping.test", RecordType::A);
    assert!(matches!(r.status, Status::Error(_)), "{r:?}");
    // Bounded: a few queries, not an endless chase.
    let asked = srv.count("ping.test", RecordType::A) + srv.count("pong.test", RecordType::A);
    assert!((2..=20).contains(&asked), "{asked} queries");
}

#[test]
fn cname_chain_across_queries_is_followed() {
    let srv = TestServer::start();
    srv.on("alias.test", RecordType::A, Reply::cname("n1.test", 60));
    srv.on("n1.test", RecordType::A, Reply::a(&["10.0.0.1"], 30));
    let (r, _) = resolve(cfg(&srv), "alias.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), ["10.0.0.1"]);
    assert_eq!(r.canonical.as_ref().unwrap().to_ascii(), "n1.test.");
}

#[test]
fn nxdomain_at_the_end_of_a_cname_is_nxdomain() {
    // RFC 6604: the rcode speaks for the last name of the chain.
    let srv = TestServer::start();
    srv.on_fn("old.test", RecordType::A, |req, _| {
        let mut m = req.reply_with(hickory_proto::op::ResponseCode::NXDomain);
        m.set_authoritative(true);
        m.add_answer(cname_rec("old.test", 60, "gone.test"));
        evloop_dns::server::Action::Answer(m)
    });
    let (r, _) = resolve(cfg(&srv), "old.test", RecordType::A);
    assert_eq!(r.status, Status::NxDomain, "{r:?}");
    assert!(r.addrs.is_empty());
}

#[test]
fn nodata_behind_a_cname_is_cached() {
    let srv = TestServer::start();
    srv.on(
        "www6.test",
        RecordType::AAAA,
        Reply::AnswerAuth(
            vec![cname_rec("www6.test", 300, "host6.test")],
            vec![common::rec(
                "test",
                300,
                hickory_proto::rr::RData::SOA(hickory_proto::rr::rdata::SOA::new(
                    common::name("ns.test"),
                    common::name("hostmaster.test"),
                    1,
                    3600,
                    600,
                    86400,
                    120,
                )),
            )],
        ),
    );
    let q = ("www6.test", RecordType::AAAA);
    let out = resolve_seq(cfg(&srv), &[q, q]);
    assert_eq!(out[0].0.status, Status::NoData, "{:?}", out[0].0);
    assert_eq!(out[1].0.status, Status::NoData);
    assert_eq!(srv.count("www6.test", RecordType::AAAA), 1, "cached");
}

#[test]
fn zero_ttl_answers_are_not_cached_and_positive_ones_are() {
    let srv = TestServer::start();
    srv.on("zero.test", RecordType::A, Reply::a(&["10.0.0.1"], 0));
    srv.on("kept.test", RecordType::A, Reply::a(&["10.0.0.2"], 300));
    let out = resolve_seq(
        cfg(&srv),
        &[
            ("zero.test", RecordType::A),
            ("zero.test", RecordType::A),
            ("kept.test", RecordType::A),
            ("kept.test", RecordType::A),
        ],
    );
    assert!(out.iter().all(|(r, _)| r.status == Status::NoError));
    assert_eq!(srv.count("zero.test", RecordType::A), 2);
    assert_eq!(srv.count("kept.test", RecordType::A), 1);
    assert_eq!(out[3].0.source, evloop_dns::resolver::Source::Cache);
    assert!(out[3].0.ttl.unwrap() <= 300);
}
