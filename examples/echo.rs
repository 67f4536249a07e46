//! An echo server on raw io watchers, with a per-connection idle timeout.
//!
//! ```text
//! cargo run --release --example echo -- [--listen ADDR:PORT] [--idle-timeout SECS]
//! nc 127.0.0.1 7000
//! ```
//!
//! What it shows:
//!
//! * A non-blocking listener in an io watcher that accepts until
//!   `WouldBlock` (level-triggered, so whatever is left is reported again).
//! * One io watcher per connection that *owns* its `TcpStream`: removing the
//!   watcher closes the socket.
//! * Back-pressure without losing a byte: bytes the socket would not take
//!   stay in the connection's buffer, and the watcher then waits for WRITE
//!   only. While it does not read, the client's further data waits in the
//!   kernel, and a client that keeps sending without reading eventually
//!   blocks in its own write: memory per connection stays bounded.
//! * One timer per connection with `repeat` = the idle timeout, pushed back
//!   with [`Watcher::again`] on every activity (libev's idiom for idle
//!   timeouts, which evloop makes cheap).
//! * Application state (`App`) lent to every callback as `&mut App`: no
//!   `Rc<RefCell<_>>`.
//! * It prints where it listens (`echo: listening on ...`). SIGINT (Ctrl-C)
//!   or SIGTERM shuts it down in order: signal watchers stop accepting and
//!   close every connection, `run` returns once nothing is left, and the
//!   program exits with status 0.
//!
//! [`Watcher::again`]: evloop::Watcher::again

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use evloop::{signum, Ctx, Events, IoId, Loop, Once, RunMode, SignalId, TimerId};

const USAGE: &str = "\
usage: echo [--listen ADDR:PORT] [--idle-timeout SECS]

An echo server on evloop: every byte a client sends comes back to it.
A connection that stays idle for the timeout is closed. SIGINT (Ctrl-C)
or SIGTERM closes every connection and exits with status 0.

options:
  --listen ADDR:PORT     address to listen on (default 127.0.0.1:7000;
                         port 0 picks a free port, printed at start)
  --idle-timeout SECS    close connections idle this long (default 30;
                         fractions such as 0.5 are allowed)
  --help                 print this and exit

Talk to it with: nc 127.0.0.1 7000
The backend can be forced with EVLOOP_BACKEND=epoll|poll|select.";

/// Bytes read from a connection per READ event at most, so that one fast
/// client cannot hold up the others for long (the watcher is
/// level-triggered: what is left is reported again next iteration).
const READ_BUDGET: usize = 256 * 1024;

/// The command line.
struct Options {
    listen: SocketAddr,
    idle_timeout: Duration,
}

/// Why a connection was closed.
enum Close {
    Eof,
    IdleTimeout,
    Shutdown,
    Error(io::Error),
}

/// The state of one connection (its watchers own the socket and the timer).
struct Conn {
    peer: SocketAddr,
    timer: TimerId,
    /// Bytes read but not yet written back. While this is not empty the
    /// connection waits for WRITE only and does not read.
    unsent: Vec<u8>,
}

/// The application state that `run` lends to every callback.
struct App {
    idle_timeout: Duration,
    conns: HashMap<IoId<TcpStream>, Conn>,
    /// One read buffer shared by all connections.
    scratch: Vec<u8>,
    /// The listener's watcher, and the SIGINT and SIGTERM watchers: removed
    /// at shutdown.
    listener: Option<IoId<TcpListener>>,
    signals: Vec<SignalId>,
    /// A pause in accepting after an accept error, if one is running.
    accept_pause: Option<Once<()>>,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("echo: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 7000)),
        idle_timeout: Duration::from_secs(30),
    };
    while let Some(arg) = args.next() {
        // Accept both `--opt VALUE` and `--opt=VALUE`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(None),
            "--listen" => {
                let v = value("ADDR:PORT")?;
                opts.listen = v
                    .parse()
                    .map_err(|_| format!("--listen: {v:?} is not ADDR:PORT"))?;
            }
            "--idle-timeout" => {
                let v = value("SECS")?;
                opts.idle_timeout = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| {
                        format!("--idle-timeout: {v:?} is not a positive number of seconds")
                    })?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(opts))
}

fn serve(opts: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(opts.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;

    let mut lp: Loop<App> = Loop::new()?;
    let mut ctx = lp.ctx();
    let accept = ctx.new_io(listener, Events::READ, on_accept)?;
    ctx.start(accept)?;
    let mut signals = Vec::new();
    for (signal, name) in [(signum::SIGINT, "SIGINT"), (signum::SIGTERM, "SIGTERM")] {
        let id = ctx.new_signal(signal, move |ctx, app, _id, _ev| shutdown(ctx, app, name))?;
        ctx.start(id)?;
        signals.push(id);
    }

    println!(
        "echo: listening on {addr} (idle timeout {:?}, backend {})",
        opts.idle_timeout,
        ctx.backend()
    );
    let mut app = App {
        idle_timeout: opts.idle_timeout,
        conns: HashMap::new(),
        scratch: vec![0; 64 * 1024],
        listener: Some(accept),
        signals,
        accept_pause: None,
    };
    // The listener stays active until a signal shuts the server down, and
    // then nothing is left: this returns after SIGINT or SIGTERM (or on an
    // error).
    lp.run(&mut app, RunMode::Default)?;
    Ok(())
}

/// SIGINT or SIGTERM: stop accepting, close every connection, and forget
/// the signal watchers (a second Ctrl-C then kills at once). With nothing
/// left active, `run` returns.
fn shutdown(ctx: &mut Ctx<'_, App>, app: &mut App, signal: &str) {
    let n = app.conns.len();
    let s = if n == 1 { "" } else { "s" };
    println!("echo: {signal}: closing {n} connection{s}");
    if let Some(id) = app.listener.take() {
        let _ = ctx.remove(id);
    }
    if let Some(pause) = app.accept_pause.take() {
        ctx.cancel_once(pause);
    }
    for id in app.signals.drain(..) {
        let _ = ctx.remove(id);
    }
    let conns: Vec<IoId<TcpStream>> = app.conns.keys().copied().collect();
    for id in conns {
        close_conn(ctx, app, id, Close::Shutdown);
    }
}

/// The listener is readable: accept every waiting connection.
fn on_accept(ctx: &mut Ctx<'_, App>, app: &mut App, id: IoId<TcpListener>, _ev: Events) {
    loop {
        let accepted = match ctx.io(id) {
            Ok(listener) => listener.source().accept(),
            Err(e) => unreachable!("the listener's own watcher exists: {e}"),
        };
        match accepted {
            Ok((stream, peer)) => {
                if let Err(e) = open_conn(ctx, app, stream, peer) {
                    eprintln!("echo: cannot serve {peer}: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => {
                // Typically EMFILE. Level-triggered readiness would report
                // the listener again at once, so pause accepting briefly
                // instead of spinning.
                eprintln!("echo: accept failed: {e}; pausing accepts for 100 ms");
                let _ = ctx.stop(id);
                let resumed = ctx.once_timer(Duration::from_millis(100), move |ctx, app, _ev| {
                    app.accept_pause = None;
                    let _ = ctx.start(id);
                });
                match resumed {
                    Ok(pause) => app.accept_pause = Some(pause),
                    Err(e) => eprintln!("echo: cannot schedule accept resumption: {e}"),
                }
                return;
            }
        }
    }
}

/// Creates and starts the watchers of a new connection.
fn open_conn(
    ctx: &mut Ctx<'_, App>,
    app: &mut App,
    stream: TcpStream,
    peer: SocketAddr,
) -> evloop::Result<()> {
    stream.set_nonblocking(true)?;
    let io = ctx.new_io(stream, Events::READ, on_conn)?;
    let timer = match ctx.new_timer(
        app.idle_timeout,
        app.idle_timeout,
        move |ctx, app, _t, _ev| {
            close_conn(ctx, app, io, Close::IdleTimeout);
        },
    ) {
        Ok(t) => t,
        Err(e) => {
            let _ = ctx.remove(io);
            return Err(e);
        }
    };
    ctx.start(io)?;
    ctx.start(timer)?;
    app.conns.insert(
        io,
        Conn {
            peer,
            timer,
            unsent: Vec::new(),
        },
    );
    println!("open {peer}");
    Ok(())
}

/// A connection is readable or writable (or its fd turned out bad).
fn on_conn(ctx: &mut Ctx<'_, App>, app: &mut App, id: IoId<TcpStream>, ev: Events) {
    if ev.contains(Events::ERROR) {
        let err = io::Error::other("the loop reported the socket as invalid");
        close_conn(ctx, app, id, Close::Error(err));
        return;
    }
    let Some(conn) = app.conns.get_mut(&id) else {
        return;
    };
    // Any readiness counts as activity: push the idle timeout back.
    if let Ok(mut timer) = ctx.timer(conn.timer) {
        timer.again();
    }
    let mut io = match ctx.io(id) {
        Ok(io) => io,
        Err(e) => unreachable!("a connection's watcher exists while it runs: {e}"),
    };
    // `&TcpStream` reads and writes: the watcher lends its stream.
    let why = match pump(io.source(), conn, &mut app.scratch) {
        Ok(None) => {
            // Wait for WRITE alone while bytes are queued, READ alone when not.
            let want = if conn.unsent.is_empty() {
                Events::READ
            } else {
                Events::WRITE
            };
            match io.set_interest(want) {
                Ok(()) => return,
                Err(e) => Close::Error(e.into()),
            }
        }
        Ok(Some(why)) => why,
        Err(e) => Close::Error(e),
    };
    close_conn(ctx, app, id, why);
}

/// Moves bytes: first the queued ones out, then, if all of them went,
/// new ones in and back out. `Ok(Some(..))` when the connection is done.
fn pump(mut stream: &TcpStream, conn: &mut Conn, scratch: &mut [u8]) -> io::Result<Option<Close>> {
    if !conn.unsent.is_empty() {
        let n = write_some(stream, &conn.unsent)?;
        conn.unsent.drain(..n);
        if !conn.unsent.is_empty() {
            return Ok(None);
        }
    }
    let mut budget = READ_BUDGET;
    while budget > 0 {
        let n = match stream.read(scratch) {
            Ok(0) => return Ok(Some(Close::Eof)),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        budget = budget.saturating_sub(n);
        let written = write_some(stream, &scratch[..n])?;
        if written < n {
            // The socket is full: keep the rest and stop reading until it
            // has been sent.
            conn.unsent.extend_from_slice(&scratch[written..n]);
            return Ok(None);
        }
    }
    Ok(None)
}

/// Writes as much of `buf` as the socket takes now; returns how much.
fn write_some(mut stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match stream.write(&buf[done..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Removes both watchers of a connection (which closes the socket) and its
/// state.
fn close_conn(ctx: &mut Ctx<'_, App>, app: &mut App, io: IoId<TcpStream>, why: Close) {
    let Some(conn) = app.conns.remove(&io) else {
        return;
    };
    let _ = ctx.remove(conn.timer);
    let _ = ctx.remove(io);
    let why = match why {
        Close::Eof => "eof".to_string(),
        Close::IdleTimeout => "idle timeout".to_string(),
        Close::Shutdown => "shutdown".to_string(),
        Close::Error(e) => format!("error: {e}"),
    };
    let unsent = if conn.unsent.is_empty() {
        String::new()
    } else {
        format!(", {} bytes unsent", conn.unsent.len())
    };
    println!("close {} ({why}{unsent})", conn.peer);
}
