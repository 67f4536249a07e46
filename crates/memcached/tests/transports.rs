//! The server over UDP (`-U`) and a Unix socket (`-s`), and the port file
//! memcached's own test suite reads (`MEMCACHED_PORT_FILENAME`).

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use support::Server;

/// A datagram for the server: memcached's 8-byte frame header, then `body`.
fn frame(id: u16, seq: u16, count: u16, body: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    for n in [id, seq, count, 0] {
        d.extend_from_slice(&n.to_be_bytes());
    }
    d.extend_from_slice(body);
    d
}

/// A UDP client of `server`.
fn udp_client(server: &Server) -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(server.udp[0]).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    sock
}

/// Sends `body` as request `id` and puts the reply's datagrams back
/// together, checking each header: the id, a count that stays the same,
/// each sequence number once, datagrams of at most 1,400 bytes.
fn udp_call(sock: &UdpSocket, id: u16, body: &[u8]) -> Vec<u8> {
    sock.send(&frame(id, 0, 1, body)).unwrap();
    let mut parts = BTreeMap::new();
    let mut count = None;
    let mut buf = [0u8; 65536];
    while count.is_none_or(|c| parts.len() < c) {
        let n = sock.recv(&mut buf).expect("a reply datagram");
        assert!((8..=1400).contains(&n), "a datagram of {n} bytes");
        let field = |i: usize| usize::from(u16::from_be_bytes([buf[i], buf[i + 1]]));
        assert_eq!(field(0), usize::from(id), "the request id");
        assert_eq!(field(6), 0, "the reserved field");
        assert_eq!(*count.get_or_insert(field(4)), field(4), "the count");
        assert!(parts.insert(field(2), buf[8..n].to_vec()).is_none());
    }
    assert_eq!(
        parts.keys().copied().collect::<Vec<_>>(),
        (0..parts.len()).collect::<Vec<_>>()
    );
    parts.into_values().flatten().collect()
}

#[test]
fn udp_requests_get_their_replies_in_numbered_datagrams() {
    let server = Server::start(&["-l", "127.0.0.1:0", "-U", "-1"]);
    assert_eq!(server.udp.len(), 1);
    let sock = udp_client(&server);
    assert_eq!(
        udp_call(&sock, 7, b"set k 0 0 5\r\nhello\r\n"),
        b"STORED\r\n"
    );
    assert_eq!(
        udp_call(&sock, 8, b"get k\r\nincr n 1\r\n"),
        b"VALUE k 0 5\r\nhello\r\nEND\r\nNOT_FOUND\r\n"
    );
    // Over TCP and UDP, one store.
    let mut tcp = server.connect();
    assert_eq!(tcp.get("k").as_deref(), Some(&b"hello"[..]));

    // A value of 20,000 bytes comes in 15 datagrams.
    let big: Vec<u8> = (0..20_000).map(|i| b'a' + (i % 26) as u8).collect();
    tcp.set("big", &big);
    let mut want = b"VALUE big 0 20000\r\n".to_vec();
    want.extend_from_slice(&big);
    want.extend_from_slice(b"\r\nEND\r\n");
    assert_eq!(udp_call(&sock, 0xfffe, b"get big\r\n"), want);

    // The binary protocol too, decided per datagram.
    // magic, opcode, key length, extras, type, vbucket, body length,
    // opaque, CAS, key.
    let mut get = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    get.extend_from_slice(&[0, 0, 0, 9]);
    get.extend_from_slice(&[0; 8]);
    get.push(b'k');
    let reply = udp_call(&sock, 9, &get);
    assert_eq!(&reply[..2], &[0x81, 0x00]);
    assert_eq!(&reply[12..16], &[0, 0, 0, 9], "the opaque");
    assert!(reply.ends_with(b"hello"));

    // A part of a request in several datagrams, and a datagram with no
    // request, are dropped: the next reply is the next request's.
    sock.send(&frame(10, 0, 2, b"get k\r\n")).unwrap();
    sock.send(&frame(11, 0, 1, b"")).unwrap();
    assert_eq!(udp_call(&sock, 12, b"delete k\r\n"), b"DELETED\r\n");
    // A request cut short at the datagram's end gets an error.
    assert_eq!(
        udp_call(&sock, 13, b"set k 0 0 10\r\nabc"),
        b"CLIENT_ERROR incomplete request in datagram\r\n"
    );

    // The socket in the stats, as memcached shows it.
    tcp.send(b"stats conns\r\n");
    let conns = tcp.lines_to_end();
    let udp_addr = format!("udp:{}", server.udp[0]);
    let fd = conns
        .iter()
        .find_map(|l| {
            l.strip_prefix("STAT ")?
                .strip_suffix(&format!(":addr {udp_addr}"))
        })
        .unwrap_or_else(|| panic!("no {udp_addr} in {conns:?}"));
    assert!(
        conns.contains(&format!("STAT {fd}:state conn_read")),
        "{conns:?}"
    );
    tcp.send(b"stats settings\r\n");
    let settings = tcp.lines_to_end();
    let udpport = format!("STAT udpport {}", server.udp[0].port());
    assert!(settings.contains(&udpport), "{settings:?}");
    let stats = tcp.stats();
    assert!(stats["bytes_read"] > 20_000 && stats["bytes_written"] > 20_000);
}

#[test]
fn udp_with_several_loops_and_shutdown_over_udp() {
    let server = Server::start(&["-l", "127.0.0.1:0", "-U", "-1", "-t", "2", "-A"]);
    // Clients from many ports spread over both loops' sockets.
    for i in 0..8u16 {
        let sock = udp_client(&server);
        let key = format!("k{i}");
        let set = format!("set {key} 0 0 1\r\n{}\r\n", i % 10);
        assert_eq!(udp_call(&sock, i, set.as_bytes()), b"STORED\r\n");
        let got = udp_call(&sock, i, format!("get {key}\r\n").as_bytes());
        assert_eq!(
            got,
            format!("VALUE {key} 0 1\r\n{}\r\nEND\r\n", i % 10).into_bytes()
        );
    }
    let mut server = server;
    let sock = udp_client(&server);
    sock.send(&frame(1, 0, 1, b"shutdown\r\n")).unwrap();
    assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(0));
}

#[test]
fn ports_of_zero_and_minus_one_and_the_port_file() {
    let dir = std::env::temp_dir().join(format!("evloop-mc-ports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ports");
    let file_s = file.to_str().unwrap();
    let env = [("MEMCACHED_PORT_FILENAME", file_s)];
    // -1: ports the kernel picks, one for each protocol.
    let server = Server::start_env(&["-l", "127.0.0.1", "-p", "-1", "-U", "-1"], &env);
    let (tcp, udp) = (server.addrs[0].port(), server.udp[0].port());
    assert!(tcp != 0 && udp != 0);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("TCP INET: {tcp}\nUDP INET: {udp}\n")
    );
    assert!(!dir.join("ports.lck").exists());
    drop(server);
    // -p 0: no TCP; the UDP port from -U.
    std::fs::remove_file(&file).unwrap();
    let server = Server::start_env(&["-l", "127.0.0.1", "-p", "0", "-U", "-1"], &env);
    assert!(server.addrs.is_empty());
    let udp = server.udp[0].port();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("UDP INET: {udp}\n")
    );
    let sock = udp_client(&server);
    assert_eq!(
        udp_call(&sock, 1, b"version\r\n"),
        b"VERSION 1.6.18-evloop\r\n"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads one `\r\n` line.
fn line(r: &mut impl BufRead) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

#[test]
fn a_unix_socket_with_its_mode_replacing_a_stale_one() {
    let dir = std::env::temp_dir().join(format!("evloop-mc-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("mc.sock");
    let path_s = path.to_str().unwrap();
    // Twice: a killed server leaves its socket file, the next replaces it.
    for round in 0..2 {
        let server = Server::start(&["-s", path_s, "-a", "600", "-U", "11211"]);
        assert_eq!(server.unix.as_deref(), Some(path.as_path()));
        // -s turns the network off.
        assert!(server.addrs.is_empty() && server.udp.is_empty());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        s.write_all(format!("set k 0 0 1\r\n{round}\r\nget k\r\n").as_bytes())
            .unwrap();
        assert_eq!(line(&mut r), "STORED\r\n");
        assert_eq!(line(&mut r), "VALUE k 0 1\r\n");
        assert_eq!(line(&mut r), format!("{round}\r\n"));
        assert_eq!(line(&mut r), "END\r\n");
        s.write_all(b"stats conns\r\nstats settings\r\n").unwrap();
        let mut text = String::new();
        for _ in 0..2 {
            loop {
                let l = line(&mut r);
                text.push_str(&l);
                if l == "END\r\n" {
                    break;
                }
            }
        }
        assert!(text.contains(&format!(":addr unix:{path_s}\r\n")), "{text}");
        assert!(text.contains(":addr unix:\r\n"), "{text}");
        assert!(
            text.contains(&format!(":listen_addr unix:{path_s}\r\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("STAT domain_socket {path_s}\r\n")),
            "{text}"
        );
        assert!(text.contains("STAT umask 600\r\n"), "{text}");
        drop(server);
    }
    // Anything else at the path is not replaced.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"data").unwrap();
    let out = std::process::Command::new(support::bin())
        .args(["-s", path_s])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn daemon_mode_detaches_and_writes_its_pid() {
    let dir = std::env::temp_dir().join(format!("evloop-mc-daemon-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (sock, pid_file) = (dir.join("mc.sock"), dir.join("mc.pid"));
    // The command returns once the server is in the background.
    let status = std::process::Command::new(support::bin())
        .args([
            "-d",
            "-P",
            pid_file.to_str().unwrap(),
            "-s",
            sock.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (pid, mut s) = loop {
        let pid = std::fs::read_to_string(&pid_file).ok();
        let conn = UnixStream::connect(&sock).ok();
        if let (Some(pid), Some(conn)) = (pid.filter(|p| p.ends_with('\n')), conn) {
            break (pid.trim().parse::<i32>().unwrap(), conn);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never listened"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    s.write_all(b"stats\r\n").unwrap();
    let stat_pid = loop {
        let l = line(&mut r);
        if let Some(p) = l.strip_prefix("STAT pid ") {
            break p.trim().parse::<i32>().unwrap();
        }
    };
    // The pid file names the server, not the process that was started.
    assert_eq!(stat_pid, pid);
    let target = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM).unwrap();
    // It cleans up after itself on the way out. (Not waiting for the
    // process to be gone: it is not our child, and whether its zombie is
    // reaped depends on the container's init.)
    while pid_file.exists() || sock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
