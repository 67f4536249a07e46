//! Bounded cost per connection whatever the client sends: a get of a
//! million keys is answered as the client reads (bounded memory, other
//! clients served meanwhile), and a long line arriving in small pieces
//! costs CPU linear in its length. Bounds are generous; what they rule
//! out is the unbounded case (gigabytes, quadratic seconds).

mod support;

use std::io::{BufRead, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use support::Server;

const KEYS: usize = 100;
const GETS: usize = 1_000_000;
const VALUE: usize = 100;

#[test]
fn a_million_key_get_is_answered_in_bounded_memory_while_others_are_served() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let value = vec![b'v'; VALUE];
    for k in 0..KEYS {
        c.set(&format!("k{k:02}"), &value);
    }
    let base = s.status_bytes("VmHWM");
    // One request line of a million keys (4 MB), all present.
    let mut req = Vec::with_capacity(4 * GETS + 8);
    req.extend_from_slice(b"get");
    for i in 0..GETS {
        req.extend_from_slice(format!(" k{:02}", i % KEYS).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let mut w = c.w.try_clone().unwrap();
    let sender = thread::spawn(move || w.write_all(&req).unwrap());

    // Another client meanwhile: answered promptly, again and again.
    let addr = s.addr();
    let other = thread::spawn(move || {
        let mut o = support::Client::new(std::net::TcpStream::connect(addr).unwrap());
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let t = Instant::now();
            o.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
            worst = worst.max(t.elapsed());
            thread::sleep(Duration::from_millis(20));
        }
        worst
    });

    // Read slowly, checking every value on the way.
    let mut header = Vec::new();
    let mut data = vec![0u8; VALUE + 2];
    for i in 0..GETS {
        header.clear();
        c.r.read_until(b'\n', &mut header).unwrap();
        let want = format!("VALUE k{:02} 0 {VALUE}\r\n", i % KEYS);
        assert_eq!(header, want.as_bytes(), "value {i}");
        c.r.read_exact(&mut data).unwrap();
        assert!(data[..VALUE] == value[..] && data.ends_with(b"\r\n"));
        if i % 20_000 == 0 {
            thread::sleep(Duration::from_millis(5));
        }
    }
    c.expect(b"END\r\n");
    sender.join().unwrap();
    let worst = other.join().unwrap();
    c.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    let peak = s.status_bytes("VmHWM");
    println!(
        "peak RSS {} kB (before the get {} kB); worst version latency {worst:?}",
        peak >> 10,
        base >> 10
    );
    assert!(
        peak < 64 << 20,
        "peak RSS {} MB (before the get: {} MB)",
        peak >> 20,
        base >> 20
    );
    assert!(worst < Duration::from_secs(2), "a version took {worst:?}");
}

/// Server CPU time to answer a 2 MB get line sent in `piece`-byte writes.
fn cpu_for_line(s: &Server, line: &[u8], piece: usize) -> Duration {
    let mut c = s.connect();
    let before = s.cpu();
    for p in line.chunks(piece) {
        c.w.write_all(p).unwrap();
    }
    c.expect(b"END\r\n");
    s.cpu() - before
}

#[test]
fn a_long_line_in_small_pieces_costs_linear_cpu() {
    let s = Server::start(&[]);
    let mut line = b"get".to_vec();
    let mut i = 0;
    while line.len() < 2 << 20 {
        line.extend_from_slice(format!(" missing{i}").as_bytes());
        i += 1;
    }
    line.extend_from_slice(b"\r\n");
    let whole = cpu_for_line(&s, &line, line.len());
    let pieces = cpu_for_line(&s, &line, 100);
    println!("CPU for a 2 MB line: one write {whole:?}, 100-byte pieces {pieces:?}");
    assert!(
        pieces <= whole * 10 + Duration::from_millis(500),
        "one write: {whole:?} of CPU; 100-byte pieces: {pieces:?}"
    );
    // The line limit applies however the line arrives: a non-get line
    // past 2048 bytes closes the connection without a reply (as memcached
    // does), a get line past 16 MB too.
    let mut c = s.connect();
    // Past 2048 with its last piece, so nothing arrives after the server
    // closes (which would reset the connection).
    let junk = vec![b'x'; 2100];
    for p in junk.chunks(100) {
        c.w.write_all(p).unwrap();
    }
    let mut rest = Vec::new();
    let _ = c.r.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}
