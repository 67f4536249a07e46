//! A peer that went away must be an error value, not a dead process, even
//! where `SIGPIPE` has its default action (a C host, or a program that
//! restored it), and even when the default was restored after the stream
//! was made. Rust test binaries ignore `SIGPIPE` like every Rust binary,
//! so this test restores the default itself: it needs its own process,
//! hence `harness = false`. If a stream ever sent without `MSG_NOSIGNAL`
//! here (or used `sendfile`, which has no such flag), the kernel would
//! kill this process and the test would fail with "signal: 13".

mod common;

use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use evloop::{Loop, RunMode};
use evloop_buffer::{StreamEvent, StreamExt, StreamId};

/// What a stream's event callback saw: the error kind and the bytes left
/// unsent.
type Seen = Option<(ErrorKind, usize)>;

fn main() {
    println!("\nrunning 3 tests");
    // Made while SIGPIPE is still ignored (std's default for Rust
    // binaries), written to after the default is back.
    let mut early: Loop<Seen> = Loop::new().unwrap();
    let (a, b) = early.ctx().new_stream_pair().unwrap();

    // SAFETY: installing SIG_DFL is async-signal-safe and this runs before
    // any other thread exists.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR);

    early.ctx().stream(b).unwrap().close();
    queue(&mut early, a, |s| s.write(&[0u8; 4096]));
    assert_eq!(run(&mut early), Some((ErrorKind::BrokenPipe, 4096)));
    println!("test epipe_with_sigpipe_restored_after_the_stream_was_made ... ok");

    let mut lp: Loop<Seen> = Loop::new().unwrap();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx().stream(b).unwrap().close();
    queue(&mut lp, a, |s| s.write(&[0u8; 4096]));
    assert_eq!(run(&mut lp), Some((ErrorKind::BrokenPipe, 4096)));
    println!("test epipe_with_default_sigpipe_is_an_error_event ... ok");

    // A file segment cannot go out with sendfile now: it is read and sent
    // in pieces, every byte in order to a live peer, and to a closed one
    // it is an error event too.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let file = common::temp_file("sigpipe", &data);
    let (mut outside, inside) = UnixStream::pair().unwrap();
    let id = lp.ctx().new_stream(inside).unwrap();
    let segment = Arc::clone(&file);
    queue(&mut lp, id, move |s| {
        s.write(b"head");
        s.output().add_file(segment, 5, 200_000).unwrap();
    });
    let drain = std::thread::spawn(move || {
        let mut got = vec![0u8; 4 + 200_000];
        outside.read_exact(&mut got).unwrap();
        drop(outside); // the peer goes away
        got
    });
    // Sent whole: the stream closes once its output is empty.
    lp.ctx().stream(id).unwrap().on_write(|ctx, _, id| {
        ctx.stream(id).unwrap().close();
    });
    assert_eq!(run(&mut lp), None);
    let got = drain.join().unwrap();
    assert_eq!(&got[..4], b"head");
    assert!(got[4..] == data[5..200_005], "the segment arrives intact");

    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    lp.ctx().stream(b).unwrap().close();
    queue(&mut lp, a, move |s| {
        s.output().add_file(file, 0, 100_000).unwrap()
    });
    let seen = run(&mut lp);
    assert_eq!(seen.map(|(kind, _)| kind), Some(ErrorKind::BrokenPipe));
    println!("test file_segments_with_default_sigpipe ... ok\n");
    println!("test result: ok. 3 passed; 0 failed\n");
}

/// Queues output on stream `id` with `fill`, and records its error.
fn queue(
    lp: &mut Loop<Seen>,
    id: StreamId,
    fill: impl FnOnce(&mut evloop_buffer::BufferedStream<'_, Seen>),
) {
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(id).unwrap();
    fill(&mut s);
    s.on_event(|ctx, seen, id, ev| {
        if let StreamEvent::Error { error, unsent, .. } = ev {
            *seen = Some((error.kind(), unsent));
        }
        ctx.stream(id).unwrap().close();
    });
}

fn run(lp: &mut Loop<Seen>) -> Seen {
    let mut seen = None;
    lp.run(&mut seen, RunMode::Default).unwrap();
    seen
}
