//! Embedding: an evloop loop driven by another evloop loop (embed
//! watchers), also when the inner loop's backend fd changes (`loop_fork`,
//! epoll rebuilding its set), and by a foreign poll(2) loop through
//! `backend_fd`, `flush_fd_changes` and `next_timeout`.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{for_each_backend, new_loop, run_default, watchdog};
use evloop::{Backend, EmbedId, Error, Events, IoId, Loop, RunMode};

/// The inner loops' state: what their io watchers read, and their timers'
/// marks.
type Log = Vec<String>;

/// An io watcher in `lp` that records what it reads from `a`.
fn reader(lp: &mut Loop<Log>, a: UnixStream) -> IoId<UnixStream> {
    a.set_nonblocking(true).unwrap();
    let mut ctx = lp.ctx();
    let io = ctx
        .new_io(a, Events::READ, |ctx, log: &mut Log, id, _| {
            let io = ctx.io(id).unwrap();
            let mut buf = [0u8; 64];
            match io.source().read(&mut buf) {
                Ok(0) => io.remove(),
                Ok(n) => log.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(_) => {}
            }
        })
        .unwrap();
    ctx.start(io).unwrap();
    io
}

/// An inner loop (epoll) with an io watcher that records what it reads and
/// a timer; returns it with the writing end.
fn inner_loop() -> (Loop<Log>, UnixStream) {
    let mut inner: Loop<Log> = new_loop(Backend::Epoll);
    let (a, b) = UnixStream::pair().unwrap();
    reader(&mut inner, a);
    let mut ctx = inner.ctx();
    let t = ctx
        .new_timer(Duration::from_millis(30), Duration::ZERO, |_, log, _, _| {
            log.push("timer".into())
        })
        .unwrap();
    ctx.start(t).unwrap();
    (inner, b)
}

#[test]
fn outer_loop_drives_inner_io_and_timers() {
    for_each_backend(|b| {
        // Before the inner timer starts, so that the lower bound holds.
        let start = Instant::now();
        let (inner, mut peer) = inner_loop();
        let mut outer = new_loop::<u32>(b);
        let mut ctx = outer.ctx();
        let e = ctx
            .new_embed(inner, Vec::new(), |ctx, sweeps, id, ev| {
                assert_eq!(ev, Events::EMBED);
                *sweeps += 1;
                let mut w = ctx.embed(id).unwrap();
                let (_, log) = w.inner();
                if log.len() == 2 {
                    w.stop();
                }
            })
            .unwrap();
        ctx.start(e).unwrap();
        peer.write_all(b"hi").unwrap();
        let mut sweeps = 0;
        run_default(&mut outer, &mut sweeps).unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(30),
            "inner timer early"
        );
        assert!(sweeps >= 2);
        let (mut inner, log) = outer.ctx().embed(e).unwrap().into_inner();
        assert_eq!(log, ["hi", "timer"], "[{b}]");
        assert!(
            inner.ctx().refs() > 0,
            "the inner io watcher is still there"
        );
    });
}

/// A stopped embed watcher does not sweep. (The old test also checked that
/// asking for the inner loop with the wrong state type was an error; an
/// `EmbedId<U>` names its type now, so that cannot be written. A handle of
/// another loop is refused instead.)
#[test]
fn a_stopped_embed_does_not_sweep_and_a_foreign_handle_is_an_error() {
    let (inner, mut peer) = inner_loop();
    let mut outer = new_loop::<u32>(Backend::Poll);
    let e = outer
        .ctx()
        .new_embed(inner, Vec::new(), |_, n, _, _| *n += 1)
        .unwrap();
    peer.write_all(b"x").unwrap();
    let mut n = 0;
    outer.run(&mut n, RunMode::NoWait).unwrap();
    assert_eq!(n, 0);
    let mut other = new_loop::<u32>(Backend::Poll);
    assert!(matches!(other.ctx().embed(e), Err(Error::ForeignHandle)));
    outer.ctx().start(e).unwrap();
    let mut n = 0;
    outer.run(&mut n, RunMode::Once).unwrap();
    assert_eq!(n, 1);
    outer.ctx().remove(e).unwrap();
    assert!(matches!(outer.ctx().embed(e), Err(Error::StaleHandle)));
}

#[test]
fn only_loops_with_a_backend_fd_can_be_embedded() {
    let inner: Loop<()> = new_loop(Backend::Poll);
    let mut outer = new_loop::<()>(Backend::Epoll);
    assert!(matches!(
        outer.ctx().new_embed(inner, (), |_, _, _, _| {}),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn foreign_poll_loop_drives_evloop() {
    let start = Instant::now();
    let (mut lp, mut peer) = inner_loop();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        peer.write_all(b"from a thread").unwrap();
        peer
    });
    let mut log = Vec::new();
    while log.len() < 2 && start.elapsed() < Duration::from_secs(10) {
        let mut ctx = lp.ctx();
        ctx.flush_fd_changes().unwrap();
        let timeout = ctx
            .next_timeout()
            .map_or(-1, |d| d.as_millis().min(60_000) as i32 + 1);
        let mut pfd = libc::pollfd {
            fd: ctx.backend_fd().unwrap().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, timeout) };
        lp.run(&mut log, RunMode::NoWait).unwrap();
    }
    let _peer = writer.join().unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(30),
        "the inner timer fired early"
    );
    // Both arrive through the foreign poll. (Their order is not asserted
    // any more: it depended on the writer thread being scheduled within
    // 20 ms, which a loaded machine does not promise.)
    log.sort();
    assert_eq!(log, ["from a thread", "timer"]);
}

#[test]
fn next_timeout_reports_pending_idle_timers_and_nothing() {
    let mut lp = new_loop::<()>(Backend::Epoll);
    let mut ctx = lp.ctx();
    assert_eq!(ctx.next_timeout(), None, "nothing but fds can wake it");
    let t = ctx
        .new_timer(Duration::from_secs(5), Duration::ZERO, |_, _, _, _| {})
        .unwrap();
    ctx.start(t).unwrap();
    let d = ctx.next_timeout().unwrap();
    assert!(d <= Duration::from_secs(5) && d > Duration::from_secs(4));
    let i = ctx.new_idle(|_, _, _, _| {}).unwrap();
    ctx.start(i).unwrap();
    assert_eq!(ctx.next_timeout(), Some(Duration::ZERO));
    ctx.stop(i).unwrap();
    ctx.timer(t).unwrap().feed(Events::CUSTOM).unwrap();
    assert_eq!(
        ctx.next_timeout(),
        Some(Duration::ZERO),
        "an event is pending"
    );
}

// ------------------------------------------------------------ the inner backend fd changes

/// The inner loop's backend fd, as a number (to tell that it changed).
fn inner_backend_fd<T>(outer: &mut Loop<T>, e: EmbedId<Log>) -> RawFd {
    let mut ctx = outer.ctx();
    let mut w = ctx.embed(e).unwrap();
    let (ictx, _) = w.inner();
    ictx.backend_fd().expect("an epoll inner loop").as_raw_fd()
}

/// The inner loop's `next_timeout`.
fn inner_next_timeout<T>(outer: &mut Loop<T>, e: EmbedId<Log>) -> Option<Duration> {
    outer.ctx().embed(e).unwrap().inner().0.next_timeout()
}

/// An embed watcher in `outer` that stops itself once the inner log has
/// as many entries as the outer loop's state says.
fn embed_until(outer: &mut Loop<usize>, inner: Loop<Log>) -> EmbedId<Log> {
    let mut ctx = outer.ctx();
    let e = ctx
        .new_embed(inner, Log::new(), |ctx, want: &mut usize, id, ev| {
            assert_eq!(ev, Events::EMBED, "a sweep failed");
            let mut w = ctx.embed(id).unwrap();
            if w.inner().1.len() >= *want {
                w.stop();
            }
        })
        .unwrap();
    ctx.start(e).unwrap();
    e
}

/// (Re)starts the embed watcher and runs `outer` until the inner log has
/// `want` entries, under a 10 s watchdog.
fn run_until_logged(outer: &mut Loop<usize>, e: EmbedId<Log>, mut want: usize, what: &str) {
    let (dog, t) = watchdog(outer, Duration::from_secs(10));
    outer.ctx().start(e).unwrap();
    outer.run(&mut want, RunMode::Default).unwrap();
    assert!(
        !dog.get(),
        "{what}: the inner io event never reached the outer loop"
    );
    outer.ctx().remove(t).unwrap();
}

/// The inner loop calls `loop_fork` (in the same process: it only makes a
/// new epoll fd and registers its fds there again); the outer loop must
/// watch the new fd, so that inner io still reaches the inner watcher.
#[test]
fn inner_loop_fork_new_backend_fd_is_followed() {
    for_each_backend(|b| {
        let mut inner: Loop<Log> = new_loop(Backend::Epoll);
        let (a, mut peer) = UnixStream::pair().unwrap();
        reader(&mut inner, a);
        let mut outer = new_loop::<usize>(b);
        let e = embed_until(&mut outer, inner);
        peer.write_all(b"before").unwrap();
        run_until_logged(&mut outer, e, 1, "before the fork");

        let old_fd = inner_backend_fd(&mut outer, e);
        outer.ctx().embed(e).unwrap().inner().0.loop_fork().unwrap();
        let new_fd = inner_backend_fd(&mut outer, e);
        assert_ne!(old_fd, new_fd, "loop_fork made no new backend fd");
        // Let the outer loop sweep the inner one until it has nothing left
        // to do after its fork (its fork phase asks for an immediate
        // sweep): from then on only the inner backend fd can wake it.
        outer.ctx().start(e).unwrap();
        let mut settled = false;
        let mut never_stop = usize::MAX;
        for _ in 0..10_000 {
            outer.run(&mut never_stop, RunMode::NoWait).unwrap();
            if inner_next_timeout(&mut outer, e).is_none() {
                settled = true;
                break;
            }
        }
        assert!(settled, "the inner loop kept asking for sweeps");

        peer.write_all(b"after").unwrap();
        run_until_logged(&mut outer, e, 2, "after the inner loop_fork");
        let (_, log) = outer.ctx().embed(e).unwrap().into_inner();
        assert_eq!(log, ["before", "after"], "[{b}]");
    });
}

/// A socket whose `write` swaps it for another one, closing the old fd:
/// a source whose fd changes while the loop watches it (as a reconnecting
/// client's would). The old fd's file description may live on in a
/// duplicate, which leaves epoll with a ghost registration of it.
struct Swapping {
    cur: UnixStream,
    next: Option<UnixStream>,
}

impl AsFd for Swapping {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.cur.as_fd()
    }
}

impl Write for Swapping {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(next) = self.next.take() {
            self.cur = next; // closes the old fd
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The inner epoll backend rebuilds its set (a new epoll fd) after it saw
/// an event of a ghost registration: an fd closed while watched, whose file
/// description lives on in a `try_clone`. The outer loop must follow the
/// new fd: afterwards a second inner io watcher still gets its data through
/// the outer loop (the old code: the data arrived, 0 callbacks).
#[test]
fn inner_epoll_rebuild_after_a_ghost_is_followed() {
    for_each_backend(|b| {
        let mut inner: Loop<Log> = new_loop(Backend::Epoll);
        // The watched socket, and a duplicate that keeps its file
        // description open after the watcher's fd is closed.
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let a_dup = a.try_clone().unwrap();
        let (z, _z_peer) = UnixStream::pair().unwrap();
        let mut ictx = inner.ctx();
        let ghost_source = ictx
            .new_io(
                Swapping {
                    cur: a,
                    next: Some(z),
                },
                Events::READ,
                |_, log: &mut Log, _, _| log.push("ghost watcher".into()),
            )
            .unwrap();
        ictx.start(ghost_source).unwrap();
        // The second watcher, which must keep working.
        let (c, mut c_peer) = UnixStream::pair().unwrap();
        reader(&mut inner, c);

        let mut outer = new_loop::<usize>(b);
        let e = embed_until(&mut outer, inner);
        c_peer.write_all(b"first").unwrap();
        run_until_logged(&mut outer, e, 1, "before the ghost");
        let old_fd = inner_backend_fd(&mut outer, e);

        // The watcher's source swaps its fd: the old one is closed while
        // epoll has it registered, and its description lives on in a_dup.
        outer
            .ctx()
            .embed(e)
            .unwrap()
            .inner()
            .0
            .io(ghost_source)
            .unwrap()
            .source_mut()
            .write_all(b"swap")
            .unwrap();
        // The ghost fires (under its old generation): epoll rebuilds.
        a_peer.write_all(b"to the ghost").unwrap();
        outer.ctx().start(e).unwrap();
        let mut rebuilt = false;
        let mut never_stop = usize::MAX;
        for _ in 0..50 {
            outer.run(&mut never_stop, RunMode::NoWait).unwrap();
            if inner_backend_fd(&mut outer, e) != old_fd {
                rebuilt = true;
                break;
            }
        }
        assert!(
            rebuilt,
            "[{b}] the inner epoll set was not rebuilt: the test did not set up a ghost"
        );

        c_peer.write_all(b"second").unwrap();
        run_until_logged(&mut outer, e, 2, "after the rebuild");
        let (_, log) = outer.ctx().embed(e).unwrap().into_inner();
        assert_eq!(log, ["first", "second"], "[{b}]");
        drop(a_dup);
    });
}
