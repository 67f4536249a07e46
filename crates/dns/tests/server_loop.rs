//! The server side driven from the test's own loop: counters, close,
//! deferred answers over TCP, half-closed connections, UDP-only servers,
//! pre-bound sockets, replacing the handler, stale and foreign handles.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread::JoinHandle;
use std::time::Duration;

use common::name;
use evloop::{Break, Loop, RunMode};
use evloop_dns::server::{Action, Responder, ServerExt, ServerId, ServerOptions};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::RecordType;

fn query(id: u16, n: &str) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id);
    m.add_query(Query::query(name(n), RecordType::A));
    m.to_vec().unwrap()
}

fn framed(b: &[u8]) -> Vec<u8> {
    let mut f = (b.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(b);
    f
}

fn read_frame(c: &mut TcpStream) -> Option<Message> {
    let mut len = [0u8; 2];
    c.read_exact(&mut len).ok()?;
    let mut b = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut b).ok()?;
    Message::from_vec(&b).ok()
}

fn udp_ask(to: SocketAddr, q: &[u8]) -> Option<Message> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.send_to(q, to).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).ok()?;
    Message::from_vec(&buf[..n]).ok()
}

fn tcp(to: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(to).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c
}

/// Runs `lp` until the client thread is done; returns what it returned.
fn run_with_client<T: 'static, R: Send + 'static>(
    lp: &mut Loop<T>,
    data: &mut T,
    client: impl FnOnce() -> R + Send + 'static,
) -> R {
    let mut ctx = lp.ctx();
    let (id, sender) = ctx
        .new_async(|ctx, _, _, _| ctx.break_loop(Break::All))
        .unwrap();
    ctx.start(id).unwrap();
    let t: JoinHandle<R> = std::thread::spawn(move || {
        let r = client();
        sender.send();
        r
    });
    lp.run(data, RunMode::Default).unwrap();
    lp.ctx().remove(id).unwrap();
    t.join().unwrap()
}

#[test]
fn stats_count_each_transport_and_close_frees_everything() {
    let mut lp: Loop<()> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let id = ctx
        .serve_dns(
            "127.0.0.1:0".parse().unwrap(),
            &ServerOptions::new(),
            |_, _, req| req.answer([]),
        )
        .unwrap();
    let addr = ctx.dns_server(id).unwrap().local_addr();
    assert!(ctx.dns_server(id).unwrap().serves_tcp());
    let held = run_with_client(&mut lp, &mut (), move || {
        assert!(udp_ask(addr, &query(1, "a.test")).is_some());
        assert!(udp_ask(addr, &query(2, "b.test")).is_some());
        // Garbage with a readable header: FORMERR, counted as malformed.
        let mut junk = query(3, "c.test");
        junk.truncate(14);
        let got = udp_ask(addr, &junk).unwrap();
        assert_eq!(got.response_code(), ResponseCode::FormErr);
        let mut c = tcp(addr);
        c.write_all(&framed(&query(4, "d.test"))).unwrap();
        assert_eq!(read_frame(&mut c).unwrap().id(), 4);
        c
    });
    let mut ctx = lp.ctx();
    let mut srv = ctx.dns_server(id).unwrap();
    let st = srv.stats();
    assert_eq!(st.udp_received, 3);
    assert_eq!(st.tcp_received, 1);
    assert_eq!(st.tcp_connections, 1);
    assert_eq!(st.malformed, 1);
    assert_eq!(st.sent, 4);
    assert_eq!(srv.tcp_clients(), 1);
    srv.close();
    assert!(
        matches!(ctx.dns_server(id), Err(evloop::Error::StaleHandle)),
        "stale once closed"
    );
    // Nothing of the server is left: run returns at once, the open
    // connection is closed, and the port can be bound again.
    lp.run(&mut (), RunMode::Default).unwrap();
    let mut held = held;
    let mut b = [0u8; 1];
    assert_eq!(held.read(&mut b).unwrap(), 0, "connection closed");
    UdpSocket::bind(addr).expect("UDP port free again");
    TcpListener::bind(addr).expect("TCP port free again");
}

#[test]
fn deferred_answers_over_tcp_and_a_half_closed_client() {
    // The handler keeps the responder; a timer answers 50 ms later.
    let mut lp: Loop<Vec<Responder>> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let id = ctx
        .serve_dns(
            "127.0.0.1:0".parse().unwrap(),
            &ServerOptions::new(),
            |ctx, kept, req| {
                if req.name().to_ascii() == "later.test." {
                    kept.push(req.responder());
                    ctx.once_timer(Duration::from_millis(50), |ctx, kept, _| {
                        let r: Responder = kept.pop().unwrap();
                        let msg = r.request().reply_with(ResponseCode::NXDomain);
                        ctx.respond(r, Action::Answer(msg)).unwrap();
                    })
                    .unwrap();
                    Action::Defer
                } else {
                    req.answer([])
                }
            },
        )
        .unwrap();
    let addr = ctx.dns_server(id).unwrap().local_addr();
    let mut kept = Vec::new();
    run_with_client(&mut lp, &mut kept, move || {
        let mut c = tcp(addr);
        c.write_all(&framed(&query(7, "later.test"))).unwrap();
        c.write_all(&framed(&query(8, "now.test"))).unwrap();
        // The immediate answer overtakes the deferred one (RFC 7766
        // allows answers out of order).
        assert_eq!(read_frame(&mut c).unwrap().id(), 8);
        let late = read_frame(&mut c).unwrap();
        assert_eq!(
            (late.id(), late.response_code()),
            (7, ResponseCode::NXDomain)
        );

        // A client that sends its queries and shuts down its sending side
        // still gets every answer, the deferred one included, then the
        // server closes.
        let mut c = tcp(addr);
        c.write_all(&framed(&query(9, "now.test"))).unwrap();
        c.write_all(&framed(&query(10, "later.test"))).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_frame(&mut c).unwrap().id(), 9);
        assert_eq!(read_frame(&mut c).unwrap().id(), 10);
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).unwrap(), 0);
    });
}

#[test]
fn udp_only_server_and_prebound_sockets() {
    let mut lp: Loop<()> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let udp_only = ctx
        .serve_dns(
            "127.0.0.1:0".parse().unwrap(),
            &ServerOptions::new().tcp(false),
            |_, _, req| req.answer([]),
        )
        .unwrap();
    let a = ctx.dns_server(udp_only).unwrap().local_addr();
    assert!(!ctx.dns_server(udp_only).unwrap().serves_tcp());

    // The TCP port of the same number may be taken by someone else on a
    // shared machine: try other ports then.
    let (udp, b, tcp_l) = (0..50)
        .find_map(|_| {
            let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
            let b = udp.local_addr().ok()?;
            let tcp_l = TcpListener::bind(b).ok()?;
            Some((udp, b, tcp_l))
        })
        .expect("a UDP and TCP port pair");
    let pre = ctx
        .serve_dns_on(udp, Some(tcp_l), &ServerOptions::new(), |_, _, _| {
            Action::Fail(ResponseCode::NotImp)
        })
        .unwrap();
    assert_eq!(ctx.dns_server(pre).unwrap().local_addr(), b);
    run_with_client(&mut lp, &mut (), move || {
        assert!(udp_ask(a, &query(1, "x.test")).is_some());
        assert!(TcpStream::connect(a).is_err(), "no TCP");
        let got = udp_ask(b, &query(2, "x.test")).unwrap();
        assert_eq!(got.response_code(), ResponseCode::NotImp);
        let mut c = tcp(b);
        c.write_all(&framed(&query(3, "x.test"))).unwrap();
        assert_eq!(read_frame(&mut c).unwrap().id(), 3);
    });
}

#[test]
fn set_handler_takes_effect_for_the_next_query() {
    let mut lp: Loop<()> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let id = ctx
        .serve_dns(
            "127.0.0.1:0".parse().unwrap(),
            &ServerOptions::new(),
            |ctx, _, req| {
                // Replaced from inside itself: this answer is the last.
                let server: ServerId = req.server();
                ctx.dns_server(server)
                    .unwrap()
                    .set_handler(|_, _, _| Action::Refuse);
                req.answer([])
            },
        )
        .unwrap();
    let addr = ctx.dns_server(id).unwrap().local_addr();
    run_with_client(&mut lp, &mut (), move || {
        let first = udp_ask(addr, &query(1, "x.test")).unwrap();
        assert_eq!(first.response_code(), ResponseCode::NoError);
        let second = udp_ask(addr, &query(2, "x.test")).unwrap();
        assert_eq!(second.response_code(), ResponseCode::Refused);
    });
}

#[test]
fn foreign_handles_and_taken_ports_are_errors() {
    let mut lp1: Loop<()> = Loop::new().unwrap();
    let mut lp2: Loop<()> = Loop::new().unwrap();
    let id = lp1
        .ctx()
        .serve_dns(
            "127.0.0.1:0".parse().unwrap(),
            &ServerOptions::new(),
            |_, _, _| Action::Drop,
        )
        .unwrap();
    assert!(matches!(
        lp2.ctx().dns_server(id),
        Err(evloop::Error::ForeignHandle)
    ));
    let addr = lp1.ctx().dns_server(id).unwrap().local_addr();
    let again = lp2
        .ctx()
        .serve_dns(addr, &ServerOptions::new(), |_, _, _| Action::Drop);
    assert_eq!(
        again.unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse,
        "a taken port is an error value"
    );
}

#[test]
fn serves_ipv6_when_the_host_has_it() {
    let mut lp: Loop<()> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let served = ctx.serve_dns(
        "[::1]:0".parse().unwrap(),
        &ServerOptions::new(),
        |_, _, req| {
            assert!(req.peer().is_ipv6());
            req.answer([])
        },
    );
    let Ok(id) = served else {
        eprintln!("SKIP serves_ipv6_when_the_host_has_it: no IPv6 loopback");
        return;
    };
    let addr = ctx.dns_server(id).unwrap().local_addr();
    assert!(addr.is_ipv6());
    run_with_client(&mut lp, &mut (), move || {
        let s = UdpSocket::bind("[::1]:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send_to(&query(1, "six.test"), addr).unwrap();
        let mut buf = [0u8; 512];
        let n = s.recv(&mut buf).unwrap();
        assert_eq!(Message::from_vec(&buf[..n]).unwrap().id(), 1);
        let mut c = tcp(addr);
        c.write_all(&framed(&query(2, "six.test"))).unwrap();
        assert_eq!(read_frame(&mut c).unwrap().id(), 2);
    });
}
