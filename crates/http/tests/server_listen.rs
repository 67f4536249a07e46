//! Serving sockets bound by the caller (evhttp_accept_socket), and letting
//! one listener go (evhttp_del_accept_socket).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc;
use std::time::Duration;

use evloop::{Break, Loop, RunMode};
use evloop_buffer::ListenAddr;
use evloop_http::server::{Body, Router, ServerExt, ServerId, ServerOptions};
use http::{Method, Response};

#[derive(Default)]
struct St {
    id: Option<ServerId>,
    /// The address `/stop` stops listening on.
    first: Option<ListenAddr>,
}

/// A loop thread serving `tcp` and `unix` (handed over with `listen_on`)
/// and an address of its own; returns what listen_on returned for each,
/// the own address, the loop's stop switch and its thread.
fn serve(
    tcp: TcpListener,
    unix: UnixListener,
) -> (
    ListenAddr,
    ListenAddr,
    ListenAddr,
    evloop::AsyncSender,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut router: Router<St> = Router::new();
        router.exact("/", &[Method::GET], |_, _, _| {
            Response::new(Body::from("served"))
        });
        router.exact("/stop", &[Method::GET], |ctx, st, _| {
            let (id, first) = (st.id.unwrap(), st.first.clone().unwrap());
            let mut srv = ctx.server(id).unwrap();
            let once = srv.stop_listening(&first);
            let again = srv.stop_listening(&first);
            let left = srv.listen_addrs().len();
            Response::new(Body::from(format!("{once} {again} {left}")))
        });
        let mut lp: Loop<St> = Loop::new().unwrap();
        let mut ctx = lp.ctx();
        let id = ctx.new_server(router, ServerOptions::new()).unwrap();
        let mut srv = ctx.server(id).unwrap();
        let handed = srv.listen_on(tcp).unwrap();
        let handed_unix = srv.listen_on(unix).unwrap();
        let own = srv.listen("127.0.0.1:0").unwrap();
        assert_eq!(
            srv.listen_addrs(),
            [handed.clone(), handed_unix.clone(), own.clone()]
        );
        let (aw, stop) = ctx
            .new_async(|ctx, _, _, _| ctx.break_loop(Break::All))
            .unwrap();
        let mut w = ctx.async_watcher(aw).unwrap();
        w.set_keepalive(false);
        w.start().unwrap();
        let mut st = St {
            id: Some(id),
            first: Some(handed.clone()),
        };
        tx.send((handed, handed_unix, own, stop)).unwrap();
        lp.run(&mut st, RunMode::Default).unwrap();
    });
    let (handed, handed_unix, own, stop) = rx.recv().unwrap();
    (handed, handed_unix, own, stop, thread)
}

fn get<S: Read + Write>(c: &mut S, path: &str) -> String {
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut rd = ReaderAny {
        s: c,
        buf: Vec::new(),
    };
    rd.body()
}

/// Reads one Content-Length response from any stream.
struct ReaderAny<'a, S> {
    s: &'a mut S,
    buf: Vec<u8>,
}

impl<S: Read> ReaderAny<'_, S> {
    fn body(&mut self) -> String {
        let mut tmp = [0u8; 4096];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                if self.buf.len() >= end + 4 + len {
                    assert!(head.starts_with("http/1.1 200"), "{head}");
                    return String::from_utf8_lossy(&self.buf[end + 4..end + 4 + len]).into();
                }
            }
            let n = self.s.read(&mut tmp).unwrap();
            assert!(n > 0, "eof before the response");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }
}

#[test]
fn sockets_bound_by_the_caller_are_served_and_one_can_be_let_go() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let dir = std::env::temp_dir().join(format!("evloop-http-listen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let unix = UnixListener::bind(&path).unwrap();
    let (handed, handed_unix, own, stop, thread) = serve(tcp, unix);
    assert_eq!(handed, ListenAddr::Tcp(tcp_addr));
    assert_eq!(handed_unix, ListenAddr::Unix(path.clone()));

    // Each listener serves.
    let mut first = TcpStream::connect(tcp_addr).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(get(&mut first, "/"), "served");
    let mut u = UnixStream::connect(&path).unwrap();
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(get(&mut u, "/"), "served");
    let ListenAddr::Tcp(own_addr) = own else {
        unreachable!()
    };
    let mut second = TcpStream::connect(own_addr).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(get(&mut second, "/"), "served");

    // The handed-over listener goes (once); the others stay.
    assert_eq!(get(&mut u, "/stop"), "true false 2");
    match TcpStream::connect(tcp_addr) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
        Ok(_) => panic!("the stopped listener still accepts"),
    }
    // A connection it accepted before goes on.
    assert_eq!(get(&mut first, "/"), "served");
    assert_eq!(get(&mut second, "/"), "served");

    stop.send();
    thread.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
