//! Cleanup watchers: run when the loop is dropped, before its watchers go.

mod common;

use std::cell::RefCell;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use common::{for_each_backend, new_loop};
use evloop::{Events, RunMode};

#[test]
fn active_cleanups_run_on_drop_with_watchers_still_there() {
    for_each_backend(|b| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut lp = new_loop::<()>(b);
        let (a, mut peer) = UnixStream::pair().unwrap();
        let mut ctx = lp.ctx();
        let io = ctx.new_io(a, Events::READ, |_, _, _, _| {}).unwrap();
        ctx.start(io).unwrap();
        for name in ["first", "second"] {
            let log = log.clone();
            let c = ctx
                .new_cleanup(move |ctx, _| {
                    log.borrow_mut().push(name.to_string());
                    // The io watcher and its socket are still there: take
                    // the socket back (here: just check it is reachable).
                    if name == "first" {
                        let s: UnixStream = ctx.io(io).unwrap().into_source();
                        drop(s);
                    }
                })
                .unwrap();
            ctx.start(c).unwrap();
        }
        let l2 = log.clone();
        let stopped = ctx
            .new_cleanup(move |_, _| l2.borrow_mut().push("stopped".into()))
            .unwrap();
        let _ = stopped;
        drop(lp);
        log.borrow_mut().sort();
        assert_eq!(
            *log.borrow(),
            ["first", "second"],
            "[{b}] stopped ones do not run"
        );
        // The socket was closed by the cleanup: the peer sees EOF.
        let mut buf = [0u8; 1];
        assert_eq!(peer.read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn cleanup_does_not_keep_run_going_and_removal_cancels_it() {
    let ran = Rc::new(RefCell::new(0));
    let mut lp = new_loop::<()>(evloop::Backend::Epoll);
    let r = ran.clone();
    let mut ctx = lp.ctx();
    let c = ctx.new_cleanup(move |_, _| *r.borrow_mut() += 1).unwrap();
    ctx.start(c).unwrap();
    assert!(ctx.is_active(c));
    assert_eq!(ctx.refs(), 0, "an active cleanup holds no reference");
    assert!(!lp.run(&mut (), RunMode::Default).unwrap());
    lp.ctx().remove(c).unwrap();
    drop(lp);
    assert_eq!(*ran.borrow(), 0);
}

/// A cleanup's callback replaced with `set_callback` is the one that runs
/// on drop; feeding a cleanup watcher runs its callback in the next `run`
/// (and it still runs on drop, being active).
#[test]
fn replaced_callback_runs_on_drop_and_a_fed_cleanup_runs_in_run() {
    for_each_backend(|b| {
        let log = Rc::new(RefCell::new(Vec::<&str>::new()));
        let mut lp = new_loop::<()>(b);
        let mut ctx = lp.ctx();
        let l = log.clone();
        let c = ctx
            .new_cleanup(move |_, _| l.borrow_mut().push("old"))
            .unwrap();
        let l = log.clone();
        let mut w = ctx.cleanup(c).unwrap();
        w.set_callback(move |_, _| l.borrow_mut().push("new"));
        w.start().unwrap();
        w.feed(Events::CUSTOM).unwrap();
        lp.run(&mut (), RunMode::NoWait).unwrap();
        assert_eq!(*log.borrow(), ["new"], "[{b}] fed cleanup");
        drop(lp);
        assert_eq!(*log.borrow(), ["new", "new"], "[{b}] on drop");
    });
}
