//! `watch`: memcached's log streams, seen by a watching connection.

mod support;

use support::{Client, Server};

/// The next log line, without its `\n`.
fn log_line(w: &mut Client) -> String {
    let l = w.raw_line();
    assert!(l.ends_with(b"\n"), "not a full line: {l:?}");
    String::from_utf8(l).unwrap().trim_end().to_string()
}

/// The fields of a line after its `ts=... gid=...`, checking those two.
fn fields(line: &str) -> String {
    let mut parts = line.splitn(3, ' ');
    let ts = parts.next().unwrap();
    let gid = parts.next().unwrap();
    assert!(
        ts.strip_prefix("ts=")
            .is_some_and(|t| t.split('.').all(|n| n.parse::<u64>().is_ok())),
        "{line}"
    );
    assert!(
        gid.strip_prefix("gid=")
            .is_some_and(|g| g.parse::<u64>().is_ok()),
        "{line}"
    );
    parts.next().unwrap().to_string()
}

/// A connection's descriptor, from `stats conns` on it (its own entry is
/// the one in `conn_parse_cmd`).
fn own_fd(c: &mut Client) -> String {
    c.send(b"stats conns\r\n");
    let lines = c.lines_to_end();
    lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("STAT ")?
                .strip_suffix(":state conn_parse_cmd")
        })
        .unwrap_or_else(|| panic!("no conn_parse_cmd in {lines:?}"))
        .to_string()
}

#[test]
fn fetchers_mutations_and_deletions_as_memcached_logs_them() {
    let server = Server::start(&[]);
    let mut client = server.connect();
    let fd = own_fd(&mut client);
    let mut w = server.connect();
    w.call(b"watch fetchers mutations deletions\r\n", b"OK\r\n");
    client.call(b"set k#1 0 0 5\r\nhello\r\n", b"STORED\r\n");
    client.call(b"add k#1 0 100 1\r\nx\r\n", b"NOT_STORED\r\n");
    assert_eq!(client.get("k#1").as_deref(), Some(&b"hello"[..]));
    client.call(b"delete k#1\r\n", b"DELETED\r\n");
    let want = [
        // A store looks the key up first, as memcached's does.
        format!("type=item_get key=k%231 status=not_found clsid=1 cfd={fd} size=0"),
        format!("type=item_store key=k%231 status=stored cmd=set ttl=0 clsid=1 cfd={fd} size=5"),
        format!("type=item_get key=k%231 status=found clsid=1 cfd={fd} size=5"),
        format!(
            "type=item_store key=k%231 status=not_stored cmd=add ttl=100 clsid=1 cfd={fd} size=1"
        ),
        format!("type=item_get key=k%231 status=found clsid=1 cfd={fd} size=5"),
        format!("type=item_get key=k%231 status=found clsid=1 cfd={fd} size=5"),
        "type=deleted key=k%231 cmd=delete clsid=1 size=5".to_string(),
    ];
    for want in want {
        assert_eq!(fields(&log_line(&mut w)), want);
    }
    // What a watcher sends is not read as requests.
    w.send(b"get k#1\r\n");
    client.call(b"get nothing\r\n", b"END\r\n");
    assert_eq!(
        fields(&log_line(&mut w)),
        format!("type=item_get key=nothing status=not_found clsid=1 cfd={fd} size=0")
    );
    let stats = client.stats();
    assert_eq!(stats["log_watchers"], 1);
    assert!(stats["log_worker_written"] >= 8);
    drop(w);
    client.wait_stat("log_watchers", 0);
}

#[test]
fn connection_events_with_their_reasons() {
    let server = Server::start(&[]);
    let mut w = server.connect();
    w.call(b"watch connevents\r\n", b"OK\r\n");
    let mut c = server.connect();
    c.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    let port = c.w.local_addr().unwrap().port();
    c.send(b"quit\r\n");
    let new = fields(&log_line(&mut w));
    assert!(
        new.starts_with(&format!(
            "type=conn_new rip=127.0.0.1 rport={port} transport=tcp cfd="
        )),
        "{new}"
    );
    let close = fields(&log_line(&mut w));
    assert!(
        close.starts_with(&format!(
            "type=conn_close rip=127.0.0.1 rport={port} transport=tcp reason=normal cfd="
        )),
        "{close}"
    );
    // An HTTP request line closes the connection as an error.
    let mut c = server.connect();
    c.send(b"GET / HTTP/1.1\r\n");
    assert!(fields(&log_line(&mut w)).starts_with("type=conn_new "));
    let close = fields(&log_line(&mut w));
    assert!(close.contains(" reason=error "), "{close}");
}

#[test]
fn a_slow_watcher_skips_lines_and_says_how_many() {
    // 1 KiB of buffer: a few lines, then skips.
    let server = Server::start(&["-o", "watcher_logbuf_size=1"]);
    let mut client = server.connect();
    let mut w = server.connect();
    w.call(b"watch\r\n", b"OK\r\n");
    // The watcher does not read while 2,000 lines are made.
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.extend_from_slice(format!("get key{i}\r\n").as_bytes());
    }
    client.send(&batch);
    for _ in 0..2000 {
        client.expect(b"END\r\n");
    }
    let skipped = client.stats()["log_watcher_skipped"];
    assert!(skipped > 0, "nothing skipped");
    // Reading, the watcher sees lines and, once there was room again
    // (another get makes a line), a count of the ones it missed.
    let mut saw_skip = false;
    for _ in 0..2100 {
        client.call(b"get more\r\n", b"END\r\n");
        let l = log_line(&mut w);
        if let Some(n) = l.strip_prefix("skipped=") {
            assert!(n.parse::<u64>().unwrap() > 0);
            saw_skip = true;
            break;
        }
        assert!(
            fields(&l).starts_with("type=item_get key=key") || l.contains("key=more"),
            "{l}"
        );
    }
    assert!(saw_skip, "no skipped= line");
}

#[test]
fn watch_refused_when_disabled_or_misnamed_or_after_other_requests() {
    let server = Server::start(&["-W"]);
    let mut c = server.connect();
    c.call(b"watch\r\n", b"CLIENT_ERROR watch commands not allowed\r\n");
    drop(server);
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.call(b"watch rawcmds\r\n", b"ERROR\r\n");
    c.call(b"watch fetchers bogus\r\n", b"ERROR\r\n");
    c.call(
        b"version\r\nwatch\r\n",
        b"VERSION 1.6.18-evloop\r\nERROR cannot pipeline other commands before watch\r\n",
    );
    // Still an ordinary connection.
    c.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
}

#[test]
fn udp_requests_are_watched_too() {
    let server = Server::start(&["-l", "127.0.0.1:0", "-U", "-1"]);
    let mut w = server.connect();
    w.call(b"watch fetchers\r\n", b"OK\r\n");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(server.udp[0]).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    // memcached's frame: request id, sequence 0, one datagram, reserved.
    let mut d = vec![0, 1, 0, 0, 0, 1, 0, 0];
    d.extend_from_slice(b"get viaudp\r\n");
    sock.send(&d).unwrap();
    let mut buf = [0u8; 1500];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[8..n], b"END\r\n");
    let line = fields(&log_line(&mut w));
    assert!(
        line.starts_with("type=item_get key=viaudp status=not_found clsid=1 cfd="),
        "{line}"
    );
}
