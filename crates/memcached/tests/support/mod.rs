//! Helpers shared by the end-to-end test files: the server as a child
//! process that says where it listens, and a raw text-protocol client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The server binary, built by cargo for this test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_evloop-memcached"))
}

/// A running server; killed when dropped, also when a test fails.
pub struct Server {
    pub child: Child,
    /// Where it listens, from its `listening on` lines.
    pub addrs: Vec<SocketAddr>,
    /// Its stderr, for tests that check warnings.
    pub stderr: Option<ChildStderr>,
}

impl Server {
    /// Starts the server on a port the kernel picks (`-l 127.0.0.1:0`
    /// unless `args` name addresses themselves), and reads where it
    /// listens from its `memcached: listening on ADDR` lines.
    pub fn start(args: &[&str]) -> Server {
        let has_addr = args.iter().any(|a| {
            matches!(*a, "-l" | "--listen" | "-p" | "--port")
                || a.starts_with("--listen=")
                || a.starts_with("--port=")
        });
        let mut cmd = Command::new(bin());
        if !has_addr {
            cmd.args(["-l", "127.0.0.1:0"]);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start evloop-memcached");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            addrs: Vec::new(),
            stderr,
        };
        // Generous: a debug build on a loaded machine starts slowly. The
        // first line comes once every loop listens; the others follow it.
        let mut wait = Duration::from_secs(30);
        while let Ok(line) = rx.recv_timeout(wait) {
            let addr = line
                .strip_prefix("memcached: listening on ")
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            server.addrs.push(addr.parse().expect("an address"));
            wait = Duration::from_millis(300);
        }
        assert!(
            !server.addrs.is_empty(),
            "the server printed no listening line within 30 s"
        );
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn connect(&self) -> Client {
        Client::new(TcpStream::connect(self.addr()).expect("connect to the server"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `kB` field of `/proc/<pid>/status` (VmRSS, VmHWM), in bytes.
    pub fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("no {field} in /proc/<pid>/status"))
    }

    /// CPU time used so far (user + system), from `/proc/<pid>/stat`.
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("read /proc/<pid>/stat");
        // Fields after the command name, which is in parentheses.
        let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        // utime and stime are fields 14 and 15; `rest` starts at field 3.
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        // USER_HZ is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }

    /// Waits (at most `limit`) for the server to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                start.elapsed() < limit,
                "the server did not exit within {limit:?}"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything the server wrote to stderr, once it has exited.
    pub fn stderr_text(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client connection, with a buffered reader on its receiving side.
pub struct Client {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Client {
    pub fn new(s: TcpStream) -> Client {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            r: BufReader::with_capacity(256 << 10, s.try_clone().unwrap()),
            w: s,
        }
    }

    pub fn send(&mut self, req: &[u8]) {
        self.w.write_all(req).expect("send a request");
    }

    /// Reads exactly `want.len()` bytes and checks them.
    pub fn expect(&mut self, want: &[u8]) {
        let mut got = vec![0; want.len()];
        if let Err(e) = self.r.read_exact(&mut got) {
            panic!("reading {:?}: {e}", String::from_utf8_lossy(want));
        }
        assert!(
            got == want,
            "got {:?}, want {:?}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want)
        );
    }

    /// Sends `req` and checks that the reply is `reply`.
    pub fn call(&mut self, req: &[u8], reply: &[u8]) {
        self.send(req);
        self.expect(reply);
    }

    /// One reply line, with its line end.
    pub fn raw_line(&mut self) -> Vec<u8> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).expect("read a line");
        l
    }

    /// One reply line, without its `\r\n`.
    pub fn line(&mut self) -> String {
        let mut l = self.raw_line();
        assert!(l.ends_with(b"\r\n"), "not a full line: {l:?}");
        l.truncate(l.len() - 2);
        String::from_utf8(l).expect("a text line")
    }

    /// Lines up to `END` (not included).
    pub fn lines_to_end(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        loop {
            let l = self.line();
            if l == "END" {
                return v;
            }
            v.push(l);
        }
    }

    pub fn set(&mut self, key: &str, value: &[u8]) {
        let mut req = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
        self.call(&req, b"STORED\r\n");
    }
}
