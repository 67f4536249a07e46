//! Integration tests for io watchers, run once per supported backend.
//!
//! Every test uses `RunMode::NoWait` (or a timer guard) wherever an event
//! might not come, so that a regression fails the test instead of hanging it.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{for_each_backend, new_loop, run_default};
use evloop::{Break, Ctx, Error, Events, IoId, Loop, Priority, RunMode};

/// A connected, non-blocking socket pair.
fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Reads whatever is there without blocking (from a `&mut UnixStream`, or
/// the `&UnixStream` a watcher lends).
fn drain(mut s: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return out,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Asserts that the other end of `peer` was closed: a blocking read sees
/// EOF, or ECONNRESET if that end was closed with data unread. Fails after
/// 5 s (a timeout error) instead of hanging if it is still open.
fn assert_peer_closed(peer: &mut UnixStream) {
    peer.set_nonblocking(false).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    match peer.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the watched source was not closed: read gave {other:?}"),
    }
}

/// The lowest free fd number `>= min` as a duplicate of `fd`.
///
/// The kernel hands out the lowest free number, so fds far above what the
/// other tests of this binary use (they run in parallel threads) are not
/// taken by them: a test can close such an fd and be sure that the number
/// stays closed, or get the same number again, however the threads interleave.
/// Each test passes its own `min`, ten apart.
fn dup_high(fd: BorrowedFd<'_>, min: RawFd) -> OwnedFd {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit that outlives the call.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let soft = lim.rlim_cur.min(4096) as RawFd;
    assert!(soft >= 512, "RLIMIT_NOFILE too small for this test: {soft}");
    // Below the limit, above anything the parallel tests open.
    let min = soft - 200 + min;
    // SAFETY: F_DUPFD_CLOEXEC takes an fd that `fd` keeps open and an int.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    assert!(
        r >= 0,
        "fcntl(F_DUPFD): {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `r` is a fresh fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r) }
}

/// [`dup_high`] of a stream, as a stream.
fn stream_high(s: &UnixStream, min: RawFd) -> UnixStream {
    UnixStream::from(dup_high(s.as_fd(), min))
}

/// One callback invocation, as tests record them: (watcher tag, events).
type Log = Vec<(u32, Events)>;

/// An io watcher that records `(tag, events)` and does nothing else.
fn recorder<S: AsFd + 'static>(lp: &mut Loop<Log>, src: S, interest: Events, tag: u32) -> IoId<S> {
    lp.ctx()
        .new_io(src, interest, move |_ctx, log, _id, ev| log.push((tag, ev)))
        .unwrap()
}

fn nowait<T>(lp: &mut Loop<T>, data: &mut T) {
    lp.run(data, RunMode::NoWait).unwrap();
}

// ------------------------------------------------------------------ basics

/// READ fires when data arrives, not before; the source holds the data.
#[test]
fn readable_fires_only_when_data_arrives() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "READ fired without data: {log:?}");
        peer.write_all(b"x").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
        // The source is reachable and holds the data.
        let got = drain(lp.ctx().io(id).unwrap().source());
        assert_eq!(got, b"x");
    });
}

/// WRITE fires on a writable socket.
#[test]
fn writable_fires_on_writable_socket() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair();
        let id = recorder(&mut lp, a, Events::WRITE, 1);
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::WRITE)]);
    });
}

/// A watcher fires only between start and stop.
#[test]
fn stopped_watcher_does_not_fire() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let id = recorder(&mut lp, a, Events::READ | Events::WRITE, 1);
        peer.write_all(b"x").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "never started, yet fired: {log:?}");
        lp.ctx().start(id).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ | Events::WRITE)]);
        lp.ctx().stop(id).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log.len(), 1, "fired after stop: {log:?}");
    });
}

/// A closed peer makes the reader readable, and the read sees EOF.
#[test]
fn peer_close_makes_reader_readable_at_eof() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<usize>> = new_loop(b);
        let (a, peer) = pair();
        let id = lp
            .ctx()
            .new_io(a, Events::READ, |ctx, reads, id, ev| {
                assert_eq!(ev, Events::READ);
                let mut buf = [0u8; 8];
                let io = ctx.io(id).unwrap();
                reads.push(io.source().read(&mut buf).unwrap());
                io.remove();
            })
            .unwrap();
        lp.ctx().start(id).unwrap();
        drop(peer);
        let mut reads = Vec::new();
        // Default mode: must return once the watcher removed itself.
        assert!(!run_default(&mut lp, &mut reads).unwrap());
        assert_eq!(reads, vec![0], "expected one read at EOF");
    });
}

/// Unread data fires again in every iteration (level-triggered), and no
/// more once it was read.
#[test]
fn level_triggered_unread_data_fires_every_iteration() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.ctx().start(id).unwrap();
        peer.write_all(b"abc").unwrap();
        let mut log = Log::new();
        for _ in 0..3 {
            nowait(&mut lp, &mut log);
        }
        assert_eq!(log, vec![(1, Events::READ); 3], "level-triggered");
        // Once the data is read, it stops firing.
        assert_eq!(drain(lp.ctx().io(id).unwrap().source()), b"abc");
        nowait(&mut lp, &mut log);
        nowait(&mut lp, &mut log);
        assert_eq!(log.len(), 3, "fired after the data was read: {log:?}");
    });
}

/// Reading one byte per callback gets all of them, one iteration each.
#[test]
fn partial_read_fires_again() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<u8>> = new_loop(b);
        let (a, mut peer) = pair();
        let id = lp
            .ctx()
            .new_io(a, Events::READ, |ctx, got, id, _ev| {
                let mut one = [0u8; 1];
                let io = ctx.io(id).unwrap();
                assert_eq!(io.source().read(&mut one).unwrap(), 1);
                got.push(one[0]);
                if got.len() == 4 {
                    io.remove();
                }
            })
            .unwrap();
        lp.ctx().start(id).unwrap();
        peer.write_all(b"wxyz").unwrap();
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(got, b"wxyz");
    });
}

// ------------------------------------------------------------------ several watchers on one fd

/// Several watchers on one fd each get only the bits they asked for.
#[test]
fn several_watchers_on_one_fd_each_get_only_their_bits() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let a = Rc::new(a);
        let r = recorder(&mut lp, a.clone(), Events::READ, 1);
        let w = recorder(&mut lp, a.clone(), Events::WRITE, 2);
        let rw = recorder(&mut lp, a.clone(), Events::READ | Events::WRITE, 3);
        for id in [r, w, rw] {
            lp.ctx().start(id).unwrap();
        }
        // Writable, not readable: the READ watcher must not run.
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        log.sort_by_key(|e| e.0);
        assert_eq!(log, vec![(2, Events::WRITE), (3, Events::WRITE)]);

        // Readable and writable: each watcher gets its own share.
        peer.write_all(b"x").unwrap();
        log.clear();
        nowait(&mut lp, &mut log);
        log.sort_by_key(|e| e.0);
        assert_eq!(
            log,
            vec![
                (1, Events::READ),
                (2, Events::WRITE),
                (3, Events::READ | Events::WRITE)
            ]
        );
    });
}

/// The kernel is asked for the union of the interests on an fd, whatever
/// order the watchers start in (one of two would never fire otherwise).
#[test]
fn union_of_interests_is_registered() {
    for_each_backend(|b| {
        for write_first in [false, true] {
            let mut lp: Loop<Log> = new_loop(b);
            let (a, mut peer) = pair();
            let a = Rc::new(a);
            let r = recorder(&mut lp, a.clone(), Events::READ, 1);
            let w = recorder(&mut lp, a.clone(), Events::WRITE, 2);
            let mut ctx = lp.ctx();
            if write_first {
                ctx.start(w).unwrap();
                ctx.start(r).unwrap();
            } else {
                ctx.start(r).unwrap();
                ctx.start(w).unwrap();
            }
            peer.write_all(b"x").unwrap();
            let mut log = Log::new();
            nowait(&mut lp, &mut log);
            log.sort_by_key(|e| e.0);
            assert_eq!(
                log,
                vec![(1, Events::READ), (2, Events::WRITE)],
                "write_first={write_first}"
            );
        }
    });
}

/// Stopping or removing one watcher of a shared fd keeps the others'
/// interests registered.
#[test]
fn stopping_one_watcher_keeps_the_others_interest() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let a = Rc::new(a);
        let r = recorder(&mut lp, a.clone(), Events::READ, 1);
        let w = recorder(&mut lp, a.clone(), Events::WRITE, 2);
        lp.ctx().start(r).unwrap();
        lp.ctx().start(w).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registers READ|WRITE
        log.clear();

        // Stop the writer: the reader still gets data, the writer nothing.
        lp.ctx().stop(w).unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "fired without data / after stop: {log:?}");
        peer.write_all(b"x").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);

        // Swap: the writer alone, with data still unread.
        log.clear();
        lp.ctx().stop(r).unwrap();
        lp.ctx().start(w).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(2, Events::WRITE)]);

        // Removing one watcher of a shared fd leaves the other working.
        log.clear();
        lp.ctx().remove(w).unwrap();
        lp.ctx().start(r).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
    });
}

// ------------------------------------------------------------------ changing interest

/// `set_interest` on an active watcher takes effect at the next poll, also
/// to and from the empty interest.
#[test]
fn change_interest_while_active() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty());

        // READ -> WRITE while active: the socket is writable at once.
        {
            let mut ctx = lp.ctx();
            let mut w = ctx.io(id).unwrap();
            w.set_interest(Events::WRITE).unwrap();
            assert_eq!(w.interest(), Events::WRITE);
            assert!(w.is_active());
        }
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::WRITE)]);

        // WRITE -> READ: no more WRITE events; READ once data comes.
        log.clear();
        lp.ctx().io(id).unwrap().set_interest(Events::READ).unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "WRITE after interest became READ: {log:?}");
        peer.write_all(b"x").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);

        // Empty interest: active, but watches nothing.
        log.clear();
        lp.ctx()
            .io(id)
            .unwrap()
            .set_interest(Events::empty())
            .unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "fired with empty interest: {log:?}");
        assert!(lp.ctx().is_active(id));
        lp.ctx()
            .io(id)
            .unwrap()
            .set_interest(Events::READ | Events::WRITE)
            .unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ | Events::WRITE)]);
    });
}

/// A callback may change its own watcher's interest.
#[test]
fn change_interest_from_own_callback() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair();
        let id = lp
            .ctx()
            .new_io(a, Events::WRITE, |ctx, log, id, ev| {
                log.push((1, ev));
                // Done writing: wait for a reply instead.
                ctx.io(id).unwrap().set_interest(Events::READ).unwrap();
            })
            .unwrap();
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        for _ in 0..3 {
            nowait(&mut lp, &mut log);
        }
        assert_eq!(log, vec![(1, Events::WRITE)]);
    });
}

/// `set_interest` on a stopped watcher takes effect when it starts.
#[test]
fn change_interest_while_stopped() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // READ registered
        lp.ctx().stop(id).unwrap();
        lp.ctx()
            .io(id)
            .unwrap()
            .set_interest(Events::WRITE)
            .unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "a stopped watcher fired: {log:?}");
        assert!(!lp.ctx().is_active(id));
        lp.ctx().start(id).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::WRITE)]);

        // Never-started watcher, interest changed before the first start.
        let (c, _peer2) = pair();
        let id2 = recorder(&mut lp, c, Events::READ, 2);
        let mut ctx = lp.ctx();
        ctx.io(id2).unwrap().set_interest(Events::WRITE).unwrap();
        ctx.start(id2).unwrap();
        log.clear();
        nowait(&mut lp, &mut log);
        log.sort_by_key(|e| e.0);
        assert_eq!(log, vec![(1, Events::WRITE), (2, Events::WRITE)]);
    });
}

/// Interest bits other than READ and WRITE are refused by every call that
/// takes them, and a refused `once_io` leaves nothing behind.
#[test]
fn interest_bits_are_validated() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        for bad in [
            Events::TIMER,
            Events::READ | Events::TIMER,
            Events::ERROR,
            Events::CUSTOM | Events::WRITE,
        ] {
            let (a, _p) = pair();
            let r = lp.ctx().new_io(a, bad, |_, _, _, _| {});
            assert!(
                matches!(r, Err(Error::InvalidArgument(_))),
                "new_io with {bad:?}: {r:?}"
            );
            // SAFETY: the watcher is never created (the call fails).
            let r = unsafe { lp.ctx().new_io_raw(0, bad, |_, _, _, _| {}) };
            assert!(
                matches!(r, Err(Error::InvalidArgument(_))),
                "new_io_raw with {bad:?}: {r:?}"
            );
        }
        // SAFETY: the call fails on the negative fd before anything else.
        let r = unsafe { lp.ctx().new_io_raw(-1, Events::READ, |_, _, _, _| {}) };
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");

        let (a, _p) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        let mut ctx = lp.ctx();
        ctx.start(id).unwrap();
        let mut w = ctx.io(id).unwrap();
        let r = w.set_interest(Events::TIMER);
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        assert_eq!(w.interest(), Events::READ, "unchanged");
        assert!(w.is_active());

        // once_io validates too, and leaves nothing behind (no timer that
        // would keep the loop alive).
        let (c, _p2) = pair();
        let r = ctx.once_io(
            c,
            Events::PERIODIC,
            Some(Duration::from_secs(100)),
            |_, _, _, _| panic!("must not run"),
        );
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        ctx.remove(id).unwrap();
        assert_eq!(ctx.refs(), 0);
        assert_eq!(ctx.watcher_count().total, 0);
        let start = Instant::now();
        let mut log = Log::new();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

// ------------------------------------------------------------------ the source

/// `source()` lends `&S`: the watcher's socket is read from and written to
/// through it, from a callback and from outside, and stays the watcher's.
#[test]
fn source_lends_the_socket_for_reading_and_writing() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<u8>> = new_loop(b);
        let (a, mut peer) = pair();
        let a_fd = a.as_raw_fd();
        let id = lp
            .ctx()
            .new_io(a, Events::READ, |ctx, got, id, _ev| {
                let io = ctx.io(id).unwrap();
                let mut buf = [0u8; 16];
                let n = io.source().read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                // Reply through the same shared reference.
                io.source().write_all(b"pong").unwrap();
            })
            .unwrap();
        lp.ctx().start(id).unwrap();
        peer.write_all(b"ping").unwrap();
        let mut got = Vec::new();
        nowait(&mut lp, &mut got);
        assert_eq!(got, b"ping");
        assert_eq!(drain(&mut peer), b"pong");

        // From outside: the same socket, still watched.
        let mut ctx = lp.ctx();
        let w = ctx.io(id).unwrap();
        assert_eq!(w.source().as_raw_fd(), a_fd);
        assert_eq!(w.fd(), a_fd);
        w.source().write_all(b"out").unwrap();
        assert!(w.is_active());
        assert_eq!(drain(&mut peer), b"out");
        peer.write_all(b"again").unwrap();
        nowait(&mut lp, &mut got);
        assert_eq!(got, b"pingagain");
    });
}

/// A source that reads and writes only through `&mut self` and counts the
/// bytes.
struct Counted {
    s: UnixStream,
    read: usize,
    written: usize,
}

impl AsFd for Counted {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.s.as_fd()
    }
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.s.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.s.write(buf)?;
        self.written += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.s.flush()
    }
}

/// `source_mut()` lends a guard that reads and writes a source whose
/// `Read`/`Write` need `&mut self`, and derefs to `&S`; the changes it made
/// stay in the watcher's source, which keeps being watched.
#[test]
fn source_mut_reads_and_writes_through_the_guard() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<u8>> = new_loop(b);
        let (a, mut peer) = pair();
        let src = Counted {
            s: a,
            read: 0,
            written: 0,
        };
        let id = lp
            .ctx()
            .new_io(src, Events::READ, |ctx, got, id, _ev| {
                let mut io = ctx.io(id).unwrap();
                let mut guard = io.source_mut();
                let mut buf = [0u8; 16];
                let n = guard.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                guard.write_all(b"ack").unwrap();
                assert_eq!(guard.read, got.len(), "the guard derefs to the source");
            })
            .unwrap();
        lp.ctx().start(id).unwrap();
        peer.write_all(b"abc").unwrap();
        let mut got = Vec::new();
        nowait(&mut lp, &mut got);
        assert_eq!(got, b"abc");
        assert_eq!(drain(&mut peer), b"ack");

        let mut ctx = lp.ctx();
        let mut w = ctx.io(id).unwrap();
        w.source_mut().write_all(b"12345").unwrap();
        let src = w.source();
        assert_eq!((src.read, src.written), (3, 3 + 5));
        assert!(w.is_active());
        assert_eq!(drain(&mut peer), b"12345");
        peer.write_all(b"d").unwrap();
        nowait(&mut lp, &mut got);
        assert_eq!(got, b"abcd");
    });
}

/// A source whose `Read` impl replaces its own fd: each read switches to
/// the next socket, dropping (closing) the one it read from.
struct Relay {
    cur: UnixStream,
    /// Popped from the end.
    next: Vec<UnixStream>,
}

impl AsFd for Relay {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.cur.as_fd()
    }
}

impl Read for Relay {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.cur.read(buf)?;
        if let Some(next) = self.next.pop() {
            self.cur = next;
        }
        Ok(n)
    }
}

/// I/O safety through `source_mut`: when a source's own `Read` impl swaps
/// its fd, the loop watches the new fd from when the guard is dropped (for
/// an active watcher at once, for a stopped one at its start): data on the
/// new socket reaches the watcher, and a third file that later gets the
/// old fd number does not wake it.
#[test]
fn source_mut_follows_an_fd_the_source_replaced() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<Vec<u8>>> = new_loop(b);
        let (a, mut pa) = pair();
        let (bs, mut pb) = pair();
        let (d, mut pd) = pair();
        let (e, mut pe) = pair();
        // `a` and `b` at high numbers, with no other fd on their files, so
        // that closing `a` frees its number for the third file.
        let a = stream_high(&a, 100);
        let bs = stream_high(&bs, 100);
        let (na, nb) = (a.as_raw_fd(), bs.as_raw_fd());
        let (nd, ne) = (d.as_raw_fd(), e.as_raw_fd());
        let relay = Relay {
            cur: a,
            next: vec![e, d, bs],
        };
        let id = lp
            .ctx()
            .new_io(relay, Events::READ, |ctx, got, id, _ev| {
                let mut io = ctx.io(id).unwrap();
                let mut buf = [0u8; 16];
                let n = io.source_mut().read(&mut buf).unwrap();
                got.push(buf[..n].to_vec());
            })
            .unwrap();
        lp.ctx().start(id).unwrap();

        // Active: the read in the callback moves the source from a to b.
        pa.write_all(b"a").unwrap();
        let mut got = Vec::new();
        nowait(&mut lp, &mut got);
        assert_eq!(got, [b"a"]);
        assert_eq!(lp.ctx().io(id).unwrap().fd(), nb);

        // A third file gets a's old number and is readable: it is not this
        // watcher's (poll and select would report it under the old number).
        let (c, mut pc) = pair();
        let c = stream_high(&c, 100);
        assert_eq!(c.as_raw_fd(), na, "the third file got the old number");
        pc.write_all(b"not yours").unwrap();
        nowait(&mut lp, &mut got);
        nowait(&mut lp, &mut got);
        assert_eq!(got, [b"a"], "woken by the file that took the old fd");

        // The new socket is watched.
        pb.write_all(b"b").unwrap();
        nowait(&mut lp, &mut got);
        assert_eq!(got, [&b"a"[..], b"b"]);
        assert_eq!(lp.ctx().io(id).unwrap().fd(), nd);

        // Stopped: the swap takes effect when the watcher starts again.
        lp.ctx().stop(id).unwrap();
        pd.write_all(b"d").unwrap();
        let mut buf = [0u8; 4];
        {
            let mut ctx = lp.ctx();
            let mut w = ctx.io(id).unwrap();
            assert_eq!(w.source_mut().read(&mut buf).unwrap(), 1);
            assert_eq!(w.fd(), ne);
        }
        lp.ctx().start(id).unwrap();
        nowait(&mut lp, &mut got);
        assert_eq!(got.len(), 2, "fired without data on e: {got:?}");
        pe.write_all(b"e").unwrap();
        nowait(&mut lp, &mut got);
        assert_eq!(got, [&b"a"[..], b"b", b"e"]);
        drop(c);
    });
}

/// A source that reconnects when it reads: it closes its socket, then takes
/// a new one, which the kernel gives the lowest free number: the very same
/// one (here made deterministic with [`dup_high`]).
struct Reconnect {
    cur: Option<UnixStream>,
    next: Vec<UnixStream>,
    base: RawFd,
}

impl AsFd for Reconnect {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.cur.as_ref().expect("always connected").as_fd()
    }
}

impl Read for Reconnect {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.cur.as_ref().expect("always connected").read(buf)?;
        if let Some(next) = self.next.pop() {
            drop(self.cur.take());
            self.cur = Some(stream_high(&next, self.base));
        }
        Ok(n)
    }
}

/// I/O safety through `source_mut`, when the new socket has the old one's
/// fd number (the source closed its socket before it made the new one):
/// it is another file, and the watcher must follow it all the same. epoll
/// registers files, not numbers: unless the loop registers the number
/// afresh, the new socket is never watched.
#[test]
fn source_mut_follows_a_new_socket_with_the_same_fd_number() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<Vec<u8>>> = new_loop(b);
        let (a, mut pa) = pair();
        let (c, mut pc) = pair();
        let src = Reconnect {
            cur: Some(stream_high(&a, 110)),
            next: vec![c],
            base: 110,
        };
        drop(a); // the watched file lives on its high number only
        let n = src.as_fd().as_raw_fd();
        let id = lp
            .ctx()
            .new_io(src, Events::READ, |ctx, got, id, _ev| {
                let mut io = ctx.io(id).unwrap();
                let mut buf = [0u8; 16];
                let k = io.source_mut().read(&mut buf).unwrap();
                got.push(buf[..k].to_vec());
            })
            .unwrap();
        lp.ctx().start(id).unwrap();
        pa.write_all(b"a").unwrap();
        let mut got = Vec::new();
        nowait(&mut lp, &mut got);
        assert_eq!(got, [b"a"]);
        {
            let mut ctx = lp.ctx();
            let w = ctx.io(id).unwrap();
            assert_eq!(w.fd(), n, "the new socket has the old number");
            assert!(w.source().next.is_empty(), "the source reconnected");
        }
        pc.write_all(b"c").unwrap();
        nowait(&mut lp, &mut got);
        nowait(&mut lp, &mut got);
        assert_eq!(got, [b"a", b"c"], "the new socket is not watched");
    });
}

/// `set_source` on a stopped watcher hands back the old source (open, with
/// its data), and only the new one is watched from then on.
#[test]
fn set_source_on_stopped_watcher_returns_the_old_source() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer_a) = pair();
        let (c, mut peer_c) = pair();
        let a_fd = a.as_raw_fd();
        let c_fd = c.as_raw_fd();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.ctx().start(id).unwrap();
        peer_a.write_all(b"a").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);

        let mut ctx = lp.ctx();
        ctx.stop(id).unwrap();
        let mut w = ctx.io(id).unwrap();
        let mut old: UnixStream = w.set_source(c).unwrap();
        assert_eq!(old.as_raw_fd(), a_fd, "the old source is handed back");
        assert_eq!(w.fd(), c_fd);
        assert!(!w.is_active(), "set_source does not start");
        // The old stream still works and still holds its data.
        assert_eq!(drain(&mut old), b"a");
        peer_a.write_all(b"again").unwrap();

        // Only the new source is watched now.
        log.clear();
        lp.ctx().start(id).unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "fired for the old source: {log:?}");
        peer_c.write_all(b"c").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
        assert_eq!(drain(lp.ctx().io(id).unwrap().source()), b"c");
        assert_eq!(drain(&mut old), b"again");
    });
}

/// The handle's type names the source (here a `UnixDatagram`): `source()`
/// is that type, with no downcast that could fail (the old
/// `WrongSourceType` error cannot happen), and `set_source` takes another
/// of the same type.
#[test]
fn typed_handle_gives_the_source_type() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (d1, _d1_peer) = UnixDatagram::pair().unwrap();
        let (d, d_peer) = UnixDatagram::pair().unwrap();
        d.set_nonblocking(true).unwrap();
        let id: IoId<UnixDatagram> = recorder(&mut lp, d1, Events::READ, 1);
        let old = lp.ctx().io(id).unwrap().set_source(d).unwrap();
        drop(old);
        lp.ctx().start(id).unwrap();
        d_peer.send(b"dgram").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
        let mut buf = [0u8; 16];
        let n = lp.ctx().io(id).unwrap().source().recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"dgram");
    });
}

/// `set_source` on an active watcher is refused with `Active`, and the
/// source offered comes back in the error, open; the watcher is unchanged.
/// The raw `set_fd` is refused the same way.
#[test]
fn set_source_on_active_watcher_gives_the_source_back() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer_a) = pair();
        let (c, mut peer_c) = pair();
        let a_fd = a.as_raw_fd();
        let c_fd = c.as_raw_fd();
        let id = recorder(&mut lp, a, Events::READ, 1);
        let mut ctx = lp.ctx();
        ctx.start(id).unwrap();
        let mut w = ctx.io(id).unwrap();
        let (err, back) = w.set_source(c).expect_err("the watcher is active");
        assert!(matches!(err, Error::Active), "{err:?}");
        assert_eq!(back.as_raw_fd(), c_fd, "the offered source comes back");
        // Nothing changed: same fd, still active, still working.
        assert_eq!(w.fd(), a_fd);
        assert_eq!(w.source().as_raw_fd(), a_fd);
        assert!(w.is_active());
        peer_a.write_all(b"x").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
        // The returned source is open and usable.
        peer_c.write_all(b"c").unwrap();
        assert_eq!(drain(&back), b"c");

        // The raw variant is refused the same way.
        // SAFETY: `peer_a` stays open until the watcher is removed below.
        let raw = unsafe {
            lp.ctx()
                .new_io_raw(peer_a.as_raw_fd(), Events::WRITE, |_, _, _, _| {})
        }
        .unwrap();
        let mut ctx = lp.ctx();
        ctx.start(raw).unwrap();
        // SAFETY: refused before the fd is looked at.
        let r = unsafe { ctx.io(raw).unwrap().set_fd(0) };
        assert!(matches!(r, Err(Error::Active)), "{r:?}");
        assert_eq!(ctx.io(raw).unwrap().fd(), peer_a.as_raw_fd());
        ctx.remove(raw).unwrap();
    });
}

/// The watcher moves from `a` to the fd another watcher is on: both then
/// share that fd and get their events; `a` is not watched anymore.
#[test]
fn set_source_to_an_fd_already_watched_by_another_watcher() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer_a) = pair();
        let (c, mut peer_c) = pair();
        let c = Rc::new(c);
        let moving = recorder(&mut lp, Rc::new(a), Events::READ, 1);
        let fixed = recorder(&mut lp, c.clone(), Events::READ, 2);
        lp.ctx().start(moving).unwrap();
        lp.ctx().start(fixed).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        let mut ctx = lp.ctx();
        ctx.stop(moving).unwrap();
        // Kept open: a closed `a` would make writing to `peer_a` fail.
        let _old: Rc<UnixStream> = ctx.io(moving).unwrap().set_source(c.clone()).unwrap();
        ctx.start(moving).unwrap();
        peer_a.write_all(b"a").unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "{log:?}");
        peer_c.write_all(b"c").unwrap();
        nowait(&mut lp, &mut log);
        log.sort_by_key(|e| e.0);
        assert_eq!(log, vec![(1, Events::READ), (2, Events::READ)]);
    });
}

/// A raw watcher's source is its fd number: `set_fd` swaps it on a stopped
/// watcher (refusing negative numbers) and `into_source` gives the number
/// back without closing anything.
#[test]
fn raw_watchers_own_only_their_fd_number() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (p1, mut q1) = pair();
        let (p2, mut q2) = pair();
        // SAFETY: `p1` and `p2` stay open until the watcher is gone.
        let raw = unsafe {
            lp.ctx()
                .new_io_raw(p1.as_raw_fd(), Events::WRITE, |_, log, _, ev| {
                    log.push((1, ev))
                })
        }
        .unwrap();
        let mut ctx = lp.ctx();
        let mut w = ctx.io(raw).unwrap();
        assert_eq!(w.fd(), p1.as_raw_fd());
        assert_eq!(*w.source(), p1.as_raw_fd());
        // SAFETY: refused (negative) before anything changes.
        let r = unsafe { w.set_fd(-1) };
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        // SAFETY: `p2` stays open until the watcher is gone.
        assert_eq!(unsafe { w.set_fd(p2.as_raw_fd()) }.unwrap(), p1.as_raw_fd());
        assert_eq!(w.fd(), p2.as_raw_fd());
        w.start().unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::WRITE)]);
        let fd = lp.ctx().io(raw).unwrap().into_source();
        assert_eq!(fd, p2.as_raw_fd());
        assert!(!lp.ctx().contains(raw));
        // Nothing was closed.
        q1.write_all(b"x").unwrap();
        assert_eq!(drain(&p1), b"x");
        q2.write_all(b"y").unwrap();
        assert_eq!(drain(&p2), b"y");
    });
}

/// `into_source` removes the watcher and returns its source open (it reads
/// the data that was waiting) and deregistered: once it is closed while a
/// duplicate keeps its file alive, nothing haunts the loop.
#[test]
fn into_source_returns_the_open_source_deregistered() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let high = stream_high(&a, 80);
        let n = high.as_raw_fd();
        let id = recorder(&mut lp, high, Events::READ, 1);
        lp.ctx().start(id).unwrap();
        peer.write_all(b"x").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registered with the kernel
        assert_eq!(log, vec![(1, Events::READ)]);
        log.clear();

        let back: UnixStream = lp.ctx().io(id).unwrap().into_source();
        assert_eq!(back.as_raw_fd(), n);
        let ctx = lp.ctx();
        assert!(!ctx.contains(id));
        assert_eq!(ctx.refs(), 0);
        assert_eq!(ctx.watcher_count().total, 0);
        assert_eq!(drain(&back), b"x", "open, with its data");
        drop(back); // closes `n`; `a` keeps the file description
        peer.write_all(b"ghost").unwrap();
        let iterations = iterations_until_timer(&mut lp, &mut log);
        assert!(log.is_empty(), "ghost event delivered: {log:?}");
        assert_eq!(
            iterations, 1,
            "the loop woke up {iterations} times in 50 ms with nothing watched"
        );
        drop(a);
    });
}

/// `into_source` from the watcher's own callback passes the connection on:
/// the watcher is gone, its closure is dropped when it returns, and the
/// source is open.
#[test]
fn into_source_from_its_own_callback_passes_the_source_on() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<UnixStream>> = new_loop(b);
        let (a, mut peer) = pair();
        let id = lp
            .ctx()
            .new_io(a, Events::READ, |ctx, handed, id, _ev| {
                handed.push(ctx.io(id).unwrap().into_source());
                assert!(!ctx.contains(id));
            })
            .unwrap();
        lp.ctx().start(id).unwrap();
        peer.write_all(b"x").unwrap();
        let mut handed = Vec::new();
        assert!(!run_default(&mut lp, &mut handed).unwrap());
        assert_eq!(handed.len(), 1);
        assert!(!lp.ctx().contains(id));
        assert_eq!(drain(&handed[0]), b"x", "open, with its data");
        handed[0].write_all(b"back").unwrap();
        assert_eq!(drain(&mut peer), b"back");
    });
}

// ------------------------------------------------------------------ stop / start in one iteration

/// A stop and start within one iteration (or between two) keeps watching.
#[test]
fn stop_and_start_within_one_iteration_keeps_watching() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let id = lp
            .ctx()
            .new_io(a, Events::READ, |ctx, log, id, ev| {
                log.push((1, ev));
                // Data left unread; the watcher must keep firing.
                ctx.stop(id).unwrap();
                ctx.start(id).unwrap();
                assert!(ctx.is_active(id));
            })
            .unwrap();
        lp.ctx().start(id).unwrap();
        peer.write_all(b"x").unwrap();
        let mut log = Log::new();
        for _ in 0..3 {
            nowait(&mut lp, &mut log);
        }
        assert_eq!(log, vec![(1, Events::READ); 3]);

        // The same from outside the loop, between two iterations.
        lp.ctx().stop(id).unwrap();
        lp.ctx().start(id).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log.len(), 4);
    });
}

/// libev: ev_io_stop clears the pending event; a start right after does
/// not bring it back. The fd is still readable, so the next poll does.
#[test]
fn stop_and_start_of_a_pending_watcher_drops_its_event() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut pa) = pair();
        let (c, mut pc) = pair();
        let target = recorder(&mut lp, c, Events::READ, 2);
        let first = lp
            .ctx()
            .new_io(a, Events::READ, move |ctx, log, _id, ev| {
                log.push((1, ev));
                if ctx.io(target).unwrap().is_pending() {
                    ctx.stop(target).unwrap();
                    assert!(!ctx.io(target).unwrap().is_pending(), "stop clears pending");
                    ctx.start(target).unwrap();
                }
            })
            .unwrap();
        // Higher priority: runs before the target within the iteration.
        let mut ctx = lp.ctx();
        ctx.io(first).unwrap().set_priority(Priority::MAX);
        ctx.start(first).unwrap();
        ctx.start(target).unwrap();
        pa.write_all(b"a").unwrap();
        pc.write_all(b"c").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)], "target's event dropped");
        lp.ctx().stop(first).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ), (2, Events::READ)]);
    });
}

// ------------------------------------------------------------------ stale io events

/// Two readable sockets; whichever callback runs first disposes of the
/// other watcher with `dispose`. Returns the loop, its state and the peers.
/// The watched sockets are duplicated to fd numbers `>= base` (see
/// [`dup_high`]), so that a test can reuse a freed number deterministically.
type Two = (Vec<IoId<UnixStream>>, Log);
fn two_readable(
    b: evloop::Backend,
    base: RawFd,
    dispose: fn(&mut Ctx<'_, Two>, IoId<UnixStream>),
) -> (Loop<Two>, Two, [UnixStream; 2]) {
    let mut lp: Loop<Two> = new_loop(b);
    let (a, mut pa) = pair();
    let (c, mut pc) = pair();
    let mut ids = Vec::new();
    for (tag, s) in [(0u32, a), (1u32, c)] {
        let s = stream_high(&s, base);
        let mut ctx = lp.ctx();
        let id = ctx
            .new_io(s, Events::READ, move |ctx, (ids, log), id, ev| {
                log.push((tag, ev));
                let other = ids[1 - tag as usize];
                if log.len() == 1 {
                    assert!(
                        ctx.io(other).unwrap().is_pending(),
                        "both events must be harvested in one iteration"
                    );
                    dispose(ctx, other);
                }
                // Consume the data so that later iterations are quiet.
                if let Ok(w) = ctx.io(id) {
                    drain(w.source());
                }
            })
            .unwrap();
        ctx.start(id).unwrap();
        ids.push(id);
    }
    pa.write_all(b"a").unwrap();
    pc.write_all(b"c").unwrap();
    (lp, (ids, Log::new()), [pa, pc])
}

/// The event of a watcher stopped by an earlier callback of the same
/// iteration is not delivered; started again, it fires.
#[test]
fn event_of_watcher_stopped_by_earlier_callback_is_not_delivered() {
    for_each_backend(|b| {
        let (mut lp, mut st, _peers) = two_readable(b, 50, |ctx, other| ctx.stop(other).unwrap());
        nowait(&mut lp, &mut st);
        assert_eq!(st.1.len(), 1, "the stopped watcher ran: {:?}", st.1);
        let first = st.1[0].0;
        let other = st.0[1 - first as usize];
        let mut ctx = lp.ctx();
        assert!(!ctx.is_active(other));
        assert!(!ctx.io(other).unwrap().is_pending());
        // Its data is still there: started again, it fires.
        ctx.start(other).unwrap();
        nowait(&mut lp, &mut st);
        assert_eq!(st.1, vec![(first, Events::READ), (1 - first, Events::READ)]);
    });
}

/// The event of a watcher removed by an earlier callback of the same
/// iteration is not delivered.
#[test]
fn event_of_watcher_removed_by_earlier_callback_is_not_delivered() {
    for_each_backend(|b| {
        let (mut lp, mut st, _peers) = two_readable(b, 60, |ctx, other| ctx.remove(other).unwrap());
        nowait(&mut lp, &mut st);
        assert_eq!(st.1.len(), 1, "the removed watcher ran: {:?}", st.1);
        let first = st.1[0].0;
        assert!(!lp.ctx().contains(st.0[1 - first as usize]));
        nowait(&mut lp, &mut st);
        assert_eq!(st.1.len(), 1);
    });
}

/// The first callback removes the other watcher and creates a new one in
/// its place (slotmap reuses the freed slot), on a socket that has no data,
/// on the very same fd number. The old event must not reach it.
#[test]
fn event_of_removed_watcher_is_not_delivered_to_its_successor() {
    for_each_backend(|b| {
        let (mut lp, mut st, _peers) = two_readable(b, 70, |ctx, other| {
            let fd = ctx.io(other).unwrap().fd();
            let (fresh, fresh_peer) = pair();
            ctx.remove(other).unwrap(); // closes `fd`
                                        // The lowest free number of this test's range is the one just freed.
            let fresh = stream_high(&fresh, 70);
            assert_eq!(fresh.as_raw_fd(), fd, "same fd number expected");
            let succ = ctx
                .new_io(fresh, Events::READ, |_ctx, (_, log), _id, ev| {
                    log.push((99, ev));
                })
                .unwrap();
            ctx.start(succ).unwrap();
            assert!(!ctx.io(succ).unwrap().is_pending());
            // Keep the peer open (no EOF on the successor) for the test's life.
            std::mem::forget(fresh_peer);
        });
        nowait(&mut lp, &mut st);
        assert_eq!(
            st.1.len(),
            1,
            "successor or removed watcher ran: {:?}",
            st.1
        );
        // Later iterations: no data on the successor, so still nothing.
        nowait(&mut lp, &mut st);
        nowait(&mut lp, &mut st);
        assert_eq!(st.1.len(), 1, "{:?}", st.1);
    });
}

// ------------------------------------------------------------------ bad fds

/// A watcher on a bad fd gets ERROR with its interest, once, and is
/// stopped (not removed); the loop keeps working.
#[test]
fn invalid_raw_fd_gets_error_event_and_is_stopped() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        // SAFETY: fd 9999 is not open; the loop only asks the kernel about it.
        let id = unsafe {
            lp.ctx()
                .new_io_raw(9_999, Events::READ, |ctx, log, id, ev| {
                    assert!(!ctx.is_active(id), "stopped before its callback");
                    log.push((1, ev));
                })
        }
        .unwrap();
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        let start = Instant::now();
        let alive = run_default(&mut lp, &mut log).unwrap();
        assert!(!alive, "nothing may be left active");
        assert!(start.elapsed() < Duration::from_secs(5), "took too long");
        assert_eq!(log, vec![(1, Events::ERROR | Events::READ)]);
        assert!(!lp.ctx().is_active(id));
        assert!(lp.ctx().contains(id), "stopped, not removed");
        // The loop keeps working for other watchers.
        let (a, _p) = pair();
        let w = recorder(&mut lp, a, Events::WRITE, 2);
        lp.ctx().start(w).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log[1..], [(2, Events::WRITE)]);
    });
}

/// The bad fd is reported to its own watcher only; good fds still work
/// (select fails as a whole with EBADF and must sort this out).
#[test]
fn invalid_fd_among_good_ones() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut pa) = pair();
        let good = recorder(&mut lp, a, Events::READ, 1);
        // SAFETY: fd 9998 is not open; the loop only asks the kernel about it.
        let bad = unsafe {
            lp.ctx()
                .new_io_raw(9_998, Events::READ | Events::WRITE, |_, log, _, ev| {
                    log.push((2, ev))
                })
        }
        .unwrap();
        lp.ctx().start(good).unwrap();
        lp.ctx().start(bad).unwrap();
        pa.write_all(b"x").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        nowait(&mut lp, &mut log);
        let errors: Vec<_> = log.iter().filter(|e| e.0 == 2).collect();
        assert_eq!(
            errors,
            [&(2, Events::ERROR | Events::READ | Events::WRITE)],
            "exactly one ERROR for the bad fd: {log:?}"
        );
        assert!(
            log.contains(&(1, Events::READ)),
            "the good fd was not served: {log:?}"
        );
        assert!(!lp.ctx().is_active(bad));
        assert!(lp.ctx().is_active(good));
    });
}

/// A raw fd closed after its watcher started, before the loop polled: the
/// watcher gets ERROR and `run` does not hang.
#[test]
fn socket_closed_before_the_loop_polled_gets_error() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair();
        let high = dup_high(a.as_fd(), 0);
        let fd = high.as_raw_fd();
        drop(a);
        // SAFETY: breaking the contract on purpose (closing the fd while
        // the watcher is active) is allowed and must be handled; no other
        // test takes fds this high, so the number stays closed.
        let id = unsafe {
            lp.ctx()
                .new_io_raw(fd, Events::READ, |_, log, _, ev| log.push((1, ev)))
        }
        .unwrap();
        lp.ctx().start(id).unwrap();
        drop(high);
        let mut log = Log::new();
        let start = Instant::now();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(start.elapsed() < Duration::from_secs(5), "took too long");
        assert_eq!(log, vec![(1, Events::ERROR | Events::READ)]);
        assert!(!lp.ctx().is_active(id));
    });
}

/// The ERROR callback may point its (stopped) raw watcher at a good fd
/// with `set_fd` and start it again.
#[test]
fn error_callback_may_restart_with_a_good_fd() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        // Kept open by the closure, which lives as long as the watcher.
        let (good, good_peer) = pair();
        let good_fd = good.as_raw_fd();
        let cb = move |ctx: &mut Ctx<'_, Log>, log: &mut Log, id: IoId, ev: Events| {
            let _keep = (&good, &good_peer);
            log.push((1, ev));
            if ev.contains(Events::ERROR) {
                let mut w = ctx.io(id).unwrap();
                // SAFETY: `good` is owned by this closure, so it stays open
                // until the watcher is removed.
                let old = unsafe { w.set_fd(good_fd) }.unwrap();
                assert_eq!(old, 9_997);
                w.start().unwrap();
            } else {
                ctx.remove(id).unwrap();
            }
        };
        // SAFETY: fd 9997 is not open; the loop only asks the kernel about it.
        let id = unsafe { lp.ctx().new_io_raw(9_997, Events::WRITE, cb) }.unwrap();
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        run_default(&mut lp, &mut log).unwrap();
        assert_eq!(
            log,
            vec![(1, Events::ERROR | Events::WRITE), (1, Events::WRITE)]
        );
    });
}

// ------------------------------------------------------------------ no ghost registrations

/// epoll registers file descriptions: if removing the watcher closed its
/// fd without deregistering it, the still-open duplicate would keep a
/// ghost registration that reports the (readable) description under the
/// old fd number: as a busy loop, as an extra wake-up (if the backend
/// recognises and purges ghosts), or to the next watcher on that number.
#[test]
fn removing_watcher_with_dup_fd_leaves_no_ghost() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let owned = dup_high(a.as_fd(), 10);
        let n = owned.as_raw_fd();
        let id = recorder(&mut lp, owned, Events::READ, 1);
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registered with the kernel
        lp.ctx().remove(id).unwrap(); // closes `n`; `a` keeps the description
        peer.write_all(b"ghost").unwrap(); // `a` (= old n) is readable now

        // Nothing is watched but a 50 ms timer: the loop must sleep through
        // in one poll. (Exactly one: kernel waits do not end early, and the
        // timeout is rounded up, so the timer is due when the poll returns.)
        let iterations = iterations_until_timer(&mut lp, &mut log);
        assert!(log.is_empty(), "ghost event delivered: {log:?}");
        assert_eq!(
            iterations, 1,
            "the loop woke up {iterations} times in 50 ms with nothing watched"
        );

        // A new watcher on a quiet socket, on the same fd number.
        let (c, _pc) = pair();
        let fresh = dup_high(c.as_fd(), 10);
        assert_eq!(fresh.as_raw_fd(), n, "same number expected");
        let w = recorder(&mut lp, fresh, Events::READ, 2);
        lp.ctx().start(w).unwrap();
        let iterations = iterations_until_timer(&mut lp, &mut log);
        assert!(log.is_empty(), "ghost event delivered: {log:?}");
        assert_eq!(
            iterations, 1,
            "the loop woke up {iterations} times in 50 ms on a quiet socket"
        );
        drop(a);
    });
}

/// The fd of a stopped raw watcher is closed before the loop could
/// deregister it (new_io_raw's contract asks for one more poll first), while
/// a duplicate keeps the file description, and so an epoll registration,
/// alive. A watcher made later with the safe API on the same fd number
/// must not get that ghost's events, and the loop must not spin on it.
#[test]
fn raw_fd_closed_right_after_stop_leaves_no_ghost_for_the_next_watcher() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let high = dup_high(a.as_fd(), 20);
        let n = high.as_raw_fd();
        // SAFETY: `high` is closed below, after the stop and before the next
        // poll: events may be lost, which this test does not mind.
        let raw = unsafe {
            lp.ctx()
                .new_io_raw(n, Events::READ, |_, log, _, ev| log.push((1, ev)))
        }
        .unwrap();
        lp.ctx().start(raw).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registered with the kernel
        lp.ctx().stop(raw).unwrap();
        drop(high); // too early: the loop has not deregistered `n` yet
        peer.write_all(b"ghost").unwrap();

        let (c, _pc) = pair();
        let fresh = dup_high(c.as_fd(), 20);
        assert_eq!(fresh.as_raw_fd(), n, "same number expected");
        let w = recorder(&mut lp, fresh, Events::READ, 2);
        lp.ctx().start(w).unwrap();
        let iterations = iterations_until_timer(&mut lp, &mut log);
        assert!(log.is_empty(), "ghost event delivered: {log:?}");
        assert!(
            iterations <= 3,
            "the loop spun: {iterations} wake-ups in 50 ms on a quiet socket"
        );
        drop(a);
    });
}

/// The old source `set_source` hands back is deregistered already: dropped
/// at once while a duplicate keeps its (readable) file description alive,
/// it must not haunt the loop.
#[test]
fn set_source_deregisters_the_old_fd_before_returning_it() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let owned = dup_high(a.as_fd(), 30);
        let id = recorder(&mut lp, owned, Events::READ, 1);
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registered with the kernel
        lp.ctx().stop(id).unwrap();
        let (c, _pc) = pair();
        let old = lp.ctx().io(id).unwrap().set_source(OwnedFd::from(c));
        drop(old.unwrap()); // closes the old fd now
        peer.write_all(b"ghost").unwrap();
        lp.ctx().start(id).unwrap();
        let iterations = iterations_until_timer(&mut lp, &mut log);
        assert!(log.is_empty(), "ghost event delivered: {log:?}");
        assert_eq!(
            iterations, 1,
            "the loop woke up {iterations} times in 50 ms on a quiet socket"
        );
        drop(a);
    });
}

/// Runs `lp` until a 50 ms timer breaks it; returns how many times it
/// polled meanwhile.
fn iterations_until_timer(lp: &mut Loop<Log>, log: &mut Log) -> u64 {
    let mut ctx = lp.ctx();
    let t = ctx
        .new_timer(
            Duration::from_millis(50),
            Duration::ZERO,
            |ctx, _, id, _| {
                ctx.break_loop(Break::All);
                ctx.remove(id).unwrap();
            },
        )
        .unwrap();
    let start = Instant::now();
    ctx.now_update(); // count the 50 ms from now (not earlier than `start`)
    ctx.start(t).unwrap();
    let it0 = ctx.iteration();
    run_default(lp, log).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(50));
    let ctx = lp.ctx();
    assert!(!ctx.contains(t), "the timer did not fire");
    ctx.iteration() - it0
}

/// Closing a duplicate of a watched fd does not disturb the watcher.
#[test]
fn closing_a_dup_does_not_disturb_the_watched_original() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let a2 = a.try_clone().unwrap();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.ctx().start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        drop(a2);
        peer.write_all(b"x").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
    });
}

// ------------------------------------------------------------------ feed_fd_event

/// `ctx.feed_fd_event` reaches the active watchers of that fd, with only
/// the bits each is interested in; stopped watchers, other fds and unknown
/// or negative fds get nothing.
#[test]
fn feed_fd_event_reaches_interested_active_watchers() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair(); // no data: only fed events
        let fd = a.as_raw_fd();
        let a = Rc::new(a);
        let r = recorder(&mut lp, a.clone(), Events::READ, 1);
        let r_stopped = recorder(&mut lp, a.clone(), Events::READ, 2);
        let (c, _pc) = pair();
        let other_fd = recorder(&mut lp, c, Events::READ, 3);
        let mut ctx = lp.ctx();
        ctx.start(r).unwrap();
        ctx.start(other_fd).unwrap();

        ctx.feed_fd_event(fd, Events::READ | Events::WRITE | Events::TIMER);
        assert!(ctx.io(r).unwrap().is_pending());
        assert!(
            !ctx.io(r_stopped).unwrap().is_pending(),
            "stopped watchers get nothing"
        );
        assert!(!ctx.io(other_fd).unwrap().is_pending());
        let mut log = Log::new();
        ctx.invoke_pending(&mut log);
        assert_eq!(log, vec![(1, Events::READ)], "only its interest bits");

        // Fed before run: delivered by run, once.
        log.clear();
        lp.ctx().feed_fd_event(fd, Events::READ);
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);

        // Bits the watcher does not want: nothing.
        log.clear();
        let mut ctx = lp.ctx();
        ctx.feed_fd_event(fd, Events::WRITE);
        assert_eq!(ctx.pending_count(), 0);
        // Unknown and negative fds: nothing, no panic.
        ctx.feed_fd_event(-1, Events::READ);
        ctx.feed_fd_event(4_000, Events::READ);
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "{log:?}");
    });
}

/// A callback may feed an fd event; it runs in the same iteration.
#[test]
fn feed_fd_event_from_a_callback() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _pa) = pair();
        let (c, _pc) = pair();
        let c_fd = c.as_raw_fd();
        let target = recorder(&mut lp, c, Events::READ, 2);
        let feeder = lp
            .ctx()
            .new_io(a, Events::WRITE, move |ctx, log, id, ev| {
                log.push((1, ev));
                ctx.feed_fd_event(c_fd, Events::READ);
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.ctx().start(feeder).unwrap();
        lp.ctx().start(target).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::WRITE), (2, Events::READ)]);
    });
}

// ------------------------------------------------------------------ once_io

/// A ready `once_io` runs once, gets its source back (open: it reads the
/// data), and its timeout goes with it; the source is closed when the
/// callback drops it.
#[test]
fn once_io_with_data_gets_read_and_cleans_up() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let a_fd = a.as_raw_fd();
        let mut ctx = lp.ctx();
        ctx.once_io(
            a,
            Events::READ,
            Some(Duration::from_secs(30)),
            move |ctx, log, src: UnixStream, ev| {
                assert_eq!(ctx.depth(), 1);
                assert_eq!(src.as_raw_fd(), a_fd);
                assert_eq!(drain(&src), b"x", "the source comes back open");
                log.push((1, ev));
                // `src` is dropped (closed) here.
            },
        )
        .unwrap();
        assert_eq!(ctx.refs(), 2, "io and timer are active");
        assert_eq!(ctx.watcher_count().total, 0, "its watchers are the loop's");
        peer.write_all(b"x").unwrap();
        let mut log = Log::new();
        let start = Instant::now();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        // The timer was removed with the io watcher: no 30 s wait.
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(log, vec![(1, Events::READ)]);
        let ctx = lp.ctx();
        assert_eq!(ctx.refs(), 0);
        assert_eq!(ctx.pending_count(), 0);
        // The callback dropped the source: the peer sees EOF.
        assert_peer_closed(&mut peer);
    });
}

/// A `once_io` without a timeout waits for its fd only.
#[test]
fn once_io_without_timeout() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair();
        let mut ctx = lp.ctx();
        ctx.once_io(a, Events::WRITE, None, |_, log, _src, ev| log.push((1, ev)))
            .unwrap();
        assert_eq!(ctx.refs(), 1);
        let mut log = Log::new();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert_eq!(log, vec![(1, Events::WRITE)]);
    });
}

/// A quiet `once_io` times out with TIMER, not before its timeout, and its
/// source comes back open: data that arrives later can still be read.
#[test]
fn once_io_times_out_with_timer() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let kept: Rc<RefCell<Option<UnixStream>>> = Rc::default();
        let k = kept.clone();
        lp.ctx()
            .once_io(
                a,
                Events::READ,
                Some(Duration::from_millis(20)),
                move |_, log, src, ev| {
                    log.push((1, ev));
                    *k.borrow_mut() = Some(src);
                },
            )
            .unwrap();
        let mut log = Log::new();
        let start = Instant::now();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(log, vec![(1, Events::TIMER)]);
        let src = kept
            .borrow_mut()
            .take()
            .expect("the source was handed over");
        peer.write_all(b"late").unwrap();
        assert_eq!(drain(&src), b"late");
        // Nothing of it is left in the loop.
        nowait(&mut lp, &mut log);
        assert_eq!(log.len(), 1);
        drop(src);
        assert_peer_closed(&mut peer);
    });
}

/// Arms a `once_io` on `s` that logs what it read and, `left` times, arms
/// itself again with the source its callback got back.
fn arm_reader(ctx: &mut Ctx<'_, Vec<String>>, s: UnixStream, left: u32) {
    ctx.once_io(
        s,
        Events::READ,
        Some(Duration::from_secs(30)),
        move |ctx, log, s, ev| {
            log.push(format!("{ev:?} {:?}", String::from_utf8(drain(&s))));
            if left > 0 {
                arm_reader(ctx, s, left - 1);
            }
        },
    )
    .unwrap();
}

/// The source a `once_io` callback gets back can wait again: a reader
/// re-arms itself with it, from its callback, for three messages.
#[test]
fn once_io_rearms_itself_with_the_returned_source() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<String>> = new_loop(b);
        let (a, mut peer) = pair();
        arm_reader(&mut lp.ctx(), a, 2);
        let mut log = Vec::new();
        for msg in ["one", "two", "three"] {
            peer.write_all(msg.as_bytes()).unwrap();
            nowait(&mut lp, &mut log);
        }
        assert_eq!(
            log,
            [
                "Events(READ) Ok(\"one\")",
                "Events(READ) Ok(\"two\")",
                "Events(READ) Ok(\"three\")"
            ]
        );
        assert_eq!(lp.ctx().refs(), 0, "the last one did not re-arm");
        // The last callback dropped the source.
        assert_peer_closed(&mut peer);
    });
}

/// A cancelled once never calls its callback and releases its references,
/// also when cancelled from a callback while its events are pending;
/// cancelling again gives nothing.
#[test]
fn cancel_once_never_calls_and_releases() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let mut ctx = lp.ctx();
        let once = ctx
            .once_io(
                a,
                Events::READ,
                Some(Duration::from_millis(1)),
                |_, log, _src, ev| log.push((1, ev)),
            )
            .unwrap();
        peer.write_all(b"x").unwrap();
        assert!(ctx.cancel_once(once).is_some());
        assert_eq!(ctx.refs(), 0);
        let mut log = Log::new();
        std::thread::sleep(Duration::from_millis(2));
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(log.is_empty(), "cancelled once ran: {log:?}");
        // Cancelling again (or after it ran) does nothing.
        assert!(lp.ctx().cancel_once(once).is_none());

        // Cancelled from a callback while both its events are pending.
        let (c, mut pc) = pair();
        let mut ctx = lp.ctx();
        let once = ctx
            .once_io(c, Events::READ, Some(Duration::ZERO), |_, log, _src, ev| {
                log.push((2, ev))
            })
            .unwrap();
        pc.write_all(b"y").unwrap();
        let (d, _pd) = pair();
        let canceller = ctx
            .new_io(d, Events::WRITE, move |ctx, log, id, ev| {
                log.push((3, ev));
                assert!(ctx.cancel_once(once).is_some());
                ctx.remove(id).unwrap();
            })
            .unwrap();
        ctx.io(canceller).unwrap().set_priority(Priority::MAX);
        ctx.start(canceller).unwrap();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert_eq!(log, vec![(3, Events::WRITE)]);
    });
}

/// `cancel_once` hands back the source, open (its data is there) and
/// deregistered (closed while a duplicate keeps its file alive, it does
/// not haunt the loop); `once_timer` gives back `()`.
#[test]
fn cancel_once_returns_the_open_source_deregistered() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let high = stream_high(&a, 90);
        let n = high.as_raw_fd();
        let once = lp
            .ctx()
            .once_io(
                high,
                Events::READ,
                Some(Duration::from_secs(30)),
                |_, log, _src, ev| log.push((1, ev)),
            )
            .unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registered with the kernel
        assert!(log.is_empty());
        peer.write_all(b"x").unwrap();
        let back: UnixStream = lp.ctx().cancel_once(once).expect("not run yet");
        assert_eq!(back.as_raw_fd(), n);
        assert_eq!(drain(&back), b"x", "open, with its data");
        assert_eq!(lp.ctx().refs(), 0);
        drop(back); // closes `n`; `a` keeps the file description
        peer.write_all(b"ghost").unwrap();
        let iterations = iterations_until_timer(&mut lp, &mut log);
        assert!(log.is_empty(), "the cancelled once ran: {log:?}");
        assert_eq!(
            iterations, 1,
            "the loop woke up {iterations} times in 50 ms with nothing watched"
        );
        drop(a);

        let once = lp
            .ctx()
            .once_timer(Duration::from_secs(30), |_, log, ev| log.push((2, ev)))
            .unwrap();
        assert_eq!(lp.ctx().cancel_once(once), Some(()));
        assert_eq!(lp.ctx().cancel_once(once), None);
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(log.is_empty());
    });
}

/// `set_once_keepalive(o, false)` lets `run` return while the once still
/// waits; it is served by later runs all the same; `true` restores the
/// references. A once that ran is stale.
#[test]
fn once_keepalive_off_lets_run_return_while_it_waits() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let mut ctx = lp.ctx();
        let once = ctx
            .once_io(
                a,
                Events::READ,
                Some(Duration::from_secs(30)),
                |_, log, _src, ev| log.push((1, ev)),
            )
            .unwrap();
        assert_eq!(ctx.refs(), 2);
        ctx.set_once_keepalive(once, false).unwrap();
        assert_eq!(ctx.refs(), 0);
        ctx.set_once_keepalive(once, true).unwrap();
        assert_eq!(ctx.refs(), 2);
        ctx.set_once_keepalive(once, false).unwrap();
        let tm = ctx
            .once_timer(Duration::from_secs(30), |_, log, ev| log.push((2, ev)))
            .unwrap();
        ctx.set_once_keepalive(tm, false).unwrap();
        assert_eq!(ctx.refs(), 0);

        let mut log = Log::new();
        let start = Instant::now();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "run waited for the onces"
        );
        assert!(log.is_empty());
        // Still waiting, and served when its fd is ready.
        peer.write_all(b"x").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
        assert_eq!(lp.ctx().refs(), 0, "references stay in step");
        assert!(matches!(
            lp.ctx().set_once_keepalive(once, true),
            Err(Error::StaleHandle)
        ));
        assert_eq!(lp.ctx().cancel_once(tm), Some(()), "the timer still waited");
        assert_eq!(lp.ctx().refs(), 0, "references stay in step");
    });
}

/// A once of loop A given to loop B is refused (`cancel_once` gives
/// nothing, `set_once_keepalive` is `ForeignHandle`), even though B's
/// watchers sit in the same slots as A's once; B's watchers are untouched
/// and A's once still runs.
#[test]
fn once_of_another_loop_is_refused() {
    for_each_backend(|b| {
        let mut lp_a: Loop<Log> = new_loop(b);
        let mut lp_b: Loop<Log> = new_loop(b);
        let (a, mut pa) = pair();
        let once = lp_a
            .ctx()
            .once_io(
                a,
                Events::READ,
                Some(Duration::from_secs(30)),
                |_, log, _src, ev| log.push((1, ev)),
            )
            .unwrap();
        // B's first watchers: an io watcher and a timer, as A's once has.
        let (c, _pc) = pair();
        let io_b = recorder(&mut lp_b, c, Events::READ, 2);
        let mut ctx = lp_b.ctx();
        let t_b = ctx
            .new_timer(Duration::from_secs(30), Duration::ZERO, |_, log, _, ev| {
                log.push((3, ev))
            })
            .unwrap();
        ctx.start(io_b).unwrap();
        ctx.start(t_b).unwrap();
        let refs = ctx.refs();

        assert!(ctx.cancel_once(once).is_none());
        assert!(matches!(
            ctx.set_once_keepalive(once, false),
            Err(Error::ForeignHandle)
        ));
        assert!(ctx.is_active(io_b) && ctx.is_active(t_b));
        assert_eq!(ctx.refs(), refs);
        assert_eq!(ctx.watcher_count().total, 2);

        // A's once is intact.
        assert_eq!(lp_a.ctx().refs(), 2);
        pa.write_all(b"x").unwrap();
        let mut log = Log::new();
        assert!(!run_default(&mut lp_a, &mut log).unwrap());
        assert_eq!(log, vec![(1, Events::READ)]);
    });
}
