//! End-to-end test of `examples/echo.rs`: builds the example, runs it as a
//! child process on a free port (once per backend, through `EVLOOP_BACKEND`)
//! and talks to it over TCP.
//!
//! `cargo test` builds examples, but `cargo test --test echo_example` does
//! not, and a binary left from an earlier build may be stale; so the first
//! test to need the binary runs `cargo build --example echo` (a no-op when it
//! is fresh) and takes it from `target/<profile>/examples/`.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use evloop::signum::{SIGINT, SIGTERM};
use evloop::Backend;

/// The built example (see `common::example_bin`).
fn echo_bin() -> PathBuf {
    common::example_bin(&["echo"], "echo")
}

fn backends() -> Vec<Backend> {
    evloop::supported_backends().iter_best_first().collect()
}

/// A running echo server; killed when dropped, also when a test fails.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// The server's stdout, line by line, after the "echo: listening on" line.
    lines: Receiver<String>,
    backend: Backend,
}

impl Server {
    fn start(backend: Backend, idle_timeout: &str) -> Server {
        let mut child = Command::new(echo_bin())
            .args(["--listen", "127.0.0.1:0", "--idle-timeout", idle_timeout])
            .env("EVLOOP_BACKEND", backend.name())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the echo example");
        let lines = spawn_line_reader(child.stdout.take().expect("piped stdout"));
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            backend,
        };
        let first = server.next_line(Duration::from_secs(10));
        // "echo: listening on 127.0.0.1:PORT (idle timeout .., backend NAME)"
        let addr = first
            .strip_prefix("echo: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"));
        assert!(
            first.contains(&format!("backend {})", backend.name())),
            "the server does not use {backend}: {first:?}"
        );
        server.addr = addr;
        server
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect to the echo server");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    fn next_line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "[{}] no output from the server in {timeout:?}",
                    self.backend
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait();
                panic!("[{}] the server exited: {status:?}", self.backend)
            }
        }
    }

    /// Sends `signal` to the server.
    fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill takes plain integers; the pid is our unreaped child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for the server to exit, at most `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let what = format!("[{}] the server", self.backend);
        common::wait_exit(&mut self.child, timeout, &what)
    }

    /// Waits for an output line that starts with `prefix` and returns it.
    fn expect_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_line(left);
            if line.starts_with(prefix) {
                return line;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_line_reader(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Bytes that differ from their neighbours, so that a lost, repeated or
/// reordered chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

/// Sends `data` from another thread while this one does not read for
/// `pause`, then reads the whole echo back. Returns the echo and whether
/// the writer was still blocked when reading began (i.e. back-pressure
/// reached the client).
fn echo_without_reading(stream: &TcpStream, data: Vec<u8>, pause: Duration) -> (Vec<u8>, bool) {
    let len = data.len();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || writer.write_all(&data));
    thread::sleep(pause);
    let blocked = !sender.is_finished();
    let mut got = vec![0; len];
    let mut reader = stream;
    reader.read_exact(&mut got).expect("read the echo back");
    sender
        .join()
        .expect("writer thread")
        .expect("write the message");
    (got, blocked)
}

#[test]
fn echoes_messages_on_every_backend() {
    for backend in backends() {
        let mut server = Server::start(backend, "30");
        let mut a = server.connect();
        let mut b = server.connect();
        server.expect_line("open ");
        server.expect_line("open ");
        for (i, msg) in [
            "hello\n",
            "x",
            "a longer line with spaces\n",
            "\0binary\u{7f}",
        ]
        .iter()
        .enumerate()
        {
            // Interleave two clients.
            let (first, second) = if i % 2 == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            for s in [first, second] {
                s.write_all(msg.as_bytes()).unwrap();
                let mut got = vec![0; msg.len()];
                s.read_exact(&mut got).unwrap();
                assert_eq!(got, msg.as_bytes(), "[{backend}]");
            }
        }
        // Half-closing ends the connection after everything came back.
        a.write_all(b"last words").unwrap();
        a.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"last words", "[{backend}]");
        let line = server.expect_line("close ");
        assert!(line.ends_with("(eof)"), "[{backend}] {line:?}");
        // The other connection is unaffected.
        b.write_all(b"still here").unwrap();
        let mut got = [0; 10];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"still here", "[{backend}]");
    }
}

#[test]
fn back_pressure_loses_nothing() {
    for backend in backends() {
        let server = Server::start(backend, "30");
        let stream = server.connect();

        // 1 MiB written while the client does not read. On loopback the
        // kernel's buffers may absorb all of it, so this alone does not
        // prove that the server pushed back.
        let data = pattern(1 << 20);
        let (got, _) = echo_without_reading(&stream, data.clone(), Duration::from_millis(200));
        assert!(got == data, "[{backend}] the 1 MiB echo differs");

        // More than the socket buffers on both sides can hold (about 9 MB
        // were absorbed on loopback here; tcp_wmem/tcp_rmem maxima of 4 and
        // 32 MiB bound it below 64 MiB): the server's writes must hit
        // WouldBlock, it must stop reading, and the client's writer blocks.
        let data = pattern(64 << 20);
        let (got, blocked) =
            echo_without_reading(&stream, data.clone(), Duration::from_millis(300));
        assert!(got == data, "[{backend}] the 64 MiB echo differs");
        assert!(
            blocked,
            "[{backend}] the client's writer never blocked: either the socket buffers \
             hold 64 MiB or the server kept reading without pushing back"
        );

        // The connection still works afterwards.
        let mut s = &stream;
        s.write_all(b"ping").unwrap();
        let mut got = [0; 4];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping", "[{backend}]");
    }
}

#[test]
fn idle_timeout_closes_only_idle_connections() {
    // One server per backend, all at once, since this test waits.
    let mut servers: Vec<Server> = backends()
        .into_iter()
        .map(|b| Server::start(b, "1"))
        .collect();
    let mut conns: Vec<(TcpStream, TcpStream)> = servers
        .iter_mut()
        .map(|s| {
            let idle = s.connect();
            let busy = s.connect();
            s.expect_line("open ");
            s.expect_line("open ");
            (idle, busy)
        })
        .collect();
    let start = Instant::now();

    // Keep the busy connections active for twice the timeout.
    while start.elapsed() < Duration::from_millis(2000) {
        for (server, (_, busy)) in servers.iter().zip(&mut conns) {
            busy.write_all(b"tick").unwrap();
            let mut got = [0; 4];
            busy.read_exact(&mut got).unwrap_or_else(|e| {
                panic!("[{}] a busy connection was closed: {e}", server.backend)
            });
        }
        thread::sleep(Duration::from_millis(300));
    }

    for (server, (idle, busy)) in servers.iter_mut().zip(&mut conns) {
        let backend = server.backend;
        // The idle one was closed after about a second.
        idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0; 16];
        match idle.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("[{backend}] unexpected {n} bytes"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("[{backend}] the idle connection was not closed: {e}"),
        }
        let line = server.expect_line("close ");
        assert!(line.ends_with("(idle timeout)"), "[{backend}] {line:?}");

        // The busy one is closed within 5 s of falling silent.
        let quiet = Instant::now();
        busy.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        match busy.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("[{backend}] unexpected {n} bytes"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("[{backend}] the quiet connection was not closed: {e}"),
        }
        assert!(quiet.elapsed() < Duration::from_secs(5), "[{backend}]");
        let line = server.expect_line("close ");
        assert!(line.ends_with("(idle timeout)"), "[{backend}] {line:?}");
    }
}

/// SIGINT (Ctrl-C) and SIGTERM end the server in order on every backend:
/// it says so, closes every connection (the client sees end of file), and
/// exits with status 0 soon after.
#[test]
fn exits_0_on_sigint_and_sigterm() {
    for backend in backends() {
        for (signal, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            let mut server = Server::start(backend, "30");
            let mut conn = server.connect();
            let open = server.expect_line("open ");
            conn.write_all(b"before").unwrap();
            let mut got = [0; 6];
            conn.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"before", "[{backend}]");

            server.signal(signal);
            let line = server.expect_line("echo: ");
            assert_eq!(
                line,
                format!("echo: {name}: closing 1 connection"),
                "[{backend}]"
            );
            let close = server.expect_line("close ");
            let peer = open.strip_prefix("open ").unwrap();
            assert_eq!(close, format!("close {peer} (shutdown)"), "[{backend}]");
            let mut rest = Vec::new();
            match conn.read_to_end(&mut rest) {
                Ok(_) => assert!(rest.is_empty(), "[{backend}] {rest:?}"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "[{backend}]"),
            }
            let status = server.wait_exit(Duration::from_secs(5));
            assert_eq!(status.code(), Some(0), "[{backend}] {name}: {status:?}");
        }
    }
}

#[test]
fn command_line() {
    let out = Command::new(echo_bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in ["--listen", "--idle-timeout", "--help"] {
        assert!(help.contains(opt), "--help does not mention {opt}: {help}");
    }

    for bad in [
        &["--bogus"][..],
        &["--listen"],
        &["--listen", "not-an-address"],
        &["--idle-timeout", "0"],
        &["--idle-timeout", "-1"],
        &["--idle-timeout", "soon"],
    ] {
        let out = Command::new(echo_bin()).args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty(), "{bad:?}: no message");
    }
}
