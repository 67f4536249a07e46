//! Shared by the proxy_* tests: the `proxy` example run as a process, a
//! scripted upstream (a thread per connection, any handler), and a small
//! HTTP/1.1 reader for requests and responses.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../example_util/mod.rs"]
mod example_util;
pub use example_util::{example, listening_addr, listening_line};

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `proxy` example, running.
pub struct Proxy {
    pub child: Child,
    pub addr: String,
}

impl Proxy {
    /// Starts it in front of `upstreams`, with `extra` arguments, and
    /// waits for its `listening on` line.
    pub fn start(upstreams: &[&str], extra: &[&str]) -> Proxy {
        let mut cmd = Command::new(example("proxy"));
        cmd.args(["--listen", "127.0.0.1:0"]);
        for u in upstreams {
            cmd.args(["--upstream", u]);
        }
        let mut child = cmd
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let line = listening_line(&mut child);
        assert!(line.starts_with("listening on 127.0.0.1:"), "{line:?}");
        let addr = listening_addr(&line);
        Proxy { child, addr }
    }

    pub fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(&self.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident set size in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Sends `sig` (`-TERM`, `-INT`).
    pub fn signal(&self, sig: &str) {
        let pid = self.pid().to_string();
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }

    /// Waits (10 s at most) for it to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request or response head as read off the wire.
#[derive(Debug, Clone)]
pub struct Head {
    /// The first line.
    pub line: String,
    /// The fields in order, names as sent.
    pub fields: Vec<(String, String)>,
    /// The whole head as sent, the empty line included.
    pub raw: String,
}

impl Head {
    /// The first value of field `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of field `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The status of a response head.
    pub fn status(&self) -> u16 {
        self.line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The method of a request head.
    pub fn method(&self) -> &str {
        self.line.split(' ').next().unwrap_or("")
    }

    /// The target of a request head.
    pub fn target(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or("")
    }

    fn chunked(&self) -> bool {
        self.get("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    fn length(&self) -> Option<u64> {
        self.get("content-length").and_then(|v| v.parse().ok())
    }
}

/// Reads one head; `None` at a clean EOF before it.
pub fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut raw = String::new();
    let mut fields = Vec::new();
    let mut line = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            if raw.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "eof in a head",
            ));
        }
        raw.push_str(&l);
        let t = l.trim_end_matches(['\r', '\n']);
        if t.is_empty() {
            if line.is_empty() {
                continue;
            }
            break;
        }
        if line.is_empty() {
            line = t.to_string();
        } else if let Some((n, v)) = t.split_once(':') {
            fields.push((n.to_string(), v.trim().to_string()));
        }
    }
    Ok(Some(Head { line, fields, raw }))
}

/// Reads the body that `head` announces, into `sink` piece by piece
/// (`close_delimited`: a response without framing reads to EOF).
pub fn read_body(
    r: &mut impl BufRead,
    head: &Head,
    close_delimited: bool,
    mut sink: impl FnMut(&[u8]),
) -> io::Result<()> {
    if head.chunked() {
        loop {
            let mut l = String::new();
            r.read_line(&mut l)?;
            let size = l.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {l:?}")))?;
            if size == 0 {
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                        return Ok(());
                    }
                }
            }
            copy_n(r, size, &mut sink)?;
            let mut crlf = String::new();
            r.read_line(&mut crlf)?;
        }
    } else if let Some(n) = head.length() {
        copy_n(r, n, &mut sink)
    } else if close_delimited {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            sink(&buf[..n]);
        }
    } else {
        Ok(())
    }
}

fn copy_n(r: &mut impl BufRead, mut n: u64, sink: &mut impl FnMut(&[u8])) -> io::Result<()> {
    while n > 0 {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "eof in a body",
            ));
        }
        let k = buf.len().min(n as usize);
        sink(&buf[..k]);
        r.consume(k);
        n -= k as u64;
    }
    Ok(())
}

/// A response read whole.
#[derive(Debug)]
pub struct Resp {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn status(&self) -> u16 {
        self.head.status()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response to a request with method `method`.
pub fn read_response(r: &mut impl BufRead, method: &str) -> io::Result<Resp> {
    let head =
        read_head(r)?.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no response"))?;
    let mut body = Vec::new();
    let status = head.status();
    if method != "HEAD" && status >= 200 && status != 204 && status != 304 {
        read_body(r, &head, true, |b| body.extend_from_slice(b))?;
    }
    Ok(Resp { head, body })
}

/// Sends `req` on a new connection to `addr` and reads one response.
pub fn roundtrip(addr: &str, req: &str) -> io::Result<Resp> {
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(20)))?;
    c.write_all(req.as_bytes())?;
    let method = req.split(' ').next().unwrap_or("").to_string();
    read_response(&mut BufReader::new(c), &method)
}

/// What a scripted upstream's handler gets for each request: the head,
/// and the connection (its reader for the body, its writer for the
/// answer). Returning false closes the connection.
pub type Handler = dyn Fn(&Head, &mut BufReader<TcpStream>, &mut TcpStream) -> bool + Send + Sync;

/// A scripted upstream server: a thread per connection, keep-alive, the
/// handler called for each request.
pub struct Upstream {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    /// Listens on 127.0.0.1 (`port` 0: any) and serves with `handler`.
    pub fn start(port: u16, handler: Arc<Handler>) -> Upstream {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        let h = handler.clone();
                        let stopping = stopping.clone();
                        std::thread::spawn(move || serve(s, &*h, &stopping));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Upstream {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr_str(&self) -> String {
        self.addr.to_string()
    }
}

fn serve(s: TcpStream, h: &Handler, stop: &AtomicBool) {
    let _ = s.set_nodelay(true);
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(head)) = read_head(&mut r) else {
            return;
        };
        if !h(&head, &mut r, &mut w) {
            return;
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // Stops accepting (the listener closes); connections end when
        // their peer closes them.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A handler that answers every request with its own head as the body
/// (after reading and dropping the request's body), with `extra` response
/// fields.
pub fn echo_head(extra: &'static str) -> Arc<Handler> {
    Arc::new(move |head, r, w| {
        if read_body(r, head, false, |_| {}).is_err() {
            return false;
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra}\r\n{}",
            head.raw.len(),
            head.raw
        );
        w.write_all(resp.as_bytes()).is_ok()
    })
}

/// The byte at offset `i` of the test bodies: a pattern that a lost,
/// repeated or reordered piece breaks.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Writes `n` bytes of [`pattern`] from offset 0.
pub fn write_pattern(w: &mut impl Write, n: u64) -> io::Result<()> {
    let block: Vec<u8> = (0..251 * 256).map(pattern).collect();
    let mut left = n;
    // The block is a whole number of periods, so each write starts at a
    // multiple of 251.
    while left > 0 {
        let k = left.min(block.len() as u64) as usize;
        w.write_all(&block[..k])?;
        left -= k as u64;
    }
    Ok(())
}

/// Checks pieces against [`pattern`] as they come.
#[derive(Debug, Default)]
pub struct PatternCheck {
    pub seen: u64,
    pub bad_at: Option<u64>,
}

impl PatternCheck {
    pub fn feed(&mut self, data: &[u8]) {
        for (k, &b) in data.iter().enumerate() {
            if self.bad_at.is_none() && b != pattern(self.seen + k as u64) {
                self.bad_at = Some(self.seen + k as u64);
            }
        }
        self.seen += data.len() as u64;
    }
}

/// The program `tool` if it runs (`tool version_flag` succeeds), from
/// the PATH or /usr/sbin; prints a SKIP line when it does not.
pub fn tool(tool: &str, version_flag: &str) -> Option<PathBuf> {
    for p in [PathBuf::from(tool), Path::new("/usr/sbin").join(tool)] {
        if Command::new(&p)
            .arg(version_flag)
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(p);
        }
    }
    eprintln!("SKIP: {tool} is not installed");
    None
}
