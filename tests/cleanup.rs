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
        let io = lp.io(a, Events::READ, |_, _, _, _| {}).unwrap();
        lp.start(io).unwrap();
        for name in ["first", "second"] {
            let log = log.clone();
            let c = lp
                .cleanup(move |ctx, _| {
                    log.borrow_mut().push(name.to_string());
                    // The io watcher and its socket are still there: take
                    // the socket back (here: just check it is reachable).
                    if name == "first" {
                        let s: UnixStream = ctx.remove_io(io).unwrap();
                        drop(s);
                    }
                })
                .unwrap();
            lp.start(c).unwrap();
        }
        let l2 = log.clone();
        let stopped = lp
            .cleanup(move |_, _| l2.borrow_mut().push("stopped".into()))
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
    let c = lp.cleanup(move |_, _| *r.borrow_mut() += 1).unwrap();
    lp.start(c).unwrap();
    assert!(lp.is_active(c));
    assert!(!lp.run(&mut (), RunMode::Default).unwrap());
    lp.remove(c).unwrap();
    drop(lp);
    assert_eq!(*ran.borrow(), 0);
}
