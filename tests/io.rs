//! Integration tests for io watchers, run once per supported backend.
//!
//! Every test uses `RunMode::NoWait` (or a timer guard) wherever an event
//! might not come, so that a regression fails the test instead of hanging it.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{for_each_backend, new_loop, run_default};
use evloop::{Break, Error, Events, IoId, Loop, Priority, RunMode};

/// A connected, non-blocking socket pair.
fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Reads whatever is there without blocking.
fn drain(s: &mut UnixStream) -> Vec<u8> {
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

/// One callback invocation, as tests record them: (watcher tag, events).
type Log = Vec<(u32, Events)>;

/// An io watcher that records `(tag, events)` and does nothing else.
fn recorder(lp: &mut Loop<Log>, src: impl AsFd + 'static, interest: Events, tag: u32) -> IoId {
    lp.io(src, interest, move |_ctx, log, _id, ev| log.push((tag, ev)))
        .unwrap()
}

fn nowait<T>(lp: &mut Loop<T>, data: &mut T) {
    lp.run(data, RunMode::NoWait).unwrap();
}

// ------------------------------------------------------------------ basics

#[test]
fn readable_fires_only_when_data_arrives() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "READ fired without data: {log:?}");
        peer.write_all(b"x").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
        // The source is reachable and holds the data.
        let got = drain(lp.io_source_mut::<UnixStream>(id).unwrap());
        assert_eq!(got, b"x");
    });
}

#[test]
fn writable_fires_on_writable_socket() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair();
        let id = recorder(&mut lp, a, Events::WRITE, 1);
        lp.start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::WRITE)]);
    });
}

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
        lp.start(id).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ | Events::WRITE)]);
        lp.stop(id).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log.len(), 1, "fired after stop: {log:?}");
    });
}

#[test]
fn peer_close_makes_reader_readable_at_eof() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<usize>> = new_loop(b);
        let (a, peer) = pair();
        let id = lp
            .io(a, Events::READ, |ctx, reads, id, ev| {
                assert_eq!(ev, Events::READ);
                let mut buf = [0u8; 8];
                let n = ctx.io_source_mut::<UnixStream>(id).unwrap().read(&mut buf);
                reads.push(n.unwrap());
                ctx.remove(id).unwrap();
            })
            .unwrap();
        lp.start(id).unwrap();
        drop(peer);
        let mut reads = Vec::new();
        // Default mode: must return once the watcher removed itself.
        assert!(!run_default(&mut lp, &mut reads).unwrap());
        assert_eq!(reads, vec![0], "expected one read at EOF");
    });
}

#[test]
fn level_triggered_unread_data_fires_every_iteration() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.start(id).unwrap();
        peer.write_all(b"abc").unwrap();
        let mut log = Log::new();
        for _ in 0..3 {
            nowait(&mut lp, &mut log);
        }
        assert_eq!(log, vec![(1, Events::READ); 3], "level-triggered");
        // Once the data is read, it stops firing.
        assert_eq!(drain(lp.io_source_mut::<UnixStream>(id).unwrap()), b"abc");
        nowait(&mut lp, &mut log);
        nowait(&mut lp, &mut log);
        assert_eq!(log.len(), 3, "fired after the data was read: {log:?}");
    });
}

#[test]
fn partial_read_fires_again() {
    for_each_backend(|b| {
        let mut lp: Loop<Vec<u8>> = new_loop(b);
        let (a, mut peer) = pair();
        let id = lp
            .io(a, Events::READ, |ctx, got, id, _ev| {
                let mut one = [0u8; 1];
                let s = ctx.io_source_mut::<UnixStream>(id).unwrap();
                assert_eq!(s.read(&mut one).unwrap(), 1);
                got.push(one[0]);
                if got.len() == 4 {
                    ctx.remove(id).unwrap();
                }
            })
            .unwrap();
        lp.start(id).unwrap();
        peer.write_all(b"wxyz").unwrap();
        let mut got = Vec::new();
        run_default(&mut lp, &mut got).unwrap();
        assert_eq!(got, b"wxyz");
    });
}

// ------------------------------------------------------------------ several watchers on one fd

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
            lp.start(id).unwrap();
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

#[test]
fn union_of_interests_is_registered() {
    // If only the last started watcher's interest reached the kernel, one
    // of the two would never fire.
    for_each_backend(|b| {
        for write_first in [false, true] {
            let mut lp: Loop<Log> = new_loop(b);
            let (a, mut peer) = pair();
            let a = Rc::new(a);
            let r = recorder(&mut lp, a.clone(), Events::READ, 1);
            let w = recorder(&mut lp, a.clone(), Events::WRITE, 2);
            if write_first {
                lp.start(w).unwrap();
                lp.start(r).unwrap();
            } else {
                lp.start(r).unwrap();
                lp.start(w).unwrap();
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

#[test]
fn stopping_one_watcher_keeps_the_others_interest() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let a = Rc::new(a);
        let r = recorder(&mut lp, a.clone(), Events::READ, 1);
        let w = recorder(&mut lp, a.clone(), Events::WRITE, 2);
        lp.start(r).unwrap();
        lp.start(w).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registers READ|WRITE
        log.clear();

        // Stop the writer: the reader still gets data, the writer nothing.
        lp.stop(w).unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "fired without data / after stop: {log:?}");
        peer.write_all(b"x").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);

        // Swap: the writer alone, with data still unread.
        log.clear();
        lp.stop(r).unwrap();
        lp.start(w).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(2, Events::WRITE)]);

        // Removing one watcher of a shared fd leaves the other working.
        log.clear();
        lp.remove(w).unwrap();
        lp.start(r).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
    });
}

// ------------------------------------------------------------------ changing interest

#[test]
fn change_interest_while_active() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty());

        // READ -> WRITE while active: the socket is writable at once.
        lp.set_io_interest(id, Events::WRITE).unwrap();
        assert_eq!(lp.io_interest(id).unwrap(), Events::WRITE);
        assert!(lp.is_active(id));
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::WRITE)]);

        // WRITE -> READ: no more WRITE events; READ once data comes.
        log.clear();
        lp.set_io_interest(id, Events::READ).unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "WRITE after interest became READ: {log:?}");
        peer.write_all(b"x").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);

        // Empty interest: active, but watches nothing.
        log.clear();
        lp.set_io_interest(id, Events::empty()).unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "fired with empty interest: {log:?}");
        assert!(lp.is_active(id));
        lp.set_io_interest(id, Events::READ | Events::WRITE)
            .unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ | Events::WRITE)]);
    });
}

#[test]
fn change_interest_from_own_callback() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair();
        let id = lp
            .io(a, Events::WRITE, |ctx, log, id, ev| {
                log.push((1, ev));
                // Done writing: wait for a reply instead.
                ctx.set_io_interest(id, Events::READ).unwrap();
            })
            .unwrap();
        lp.start(id).unwrap();
        let mut log = Log::new();
        for _ in 0..3 {
            nowait(&mut lp, &mut log);
        }
        assert_eq!(log, vec![(1, Events::WRITE)]);
    });
}

#[test]
fn change_interest_while_stopped() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // READ registered
        lp.stop(id).unwrap();
        lp.set_io_interest(id, Events::WRITE).unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "a stopped watcher fired: {log:?}");
        assert!(!lp.is_active(id));
        lp.start(id).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::WRITE)]);

        // Never-started watcher, interest changed before the first start.
        let (c, _peer2) = pair();
        let id2 = recorder(&mut lp, c, Events::READ, 2);
        lp.set_io_interest(id2, Events::WRITE).unwrap();
        lp.start(id2).unwrap();
        log.clear();
        nowait(&mut lp, &mut log);
        log.sort_by_key(|e| e.0);
        assert_eq!(log, vec![(1, Events::WRITE), (2, Events::WRITE)]);
    });
}

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
            let r = lp.io(a, bad, |_, _, _, _| {});
            assert!(
                matches!(r, Err(Error::InvalidArgument(_))),
                "io with {bad:?}: {r:?}"
            );
            // SAFETY: the watcher is never created (the call fails).
            let r = unsafe { lp.io_raw(0, bad, |_, _, _, _| {}) };
            assert!(
                matches!(r, Err(Error::InvalidArgument(_))),
                "io_raw with {bad:?}: {r:?}"
            );
        }
        // SAFETY: the call fails on the negative fd before anything else.
        let r = unsafe { lp.io_raw(-1, Events::READ, |_, _, _, _| {}) };
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");

        let (a, _p) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.start(id).unwrap();
        let r = lp.set_io_interest(id, Events::TIMER);
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        assert_eq!(lp.io_interest(id).unwrap(), Events::READ, "unchanged");
        assert!(lp.is_active(id));

        // once_io validates too, and leaves nothing behind (no timer that
        // would keep the loop alive).
        let (c, _p2) = pair();
        let r = lp.once_io(
            c,
            Events::PERIODIC,
            Some(Duration::from_secs(100)),
            |_, _, _| panic!("must not run"),
        );
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        lp.remove(id).unwrap();
        assert_eq!(lp.refs(), 0);
        let start = Instant::now();
        let mut log = Log::new();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

// ------------------------------------------------------------------ changing the source

#[test]
fn set_io_source_on_stopped_watcher_returns_the_old_source() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer_a) = pair();
        let (c, mut peer_c) = pair();
        let a_fd = a.as_raw_fd();
        let c_fd = c.as_raw_fd();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.start(id).unwrap();
        peer_a.write_all(b"a").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);

        lp.stop(id).unwrap();
        let old = lp.set_io_source(id, c).unwrap().expect("owned a source");
        let mut old = old.downcast::<UnixStream>().expect("old source type");
        assert_eq!(old.as_raw_fd(), a_fd, "the old source is handed back");
        assert_eq!(lp.io_fd(id).unwrap(), c_fd);
        assert!(!lp.is_active(id), "set_io_source does not start");
        // The old stream still works and still holds its data.
        assert_eq!(drain(&mut old), b"a");
        peer_a.write_all(b"again").unwrap();

        // Only the new source is watched now.
        log.clear();
        lp.start(id).unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "fired for the old source: {log:?}");
        peer_c.write_all(b"c").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
        assert_eq!(drain(lp.io_source_mut::<UnixStream>(id).unwrap()), b"c");
        drop(old);
    });
}

#[test]
fn set_io_source_changes_the_source_type() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _pa) = pair();
        let (d, d_peer) = UnixDatagram::pair().unwrap();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.set_io_source(id, d).unwrap();
        assert!(matches!(
            lp.io_source::<UnixStream>(id),
            Err(Error::WrongSourceType)
        ));
        assert!(lp.io_source::<UnixDatagram>(id).is_ok());
        lp.start(id).unwrap();
        d_peer.send(b"dgram").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
        let mut buf = [0u8; 16];
        let n = lp
            .io_source_mut::<UnixDatagram>(id)
            .unwrap()
            .recv(&mut buf)
            .unwrap();
        assert_eq!(&buf[..n], b"dgram");
    });
}

#[test]
fn set_io_source_on_active_watcher_is_an_error() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer_a) = pair();
        let (c, _pc) = pair();
        let a_fd = a.as_raw_fd();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.start(id).unwrap();
        let r = lp.set_io_source(id, c);
        assert!(matches!(r, Err(Error::Active)), "{r:?}");
        // Nothing changed: same fd, still active, still working.
        assert_eq!(lp.io_fd(id).unwrap(), a_fd);
        assert!(lp.is_active(id));
        assert!(lp.io_source::<UnixStream>(id).is_ok());
        peer_a.write_all(b"x").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
        // The raw variant is refused the same way.
        // SAFETY: refused before the fd is looked at.
        let r = unsafe { lp.set_io_raw_fd(id, 0) };
        assert!(matches!(r, Err(Error::Active)), "{r:?}");
    });
}

#[test]
fn set_io_source_to_an_fd_already_watched_by_another_watcher() {
    // The watcher moves from `a` to the fd another watcher is on: both
    // then share that fd and get their events; `a` is not watched anymore.
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer_a) = pair();
        let (c, mut peer_c) = pair();
        let c = Rc::new(c);
        let moving = recorder(&mut lp, a, Events::READ, 1);
        let fixed = recorder(&mut lp, c.clone(), Events::READ, 2);
        lp.start(moving).unwrap();
        lp.start(fixed).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        lp.stop(moving).unwrap();
        // Kept open: a closed `a` would make writing to `peer_a` fail.
        let _old = lp
            .set_io_source(moving, c.clone())
            .unwrap()
            .unwrap()
            .downcast::<UnixStream>()
            .unwrap();
        lp.start(moving).unwrap();
        peer_a.write_all(b"a").unwrap();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "{log:?}");
        peer_c.write_all(b"c").unwrap();
        nowait(&mut lp, &mut log);
        log.sort_by_key(|e| e.0);
        assert_eq!(log, vec![(1, Events::READ), (2, Events::READ)]);
    });
}

#[test]
fn source_type_mismatch_and_raw_watchers() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, peer) = pair();
        let id = recorder(&mut lp, a, Events::READ, 1);
        assert!(matches!(
            lp.io_source_mut::<UnixDatagram>(id),
            Err(Error::WrongSourceType)
        ));
        assert!(matches!(
            lp.io_source::<OwnedFd>(id),
            Err(Error::WrongSourceType)
        ));
        assert!(lp.io_source_mut::<UnixStream>(id).is_ok());

        // A raw-fd watcher owns no source at all.
        // SAFETY: `peer` stays open until the watcher is removed below.
        let raw = unsafe { lp.io_raw(peer.as_raw_fd(), Events::WRITE, |_, _, _, _| {}) }.unwrap();
        assert_eq!(lp.io_fd(raw).unwrap(), peer.as_raw_fd());
        assert!(matches!(
            lp.io_source::<UnixStream>(raw),
            Err(Error::WrongSourceType)
        ));
        assert!(matches!(
            lp.io_source_mut::<UnixStream>(raw),
            Err(Error::WrongSourceType)
        ));
        // Giving a raw watcher a source returns no old one.
        let (c, _pc) = pair();
        assert!(lp.set_io_source(raw, c).unwrap().is_none());
        assert!(lp.io_source::<UnixStream>(raw).is_ok());
        lp.remove(raw).unwrap();
        lp.remove(id).unwrap();
    });
}

// ------------------------------------------------------------------ stop / start in one iteration

#[test]
fn stop_and_start_within_one_iteration_keeps_watching() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let id = lp
            .io(a, Events::READ, |ctx, log, id, ev| {
                log.push((1, ev));
                // Data left unread; the watcher must keep firing.
                ctx.stop(id).unwrap();
                ctx.start(id).unwrap();
                assert!(ctx.is_active(id));
            })
            .unwrap();
        lp.start(id).unwrap();
        peer.write_all(b"x").unwrap();
        let mut log = Log::new();
        for _ in 0..3 {
            nowait(&mut lp, &mut log);
        }
        assert_eq!(log, vec![(1, Events::READ); 3]);

        // The same from outside the loop, between two iterations.
        lp.stop(id).unwrap();
        lp.start(id).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log.len(), 4);
    });
}

#[test]
fn stop_and_start_of_a_pending_watcher_drops_its_event() {
    // libev: ev_io_stop clears the pending event; a start right after does
    // not bring it back. The fd is still readable, so the next poll does.
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut pa) = pair();
        let (c, mut pc) = pair();
        let target = recorder(&mut lp, c, Events::READ, 2);
        let first = lp
            .io(a, Events::READ, move |ctx, log, _id, ev| {
                log.push((1, ev));
                if ctx.is_pending(target) {
                    ctx.stop(target).unwrap();
                    assert!(!ctx.is_pending(target), "stop clears pending");
                    ctx.start(target).unwrap();
                }
            })
            .unwrap();
        // Higher priority: runs before the target within the iteration.
        lp.set_priority(first, Priority::MAX).unwrap();
        lp.start(first).unwrap();
        lp.start(target).unwrap();
        pa.write_all(b"a").unwrap();
        pc.write_all(b"c").unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)], "target's event dropped");
        lp.stop(first).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ), (2, Events::READ)]);
    });
}

// ------------------------------------------------------------------ stale io events

/// Two readable sockets; whichever callback runs first disposes of the
/// other watcher with `dispose`. Returns the loop, its state and the peers.
/// The watched sockets are duplicated to fd numbers `>= base` (see
/// [`dup_high`]), so that a test can reuse a freed number deterministically.
type Two = (Vec<IoId>, Log);
fn two_readable(
    b: evloop::Backend,
    base: RawFd,
    dispose: fn(&mut evloop::Ctx<Two>, IoId),
) -> (Loop<Two>, Two, [UnixStream; 2]) {
    let mut lp: Loop<Two> = new_loop(b);
    let (a, mut pa) = pair();
    let (c, mut pc) = pair();
    let mut ids = Vec::new();
    for (tag, s) in [(0u32, a), (1u32, c)] {
        let s = UnixStream::from(dup_high(s.as_fd(), base));
        let id = lp
            .io(s, Events::READ, move |ctx, (ids, log), id, ev| {
                log.push((tag, ev));
                let other = ids[1 - tag as usize];
                if log.len() == 1 {
                    assert!(
                        ctx.is_pending(other),
                        "both events must be harvested in one iteration"
                    );
                    dispose(ctx, other);
                }
                // Consume the data so that later iterations are quiet.
                if let Ok(s) = ctx.io_source_mut::<UnixStream>(id) {
                    drain(s);
                }
            })
            .unwrap();
        lp.start(id).unwrap();
        ids.push(id);
    }
    pa.write_all(b"a").unwrap();
    pc.write_all(b"c").unwrap();
    (lp, (ids, Log::new()), [pa, pc])
}

#[test]
fn event_of_watcher_stopped_by_earlier_callback_is_not_delivered() {
    for_each_backend(|b| {
        let (mut lp, mut st, _peers) = two_readable(b, 50, |ctx, other| ctx.stop(other).unwrap());
        nowait(&mut lp, &mut st);
        assert_eq!(st.1.len(), 1, "the stopped watcher ran: {:?}", st.1);
        let first = st.1[0].0;
        let other = st.0[1 - first as usize];
        assert!(!lp.is_active(other));
        assert!(!lp.is_pending(other));
        // Its data is still there: started again, it fires.
        lp.start(other).unwrap();
        nowait(&mut lp, &mut st);
        assert_eq!(st.1, vec![(first, Events::READ), (1 - first, Events::READ)]);
    });
}

#[test]
fn event_of_watcher_removed_by_earlier_callback_is_not_delivered() {
    for_each_backend(|b| {
        let (mut lp, mut st, _peers) = two_readable(b, 60, |ctx, other| ctx.remove(other).unwrap());
        nowait(&mut lp, &mut st);
        assert_eq!(st.1.len(), 1, "the removed watcher ran: {:?}", st.1);
        let first = st.1[0].0;
        assert!(!lp.contains(st.0[1 - first as usize]));
        nowait(&mut lp, &mut st);
        assert_eq!(st.1.len(), 1);
    });
}

#[test]
fn event_of_removed_watcher_is_not_delivered_to_its_successor() {
    // The first callback removes the other watcher and creates a new one in
    // its place (slotmap reuses the freed slot), on a socket that has no
    // data, on the very same fd number. The old event must not reach it.
    for_each_backend(|b| {
        let (mut lp, mut st, _peers) = two_readable(b, 70, |ctx, other| {
            let fd = ctx.io_fd(other).unwrap();
            let (fresh, fresh_peer) = pair();
            ctx.remove(other).unwrap(); // closes `fd`
                                        // The lowest free number of this test's range is the one just freed.
            let fresh = UnixStream::from(dup_high(fresh.as_fd(), 70));
            assert_eq!(fresh.as_raw_fd(), fd, "same fd number expected");
            let succ = ctx
                .io(fresh, Events::READ, |_ctx, (_, log), _id, ev| {
                    log.push((99, ev));
                })
                .unwrap();
            ctx.start(succ).unwrap();
            assert!(!ctx.is_pending(succ));
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

#[test]
fn invalid_raw_fd_gets_error_event_and_is_stopped() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        // SAFETY: fd 9999 is not open; the loop only asks the kernel about it.
        let id = unsafe {
            lp.io_raw(9_999, Events::READ, |ctx, log, id, ev| {
                assert!(!ctx.is_active(id), "stopped before its callback");
                log.push((1, ev));
            })
        }
        .unwrap();
        lp.start(id).unwrap();
        let mut log = Log::new();
        let start = Instant::now();
        let alive = run_default(&mut lp, &mut log).unwrap();
        assert!(!alive, "nothing may be left active");
        assert!(start.elapsed() < Duration::from_secs(5), "took too long");
        assert_eq!(log, vec![(1, Events::ERROR | Events::READ)]);
        assert!(!lp.is_active(id));
        assert!(lp.contains(id), "stopped, not removed");
        // The loop keeps working for other watchers.
        let (a, _p) = pair();
        let w = recorder(&mut lp, a, Events::WRITE, 2);
        lp.start(w).unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log[1..], [(2, Events::WRITE)]);
    });
}

#[test]
fn invalid_fd_among_good_ones() {
    // The bad fd is reported to its own watcher only; good fds still work
    // (select fails as a whole with EBADF and must sort this out).
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut pa) = pair();
        let good = recorder(&mut lp, a, Events::READ, 1);
        // SAFETY: fd 9998 is not open; the loop only asks the kernel about it.
        let bad = unsafe {
            lp.io_raw(9_998, Events::READ | Events::WRITE, |_, log, _, ev| {
                log.push((2, ev))
            })
        }
        .unwrap();
        lp.start(good).unwrap();
        lp.start(bad).unwrap();
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
        assert!(!lp.is_active(bad));
        assert!(lp.is_active(good));
    });
}

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
        let id = unsafe { lp.io_raw(fd, Events::READ, |_, log, _, ev| log.push((1, ev))) }.unwrap();
        lp.start(id).unwrap();
        drop(high);
        let mut log = Log::new();
        let start = Instant::now();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(start.elapsed() < Duration::from_secs(5), "took too long");
        assert_eq!(log, vec![(1, Events::ERROR | Events::READ)]);
        assert!(!lp.is_active(id));
    });
}

#[test]
fn error_callback_may_restart_with_a_good_fd() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        // SAFETY: fd 9997 is not open; the loop only asks the kernel about it.
        let id = unsafe {
            lp.io_raw(9_997, Events::WRITE, |ctx, log, id, ev| {
                log.push((1, ev));
                if ev.contains(Events::ERROR) {
                    let (a, _b) = pair();
                    assert!(ctx.set_io_source(id, a).unwrap().is_none());
                    ctx.start(id).unwrap();
                } else {
                    ctx.remove(id).unwrap();
                }
            })
        }
        .unwrap();
        lp.start(id).unwrap();
        let mut log = Log::new();
        run_default(&mut lp, &mut log).unwrap();
        assert_eq!(
            log,
            vec![(1, Events::ERROR | Events::WRITE), (1, Events::WRITE)]
        );
    });
}

// ------------------------------------------------------------------ no ghost registrations

#[test]
fn removing_watcher_with_dup_fd_leaves_no_ghost() {
    // epoll registers file descriptions: if removing the watcher closed its
    // fd without deregistering it, the still-open duplicate would keep a
    // ghost registration that reports the (readable) description under the
    // old fd number: as a busy loop, as an extra wake-up (if the backend
    // recognises and purges ghosts), or to the next watcher on that number.
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let owned = dup_high(a.as_fd(), 10);
        let n = owned.as_raw_fd();
        let id = recorder(&mut lp, owned, Events::READ, 1);
        lp.start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registered with the kernel
        lp.remove(id).unwrap(); // closes `n`; `a` keeps the description
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
        lp.start(w).unwrap();
        let iterations = iterations_until_timer(&mut lp, &mut log);
        assert!(log.is_empty(), "ghost event delivered: {log:?}");
        assert_eq!(
            iterations, 1,
            "the loop woke up {iterations} times in 50 ms on a quiet socket"
        );
        drop(a);
    });
}

#[test]
fn raw_fd_closed_right_after_stop_leaves_no_ghost_for_the_next_watcher() {
    // The fd of a stopped raw watcher is closed before the loop could
    // deregister it (io_raw's contract asks for one more poll first), while
    // a duplicate keeps the file description, and so an epoll registration,
    // alive. A watcher made later with the safe API on the same fd number
    // must not get that ghost's events, and the loop must not spin on it.
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let high = dup_high(a.as_fd(), 20);
        let n = high.as_raw_fd();
        // SAFETY: `high` is closed below, after the stop and before the next
        // poll: events may be lost, which this test does not mind.
        let raw = unsafe { lp.io_raw(n, Events::READ, |_, log, _, ev| log.push((1, ev))) }.unwrap();
        lp.start(raw).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registered with the kernel
        lp.stop(raw).unwrap();
        drop(high); // too early: the loop has not deregistered `n` yet
        peer.write_all(b"ghost").unwrap();

        let (c, _pc) = pair();
        let fresh = dup_high(c.as_fd(), 20);
        assert_eq!(fresh.as_raw_fd(), n, "same number expected");
        let w = recorder(&mut lp, fresh, Events::READ, 2);
        lp.start(w).unwrap();
        let iterations = iterations_until_timer(&mut lp, &mut log);
        assert!(log.is_empty(), "ghost event delivered: {log:?}");
        assert!(
            iterations <= 3,
            "the loop spun: {iterations} wake-ups in 50 ms on a quiet socket"
        );
        drop(a);
    });
}

#[test]
fn set_io_source_deregisters_the_old_fd_before_returning_it() {
    // The old source is dropped at once while a duplicate keeps its file
    // description (readable) alive: it must not haunt the loop.
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let owned = dup_high(a.as_fd(), 30);
        let id = recorder(&mut lp, owned, Events::READ, 1);
        lp.start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log); // registered with the kernel
        lp.stop(id).unwrap();
        let (c, _pc) = pair();
        drop(lp.set_io_source(id, c).unwrap()); // closes the old fd now
        peer.write_all(b"ghost").unwrap();
        lp.start(id).unwrap();
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
    let t = lp
        .timer(
            Duration::from_millis(50),
            Duration::ZERO,
            |ctx, _, id, _| {
                ctx.break_loop(Break::All);
                ctx.remove(id).unwrap();
            },
        )
        .unwrap();
    let start = Instant::now();
    lp.now_update(); // count the 50 ms from now (not earlier than `start`)
    lp.start(t).unwrap();
    let it0 = lp.iteration();
    run_default(lp, log).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(!lp.contains(t), "the timer did not fire");
    lp.iteration() - it0
}

#[test]
fn closing_a_dup_does_not_disturb_the_watched_original() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let a2 = a.try_clone().unwrap();
        let id = recorder(&mut lp, a, Events::READ, 1);
        lp.start(id).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        drop(a2);
        peer.write_all(b"x").unwrap();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);
    });
}

// ------------------------------------------------------------------ feed_fd_event

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
        lp.start(r).unwrap();
        lp.start(other_fd).unwrap();

        lp.feed_fd_event(fd, Events::READ | Events::WRITE | Events::TIMER);
        assert!(lp.is_pending(r));
        assert!(!lp.is_pending(r_stopped), "stopped watchers get nothing");
        assert!(!lp.is_pending(other_fd));
        let mut log = Log::new();
        lp.invoke_pending(&mut log);
        assert_eq!(log, vec![(1, Events::READ)], "only its interest bits");

        // Fed before run: delivered by run, once.
        log.clear();
        lp.feed_fd_event(fd, Events::READ);
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::READ)]);

        // Bits the watcher does not want: nothing.
        log.clear();
        lp.feed_fd_event(fd, Events::WRITE);
        assert_eq!(lp.pending_count(), 0);
        // Unknown and negative fds: nothing, no panic.
        lp.feed_fd_event(-1, Events::READ);
        lp.feed_fd_event(4_000, Events::READ);
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "{log:?}");
    });
}

#[test]
fn feed_fd_event_from_a_callback() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _pa) = pair();
        let (c, _pc) = pair();
        let c_fd = c.as_raw_fd();
        let target = recorder(&mut lp, c, Events::READ, 2);
        let feeder = lp
            .io(a, Events::WRITE, move |ctx, log, id, ev| {
                log.push((1, ev));
                ctx.feed_fd_event(c_fd, Events::READ);
                ctx.stop(id).unwrap();
            })
            .unwrap();
        lp.start(feeder).unwrap();
        lp.start(target).unwrap();
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert_eq!(log, vec![(1, Events::WRITE), (2, Events::READ)]);
    });
}

// ------------------------------------------------------------------ once_io

#[test]
fn once_io_with_data_gets_read_and_cleans_up() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        lp.once_io(
            a,
            Events::READ,
            Some(Duration::from_secs(30)),
            |ctx, log, ev| {
                assert_eq!(ctx.depth(), 1);
                log.push((1, ev));
            },
        )
        .unwrap();
        assert_eq!(lp.refs(), 2, "io and timer are active");
        peer.write_all(b"x").unwrap();
        let mut log = Log::new();
        let start = Instant::now();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        // The timer was removed with the io watcher: no 30 s wait.
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(log, vec![(1, Events::READ)]);
        assert_eq!(lp.refs(), 0);
        assert_eq!(lp.pending_count(), 0);
        // The source was dropped with the watchers: the peer sees EOF.
        assert_peer_closed(&mut peer);
    });
}

#[test]
fn once_io_without_timeout() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, _peer) = pair();
        lp.once_io(a, Events::WRITE, None, |_, log, ev| log.push((1, ev)))
            .unwrap();
        assert_eq!(lp.refs(), 1);
        let mut log = Log::new();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert_eq!(log, vec![(1, Events::WRITE)]);
    });
}

#[test]
fn once_io_times_out_with_timer() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, peer) = pair();
        lp.once_io(
            a,
            Events::READ,
            Some(Duration::from_millis(20)),
            |_, log, ev| log.push((1, ev)),
        )
        .unwrap();
        let mut log = Log::new();
        let start = Instant::now();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(log, vec![(1, Events::TIMER)]);
        // The io watcher went away with its source: the peer sees EOF.
        let mut peer = peer;
        assert_peer_closed(&mut peer);
    });
}

#[test]
fn cancel_once_never_calls_and_releases() {
    for_each_backend(|b| {
        let mut lp: Loop<Log> = new_loop(b);
        let (a, mut peer) = pair();
        let once = lp
            .once_io(
                a,
                Events::READ,
                Some(Duration::from_millis(1)),
                |_, log, ev| log.push((1, ev)),
            )
            .unwrap();
        peer.write_all(b"x").unwrap();
        lp.cancel_once(once);
        assert_eq!(lp.refs(), 0);
        let mut log = Log::new();
        std::thread::sleep(Duration::from_millis(2));
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert!(log.is_empty(), "cancelled once ran: {log:?}");
        // Cancelling again (or after it ran) does nothing.
        lp.cancel_once(once);

        // Cancelled from a callback while both its events are pending.
        let (c, mut pc) = pair();
        let once = lp
            .once_io(c, Events::READ, Some(Duration::ZERO), |_, log, ev| {
                log.push((2, ev))
            })
            .unwrap();
        pc.write_all(b"y").unwrap();
        let (d, _pd) = pair();
        let canceller = lp
            .io(d, Events::WRITE, move |ctx, log, id, ev| {
                log.push((3, ev));
                ctx.cancel_once(once);
                ctx.remove(id).unwrap();
            })
            .unwrap();
        lp.set_priority(canceller, Priority::MAX).unwrap();
        lp.start(canceller).unwrap();
        assert!(!run_default(&mut lp, &mut log).unwrap());
        assert_eq!(log, vec![(3, Events::WRITE)]);
    });
}
