//! The client against servers nobody here wrote: python3's http.server
//! (HTTP/1.0, a connection per response, close-delimited bodies) and nginx
//! (keep-alive reuse and its limits, chunked bodies, Range, HEAD, PUT with
//! 100-continue). Each test prints SKIP and returns when the program is
//! missing (CI installs `python3` and `nginx`). Servers run on free
//! loopback ports with their files in a temporary directory, and are
//! killed when the test ends.

mod client_util;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use client_util::{client_loop, run_for, run_until};
use evloop::Loop;
use evloop_http::client::{
    ClientError, ClientExt, ClientId, ClientOptions, RequestBody, RequestOptions, Response,
    ResponseChunk,
};
use http::{Method, Request, StatusCode, Version};

#[derive(Default)]
struct St {
    done: Vec<(usize, Result<Response, ClientError>)>,
    streamed: Vec<u8>,
    stream_end: Option<Result<(), String>>,
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "evloop-ext-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn file(&self, rel: &str, data: &[u8]) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server process, killed (and reaped) on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    /// SIGTERM first: nginx's master then stops its worker, which a
    /// SIGKILL to the master would leave running.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(program: &str, version_arg: &str) -> bool {
    let ok = Command::new(program)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIP: {program} is not installed");
    }
    ok
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `cmd` and waits until its port takes connections.
fn start(mut cmd: Command, port: u16, log: &Path) -> Server {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let mut server = Server { child, port };
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(st) = server.child.try_wait().unwrap() {
            panic!(
                "server exited with {st}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server
}

fn url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

fn req(method: Method, url: &str) -> Request<RequestBody> {
    Request::builder()
        .method(method)
        .uri(url)
        .body(RequestBody::Empty)
        .unwrap()
}

/// Sends `reqs` at once and runs until every one has an answer; the
/// answers in the order of `reqs`.
fn send_all(
    lp: &mut Loop<St>,
    client: ClientId,
    reqs: Vec<Request<RequestBody>>,
) -> Vec<Result<Response, ClientError>> {
    let n = reqs.len();
    let mut st = St::default();
    for (i, r) in reqs.into_iter().enumerate() {
        lp.ctx()
            .client(client)
            .unwrap()
            .send(r, move |_, st: &mut St, res| st.done.push((i, res)))
            .unwrap();
    }
    run_until(lp, &mut st, |s| s.done.len() == n);
    st.done.sort_by_key(|(i, _)| *i);
    st.done.into_iter().map(|(_, r)| r).collect()
}

fn one(lp: &mut Loop<St>, client: ClientId, r: Request<RequestBody>) -> Response {
    send_all(lp, client, vec![r]).pop().unwrap().unwrap()
}

/// Bytes that differ from position to position (a shifted or repeated
/// piece would not compare equal).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31) ^ (i >> 9)) as u8).collect()
}

// python3 -m http.server: HTTP/1.0, one response per connection.

fn python_files(dir: &TempDir) -> Server {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .arg("--directory")
        .arg(&dir.0);
    start(cmd, port, &dir.0.join("server.log"))
}

#[test]
fn python_http_server_files_over_http_1_0() {
    if !have("python3", "--version") {
        return;
    }
    let dir = TempDir::new("py");
    let big = pattern(3 << 20);
    dir.file("www/hello.txt", b"hello from python\n");
    dir.file("www/big.bin", &big);
    let www = TempDir(dir.0.join("www"));
    let server = python_files(&www);
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    let p = server.port;
    let answers = send_all(
        &mut lp,
        client,
        vec![
            req(Method::GET, &url(p, "/hello.txt")),
            req(Method::GET, &url(p, "/big.bin")),
            req(Method::GET, &url(p, "/missing")),
            req(Method::HEAD, &url(p, "/hello.txt")),
            req(Method::GET, &url(p, "/")),
        ],
    );
    let r: Vec<Response> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(r[0].status(), StatusCode::OK);
    assert_eq!(r[0].version(), Version::HTTP_10);
    assert_eq!(r[0].body(), &Bytes::from_static(b"hello from python\n"));
    assert_eq!(r[1].body().len(), big.len());
    assert!(r[1].body()[..] == big[..], "big.bin differs");
    assert_eq!(r[2].status(), StatusCode::NOT_FOUND);
    assert!(!r[2].body().is_empty());
    assert_eq!(r[3].status(), StatusCode::OK);
    assert!(r[3].body().is_empty());
    assert_eq!(r[3].headers()["content-length"], "18");
    let listing = String::from_utf8_lossy(r[4].body());
    assert!(listing.contains("hello.txt") && listing.contains("big.bin"));
    // HTTP/1.0 without keep-alive: nothing is kept for reuse.
    run_for(&mut lp, &mut St::default(), Duration::from_millis(20));
    assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 0);
    drop(www);
}

/// A python3 http.server handler that answers HTTP/1.0 with no length:
/// the body ends when the connection closes.
const CLOSE_DELIMITED: &str = r#"
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        n = int(self.path.strip("/") or "0")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        chunk = bytes((i * 31 ^ i >> 9) & 255 for i in range(65536))
        sent = 0
        while sent < n:
            part = chunk[: min(65536, n - sent)]
            # The same pattern as the test's, continued.
            part = bytes(((sent + i) * 31 ^ (sent + i) >> 9) & 255 for i in range(len(part)))
            self.wfile.write(part)
            sent += len(part)
    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

#[test]
fn python_close_delimited_bodies_buffered_and_streamed() {
    if !have("python3", "--version") {
        return;
    }
    let dir = TempDir::new("pycl");
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", CLOSE_DELIMITED]).arg(port.to_string());
    let _server = start(cmd, port, &dir.0.join("server.log"));
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());

    let answers = send_all(
        &mut lp,
        client,
        vec![
            req(Method::GET, &url(port, "/0")),
            req(Method::GET, &url(port, "/5")),
            req(Method::GET, &url(port, "/300000")),
        ],
    );
    for (r, n) in answers.into_iter().zip([0usize, 5, 300_000]) {
        let r = r.unwrap();
        assert_eq!(r.version(), Version::HTTP_10);
        assert!(!r.headers().contains_key("content-length"));
        assert!(r.body()[..] == pattern(n)[..], "body of {n} bytes differs");
    }

    // Streamed: the pieces add up to the whole, ended by the close.
    let mut st = St::default();
    let opts = RequestOptions::new().stream_response(true);
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(
            req(Method::GET, &url(port, "/1000000")),
            opts,
            |ctx, _: &mut St, r| {
                let r = r.unwrap();
                r.request_id()
                    .read_body(ctx, |_, st: &mut St, _, chunk| match chunk {
                        ResponseChunk::Data(b) => st.streamed.extend_from_slice(&b),
                        ResponseChunk::End(_) => st.stream_end = Some(Ok(())),
                        ResponseChunk::Error(e) => st.stream_end = Some(Err(e.to_string())),
                    })
                    .unwrap();
            },
        )
        .unwrap();
    run_until(&mut lp, &mut st, |s| s.stream_end.is_some());
    assert_eq!(st.stream_end, Some(Ok(())));
    assert!(st.streamed == pattern(1_000_000), "streamed body differs");
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 0);
}

// nginx: HTTP/1.1, keep-alive, chunked, ranges.

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .is_some_and(|u| u.split_whitespace().nth(1) == Some("0"))
    })
}

/// nginx (one worker) on a free port, serving `dir/www`; its access log
/// names each request's connection.
fn nginx(dir: &TempDir) -> Server {
    let port = free_port();
    let prefix = dir.0.display().to_string();
    for sub in ["www", "tmp", "logs", "www/dav"] {
        std::fs::create_dir_all(dir.0.join(sub)).unwrap();
    }
    let user = if running_as_root() { "user root;" } else { "" };
    let conf = format!(
        r#"
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format conn '$connection $connection_requests "$request" $status';
    access_log {prefix}/logs/access.log conn;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    gzip off;
    keepalive_timeout 30s;
    keepalive_requests 1000;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;
        location / {{ }}
        location /ssi/ {{
            ssi on;
            ssi_types *;
            chunked_transfer_encoding on;
        }}
        location /few/ {{ keepalive_requests 3; }}
        location /brief/ {{ keepalive_timeout 200ms; }}
        location /dav/ {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            client_max_body_size 0;
        }}
    }}
}}
"#
    );
    let conf_path = dir.0.join("nginx.conf");
    std::fs::File::create(&conf_path)
        .unwrap()
        .write_all(conf.as_bytes())
        .unwrap();
    let mut cmd = Command::new("nginx");
    cmd.arg("-c")
        .arg(&conf_path)
        .arg("-p")
        .arg(&dir.0)
        .arg("-e")
        .arg(dir.0.join("logs/startup.log"))
        .args(["-g", "daemon off;"]);
    start(cmd, port, &dir.0.join("logs/stderr.log"))
}

/// The access log's lines once it has at least `n`: (connection number,
/// request line, status). nginx writes a request's line after handing its
/// response to the socket, so the last one may come just after the
/// client has the response.
fn access_log(dir: &TempDir, n: usize) -> Vec<(u64, String, u16)> {
    let t0 = Instant::now();
    let mut log = String::new();
    while t0.elapsed() < Duration::from_secs(5) {
        log = std::fs::read_to_string(dir.0.join("logs/access.log")).unwrap_or_default();
        if log.lines().count() >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    log.lines()
        .map(|l| {
            let (conn, rest) = l.split_once(' ').unwrap();
            let (_, rest) = rest.split_once(' ').unwrap();
            let (line, status) = rest.rsplit_once(' ').unwrap();
            (
                conn.parse().unwrap(),
                line.trim_matches('"').to_string(),
                status.parse().unwrap(),
            )
        })
        .collect()
}

fn nginx_ready() -> Option<TempDir> {
    have("nginx", "-v").then(|| TempDir::new("nginx"))
}

#[test]
fn nginx_keep_alive_reuses_one_connection() {
    let Some(dir) = nginx_ready() else { return };
    dir.file("www/a.txt", b"AAAA");
    let server = nginx(&dir);
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    for i in 0..10 {
        let method = if i % 3 == 2 {
            Method::HEAD
        } else {
            Method::GET
        };
        let r = one(
            &mut lp,
            client,
            req(method.clone(), &url(server.port, "/a.txt")),
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.version(), Version::HTTP_11);
        let want: &[u8] = if method == Method::HEAD { b"" } else { b"AAAA" };
        assert_eq!(r.body(), want);
        assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 1);
    }
    // A 404 with a body does not end the connection either.
    let r = one(
        &mut lp,
        client,
        req(Method::GET, &url(server.port, "/nope")),
    );
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let log = access_log(&dir, 11);
    assert_eq!(log.len(), 11, "{log:?}");
    assert!(log.iter().all(|(c, ..)| *c == log[0].0), "{log:?}");
}

#[test]
fn nginx_connection_limits_and_idle_close_are_survived() {
    let Some(dir) = nginx_ready() else { return };
    dir.file("www/few/x", b"x");
    dir.file("www/brief/y", b"y");
    let server = nginx(&dir);
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    // keepalive_requests 3: nginx says `Connection: close` on every third
    // response; the next request goes on a new connection.
    for _ in 0..7 {
        let r = one(
            &mut lp,
            client,
            req(Method::GET, &url(server.port, "/few/x")),
        );
        assert_eq!(r.body(), &Bytes::from_static(b"x"));
    }
    let log = access_log(&dir, 7);
    let conns: std::collections::BTreeSet<u64> = log.iter().map(|(c, ..)| *c).collect();
    assert_eq!(conns.len(), 3, "{log:?}");
    // keepalive_timeout 200ms: nginx closes the idle connection; the
    // client notices and the next request still succeeds.
    let r = one(
        &mut lp,
        client,
        req(Method::GET, &url(server.port, "/brief/y")),
    );
    assert_eq!(r.body(), &Bytes::from_static(b"y"));
    run_for(&mut lp, &mut St::default(), Duration::from_millis(400));
    let r = one(
        &mut lp,
        client,
        req(Method::GET, &url(server.port, "/brief/y")),
    );
    assert_eq!(r.body(), &Bytes::from_static(b"y"));
}

#[test]
fn nginx_chunked_bodies_buffered_and_streamed() {
    let Some(dir) = nginx_ready() else { return };
    let part = pattern(200_000);
    dir.file(
        "www/ssi/page.html",
        b"<p>before</p><!--# include file=\"part.bin\" --><p>after</p>",
    );
    dir.file("www/ssi/part.bin", &part);
    let server = nginx(&dir);
    let mut want = b"<p>before</p>".to_vec();
    want.extend_from_slice(&part);
    want.extend_from_slice(b"<p>after</p>");
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    let r = one(
        &mut lp,
        client,
        req(Method::GET, &url(server.port, "/ssi/page.html")),
    );
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    assert!(!r.headers().contains_key("content-length"));
    assert!(r.body()[..] == want[..], "chunked body differs");
    // Streamed, on the same connection.
    let mut st = St::default();
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(
            req(Method::GET, &url(server.port, "/ssi/page.html")),
            RequestOptions::new().stream_response(true),
            |ctx, _: &mut St, r| {
                r.unwrap()
                    .request_id()
                    .read_body(ctx, |_, st: &mut St, _, chunk| match chunk {
                        ResponseChunk::Data(b) => st.streamed.extend_from_slice(&b),
                        ResponseChunk::End(_) => st.stream_end = Some(Ok(())),
                        ResponseChunk::Error(e) => st.stream_end = Some(Err(e.to_string())),
                    })
                    .unwrap();
            },
        )
        .unwrap();
    run_until(&mut lp, &mut st, |s| s.stream_end.is_some());
    assert_eq!(st.stream_end, Some(Ok(())));
    assert!(st.streamed == want, "streamed chunked body differs");
    let log = access_log(&dir, 2);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].0, log[1].0, "not reused after a chunked body");
}

#[test]
fn nginx_ranges() {
    let Some(dir) = nginx_ready() else { return };
    let data = pattern(100_000);
    dir.file("www/data.bin", &data);
    let server = nginx(&dir);
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    let ranged = |range: &str| {
        Request::get(url(server.port, "/data.bin"))
            .header("range", range)
            .body(RequestBody::Empty)
            .unwrap()
    };
    let answers = send_all(
        &mut lp,
        client,
        vec![
            ranged("bytes=10-19"),
            ranged("bytes=-5"),
            ranged("bytes=99990-"),
            ranged("bytes=0-0,5-6"),
            ranged("bytes=200000-"),
        ],
    );
    let r: Vec<Response> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(r[0].status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r[0].headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(&r[0].body()[..], &data[10..20]);
    assert_eq!(&r[1].body()[..], &data[99_995..]);
    assert_eq!(&r[2].body()[..], &data[99_990..]);
    let multi = &r[3];
    assert_eq!(multi.status(), StatusCode::PARTIAL_CONTENT);
    let ct = multi.headers()["content-type"].to_str().unwrap();
    assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
    let body = multi.body();
    assert!(
        body.windows(22).any(|w| w == b"Content-Range: bytes 0"),
        "no part for 0-0"
    );
    assert_eq!(r[4].status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // All on kept-alive connections, none failed.
    assert!(lp.ctx().client(client).unwrap().idle_count() >= 1);
}

#[test]
fn nginx_many_requests_share_a_capped_pool() {
    let Some(dir) = nginx_ready() else { return };
    for i in 0..8 {
        dir.file(&format!("www/f{i}"), format!("file {i}").as_bytes());
    }
    let server = nginx(&dir);
    let (mut lp, client) = client_loop::<St>(ClientOptions::new().max_per_host(4));
    let reqs = (0..64)
        .map(|i| req(Method::GET, &url(server.port, &format!("/f{}", i % 8))))
        .collect();
    let answers = send_all(&mut lp, client, reqs);
    for (i, r) in answers.into_iter().enumerate() {
        let r = r.unwrap();
        assert_eq!(r.body(), format!("file {}", i % 8).as_bytes());
    }
    assert!(lp.ctx().client(client).unwrap().connection_count() <= 4);
    let conns: std::collections::BTreeSet<u64> =
        access_log(&dir, 64).iter().map(|(c, ..)| *c).collect();
    assert!(!conns.is_empty() && conns.len() <= 4, "{conns:?}");
}

#[test]
fn nginx_put_from_a_file_with_and_without_100_continue() {
    let Some(dir) = nginx_ready() else { return };
    let server = nginx(&dir);
    let data = pattern(2_000_000);
    let src = dir.0.join("upload.bin");
    std::fs::write(&src, &data).unwrap();
    let file = Arc::new(std::fs::File::open(&src).unwrap());
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    let put = |path: &str| {
        Request::put(url(server.port, path))
            .body(RequestBody::File {
                file: file.clone(),
                offset: 0,
                len: data.len() as u64,
            })
            .unwrap()
    };
    let r = one(&mut lp, client, put("/dav/plain.bin"));
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(std::fs::read(dir.0.join("www/dav/plain.bin")).unwrap() == data);

    let mut st = St::default();
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(
            put("/dav/sub/continued.bin"),
            RequestOptions::new().expect_continue(true),
            |_, st: &mut St, r| st.done.push((0, r)),
        )
        .unwrap();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    let r = st.done.pop().unwrap().1.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        r.informational()
            .iter()
            .any(|h| h.status == StatusCode::CONTINUE),
        "nginx's 100 Continue not seen"
    );
    assert!(std::fs::read(dir.0.join("www/dav/sub/continued.bin")).unwrap() == data);
    // The upload read back.
    let r = one(
        &mut lp,
        client,
        req(Method::GET, &url(server.port, "/dav/plain.bin")),
    );
    assert!(r.body()[..] == data[..]);
}
