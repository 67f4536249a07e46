//! ASCII authentication (`-Y`), as memcached's: a `set` of `user password`
//! first, the file read again on SIGHUP.

mod support;

use std::time::{Duration, Instant};

use support::Server;

#[test]
fn a_connection_authenticates_before_anything_else() {
    let dir = std::env::temp_dir().join(format!("evloop-mc-authfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("auth");
    std::fs::write(&file, "foo:bar\nbaaaz:quux\n").unwrap();
    let path = file.to_str().unwrap();
    let mut server = Server::start(&["-Y", path]);
    let mut c = server.connect();
    c.call(b"get k\r\n", b"CLIENT_ERROR unauthenticated\r\n");
    c.call(
        b"set k 0 0 2\r\nhi\r\n",
        b"CLIENT_ERROR bad authentication token format\r\n",
    );
    c.call(
        b"set k 0 0 7\r\nfoo bab\r\n",
        b"CLIENT_ERROR authentication failure\r\n",
    );
    // Right, and pipelined with what follows.
    c.call(
        b"set k 0 0 7\r\nfoo bar\r\nset k 0 0 2\r\nhi\r\n",
        b"STORED\r\nSTORED\r\n",
    );
    assert_eq!(c.get("k").as_deref(), Some(&b"hi"[..]));
    let stats = c.stats();
    assert_eq!((stats["auth_cmds"], stats["auth_errors"]), (2, 1));
    c.send(b"stats settings\r\n");
    let settings = c.lines_to_end();
    assert!(
        settings.contains(&format!("STAT auth_enabled_ascii {path}")),
        "{settings:?}"
    );
    assert!(
        settings.contains(&"STAT binding_protocol ascii".to_string()),
        "{settings:?}"
    );

    // Binary requests cannot go around it: they are not text lines.
    let mut b = server.connect();
    let mut get = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    get.extend_from_slice(&[0; 12]);
    get.push(b'k');
    b.send(&get);
    assert!(b.closed_after(b""));
    // Nor can a line too short to be the `set`: memcached closes then too.
    let mut short = server.connect();
    short.send(b"mn\r\n");
    assert!(short.closed_after(b""));

    // SIGHUP reads the file again: the new pair works, the old one not.
    std::fs::write(&file, "new:pass\n").unwrap();
    server.signal(nix::sys::signal::Signal::SIGHUP as i32);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = server.connect();
        c.send(b"set k 0 0 8\r\nnew pass\r\n");
        if c.line() == "STORED" {
            break;
        }
        assert!(Instant::now() < deadline, "the file was not read again");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut c = server.connect();
    c.call(
        b"set k 0 0 7\r\nfoo bar\r\n",
        b"CLIENT_ERROR authentication failure\r\n",
    );
    // A file that no longer reads keeps the pairs in force.
    std::fs::write(&file, "broken\n").unwrap();
    server.signal(nix::sys::signal::Signal::SIGHUP as i32);
    let mut c = server.connect();
    c.call(b"set k 0 0 8\r\nnew pass\r\n", b"STORED\r\n");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_auth_file_that_does_not_read_stops_the_start() {
    let out = std::process::Command::new(support::bin())
        .args(["-Y", "/nonexistent/auth", "-l", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not open the auth file"), "{err}");
    let out = std::process::Command::new(support::bin())
        .args(["-Y", "/nonexistent/auth", "-U", "11211"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cannot use UDP with ascii authentication"),
        "{err}"
    );
}
