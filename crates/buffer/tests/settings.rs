//! What users reached through the streams' and listeners' io watchers
//! before (`StreamId::io()`, `ListenerId::io()`), now on the stream and the
//! listener: priority, keepalive, whether a stream is active, the
//! listener's socket.

mod common;

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use evloop::{Loop, Priority, RunMode};
use evloop_buffer::{
    Direction, ListenAddr, ListenerEvent, ListenerExt, ListenerOptions, StreamExt, StreamId,
};

use common::{run_ends_within, run_to_end};

const SHORT: Duration = Duration::from_millis(100);

/// A one-shot timer that does not keep the loop going: it sets `*flag` if
/// the loop is still running after `after`, and breaks it.
fn probe<T: 'static>(lp: &mut Loop<T>, after: Duration, flag: fn(&mut T)) {
    let mut ctx = lp.ctx();
    let t = ctx
        .new_timer(after, Duration::ZERO, move |ctx, data, _, _| {
            flag(data);
            ctx.break_loop(evloop::Break::All);
        })
        .unwrap();
    let mut w = ctx.timer(t).unwrap();
    w.set_keepalive(false);
    w.start().unwrap();
}

#[derive(Default)]
struct Seen {
    got: Vec<u8>,
    still_running: bool,
    order: Vec<&'static str>,
    paused: u32,
}

#[test]
fn an_open_stream_keeps_run_going_unless_keepalive_is_off() {
    let mut lp: Loop<Seen> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    let mut seen = Seen::default();
    // Both wait for input: by default that keeps run going.
    probe(&mut lp, SHORT, |s| s.still_running = true);
    lp.run(&mut seen, RunMode::Default).unwrap();
    assert!(seen.still_running, "an idle stream keeps the loop alive");

    // a: timeouts before keepalive is turned off, b: after; both kinds of
    // watcher (io, timers) must follow.
    lp.ctx()
        .stream(a)
        .unwrap()
        .set_timeouts(Some(Duration::from_secs(60)), None)
        .unwrap();
    for id in [a, b] {
        let mut ctx = lp.ctx();
        let mut s = ctx.stream(id).unwrap();
        assert!(s.keepalive());
        s.set_keepalive(false);
        assert!(!s.keepalive());
    }
    lp.ctx()
        .stream(b)
        .unwrap()
        .set_timeouts(Some(Duration::from_secs(60)), None)
        .unwrap();
    assert!(lp.ctx().stream(a).unwrap().is_active());
    let mut seen = Seen::default();
    probe(&mut lp, common::PATIENCE, |s| s.still_running = true);
    assert!(!lp.run(&mut seen, RunMode::Default).unwrap());
    assert!(!seen.still_running, "run returned although both are open");
    assert!(lp.ctx().stream(a).is_ok() && lp.ctx().stream(b).is_ok());
}

#[test]
fn a_stream_without_keepalive_is_still_served() {
    let mut lp: Loop<Seen> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    for id in [a, b] {
        lp.ctx().stream(id).unwrap().set_keepalive(false);
    }
    lp.ctx().stream(b).unwrap().on_read(|ctx, seen, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        seen.got.extend_from_slice(&s.input().split_to(n));
    });
    lp.ctx().stream(a).unwrap().write(b"ping");
    // Something else keeps the loop running for a while.
    let mut ctx = lp.ctx();
    let t = ctx
        .new_timer(Duration::from_millis(30), Duration::ZERO, |_, _, _, _| {})
        .unwrap();
    ctx.start(t).unwrap();
    let mut seen = Seen::default();
    run_to_end(&mut lp, &mut seen);
    assert_eq!(seen.got, b"ping");
}

#[test]
fn a_stream_is_active_while_it_waits_on_its_socket() {
    let mut lp: Loop<Seen> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    let active = |lp: &mut Loop<Seen>| lp.ctx().watcher_count().active;
    assert!(lp.ctx().stream(a).unwrap().is_active(), "reading");
    assert_eq!(active(&mut lp), 2);

    lp.ctx().stream(a).unwrap().disable(Direction::Read);
    assert!(
        !lp.ctx().stream(a).unwrap().is_active(),
        "neither reading nor writing"
    );
    assert_eq!(active(&mut lp), 1, "its watcher stopped");

    lp.ctx().stream(b).unwrap().disable(Direction::Read);
    lp.ctx().stream(a).unwrap().write(&vec![0u8; 8 << 20]); // more than the socket takes
    let mut seen = Seen::default();
    common::spin(&mut lp, &mut seen, 5);
    let mut ctx = lp.ctx();
    let s = ctx.stream(a).unwrap();
    assert!(s.is_active(), "output queued: writing");
    drop(s);
    assert_eq!(active(&mut lp), 1);

    // At EOF with nothing to send, a stream waits for nothing.
    let (c, d) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx().stream(d).unwrap().on_event(|_, _, _, _| {}); // stays open at EOF
    lp.ctx().stream(c).unwrap().close();
    common::spin(&mut lp, &mut seen, 5);
    let mut ctx = lp.ctx();
    let s = ctx.stream(d).unwrap();
    assert!(s.is_eof());
    assert!(!s.is_active());
}

/// A pair made of a std socket the test writes to and a stream.
fn fed_stream(lp: &mut Loop<Seen>) -> (UnixStream, StreamId) {
    let (outside, inside) = UnixStream::pair().unwrap();
    let id = lp.ctx().new_stream(inside).unwrap();
    (outside, id)
}

#[test]
fn priorities_order_the_callbacks_of_one_iteration() {
    // Both orders, so that a test passing by the backend's order of
    // readiness would fail one of them.
    for (first, second) in [(0, 1), (1, 0)] {
        let mut lp: Loop<Seen> = Loop::new().unwrap();
        let names = ["one", "two"];
        let mut outside = Vec::new();
        for name in names {
            let (o, id) = fed_stream(&mut lp);
            lp.ctx().stream(id).unwrap().on_read(move |ctx, seen, id| {
                seen.order.push(name);
                ctx.stream(id).unwrap().input().clear();
            });
            outside.push((o, id));
        }
        let mut ctx = lp.ctx();
        let mut s = ctx.stream(outside[first].1).unwrap();
        s.set_priority(Priority::MAX);
        assert_eq!(s.priority(), Priority::MAX);
        drop(s);
        ctx.stream(outside[second].1)
            .unwrap()
            .set_priority(Priority::MIN);
        for (o, _) in &mut outside {
            o.write_all(b"x").unwrap();
        }
        let mut seen = Seen::default();
        lp.run(&mut seen, RunMode::Once).unwrap(); // both readable in this one
        assert_eq!(seen.order, [names[first], names[second]]);
    }
}

#[test]
fn a_new_stream_has_the_default_priority_and_keepalive() {
    let mut lp: Loop<Seen> = Loop::new().unwrap();
    let (a, _b) = lp.ctx().new_stream_pair().unwrap();
    let mut ctx = lp.ctx();
    let s = ctx.stream(a).unwrap();
    assert_eq!(s.priority(), Priority::DEFAULT);
    assert!(s.keepalive());
}

#[test]
fn listener_priority_keepalive_and_socket() {
    let mut lp: Loop<Seen> = Loop::new().unwrap();
    let lid = lp
        .ctx()
        .listen("127.0.0.1:0", &ListenerOptions::new(), |_, seen, _, _| {
            seen.got.push(b'+');
        })
        .unwrap();
    let mut ctx = lp.ctx();
    let mut l = ctx.listener(lid).unwrap();
    assert_eq!(l.priority(), Priority::DEFAULT);
    l.set_priority(Priority::new(1).unwrap());
    assert_eq!(l.priority(), Priority::new(1).unwrap());
    // fd() is the listening socket itself.
    let dup = TcpListener::from(l.fd().try_clone_to_owned().unwrap());
    assert_eq!(
        ListenAddr::Tcp(dup.local_addr().unwrap()),
        l.local_addr().unwrap()
    );
    let addr = dup.local_addr().unwrap();
    drop(dup);

    assert!(l.keepalive());
    l.set_keepalive(false);
    assert!(!l.keepalive());
    let mut seen = Seen::default();
    assert!(
        run_ends_within(&mut lp, &mut seen, common::PATIENCE),
        "a listener without keepalive does not keep run going"
    );
    assert!(lp.ctx().listener(lid).is_ok(), "still listening");
    // ... and still accepts while something else runs the loop.
    let _client = TcpStream::connect(addr).unwrap();
    let mut ctx = lp.ctx();
    let t = ctx
        .new_timer(Duration::from_millis(30), Duration::ZERO, |_, _, _, _| {})
        .unwrap();
    ctx.start(t).unwrap();
    run_to_end(&mut lp, &mut seen);
    assert_eq!(seen.got, b"+");
}

/// A listener whose socket stops listening (shut down behind its back):
/// accepting fails with `EINVAL` at every retry, so it stays paused.
fn broken_listener(lp: &mut Loop<Seen>) -> evloop_buffer::ListenerId {
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let dup: OwnedFd = std_listener.try_clone().unwrap().into();
    let opts =
        ListenerOptions::new().retry_delays(Duration::from_millis(5), Duration::from_millis(5));
    let lid = lp
        .ctx()
        .listen_on(std_listener, &opts, |_, _, _, _| {})
        .unwrap();
    lp.ctx().listener(lid).unwrap().on_event(|_, seen, _, ev| {
        if let ListenerEvent::Paused { .. } = ev {
            seen.paused += 1;
        }
    });
    // shutdown(2) on a listening socket makes it stop listening; std
    // offers it on TcpStream, which the fd becomes for this one call.
    let _ = TcpStream::from(dup).shutdown(Shutdown::Both);
    lid
}

#[test]
fn a_paused_listener_keeps_run_going() {
    let mut lp: Loop<Seen> = Loop::new().unwrap();
    let lid = broken_listener(&mut lp);
    probe(&mut lp, SHORT, |s| s.still_running = true);
    let mut seen = Seen::default();
    lp.run(&mut seen, RunMode::Default).unwrap();
    assert_eq!(seen.paused, 1, "accepting failed and paused");
    assert!(
        seen.still_running,
        "run returned while the listener was paused: a server out of fds would exit"
    );
    assert!(lp.ctx().listener(lid).unwrap().is_paused());
    lp.ctx().listener(lid).unwrap().close();
    let mut seen = Seen::default();
    assert!(run_ends_within(&mut lp, &mut seen, common::PATIENCE));
}

#[test]
fn a_paused_listener_without_keepalive_lets_run_return() {
    let mut lp: Loop<Seen> = Loop::new().unwrap();
    let lid = broken_listener(&mut lp);
    // Keepalive goes off during the pause (from the event callback), so it
    // must reach the retry timer that is running by then.
    lp.ctx()
        .listener(lid)
        .unwrap()
        .on_event(|ctx, seen, lid, ev| {
            if let ListenerEvent::Paused { .. } = ev {
                seen.paused += 1;
                ctx.listener(lid).unwrap().set_keepalive(false);
            }
        });
    let mut seen = Seen::default();
    assert!(run_ends_within(&mut lp, &mut seen, common::PATIENCE));
    assert_eq!(seen.paused, 1);
    assert!(
        lp.ctx().listener(lid).unwrap().is_paused(),
        "still there, paused"
    );
}
