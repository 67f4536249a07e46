//! Shared by the server_* tests: a server running its loop in a thread,
//! and a small raw HTTP/1.1 client that reads responses byte-exactly.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use evloop::{Break, Loop, RunMode};
use evloop_buffer::ListenAddr;
use evloop_http::server::{Router, ServerExt, ServerOptions};

/// A server whose loop runs in its own thread until stopped.
pub struct TestServer<T: Send + 'static> {
    pub addr: SocketAddr,
    stop: Option<evloop::AsyncSender>,
    thread: Option<JoinHandle<T>>,
}

/// Starts a server on 127.0.0.1:0 with the routes `build` adds.
pub fn spawn<T, F>(opts: ServerOptions, state: T, build: F) -> TestServer<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Router<T>) + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut state = state;
        let mut router = Router::new();
        build(&mut router);
        let mut lp: Loop<T> = Loop::new().unwrap();
        let mut ctx = lp.ctx();
        let id = ctx.new_server(router, opts).unwrap();
        let ListenAddr::Tcp(addr) = ctx.server(id).unwrap().listen("127.0.0.1:0").unwrap() else {
            unreachable!()
        };
        let (aw, stop) = ctx
            .new_async(|ctx, _, _, _| ctx.break_loop(Break::All))
            .unwrap();
        let mut w = ctx.async_watcher(aw).unwrap();
        w.set_keepalive(false);
        w.start().unwrap();
        tx.send((addr, stop)).unwrap();
        lp.run(&mut state, RunMode::Default).unwrap();
        state
    });
    let (addr, stop) = rx.recv().unwrap();
    TestServer {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

impl<T: Send + 'static> TestServer<T> {
    /// Stops the loop and returns the application state.
    pub fn stop(mut self) -> T {
        self.stop.take().unwrap().send();
        self.thread.take().unwrap().join().unwrap()
    }

    pub fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(self.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    }
}

impl<T: Send + 'static> Drop for TestServer<T> {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            s.send();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads byte by byte from a stream, keeping what it read past a response.
pub struct Reader<'a> {
    pub s: &'a mut TcpStream,
    buf: Vec<u8>,
}

impl<'a> Reader<'a> {
    pub fn new(s: &'a mut TcpStream) -> Self {
        Reader { s, buf: Vec::new() }
    }

    fn fill(&mut self) -> io::Result<bool> {
        let mut tmp = [0u8; 65536];
        let n = self.s.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n > 0)
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "eof in a line",
                ));
            }
        }
    }

    pub fn exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "eof in a body",
                ));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Whatever is left until EOF.
    pub fn rest(&mut self) -> io::Result<Vec<u8>> {
        while self.fill()? {}
        Ok(std::mem::take(&mut self.buf))
    }

    /// Reads a response's head only.
    pub fn head(&mut self) -> io::Result<Resp> {
        let status_line = self.line()?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let l = self.line()?;
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.to_string(), v.trim().to_string()));
        }
        Ok(Resp {
            status,
            headers,
            body: Vec::new(),
        })
    }

    /// Reads one response; `head_request` says it answers a HEAD.
    pub fn response(&mut self, head_request: bool) -> io::Result<Resp> {
        let mut r = self.head()?;
        if head_request || r.status / 100 == 1 || r.status == 204 || r.status == 304 {
            return Ok(r);
        }
        if let Some(n) = r.header("content-length") {
            r.body = self.exact(n.parse().unwrap())?;
        } else if r.header("transfer-encoding").is_some() {
            loop {
                let size = usize::from_str_radix(&self.line()?, 16).unwrap();
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    break;
                }
                r.body.extend(self.exact(size)?);
                self.line()?;
            }
        } else {
            r.body = self.rest()?;
        }
        Ok(r)
    }
}

/// Sends `req` on a new connection and reads one response.
pub fn roundtrip<T: Send>(srv: &TestServer<T>, req: &[u8]) -> Resp {
    let mut c = srv.connect();
    c.write_all(req).unwrap();
    Reader::new(&mut c)
        .response(req.starts_with(b"HEAD"))
        .unwrap()
}

/// Whether the server closed the connection (EOF, or reset) within the
/// read timeout.
pub fn closed(c: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(c.read(&mut b), Ok(0))
        || matches!(c.read(&mut b), Err(e) if e.kind() == io::ErrorKind::ConnectionReset)
}

/// Whether a tool is installed; prints a SKIP line when it is not.
pub fn have(tool: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: {tool} is not installed");
    }
    ok
}
