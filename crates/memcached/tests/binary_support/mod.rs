//! Helpers for the binary-protocol end-to-end tests: the server as a child
//! process on a port the kernel picks, and a raw binary-protocol client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpListener;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary, built by cargo for this test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_evloop-memcached"))
}

/// A running server; killed when dropped, also when a test fails.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the server with `args` on 127.0.0.1 and a port the kernel
    /// picks; reads the address from its `listening on` line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(bin())
            .args(["-l", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start evloop-memcached");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        lines.read_line(&mut line).expect("read the listening line");
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        // Keep reading stdout so that the server never blocks on it.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = lines.read_to_end(&mut sink);
        });
        Server { child, addr }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A connection with a generous read timeout (a hung server fails the
    /// test instead of hanging it).
    pub fn connect(&self) -> Client {
        connect(self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds a request packet.
pub fn req(opcode: u8, key: &[u8], extras: &[u8], value: &[u8], cas: u64, opaque: u32) -> Vec<u8> {
    let mut p = vec![0x80, opcode];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.push(extras.len() as u8);
    p.extend_from_slice(&[0, 0, 0]);
    let body = (extras.len() + key.len() + value.len()) as u32;
    p.extend_from_slice(&body.to_be_bytes());
    p.extend_from_slice(&opaque.to_be_bytes());
    p.extend_from_slice(&cas.to_be_bytes());
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

/// Set/Add/Replace extras: flags, exptime.
pub fn set_extras(flags: u32, exptime: u32) -> Vec<u8> {
    let mut e = flags.to_be_bytes().to_vec();
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

/// Incr/decr extras: delta, initial value, expiration.
pub fn delta_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    let mut e = delta.to_be_bytes().to_vec();
    e.extend_from_slice(&initial.to_be_bytes());
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

/// A response packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub magic: u8,
    pub opcode: u8,
    pub status: u16,
    pub opaque: u32,
    pub cas: u64,
    pub extras: Vec<u8>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl Packet {
    /// The body of an incr/decr reply as a number.
    pub fn number(&self) -> u64 {
        u64::from_be_bytes(self.value.clone().try_into().expect("8-byte value"))
    }
}

/// A raw binary-protocol connection.
pub struct Client {
    pub s: TcpStream,
}

impl Client {
    /// Sends bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// Reads one response packet; `None` at EOF (or reset) before its
    /// first byte.
    pub fn try_recv(&mut self) -> Option<Packet> {
        let mut h = [0u8; 24];
        match self.s.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return None,
            // A server that closes with requests unread makes the kernel
            // send a reset; the replies before it were still read.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("reading a reply: {e}"),
        }
        let key_len = u16::from_be_bytes([h[2], h[3]]) as usize;
        let extras_len = h[4] as usize;
        let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let mut b = vec![0u8; body];
        self.s.read_exact(&mut b).expect("reply body");
        Some(Packet {
            magic: h[0],
            opcode: h[1],
            status: u16::from_be_bytes([h[6], h[7]]),
            opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            cas: u64::from_be_bytes(h[16..24].try_into().unwrap()),
            extras: b[..extras_len].to_vec(),
            key: b[extras_len..extras_len + key_len].to_vec(),
            value: b[extras_len + key_len..].to_vec(),
        })
    }

    /// Reads one response packet.
    pub fn recv(&mut self) -> Packet {
        self.try_recv().expect("a reply, not EOF")
    }

    /// Sends a request and reads its reply.
    pub fn call(&mut self, request: &[u8]) -> Packet {
        self.send(request);
        self.recv()
    }

    /// Whether the server has closed the connection (reads EOF; any data
    /// before it fails the test).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 64];
        match self.s.read(&mut b) {
            Ok(0) => true,
            Ok(n) => panic!("unexpected bytes {:?}", &b[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
            Err(e) => panic!("reading: {e}"),
        }
    }
}

/// A real memcached (`memcached` on the PATH) on a free port, killed when
/// dropped: the reference for differential tests.
pub struct Memcached {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Memcached {
    /// Starts one (`-t 1 -U 0` on 127.0.0.1), or `None` (after a SKIP
    /// line) when it is not installed or does not start.
    pub fn start() -> Option<Memcached> {
        let installed = Command::new("memcached")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            println!("SKIP: memcached not installed (apt-get install -y memcached)");
            return None;
        }
        for _ in 0..5 {
            let addr = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?;
            let mut cmd = Command::new("memcached");
            cmd.args(["-l", "127.0.0.1", "-U", "0", "-t", "1"])
                .args(["-p", &addr.port().to_string()]);
            if is_root() {
                // memcached refuses to run as root without it.
                cmd.args(["-u", "root"]);
            }
            let child = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let mut m = Memcached { child, addr };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if m.child.try_wait().ok()?.is_some() {
                    break; // the port was taken meanwhile: try another
                }
                if TcpStream::connect(addr).is_ok() {
                    return Some(m);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        println!("SKIP: memcached did not start");
        None
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Connects to `addr` with a generous read timeout.
pub fn connect(addr: SocketAddr) -> Client {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    Client { s }
}
