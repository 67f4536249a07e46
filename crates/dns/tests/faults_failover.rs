//! Failover to a second server on SERVFAIL, REFUSED, NOTIMP and silence;
//! a dead server skipped by later lookups; every server failing; FORMERR
//! without OPT retried without EDNS.

mod common;

use std::time::Duration;

use common::{addrs, resolve, resolve_seq, Reply, TestServer};
use evloop_dns::config::Config;
use evloop_dns::resolver::Status;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const TIMEOUT: Duration = Duration::from_millis(300);

/// For waits that must not happen: long enough that a busy machine
/// cannot get near it when nothing times out.
const SLOW: Duration = Duration::from_secs(2);

fn two(first: &TestServer, second: &TestServer) -> Config {
    two_with(first, second, TIMEOUT)
}

fn two_with(first: &TestServer, second: &TestServer, timeout: Duration) -> Config {
    Config::default()
        .with_nameserver(first.addr())
        .with_nameserver(second.addr())
        .with_timeout(timeout)
        .with_attempts(2)
}

fn fails_over_on(bad: Reply, what: &str) {
    let first = TestServer::start();
    let second = TestServer::start();
    first.on("fo.test", RecordType::A, bad);
    second.on("fo.test", RecordType::A, Reply::a(&["10.0.0.2"], 60));
    let (r, took) = resolve(two_with(&first, &second, SLOW), "fo.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{what}: {r:?}");
    assert_eq!(addrs(&r), ["10.0.0.2"], "{what}");
    assert_eq!(first.count("fo.test", RecordType::A), 1, "{what}");
    assert_eq!(second.count("fo.test", RecordType::A), 1, "{what}");
    assert!(took < SLOW, "{what}: an rcode moves on at once ({took:?})");
}

#[test]
fn servfail_moves_to_the_next_server() {
    fails_over_on(Reply::Rcode(ResponseCode::ServFail), "SERVFAIL");
}

#[test]
fn refused_moves_to_the_next_server() {
    fails_over_on(Reply::Refuse, "REFUSED");
}

#[test]
fn notimp_moves_to_the_next_server() {
    fails_over_on(Reply::Rcode(ResponseCode::NotImp), "NOTIMP");
}

#[test]
fn silence_moves_to_the_next_server_after_the_timeout() {
    let first = TestServer::start();
    let second = TestServer::start();
    first.on("quiet.test", RecordType::A, Reply::Drop);
    second.on("quiet.test", RecordType::A, Reply::a(&["10.0.0.3"], 60));
    let (r, took) = resolve(two(&first, &second), "quiet.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), ["10.0.0.3"]);
    assert!(took >= TIMEOUT, "{took:?}");
    assert_eq!(first.count("quiet.test", RecordType::A), 1);
}

#[test]
fn a_dead_server_is_skipped_by_later_lookups() {
    let dead = TestServer::start();
    let live = TestServer::start();
    dead.otherwise(Reply::Drop);
    live.otherwise(Reply::a(&["10.0.0.4"], 60));
    let timeout = Duration::from_millis(800);
    let cfg = two_with(&dead, &live, timeout);
    let out = resolve_seq(
        cfg,
        &[
            ("one.test", RecordType::A),
            ("two.test", RecordType::A),
            ("three.test", RecordType::A),
        ],
    );
    assert_eq!(out.len(), 3);
    for (r, _) in &out {
        assert_eq!(r.status, Status::NoError, "{r:?}");
    }
    assert!(
        out[0].1 >= timeout,
        "the first lookup found out: {:?}",
        out[0].1
    );
    // Later lookups go to the live server first, without waiting.
    assert_eq!(dead.count("two.test", RecordType::A), 0);
    assert_eq!(dead.count("three.test", RecordType::A), 0);
    assert!(out[1].1 < timeout, "{:?}", out[1].1);
    assert_eq!(live.count("two.test", RecordType::A), 1);
}

#[test]
fn every_server_failing_reports_the_rcode() {
    for (rc, status) in [
        (ResponseCode::ServFail, Status::ServFail),
        (ResponseCode::Refused, Status::Refused),
        (ResponseCode::NotImp, Status::NotImp),
    ] {
        let first = TestServer::start();
        let second = TestServer::start();
        first.on("bad.test", RecordType::A, Reply::Rcode(rc));
        second.on("bad.test", RecordType::A, Reply::Rcode(rc));
        let (r, _) = resolve(two(&first, &second), "bad.test", RecordType::A);
        assert_eq!(r.status, status);
        assert!(first.count("bad.test", RecordType::A) >= 1);
        assert!(second.count("bad.test", RecordType::A) >= 1);
    }
}

#[test]
fn every_server_silent_is_a_timeout_within_the_bound() {
    let first = TestServer::start();
    let second = TestServer::start();
    first.on("void.test", RecordType::A, Reply::Drop);
    second.on("void.test", RecordType::A, Reply::Drop);
    let cfg = two(&first, &second);
    let (r, took) = resolve(cfg, "void.test", RecordType::A);
    assert_eq!(r.status, Status::Timeout);
    // timeout x attempts x servers, with slack for a busy machine.
    assert!(took >= TIMEOUT * 4, "{took:?}");
    assert!(took < TIMEOUT * 4 + Duration::from_secs(3), "{took:?}");
    assert_eq!(first.count("void.test", RecordType::A), 2);
    assert_eq!(second.count("void.test", RecordType::A), 2);
}

#[test]
fn formerr_without_opt_is_retried_without_edns() {
    let srv = TestServer::start();
    srv.on(
        "old.test",
        RecordType::A,
        Reply::NoEdns(Box::new(Reply::a(&["10.0.0.5"], 60))),
    );
    let cfg = Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(SLOW);
    let (r, took) = resolve(cfg, "old.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), ["10.0.0.5"]);
    let seen = srv.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].edns.is_some());
    assert_eq!(seen[1].edns, None);
    assert!(took < SLOW, "retried at once: {took:?}");
}

#[test]
fn a_dead_server_is_probed_again_after_the_retry_delay() {
    let first = TestServer::start();
    let second = TestServer::start();
    // The first server is silent once, then recovers.
    first.on_seq("one.test", RecordType::A, vec![Reply::Drop]);
    first.otherwise(Reply::a(&["10.0.0.1"], 60));
    second.otherwise(Reply::a(&["10.0.0.2"], 60));
    let mut cfg = two(&first, &second);
    let retry = Duration::from_millis(400);
    cfg.server_retry_delay = retry;
    let out = common::resolve_plan(
        cfg,
        &[
            (Duration::ZERO, "one.test", RecordType::A),
            (Duration::ZERO, "two.test", RecordType::A),
            (
                retry + Duration::from_millis(50),
                "three.test",
                RecordType::A,
            ),
            (Duration::ZERO, "four.test", RecordType::A),
        ],
    );
    let got: Vec<Vec<String>> = out.iter().map(|(r, _)| addrs(r)).collect();
    assert_eq!(got[0], ["10.0.0.2"], "failed over");
    assert_eq!(got[1], ["10.0.0.2"], "the dead server skipped");
    assert_eq!(first.count("two.test", RecordType::A), 0);
    // After the delay a real query probes the first server again; it
    // answers, and is first in line once more.
    assert_eq!(first.count("three.test", RecordType::A), 1, "probed");
    assert_eq!(got[3], ["10.0.0.1"], "back in use");
}

#[test]
fn nxdomain_is_an_answer_not_a_failure() {
    let first = TestServer::start();
    let second = TestServer::start();
    first.on(
        "gone.test",
        RecordType::A,
        Reply::NxDomain {
            soa_ttl: 60,
            minimum: 60,
        },
    );
    second.on("gone.test", RecordType::A, Reply::a(&["10.6.6.6"], 60));
    let (r, _) = resolve(two(&first, &second), "gone.test", RecordType::A);
    assert_eq!(r.status, Status::NxDomain);
    assert_eq!(second.count("gone.test", RecordType::A), 0, "no failover");
}

#[test]
fn formerr_with_opt_is_not_an_edns_problem() {
    // The server understood EDNS (its FORMERR carries an OPT record): no
    // retry without EDNS; the rcode counts as that server's failure.
    let srv = TestServer::start();
    srv.on(
        "fe.test",
        RecordType::A,
        Reply::Rcode(ResponseCode::FormErr),
    );
    let cfg = Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(TIMEOUT);
    let (r, _) = resolve(cfg, "fe.test", RecordType::A);
    assert_eq!(r.status, Status::FormErr, "{r:?}");
    assert!(
        srv.seen().iter().all(|s| s.edns.is_some()),
        "never asked without EDNS: {:?}",
        srv.seen()
    );
}

#[test]
fn duplicate_answers_run_the_callback_once() {
    let srv = TestServer::start();
    srv.on(
        "dup.test",
        RecordType::A,
        Reply::Many(vec![
            Reply::a(&["10.0.0.1"], 60),
            Reply::a(&["10.0.0.1"], 60),
        ]),
    );
    let cfg = Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(TIMEOUT);
    // `resolve` checks that the callback ran exactly once.
    let (r, _) = resolve(cfg, "dup.test", RecordType::A);
    assert_eq!(addrs(&r), ["10.0.0.1"]);
}
