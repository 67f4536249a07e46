//! Embedding: an evloop loop driven by another evloop loop (embed
//! watchers), and by a foreign poll(2) loop through `backend_fd`,
//! `flush_fd_changes` and `next_timeout`.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{for_each_backend, new_loop, run_default};
use evloop::{Backend, Error, Events, Loop, RunMode};

/// An inner loop (epoll) with an io watcher that records what it reads and
/// a timer; returns it with the writing end.
fn inner_loop() -> (Loop<Vec<String>>, UnixStream) {
    let mut inner: Loop<Vec<String>> = new_loop(Backend::Epoll);
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let io = inner
        .io(a, Events::READ, |ctx, log, id, _| {
            let mut buf = [0u8; 64];
            match ctx.io_source_mut::<UnixStream>(id).unwrap().read(&mut buf) {
                Ok(0) => ctx.remove(id).unwrap(),
                Ok(n) => log.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(_) => {}
            }
        })
        .unwrap();
    inner.start(io).unwrap();
    let t = inner
        .timer(Duration::from_millis(30), Duration::ZERO, |_, log, _, _| {
            log.push("timer".into())
        })
        .unwrap();
    inner.start(t).unwrap();
    (inner, b)
}

#[test]
fn outer_loop_drives_inner_io_and_timers() {
    for_each_backend(|b| {
        let (inner, mut peer) = inner_loop();
        let mut outer = new_loop::<u32>(b);
        let e = outer
            .embed(inner, Vec::new(), |ctx, sweeps, id, ev| {
                assert_eq!(ev, Events::EMBED);
                *sweeps += 1;
                let (_, log) = ctx.embedded_mut::<Vec<String>>(id).unwrap();
                if log.len() == 2 {
                    ctx.stop(id).unwrap();
                }
            })
            .unwrap();
        outer.start(e).unwrap();
        peer.write_all(b"hi").unwrap();
        let start = Instant::now();
        let mut sweeps = 0;
        run_default(&mut outer, &mut sweeps).unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(29),
            "inner timer early"
        );
        assert!(sweeps >= 2);
        let (inner, log) = outer.remove_embed::<Vec<String>>(e).unwrap();
        assert_eq!(log, ["hi", "timer"], "[{b}]");
        assert!(inner.refs() > 0, "the inner io watcher is still there");
    });
}

#[test]
fn a_stopped_embed_does_not_sweep_and_wrong_type_is_an_error() {
    let (inner, mut peer) = inner_loop();
    let mut outer = new_loop::<u32>(Backend::Poll);
    let e = outer
        .embed(inner, Vec::new(), |_, n, _, _| *n += 1)
        .unwrap();
    peer.write_all(b"x").unwrap();
    let mut n = 0;
    outer.run(&mut n, RunMode::NoWait).unwrap();
    assert_eq!(n, 0);
    assert!(matches!(
        outer.embedded_mut::<u8>(e),
        Err(Error::WrongSourceType)
    ));
    outer.start(e).unwrap();
    let mut n = 0;
    outer.run(&mut n, RunMode::Once).unwrap();
    assert_eq!(n, 1);
    outer.remove(e).unwrap();
    assert!(outer.embedded_mut::<Vec<String>>(e).is_err());
}

#[test]
fn only_loops_with_a_backend_fd_can_be_embedded() {
    let inner: Loop<()> = new_loop(Backend::Poll);
    let mut outer = new_loop::<()>(Backend::Epoll);
    assert!(matches!(
        outer.embed(inner, (), |_, _, _, _| {}),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn foreign_poll_loop_drives_evloop() {
    let (mut lp, mut peer) = inner_loop();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        peer.write_all(b"from a thread").unwrap();
        peer
    });
    let mut log = Vec::new();
    let start = Instant::now();
    while log.len() < 2 && start.elapsed() < Duration::from_secs(10) {
        lp.flush_fd_changes().unwrap();
        let timeout = lp
            .next_timeout()
            .map_or(-1, |d| d.as_millis().min(60_000) as i32 + 1);
        let mut pfd = libc::pollfd {
            fd: lp.backend_fd().unwrap().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, timeout) };
        lp.run(&mut log, RunMode::NoWait).unwrap();
    }
    let _peer = writer.join().unwrap();
    assert_eq!(log, ["from a thread", "timer"]);
}

#[test]
fn next_timeout_reports_pending_idle_timers_and_nothing() {
    let mut lp = new_loop::<()>(Backend::Epoll);
    assert_eq!(lp.next_timeout(), None, "nothing but fds can wake it");
    let t = lp
        .timer(Duration::from_secs(5), Duration::ZERO, |_, _, _, _| {})
        .unwrap();
    lp.start(t).unwrap();
    let d = lp.next_timeout().unwrap();
    assert!(d <= Duration::from_secs(5) && d > Duration::from_secs(4));
    let i = lp.idle(|_, _, _, _| {}).unwrap();
    lp.start(i).unwrap();
    assert_eq!(lp.next_timeout(), Some(Duration::ZERO));
    lp.stop(i).unwrap();
    lp.feed_event(t, Events::CUSTOM).unwrap();
    assert_eq!(
        lp.next_timeout(),
        Some(Duration::ZERO),
        "an event is pending"
    );
}
