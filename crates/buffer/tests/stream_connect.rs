//! Non-blocking connect, and streams on both ends of a TCP connection made
//! by a Listener.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use evloop::{Loop, RunMode};
use evloop_buffer::{
    Accepted, Direction, ListenAddr, ListenSocket, ListenerExt, ListenerOptions, StreamEvent,
    StreamExt,
};

#[derive(Default)]
struct Log {
    events: Vec<String>,
    error: Option<std::io::Error>,
    echoed: Vec<u8>,
    elapsed: Vec<Duration>,
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    // A port that was just bound and closed: nobody listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let id = lp.ctx().new_stream_connect(addr).unwrap();
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(id).unwrap();
    assert!(s.is_connecting());
    s.write(b"queued before the outcome");
    s.on_event(|ctx, log, id, ev| {
        if let StreamEvent::Error {
            error,
            direction,
            unsent,
        } = ev
        {
            assert_eq!(direction, Direction::Write);
            assert_eq!(unsent, 25);
            log.error = Some(error);
        }
        log.events.push("event".into());
        ctx.stream(id).unwrap().close();
    });
    drop(s);
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    assert_eq!(log.events.len(), 1);
    assert_eq!(
        log.error.unwrap().kind(),
        ErrorKind::ConnectionRefused,
        "refused, reported as an event"
    );
}

#[test]
fn connect_succeeds_and_sends_what_was_queued_meanwhile() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let id = lp
        .ctx()
        .new_stream_connect(server.local_addr().unwrap())
        .unwrap();
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(id).unwrap();
    s.write(b"hello");
    s.on_event(|ctx, log, id, ev| {
        log.events.push(format!("{ev:?}"));
        let s = ctx.stream(id).unwrap();
        assert!(!s.is_connecting());
        s.close_when_flushed();
    });
    drop(s);
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    assert_eq!(log.events, ["Connected"]);
    let (mut conn, _) = server.accept().unwrap();
    let mut got = Vec::new();
    conn.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello");
}

#[test]
fn disabled_writing_holds_back_a_connect() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let id = lp
        .ctx()
        .new_stream_connect(server.local_addr().unwrap())
        .unwrap();
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(id).unwrap();
    s.disable(Direction::Write);
    s.on_event(|_, log, _, ev| log.events.push(format!("{ev:?}")));
    drop(s);
    let mut log = Log::default();
    for _ in 0..5 {
        lp.run(&mut log, RunMode::NoWait).unwrap();
    }
    assert!(log.events.is_empty(), "{:?}", log.events);
    assert!(lp.ctx().stream(id).unwrap().is_connecting());
    lp.ctx().stream(id).unwrap().enable(Direction::Write);
    lp.run(&mut log, RunMode::Once).unwrap();
    assert_eq!(log.events, ["Connected"]);
}

#[test]
fn write_timeout_bounds_a_connect_that_hangs() {
    // A listener whose accept queue is full drops SYNs: connects to it
    // hang (the kernel retries the SYN for a minute or more).
    let opts = ListenerOptions::new().backlog(0);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = ListenSocket::bind(&ListenAddr::Tcp(any), &opts).unwrap();
    let ListenAddr::Tcp(addr) = server.local_addr().unwrap() else {
        unreachable!()
    };
    const TIMEOUT: Duration = Duration::from_millis(50);
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let start = Instant::now();
    for _ in 0..4 {
        let id = lp.ctx().new_stream_connect(addr).unwrap();
        let mut ctx = lp.ctx();
        let mut s = ctx.stream(id).unwrap();
        s.set_timeouts(None, Some(TIMEOUT)).unwrap();
        s.on_event(move |ctx, log, id, ev| {
            let ev = format!("{ev:?}");
            if ev == "Timeout(Write)" {
                log.elapsed.push(start.elapsed());
                assert!(ctx.stream(id).unwrap().is_connecting());
            }
            log.events.push(ev);
            if log.events.len() == 4 {
                ctx.break_loop(evloop::Break::One);
            }
        });
    }
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    let timeouts = log.events.iter().filter(|e| *e == "Timeout(Write)").count();
    assert!(timeouts >= 1, "{:?}", log.events);
    assert_eq!(
        timeouts + log.events.iter().filter(|e| *e == "Connected").count(),
        4
    );
    for e in log.elapsed {
        assert!(e >= TIMEOUT, "fired early: {e:?}");
    }
}

/// A whole echo round trip over TCP: Listener, accepted stream, connected
/// stream.
#[test]
fn echo_over_tcp_between_a_listener_and_a_connected_stream() {
    const TOTAL: usize = 1 << 20;
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let lid = lp
        .ctx()
        .listen(any, &ListenerOptions::new(), |ctx, _, lid, conn| {
            assert!(matches!(conn, Accepted::Tcp { .. }));
            let id = ctx.new_stream(conn).unwrap();
            ctx.stream(id).unwrap().on_read(|ctx, _, id| {
                let mut s = ctx.stream(id).unwrap();
                let mut all = s.input().split_to_buffer(usize::MAX);
                s.write_buffer(&mut all);
            });
            // One connection is all this test wants.
            ctx.listener(lid).unwrap().close();
        })
        .unwrap();
    let ListenAddr::Tcp(addr) = lp.ctx().listener(lid).unwrap().local_addr().unwrap() else {
        unreachable!()
    };
    let client = lp.ctx().new_stream_connect(addr).unwrap();
    let sent: Vec<u8> = (0..TOTAL).map(|i| (i * 7 % 256) as u8).collect();
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(client).unwrap();
    s.write(&sent);
    s.on_read(|ctx, log, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        log.echoed.extend_from_slice(&s.input().split_to(n));
        if log.echoed.len() == TOTAL {
            s.close(); // the server sees EOF and, with no event callback, closes
        }
    });
    drop(s);
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    assert!(log.echoed == sent);
}

#[test]
fn a_connected_stream_sets_nodelay_and_knows_its_local_address() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let id = lp
        .ctx()
        .new_stream_connect(listener.local_addr().unwrap())
        .unwrap();
    let (_peer, seen_from) = listener.accept().unwrap();
    let mut ctx = lp.ctx();
    let s = ctx.stream(id).unwrap();
    // The option is the socket's: a duplicate descriptor shows it.
    let dup = || std::net::TcpStream::from(s.fd().try_clone_to_owned().unwrap());
    assert!(!dup().nodelay().unwrap(), "off until asked");
    s.set_nodelay(true).unwrap();
    assert!(dup().nodelay().unwrap());
    s.set_nodelay(false).unwrap();
    assert!(!dup().nodelay().unwrap());
    assert_eq!(s.local_addr().unwrap(), Some(seen_from));
    drop(s);

    // A Unix-domain stream has no IP address and no TCP options.
    let (a, _b) = ctx.new_stream_pair().unwrap();
    let s = ctx.stream(a).unwrap();
    assert_eq!(s.local_addr().unwrap(), None);
    assert!(s.set_nodelay(true).is_err());
}
