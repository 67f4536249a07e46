//! Arbitrary reply bytes, over the network, into a live resolver: the
//! server first sends garbage carrying the query's id (and, in half the
//! cases, its question), then the real answer. Nothing panics, and the
//! garbage never ends the lookup: the real answer is what it gets.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;
use evloop::{Loop, RunMode};
use evloop_dns::config::Config;
use evloop_dns::resolver::{LookupResult, ResolverExt, Status};
use evloop_dns::server::Action;
use hickory_proto::rr::{RData, Record, RecordType};
use proptest::prelude::*;

/// The garbage tail to send, and whether the question is echoed first.
type Garbage = Arc<Mutex<(Vec<u8>, bool)>>;

fn setup() -> (TestServer, Garbage) {
    let srv = TestServer::start();
    let garbage = Arc::new(Mutex::new((Vec::new(), false)));
    let g = garbage.clone();
    srv.on_fn("fuzz.test", RecordType::A, move |req, _| {
        let (tail, with_question) = g.lock().unwrap().clone();
        let mut bad = req.message().to_vec().unwrap();
        if with_question {
            // claims more answers than any tail can hold: malformed for sure
            bad[6] = 0xff;
            bad[7] = 0xff;
        } else {
            bad.truncate(12);
        }
        bad[2] |= 0x80;
        bad.extend_from_slice(&tail);
        let rec = Record::from_rdata(
            req.name().clone(),
            60,
            RData::A(std::net::Ipv4Addr::new(10, 0, 0, 7).into()),
        );
        let good = req.answer([rec]);
        Action::Many(vec![Action::Raw(bad), good])
    });
    (srv, garbage)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn garbage_replies_do_not_end_the_lookup(tail in proptest::collection::vec(any::<u8>(), 0..300), with_question in any::<bool>()) {
        let (srv, garbage) = setup();
        *garbage.lock().unwrap() = (tail, with_question);
        let mut lp: Loop<Vec<LookupResult>> = Loop::new().unwrap();
        let mut ctx = lp.ctx();
        let cfg = Config::default().with_nameserver(srv.addr()).with_timeout(Duration::from_secs(2)).with_attempts(1);
        let rid = ctx.new_resolver(cfg).unwrap();
        ctx.resolver(rid).unwrap().lookup("fuzz.test", RecordType::A, |_, out: &mut Vec<LookupResult>, r| out.push(r));
        let mut out = Vec::new();
        lp.run(&mut out, RunMode::Default).unwrap();
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(&out[0].status, &Status::NoError);
        prop_assert_eq!(out[0].addrs.len(), 1);
    }
}
