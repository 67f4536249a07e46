//! End-to-end test of the `dns_server` example: it serves a zone file,
//! dig gets answers over UDP and TCP (A, AAAA, TXT, MX with glue, CNAME
//! chains, NXDOMAIN and NODATA with the SOA, REFUSED outside the zone),
//! and it exits with status 0 on SIGTERM and SIGINT; 2 on bad input.
//!
//! `cargo test --test server_example` does not build examples, and a
//! binary left from an earlier build may be stale, so the test runs
//! `cargo build --example dns_server` first (a no-op when fresh).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{dig, have_dig};

const ZONE: &str = r#"
$ORIGIN example.test.
$TTL 300
@       SOA   ns1 hostmaster 2024010101 3600 600 86400 60
@       NS    ns1
ns1     A     127.0.0.1
www 120 A     192.0.2.1
        AAAA  2001:db8::1
@       MX    10 mail
mail    A     192.0.2.25
txt     TXT   "hello world" "second ; not a comment"
alias   CNAME www
chain   CNAME alias
dangle  CNAME nowhere
a.b.deep A    192.0.2.9   ; b.deep is an empty non-terminal
"#;

fn example_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in target/<profile>/deps");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "evloop-dns",
            "--example",
            "dns_server",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("cannot run cargo");
        assert!(
            out.status.success(),
            "cargo build of dns_server failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile_dir.join("examples").join("dns_server")
    })
    .clone()
}

/// The running example; killed when dropped.
struct Server {
    child: Child,
    /// Kept open: the example writes a last line when it exits.
    _stdout: BufReader<std::process::ChildStdout>,
    addr: std::net::SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(example_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dns_server starts");
        let mut first = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first).unwrap();
        let addr = first
            .strip_prefix("dns_server: listening on ")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("first line: {first:?}"))
            .parse()
            .expect("an address");
        Server {
            child,
            _stdout: stdout,
            addr,
        }
    }

    fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let st = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < end, "no exit after {signal}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn zone_file() -> PathBuf {
    let p = std::env::temp_dir().join(format!("evloop-dns-zone-{}", std::process::id()));
    std::fs::write(&p, ZONE).unwrap();
    p
}

#[test]
fn serves_a_zone_to_dig_and_exits_0_on_sigterm() {
    if !have_dig("serves_a_zone_to_dig_and_exits_0_on_sigterm") {
        return;
    }
    let zone = zone_file();
    let mut srv = Server::start(&["--listen", "127.0.0.1:0", "--zone", zone.to_str().unwrap()]);
    let q = |args: &[&str]| dig(srv.addr, args);

    let out = q(&["www.example.test", "A"]);
    assert!(
        out.contains("status: NOERROR") && out.contains(" aa"),
        "{out}"
    );
    assert!(out.contains("120\tIN\tA\t192.0.2.1"), "{out}");

    let out = q(&["+tcp", "www.example.test", "AAAA", "+noall", "+answer"]);
    assert!(out.contains("2001:db8::1"), "{out}");

    let out = q(&["txt.example.test", "TXT", "+noall", "+answer"]);
    assert!(
        out.contains("\"hello world\" \"second ; not a comment\""),
        "{out}"
    );

    let out = q(&["example.test", "MX"]);
    assert!(out.contains("10 mail.example.test."), "{out}");
    assert!(
        out.contains("ADDITIONAL SECTION") && out.contains("192.0.2.25"),
        "glue: {out}"
    );

    // A chain of two CNAMEs inside the zone, then the address.
    let out = q(&["chain.example.test", "A", "+noall", "+answer"]);
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("chain.example.test.") && lines[0].contains("CNAME"));
    assert!(lines[2].contains("192.0.2.1"), "{out}");

    let out = q(&["nope.example.test", "A"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(out.contains("AUTHORITY: 1") && out.contains("SOA"), "{out}");
    // The negative TTL: min(SOA TTL 300, minimum 60).
    assert!(out.contains("60\tIN\tSOA"), "{out}");

    let out = q(&["mail.example.test", "AAAA"]);
    assert!(
        out.contains("status: NOERROR") && out.contains("ANSWER: 0"),
        "{out}"
    );
    assert!(out.contains("SOA"), "NODATA carries the SOA: {out}");

    let out = q(&["b.deep.example.test", "A"]);
    assert!(out.contains("status: NOERROR"), "empty non-terminal: {out}");

    let out = q(&["dangle.example.test", "A"]);
    assert!(
        out.contains("status: NXDOMAIN") && out.contains("CNAME"),
        "{out}"
    );

    let out = q(&["www.elsewhere.test", "A"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    let out = q(&["-c", "CH", "www.example.test", "TXT"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    let out = q(&["+tcp", "example.test", "AXFR"]);
    assert!(!out.contains("192.0.2.1"), "no transfer: {out}");
    let out = q(&["example.test", "ANY", "+noall", "+answer"]);
    assert!(
        out.contains("SOA") && out.contains("MX") && out.contains("NS"),
        "{out}"
    );

    let st = srv.stop_with("-TERM");
    assert_eq!(st.code(), Some(0), "{st:?}");
    let _ = std::fs::remove_file(zone);
}

#[test]
fn records_on_the_command_line_and_sigint() {
    if !have_dig("records_on_the_command_line_and_sigint") {
        return;
    }
    let mut srv = Server::start(&[
        "--listen",
        "127.0.0.1:0",
        "--origin",
        "lan",
        "--record",
        "printer 60 A 10.0.0.50",
    ]);
    let out = dig(srv.addr, &["printer.lan", "+noall", "+answer"]);
    assert!(out.contains("10.0.0.50"), "{out}");
    // A default SOA stands in for negative answers.
    let out = dig(srv.addr, &["scanner.lan"]);
    assert!(
        out.contains("status: NXDOMAIN") && out.contains("SOA"),
        "{out}"
    );
    let st = srv.stop_with("-INT");
    assert_eq!(st.code(), Some(0), "{st:?}");
}

#[test]
fn bad_input_exits_2() {
    for args in [
        vec![],
        vec!["--bogus"],
        vec!["--listen", "not-an-address", "--record", "x A 10.0.0.1"],
        vec!["--record", "x A 10.0.0.1"], // no SOA, no origin
        vec!["--origin", "lan", "--record", "x A 300.0.0.1"],
        vec!["--origin", "lan", "--record", "x TXT \"unterminated"],
        vec!["--origin", "lan", "--record", "x.other. A 10.0.0.1"],
    ] {
        let out = Command::new(example_bin()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: says why");
    }
}
