//! The server side over raw sockets: malformed input, header checks,
//! UDP truncation, RFC 7766 framing (split, pipelined), idle timeout,
//! client cap, chunked writes, delayed and closing actions.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{name, Reply, TestServer};
use evloop_dns::server::{Action, ServerOptions};
use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::RecordType;

fn query(id: u16, n: &str, t: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new();
    m.set_id(id).set_recursion_desired(true);
    m.add_query(Query::query(name(n), t));
    if let Some(p) = edns {
        let mut e = Edns::new();
        e.set_max_payload(p);
        m.set_edns(e);
    }
    m
}

fn udp_client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s
}

/// The next datagram, raw.
fn recv(s: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 65535];
    let n = s.recv(&mut buf).expect("an answer");
    buf[..n].to_vec()
}

fn ask(s: &UdpSocket, to: SocketAddr, m: &Message) -> Message {
    s.send_to(&m.to_vec().unwrap(), to).unwrap();
    Message::from_vec(&recv(s)).unwrap()
}

fn tcp(to: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(to).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.set_nodelay(true).unwrap();
    c
}

fn frame(m: &Message) -> Vec<u8> {
    let b = m.to_vec().unwrap();
    let mut f = (b.len() as u16).to_be_bytes().to_vec();
    f.extend(b);
    f
}

fn read_frame(c: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    c.read_exact(&mut len).unwrap();
    let mut b = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut b).unwrap();
    Message::from_vec(&b).unwrap()
}

/// A probe answered after something that must get no answer: UDP on
/// loopback keeps order, so if the next datagram is the probe's answer,
/// nothing came for the first.
fn assert_no_answer_before_probe(s: &UdpSocket, srv: &TestServer) {
    let probe = query(0x5eed, "probe.test", RecordType::A, None);
    s.send_to(&probe.to_vec().unwrap(), srv.addr()).unwrap();
    let got = Message::from_vec(&recv(s)).unwrap();
    assert_eq!(
        got.id(),
        0x5eed,
        "the first datagram back answers the probe"
    );
}

#[test]
fn short_garbage_is_dropped_and_responses_are_never_answered() {
    let srv = TestServer::start();
    srv.on("probe.test", RecordType::A, Reply::a(&["10.0.0.1"], 1));
    let s = udp_client();
    s.send_to(b"\x12\x34\x01", srv.addr()).unwrap();
    s.send_to(b"", srv.addr()).unwrap();
    let mut resp = query(77, "probe.test", RecordType::A, None);
    resp.set_message_type(hickory_proto::op::MessageType::Response);
    s.send_to(&resp.to_vec().unwrap(), srv.addr()).unwrap();
    assert_no_answer_before_probe(&s, &srv);
    // Only the probe reached the handler.
    assert_eq!(srv.total(), 1);
}

#[test]
fn readable_header_with_a_broken_body_gets_formerr() {
    let srv = TestServer::start();
    let s = udp_client();
    // id 0xabcd, RD, one question, then a label running past the end.
    let bad = [
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 9, b'x', b'y',
    ];
    s.send_to(&bad, srv.addr()).unwrap();
    let got = Message::from_vec(&recv(&s)).unwrap();
    assert_eq!(got.id(), 0xabcd);
    assert_eq!(got.response_code(), ResponseCode::FormErr);
    assert!(got.recursion_desired());
    assert_eq!(srv.total(), 0, "the handler never saw it");

    // A header claiming more records than there are.
    let mut m = query(0x0101, "x.test", RecordType::A, None)
        .to_vec()
        .unwrap();
    m[7] = 5; // ANCOUNT = 5, none present
    s.send_to(&m, srv.addr()).unwrap();
    let got = Message::from_vec(&recv(&s)).unwrap();
    assert_eq!(
        (got.id(), got.response_code()),
        (0x0101, ResponseCode::FormErr)
    );
}

#[test]
fn other_opcodes_question_counts_and_edns_versions() {
    let srv = TestServer::start();
    let s = udp_client();
    let mut m = query(1, "x.test", RecordType::A, None);
    m.set_op_code(OpCode::Status);
    let got = ask(&s, srv.addr(), &m);
    assert_eq!((got.id(), got.response_code()), (1, ResponseCode::NotImp));

    let mut m = query(2, "x.test", RecordType::A, None);
    m.add_query(Query::query(name("y.test"), RecordType::A));
    let got = ask(&s, srv.addr(), &m);
    assert_eq!((got.id(), got.response_code()), (2, ResponseCode::FormErr));

    let mut m = Message::new();
    m.set_id(3);
    let got = ask(&s, srv.addr(), &m);
    assert_eq!((got.id(), got.response_code()), (3, ResponseCode::FormErr));

    let mut m = query(4, "x.test", RecordType::A, Some(1232));
    m.extensions_mut().as_mut().unwrap().set_version(1);
    let got = ask(&s, srv.addr(), &m);
    // Rcode 16 is BADVERS with an OPT record (hickory names it BADSIG).
    assert_eq!((got.id(), u16::from(got.response_code())), (4, 16));
    assert!(got.extensions().is_some(), "BADVERS needs an OPT record");
    assert_eq!(srv.total(), 0);
}

#[test]
fn answers_echo_id_question_case_and_edns() {
    let srv = TestServer::start_with(ServerOptions::new().udp_payload(1400));
    srv.on(
        "echo.test",
        RecordType::AAAA,
        Reply::aaaa(&["2001:db8::7"], 9),
    );
    let s = udp_client();
    let got = ask(
        &s,
        srv.addr(),
        &query(0xbeef, "EcHo.TeSt", RecordType::AAAA, Some(1232)),
    );
    assert_eq!(got.id(), 0xbeef);
    assert_eq!(got.response_code(), ResponseCode::NoError);
    assert!(got.recursion_desired());
    assert_eq!(got.queries()[0].name().to_ascii(), "EcHo.TeSt.");
    assert_eq!(got.answers().len(), 1);
    assert_eq!(got.answers()[0].ttl(), 9);
    assert_eq!(got.extensions().as_ref().unwrap().max_payload(), 1400);
    assert!(!got.extensions().as_ref().unwrap().flags().dnssec_ok);
    // The DO bit is echoed (RFC 3225).
    let mut q = query(6, "echo.test", RecordType::AAAA, Some(1232));
    q.extensions_mut().as_mut().unwrap().set_dnssec_ok(true);
    let got = ask(&s, srv.addr(), &q);
    assert!(got.extensions().as_ref().unwrap().flags().dnssec_ok);
    // No EDNS asked, none given.
    let got = ask(
        &s,
        srv.addr(),
        &query(5, "echo.test", RecordType::AAAA, None),
    );
    assert!(got.extensions().is_none());
}

#[test]
fn udp_answers_are_truncated_to_the_client_payload() {
    let srv = TestServer::start();
    // 60 A records: ~990 bytes.
    let addrs: Vec<String> = (0..60).map(|i| format!("10.8.0.{i}")).collect();
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    srv.on("big.test", RecordType::A, Reply::a(&refs, 60));
    let s = udp_client();

    let got = ask(&s, srv.addr(), &query(1, "big.test", RecordType::A, None));
    assert!(got.truncated());
    assert!(got.answers().is_empty());
    assert_eq!(got.queries().len(), 1);

    let got = ask(
        &s,
        srv.addr(),
        &query(2, "big.test", RecordType::A, Some(600)),
    );
    assert!(got.truncated(), "600-byte payload is too small");
    assert!(
        got.extensions().is_some(),
        "OPT kept in the truncated answer"
    );

    // A payload below 512 counts as 512 (RFC 6891).
    let got = ask(
        &s,
        srv.addr(),
        &query(3, "big.test", RecordType::A, Some(100)),
    );
    assert!(got.truncated());

    let got = ask(
        &s,
        srv.addr(),
        &query(4, "big.test", RecordType::A, Some(1232)),
    );
    assert!(!got.truncated());
    assert_eq!(got.answers().len(), 60);

    // TCP is never truncated.
    let mut c = tcp(srv.addr());
    c.write_all(&frame(&query(5, "big.test", RecordType::A, None)))
        .unwrap();
    let got = read_frame(&mut c);
    assert!(!got.truncated());
    assert_eq!(got.answers().len(), 60);
}

#[test]
fn tcp_queries_split_into_single_bytes_and_pipelined() {
    let srv = TestServer::start();
    srv.on("a.test", RecordType::A, Reply::a(&["10.0.0.1"], 5));
    srv.on("b.test", RecordType::A, Reply::a(&["10.0.0.2"], 5));
    let mut c = tcp(srv.addr());
    // One query a byte at a time, with pauses so the server reads them
    // separately.
    for b in frame(&query(11, "a.test", RecordType::A, None)) {
        c.write_all(&[b]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let got = read_frame(&mut c);
    assert_eq!(got.id(), 11);
    assert_eq!(got.answers().len(), 1);

    // Three queries in one write, and half of a fourth.
    let mut burst = frame(&query(21, "a.test", RecordType::A, None));
    burst.extend(frame(&query(22, "b.test", RecordType::A, None)));
    burst.extend(frame(&query(23, "a.test", RecordType::A, None)));
    let fourth = frame(&query(24, "b.test", RecordType::A, None));
    burst.extend(&fourth[..5]);
    c.write_all(&burst).unwrap();
    let ids: Vec<u16> = (0..3).map(|_| read_frame(&mut c).id()).collect();
    assert_eq!(ids, [21, 22, 23]);
    c.write_all(&fourth[5..]).unwrap();
    let got = read_frame(&mut c);
    assert_eq!(got.id(), 24);
    assert_eq!(srv.count_tcp("a.test", RecordType::A), 3);
    assert_eq!(srv.count_tcp("b.test", RecordType::A), 2);
}

#[test]
fn idle_tcp_connections_are_closed() {
    let idle = Duration::from_millis(150);
    let srv = TestServer::start_with(ServerOptions::new().tcp_idle_timeout(idle));
    srv.on("a.test", RecordType::A, Reply::a(&["10.0.0.1"], 5));
    let mut c = tcp(srv.addr());
    // The server reads the query after this instant, and counts the idle
    // time from its last read.
    let t0 = Instant::now();
    c.write_all(&frame(&query(1, "a.test", RecordType::A, None)))
        .unwrap();
    assert_eq!(read_frame(&mut c).id(), 1);
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).unwrap(), 0, "closed by the server");
    assert!(t0.elapsed() >= idle, "{:?}", t0.elapsed());
}

#[test]
fn clients_over_the_cap_are_closed() {
    let srv = TestServer::start_with(ServerOptions::new().tcp_max_clients(1));
    srv.on("a.test", RecordType::A, Reply::a(&["10.0.0.1"], 5));
    let mut first = tcp(srv.addr());
    first
        .write_all(&frame(&query(1, "a.test", RecordType::A, None)))
        .unwrap();
    assert_eq!(read_frame(&mut first).id(), 1);
    let mut second = tcp(srv.addr());
    let _ = second.write_all(&frame(&query(2, "a.test", RecordType::A, None)));
    let mut b = [0u8; 2];
    match second.read(&mut b) {
        Ok(n) => assert_eq!(n, 0, "closed without an answer"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
    // The first still works.
    first
        .write_all(&frame(&query(3, "a.test", RecordType::A, None)))
        .unwrap();
    assert_eq!(read_frame(&mut first).id(), 3);
}

#[test]
fn chunked_tcp_writes_reassemble() {
    let opts = ServerOptions::new().tcp_write_chunks(1, Duration::from_millis(1));
    let srv = TestServer::start_with(opts);
    srv.on("t.test", RecordType::TXT, Reply::txt(&["split me"], 5));
    let mut c = tcp(srv.addr());
    c.write_all(&frame(&query(1, "t.test", RecordType::TXT, None)))
        .unwrap();
    c.write_all(&frame(&query(2, "t.test", RecordType::TXT, None)))
        .unwrap();
    // Read byte by byte: the frames arrive whole and in order.
    assert_eq!(read_frame(&mut c).id(), 1);
    let got = read_frame(&mut c);
    assert_eq!(got.id(), 2);
    assert_eq!(got.answers().len(), 1);
}

#[test]
fn many_delay_close_and_raw_actions() {
    let srv = TestServer::start();
    // A raw spoof (wrong id) then the real answer, merged in one TCP write.
    srv.on(
        "two.test",
        RecordType::A,
        Reply::Many(vec![
            Reply::WrongId(Box::new(Reply::a(&["10.6.6.6"], 5))),
            Reply::a(&["10.0.0.1"], 5),
        ]),
    );
    srv.on(
        "late.test",
        RecordType::A,
        Reply::Delay(
            Duration::from_millis(100),
            Box::new(Reply::a(&["10.0.0.2"], 5)),
        ),
    );
    srv.on("bye.test", RecordType::A, Reply::Close);
    srv.on_fn("raw.test", RecordType::A, |_req, _| {
        Action::Raw(b"junk".to_vec())
    });

    let mut c = tcp(srv.addr());
    c.write_all(&frame(&query(40, "two.test", RecordType::A, None)))
        .unwrap();
    assert_eq!(read_frame(&mut c).id(), 41);
    assert_eq!(read_frame(&mut c).id(), 40);

    let s = udp_client();
    let t0 = Instant::now();
    let got = ask(&s, srv.addr(), &query(50, "late.test", RecordType::A, None));
    assert_eq!(got.id(), 50);
    assert!(t0.elapsed() >= Duration::from_millis(100));

    s.send_to(
        &query(60, "raw.test", RecordType::A, None).to_vec().unwrap(),
        srv.addr(),
    )
    .unwrap();
    assert_eq!(recv(&s), b"junk");
    c.write_all(&frame(&query(61, "raw.test", RecordType::A, None)))
        .unwrap();
    let mut f = [0u8; 6];
    c.read_exact(&mut f).unwrap();
    assert_eq!(&f, b"\x00\x04junk");

    c.write_all(&frame(&query(70, "bye.test", RecordType::A, None)))
        .unwrap();
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).unwrap(), 0);
}

#[test]
fn other_source_port_and_address_replies() {
    let srv = TestServer::start();
    srv.on(
        "spoof.test",
        RecordType::A,
        Reply::Many(vec![
            Reply::FromOtherPort(Box::new(Reply::a(&["10.6.6.6"], 5))),
            Reply::a(&["10.0.0.1"], 5),
        ]),
    );
    let s = udp_client();
    s.send_to(
        &query(1, "spoof.test", RecordType::A, None)
            .to_vec()
            .unwrap(),
        srv.addr(),
    )
    .unwrap();
    let mut froms = Vec::new();
    for _ in 0..2 {
        let mut buf = [0u8; 512];
        let (_, from) = s.recv_from(&mut buf).unwrap();
        froms.push(from);
    }
    assert!(froms.contains(&srv.addr()));
    assert!(froms.iter().any(|f| f.port() != srv.addr().port()));
}

#[test]
fn half_closed_with_an_answer_that_never_comes_closes_after_the_idle_timeout() {
    let idle = Duration::from_millis(150);
    let srv = TestServer::start_with(ServerOptions::new().tcp_idle_timeout(idle));
    srv.on_fn("never.test", RecordType::A, |_, _| Action::Defer);
    srv.on(
        "late.test",
        RecordType::A,
        Reply::Delay(
            Duration::from_millis(50),
            Box::new(Reply::a(&["10.0.0.1"], 5)),
        ),
    );
    let mut c = tcp(srv.addr());
    c.write_all(&frame(&query(1, "late.test", RecordType::A, None)))
        .unwrap();
    c.write_all(&frame(&query(2, "never.test", RecordType::A, None)))
        .unwrap();
    let t0 = Instant::now();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    // The delayed answer still comes after the client's shutdown.
    assert_eq!(read_frame(&mut c).id(), 1);
    let mut b = [0u8; 1];
    assert_eq!(c.read(&mut b).unwrap(), 0, "closed in the end");
    assert!(t0.elapsed() >= idle, "{:?}", t0.elapsed());
}
