//! The fetch example, run as a program: against the hello_server example
//! (this crate's server) and scripted std socket servers. Body to stdout
//! or -o, -v heads and timings on stderr, -i/-I/-f/-s, -d and -T bodies (-T streamed
//! from disk), a large download in bounded memory, curl's exit statuses
//! with a message for each failure.
//!
//! The examples are built by the first test that runs them
//! (example_util).

mod example_util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use example_util::{example, listening_addr, listening_line};

fn fetch(args: &[&str]) -> Output {
    Command::new(example("fetch"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "evloop-fetch-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The hello_server example on a free port, killed on drop.
struct Hello {
    child: Child,
    addr: String,
}

impl Hello {
    fn start() -> Hello {
        // Port 0: the server says which port it got.
        let mut child = Command::new(example("hello_server"))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let addr = listening_addr(&listening_line(&mut child));
        Hello { child, addr }
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server thread that accepts one connection and runs `script` on it.
fn serve_one<F>(script: F) -> (SocketAddr, JoinHandle<()>)
where
    F: FnOnce(TcpStream) + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let (c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        script(c);
    });
    (addr, h)
}

/// `fetch URL` against a server that reads the request, writes `answer`
/// (nothing when empty) and closes.
fn fetch_answered_with(answer: &'static [u8]) -> Output {
    let (addr, s) = serve_one(move |mut c| {
        read_request(&mut c);
        c.write_all(answer).unwrap();
    });
    let out = fetch(&[&format!("http://{addr}/")]);
    s.join().unwrap();
    out
}

/// Reads a request head and its Content-Length body: (head, body).
fn read_request(c: &mut TcpStream) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut b).unwrap(), 1, "request cut short");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    c.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn get_writes_the_body_to_stdout_and_nothing_else() {
    let h = Hello::start();
    let out = fetch(&[&format!("http://{}/", h.addr)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"Hello, World!");
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    // No scheme: http is assumed, as curl does.
    let out = fetch(&[&h.addr]);
    assert_eq!(out.stdout, b"Hello, World!");
}

#[test]
fn unix_socket_reaches_a_server_listening_on_a_path() {
    let dir = TempDir::new("unix");
    let path = dir.0.join("hello.sock");
    let child = Command::new(example("hello_server"))
        .arg("--addr")
        .arg(format!("unix:{}", path.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed on drop, also when the line is not there.
    let mut h = Hello {
        child,
        addr: String::new(),
    };
    listening_line(&mut h.child);
    let out = fetch(&[
        "-v",
        "--unix-socket",
        path.to_str().unwrap(),
        "http://localhost/",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"Hello, World!");
    assert!(
        stderr(&out).contains("> host: localhost\n"),
        "{}",
        stderr(&out)
    );
    // curl's way: the socket's path where the address would be.
    let connected = format!("* Connected to localhost ({}) port 80\n<", path.display());
    assert!(stderr(&out).contains(&connected), "{}", stderr(&out));
    drop(h);
}

#[test]
fn verbose_shows_both_heads_and_the_timings_on_stderr() {
    let h = Hello::start();
    let out = fetch(&["-v", "-H", "X-Trace: 7", &format!("http://{}/", h.addr)]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"Hello, World!");
    let err = stderr(&out);
    for want in [
        "> GET / HTTP/1.1\n",
        &format!("> host: {}\n", h.addr),
        "> x-trace: 7\n",
        "< HTTP/1.1 200 OK\n",
        "< content-length: 13\n",
        "* time: connect ",
        " ms, response head ",
        "13 body bytes",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
    // The request head first (written when sent), then curl's connection
    // line, right before the response head.
    let port = h.addr.rsplit(':').next().unwrap();
    let connected =
        format!("\n* Connected to 127.0.0.1 (127.0.0.1) port {port}\n< HTTP/1.1 200 OK\n");
    assert!(err.starts_with("> GET / HTTP/1.1\n"), "{err}");
    assert!(err.contains(&connected), "{connected:?} not in:\n{err}");
    assert!(!err.contains("* time: connect -"), "{err}");
    // A status other than 2xx is still a response: exit 0, body out.
    let out = fetch(&[&format!("http://{}/missing", h.addr)]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn include_head_fail_and_silent_as_curl() {
    let h = Hello::start();
    let base = format!("http://{}", h.addr);
    // -i: the response head, then the body, on stdout.
    let out = fetch(&["-i", &format!("{base}/")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\ncontent-length: 13\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nHello, World!"), "{text}");
    // -I: HEAD, the head only.
    let out = fetch(&["-I", &format!("{base}/")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\n"));
    // -f: a 404 is a failure (22) without its body.
    let out = fetch(&["-f", &format!("{base}/missing")]);
    assert_eq!(out.status.code(), Some(22));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    // -s: the same status, no message.
    let out = fetch(&["-f", "-s", &format!("{base}/missing")]);
    assert_eq!(out.status.code(), Some(22));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    // A 2xx with -f is as without.
    let out = fetch(&["-f", &format!("{base}/")]);
    assert_eq!(
        (out.status.code(), &out.stdout[..]),
        (Some(0), &b"Hello, World!"[..])
    );
}

#[test]
fn data_is_posted_with_curls_fields() {
    let (addr, server) = serve_one(|mut c| {
        let (head, body) = read_request(&mut c);
        let reply = format!("{head}{}", String::from_utf8(body).unwrap());
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        c.write_all(resp.as_bytes()).unwrap();
    });
    let out = fetch(&["-d", "a=1&b=2", &format!("http://{addr}/form")]);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let echoed = String::from_utf8(out.stdout).unwrap();
    assert!(echoed.starts_with("POST /form HTTP/1.1\r\n"), "{echoed}");
    assert!(echoed.contains("content-type: application/x-www-form-urlencoded\r\n"));
    assert!(echoed.contains("content-length: 7\r\n"));
    assert!(echoed.ends_with("\r\n\r\na=1&b=2"), "{echoed}");
}

#[test]
fn upload_file_sends_every_byte_with_put() {
    let dir = TempDir::new("up");
    let path = dir.0.join("payload.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let (tx, rx) = mpsc::channel();
    let (addr, server) = serve_one(move |mut c| {
        let (head, body) = read_request(&mut c);
        tx.send((head, body)).unwrap();
        c.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
    });
    // A URL ending in / gets the file's name, as with curl.
    let out = fetch(&["-T", path.to_str().unwrap(), &format!("http://{addr}/up/")]);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"ok");
    let (head, body) = rx.recv().unwrap();
    assert!(
        head.starts_with("PUT /up/payload.bin HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("content-length: 3000000\r\n"), "{head}");
    assert!(body == data, "the uploaded bytes differ");
}

/// Reads a chunked body (after its head) to its end: the data.
fn read_chunked(c: &mut TcpStream) -> Vec<u8> {
    let mut r = BufReader::new(c);
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let size = usize::from_str_radix(line.trim_end().split(';').next().unwrap(), 16)
            .unwrap_or_else(|_| panic!("bad chunk line {line:?}"));
        if size == 0 {
            let mut end = String::new();
            r.read_line(&mut end).unwrap();
            assert_eq!(end, "\r\n", "trailers were not expected");
            return body;
        }
        let at = body.len();
        body.resize(at + size, 0);
        r.read_exact(&mut body[at..]).unwrap();
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).unwrap();
        assert_eq!(&crlf, b"\r\n");
    }
}

#[test]
fn upload_from_stdin_is_streamed_chunked() {
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
    let (tx, rx) = mpsc::channel();
    let (addr, server) = serve_one(move |mut c| {
        let (head, _) = read_request(&mut c);
        let body = read_chunked(&mut c);
        tx.send((head, body)).unwrap();
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
            .unwrap();
    });
    let mut child = Command::new(example("fetch"))
        .args(["-T", "-", &format!("http://{addr}/in")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = data.clone();
    let writer = std::thread::spawn(move || {
        // In pieces, as a pipe delivers them.
        for piece in feed.chunks(100_000) {
            stdin.write_all(piece).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"done");
    let (head, body) = rx.recv().unwrap();
    assert!(head.starts_with("PUT /in HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert!(body == data, "the streamed bytes differ");
}

#[test]
fn output_file_gets_the_body() {
    let h = Hello::start();
    let dir = TempDir::new("out");
    let path = dir.0.join("body.txt");
    let out = fetch(&["-o", path.to_str().unwrap(), &format!("http://{}/", h.addr)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), b"Hello, World!");
    // An output that cannot be created: curl's 23, with a message.
    let bad = dir.0.join("no/such/dir/x");
    let out = fetch(&["-o", bad.to_str().unwrap(), &format!("http://{}/", h.addr)]);
    assert_eq!(out.status.code(), Some(23));
    assert!(
        stderr(&out).contains("cannot write the body"),
        "{}",
        stderr(&out)
    );
}

/// Peak resident memory of process `pid` in KiB (Linux's VmHWM).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_large_download_streams_in_bounded_memory() {
    const TOTAL: usize = 256 << 20;
    const PIECE: usize = 1 << 20;
    let (pid_tx, pid_rx) = mpsc::channel::<u32>();
    let (peak_tx, peak_rx) = mpsc::channel::<u64>();
    let (addr, server) = serve_one(move |mut c| {
        read_request(&mut c);
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {TOTAL}\r\n\r\n");
        c.write_all(head.as_bytes()).unwrap();
        let piece = vec![b'x'; PIECE];
        for _ in 0..TOTAL / PIECE - 1 {
            c.write_all(&piece).unwrap();
        }
        // All but the last piece are through: the program's peak memory
        // now says whether it held what it received.
        let pid = pid_rx.recv().unwrap();
        peak_tx.send(peak_rss_kib(pid)).unwrap();
        c.write_all(&piece).unwrap();
    });
    let child = Command::new(example("fetch"))
        .args(["-v", "-o", "/dev/null", &format!("http://{addr}/big")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pid_tx.send(child.id()).unwrap();
    let out = child.wait_with_output().unwrap();
    server.join().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("{TOTAL} body bytes")), "{err}");
    let peak = peak_rx.recv().unwrap();
    assert!(
        peak < 64 * 1024,
        "peak RSS {peak} KiB while downloading {} MiB",
        TOTAL >> 20
    );
}

#[test]
fn failures_exit_like_curl_with_a_message() {
    // Nothing listens: 7.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = fetch(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        stderr(&out).starts_with("fetch: connect failed"),
        "{}",
        stderr(&out)
    );

    // Closed without a byte: 52.
    let out = fetch_answered_with(b"");
    assert_eq!(out.status.code(), Some(52), "{}", stderr(&out));
    assert!(stderr(&out).contains("empty reply"));

    // Closed mid-body: 18, and what came is written.
    let out = fetch_answered_with(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
    assert_eq!(out.status.code(), Some(18), "{}", stderr(&out));
    assert_eq!(out.stdout, b"half");
    assert!(stderr(&out).contains("before the body was complete"));

    // A response that breaks the rules: 8.
    let out =
        fetch_answered_with(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("protocol error"), "{}", stderr(&out));

    // Unsupported scheme: 1; malformed URL: 3; bad usage: 2.
    let out = fetch(&["https://127.0.0.1/"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("https"));
    assert_eq!(fetch(&["http://"]).status.code(), Some(3));
    let out = fetch(&["--frobnicate", "http://h/"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("usage: fetch"));
    // A file to upload that does not exist: 26.
    let out = fetch(&["-T", "/no/such/file", "http://127.0.0.1:1/"]);
    assert_eq!(out.status.code(), Some(26));
}

#[test]
fn max_time_ends_a_silent_server_with_28() {
    let (addr, s) = serve_one(|mut c| {
        read_request(&mut c);
        // Never answers; the read ends when the program goes away.
        let _ = c.read(&mut [0u8; 1]);
    });
    let t0 = Instant::now();
    let out = fetch(&["--max-time", "0.3", &format!("http://{addr}/")]);
    let took = t0.elapsed();
    s.join().unwrap();
    assert_eq!(out.status.code(), Some(28), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-time"), "{}", stderr(&out));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn location_follows_redirects_only_when_asked() {
    let serve_redirect = || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            // Either one request (not followed) or two (followed), on one
            // or two connections.
            let mut served = 0;
            l.set_nonblocking(false).unwrap();
            while served < 2 {
                let Ok((mut c, _)) = l.accept() else { return };
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                loop {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match c.read(&mut b) {
                            Ok(1) => head.push(b[0]),
                            _ => break,
                        }
                    }
                    if !head.ends_with(b"\r\n\r\n") {
                        break;
                    }
                    served += 1;
                    let resp: &[u8] = if head.starts_with(b"GET /old ") {
                        b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 5\r\n\r\nmoved"
                    } else {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nnew"
                    };
                    c.write_all(resp).unwrap();
                    if served == 2 {
                        return;
                    }
                }
                if served == 1 {
                    // Not followed: the program closed its connection.
                    return;
                }
            }
        });
        (addr, h)
    };
    let (addr, s) = serve_redirect();
    let out = fetch(&[&format!("http://{addr}/old")]);
    s.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"moved");
    let (addr, s) = serve_redirect();
    let out = fetch(&["-L", "-v", &format!("http://{addr}/old")]);
    s.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"new");
    let err = stderr(&out);
    // The redirect went on the kept-alive connection: curl's line for a
    // reused one, after the note, and no connect time.
    let reused = format!(
        "* followed 1 redirect(s) to http://{addr}/new\n\
         * Re-using existing connection to 127.0.0.1 (127.0.0.1) port {}\n",
        addr.port()
    );
    assert!(err.contains(&reused), "{reused:?} not in:\n{err}");
    assert!(!err.contains("* Connected to"), "{err}");
    assert!(err.contains("* time: connect -, response head "), "{err}");
}

#[test]
fn limit_rate_paces_the_download_as_curls() {
    // 40,000 bytes at 100,000 a second, in tenths: the first 10,000 at
    // once, then at least three more tenths of a second.
    let body: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let sent = body.clone();
    let (addr, s) = serve_one(move |mut c| {
        read_request(&mut c);
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", sent.len());
        c.write_all(head.as_bytes()).unwrap();
        let _ = c.write_all(&sent);
    });
    let t0 = Instant::now();
    let out = fetch(&["--limit-rate", "100000", &format!("http://{addr}/")]);
    let took = t0.elapsed();
    s.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout == body, "the body changed on the way");
    assert!(took >= Duration::from_millis(250), "{took:?}");
    for bad in ["0", "1x", "k", "99999999999g"] {
        let out = fetch(&["--limit-rate", bad, "http://127.0.0.1:9/"]);
        assert_eq!(out.status.code(), Some(2), "--limit-rate {bad}");
    }
}
