//! The hello_server example against the benchmark's contract
//! (../shared/bench/http/README.md): listens on exactly `--addr`, says so,
//! answers `GET /` and `POST /`, 404 elsewhere, takes the three deadline
//! flags, exits 0 on SIGTERM and SIGINT.
//! The example is built by the first test that runs it (example_util).

mod example_util;
mod server_util;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use example_util::{example, listening_line};
use server_util::Reader;

struct Hello {
    child: Child,
    addr: String,
}

impl Hello {
    fn start(extra: &[&str]) -> Hello {
        Hello::start_with(extra, Stdio::inherit())
    }

    fn start_with(extra: &[&str], stderr: Stdio) -> Hello {
        // A free port: bind 0, note it, let it go.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(example("hello_server"))
            .args(["--addr", &addr])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let line = listening_line(&mut child);
        assert!(line.contains(&format!("listening on {addr}")), "{line:?}");
        Hello { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(&self.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    }

    fn signal_and_wait(mut self, sig: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "did not exit on {sig}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn hello_server_answers_as_the_benchmark_expects_and_exits_0_on_sigterm() {
    let h = Hello::start(&[]);
    let mut c = h.connect();
    c.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\
          POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody\
          PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n\
          GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    for _ in 0..3 {
        let r = rd.response(false).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("content-length"), Some("13"));
        assert_eq!(r.text(), "Hello, World!");
    }
    assert_eq!(rd.response(false).unwrap().status, 404);
    drop(rd);
    drop(c);
    assert_eq!(h.signal_and_wait("-TERM").code(), Some(0));
}

#[test]
fn hello_server_exits_0_on_sigint() {
    let h = Hello::start(&[]);
    assert_eq!(h.signal_and_wait("-INT").code(), Some(0));
}

#[test]
fn hello_server_takes_the_deadline_flags() {
    let h = Hello::start(&[
        "--header-timeout",
        "0.3",
        "--body-timeout",
        "0.3",
        "--keepalive-timeout",
        "5",
    ]);
    let mut c = h.connect();
    let t0 = Instant::now();
    c.write_all(b"GET / HTTP/1.1\r\nHost:").unwrap();
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!(r.status, 408);
    assert!(t0.elapsed() >= Duration::from_millis(300));
}

#[test]
fn hello_server_refuses_unknown_flags_with_status_2() {
    let out = Command::new(example("hello_server"))
        .arg("--nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument"));
}

#[test]
fn log_errors_prints_one_line_per_failed_connection() {
    let mut h = Hello::start_with(&["--log-errors"], Stdio::piped());
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"[..],
        &b"GET / HTTP/9.9\r\n\r\n"[..],
    ] {
        let mut c = h.connect();
        c.write_all(bad).unwrap();
        let r = Reader::new(&mut c).response(false).unwrap();
        assert!(r.status >= 400);
    }
    // A good connection logs nothing.
    let mut c = h.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(Reader::new(&mut c).response(false).unwrap().status, 200);
    let stderr = h.child.stderr.take().unwrap();
    let st = h.signal_and_wait("-TERM");
    assert_eq!(st.code(), Some(0));
    let lines: Vec<String> = BufReader::new(stderr).lines().map(Result::unwrap).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("evloop-http: 127.0.0.1:")),
        "{lines:?}"
    );
    assert!(lines[0].contains("400"), "{lines:?}");
    assert!(lines[1].contains("505"), "{lines:?}");
}
