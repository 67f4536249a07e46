//! Why a stream moves a socket's bytes with `recv`/`send` rather than
//! `read`/`write`: the same request/response round trip over a loopback
//! TCP connection, made with each pair of system calls.
//!
//! ```text
//! cargo bench -p evloop-buffer --bench socket_calls
//! ```
//!
//! std's `TcpStream` reads with `recv` and writes with `send`
//! (`MSG_NOSIGNAL`); a `File` made from the same kind of socket reads and
//! writes through the file layer (`read`/`write`). One iteration is what a
//! server and its client do for one small request: 100 bytes one way, 130
//! back, four system calls. Both ends are in this thread, so the figure is
//! the kernel's cost of the calls, with no scheduler in it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;

use criterion::{criterion_group, criterion_main, Criterion};

/// A connected loopback TCP pair with `TCP_NODELAY` on both ends.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (a, b)
}

/// One round trip: `request` from `client` to `server`, `response` back.
fn round_trip<S: Read + Write>(
    client: &mut S,
    server: &mut S,
    scratch: &mut [u8],
    request: &[u8],
    response: &[u8],
) {
    client.write_all(request).unwrap();
    let mut got = 0;
    while got < request.len() {
        got += server.read(scratch).unwrap();
    }
    server.write_all(response).unwrap();
    got = 0;
    while got < response.len() {
        got += client.read(scratch).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let request = [b'q'; 100];
    let response = [b'r'; 130];
    let mut scratch = vec![0u8; 64 << 10];
    let mut g = c.benchmark_group("round_trip_100_130");

    let (mut client, mut server) = tcp_pair();
    g.bench_function("recv_send", |b| {
        b.iter(|| round_trip(&mut client, &mut server, &mut scratch, &request, &response))
    });

    let (client, server) = tcp_pair();
    let mut client = File::from(OwnedFd::from(client));
    let mut server = File::from(OwnedFd::from(server));
    g.bench_function("read_write", |b| {
        b.iter(|| round_trip(&mut client, &mut server, &mut scratch, &request, &response))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
