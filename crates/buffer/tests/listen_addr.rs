//! `listen` takes an address in the forms users write: a string
//! (`"127.0.0.1:7100"`, `"[::1]:7100"`, `"unix:/run/app.sock"`, a path), a
//! `SocketAddr`, an `(IpAddr, u16)`, a `Path`; and refuses the others with
//! a message that says what is wrong.

mod common;

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use evloop::Loop;
use evloop_buffer::{ListenAddr, ListenerExt, ListenerOptions, ToListenAddr};

fn parse(s: &str) -> std::io::Result<ListenAddr> {
    s.parse()
}

fn tcp(s: &str) -> ListenAddr {
    ListenAddr::Tcp(s.parse().unwrap())
}

#[test]
fn strings_that_are_addresses() {
    assert_eq!(parse("127.0.0.1:7100").unwrap(), tcp("127.0.0.1:7100"));
    assert_eq!(parse("0.0.0.0:0").unwrap(), tcp("0.0.0.0:0"));
    assert_eq!(parse("[::1]:7100").unwrap(), tcp("[::1]:7100"));
    assert_eq!(parse("[::]:80").unwrap(), tcp("[::]:80"));
    assert_eq!(
        parse("unix:/run/app.sock").unwrap(),
        ListenAddr::Unix(PathBuf::from("/run/app.sock"))
    );
    assert_eq!(
        parse("unix:app.sock").unwrap(),
        ListenAddr::Unix(PathBuf::from("app.sock")),
        "unix: takes relative paths too"
    );
    assert_eq!(
        parse("/tmp/app.sock").unwrap(),
        ListenAddr::Unix(PathBuf::from("/tmp/app.sock"))
    );
    assert_eq!(
        parse("./app.sock").unwrap(),
        ListenAddr::Unix(PathBuf::from("./app.sock"))
    );
}

/// The error for `s`: `InvalidInput`, its message naming `s` and holding
/// every one of `words`.
fn refused(s: &str, words: &[&str]) {
    let e = parse(s).expect_err(s);
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{s:?}: {e}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("{s:?}")), "{s:?}: {msg}");
    for w in words {
        assert!(msg.contains(w), "{s:?}: {msg:?} does not say {w:?}");
    }
    // The same through ToListenAddr, as `listen` calls it.
    assert_eq!(s.to_listen_addr().unwrap_err().to_string(), msg);
}

#[test]
fn bad_strings_are_refused_with_a_reason() {
    refused("", &["empty", "IP:PORT"]);
    refused("127.0.0.1", &["no port", "127.0.0.1:7100"]);
    refused("::1", &["no port", "[::1]:7100"]);
    refused("127.0.0.1:99999", &["\"99999\" is not a port number"]);
    refused("127.0.0.1:http", &["not a port number"]);
    // "::1:7100" is an IPv6 address (without a port); this one cannot be
    // one, but is an address and a port without the brackets.
    refused(
        "::ffff:10.0.0.1:7100",
        &["brackets", "[::ffff:10.0.0.1]:7100"],
    );
    refused("unix:", &["path"]);
    refused("nonsense", &["IP:PORT", "unix:PATH"]);
}

#[test]
fn host_names_are_refused_not_resolved() {
    for s in ["localhost:7100", "example.com:80", "[localhost]:80"] {
        refused(s, &["host names are not resolved", "is not an IP address"]);
    }
    refused("localhost", &["host names are not resolved"]);
    // And listen fails with it before binding anything.
    let mut lp: Loop<()> = Loop::new().unwrap();
    let e = lp
        .ctx()
        .listen("localhost:0", &ListenerOptions::new(), |_, _, _, _| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("host names are not resolved"), "{e}");
    assert_eq!(lp.ctx().watcher_count().total, 0, "no listener was made");
}

/// Listens on `addr`, connects one TCP client, and returns the address
/// the listener reports.
fn serve_one_tcp(addr: impl ToListenAddr) -> SocketAddr {
    let mut lp: Loop<u32> = Loop::new().unwrap();
    let lid = lp
        .ctx()
        .listen(addr, &ListenerOptions::new(), |ctx, n, lid, _conn| {
            *n += 1;
            ctx.listener(lid).unwrap().close();
        })
        .unwrap();
    let ListenAddr::Tcp(bound) = lp.ctx().listener(lid).unwrap().local_addr().unwrap() else {
        panic!("not TCP")
    };
    assert_ne!(bound.port(), 0, "port 0 picked a free port");
    let _client = TcpStream::connect(bound).unwrap();
    let mut n = 0;
    common::run_to_end(&mut lp, &mut n);
    assert_eq!(n, 1);
    bound
}

#[test]
fn listen_takes_every_tcp_form() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let owned = String::from("127.0.0.1:0");
    let listen_addr = ListenAddr::Tcp(any);
    for bound in [
        serve_one_tcp("127.0.0.1:0"),
        serve_one_tcp(owned.clone()),
        serve_one_tcp(&owned),
        serve_one_tcp(any),
        serve_one_tcp((loopback, 0)),
        serve_one_tcp(&listen_addr), // by reference...
        serve_one_tcp(listen_addr),  // ... and by value
    ] {
        assert_eq!(bound.ip(), loopback);
    }
}

fn socket_path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("evloop-addr-{}-{tag}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Listens on `addr` (a Unix socket at `path`), connects one client.
fn serve_one_unix(addr: impl ToListenAddr, path: &Path) {
    let mut lp: Loop<u32> = Loop::new().unwrap();
    let lid = lp
        .ctx()
        .listen(addr, &ListenerOptions::new(), |ctx, n, lid, _conn| {
            *n += 1;
            ctx.listener(lid).unwrap().close();
        })
        .unwrap();
    assert_eq!(
        lp.ctx().listener(lid).unwrap().local_addr().unwrap(),
        ListenAddr::Unix(path.to_path_buf())
    );
    let _client = UnixStream::connect(path).unwrap();
    let mut n = 0;
    common::run_to_end(&mut lp, &mut n);
    assert_eq!(n, 1);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn listen_takes_every_unix_form() {
    let p = socket_path("prefix");
    serve_one_unix(format!("unix:{}", p.display()), &p);
    let p = socket_path("slash");
    serve_one_unix(p.to_str().unwrap(), &p);
    let p = socket_path("path");
    serve_one_unix(p.as_path(), &p);
    let p = socket_path("pathbuf");
    serve_one_unix(p.clone(), &p);
}

#[test]
fn a_taken_address_is_an_io_error_not_a_panic() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut lp: Loop<()> = Loop::new().unwrap();
    let e = lp
        .ctx()
        .listen(
            addr.as_str(),
            &ListenerOptions::new().reuse_addr(false),
            |_, _, _, _| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
}
