//! libmemcached-tools against the server, each checked on what it prints
//! or its exit status; and pymemcache's smoke test when pymemcache is
//! importable. A missing tool makes its test print SKIP and pass (CI
//! installs libmemcached-tools).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::Server;

/// The tool's path, trying Debian's and upstream's names.
fn tool(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Runs `tool --servers=ADDR args...`.
fn run(tool: &Path, s: &Server, args: &[&str]) -> Output {
    Command::new(tool)
        .arg(format!("--servers={}", s.addr()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The tools of libmemcached-tools this file uses, or SKIP.
macro_rules! tools {
    ($($var:ident = $names:expr),+) => {
        $(
            let Some($var) = tool(&$names) else {
                println!("SKIP: {} not installed (apt-get install libmemcached-tools)", $names[0]);
                return;
            };
        )+
    };
}

/// Runs memcaslap against `s` for 2 s on one thread with `args`; checks
/// that it succeeded, and returns its output with a reader of its numeric
/// `name: value` lines.
fn memcaslap(slap: &Path, s: &Server, args: &[&str]) -> (String, impl Fn(&str) -> u64) {
    let o = Command::new(slap)
        .args(["-s", &s.addr().to_string(), "-t", "2s", "-T", "1"])
        .args(args)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let lines = out.clone();
    let field = move |name: &str| -> u64 {
        lines
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {lines}"))
    };
    (out, field)
}

#[test]
fn memcaslap_verifies_every_value() {
    tools!(slap = ["memcaslap", "memaslap"]);
    let s = Server::start(&[]);
    let (out, field) = memcaslap(&slap, &s, &["-c", "8", "--verify=1.0"]);
    assert!(field("cmd_get:") > 1000, "{out}");
    assert!(field("cmd_set:") > 100, "{out}");
    assert_eq!(field("verify_misses:"), 0, "{out}");
    assert_eq!(field("verify_failed:"), 0, "{out}");
    assert_eq!(field("get_misses:"), 0, "{out}");
    // The server saw those requests.
    let mut c = s.connect();
    c.send(b"stats\r\n");
    let st = c.lines_to_end();
    let gets: u64 = st
        .iter()
        .find_map(|l| l.strip_prefix("STAT cmd_get ")?.parse().ok())
        .unwrap();
    assert!(gets > 1000, "the server saw {gets} gets");
}

#[test]
fn memcaslap_over_udp() {
    tools!(slap = ["memcaslap", "memaslap"]);
    // memcaslap wants the TCP and UDP ports the same: a port found free,
    // then both on it (a clash with another test's bind fails the start,
    // which `Server::start` retries).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
        .to_string();
    let s = Server::start(&["-l", "127.0.0.1", "-p", &port, "-U", &port]);
    let (out, field) = memcaslap(&slap, &s, &["-c", "4", "-U"]);
    // Gets went over UDP and came back whole and in order (a datagram
    // lost on the way would be a drop or a timeout, which UDP allows).
    assert!(field("cmd_get:") > 100, "{out}");
    assert_eq!(field("packet_disorder:"), 0, "{out}");
}

#[test]
fn memcslap_runs_without_errors() {
    tools!(slap = ["memcslap", "memslap"]);
    let s = Server::start(&[]);
    let o = run(&slap, &s, &["--concurrency=4", "--execute-number=200"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Time to set"), "{out}");
    assert!(!out.to_lowercase().contains("error"), "{out}");
    let mut c = s.connect();
    c.send(b"stats\r\n");
    let st = c.lines_to_end();
    let sets: u64 = st
        .iter()
        .find_map(|l| l.strip_prefix("STAT cmd_set ")?.parse().ok())
        .unwrap();
    assert!(sets >= 800, "memcslap stored {sets} items");
}

#[test]
fn memcdump_lists_the_keys() {
    tools!(dump = ["memcdump", "memdump"]);
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut keys: Vec<String> = (0..50).map(|i| format!("dump-key-{i}")).collect();
    for k in &keys {
        c.set(k, b"value");
    }
    c.call(
        b"set gone 0 0 1\r\nx\r\ndelete gone\r\n",
        b"STORED\r\nDELETED\r\n",
    );
    let o = run(&dump, &s, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let mut listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    listed.sort();
    keys.sort();
    assert_eq!(listed, keys);
}

#[test]
fn memcstat_shows_the_server() {
    tools!(stat = ["memcstat", "memstat"]);
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("a", b"1");
    c.set("b", b"2");
    let o = run(&stat, &s, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("Server: 127.0.0.1 ({})", s.addr().port())),
        "{out}"
    );
    assert!(out.contains("version: 1.6.18-evloop"), "{out}");
    assert!(out.contains("curr_items: 2"), "{out}");
    assert!(out.contains(&format!("pid: {}", s.pid())), "{out}");
}

#[test]
fn file_tools_round_trip() {
    tools!(
        cp = ["memccp", "memcp"],
        cat = ["memccat", "memcat"],
        rm = ["memcrm", "memrm"],
        exist = ["memcexist", "memexist"],
        touch = ["memctouch", "memtouch"],
        flush = ["memcflush", "memflush"],
        ping = ["memcping", "memping"]
    );
    let s = Server::start(&[]);
    let dir = std::env::temp_dir().join(format!("evloop-mc-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payload.bin");
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();

    let o = run(&ping, &s, &[]);
    assert!(o.status.success(), "memcping: {}", text(&o));
    let o = run(&cp, &s, &[file.to_str().unwrap()]);
    assert!(o.status.success(), "memccp: {}", text(&o));
    // memccp stores under the file's name.
    let o = run(&cat, &s, &["payload.bin"]);
    assert!(o.status.success(), "memccat: {}", text(&o));
    // memccat ends the value with a newline.
    assert!(
        o.stdout.len() == data.len() + 1 && o.stdout.starts_with(&data),
        "memccat printed {} bytes for {}",
        o.stdout.len(),
        data.len()
    );
    let o = run(&exist, &s, &["payload.bin"]);
    assert!(o.status.success(), "memcexist: {}", text(&o));
    assert!(!run(&exist, &s, &["absent"]).status.success());
    let o = run(&touch, &s, &["--expire=1000", "payload.bin"]);
    assert!(o.status.success(), "memctouch: {}", text(&o));
    assert!(!run(&touch, &s, &["absent"]).status.success());
    let o = run(&rm, &s, &["payload.bin"]);
    assert!(o.status.success(), "memcrm: {}", text(&o));
    assert!(!run(&cat, &s, &["payload.bin"]).status.success());
    assert!(!run(&exist, &s, &["payload.bin"]).status.success());

    let mut c = s.connect();
    c.set("f1", b"x");
    c.set("f2", b"y");
    let o = run(&flush, &s, &[]);
    assert!(o.status.success(), "memcflush: {}", text(&o));
    c.call(b"get f1 f2\r\n", b"END\r\n");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pymemcache_smoke_test() {
    let script = Path::new("/work/shared/bench/memcached/mc_smoke.py");
    let pythons = [
        std::env::var("EVLOOP_BENCH_CACHE")
            .map(|c| format!("{c}/venv/bin/python"))
            .unwrap_or_default(),
        "/tmp/evloop-bench/venv/bin/python".to_string(),
        "python3".to_string(),
    ];
    let python = pythons.iter().filter(|p| !p.is_empty()).find(|p| {
        Command::new(p)
            .args(["-c", "import pymemcache"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let (Some(python), true) = (python, script.is_file()) else {
        println!("SKIP: pymemcache or {} not available", script.display());
        return;
    };
    let s = Server::start(&[]);
    let o = Command::new(python)
        .arg(script)
        .arg(s.addr().to_string())
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
}

#[test]
fn memcached_tool_dump_stats_settings() {
    let tool = Path::new("/usr/share/memcached/scripts/memcached-tool");
    let perl = Command::new("perl")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tool.is_file() || !perl {
        println!("SKIP: memcached-tool (apt-get install memcached) or perl missing");
        return;
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("alpha", b"one");
    c.call(b"set beta 5 0 3\r\ntwo\r\n", b"STORED\r\n");
    let run = |mode: &str| {
        let o = Command::new("perl")
            .arg(tool)
            .arg(s.addr().to_string())
            .arg(mode)
            .output()
            .unwrap();
        assert!(o.status.success(), "{mode}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // dump: lru_crawler metadump, then a get of each key.
    let dump = run("dump");
    assert!(dump.contains("add alpha 0 0 3\r\none\r\n"), "{dump:?}");
    assert!(dump.contains("add beta 5 0 3\r\ntwo\r\n"), "{dump:?}");
    let stats = run("stats");
    assert!(
        stats
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["curr_items", "2"]),
        "{stats}"
    );
    let settings = run("settings");
    assert!(
        settings
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["num_threads", "1"]),
        "{settings}"
    );
}
