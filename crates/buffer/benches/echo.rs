//! Echo throughput over loopback TCP: a server on `Listener` +
//! `BufferedStream` against one on raw io watchers (the approach of the
//! workspace's `examples/echo.rs`: read into a scratch buffer, write back at
//! once, keep what the socket refused and wait for WRITE).
//!
//! ```text
//! cargo bench -p evloop-buffer --bench echo            # full
//! cargo bench -p evloop-buffer --bench echo -- --quick # a quick look
//! ```
//!
//! Each server runs its own loop in its own thread; the client is plain
//! blocking std sockets in the bench thread. Neither server has idle
//! timers, so the two differ only in how they move bytes.
//!
//! * `one_connection`: each iteration sends 64 MiB through one connection
//!   (a writer thread sends 256 KiB writes while the bench thread reads the
//!   echo); the figure is echoed bytes per second. Criterion runs 10
//!   samples of several iterations each, so a run moves well over 1 GiB
//!   per server.
//! * `1000_connections`: 1,000 connections stay open; each iteration does
//!   4 rounds of "every connection sends 512 bytes, then every echo is read
//!   back"; the figure is echoed messages per second.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evloop::{Ctx, Events, IoId, Loop, RunMode};
use evloop_buffer::{
    Direction, ListenAddr, ListenerExt, ListenerOptions, StreamEvent, StreamExt, Watermarks,
};

const ONE_CONN_BYTES: usize = 64 << 20;
const WRITE_CHUNK: usize = 256 << 10;
const CONNS: usize = 1000;
const ROUNDS: usize = 4;
const MSG: usize = 512;

/// Starts a server thread (it runs until the process exits) and returns
/// its address.
fn spawn_server(serve: fn(mpsc::Sender<SocketAddr>)) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || serve(tx));
    rx.recv().expect("the server thread reports its address")
}

/// The echo server of `crates/buffer/examples/stream_echo.rs`, without timeouts.
fn stream_server(tx: mpsc::Sender<SocketAddr>) {
    let mut lp: Loop<()> = Loop::new().unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let opts = ListenerOptions::new().backlog(4096);
    let id = lp
        .ctx()
        .listen(any, &opts, |ctx, _, _, conn| {
            let id = ctx.new_stream(conn).unwrap();
            let mut s = ctx.stream(id).unwrap();
            s.set_watermarks(Watermarks {
                write_low: 256 << 10,
                ..Watermarks::default()
            });
            s.on_read(|ctx, _, id| {
                let mut s = ctx.stream(id).unwrap();
                let mut data = s.input().split_to_buffer(usize::MAX);
                s.write_buffer(&mut data);
                if s.output().len() >= 1 << 20 {
                    s.disable(Direction::Read);
                }
            });
            s.on_write(|ctx, _, id| ctx.stream(id).unwrap().enable(Direction::Read));
            s.on_event(|ctx, _, id, ev| {
                let s = ctx.stream(id).unwrap();
                match ev {
                    StreamEvent::Eof => s.close_when_flushed(),
                    _ => s.close(),
                };
            });
        })
        .unwrap();
    let ListenAddr::Tcp(addr) = lp.ctx().listener(id).unwrap().local_addr().unwrap() else {
        unreachable!()
    };
    tx.send(addr).unwrap();
    lp.run(&mut (), RunMode::Default).unwrap();
}

/// Per-connection state of the raw server: bytes the socket refused.
type RawState = std::collections::HashMap<IoId<TcpStream>, Vec<u8>>;

/// An echo server on raw io watchers, as the workspace's example does it.
fn raw_server(tx: mpsc::Sender<SocketAddr>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    tx.send(listener.local_addr().unwrap()).unwrap();
    let mut lp: Loop<(RawState, Vec<u8>)> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let accept = ctx
        .new_io(listener, Events::READ, |ctx, (conns, _), id, _| loop {
            match ctx.io(id).unwrap().source().accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(true).unwrap();
                    let io = ctx.new_io(s, Events::READ, raw_conn).unwrap();
                    ctx.start(io).unwrap();
                    conns.insert(io, Vec::new());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => panic!("accept: {e}"),
            }
        })
        .unwrap();
    ctx.start(accept).unwrap();
    lp.run(&mut (RawState::new(), vec![0; 64 << 10]), RunMode::Default)
        .unwrap();
}

fn raw_conn(
    ctx: &mut Ctx<'_, (RawState, Vec<u8>)>,
    app: &mut (RawState, Vec<u8>),
    id: IoId<TcpStream>,
    _: Events,
) {
    let (conns, scratch) = app;
    let unsent = conns.get_mut(&id).unwrap();
    let mut w = ctx.io(id).unwrap();
    let done = raw_pump(w.source(), unsent, scratch);
    if done {
        conns.remove(&id);
        w.remove();
        return;
    }
    let want = if unsent.is_empty() {
        Events::READ
    } else {
        Events::WRITE
    };
    w.set_interest(want).unwrap();
}

/// The raw example's pump: queued bytes out first, then read and write
/// back at once, up to 256 KiB per wake-up. True when the peer is gone.
fn raw_pump(mut s: &TcpStream, unsent: &mut Vec<u8>, scratch: &mut [u8]) -> bool {
    if !unsent.is_empty() {
        match write_some(s, unsent) {
            Ok(n) => {
                unsent.drain(..n);
            }
            Err(_) => return true,
        }
        if !unsent.is_empty() {
            return false;
        }
    }
    let mut budget = 256 << 10;
    while budget > 0 {
        let n = match s.read(scratch) {
            Ok(0) => return true,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        };
        budget -= n.min(budget);
        match write_some(s, &scratch[..n]) {
            Ok(w) if w < n => {
                unsent.extend_from_slice(&scratch[w..n]);
                return false;
            }
            Ok(_) => {}
            Err(_) => return true,
        }
    }
    false
}

fn write_some(mut s: &TcpStream, buf: &[u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match s.write(&buf[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Sends `ONE_CONN_BYTES` and reads them back.
fn one_connection_round(conn: &TcpStream, chunk: &'static [u8], readbuf: &mut [u8]) {
    let mut writer = conn.try_clone().unwrap();
    let w = std::thread::spawn(move || {
        let mut left = ONE_CONN_BYTES;
        while left > 0 {
            let n = left.min(chunk.len());
            writer.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
    });
    let mut got = 0;
    let mut r = conn;
    while got < ONE_CONN_BYTES {
        let n = r.read(readbuf).unwrap();
        assert!(n > 0, "server hung up");
        got += n;
    }
    w.join().unwrap();
}

fn connect_many(addr: SocketAddr) -> Vec<TcpStream> {
    (0..CONNS)
        .map(|_| {
            let c = TcpStream::connect(addr).unwrap();
            c.set_nodelay(true).unwrap();
            c
        })
        .collect()
}

fn many_round(conns: &mut [TcpStream], msg: &[u8; MSG]) {
    let mut back = [0u8; MSG];
    for _ in 0..ROUNDS {
        for c in conns.iter_mut() {
            c.write_all(msg).unwrap();
        }
        for c in conns.iter_mut() {
            c.read_exact(&mut back).unwrap();
        }
    }
}

fn bench(c: &mut Criterion) {
    let servers = [
        ("buffered_stream", spawn_server(stream_server)),
        ("raw_io", spawn_server(raw_server)),
    ];
    let chunk: &'static [u8] = Box::leak(vec![0x5a_u8; WRITE_CHUNK].into_boxed_slice());
    let mut readbuf = vec![0u8; 256 << 10];

    let mut g = c.benchmark_group("one_connection");
    g.throughput(Throughput::Bytes(ONE_CONN_BYTES as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for (name, addr) in servers {
        let conn = TcpStream::connect(addr).unwrap();
        conn.set_nodelay(true).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| one_connection_round(&conn, chunk, &mut readbuf))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("1000_connections");
    g.throughput(Throughput::Elements((CONNS * ROUNDS) as u64));
    g.sample_size(10);
    let msg = [0x42u8; MSG];
    for (name, addr) in servers {
        let mut conns = connect_many(addr);
        g.bench_function(name, |b| b.iter(|| many_round(&mut conns, &msg)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
