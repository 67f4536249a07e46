//! Runs one of this crate's examples as a child process: builds it first
//! (`cargo test --test X` does not build examples, and one left from an
//! earlier build may be stale), reads where it says it listens, stops it
//! with a signal and checks it exits with 0.

#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// Generous: only a broken example gets near it.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The path of example `name`, built first.
pub fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "evloop-http", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("cannot run cargo");
    assert!(
        out.status.success(),
        "cargo build of example {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}

/// A running example; killed when dropped (also when a test fails).
pub struct Example {
    name: &'static str,
    child: Child,
    lines: Receiver<String>,
    /// What its first line says it listens on.
    pub addr: String,
}

impl Example {
    /// Starts `name` with `args`; its first line must be
    /// `NAME: listening on ADDR`.
    pub fn start(name: &'static str, args: &[&str]) -> Example {
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
        let first = lines
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("{name}: no line within {PATIENCE:?}: {e}"));
        let prefix = format!("{name}: listening on ");
        let addr = first
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{name}'s first line is not {prefix:?}...: {first:?}"))
            .to_string();
        Example {
            name,
            child,
            lines,
            addr,
        }
    }

    /// Sends `signal` (a name for kill(1): TERM, INT) and waits for the
    /// exit.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{signal} failed");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {PATIENCE:?} of SIG{signal}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lines printed after the first, so far.
    pub fn printed(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
