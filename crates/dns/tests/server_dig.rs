//! The server side against a real client: dig over UDP and TCP, and
//! truncation as dig sees it.

mod common;

use common::{dig, have_dig, Reply, TestServer};
use evloop_dns::server::Transport;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

#[test]
fn dig_gets_an_a_record_over_udp() {
    if !have_dig("dig_gets_an_a_record_over_udp") {
        return;
    }
    let srv = TestServer::start();
    srv.on("host.test", RecordType::A, Reply::a(&["10.1.2.3"], 300));
    let out = dig(srv.addr(), &["host.test", "A", "+noall", "+answer"]);
    assert!(out.contains("10.1.2.3"), "dig said: {out}");
    assert!(out.contains("300"), "TTL shown: {out}");
    assert_eq!(srv.count_udp("host.test", RecordType::A), 1);
    assert_eq!(srv.count_tcp("host.test", RecordType::A), 0);
}

#[test]
fn dig_over_tcp() {
    if !have_dig("dig_over_tcp") {
        return;
    }
    let srv = TestServer::start();
    srv.on(
        "t.test",
        RecordType::TXT,
        Reply::txt(&["hello", " world"], 60),
    );
    let out = dig(srv.addr(), &["+tcp", "t.test", "TXT", "+noall", "+answer"]);
    assert!(out.contains("\"hello\" \" world\""), "dig said: {out}");
    assert_eq!(srv.count_tcp("t.test", RecordType::TXT), 1);
    assert_eq!(srv.count_udp("t.test", RecordType::TXT), 0);
}

#[test]
fn dig_sees_rcodes() {
    if !have_dig("dig_sees_rcodes") {
        return;
    }
    let srv = TestServer::start();
    srv.on(
        "sf.test",
        RecordType::A,
        Reply::Rcode(ResponseCode::ServFail),
    );
    srv.on(
        "nx.test",
        RecordType::A,
        Reply::NxDomain {
            soa_ttl: 60,
            minimum: 30,
        },
    );
    // Unscripted names are refused by the helper.
    let out = dig(srv.addr(), &["sf.test"]);
    assert!(out.contains("status: SERVFAIL"), "{out}");
    let out = dig(srv.addr(), &["nx.test"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(out.contains("SOA"), "SOA in authority: {out}");
    let out = dig(srv.addr(), &["other.test"]);
    assert!(out.contains("status: REFUSED"), "{out}");
}

/// 40 A records do not fit in 512 bytes: without EDNS, UDP answers carry
/// TC and no records (`+ignore` shows them as they came); dig's default
/// retries over TCP and gets them all.
#[test]
fn truncation_seen_by_dig_and_tcp_retry() {
    if !have_dig("truncation_seen_by_dig_and_tcp_retry") {
        return;
    }
    let srv = TestServer::start();
    let addrs: Vec<String> = (0..40).map(|i| format!("10.9.0.{i}")).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    srv.on("many.test", RecordType::A, Reply::a(&refs, 60));

    let out = dig(srv.addr(), &["+noedns", "+ignore", "many.test"]);
    assert!(out.contains(" tc"), "TC flag shown: {out}");
    assert!(out.contains("ANSWER: 0"), "{out}");

    let out = dig(srv.addr(), &["+noedns", "many.test", "+noall", "+answer"]);
    assert_eq!(
        out.lines().filter(|l| l.contains("10.9.0.")).count(),
        40,
        "{out}"
    );
    assert!(srv.count_tcp("many.test", RecordType::A) >= 1);

    // With a 4096-byte EDNS payload the server's own 1232 limit does not
    // apply to the client's side: 40 records (about 700 bytes) fit.
    srv.reset_counts();
    let out = dig(srv.addr(), &["+bufsize=4096", "+ignore", "many.test"]);
    assert!(!out.contains(" tc"), "{out}");
    assert!(out.contains("ANSWER: 40"), "{out}");
    let seen = srv.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].transport, Transport::Udp);
    assert_eq!(seen[0].edns, Some(4096));
}

#[test]
fn dig_keeps_the_case_of_the_question() {
    if !have_dig("dig_keeps_the_case_of_the_question") {
        return;
    }
    let srv = TestServer::start();
    srv.on("mixed.test", RecordType::A, Reply::a(&["10.0.0.9"], 5));
    let out = dig(
        srv.addr(),
        &["MiXeD.TeSt", "+noall", "+answer", "+question"],
    );
    assert!(out.contains("MiXeD.TeSt."), "{out}");
    assert!(srv.seen()[0].name == "MiXeD.TeSt.");
}
