//! Malformed replies (garbage, short, wrong counts, cut in the middle of
//! a record) never end a lookup early: the real answer after them is
//! taken, and with nothing else the lookup waits out its time.

mod common;

use std::time::Duration;

use common::{addrs, resolve, Reply, TestServer};
use evloop_dns::config::Config;
use evloop_dns::resolver::Status;
use evloop_dns::server::Action;
use hickory_proto::rr::RecordType;

const TIMEOUT: Duration = Duration::from_millis(300);

fn cfg(srv: &TestServer) -> Config {
    Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(TIMEOUT)
        .with_attempts(2)
}

fn real() -> Reply {
    Reply::Delay(
        Duration::from_millis(20),
        Box::new(Reply::a(&["10.0.0.1"], 60)),
    )
}

fn check(bad: Reply, what: &str) {
    let srv = TestServer::start();
    srv.on("m.test", RecordType::A, Reply::Many(vec![bad, real()]));
    let (r, _) = resolve(cfg(&srv), "m.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{what}: {r:?}");
    assert_eq!(addrs(&r), ["10.0.0.1"], "{what}");
    assert_eq!(srv.count("m.test", RecordType::A), 1, "{what}");
}

#[test]
fn garbage_is_ignored() {
    check(Reply::Raw(b"this is not dns at all".to_vec()), "garbage");
    check(Reply::Raw(Vec::new()), "an empty datagram");
    check(Reply::Raw(vec![0xff; 600]), "all ones");
}

#[test]
fn short_replies_are_ignored() {
    // Cut inside the header, inside the question, inside the answer.
    for n in [2, 11, 15, 30, 39] {
        check(
            Reply::Cut(n, Box::new(Reply::a(&["10.6.6.6"], 60))),
            &format!("cut at {n}"),
        );
    }
}

#[test]
fn wrong_counts_are_ignored() {
    let srv = TestServer::start();
    // The real answer's own bytes with ANCOUNT raised past the records
    // present, then the real answer.
    srv.on_fn("m.test", RecordType::A, |req, _| {
        let ip: std::net::Ipv4Addr = "10.6.6.6".parse().unwrap();
        let rec = hickory_proto::rr::Record::from_rdata(
            req.name().clone(),
            60,
            hickory_proto::rr::RData::A(ip.into()),
        );
        let Action::Answer(m) = req.answer([rec]) else {
            unreachable!()
        };
        let mut bytes = m.to_vec().unwrap();
        bytes[7] = 9; // ANCOUNT 9, one present
        let good: std::net::Ipv4Addr = "10.0.0.1".parse().unwrap();
        let good = hickory_proto::rr::Record::from_rdata(
            req.name().clone(),
            60,
            hickory_proto::rr::RData::A(good.into()),
        );
        Action::Many(vec![
            Action::Raw(bytes),
            Action::Delay(Duration::from_millis(20), Box::new(req.answer([good]))),
        ])
    });
    let (r, _) = resolve(cfg(&srv), "m.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), ["10.0.0.1"]);
}

#[test]
fn only_malformed_replies_do_not_end_the_lookup_early() {
    let srv = TestServer::start();
    srv.on(
        "m.test",
        RecordType::A,
        Reply::Cut(20, Box::new(Reply::a(&["10.6.6.6"], 60))),
    );
    let c = cfg(&srv);
    let bound = c.timeout * c.attempts;
    let (r, took) = resolve(c, "m.test", RecordType::A);
    assert!(
        matches!(r.status, Status::Timeout | Status::Error(_)),
        "{r:?}"
    );
    assert!(r.addrs.is_empty());
    assert!(took >= bound, "waited its whole time: {took:?}");
    assert_eq!(srv.count("m.test", RecordType::A), 2, "every attempt sent");
}

/// Cut after the answer record, before the OPT record that ARCOUNT still
/// announces: the answer looks complete, but the message is malformed
/// (c-ares rejects it as EBADRESP) and must not end the lookup.
#[test]
fn reply_missing_its_announced_additional_record_is_malformed() {
    // header 12 + question 12 + answer 16 = 40; the OPT record is cut.
    check(
        Reply::Cut(40, Box::new(Reply::a(&["10.6.6.6"], 60))),
        "cut before the OPT record",
    );
}
