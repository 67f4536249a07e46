//! libmemcached-tools against the server: memccapable's conformance checks
//! (ASCII and binary protocol, as memcached 1.6.18 passes them all), the
//! libmemcached command-line clients and load generators (memcaslap,
//! memcslap) in binary-protocol mode.
//!
//! Needs the `libmemcached-tools` package; each test prints a SKIP line
//! and returns when a tool is missing.

mod binary_support;

use std::path::Path;
use std::process::{Command, Output};

use binary_support::Server;

/// Whether `tool` is installed; prints the SKIP line if not.
fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        println!("SKIP: {tool} not installed (apt-get install -y libmemcached-tools)");
    }
    found
}

/// Runs a tool, with a timeout so a hung server fails the test.
fn run(tool: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("60")
        .arg(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"))
}

#[test]
fn memccapable_passes_every_ascii_and_binary_check() {
    if !have("memccapable") {
        return;
    }
    let server = Server::start(&[]);
    let port = server.addr.port().to_string();
    let out = run("memccapable", &["-h", "127.0.0.1", "-p", &port, "-t", "10"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let checks: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_end().ends_with(']'))
        .collect();
    let failed: Vec<&&str> = checks.iter().filter(|l| !l.ends_with("[pass]")).collect();
    assert!(failed.is_empty(), "failed checks: {failed:#?}\n{text}");
    // Both protocols were checked (the list memcached 1.6.18 passes).
    let ascii = checks.iter().filter(|l| l.starts_with("ascii ")).count();
    let binary = checks.iter().filter(|l| l.starts_with("binary ")).count();
    assert!(
        ascii >= 27 && binary >= 27,
        "{ascii} ascii, {binary} binary:\n{text}"
    );
    assert!(text.contains("All tests passed"), "{text}");
    assert!(out.status.success(), "{:?}\n{text}", out.status);
}

#[test]
fn libmemcached_clients_in_binary_mode() {
    let tools = [
        "memccp",
        "memccat",
        "memcexist",
        "memctouch",
        "memcrm",
        "memcflush",
    ];
    if !tools.iter().all(|t| have(t)) {
        return;
    }
    let server = Server::start(&[]);
    let servers = format!("--servers=127.0.0.1:{}", server.addr.port());
    let dir = std::env::temp_dir().join(format!("evloop-mc-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payload.txt");
    let payload = "sent with the binary protocol\n".repeat(100);
    std::fs::write(&file, &payload).unwrap();
    let ok = |tool: &str, args: &[&str]| {
        let mut all = vec!["--binary", servers.as_str()];
        all.extend_from_slice(args);
        let out = run(tool, &all);
        assert!(
            out.status.success(),
            "{tool} {all:?}: {:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    ok("memccp", &[file.to_str().unwrap()]);
    let key = Path::new(&file).file_name().unwrap().to_str().unwrap();
    let got = ok("memccat", &[key]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim_end(),
        payload.trim_end()
    );
    ok("memcexist", &[key]);
    ok("memctouch", &["--expire=100", key]);
    ok("memcrm", &[key]);
    let gone = run("memccat", &["--binary", &servers, key]);
    assert!(!gone.status.success(), "memccat found a removed key");
    ok("memccp", &[file.to_str().unwrap()]);
    ok("memcflush", &[]);
    let gone = run("memcexist", &["--binary", &servers, key]);
    assert!(!gone.status.success(), "memcexist found a flushed key");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn memcstat_in_binary_mode_lists_the_stats() {
    if !have("memcstat") {
        return;
    }
    let server = Server::start(&[]);
    let servers = format!("--servers=127.0.0.1:{}", server.addr.port());
    let out = run("memcstat", &["--binary", &servers]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{text}", out.status);
    assert!(text.contains(&format!("pid: {}", server.pid())), "{text}");
    assert!(text.contains("curr_connections: "), "{text}");
}

#[test]
fn memcaslap_binary_verifies_every_value() {
    if !have("memcaslap") {
        return;
    }
    let server = Server::start(&[]);
    let target = format!("127.0.0.1:{}", server.addr.port());
    // -B: binary protocol; every tenth get is checked against what was set.
    let out = run(
        "memcaslap",
        &[
            "-s",
            &target,
            "-B",
            "-t",
            "2s",
            "-T",
            "1",
            "-c",
            "8",
            "--verify=0.1",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{text}", out.status);
    let stat = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert!(stat("cmd_get:") > 0 && stat("cmd_set:") > 0, "{text}");
    assert_eq!(stat("get_misses:"), 0, "{text}");
    assert_eq!(stat("verify_misses:"), 0, "{text}");
    assert_eq!(stat("verify_failed:"), 0, "{text}");
}

#[test]
fn memcslap_binary_set_get_mget() {
    if !have("memcslap") {
        return;
    }
    let server = Server::start(&[]);
    let servers = format!("--servers=127.0.0.1:{}", server.addr.port());
    for test in ["--test=set", "--test=get", "--test=mget"] {
        let out = run(
            "memcslap",
            &[
                "--binary",
                &servers,
                "--concurrency=2",
                "--execute-number=300",
                test,
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{test}: {:?}\n{text}{err}",
            out.status
        );
        assert!(text.contains("Time total"), "{test}:\n{text}{err}");
        assert!(!err.contains("rror"), "{test}:\n{err}");
    }
}
