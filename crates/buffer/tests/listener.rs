//! Listener: binding, accepting, the per-wake-up bound, Unix sockets,
//! `SO_REUSEPORT`, enable/disable and close.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use evloop::{Loop, RunMode};
use evloop_buffer::{Accepted, ListenAddr, ListenSocket, ListenerExt, ListenerId, ListenerOptions};

fn any_port() -> ListenAddr {
    ListenAddr::Tcp("127.0.0.1:0".parse().unwrap())
}

fn tcp_addr(lp: &mut Loop<Vec<Accepted>>, id: ListenerId) -> SocketAddr {
    match lp.ctx().listener(id).unwrap().local_addr().unwrap() {
        ListenAddr::Tcp(a) => a,
        other => panic!("not TCP: {other:?}"),
    }
}

#[test]
fn accepts_tcp_connections_with_their_peer_addresses() {
    let mut lp: Loop<Vec<Accepted>> = Loop::new().unwrap();
    let id = lp
        .ctx()
        .listen(any_port(), &ListenerOptions::new(), |ctx, got, id, conn| {
            got.push(conn);
            if got.len() == 3 {
                ctx.listener(id).unwrap().close(); // nothing left: run returns
            }
        })
        .unwrap();
    let addr = tcp_addr(&mut lp, id);
    let clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut got = Vec::new();
    lp.run(&mut got, RunMode::Default).unwrap();
    assert_eq!(got.len(), 3);
    let mut peers: Vec<SocketAddr> = got
        .iter()
        .map(|a| match a {
            Accepted::Tcp { stream, peer } => {
                assert_eq!(stream.peer_addr().unwrap(), *peer);
                *peer
            }
            other => panic!("not TCP: {other:?}"),
        })
        .collect();
    let mut want: Vec<SocketAddr> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
    peers.sort();
    want.sort();
    assert_eq!(peers, want);
    assert!(
        lp.ctx().listener(id).is_err(),
        "a closed listener's handle is stale"
    );
}

#[test]
fn accepted_sockets_are_nonblocking() {
    let mut lp: Loop<Vec<Accepted>> = Loop::new().unwrap();
    let id = lp
        .ctx()
        .listen(any_port(), &ListenerOptions::new(), |_, got, _, conn| {
            got.push(conn)
        })
        .unwrap();
    let _client = TcpStream::connect(tcp_addr(&mut lp, id)).unwrap();
    let mut got = Vec::new();
    lp.run(&mut got, RunMode::NoWait).unwrap();
    let Some(Accepted::Tcp { stream, .. }) = got.first() else {
        panic!("nothing accepted")
    };
    let mut buf = [0u8; 1];
    let err = std::io::Read::read(&mut &*stream, &mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
}

#[test]
fn accepts_per_wakeup_are_bounded() {
    let mut lp: Loop<Vec<Accepted>> = Loop::new().unwrap();
    let opts = ListenerOptions::new().accepts_per_wakeup(3);
    let id = lp
        .ctx()
        .listen(any_port(), &opts, |_, got, _, conn| got.push(conn))
        .unwrap();
    let addr = tcp_addr(&mut lp, id);
    let _clients: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut got = Vec::new();
    lp.run(&mut got, RunMode::NoWait).unwrap();
    assert_eq!(got.len(), 3, "one wake-up accepts at most 3");
    lp.run(&mut got, RunMode::NoWait).unwrap();
    assert_eq!(got.len(), 6);
    for _ in 0..20 {
        if got.len() == 10 {
            break;
        }
        lp.run(&mut got, RunMode::NoWait).unwrap();
    }
    assert_eq!(got.len(), 10);
}

#[test]
fn accepts_unix_connections() {
    let path: PathBuf =
        std::env::temp_dir().join(format!("evloop-listener-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut lp: Loop<Vec<Accepted>> = Loop::new().unwrap();
    let id = lp
        .ctx()
        .listen(
            path.clone(),
            &ListenerOptions::new(),
            |ctx, got, id, conn| {
                got.push(conn);
                ctx.listener(id).unwrap().close();
            },
        )
        .unwrap();
    assert_eq!(
        lp.ctx().listener(id).unwrap().local_addr().unwrap(),
        ListenAddr::Unix(path.clone())
    );
    let mut client = UnixStream::connect(&path).unwrap();
    let mut got = Vec::new();
    lp.run(&mut got, RunMode::Default).unwrap();
    std::fs::remove_file(&path).unwrap();
    let Some(Accepted::Unix { stream, .. }) = got.first() else {
        panic!("nothing accepted: {got:?}")
    };
    std::io::Write::write_all(&mut client, b"ping").unwrap();
    let mut buf = [0u8; 4];
    stream.set_nonblocking(false).unwrap();
    std::io::Read::read_exact(&mut &*stream, &mut buf).unwrap();
    assert_eq!(&buf, b"ping");
}

#[test]
fn reuse_port_lets_two_listeners_share_a_port() {
    let opts = ListenerOptions::new().reuse_port(true);
    let first = ListenSocket::bind(&any_port(), &opts).unwrap();
    let addr = first.local_addr().unwrap();
    let second = ListenSocket::bind(&addr, &opts);
    assert!(second.is_ok(), "SO_REUSEPORT on both: {second:?}");
    let third = ListenSocket::bind(&addr, &ListenerOptions::new());
    assert_eq!(
        third.unwrap_err().kind(),
        std::io::ErrorKind::AddrInUse,
        "without SO_REUSEPORT the port is taken"
    );
}

#[test]
fn disabled_listener_leaves_clients_in_the_backlog() {
    let mut lp: Loop<Vec<Accepted>> = Loop::new().unwrap();
    let id = lp
        .ctx()
        .listen(any_port(), &ListenerOptions::new(), |_, got, _, conn| {
            got.push(conn)
        })
        .unwrap();
    let addr = tcp_addr(&mut lp, id);
    lp.ctx().listener(id).unwrap().disable();
    assert!(!lp.ctx().listener(id).unwrap().is_enabled());
    let _client = TcpStream::connect(addr).unwrap();
    let mut got = Vec::new();
    let more = lp.run(&mut got, RunMode::NoWait).unwrap();
    assert!(got.is_empty());
    assert!(!more, "a disabled listener does not keep the loop alive");
    lp.ctx().listener(id).unwrap().enable();
    lp.run(&mut got, RunMode::NoWait).unwrap();
    assert_eq!(got.len(), 1);
}

#[test]
fn close_releases_the_port() {
    let mut lp: Loop<Vec<Accepted>> = Loop::new().unwrap();
    let opts = ListenerOptions::new();
    let id = lp.ctx().listen(any_port(), &opts, |_, _, _, _| {}).unwrap();
    let addr = tcp_addr(&mut lp, id);
    assert!(TcpListener::bind(addr).is_err());
    lp.ctx().listener(id).unwrap().close();
    lp.ctx().listen(addr, &opts, |_, _, _, _| {}).unwrap();
}

#[test]
fn listen_on_adopts_a_bound_std_listener() {
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let mut lp: Loop<Vec<Accepted>> = Loop::new().unwrap();
    lp.ctx()
        .listen_on(std_listener, &ListenerOptions::new(), |_, got, _, conn| {
            got.push(conn)
        })
        .unwrap();
    let _client = TcpStream::connect(addr).unwrap();
    let mut got = Vec::new();
    lp.run(&mut got, RunMode::NoWait).unwrap();
    assert_eq!(got.len(), 1);
}
