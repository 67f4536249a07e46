//! The harness of the conformance tests (libevent's regress_http style): a
//! server on 127.0.0.1:0 whose loop runs on its own thread, raw bytes
//! written over `std::net::TcpStream`, responses read back and parsed
//! here, by a reader that knows nothing of the server's code.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evloop::{AsyncSender, Break, Loop, RunMode};
use evloop_buffer::ListenAddr;
use evloop_http::server::{Body, Request, Router, ServerExt, ServerOptions};
use http::{Method, Response};

/// Long enough for any answer on a loaded machine; tests never wait for it
/// to pass unless something is broken.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A server answering every request with a description of what it
/// received: `method uri version` and then `body=<len>:<body>` and
/// `trailers=<names and values>`, one per line.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<AsyncSender>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// The echo server with default options.
    pub fn start() -> TestServer {
        TestServer::with_options(ServerOptions::new())
    }

    /// The echo server with `opts`.
    pub fn with_options(opts: ServerOptions) -> TestServer {
        TestServer::with_router(opts, |router| {
            router.fallback(|_, _, req: Request| echo(&req));
        })
    }

    /// A server whose routes `routes` sets up.
    pub fn with_router(
        opts: ServerOptions,
        routes: impl FnOnce(&mut Router<()>) + Send + 'static,
    ) -> TestServer {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut router = Router::new();
            routes(&mut router);
            let mut lp: Loop<()> = Loop::new().expect("loop");
            let mut ctx = lp.ctx();
            let id = ctx.new_server(router, opts).expect("server");
            let addr = ctx
                .server(id)
                .expect("server view")
                .listen("127.0.0.1:0")
                .expect("listen");
            let (aid, stop) = ctx
                .new_async(|ctx, _, _, _| ctx.break_loop(Break::All))
                .expect("async");
            ctx.start(aid).expect("start async");
            let ListenAddr::Tcp(addr) = addr else {
                panic!("not a TCP address: {addr:?}")
            };
            tx.send((addr, stop)).expect("send address");
            lp.run(&mut (), RunMode::Default).expect("run");
        });
        let (addr, stop) = rx.recv().expect("the server thread started");
        TestServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// A client connection with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(self.addr).expect("connect");
        c.set_read_timeout(Some(PATIENCE)).unwrap();
        c.set_write_timeout(Some(PATIENCE)).unwrap();
        c.set_nodelay(true).unwrap();
        c
    }

    /// Sends `bytes` on a new connection and reads until the server
    /// closes it: every response it sent, in order.
    pub fn exchange(&self, bytes: &[u8]) -> Vec<Resp> {
        let mut c = self.connect();
        // The server may close before reading everything (after an error);
        // a failed write is then expected, and what it sent still counts.
        let _ = c.write_all(bytes);
        read_until_close(&mut c)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send();
        }
        if let Some(t) = self.thread.take() {
            let panicked = t.join().is_err();
            if panicked && !std::thread::panicking() {
                panic!("the server thread panicked");
            }
        }
    }
}

/// The echo handler's response.
pub fn echo(req: &Request) -> Response<Body> {
    let mut text = format!(
        "{} {} {:?}\nbody={}:{}\ntrailers=",
        req.method(),
        req.uri(),
        req.version(),
        req.body().len(),
        String::from_utf8_lossy(req.body())
    );
    for (name, value) in req.trailers() {
        text += &format!("{name}={};", String::from_utf8_lossy(value.as_bytes()));
    }
    if let Some(host) = req.headers().get(http::header::HOST) {
        text += &format!("\nhost={}", String::from_utf8_lossy(host.as_bytes()));
    }
    let mut r = Response::new(Body::from(text));
    if req.method() == Method::HEAD {
        // The server must send no body; the length is still announced.
        r.headers_mut().insert("x-head", "1".parse().unwrap());
    }
    r
}

/// One parsed response.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub version: u8,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the response says the connection closes after it.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// Reads from `c` until EOF (or a reset after the server closed) and
/// parses every response in what arrived. Panics if the data does not
/// parse as complete responses or the server does not close in time.
pub fn read_until_close(c: &mut TcpStream) -> Vec<Resp> {
    let mut data = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    let mut buf = [0u8; 16384];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the server did not close the connection: {e}; got {:?}",
                String::from_utf8_lossy(&data)
            ),
        }
        assert!(
            Instant::now() < deadline,
            "the server did not close the connection"
        );
    }
    parse_all(&data, &mut Vec::new())
}

/// Parses consecutive responses; `heads` lists, in order, the requests
/// that were HEAD (their responses have no body).
pub fn parse_all(mut data: &[u8], heads: &mut Vec<bool>) -> Vec<Resp> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let head = heads.first().copied().unwrap_or(false);
        let (resp, used) = parse_one(data, head, true)
            .unwrap_or_else(|| panic!("incomplete response: {:?}", String::from_utf8_lossy(data)));
        if resp.status >= 200 && !heads.is_empty() {
            heads.remove(0);
        }
        out.push(resp);
        data = &data[used..];
    }
    out
}

/// One response at the start of `data`: the response and its length, or
/// `None` if it is not complete. With `eof`, a response without framing
/// runs to the end of `data`.
pub fn parse_one(data: &[u8], head_request: bool, eof: bool) -> Option<(Resp, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let n = match r.parse(data).expect("a well-formed response head") {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return None,
    };
    let mut resp = Resp {
        status: r.code.unwrap(),
        version: r.version.unwrap(),
        headers: r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
    };
    let rest = &data[n..];
    if head_request || resp.status < 200 || resp.status == 204 || resp.status == 304 {
        return Some((resp, n));
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        let (body, used) = dechunk(rest)?;
        resp.body = body;
        return Some((resp, n + used));
    }
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().expect("a numeric Content-Length");
        if rest.len() < len {
            return None;
        }
        resp.body = rest[..len].to_vec();
        return Some((resp, n + len));
    }
    if !eof {
        return None;
    }
    resp.body = rest.to_vec();
    Some((resp, data.len()))
}

/// A chunked body at the start of `data` (no trailers expected): the
/// bytes and the length of the encoding.
fn dechunk(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + data[at..].windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&data[at..line_end]).expect("chunk line");
        let size = usize::from_str_radix(line.split(';').next().unwrap(), 16).expect("chunk size");
        at = line_end + 2;
        if size == 0 {
            let end = at + data[at..].windows(2).position(|w| w == b"\r\n")?;
            return Some((body, end + 2));
        }
        if data.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

/// Reads exactly one response from a connection that stays open.
pub fn read_response(c: &mut TcpStream, head_request: bool) -> Resp {
    let mut data = Vec::new();
    let mut buf = [0u8; 1];
    loop {
        if let Some((resp, used)) = parse_one(&data, head_request, false) {
            assert_eq!(used, data.len());
            return resp;
        }
        // A byte at a time: nothing of the next response is taken.
        match c.read(&mut buf) {
            Ok(0) => match parse_one(&data, head_request, true) {
                Some((resp, _)) => return resp,
                None => panic!("closed mid-response: {:?}", String::from_utf8_lossy(&data)),
            },
            Ok(_) => data.push(buf[0]),
            Err(e) => panic!("no response: {e}; got {:?}", String::from_utf8_lossy(&data)),
        }
    }
}

/// Sends `bytes` one at a time, each in its own write, with a short pause
/// so that the server reads them one at a time too.
pub fn write_bytewise(c: &mut TcpStream, bytes: &[u8]) {
    for b in bytes {
        c.write_all(std::slice::from_ref(b)).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Whether the server has closed `c` (reads EOF or a reset within the
/// patience), having sent nothing more.
pub fn closed_without_more(c: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1];
    match c.read(&mut buf) {
        Ok(0) => true,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Ok(_) => false,
        Err(e) => panic!("the server neither answered nor closed: {e}"),
    }
}

/// Half-closes the client side.
pub fn finish(c: &TcpStream) {
    let _ = c.shutdown(Shutdown::Write);
}

/// `request` gets one response with `status` and the connection closes;
/// the request sent after it is never answered.
pub fn refused(server: &TestServer, request: &[u8], status: u16) {
    let mut bytes = request.to_vec();
    bytes.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
    let resps = server.exchange(&bytes);
    let req = String::from_utf8_lossy(request);
    assert_eq!(
        resps.len(),
        1,
        "{req:?}: one response, then a close: {resps:?}"
    );
    assert_eq!(resps[0].status, status, "{req:?}: {:?}", resps[0]);
    assert!(
        resps[0].closes(),
        "{req:?}: no Connection: close: {:?}",
        resps[0]
    );
    assert!(!resps[0].text().contains("smuggled"));
}
