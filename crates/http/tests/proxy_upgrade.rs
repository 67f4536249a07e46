//! Upgrades through the proxy: the request's `Upgrade` goes to the
//! upstream, its `101` comes back, and then bytes flow both ways (a large
//! amount with back-pressure) until both sides have closed.

mod proxy_util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use proxy_util::{read_head, read_response, write_pattern, Handler, PatternCheck, Proxy, Upstream};

/// Switches to an echo protocol when asked with both fields (426
/// otherwise), then sends back every byte until the end of input.
fn echo_upstream() -> Upstream {
    let h: Arc<Handler> = Arc::new(|head, r, w| {
        let asked = head.get("upgrade") == Some("echo")
            && head
                .get("connection")
                .is_some_and(|c| c.to_ascii_lowercase().contains("upgrade"));
        if !asked {
            let _ = w.write_all(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n");
            return true;
        }
        let via = head.get("via").unwrap_or("").to_string();
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\
             X-Saw-Via: {via}\r\n\r\n"
        );
        if w.write_all(answer.as_bytes()).is_err() {
            return false;
        }
        loop {
            let n = match r.fill_buf() {
                Ok([]) | Err(_) => break,
                Ok(buf) => {
                    if w.write_all(buf).is_err() {
                        return false;
                    }
                    buf.len()
                }
            };
            r.consume(n);
        }
        let _ = w.shutdown(Shutdown::Write);
        false
    });
    Upstream::start(0, h)
}

#[test]
fn an_upgraded_connection_is_spliced_both_ways() {
    let up = echo_upstream();
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let mut c = proxy.connect();
    c.write_all(b"GET /tunnel HTTP/1.1\r\nHost: h\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
        .unwrap();
    let mut rd = BufReader::new(c.try_clone().unwrap());
    let head = read_head(&mut rd).unwrap().unwrap();
    assert_eq!(head.status(), 101, "{}", head.raw);
    assert_eq!(head.get("upgrade"), Some("echo"));
    assert_eq!(
        head.get("connection").map(str::to_ascii_lowercase),
        Some("upgrade".into())
    );
    assert_eq!(head.get("x-saw-via"), Some("1.1 evloop-proxy"));

    c.write_all(b"hello").unwrap();
    let mut five = [0u8; 5];
    rd.read_exact(&mut five).unwrap();
    assert_eq!(&five, b"hello");

    // 8 MiB at once: more than any buffer on the way holds.
    const N: u64 = 8 * 1024 * 1024;
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        write_pattern(&mut w, N).unwrap();
        // The end of input goes through too, and comes back as the
        // upstream's.
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut check = PatternCheck::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = rd.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        check.feed(&buf[..n]);
    }
    writer.join().unwrap();
    assert_eq!(check.seen, N);
    assert_eq!(check.bad_at, None);
}

#[test]
fn a_refused_upgrade_is_an_ordinary_answer() {
    let up = echo_upstream();
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let mut c = proxy.connect();
    // No Connection: upgrade, so not an upgrade request: Upgrade is
    // dropped as hop-by-hop, and the upstream refuses.
    c.write_all(b"GET /tunnel HTTP/1.1\r\nHost: h\r\nUpgrade: echo\r\n\r\n")
        .unwrap();
    let mut rd = BufReader::new(c.try_clone().unwrap());
    assert_eq!(read_response(&mut rd, "GET").unwrap().status(), 426);
    // The connection goes on as HTTP.
    c.write_all(b"GET /again HTTP/1.1\r\nHost: h\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut rd).unwrap().unwrap().status(), 101);
}
