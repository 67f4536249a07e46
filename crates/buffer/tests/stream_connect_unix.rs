//! Non-blocking connect to a Unix-domain socket: made, refused, and a full
//! backlog reported as an error event instead of blocking the loop.

use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use evloop::{Loop, RunMode};
use evloop_buffer::{Direction, ListenerExt, ListenerOptions, StreamEvent, StreamExt};

fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("evloop-{name}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[derive(Default)]
struct Log {
    connected: usize,
    errors: Vec<(ErrorKind, Direction)>,
}

/// Connects a stream to `path` that records its outcome and closes.
fn connect(lp: &mut Loop<Log>, path: &Path) {
    let id = lp.ctx().new_stream_connect_unix(path).unwrap();
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(id).unwrap();
    assert!(s.is_connecting());
    s.write(b"hello");
    s.on_event(|ctx, log, id, ev| {
        match ev {
            StreamEvent::Connected => log.connected += 1,
            StreamEvent::Error {
                error, direction, ..
            } => log.errors.push((error.kind(), direction)),
            _ => {}
        }
        ctx.stream(id).unwrap().close_when_flushed();
    });
}

#[test]
fn connects_and_sends_what_was_queued_meanwhile() {
    let path = socket_path("unix-connect");
    let server = UnixListener::bind(&path).unwrap();
    let mut lp: Loop<Log> = Loop::new().unwrap();
    connect(&mut lp, &path);
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    assert_eq!(log.connected, 1);
    assert!(log.errors.is_empty());
    let (mut peer, _) = server.accept().unwrap();
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_missing_socket_is_an_error_event() {
    let path = socket_path("unix-missing");
    let mut lp: Loop<Log> = Loop::new().unwrap();
    connect(&mut lp, &path);
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    assert_eq!(log.connected, 0);
    assert_eq!(log.errors, [(ErrorKind::NotFound, Direction::Write)]);
}

#[test]
fn a_full_backlog_is_an_error_event_not_a_blocked_loop() {
    let path = socket_path("unix-backlog");
    // The listener's loop never runs: nothing is accepted, so the backlog
    // of one fills after a couple of connections.
    let mut server: Loop<()> = Loop::new().unwrap();
    server
        .ctx()
        .listen(
            path.clone(),
            &ListenerOptions::new().backlog(1),
            |_, _, _, _| {},
        )
        .unwrap();
    let mut lp: Loop<Log> = Loop::new().unwrap();
    for _ in 0..8 {
        connect(&mut lp, &path);
    }
    let mut log = Log::default();
    // std's blocking connect would hang here on the third connection.
    lp.run(&mut log, RunMode::Default).unwrap();
    assert!(
        log.connected >= 1,
        "the backlog takes some: {}",
        log.connected
    );
    assert!(!log.errors.is_empty(), "a full backlog refuses the rest");
    assert_eq!(log.connected + log.errors.len(), 8);
    assert!(log
        .errors
        .iter()
        .all(|e| *e == (ErrorKind::WouldBlock, Direction::Write)));
    drop(server);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_path_too_long_or_with_nul_is_refused_at_once() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let long = PathBuf::from(format!("/tmp/{}", "x".repeat(200)));
    for bad in [long.as_path(), Path::new("/tmp/a\0b"), Path::new("")] {
        let err = lp.ctx().new_stream_connect_unix(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
    }
}
