//! Helpers shared by the end-to-end test files: the server as a child
//! process that says where it listens, and a raw text-protocol client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
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
    /// Where it listens for TCP, from its `listening on` lines.
    pub addrs: Vec<SocketAddr>,
    /// Its UDP addresses (`listening on udp:ADDR`).
    pub udp: Vec<SocketAddr>,
    /// Its Unix socket (`listening on unix:PATH`).
    pub unix: Option<PathBuf>,
    /// Its stderr, for tests that check warnings.
    pub stderr: Option<ChildStderr>,
}

impl Server {
    /// Starts the server on a port the kernel picks (`-l 127.0.0.1:0`
    /// unless `args` name addresses themselves), and reads where it
    /// listens from its `memcached: listening on ADDR` lines, which it
    /// prints once it listens and handles its signals.
    ///
    /// Not a port found beforehand (bind port 0, release it, hand it to the
    /// server) with a connection as the sign of life: under parallel tests
    /// another server could be given the same port between the release and
    /// the bind, and the probe then reached that one, so a test talked to
    /// another test's server (with other options, killed when its test
    /// ended). Nor does a connection prove the server ready: the kernel
    /// accepts it as soon as the socket listens, before the signal handlers
    /// are in place.
    pub fn start(args: &[&str]) -> Server {
        Server::start_env(args, &[])
    }

    /// [`start`](Server::start) with environment variables set.
    pub fn start_env(args: &[&str], envs: &[(&str, &str)]) -> Server {
        // Port 0 fails only when the kernel has no ephemeral port left
        // (every test's connections in TIME_WAIT at once): that passes.
        let mut exits = Vec::new();
        while exits.len() < 3 {
            match Server::try_start(args, envs) {
                Ok(server) => return server,
                Err(status) => exits.push(status),
            }
        }
        panic!("the server exited before it listened, 3 times: {exits:?}");
    }

    /// One attempt of [`start`](Server::start): the server, or how it
    /// exited before it listened.
    fn try_start(args: &[&str], envs: &[(&str, &str)]) -> Result<Server, ExitStatus> {
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
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start evloop-memcached");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take();
        let (tx, rx) = mpsc::channel();
        // Reads on to EOF: the server's stdout is never left full.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        // Killed when dropped, also if no line comes.
        let mut server = Server {
            child,
            addrs: Vec::new(),
            udp: Vec::new(),
            unix: None,
            stderr,
        };
        let mut listening = 0;
        // Generous: a debug build on a loaded machine starts slowly. The
        // first line comes once every loop listens; the others follow it.
        let mut wait = Duration::from_secs(60);
        loop {
            let line = match rx.recv_timeout(wait) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Disconnected) if listening == 0 => {
                    return Err(server.child.wait().expect("wait for the server"));
                }
                Err(_) => break,
            };
            let addr = line
                .strip_prefix("memcached: listening on ")
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            if let Some(udp) = addr.strip_prefix("udp:") {
                server.udp.push(udp.parse().expect("an address"));
            } else if let Some(path) = addr.strip_prefix("unix:") {
                server.unix = Some(path.into());
            } else {
                server.addrs.push(addr.parse().expect("an address"));
            }
            listening += 1;
            wait = Duration::from_millis(300);
        }
        assert!(
            listening > 0,
            "the server printed no listening line within 60 s"
        );
        Ok(server)
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

    /// Sends `sig` to the server.
    pub fn signal(&mut self, sig: i32) {
        // Our own child, not waited for yet: its pid cannot have been reused.
        let signal = nix::sys::signal::Signal::try_from(sig).expect("a signal number");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), signal)
            .expect("kill failed");
    }

    /// Sends `sig` and waits (at most `limit`) for the server to exit.
    pub fn signal_and_wait(&mut self, sig: i32, limit: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        self.signal(sig);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "the server did not exit within {limit:?} of signal {sig}"
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
        // Only ends a test that would hang: generous, for a loaded machine.
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
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
            panic!("reading {:?}: {e}", show(want));
        }
        assert!(got == want, "got {:?}, want {:?}", show(&got), show(want));
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
        assert!(l.ends_with(b"\r\n"), "not a full line: {:?}", show(&l));
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

    /// `set` with no expiry.
    pub fn set(&mut self, key: &str, value: &[u8]) {
        self.set_exp(key, 0, value);
    }

    /// `set` with `exptime`.
    pub fn set_exp(&mut self, key: &str, exptime: i64, value: &[u8]) {
        let mut req = format!("set {key} 0 {exptime} {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
        self.call(&req, b"STORED\r\n");
    }

    /// `get key`: the value, or `None` for a miss.
    pub fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.send(format!("get {key}\r\n").as_bytes());
        let first = self.line();
        if first == "END" {
            return None;
        }
        let len: usize = first
            .strip_prefix(&format!("VALUE {key} "))
            .and_then(|rest| rest.split(' ').nth(1)?.parse().ok())
            .unwrap_or_else(|| panic!("bad VALUE line {first:?}"));
        let mut v = vec![0; len + 2];
        self.r.read_exact(&mut v).expect("read a value");
        assert!(v.ends_with(b"\r\n"));
        v.truncate(len);
        self.expect(b"END\r\n");
        Some(v)
    }

    /// `gets key`: the CAS unique.
    pub fn cas_unique(&mut self, key: &str) -> u64 {
        self.send(format!("gets {key}\r\n").as_bytes());
        let l = self.line();
        let unique = l
            .rsplit(' ')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad gets line {l:?}"));
        let _ = self.line();
        self.expect(b"END\r\n");
        unique
    }

    /// The general `stats`, by name (the numeric ones).
    pub fn stats(&mut self) -> HashMap<String, u64> {
        self.send(b"stats\r\n");
        let mut stats = HashMap::new();
        loop {
            let l = self.line();
            if l == "END" {
                return stats;
            }
            let mut parts = l.splitn(3, ' ');
            assert_eq!(parts.next(), Some("STAT"), "{l:?}");
            let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                panic!("bad stats line {l:?}");
            };
            if let Ok(v) = value.parse() {
                stats.insert(name.to_string(), v);
            }
        }
    }

    /// Polls `stats` until `name` is `want` (a connection's close is seen
    /// by the server a moment after the client's).
    pub fn wait_stat(&mut self, name: &str, want: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.stats()[name];
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "stat {name} stays {got}, want {want}"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether the server closed the connection: EOF (or a reset) after
    /// any bytes in `rest`.
    pub fn closed_after(&mut self, rest: &[u8]) -> bool {
        self.expect(rest);
        let mut buf = [0; 64];
        match self.r.read(&mut buf) {
            Ok(0) => true,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
            Ok(n) => panic!("unexpected bytes before EOF: {:?}", show(&buf[..n])),
            Err(e) => panic!("the connection stays open: {e}"),
        }
    }
}

/// Bytes for assertion messages, shortened.
pub fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
    if b.len() > 200 {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}
