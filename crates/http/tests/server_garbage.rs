//! Hostile input over real sockets: random bytes, valid requests cut at
//! random points and mixed with noise. The server never panics, answers
//! what is valid, and serves the next client afterwards.

mod server_util;

use std::io::{Read, Write};
use std::time::Duration;

use evloop_http::server::{Body, ServerOptions};
use http::{Method, Response};
use server_util::{roundtrip, spawn};

/// xorshift64*: a fixed sequence, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
    b"\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"GET /\x00 HTTP/1.1\r\n",
    b"ffffffffffffffffff\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b" \t:\r\r\n\n",
    b"Upgrade: x\r\nConnection: upgrade\r\n",
];

#[test]
fn random_and_cut_requests_never_break_the_server() {
    let srv = spawn(
        ServerOptions::new().header_timeout(Duration::from_secs(2)),
        (),
        |r| {
            r.exact("/", &[Method::GET, Method::POST], |_, _, req| {
                Response::new(Body::from(format!("ok {}", req.body().len())))
            });
        },
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..150 {
        let mut input = Vec::new();
        for _ in 0..1 + rng.below(6) {
            if rng.below(4) == 0 {
                let n = rng.below(40);
                input.extend((0..n).map(|_| rng.next() as u8));
            } else {
                let p = PIECES[rng.below(PIECES.len())];
                input.extend_from_slice(&p[..rng.below(p.len() + 1)]);
                if rng.below(2) == 0 {
                    input.extend_from_slice(&p[p.len().min(rng.below(p.len() + 1))..]);
                }
            }
        }
        let mut c = srv.connect();
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        // Sent in random pieces.
        let mut at = 0;
        while at < input.len() {
            let n = 1 + rng.below(input.len() - at);
            if c.write_all(&input[at..at + n]).is_err() {
                break;
            }
            at += n;
        }
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        if !out.is_empty() {
            assert!(
                out.starts_with(b"HTTP/1.1 "),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
        }
    }
    // Still serving.
    let r = roundtrip(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.text(), "ok 0");
    srv.stop();
}
