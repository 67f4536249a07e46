//! The server side never panics and keeps serving, whatever arrives:
//! arbitrary datagrams and TCP frames, and valid queries with bytes
//! changed. After each input a probe query must still be answered.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::OnceLock;
use std::time::Duration;

use common::{name, Reply, TestServer};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::RecordType;
use proptest::prelude::*;

fn server() -> &'static TestServer {
    static SRV: OnceLock<TestServer> = OnceLock::new();
    SRV.get_or_init(|| {
        let srv = TestServer::start();
        srv.on("probe.test", RecordType::A, Reply::a(&["10.0.0.1"], 1));
        srv.otherwise(Reply::a(&["10.0.0.2"], 1));
        srv
    })
}

fn probe_bytes(id: u16) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id);
    m.add_query(Query::query(name("probe.test"), RecordType::A));
    m.to_vec().unwrap()
}

/// Sends `bytes` then the probe over one UDP socket; answers to the junk
/// (FORMERR, or a real answer if the mutation left a valid query) may
/// come first, the probe's answer must come.
fn udp_round(bytes: &[u8]) {
    let srv = server();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.send_to(bytes, srv.addr()).unwrap();
    s.send_to(&probe_bytes(0x7eed), srv.addr()).unwrap();
    let mut buf = [0u8; 65535];
    for _ in 0..3 {
        let n = s.recv(&mut buf).expect("the server still answers");
        if let Ok(m) = Message::from_vec(&buf[..n]) {
            if m.id() == 0x7eed && m.answers().len() == 1 {
                return;
            }
        }
    }
    panic!("no answer to the probe");
}

/// The same over TCP: the junk as one frame, then the probe on a fresh
/// connection (the junk one may be closed or keep waiting).
fn tcp_round(bytes: &[u8]) {
    let srv = server();
    let mut junk = TcpStream::connect(srv.addr()).unwrap();
    let mut f = (bytes.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(bytes);
    let _ = junk.write_all(&f);
    let mut c = TcpStream::connect(srv.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let p = probe_bytes(0x7eef);
    let mut f = (p.len() as u16).to_be_bytes().to_vec();
    f.extend(p);
    c.write_all(&f).unwrap();
    let mut len = [0u8; 2];
    c.read_exact(&mut len).unwrap();
    let mut b = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut b).unwrap();
    assert_eq!(Message::from_vec(&b).unwrap().id(), 0x7eef);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_datagrams(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        udp_round(&bytes);
    }

    #[test]
    fn mutated_queries(
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut bytes = probe_bytes(0x1234);
        for (at, v) in changes {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if do_cut {
            let n = cut.index(bytes.len());
            bytes.truncate(n);
        }
        udp_round(&bytes);
    }

    #[test]
    fn arbitrary_tcp_frames(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        tcp_round(&bytes);
    }
}
