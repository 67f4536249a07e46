//! End-to-end tests of this crate's examples, `stream_echo` and `chat`:
//! each runs as a child process on a free port, says where it listens,
//! serves a client, and exits with status 0 on SIGINT or SIGTERM.
//!
//! `cargo test` builds the examples, but `cargo test --test examples` does
//! not, and a binary left from an earlier build may be stale; so the first
//! test to need one runs `cargo build` for both (a no-op when they are
//! fresh) and takes them from `target/<profile>/examples/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use evloop::signum;

const EXAMPLES: [&str; 2] = ["stream_echo", "chat"];
/// Generous: only a broken example gets near it.
const PATIENCE: Duration = Duration::from_secs(10);

/// The path of example `name`, built first (once per test binary).
fn example_bin(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/<test>-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in target/<profile>/deps");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "evloop-buffer"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        for ex in EXAMPLES {
            cmd.args(["--example", ex]);
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("cannot run cargo");
        assert!(
            out.status.success(),
            "cargo build of the examples failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile_dir.join("examples")
    });
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}

/// A running example; killed when dropped (also when a test fails).
struct Example {
    name: &'static str,
    child: Child,
    /// Its stdout, line by line.
    lines: Receiver<String>,
    /// What the first line says it listens on.
    addr: String,
}

impl Example {
    /// Starts `name` with `args` and reads its first line,
    /// `NAME: listening on ADDR ...`.
    fn start(name: &'static str, args: &[&str]) -> Example {
        let mut child = Command::new(example_bin(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut ex = Example {
            name,
            child,
            lines,
            addr: String::new(),
        };
        let first = ex.next_line();
        let prefix = format!("{name}: listening on ");
        ex.addr = first
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{name}'s first line is not {prefix:?}...: {first:?}"))
            .to_string();
        ex
    }

    fn next_line(&mut self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("{}: no line within {PATIENCE:?}: {e}", self.name))
    }

    /// Reads lines until one equals `want`.
    fn wait_for_line(&mut self, want: &str) {
        let mut seen = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(deadline - Instant::now()) {
                Ok(line) if line == want => return,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("{}: never printed {want:?}; it printed {seen:?}", self.name);
    }

    fn tcp_client(&self) -> TcpStream {
        let c = TcpStream::connect(self.addr.as_str())
            .unwrap_or_else(|e| panic!("connect to {} at {}: {e}", self.name, self.addr));
        c.set_read_timeout(Some(PATIENCE)).unwrap();
        c
    }

    /// Sends `signal` and waits for the exit.
    fn stop_with(&mut self, signal: i32) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).expect("a pid fits in pid_t");
        // SAFETY: kill takes no pointers; the pid is our child's, which has
        // not been waited for, so it cannot name another process.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {PATIENCE:?} of signal {signal}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `data`, half-closes, and reads everything that comes back.
fn round_trip(mut c: impl Read + Write, data: &[u8], shut: impl FnOnce(&mut dyn Write)) -> Vec<u8> {
    c.write_all(data).unwrap();
    shut(&mut c);
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    back
}

#[test]
fn stream_echo_echoes_and_exits_0_on_sigint() {
    let mut ex = Example::start("stream_echo", &["--listen", "127.0.0.1:0"]);
    let c = ex.tcp_client();
    let back = round_trip(&c, b"hello\nno line end", |_| {
        c.shutdown(Shutdown::Write).unwrap()
    });
    assert_eq!(back, b"hello\nno line end");
    let status = ex.stop_with(signum::SIGINT);
    assert!(status.success(), "{status}");
    ex.wait_for_line("stream_echo: SIGINT, exiting");
}

#[test]
fn stream_echo_lines_mode_returns_the_last_line_and_exits_0_on_sigterm() {
    let mut ex = Example::start(
        "stream_echo",
        &["--listen=127.0.0.1:0", "--lines", "--quiet"],
    );
    let c = ex.tcp_client();
    let back = round_trip(&c, b"one\r\ntwo\nthree", |_| {
        c.shutdown(Shutdown::Write).unwrap()
    });
    assert_eq!(back, b"one\ntwo\nthree\n", "every line, the last one too");
    let status = ex.stop_with(signum::SIGTERM);
    assert!(status.success(), "{status}");
}

#[test]
fn stream_echo_lines_mode_drops_a_line_that_never_ends() {
    let ex = Example::start(
        "stream_echo",
        &["--listen", "127.0.0.1:0", "--lines", "--quiet"],
    );
    let mut c = ex.tcp_client();
    c.write_all(b"ok\n").unwrap();
    // 64 KiB without a line end: more than the 4 KiB the server accepts.
    let _ = c.write_all(&[b'x'; 64 << 10]);
    let mut back = Vec::new();
    // The server hangs up (possibly with a reset, as our bytes are unread).
    let _ = c.read_to_end(&mut back);
    assert_eq!(back, b"ok\n");
}

#[test]
fn stream_echo_on_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("evloop-stream-echo-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let arg = format!("unix:{}", path.display());
    let mut ex = Example::start("stream_echo", &["--listen", &arg, "--quiet"]);
    assert_eq!(Path::new(&ex.addr), path);
    let c = UnixStream::connect(&path).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    let back = round_trip(&c, b"over unix", |_| c.shutdown(Shutdown::Write).unwrap());
    assert_eq!(back, b"over unix");
    assert!(ex.stop_with(signum::SIGINT).success());
    assert!(!path.exists(), "the socket file is removed at exit");
}

#[test]
fn a_host_name_for_listen_is_a_usage_error() {
    let out = Command::new(example_bin("stream_echo"))
        .args(["--listen", "localhost:7001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host names are not resolved"), "{err}");
}

/// One line from a chat client.
fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut s = String::new();
    r.read_line(&mut s).unwrap();
    s
}

#[test]
fn chat_relays_lines_and_says_goodbye_on_sigterm() {
    let mut ex = Example::start("chat", &["--listen", "127.0.0.1:0"]);
    let a = ex.tcp_client();
    let a_name = a.local_addr().unwrap().to_string();
    let mut a_in = BufReader::new(a.try_clone().unwrap());
    assert_eq!(
        line(&mut a_in),
        format!("welcome, {a_name}; 0 others here\n")
    );
    let b = ex.tcp_client();
    let b_name = b.local_addr().unwrap().to_string();
    let mut b_in = BufReader::new(b.try_clone().unwrap());
    assert_eq!(
        line(&mut b_in),
        format!("welcome, {b_name}; 1 others here\n")
    );
    assert_eq!(line(&mut a_in), format!("* {b_name} joined\n"));

    // a's last line has no line end: it arrives all the same.
    (&a).write_all(b"hi\r\nlast words").unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    assert_eq!(line(&mut b_in), format!("{a_name}: hi\n"));
    assert_eq!(line(&mut b_in), format!("{a_name}: last words\n"));
    assert_eq!(line(&mut b_in), format!("* {a_name} left\n"));

    let status = ex.stop_with(signum::SIGTERM);
    assert!(status.success(), "{status}");
    assert_eq!(line(&mut b_in), "* the server is shutting down\n");
    assert_eq!(line(&mut b_in), "", "then EOF");
    ex.wait_for_line("chat: SIGTERM, exiting");
}

#[test]
fn chat_exits_0_on_sigint_with_nobody_connected() {
    let mut ex = Example::start("chat", &["--listen", "127.0.0.1:0"]);
    assert!(ex.stop_with(signum::SIGINT).success());
}
