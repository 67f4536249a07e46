//! The same requests to this server and to a real memcached (when the
//! `memcached` binary is installed; else SKIP): the replies must be
//! byte-identical, except for the deliberate differences listed in the
//! crate's README (which this corpus leaves out).

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::Server;

/// Requests whose replies must be the same. Each runs on a fresh
/// connection after a `flush_all`; `mn` after it marks the end of the
/// replies (unless it closes the connection).
const CASES: &[&[u8]] = &[
    b"set k 0 0 1\r\na\r\nget k\r\n",
    b"get \x10\x10abc\r\n",
    b"set \x10\x10abc 1 0 2\r\nhi\r\nget \x10\x10abc\r\n",
    b"set a\tb 0 0 1\r\nx\r\nget a\tb\r\n",
    b"set k\x7f\xff 7 0 1\r\nx\r\nget k\x7f\xff\r\n",
    b"get a\x00b\r\n",
    b"gets\r\n",
    b"get\r\n",
    b"get \r\n",
    b"set k 0 0\r\n",
    b"set k 0 0 1 noreply\r\nx\r\nget k\r\n",
    b"incr k 1\r\n",
    b"set n 0 0 2\r\n10\r\nincr n 5\r\nincr n x\r\ndecr n 1\r\n",
    b"set n 0 0 1\r\nx\r\nincr n 1\r\n",
    b"touch k 10\r\n",
    b"set k 0 0 1\r\nx\r\ntouch k 10\r\ngat 100 k\r\n",
    b"delete k 0\r\n",
    b"delete k noreply\r\nget k\r\n",
    b"delete k 5\r\n",
    b"verbosity\r\n",
    b"verbosity 1\r\n",
    b"verbosity x\r\n",
    b"flush_all 0\r\n",
    b"flush_all x\r\n",
    b"shutdown\r\n",
    b"shutdown graceful\r\n",
    b"stats cachedump\r\n",
    b"stats cachedump 1\r\n",
    b"stats cachedump x y\r\n",
    b"stats cachedump 99 0\r\n",
    b"stats cachedump 2 0\r\n",
    b"lru_crawler\r\n",
    b"lru_crawler foo\r\n",
    b"lru_crawler metadump\r\n",
    b"lru_crawler metadump x\r\n",
    b"lru_crawler metadump 5\r\n",
    b"lru_crawler crawl 5\r\n",
    b"lru_crawler tocrawl x\r\n",
    b"lru_crawler sleep 2000000\r\n",
    b"lru_crawler enable\r\n",
    b"stats detail\r\n",
    b"stats detail on\r\n",
    b"stats foo\r\n",
    b"stats sizes\r\n",
    b"mn\r\n",
    b"mg\r\n",
    b"mg k v\r\n",
    b"ms k 1\r\nx\r\nmg k v f t s\r\n",
    b"mg AAEC b v\r\n",
    b"ms AAEC 2 b\r\nok\r\nmg AAEC b v k\r\n",
    b"mg @@@ b v\r\n",
    b"ms \x10\x10k 1\r\nx\r\nmg \x10\x10k v k\r\n",
    b"gat 10 k\r\n",
    b"gat\r\n",
    b"gat x k\r\n",
    b"  get k\r\n",
    b"GET k\r\n",
    b"\r\n",
    b"x\r\n",
    b"set k 0 0 1\r\nxy\r\n",
    b"append nokey 0 0 1\r\nx\r\n",
    b"set k 0 0 1\r\nx\r\nappend k 0 0 1\r\ny\r\nprepend k 0 0 1\r\nz\r\nget k\r\n",
    b"cache_memlimit 100\r\n",
    b"cache_memlimit 1\r\n",
    b"bget k\r\n",
    b"quit\r\n",
    b"set k 0 0 1\r\nx\r\nget k k k\r\n",
    // HTTP request lines close the connection without a reply (t/malicious-commands.t).
    b"GET / HTTP/1.0\r\n",
    b"PUT /asdf/asd/fasdfasdf/sadf HTTP/1.1\r\n",
    b"DELETE HTTP/1.1\r\n",
    b"gett / HTTP/1.0\r\n",
    b"get / HTTP/1.0\r\n",
    // A storage line refused for its syntax leaves its data to be read as
    // a command (t/cas.t).
    b"cas foo 0 0 6 \r\nbarva2\r\n",
    b"set a bad 0 5\r\nget a\r\n",
    b"set a 0 0 1 x y\r\nget a\r\n",
    b"set a 0 0 -1\r\nget a\r\n",
    b"set a 0 x 1 noreply\r\nx\r\n",
    b"ms a\r\nx\r\n",
    b"ms a x\r\nget a\r\n",
    b"ms a 1 Fx\r\nx\r\n",
    // Numbers read as strtol/strtoul read them, cut to 32 bits.
    b"set k 4294967297 4294967296 4294967297\r\nx\r\nget k\r\n",
    b"set k \t5 -0 1\r\r\nx\r\nget k\r\n",
    b"set k 5\tjunk 0 1\r\nx\r\nget k\r\n",
    b"set k -18446744073709551615 0 1\r\nx\r\nget k\r\n",
    b"set k 0 4102444800 1\r\nx\r\nget k\r\n",
    b"set k 0 0 1\r\n5\r\nincr k \x0b7\r\nincr k -0\r\nincr k -1\r\n",
    b"touch k 4294967297\r\nflush_all -0\r\n",
    // decr pads a shorter number with spaces; incr grows it.
    b"set n 0 0 2\r\n12\r\ndecr n 10\r\nget n\r\nincr n 99\r\nget n\r\n",
    b"set n 0 0 3\r\n 7 \r\nincr n 1\r\nget n\r\n",
    b"ms n 2\r\n10\r\nma n MD v\r\nmg n v\r\n",
    // ...unless a reply not yet sent holds the item (an mg's value; a get
    // sends its replies at once).
    b"ms n 2\r\n10\r\nmg n v\r\ndecr n 1\r\nmg n v\r\n",
    b"ms n 2\r\n10\r\nmg n v\r\nmn\r\ndecr n 1\r\nmg n v\r\n",
    b"set n 0 0 2\r\n10\r\nget n\r\ndecr n 1\r\nget n\r\n",
    b"ms n 2\r\n10\r\nmg n\r\ndecr n 1\r\nmg n v\r\n",
    // slabs automove/reassign (t/strtol-testing.t).
    b"slabs automove invalid\r\nslabs automove 3\r\nslabs automove 1\r\n",
    b"slabs automove ratio 0.8\r\nslabs automove ratio\r\nslabs automove ratio x\r\n",
    b"slabs automove 1 noreply\r\nslabs automove x noreply\r\n",
    b"slabs reassign 1 1\r\nslabs reassign 0 1\r\nslabs reassign -1 1\r\n",
    b"slabs\r\nslabs reassign x 1\r\nslabs reassign 1\r\nslabs foo\r\n",
    b"verbosity invalid\r\nverbosity 1 noreply\r\n",
    // stats detail: per-prefix counts, dumped in memcached's table order
    // (t/stats-detail.t).
    b"stats reset\r\nstats detail dump\r\nstats detail on\r\nset foo:1 0 0 1\r\nx\r\n\
      get foo:1 foo:2 bar:1 nodelim a:1 ab:1 abc:1 hello:1 x:y\r\ndelete zz:1\r\n\
      add foo:1 0 0 1\r\ny\r\nstats detail dump\r\nstats detail off\r\nget foo:1\r\n\
      stats detail dump\r\nstats reset\r\nstats detail dump\r\n",
    b"stats detail\r\nstats detail x\r\nstats detail on off\r\nstats detail off\r\n",
    // A metadump after replies still waiting in the batch is refused
    // (t/lru-crawler.t); a get sends them first.
    b"mg foo v\r\nlru_crawler metadump all\r\n",
    b"set a 0 0 1\r\nx\r\nlru_crawler metadump 2\r\n",
    b"get a\r\nlru_crawler metadump 2\r\n",
    b"mn\r\nlru_crawler metadump hash\r\n",
    b"lru_crawler crawl hash\r\n",
    b"lru_crawler metadump 0\r\nlru_crawler crawl 0\r\n",
    b"set noreply 0 0 1\r\nx\r\ndelete noreply\r\ndelete  noreply\r\n",
    // CAS uniques as memcached hands them out (an immediate flush_all takes
    // one, an in-place incr one), and me's exp (now - exptime).
    b"set a 0 0 1\r\n1\r\ngets a\r\nincr a 1\r\ngets a\r\nflush_all\r\nset a 0 0 1\r\n1\r\ngets a\r\n",
    b"ms k 1 T30 c\r\nx\r\nme k\r\nmg k c\r\nma k N0 c\r\nmg v N30 c\r\nme v\r\n",
    b"ms k 2 I\r\nhi\r\nmd k I\r\nmg k c\r\nappend k 0 0 1\r\n!\r\nmg k c v\r\nme k\r\n",
    b"ms AAEC 2 b\r\nhi\r\nms AAEC 1 b MA\r\nx\r\nmg AAEC b k v\r\nme AAEC b\r\n",
];

/// A real memcached on a free port, killed when dropped.
struct Memcached(Child, u16);

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn memcached() -> Option<Memcached> {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut cmd = Command::new("memcached");
        cmd.args([
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-t",
            "1",
        ]);
        if is_root() {
            cmd.args(["-u", "root"]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut m = Memcached(child, port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if m.0.try_wait().ok()?.is_some() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(m);
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
    None
}

/// Whether this process runs as root (memcached then wants `-u root`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Sends `flush_all`, then `case` and `mn`; returns what comes back up to
/// the `MN` (or EOF).
fn replies(port: u16, case: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut ok = [0u8; 4];
    s.write_all(b"flush_all\r\n").unwrap();
    s.read_exact(&mut ok).unwrap();
    s.write_all(case).unwrap();
    s.write_all(b"mn\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let count = |h: &[u8], n: &[u8]| h.windows(n.len()).filter(|w| *w == n).count();
    let want = count(case, b"mn\r\n") + 1;
    while count(&got, b"MN\r\n") < want {
        match s.read(&mut buf) {
            Ok(0) => {
                got.extend_from_slice(b"<EOF>");
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A close with the `mn` unread resets the connection.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                got.extend_from_slice(b"<EOF>");
                break;
            }
            Err(e) => panic!("{:?}: {e} after {got:?}", String::from_utf8_lossy(case)),
        }
    }
    got
}

#[test]
fn replies_are_byte_identical_to_memcached() {
    let has = Command::new("memcached")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let Some(real) = has.then(memcached).flatten() else {
        println!("SKIP: memcached not installed (apt-get install memcached)");
        return;
    };
    let ours = Server::start(&[]);
    let mut diffs = Vec::new();
    for case in CASES {
        let a = replies(ours.addr().port(), case);
        let b = replies(real.1, case);
        if a != b {
            diffs.push(format!(
                "{:?}\n  evloop:    {:?}\n  memcached: {:?}",
                String::from_utf8_lossy(case),
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
