//! A WebSocket echo server on the HTTP server, run on its own thread, and
//! a blocking hand-written client for it.

#![allow(dead_code)] // each test file uses part of it

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use evloop::{AsyncSender, Break, Loop, RunMode};
use evloop_buffer::ListenAddr;
use evloop_http::server::{Body, Router, ServerExt, ServerOptions};
use evloop_http::ws::{self, CloseCode, Config, Message, WebSocketExt};
use http::{Method, Response};

/// The server's log: one line per WebSocket that ended.
pub type Log = Vec<String>;

pub struct TestServer {
    pub addr: SocketAddr,
    stop: AsyncSender,
    thread: Option<JoinHandle<Log>>,
}

impl TestServer {
    /// Serves `/ws` (echo; the text `close-me` makes the server close with
    /// 4000 "asked") and `/` (a plain page).
    pub fn start(config: Config) -> TestServer {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut router: Router<Log> = Router::new();
            router.exact("/", &[Method::GET], |_, _, _| {
                Response::new(Body::from("plain"))
            });
            router.exact(
                "/ws",
                &[Method::GET],
                ws::handler(config, |ctx, _, id, _req| {
                    let mut ws = ctx.websocket(id).unwrap();
                    ws.on_message(|ctx, _, id, msg| {
                        let mut ws = ctx.websocket(id).unwrap();
                        if !ws.is_open() {
                            return;
                        }
                        match msg {
                            Message::Text(t) if t == "close-me" => {
                                ws.close(CloseCode(4000), "asked").unwrap()
                            }
                            Message::Text(t) => ws.send_text(&t).unwrap(),
                            Message::Binary(b) => ws.send_binary(b).unwrap(),
                            _ => {}
                        }
                    });
                    ws.on_close(|_, log: &mut Log, _, c| {
                        log.push(format!("{} {:?} {}", c.code, c.reason, c.clean));
                    });
                }),
            );
            let mut lp: Loop<Log> = Loop::new().unwrap();
            let mut ctx = lp.ctx();
            let id = ctx.new_server(router, ServerOptions::new()).unwrap();
            let ListenAddr::Tcp(addr) = ctx.server(id).unwrap().listen("127.0.0.1:0").unwrap()
            else {
                unreachable!()
            };
            let (aid, stop) = ctx
                .new_async(|ctx, _, _, _| ctx.break_loop(Break::All))
                .unwrap();
            ctx.start(aid).unwrap();
            tx.send((addr, stop)).unwrap();
            let mut log = Log::new();
            lp.run(&mut log, RunMode::Default).unwrap();
            log
        });
        let (addr, stop) = rx.recv().unwrap();
        TestServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the loop and returns the log.
    pub fn stop(mut self) -> Log {
        self.stop.send();
        self.thread.take().unwrap().join().unwrap()
    }
}

/// A connection with a read timeout, so a test that waits for bytes that
/// never come fails instead of hanging.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub fn upgrade_request(path: &str, version: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
}

/// Reads a response head (up to the blank line), byte by byte so that
/// nothing after it is consumed.
pub fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "EOF inside the head: {head:?}");
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Reads a response head and its Content-Length body.
pub fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let head = read_head(s);
    let len = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head, body)
}

/// A masked client frame.
pub fn frame(op: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    masked_frame(op, fin, payload, Some([0xa1, 0xb2, 0xc3, 0xd4]))
}

pub fn masked_frame(op: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![op | if fin { 0x80 } else { 0 }];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n < 65536 => {
            out.push(bit | 126);
            out.extend((n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend((n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend(k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend(payload),
    }
    out
}

/// Reads one server frame: (FIN, opcode, payload); asserts it is unmasked.
pub fn read_frame(s: &mut TcpStream) -> (bool, u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut e = [0u8; 2];
            s.read_exact(&mut e).unwrap();
            u64::from(u16::from_be_bytes(e))
        }
        127 => {
            let mut e = [0u8; 8];
            s.read_exact(&mut e).unwrap();
            u64::from_be_bytes(e)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).unwrap();
    (h[0] & 0x80 != 0, h[0] & 0x0f, payload)
}

/// Reads until EOF; what came.
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    rest
}

/// Connects and upgrades; returns the stream after the 101 head.
pub fn open(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(upgrade_request("/ws", "13").as_bytes())
        .unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    s
}
