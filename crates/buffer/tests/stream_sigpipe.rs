//! A peer that went away must be an error value, not a dead process, even
//! where `SIGPIPE` has its default action (a C host, or a program that
//! restored it). Rust test binaries ignore `SIGPIPE` like every Rust
//! binary, so this test restores the default first: it needs its own
//! process, hence `harness = false`. If a stream ever wrote without
//! `MSG_NOSIGNAL` here, the kernel would kill this process and the test
//! would fail with "signal: 13".

use std::io::ErrorKind;

use evloop::{Loop, RunMode};
use evloop_buffer::{StreamEvent, StreamExt};

fn main() {
    println!("\nrunning 1 test");
    // SAFETY: installing SIG_DFL is async-signal-safe and this runs before
    // any other thread exists.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR);

    let mut lp: Loop<Option<(ErrorKind, usize)>> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx().stream(b).unwrap().close();
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    s.write(&[0u8; 4096]);
    s.on_event(|ctx, got, id, ev| {
        if let StreamEvent::Error { error, unsent, .. } = ev {
            *got = Some((error.kind(), unsent));
        }
        ctx.stream(id).unwrap().close();
    });
    drop(s);
    let mut got = None;
    lp.run(&mut got, RunMode::Default).unwrap();
    assert_eq!(got, Some((ErrorKind::BrokenPipe, 4096)));
    println!("test epipe_with_default_sigpipe_is_an_error_event ... ok\n");
    println!("test result: ok. 1 passed; 0 failed\n");
}
