//! End-to-end tests of what memcached's users and tools rely on beyond
//! the storage commands: keys as memcached takes them, the `stats`
//! subcommands, key dumps, `shutdown`, the command line, and `-t`.

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use support::{Client, Server};

#[test]
fn keys_with_control_bytes_as_memcaslap_sends_them() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    // memcaslap's keys start with 0x10 bytes; tabs, DEL and UTF-8 are
    // key bytes too: memcached splits request lines on spaces only.
    let key = b"\x10\x10\x10key\tx\x7f\xc3\xa9";
    let mut req = b"set ".to_vec();
    req.extend_from_slice(key);
    req.extend_from_slice(b" 5 0 2\r\nhi\r\nget ");
    req.extend_from_slice(key);
    req.extend_from_slice(b"\r\n");
    let mut want = b"STORED\r\nVALUE ".to_vec();
    want.extend_from_slice(key);
    want.extend_from_slice(b" 5 2\r\nhi\r\nEND\r\n");
    c.call(&req, &want);
    // 250 bytes is the longest key; 251 is refused.
    let long = "k".repeat(250);
    c.set(&long, b"v");
    c.call(
        format!("get {long}k\r\n").as_bytes(),
        b"CLIENT_ERROR bad command line format\r\n",
    );
    // A NUL ends the line, as memcached reads it as a C string.
    c.call(b"get a\0 junk\r\n", b"END\r\n");
    // Meta commands: binary keys in base64 with `b`.
    c.call(b"ms AAEC 2 b\r\nok\r\n", b"HD\r\n");
    c.call(b"mg AAEC b v k\r\n", b"VA 2 kAAEC b\r\nok\r\n");
    c.call(b"mg AAE= b v\r\n", b"EN\r\n");
}

#[test]
fn stats_subcommands() {
    let s = Server::start(&["-m", "32", "-c", "100", "-I", "2m"]);
    let mut c = s.connect();
    c.send(b"stats settings\r\n");
    let settings = c.lines_to_end();
    for want in [
        "STAT maxbytes 33554432",
        "STAT maxconns 100",
        "STAT item_size_max 2097152",
        "STAT num_threads 1",
        "STAT shutdown_command no",
        "STAT udpport 0",
    ] {
        assert!(
            settings.iter().any(|l| l == want),
            "{want} not in {settings:?}"
        );
    }
    c.send(b"stats items\r\n");
    assert!(c.lines_to_end().is_empty(), "no items: no lines");
    c.set("a", b"12345");
    c.set("b", b"1");
    c.send(b"stats items\r\n");
    let items = c.lines_to_end();
    assert!(
        items.contains(&"STAT items:1:number 2".to_string()),
        "{items:?}"
    );
    c.send(b"stats slabs\r\n");
    let slabs = c.lines_to_end();
    assert!(
        slabs.contains(&"STAT active_slabs 1".to_string()),
        "{slabs:?}"
    );
    // 59 bytes of item header each (memcached's count), keys and values.
    let bytes = 2 * 59 + 2 + 6;
    assert!(
        slabs.contains(&format!("STAT total_malloced {bytes}")),
        "{slabs:?}"
    );

    // stats conns: the listener and this connection, with addresses, and
    // states as memcached names them: a client in the middle of a data
    // block, the one asking, the idle ones.
    let me = c.w.local_addr().unwrap();
    let mut midway = s.connect();
    midway.send(b"set midway 0 0 6\r\n");
    let mut idle = s.connect();
    idle.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    let state = |conns: &[String], addr: std::net::SocketAddr| {
        let fd = conns
            .iter()
            .find_map(|l| l.strip_suffix(&format!(":addr tcp:{addr}")))
            .and_then(|l| l.strip_prefix("STAT "))
            .unwrap()
            .to_string();
        conns
            .iter()
            .find_map(|l| l.strip_prefix(&format!("STAT {fd}:state ")))
            .unwrap()
            .to_string()
    };
    let conns = loop {
        c.send(b"stats conns\r\n");
        let conns = c.lines_to_end();
        // The set line may not have been read yet.
        if state(&conns, midway.w.local_addr().unwrap()) == "conn_nread" {
            break conns;
        }
    };
    assert_eq!(state(&conns, me), "conn_parse_cmd");
    assert_eq!(state(&conns, idle.w.local_addr().unwrap()), "conn_waiting");
    midway.call(b"fooval\r\n", b"STORED\r\n");
    midway.call(b"delete midway\r\n", b"DELETED\r\n");
    assert!(
        conns
            .iter()
            .any(|l| l.ends_with(&format!(":addr tcp:{me}"))),
        "{conns:?}"
    );
    assert!(
        conns
            .iter()
            .any(|l| l.ends_with(&format!(":listen_addr tcp:{}", s.addr()))),
        "{conns:?}"
    );
    assert!(
        conns.iter().any(|l| l.ends_with(":state conn_listening")),
        "{conns:?}"
    );
    // stats reset zeroes counters, keeps gauges and settings.
    c.call(b"get a\r\n", b"VALUE a 0 5\r\n12345\r\nEND\r\n");
    c.call(b"stats reset\r\n", b"RESET\r\n");
    c.send(b"stats\r\n");
    let general = c.lines_to_end();
    assert!(
        general.contains(&"STAT cmd_get 0".to_string()),
        "{general:?}"
    );
    assert!(
        general.contains(&"STAT curr_items 2".to_string()),
        "{general:?}"
    );
    c.call(b"verbosity 1\r\n", b"OK\r\n");
    c.call(
        b"verbosity 1 noreply\r\nversion\r\n",
        b"VERSION 1.6.18-evloop\r\n",
    );
    c.call(b"stats nosuch\r\n", b"ERROR\r\n");
    // Emptied again, the item class stays, with no items (as a memcached
    // class keeps its page).
    c.call(b"delete a\r\ndelete b\r\n", b"DELETED\r\nDELETED\r\n");
    c.send(b"stats slabs\r\n");
    let slabs = c.lines_to_end();
    assert!(
        slabs.contains(&"STAT 1:used_chunks 0".to_string()),
        "{slabs:?}"
    );
}

#[test]
fn cachedump_and_metadump_list_the_keys() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("alpha", b"123");
    c.call(b"set beta 0 1000 5\r\nhello\r\n", b"STORED\r\n");
    c.set("sp/ace%", b"x");
    c.call(b"get alpha\r\n", b"VALUE alpha 0 3\r\n123\r\nEND\r\n");
    c.call(b"ms AAEC 1 b\r\nz\r\n", b"HD\r\n");
    // Most recent first; binary keys left out, as memcached does.
    c.send(b"stats cachedump 1 0\r\n");
    let dump = c.lines_to_end();
    assert_eq!(dump.len(), 3, "{dump:?}");
    assert_eq!(dump[0], "ITEM alpha [3 b; 0 s]");
    assert_eq!(dump[1], "ITEM sp/ace% [1 b; 0 s]");
    let beta: Vec<&str> = dump[2].split(' ').collect();
    assert_eq!(&beta[..3], ["ITEM", "beta", "[5"]);
    let exp: i64 = beta[4].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now + 990..=now + 1010).contains(&exp), "{exp} vs {now}");
    c.send(b"stats cachedump 1 1\r\n");
    assert_eq!(c.lines_to_end(), ["ITEM alpha [3 b; 0 s]"]);
    c.send(b"stats cachedump 2 0\r\n");
    assert!(c.lines_to_end().is_empty());

    // metadump: one line per live item ending in a bare newline, keys
    // URI-encoded, then END.
    c.send(b"lru_crawler metadump all\r\n");
    let mut lines = Vec::new();
    loop {
        let l = c.raw_line();
        if l == b"END\r\n" {
            break;
        }
        assert!(l.ends_with(b"\n") && !l.ends_with(b"\r\n"), "{l:?}");
        lines.push(String::from_utf8(l).unwrap().trim_end().to_string());
    }
    assert_eq!(lines.len(), 4, "{lines:?}");
    let find = |k: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("key={k} ")))
            .unwrap_or_else(|| panic!("no {k} in {lines:?}"))
            .clone()
    };
    let alpha = find("alpha");
    let f: Vec<&str> = alpha.split(' ').collect();
    assert_eq!(f[1], "exp=-1");
    assert!(f[2].starts_with("la="));
    assert!(f[3].starts_with("cas="));
    assert_eq!(f[4], "fetch=yes");
    assert_eq!(f[5], "cls=1");
    assert_eq!(f[6], format!("size={}", 59 + 5 + 3));
    assert!(find("beta").contains(" fetch=no "));
    find("sp%2Face%25");
    find("%00%01%02");
    c.call(b"lru_crawler metadump 5\r\n", b"END\r\n");
    c.call(
        b"lru_crawler enable\r\n",
        b"ERROR failed to start lru crawler thread\r\n",
    );
    c.call(b"stats detail on\r\n", b"OK\r\n");
    c.call(b"stats sizes\r\n", b"STAT sizes_status disabled\r\nEND\r\n");
    c.call(b"bget alpha\r\n", b"VALUE alpha 0 3\r\n123\r\nEND\r\n");
    c.call(
        b"lru_crawler metadump x\r\n",
        b"BADCLASS invalid class id\r\n",
    );
    c.call(b"lru_crawler crawl all\r\n", b"OK\r\n");
    c.call(b"lru_crawler tocrawl 10\r\n", b"OK\r\n");
}

#[test]
fn a_large_metadump_comes_in_steps_and_complete() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let n = 30_000;
    let mut req = Vec::new();
    for i in 0..n {
        req.extend_from_slice(format!("set key{i:06} 0 0 1 noreply\r\nv\r\n").as_bytes());
    }
    c.send(&req);
    c.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    c.send(b"lru_crawler metadump all\r\nversion\r\n");
    let mut seen = std::collections::HashSet::new();
    loop {
        let l = c.raw_line();
        if l == b"END\r\n" {
            break;
        }
        let l = String::from_utf8(l).unwrap();
        let key = l.split(' ').next().unwrap().strip_prefix("key=").unwrap();
        assert!(seen.insert(key.to_string()), "{key} twice");
    }
    assert_eq!(seen.len(), n);
    c.expect(b"VERSION 1.6.18-evloop\r\n");
}

#[test]
fn shutdown_only_when_enabled() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.call(b"shutdown\r\n", b"ERROR: shutdown not enabled\r\n");
    c.call(b"shutdown graceful\r\n", b"ERROR: shutdown not enabled\r\n");

    let mut s = Server::start(&["-A"]);
    let mut c = s.connect();
    c.call(
        b"shutdown bogus\r\n",
        b"CLIENT_ERROR invalid shutdown mode\r\n",
    );
    c.send(b"shutdown\r\n");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    let mut s = Server::start(&["--enable-shutdown", "-t", "2"]);
    s.connect().send(b"shutdown graceful\r\n");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn memcached_command_line() {
    // -p with -l addresses: one listening line each, each serving.
    let port = free_port();
    let s = Server::start(&[
        "-p",
        &port.to_string(),
        "-l",
        "127.0.0.1,127.0.0.2",
        "-U",
        "0",
    ]);
    let want: Vec<SocketAddr> = vec![
        format!("127.0.0.1:{port}").parse().unwrap(),
        format!("127.0.0.2:{port}").parse().unwrap(),
    ];
    assert_eq!(s.addrs, want);
    for a in &s.addrs {
        Client::new(TcpStream::connect(a).unwrap())
            .call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    }
    // -U with an -l address of its own port (0): UDP on a port the kernel
    // picks too, bound once for both loops.
    let s = Server::start(&["-U", "11211", "-vv", "-t", "2", "-m", "100", "-c", "50"]);
    assert_eq!(s.udp.len(), 1);
    assert_ne!(s.udp[0].port(), 0);
    s.connect()
        .call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    let mut c = s.connect();
    c.send(b"stats settings\r\n");
    let settings = c.lines_to_end();
    assert!(settings.contains(&"STAT num_threads 2".to_string()));
    assert!(settings.contains(&"STAT verbosity 2".to_string()));
    assert!(settings.contains(&"STAT maxconns 50".to_string()));
    assert!(settings.contains(&"STAT num_threads_per_udp 2".to_string()));
    drop(s);

    let out = std::process::Command::new(support::bin())
        .arg("-V")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "memcached 1.6.18-evloop"
    );
    for bad in [
        &["-p", "99999"][..],
        &["-c", "99999999999999999999"],
        &["-m", "99999999999999999999"],
        &["-I", "99999999999999999999k"],
        &["-t", "0"],
        &["-t", "99999999999999999999"],
        &["-U", "70000"],
        &["-l", "127.0.0.1:70000"],
    ] {
        let out = std::process::Command::new(support::bin())
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("memcached: "), "{bad:?}: {err}");
    }
}

#[test]
fn conn_limit_above_the_fd_limit_is_lowered_with_a_warning() {
    // The test's own hard limit is inherited by the server.
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    if hard >= 1 << 31 {
        println!("SKIP: no finite open-files hard limit");
        return;
    }
    let want = hard + 1000;
    let mut s = Server::start(&["-c", &want.to_string()]);
    let mut c = s.connect();
    c.send(b"stats settings\r\n");
    let maxconns: u64 = c
        .lines_to_end()
        .iter()
        .find_map(|l| l.strip_prefix("STAT maxconns ")?.parse().ok())
        .unwrap();
    assert!(maxconns < hard, "maxconns {maxconns}, hard limit {hard}");
    assert!(maxconns > 0);
    let _ = s.child.kill();
    let _ = s.child.wait();
    let err = s.stderr_text();
    assert!(err.contains(&format!("-c {want} needs")), "{err}");
}

#[test]
fn threads_share_one_store() {
    let s = Server::start(&["-t", "3"]);
    // Many connections, spread by the kernel over the loops: every one
    // sees what any other stored, and counters add up.
    let mut clients: Vec<Client> = (0..24).map(|_| s.connect()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.set(&format!("k{i}"), format!("v{i}").as_bytes());
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let j = (i + 7) % 24;
        let v = format!("v{j}");
        c.call(
            format!("get k{j}\r\n").as_bytes(),
            format!("VALUE k{j} 0 {}\r\n{v}\r\nEND\r\n", v.len()).as_bytes(),
        );
    }
    clients[0].set("n", b"0");
    for c in clients.iter_mut().skip(1) {
        c.send(b"incr n 1\r\n");
    }
    let mut last = 0;
    for c in clients.iter_mut().skip(1) {
        let v: u64 = c.line().parse().unwrap();
        last = last.max(v);
    }
    assert_eq!(last, 23);
    let mut c = s.connect();
    c.send(b"stats\r\n");
    let st = c.lines_to_end();
    assert!(
        st.contains(&"STAT curr_connections 25".to_string()),
        "{st:?}"
    );
    assert!(st.contains(&"STAT threads 3".to_string()), "{st:?}");
    assert!(st.contains(&"STAT cmd_get 24".to_string()), "{st:?}");
}

#[test]
fn a_stepped_multi_get_keeps_pipelined_requests_in_order() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let value = vec![b'x'; 10_000];
    for k in 0..10 {
        c.set(&format!("k{k}"), &value);
    }
    // 300 values of 10 kB: several times the output limit, so the get is
    // answered in steps; the requests after it wait their turn.
    let mut req = b"get".to_vec();
    for i in 0..300 {
        req.extend_from_slice(format!(" k{} nokey", i % 10).as_bytes());
    }
    req.extend_from_slice(b"\r\nset after 0 0 1\r\nz\r\ngets k3\r\nget after\r\n");
    c.send(&req);
    let mut want_value = value.clone();
    want_value.extend_from_slice(b"\r\n");
    for i in 0..300 {
        assert_eq!(c.line(), format!("VALUE k{} 0 10000", i % 10));
        c.expect(&want_value);
    }
    c.expect(b"END\r\nSTORED\r\n");
    assert!(c.line().starts_with("VALUE k3 0 10000 "));
    c.expect(&want_value);
    c.expect(b"END\r\nVALUE after 0 1\r\nz\r\nEND\r\n");
    c.send(b"stats\r\n");
    let st = c.lines_to_end();
    assert!(st.contains(&"STAT get_hits 302".to_string()), "{st:?}");
    assert!(st.contains(&"STAT get_misses 300".to_string()), "{st:?}");
}

#[test]
fn pid_file_and_user_switch() {
    let dir = std::env::temp_dir().join(format!("evloop-mc-pid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("mc.pid");
    let root = nix::unistd::geteuid().is_root();
    let user = nix::unistd::User::from_name("nobody").ok().flatten();
    let mut args = vec!["-P", pid_file.to_str().unwrap(), "-A"];
    if root && user.is_some() {
        args.extend(["-u", "nobody"]);
    }
    let mut s = Server::start(&args);
    let written = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(written.trim(), s.pid().to_string());
    if let (true, Some(nobody)) = (root, &user) {
        // Switched once listening: every id is nobody's.
        let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
        let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        let want = nobody.uid.to_string();
        assert!(uids.split_whitespace().skip(1).all(|u| u == want), "{uids}");
    } else {
        println!("SKIP (-u part): not root, or no user nobody");
    }
    s.connect()
        .call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    s.connect().send(b"shutdown\r\n");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    // Removed at exit, when the directory lets the (possibly switched)
    // user do it; a root-owned temp dir does not let nobody.
    if !root || user.is_none() {
        assert!(!pid_file.exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
    // An unknown user is an error at start.
    if root {
        let out = std::process::Command::new(support::bin())
            .args(["-l", "127.0.0.1:0", "-u", "no-such-user-here"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-user-here"));
    }
}

#[test]
fn requests_per_event_take_turns_and_count_yields() {
    // As memcached's t/issue_61.t: with -R 1 every pipelined request after
    // the first of a batch waits for a turn, and each wait is a yield.
    let s = Server::start(&["-R", "1"]);
    let mut c = s.connect();
    c.call(
        &b"set foobar 0 0 5\r\nBubba\r\n".repeat(6),
        &b"STORED\r\n".repeat(6),
    );
    assert!(c.stats()["conn_yields"] >= 5);
    // A deep pipeline still completes, in order, while another client is
    // served between its turns.
    let mut other = s.connect();
    let n = 2000;
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..n {
        req.extend_from_slice(format!("set k{i} 0 0 1\r\nx\r\nget k{i}\r\n").as_bytes());
        want.extend_from_slice(format!("STORED\r\nVALUE k{i} 0 1\r\nx\r\nEND\r\n").as_bytes());
    }
    c.send(&req);
    other.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    c.expect(&want);
    let yields = c.stats()["conn_yields"];
    assert!(yields >= 2 * n as u64 - 1, "{yields} yields");
    other.send(b"stats settings\r\n");
    assert!(other
        .lines_to_end()
        .contains(&"STAT reqs_per_event 1".to_string()));
}

#[test]
fn a_bound_protocol_and_the_listen_backlog() {
    let s = Server::start(&["-B", "ascii", "-b", "64"]);
    let mut c = s.connect();
    // A binary request's first byte is text's: an unknown command.
    c.call(b"\x80\x0b\r\n", b"ERROR\r\n");
    c.send(b"stats settings\r\n");
    let settings = c.lines_to_end();
    assert!(settings.contains(&"STAT binding_protocol ascii".to_string()));
    assert!(settings.contains(&"STAT tcp_backlog 64".to_string()));

    let s = Server::start(&["-B", "binary"]);
    // A binary version request is answered...
    let mut version = vec![0u8; 24];
    version[0] = 0x80;
    version[1] = 0x0b;
    let mut c = s.connect();
    c.send(&version);
    let mut head = [0u8; 24];
    std::io::Read::read_exact(&mut c.r, &mut head).unwrap();
    assert_eq!(&head[..2], &[0x81, 0x0b]);
    // ...and text is a bad magic byte: the connection closes.
    let mut c = s.connect();
    c.send(&b"version\r\n".repeat(3));
    assert!(c.closed_after(b""));
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let s = Server::start(&["-o", "idle_timeout=1"]);
    let mut idle = s.connect();
    idle.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    let mut busy = s.connect();
    assert_eq!(busy.stats()["idle_kicks"], 0);
    // memcached closes a connection whose last request is more than the
    // timeout old (whole seconds): after 2-3 s here. The busy one asks
    // every 100 ms and stays.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(3500) {
        busy.call(b"mn\r\n", b"MN\r\n");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(idle.closed_after(b""));
    assert_eq!(busy.stats()["idle_kicks"], 1);
    busy.send(b"stats settings\r\n");
    assert!(busy
        .lines_to_end()
        .contains(&"STAT idle_timeout 1".to_string()));
}

#[test]
fn memcached_tuning_options_start_with_a_warning() {
    // Options for slab classes, LRU segments and buffers this server does
    // not have: a memcached command line still starts, and says so.
    let mut s = Server::start(&[
        "-o",
        "modern,slab_chunk_max=16384,lru_maintainer,hashpower=20",
        "-o",
        "slab_automove=2,slab_automove_ratio=0.5",
        "-f",
        "1.25",
        "-n",
        "48",
    ]);
    let mut c = s.connect();
    c.send(b"stats settings\r\n");
    let settings = c.lines_to_end();
    assert!(settings.contains(&"STAT slab_automove 2".to_string()));
    assert!(settings.contains(&"STAT slab_automove_ratio 0.50".to_string()));
    let _ = s.child.kill();
    let _ = s.child.wait();
    let err = s.stderr_text();
    for opt in ["modern", "slab_chunk_max", "lru_maintainer", "hashpower"] {
        assert!(err.contains(&format!("-o {opt} has no effect")), "{err}");
    }
    for flag in ["-f", "-n"] {
        assert!(
            err.contains(&format!("memcached: {flag} has no effect")),
            "{err}"
        );
    }
    // memcached's pre-1.5 defaults: the crawler starts disabled.
    let s = Server::start(&["-o", "no_modern"]);
    s.connect().call(b"lru_crawler enable\r\n", b"OK\r\n");
}

#[test]
fn dumps_refused_with_x_and_the_detail_delimiter() {
    let s = Server::start(&["-X"]);
    let mut c = s.connect();
    c.set("k", b"v");
    c.call(
        b"stats cachedump 1 0\r\n",
        b"CLIENT_ERROR stats cachedump not allowed\r\n",
    );
    // Refused before its arguments are looked at, as memcached does.
    c.call(
        b"stats cachedump\r\n",
        b"CLIENT_ERROR stats cachedump not allowed\r\n",
    );
    c.call(
        b"lru_crawler metadump all\r\n",
        b"ERROR metadump not allowed\r\n",
    );
    c.call(
        b"stats detail dump\r\n",
        b"CLIENT_ERROR stats detail not allowed\r\n",
    );
    c.send(b"stats settings\r\n");
    assert!(c
        .lines_to_end()
        .contains(&"STAT dump_enabled no".to_string()));
    drop(s);

    // -D: another delimiter, and stats detail on from the start.
    let s = Server::start(&["-D", "/"]);
    let mut c = s.connect();
    c.set("user/1", b"a");
    c.set("other:1", b"b");
    c.call(
        b"stats detail dump\r\n",
        b"PREFIX user get 0 hit 0 set 1 del 0\r\nEND\r\n",
    );
    c.send(b"stats settings\r\n");
    let settings = c.lines_to_end();
    assert!(
        settings.contains(&"STAT stat_key_prefix /".to_string()),
        "{settings:?}"
    );
    assert!(
        settings.contains(&"STAT detail_enabled yes".to_string()),
        "{settings:?}"
    );
}
