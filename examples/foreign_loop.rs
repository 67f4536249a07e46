//! Driving an evloop loop from someone else's event loop: here a plain
//! `poll(2)` loop that also serves an fd of its own.
//!
//! ```text
//! cargo run --example foreign_loop -- [--ticks N] [--interval MS]
//! ```
//!
//! The two sides play ping-pong in one thread. An evloop timer sends
//! "tick N" over a socket that the *foreign* loop reads; the foreign loop
//! answers "ack N" over a second socket, which an evloop io watcher reads.
//! After N acks evloop closes its end, the foreign loop sees end of file,
//! and the program ends.
//!
//! What it shows, the recipe for any foreign loop (GLib, a game loop, a C
//! library's poll loop), once per round:
//!
//! 1. [`Ctx::flush_fd_changes`]: watchers started or changed since the last
//!    round reach the kernel's epoll set, which is what the foreign loop
//!    will wait on.
//! 2. [`Ctx::next_timeout`]: how long the foreign loop may sleep. Timers do
//!    not make the epoll fd readable, so without this one the ticks would
//!    never come.
//! 3. Poll [`Ctx::backend_fd`] (readable when an evloop io watcher has an
//!    event) together with the foreign fds, for at most that long.
//! 4. [`Ctx::run`] with [`RunMode::NoWait`]: evloop handles whatever is
//!    ready (io and due timers) without blocking.
//!
//! Only the epoll backend has a backend fd, so the loop is built with
//! exactly that one.
//!
//! Ctrl-C (SIGINT) ends the game early, and cleanly: an evloop signal
//! watcher (which does not keep the loop alive) removes evloop's watchers
//! and closes the tick socket, so both sides finish as after the last ack,
//! and the program exits with status 0. The signal reaches evloop through
//! its backend fd like any io event.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use evloop::{signum, Backend, Ctx, Events, IoId, Loop, RunMode, SignalId, TimerId};

const USAGE: &str = "\
usage: foreign_loop [--ticks N] [--interval MS]

A poll(2) loop drives an evloop loop: evloop's timer sends ticks to the
poll loop, which acks them back to an evloop io watcher. Ctrl-C (SIGINT)
ends it early, with status 0.

options:
  --ticks N       how many ticks (default 5)
  --interval MS   time between ticks (default 200)
  --help          print this and exit";

/// The evloop side's state, lent to its callbacks.
struct EvSide {
    ticks: u32,
    sent: u32,
    acks: u32,
    /// The write end of the tick socket; dropped (closed) when done.
    tick_tx: Option<UnixStream>,
    timer: TimerId,
    acks_io: IoId<UnixStream>,
    interrupt: SignalId,
    error: Option<io::Error>,
}

fn main() -> ExitCode {
    let (ticks, interval) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("foreign_loop: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match ping_pong(ticks, interval) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("foreign_loop: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<(u32, Duration)>, String> {
    let (mut ticks, mut interval) = (5, Duration::from_millis(200));
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a number"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--ticks" => {
                let v = value()?;
                ticks = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--ticks: {v:?} is not a positive number"))?;
            }
            "--interval" => {
                let v = value()?;
                let ms = v
                    .parse()
                    .map_err(|_| format!("--interval: {v:?} is not a number"))?;
                interval = Duration::from_millis(ms);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some((ticks, interval)))
}

fn ping_pong(ticks: u32, interval: Duration) -> Result<(), Box<dyn std::error::Error>> {
    // Exactly epoll, whatever EVLOOP_BACKEND says: poll and select keep no
    // kernel object that a foreign loop could wait on.
    let mut lp: Loop<EvSide> = Loop::builder()
        .backend(Backend::Epoll)
        .ignore_env(true)
        .build()?;
    let (tick_tx, mut tick_rx) = UnixStream::pair()?; // evloop -> foreign
    let (mut ack_tx, ack_rx) = UnixStream::pair()?; // foreign -> evloop
    ack_rx.set_nonblocking(true)?;
    tick_rx.set_nonblocking(true)?;

    let mut ctx = lp.ctx();
    let timer = ctx.new_timer(interval, interval, on_tick)?;
    let acks = ctx.new_io(ack_rx, Events::READ, on_ack)?;
    ctx.start(timer)?;
    ctx.start(acks)?;
    let interrupt = ctx.new_signal(signum::SIGINT, |ctx, ev, _id, _e| {
        println!("evloop: SIGINT, stopping");
        finish(ctx, ev);
    })?;
    // Only the game keeps evloop's side alive, not the wait for Ctrl-C.
    let mut w = ctx.signal(interrupt)?;
    w.set_keepalive(false);
    w.start()?;
    let mut ev = EvSide {
        ticks,
        sent: 0,
        acks: 0,
        tick_tx: Some(tick_tx),
        timer,
        acks_io: acks,
        interrupt,
        error: None,
    };

    // The foreign loop. Its own state: the tick socket and a line buffer.
    let mut pending = Vec::new();
    let mut tick_eof = false;
    let mut rounds = 0u32;
    while !tick_eof || lp.ctx().refs() > 0 {
        rounds += 1;
        // 1. and 2.: evloop's fd set up to date, and its deadline.
        let mut ctx = lp.ctx();
        ctx.flush_fd_changes()?;
        let timeout_ms = match ctx.next_timeout() {
            // Round up: waking a little before the timer is due would only
            // spin through an empty round.
            Some(d) => i32::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX),
            None => -1,
        };
        let backend = ctx
            .backend_fd()
            .ok_or("the epoll backend has no backend fd")?
            .as_raw_fd();
        let mut fds = [
            libc::pollfd {
                fd: backend,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // A negative fd is skipped by poll: the socket is done.
                fd: if tick_eof { -1 } else { tick_rx.as_raw_fd() },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // 3.: wait for either side.
        // SAFETY: `fds` is a valid array of two initialised pollfds that
        // outlives the call, and its length is passed with it.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
        if fds[1].revents != 0 {
            tick_eof = foreign_read(&mut tick_rx, &mut pending, &mut ack_tx)?;
        }
        // 4.: evloop's turn, without blocking. Calling it every round is
        // simplest: it costs one epoll_wait with a zero timeout, and it
        // runs due timers even when the backend fd was not readable.
        lp.run(&mut ev, RunMode::NoWait)?;
        if let Some(e) = ev.error.take() {
            return Err(e.into());
        }
    }
    println!(
        "done: {} ticks sent, {} acks received, {rounds} poll rounds",
        ev.sent, ev.acks
    );
    Ok(())
}

/// The foreign loop's handler: reads ticks, answers each complete line.
/// Returns whether the tick socket reached end of file.
fn foreign_read(
    rx: &mut UnixStream,
    pending: &mut Vec<u8>,
    ack_tx: &mut UnixStream,
) -> io::Result<bool> {
    let mut buf = [0; 256];
    loop {
        match rx.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            println!("foreign: got {line}");
            if let Some(n) = line.strip_prefix("tick ") {
                // A few bytes into an empty socket buffer: never blocks.
                match ack_tx.write_all(format!("ack {n}\n").as_bytes()) {
                    Ok(()) => {}
                    // After Ctrl-C evloop has closed its end: the tick was
                    // already on its way, and nobody waits for its ack.
                    Err(e) if e.kind() == ErrorKind::BrokenPipe => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// evloop's timer: send the next tick to the foreign loop.
fn on_tick(ctx: &mut Ctx<'_, EvSide>, ev: &mut EvSide, id: TimerId, _e: Events) {
    let Some(tx) = &mut ev.tick_tx else {
        return;
    };
    ev.sent += 1;
    if let Err(e) = tx.write_all(format!("tick {}\n", ev.sent).as_bytes()) {
        ev.error = Some(e);
    }
    println!("evloop: sent tick {}", ev.sent);
    if ev.sent == ev.ticks {
        let _ = ctx.stop(id);
    }
}

/// evloop's io watcher: count acks; after the last, close everything.
fn on_ack(ctx: &mut Ctx<'_, EvSide>, ev: &mut EvSide, id: IoId<UnixStream>, _e: Events) {
    let mut buf = [0; 256];
    let read = match ctx.io(id) {
        Ok(w) => w.source().read(&mut buf),
        Err(e) => unreachable!("the ack watcher exists while it runs: {e}"),
    };
    match read {
        Ok(0) => {
            ev.error = Some(io::Error::new(ErrorKind::UnexpectedEof, "acks ended early"));
            let _ = ctx.remove(id);
        }
        Ok(n) => {
            // Count line ends: a read may hold several acks, or part of one.
            for _ in buf[..n].iter().filter(|&&b| b == b'\n') {
                ev.acks += 1;
                println!("evloop: got ack {}", ev.acks);
            }
            if ev.acks >= ev.ticks {
                finish(ctx, ev);
            }
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
        Err(e) => {
            ev.error = Some(e);
            let _ = ctx.remove(id);
        }
    }
}

/// The game is over (all acks in, or Ctrl-C): remove evloop's watchers and
/// close the tick socket. Nothing active is left in evloop, and the foreign
/// loop sees end of file on the tick socket.
fn finish(ctx: &mut Ctx<'_, EvSide>, ev: &mut EvSide) {
    let _ = ctx.remove(ev.acks_io);
    let _ = ctx.remove(ev.timer);
    let _ = ctx.remove(ev.interrupt);
    ev.tick_tx = None;
}
