//! End-to-end tests of the process-level examples: `supervisor`,
//! `worker_pool`, `file_tail` and `foreign_loop`. Each test runs an example
//! as a child process and checks what it prints and how it exits.
//!
//! As in `echo_example.rs`, the first test that needs a binary runs `cargo
//! build` for all four examples (a no-op when they are fresh), since
//! `cargo test --test process_examples` alone does not build examples.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use evloop::signum::{SIGINT, SIGTERM};

const EXAMPLES: [&str; 4] = ["supervisor", "worker_pool", "file_tail", "foreign_loop"];

/// How long any one step may take before the test gives up.
const STEP: Duration = Duration::from_secs(5);

/// The built example `name` (see `common::example_bin`).
fn example(name: &str) -> PathBuf {
    common::example_bin(&EXAMPLES, name)
}

/// Runs an example to completion (killing it after `STEP`).
fn run_to_end(name: &str, args: &[&str]) -> Output {
    let child = Command::new(example(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let mut proc = Proc {
        child,
        name: name.to_string(),
    };
    let (out, err) = (proc.child.stdout.take(), proc.child.stderr.take());
    let (out, err) = (read_all(out.unwrap()), read_all(err.unwrap()));
    let status = proc.wait(STEP);
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn read_all(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// A running example; killed when dropped, also when a test fails.
struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    fn spawn(name: &str, args: &[&str]) -> Proc {
        let child = Command::new(example(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            name: name.to_string(),
        }
    }

    /// Waits for the process to exit, at most `timeout`.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        common::wait_exit(&mut self.child, timeout, &self.name)
    }

    fn stdout_lines(&mut self) -> Lines {
        Lines::new(self.child.stdout.take().expect("piped stdout"), "stdout")
    }

    fn stderr_lines(&mut self) -> Lines {
        Lines::new(self.child.stderr.take().expect("piped stderr"), "stderr")
    }

    /// Sends `signal` to the process.
    fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill with plain integers; the pid is our unreaped child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of a child's output, read by a thread.
struct Lines {
    rx: Receiver<String>,
    what: &'static str,
    seen: Vec<String>,
}

impl Lines {
    fn new(r: impl Read + Send + 'static, what: &'static str) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            what,
            seen: Vec::new(),
        }
    }

    /// The next line, or `None` at end of output; panics after `STEP`.
    fn next(&mut self) -> Option<String> {
        match self.rx.recv_timeout(STEP) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "no {} line within {STEP:?}; so far: {:#?}",
                    self.what, self.seen
                )
            }
        }
    }

    /// Skips lines until one contains `needle`, and returns it.
    fn expect(&mut self, needle: &str) -> String {
        while let Some(line) = self.next() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!(
            "{} ended without a line containing {needle:?}: {:#?}",
            self.what, self.seen
        );
    }

    /// Every line up to the end of the output.
    fn rest(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(line) = self.next() {
            v.push(line);
        }
        v
    }
}

/// Whether process `pid` still exists (as anything, a zombie included).
fn process_exists(pid: u32) -> bool {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: signal 0 only checks that the pid exists; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// SIGKILLs the pids it holds when dropped, so that a failing test leaves
/// no children of the supervisor behind.
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill takes plain integers. After a passing test the
                // pids are gone and this fails with ESRCH; that one was
                // reused by another process within the test is not a
                // realistic concern.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// `start #I pid P` lines: the pid.
fn start_pid(line: &str) -> u32 {
    line.rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a start line: {line:?}"))
}

// ---------------------------------------------------------------- supervisor

#[test]
fn supervisor_restarts_with_backoff_until_the_limit() {
    let started = Instant::now();
    let out = run_to_end(
        "supervisor",
        &[
            "--children",
            "1",
            "--max-restarts",
            "3",
            "--",
            "sh",
            "-c",
            "exit 7",
        ],
    );
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{stdout}", out.status);
    let lines: Vec<&str> = stdout.lines().collect();

    // The first run and three restarts, each a new process, each logged
    // when it exits; the back-off doubles.
    let pids: Vec<u32> = lines
        .iter()
        .filter(|l| l.starts_with("start #0 pid "))
        .map(|l| start_pid(l))
        .collect();
    assert_eq!(pids.len(), 4, "{stdout}");
    let exits: Vec<&&str> = lines.iter().filter(|l| l.starts_with("exit ")).collect();
    assert_eq!(exits.len(), 4, "{stdout}");
    for (pid, exit) in pids.iter().zip(&exits) {
        assert!(
            exit.starts_with(&format!("exit #0 pid {pid}: exited with status 7")),
            "{exit:?}"
        );
    }
    for (exit, delay) in exits.iter().zip(["100ms", "200ms", "400ms"]) {
        assert!(exit.ends_with(&format!("; restart in {delay}")), "{exit:?}");
    }
    assert!(exits[3].ends_with("; restart limit reached"), "{stdout}");
    assert_eq!(lines.last(), Some(&"done"), "{stdout}");
    // The back-off really waited: 100 + 200 + 400 ms.
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    for pid in pids {
        assert!(!process_exists(pid), "child {pid} is still there");
    }
}

#[test]
fn supervisor_stops_its_children_on_sigterm() {
    supervisor_stops_its_children_on(SIGTERM, "SIGTERM");
}

/// Ctrl-C (SIGINT) ends the supervisor as SIGTERM does: every child gets
/// SIGTERM, none is restarted, and the supervisor exits with status 0.
#[test]
fn supervisor_exits_0_on_sigint() {
    supervisor_stops_its_children_on(SIGINT, "SIGINT");
}

fn supervisor_stops_its_children_on(signal: i32, name: &str) {
    let mut sup = Proc::spawn("supervisor", &["--children", "3", "--", "sleep", "30"]);
    let mut out = sup.stdout_lines();
    let pids: Vec<u32> = (0..3).map(|_| start_pid(&out.expect("start #"))).collect();
    let _cleanup = KillOnDrop(pids.clone());
    for &pid in &pids {
        assert!(process_exists(pid), "child {pid} is not running");
    }

    sup.signal(signal);
    let status = sup.wait(STEP);
    assert_eq!(status.code(), Some(0), "supervisor: {status:?}");

    let rest = out.rest();
    assert!(
        rest.iter().any(|l| *l == format!("stopping: {name}")),
        "{rest:#?}"
    );
    for pid in pids {
        let line = format!("pid {pid}: killed by signal {SIGTERM}");
        assert!(
            rest.iter().any(|l| l.ends_with(&line)),
            "{line:?} in {rest:#?}"
        );
        assert!(!process_exists(pid), "child {pid} survived the supervisor");
    }
    assert!(!rest.iter().any(|l| l.contains("restart in")), "{rest:#?}");
}

// ---------------------------------------------------------------- worker_pool

/// The number of primes below `n`, by sieve (the example uses trial
/// division, so the two can disagree).
fn primes_below(n: usize) -> usize {
    let mut composite = vec![false; n];
    let mut count = 0;
    for i in 2..n {
        if !composite[i] {
            count += 1;
            for j in (i * i..n).step_by(i) {
                composite[j] = true;
            }
        }
    }
    count
}

#[test]
fn worker_pool_counts_all_primes() {
    for (workers, jobs, chunk) in [(3, 40, 2500), (1, 7, 1000), (8, 100, 97)] {
        let args = [
            "--workers".to_string(),
            workers.to_string(),
            "--jobs".into(),
            jobs.to_string(),
            "--chunk".into(),
            chunk.to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_to_end("worker_pool", &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {:?}\n{stdout}", out.status);

        let limit = jobs * chunk;
        let expected = format!("primes below {limit}: {}", primes_below(limit));
        assert!(
            stdout.lines().any(|l| l == expected),
            "{expected:?} in\n{stdout}"
        );
        // Every job was done exactly once, by some worker.
        let spread = stdout
            .lines()
            .find_map(|l| l.split_once("jobs per worker: "))
            .unwrap_or_else(|| panic!("no spread line in\n{stdout}"))
            .1;
        let per_worker: Vec<usize> = spread
            .split(' ')
            .map(|n| n.parse().expect("a job count"))
            .collect();
        assert_eq!(per_worker.len(), workers, "{stdout}");
        assert_eq!(per_worker.iter().sum::<usize>(), jobs, "{stdout}");
    }
}

/// Ctrl-C (SIGINT) stops a long run early: the workers finish the job in
/// hand, the pool says how far it got, and exits with status 0 soon after.
#[test]
fn worker_pool_exits_0_on_sigint() {
    let jobs = 1_000_000;
    let mut pool = Proc::spawn(
        "worker_pool",
        &[
            "--workers",
            "2",
            "--jobs",
            &jobs.to_string(),
            "--chunk",
            "1000",
        ],
    );
    let mut out = pool.stdout_lines();
    out.expect("counting the primes below 1000000000");
    pool.signal(SIGINT);
    let status = pool.wait(STEP);
    assert_eq!(status.code(), Some(0), "worker_pool: {status:?}");
    let rest = out.rest();
    let done: u64 = rest
        .iter()
        .find_map(|l| l.strip_prefix("interrupted: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no interrupted line in {rest:#?}"));
    assert!(done < jobs, "{rest:#?}");
    assert!(
        !rest.iter().any(|l| l.starts_with("primes below")),
        "{rest:#?}"
    );
}

// ---------------------------------------------------------------- file_tail

/// A fresh empty directory for one test.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "evloop-process-examples-{tag}-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new().append(true).open(path).expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

fn follows_growth_truncation_and_replacement(inotify: bool) {
    let dir = temp_dir(if inotify { "tail-inotify" } else { "tail-poll" });
    let path = dir.join("log");
    fs::write(&path, "written before the start\n").unwrap();
    let expected = "one\ntwo\nthree\nfour\n";

    let bytes = expected.len().to_string();
    let mut args = vec!["--interval", "20", "--exit-after-bytes", &bytes];
    if !inotify {
        args.push("--no-inotify");
    }
    let path_arg = path.to_str().expect("a UTF-8 temp path");
    args.push(path_arg);
    let mut tail = Proc::spawn("file_tail", &args);
    let mut out = tail.stdout_lines();
    let mut err = tail.stderr_lines();
    err.expect("following");

    // Growth: only what is appended after the start is printed.
    append(&path, "one\n");
    assert_eq!(out.next().as_deref(), Some("one"));

    // Truncation: once noticed, the file is read from its start.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    err.expect("truncated");
    append(&path, "two\n");
    assert_eq!(out.next().as_deref(), Some("two"));

    // Replacement (log rotation by rename): the new file from its start.
    let new = dir.join("log.new");
    fs::write(&new, "three\n").unwrap();
    fs::rename(&new, &path).unwrap();
    err.expect("replaced");
    assert_eq!(out.next().as_deref(), Some("three"));

    // It keeps following the new file, and exits after the byte limit.
    append(&path, "four\n");
    assert_eq!(out.next().as_deref(), Some("four"));
    let status = tail.wait(STEP);
    assert!(status.success(), "file_tail: {status:?}");
    assert_eq!(out.rest(), Vec::<String>::new());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn file_tail_with_inotify() {
    follows_growth_truncation_and_replacement(true);
}

#[test]
fn file_tail_polling_only() {
    follows_growth_truncation_and_replacement(false);
}

#[test]
fn file_tail_follows_a_symlink_to_its_target() {
    let dir = temp_dir("tail-link");
    let target = dir.join("app.log.1");
    let link = dir.join("current.log");
    fs::write(&target, "old\n").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let expected = "via the link\n";
    let bytes = expected.len().to_string();
    let link_arg = link.to_str().expect("a UTF-8 temp path");
    let mut tail = Proc::spawn(
        "file_tail",
        &["--interval", "20", "--exit-after-bytes", &bytes, link_arg],
    );
    let mut out = tail.stdout_lines();
    let mut err = tail.stderr_lines();
    err.expect("following");
    // Appending to the target (not through the link) is what a logger does.
    append(&target, expected);
    assert_eq!(out.next().as_deref(), Some("via the link"));
    let status = tail.wait(STEP);
    assert!(status.success(), "file_tail: {status:?}");
    let _ = fs::remove_dir_all(&dir);
}

/// Ctrl-C (SIGINT), and SIGTERM, end file_tail with status 0.
#[test]
fn file_tail_ends_on_sigint() {
    let dir = temp_dir("tail-sigint");
    let path = dir.join("not-yet");
    for signal in [SIGINT, SIGTERM] {
        let mut tail = Proc::spawn("file_tail", &[path.to_str().unwrap()]);
        let mut err = tail.stderr_lines();
        err.expect("following");
        tail.signal(signal);
        let status = tail.wait(STEP);
        assert_eq!(
            status.code(),
            Some(0),
            "file_tail, signal {signal}: {status:?}"
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- foreign_loop

#[test]
fn foreign_loop_plays_ping_pong() {
    let started = Instant::now();
    let out = run_to_end("foreign_loop", &["--ticks", "4", "--interval", "20"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{stdout}", out.status);
    let lines: Vec<&str> = stdout.lines().collect();
    for n in 1..=4 {
        for line in [
            format!("evloop: sent tick {n}"),
            format!("foreign: got tick {n}"),
            format!("evloop: got ack {n}"),
        ] {
            assert!(lines.contains(&line.as_str()), "{line:?} in\n{stdout}");
        }
    }
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("done: 4 ticks sent, 4 acks received"),
        "{stdout}"
    );
    // The ticks came from evloop's timer, which only next_timeout lets the
    // foreign loop wait for: 4 x 20 ms. And no busy loop: a handful of
    // rounds per tick, not thousands.
    assert!(started.elapsed() >= Duration::from_millis(80));
    let rounds: u32 = last
        .split(", ")
        .find_map(|p| p.strip_suffix(" poll rounds"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no round count in {last:?}"));
    assert!(rounds <= 4 * 4, "{rounds} rounds: the foreign loop spins");
}

/// Ctrl-C (SIGINT) ends the game early: evloop says so, both sides
/// finish, and the program exits with status 0.
#[test]
fn foreign_loop_exits_0_on_sigint() {
    let mut game = Proc::spawn("foreign_loop", &["--ticks", "1000", "--interval", "20"]);
    let mut out = game.stdout_lines();
    out.expect("evloop: got ack 1");
    game.signal(SIGINT);
    let status = game.wait(STEP);
    assert_eq!(status.code(), Some(0), "foreign_loop: {status:?}");
    let rest = out.rest();
    assert!(
        rest.iter().any(|l| l == "evloop: SIGINT, stopping"),
        "{rest:#?}"
    );
    let last = rest.last().map(String::as_str).unwrap_or_default();
    assert!(last.starts_with("done: "), "{rest:#?}");
    assert!(!last.starts_with("done: 1000 ticks"), "{rest:#?}");
}

// ---------------------------------------------------------------- command lines

#[test]
fn command_lines() {
    for name in EXAMPLES {
        let out = Command::new(example(name)).arg("--help").output().unwrap();
        assert!(out.status.success(), "{name} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("usage:"),
            "{name} --help"
        );
        let out = Command::new(example(name)).arg("--bogus").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name} --bogus");
        assert!(!out.stderr.is_empty(), "{name} --bogus: no message");
    }
    for (name, bad) in [
        ("supervisor", &["--children", "0"][..]),
        ("supervisor", &["--"]),
        ("worker_pool", &["--jobs", "0"]),
        ("worker_pool", &["--workers", "many"]),
        ("file_tail", &[]),
        ("file_tail", &["--interval", "0", "x"]),
        ("foreign_loop", &["--ticks", "0"]),
    ] {
        let out = Command::new(example(name)).args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name} {bad:?}");
    }
}
