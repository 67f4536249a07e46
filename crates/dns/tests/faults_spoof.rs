//! Spoofed replies before the real one: wrong id, wrong source port,
//! wrong source address, wrong question (name, type, class), a 0x20 case
//! mismatch. Each is dropped and the lookup still gets the right answer;
//! with only spoofs it never accepts one.

mod common;

use std::time::Duration;

use common::{addrs, have_127_0_0_2, resolve, Reply, TestServer};
use evloop_dns::config::Config;
use evloop_dns::resolver::{Source, Status};
use hickory_proto::rr::RecordType;

const REAL: &str = "10.0.0.1";
const FAKE: &str = "10.6.6.6";

fn cfg(srv: &TestServer) -> Config {
    Config::default()
        .with_nameserver(srv.addr())
        .with_timeout(Duration::from_millis(400))
        .with_attempts(2)
}

/// The spoof first, then the real answer a little later.
fn spoof_then_real(spoof: Reply) -> Reply {
    Reply::Many(vec![
        spoof,
        Reply::Delay(Duration::from_millis(20), Box::new(Reply::a(&[REAL], 60))),
    ])
}

fn fake() -> Box<Reply> {
    Box::new(Reply::a(&[FAKE], 60))
}

fn check_dropped(spoof: Reply, what: &str) {
    let srv = TestServer::start();
    srv.on("victim.test", RecordType::A, spoof_then_real(spoof));
    let (r, _) = resolve(cfg(&srv), "victim.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{what}");
    assert_eq!(addrs(&r), [REAL], "{what}: the spoof was accepted");
    assert_eq!(r.source, Source::Network);
    assert_eq!(
        srv.count("victim.test", RecordType::A),
        1,
        "{what}: one query sufficed"
    );
}

#[test]
fn wrong_id_is_dropped() {
    check_dropped(Reply::WrongId(fake()), "wrong id");
}

#[test]
fn wrong_source_port_is_dropped() {
    check_dropped(Reply::FromOtherPort(fake()), "wrong source port");
}

#[test]
fn wrong_source_address_is_dropped() {
    if !have_127_0_0_2() {
        eprintln!("SKIP wrong_source_address_is_dropped: cannot bind 127.0.0.2");
        return;
    }
    check_dropped(Reply::FromOtherAddr(fake()), "wrong source address");
}

#[test]
fn wrong_question_name_is_dropped() {
    check_dropped(
        Reply::WrongName("other.test".into(), fake()),
        "wrong question name",
    );
}

#[test]
fn wrong_question_type_is_dropped() {
    check_dropped(
        Reply::WrongType(RecordType::AAAA, fake()),
        "wrong question type",
    );
}

#[test]
fn wrong_question_class_is_dropped() {
    check_dropped(Reply::WrongClass(fake()), "wrong question class");
}

#[test]
fn several_spoofs_in_a_row_are_all_dropped() {
    check_dropped(
        Reply::Many(vec![
            Reply::WrongId(fake()),
            Reply::WrongName("victim.test.evil".into(), fake()),
            Reply::FromOtherPort(fake()),
            Reply::WrongType(RecordType::TXT, fake()),
        ]),
        "a burst of spoofs",
    );
}

#[test]
fn only_spoofs_time_out() {
    let srv = TestServer::start();
    srv.on("victim.test", RecordType::A, Reply::WrongId(fake()));
    let c = cfg(&srv);
    let bound = c.timeout * c.attempts;
    let (r, took) = resolve(c, "victim.test", RecordType::A);
    assert_eq!(r.status, Status::Timeout, "{r:?}");
    assert!(r.addrs.is_empty());
    assert!(took >= bound, "{took:?}");
    assert_eq!(
        srv.count("victim.test", RecordType::A),
        2,
        "one per attempt"
    );
}

#[test]
fn case_mismatch_under_0x20_is_a_spoof_and_goes_to_tcp() {
    let srv = TestServer::start();
    // Over UDP the name comes back with its case flipped (a resolver that
    // does not echo the case, or a blind spoofer); over TCP correctly.
    srv.on_fn("mixedcase.test", RecordType::A, |req, _| {
        use evloop_dns::server::{Action, Transport};
        let ip: std::net::Ipv4Addr = REAL.parse().unwrap();
        let rec = hickory_proto::rr::Record::from_rdata(
            req.name().clone(),
            60,
            hickory_proto::rr::RData::A(ip.into()),
        );
        match req.transport() {
            Transport::Tcp => req.answer([rec]),
            Transport::Udp => {
                let mut m = req.reply();
                let flipped = common::flip_case(&req.name().to_ascii());
                let name = hickory_proto::rr::Name::from_ascii(&flipped).unwrap();
                m.queries_mut()[0].set_name(name.clone());
                let fake_ip: std::net::Ipv4Addr = FAKE.parse().unwrap();
                m.add_answer(hickory_proto::rr::Record::from_rdata(
                    name,
                    60,
                    hickory_proto::rr::RData::A(fake_ip.into()),
                ));
                Action::Answer(m)
            }
        }
    });
    let c = cfg(&srv).with_case_randomization(true);
    let (r, _) = resolve(c, "mixedcase.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), [REAL]);
    assert_eq!(srv.count_udp("mixedcase.test", RecordType::A), 1);
    assert_eq!(srv.count_tcp("mixedcase.test", RecordType::A), 1);
    // The UDP query's name had its case randomised (13 letters: all
    // lower-case has a 1 in 8192 chance).
    let udp = srv
        .seen()
        .into_iter()
        .find(|s| s.transport == evloop_dns::server::Transport::Udp)
        .unwrap();
    assert_ne!(udp.name, "mixedcase.test.", "case randomised");
}

#[test]
fn without_0x20_a_case_change_is_accepted() {
    // Names compare case-insensitively (RFC 4343) when 0x20 is off.
    let srv = TestServer::start();
    srv.on(
        "plain.test",
        RecordType::A,
        Reply::CaseFlipped(Box::new(Reply::a(&[REAL], 60))),
    );
    let (r, _) = resolve(cfg(&srv), "plain.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(srv.count_tcp("plain.test", RecordType::A), 0);
}

#[test]
fn an_echoed_query_is_not_a_reply() {
    // The query's own bytes (QR=0, same id and question) sent back.
    let srv = TestServer::start();
    srv.on_fn("victim.test", RecordType::A, |req, _| {
        use evloop_dns::server::Action;
        let ip: std::net::Ipv4Addr = REAL.parse().unwrap();
        let rec = hickory_proto::rr::Record::from_rdata(
            req.name().clone(),
            60,
            hickory_proto::rr::RData::A(ip.into()),
        );
        Action::Many(vec![
            Action::Raw(req.message().to_vec().unwrap()),
            Action::Delay(Duration::from_millis(20), Box::new(req.answer([rec]))),
        ])
    });
    let (r, _) = resolve(cfg(&srv), "victim.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), [REAL]);
}

#[test]
fn records_for_other_names_are_not_taken_as_the_answer() {
    // NOERROR, but the only record is for another name (not reached by a
    // CNAME): nothing for the name asked.
    let srv = TestServer::start();
    srv.on(
        "victim.test",
        RecordType::A,
        Reply::Answer(vec![common::a_rec("evil.test", 60, FAKE)]),
    );
    let (r, _) = resolve(cfg(&srv), "victim.test", RecordType::A);
    assert!(r.addrs.is_empty(), "{r:?}");
    assert_ne!(r.status, Status::NoError, "{r:?}");
}

#[test]
fn records_beside_a_cname_chain_are_not_taken() {
    let srv = TestServer::start();
    srv.on(
        "victim.test",
        RecordType::A,
        Reply::Answer(vec![
            common::a_rec("evil.test", 60, FAKE),
            common::cname_rec("victim.test", 60, "real.test"),
            common::a_rec("real.test", 60, REAL),
        ]),
    );
    let (r, _) = resolve(cfg(&srv), "victim.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), [REAL]);
}

/// An answer record whose class is not the question's (CH for an IN
/// query) is not an answer to it (c-ares skips records that are not
/// class IN).
#[test]
fn records_of_another_class_are_not_taken() {
    let srv = TestServer::start();
    let mut chaos = common::a_rec("victim.test", 60, FAKE);
    chaos.set_dns_class(hickory_proto::rr::DNSClass::CH);
    srv.on(
        "victim.test",
        RecordType::A,
        Reply::Answer(vec![chaos, common::a_rec("victim.test", 60, REAL)]),
    );
    let (r, _) = resolve(cfg(&srv), "victim.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), [REAL]);
}

#[test]
fn a_reply_without_its_question_is_dropped() {
    let srv = TestServer::start();
    srv.on_fn("victim.test", RecordType::A, |req, _| {
        use evloop_dns::server::Action;
        let rec = |ip: &str| {
            let ip: std::net::Ipv4Addr = ip.parse().unwrap();
            hickory_proto::rr::Record::from_rdata(
                req.name().clone(),
                60,
                hickory_proto::rr::RData::A(ip.into()),
            )
        };
        let mut bare = req.reply();
        bare.take_queries();
        bare.add_answer(rec(FAKE));
        Action::Many(vec![
            Action::Raw(bare.to_vec().unwrap()),
            Action::Delay(Duration::from_millis(20), Box::new(req.answer([rec(REAL)]))),
        ])
    });
    let (r, _) = resolve(cfg(&srv), "victim.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), [REAL]);
}

#[test]
fn records_of_other_types_are_not_listed() {
    let srv = TestServer::start();
    srv.on(
        "victim.test",
        RecordType::A,
        Reply::Answer(vec![
            common::rec(
                "victim.test",
                60,
                hickory_proto::rr::RData::AAAA(
                    "2001:db8::6".parse::<std::net::Ipv6Addr>().unwrap().into(),
                ),
            ),
            common::a_rec("victim.test", 60, REAL),
        ]),
    );
    let (r, _) = resolve(cfg(&srv), "victim.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), [REAL]);
    assert_eq!(r.records.len(), 1);
}

#[test]
fn under_0x20_only_the_question_must_echo_the_case() {
    // The question comes back exactly as sent, the answer's owner name in
    // lower case (as servers that compress against their zone data do).
    let srv = TestServer::start();
    srv.on_fn("owner.test", RecordType::A, |req, _| {
        let ip: std::net::Ipv4Addr = REAL.parse().unwrap();
        let owner = req.name().to_lowercase();
        req.answer([hickory_proto::rr::Record::from_rdata(
            owner,
            60,
            hickory_proto::rr::RData::A(ip.into()),
        )])
    });
    let c = cfg(&srv).with_case_randomization(true);
    let (r, _) = resolve(c, "owner.test", RecordType::A);
    assert_eq!(r.status, Status::NoError, "{r:?}");
    assert_eq!(addrs(&r), [REAL]);
    assert_eq!(
        srv.count_tcp("owner.test", RecordType::A),
        0,
        "no spoof suspected"
    );
}
