//! Shared pieces of the client tests: a loop with this crate's server and
//! a client, a bounded run, and a scripted socket server.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evloop::{Loop, RunMode};
use evloop_buffer::ListenAddr;
use evloop_http::client::{ClientExt, ClientId, ClientOptions};
use evloop_http::server::{Router, ServerExt, ServerId, ServerOptions};

/// A loop serving `router` on a loopback port, and a client.
pub fn setup<S: 'static>(
    router: Router<S>,
    opts: ClientOptions,
) -> (Loop<S>, ServerId, SocketAddr, ClientId) {
    let mut lp: Loop<S> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let server = ctx.new_server(router, ServerOptions::new()).unwrap();
    let ListenAddr::Tcp(addr) = ctx.server(server).unwrap().listen("127.0.0.1:0").unwrap() else {
        unreachable!()
    };
    let client = ctx.new_client(opts).unwrap();
    (lp, server, addr, client)
}

/// A loop with only a client.
pub fn client_loop<S: 'static>(opts: ClientOptions) -> (Loop<S>, ClientId) {
    let mut lp: Loop<S> = Loop::new().unwrap();
    let client = lp.ctx().new_client(opts).unwrap();
    (lp, client)
}

/// Runs the loop until `done` holds (at most 10 s: a watchdog timer keeps
/// each iteration short).
pub fn run_until<S: 'static>(lp: &mut Loop<S>, s: &mut S, done: impl Fn(&S) -> bool) {
    let dog = lp
        .ctx()
        .new_timer(
            Duration::from_millis(20),
            Duration::from_millis(20),
            |_, _, _, _| {},
        )
        .unwrap();
    lp.ctx().start(dog).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(s) {
        assert!(Instant::now() < deadline, "the test did not finish in 10 s");
        lp.run(s, RunMode::Once).unwrap();
    }
    lp.ctx().remove(dog).unwrap();
}

/// Runs the loop for about `d`.
pub fn run_for<S: 'static>(lp: &mut Loop<S>, s: &mut S, d: Duration) {
    let end = Instant::now() + d;
    let dog = lp
        .ctx()
        .new_timer(
            Duration::from_millis(5),
            Duration::from_millis(5),
            |_, _, _, _| {},
        )
        .unwrap();
    lp.ctx().start(dog).unwrap();
    while Instant::now() < end {
        lp.run(s, RunMode::Once).unwrap();
    }
    lp.ctx().remove(dog).unwrap();
}

/// Reads one request head (through the blank line) from `c`.
pub fn read_head(c: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(_) => got.push(b[0]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A scripted server: accepts connections on a thread and runs `script`
/// on each (with its index), until `conns` connections were served.
pub fn scripted<F>(conns: usize, script: F) -> (SocketAddr, JoinHandle<()>)
where
    F: Fn(usize, TcpStream) + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        for i in 0..conns {
            let Ok((c, _)) = l.accept() else { return };
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            script(i, c);
        }
    });
    (addr, h)
}

/// Writes `bytes` and flushes.
pub fn put(c: &mut TcpStream, bytes: &[u8]) {
    let _ = c.write_all(bytes);
    let _ = c.flush();
}
