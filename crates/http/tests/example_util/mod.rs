//! Shared by the tests that run this crate's examples as programs.
//!
//! `cargo test --test X` does not build examples, so the first use of one
//! runs `cargo build --example NAME` (a no-op when fresh) and takes the
//! binary from `target/<profile>/examples/`.
#![allow(dead_code)] // each test file uses part of it

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};

/// Builds example `name` of this crate (once per test binary) and returns
/// its path.
pub fn example(name: &'static str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<&'static str, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "evloop-http", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = profile_dir.join("examples").join(name);
    built.insert(name, p.clone());
    p
}

/// Reads the first line of `child`'s piped stdout, which must say where
/// it listens (`listening on`), and returns it.
pub fn listening_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening on"), "{line:?}");
    line
}

/// The address in a `listening on ADDR` line: an example started on port
/// 0 says there which port the system gave it (a port probed free and
/// handed over could be taken by a parallel test in between).
pub fn listening_addr(line: &str) -> String {
    let (_, addr) = line
        .trim()
        .rsplit_once("listening on ")
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    addr.to_string()
}
