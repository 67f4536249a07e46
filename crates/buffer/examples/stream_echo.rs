//! An echo server on `Listener` + `BufferedStream`.
//!
//! ```text
//! cargo run --release -p evloop-buffer --example stream_echo -- [--listen ADDR] [--lines] [--idle-timeout SECS] [--quiet]
//! nc 127.0.0.1 7001
//! ```
//!
//! Compare with the workspace's raw-io echo (`examples/echo.rs` at the
//! root): the stream does the buffering, the back-pressure and the idle
//! timeout, and the application keeps no per-connection state at all.
//!
//! * The read callback moves the whole input buffer to the output buffer
//!   without copying (`split_to_buffer` + `write_buffer`). With `--lines`
//!   it echoes line by line instead ([`BufferedStream::read_line`]: a last
//!   line without a line end comes back too, once the client hangs up),
//!   refusing lines longer than `MAX_LINE` (the read high watermark stops
//!   a client that never sends a line end).
//! * Back-pressure: when a client does not read its echo, output grows; at
//!   `PAUSE_AT` the stream stops reading (the client's further data waits
//!   in the kernel, then blocks the client), and the write callback, which
//!   runs once output is down to the write low watermark, resumes it.
//! * Idle timeout: the read timeout (no byte received for that long) and
//!   the write timeout (a client that does not take its echo) close the
//!   connection.
//! * It prints where it listens (`stream_echo: listening on ...`) and exits
//!   with status 0 on SIGINT (Ctrl-C) or SIGTERM.
//!
//! [`BufferedStream::read_line`]: evloop_buffer::BufferedStream::read_line

use std::process::ExitCode;
use std::time::Duration;

use evloop::{signum, Break, Ctx, Loop, RunMode};
use evloop_buffer::{
    Accepted, Direction, Eol, ListenAddr, ListenerEvent, ListenerExt, ListenerId, ListenerOptions,
    StreamEvent, StreamExt, StreamId, Watermarks,
};

const USAGE: &str = "\
usage: stream_echo [--listen ADDR] [--lines] [--idle-timeout SECS] [--quiet]

An echo server on evloop-buffer's Listener and BufferedStream: every byte a
client sends comes back to it. A connection idle for the timeout is closed.
SIGINT (Ctrl-C) and SIGTERM stop it.

options:
  --listen ADDR          address to listen on: IP:PORT or unix:PATH
                         (default 127.0.0.1:7001; port 0 picks a free
                         port; the address is printed at start)
  --lines                echo line by line (LF or CRLF; lines of more
                         than 4096 bytes close the connection)
  --idle-timeout SECS    close connections idle this long (default 30;
                         fractions such as 0.5 are allowed)
  --quiet                do not print a line per connection
  --help                 print this and exit";

/// Reading pauses while this much echo is waiting to be sent...
const PAUSE_AT: usize = 1 << 20;
/// ...and resumes when it is down to this.
const RESUME_AT: usize = 256 << 10;
/// With `--lines`: the longest line echoed, line end included.
const MAX_LINE: usize = 4096;

struct Options {
    listen: ListenAddr,
    lines: bool,
    idle_timeout: Duration,
    quiet: bool,
}

/// The application state: only settings; the streams keep the rest.
struct App {
    idle_timeout: Duration,
    lines: bool,
    quiet: bool,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("stream_echo: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stream_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        listen: ListenAddr::Tcp(([127, 0, 0, 1], 7001).into()),
        lines: false,
        idle_timeout: Duration::from_secs(30),
        quiet: false,
    };
    while let Some(arg) = args.next() {
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
            "--quiet" => opts.quiet = true,
            "--lines" => opts.lines = true,
            "--listen" => {
                let v = value("ADDR")?;
                opts.listen = v.parse().map_err(|e| format!("--listen: {e}"))?;
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
    let mut lp: Loop<App> = Loop::new()?;
    let mut ctx = lp.ctx();
    let listener = ctx
        .listen(&opts.listen, &ListenerOptions::new(), on_accept)
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let mut l = ctx.listener(listener)?;
    l.on_event(on_listener_event);
    let addr = l.local_addr()?;
    // SIGINT and SIGTERM end `run`; dropping the loop then closes the
    // listener and every connection.
    for (signal, name) in [(signum::SIGINT, "SIGINT"), (signum::SIGTERM, "SIGTERM")] {
        let id = ctx.new_signal(signal, move |ctx, app, _, _| {
            if !app.quiet {
                println!("stream_echo: {name}, exiting");
            }
            ctx.break_loop(Break::All);
        })?;
        // The signals only end the server; they do not keep it running.
        let mut w = ctx.signal(id)?;
        w.set_keepalive(false);
        w.start()?;
    }
    println!(
        "stream_echo: listening on {addr} (idle timeout {:?}, {}, backend {})",
        opts.idle_timeout,
        if opts.lines { "lines" } else { "bytes" },
        ctx.backend()
    );
    let mut app = App {
        idle_timeout: opts.idle_timeout,
        lines: opts.lines,
        quiet: opts.quiet,
    };
    // The listener stays, so this returns on a signal (or an error).
    lp.run(&mut app, RunMode::Default)?;
    if let ListenAddr::Unix(path) = addr {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn on_listener_event(_: &mut Ctx<'_, App>, _: &mut App, _: ListenerId, ev: ListenerEvent) {
    match ev {
        ListenerEvent::Paused { error, retry_in } => {
            eprintln!("stream_echo: accept failed ({error}); retrying in {retry_in:?}");
        }
        ListenerEvent::Resumed { failed_retries } => {
            eprintln!("stream_echo: accepting again after {failed_retries} failed retries");
        }
    }
}

fn on_accept(ctx: &mut Ctx<'_, App>, app: &mut App, _: ListenerId, conn: Accepted) {
    let peer = match &conn {
        Accepted::Tcp { stream, peer } => {
            // Echoes are small writes that should leave at once.
            let _ = stream.set_nodelay(true);
            peer.to_string()
        }
        Accepted::Unix { .. } => "unix peer".to_string(),
    };
    let id = match ctx.new_stream(conn) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("stream_echo: cannot serve {peer}: {e}");
            return;
        }
    };
    let mut s = match ctx.stream(id) {
        Ok(s) => s,
        Err(e) => unreachable!("a stream just opened exists: {e}"),
    };
    s.set_watermarks(Watermarks {
        write_low: RESUME_AT,
        // Lines: reading stops at MAX_LINE bytes without a line end.
        read_high: app.lines.then_some(MAX_LINE),
        ..Watermarks::default()
    });
    if let Err(e) = s.set_timeouts(Some(app.idle_timeout), Some(app.idle_timeout)) {
        eprintln!("stream_echo: {e}");
    }
    if app.lines {
        s.on_read(on_read_lines);
    } else {
        s.on_read(on_read);
    }
    s.on_write(|ctx, _, id| {
        if let Ok(mut s) = ctx.stream(id) {
            s.enable(Direction::Read); // output is down to RESUME_AT
        }
    });
    if !app.quiet {
        println!("open {peer}");
    }
    s.on_event(move |ctx, app, id, ev| on_event(ctx, app, id, ev, &peer));
}

fn on_read(ctx: &mut Ctx<'_, App>, _: &mut App, id: StreamId) {
    let Ok(mut s) = ctx.stream(id) else { return };
    let mut data = s.input().split_to_buffer(usize::MAX);
    s.write_buffer(&mut data);
    if s.output().len() >= PAUSE_AT {
        s.disable(Direction::Read);
    }
}

/// `--lines`: every complete line back (with LF), and at EOF the last
/// one even without a line end.
fn on_read_lines(ctx: &mut Ctx<'_, App>, app: &mut App, id: StreamId) {
    let Ok(mut s) = ctx.stream(id) else { return };
    while let Some(line) = s.read_line(Eol::CrlfOrLf) {
        s.write_bytes(line);
        s.write(b"\n");
    }
    if s.input().len() >= MAX_LINE {
        // No line end within MAX_LINE bytes: the high watermark has
        // stopped reading, and waiting would not help.
        let dropped = s.close();
        if !app.quiet {
            println!("close (line too long, {dropped} bytes unsent)");
        }
        return;
    }
    if s.output().len() >= PAUSE_AT {
        s.disable(Direction::Read);
    }
}

fn on_event(ctx: &mut Ctx<'_, App>, app: &mut App, id: StreamId, ev: StreamEvent, peer: &str) {
    let Ok(s) = ctx.stream(id) else { return };
    let why = match ev {
        StreamEvent::Eof => {
            // Send back what is still queued, then close.
            s.close_when_flushed();
            "eof".to_string()
        }
        StreamEvent::Timeout(_) => {
            s.close();
            "idle timeout".to_string()
        }
        StreamEvent::Error { error, unsent, .. } => {
            s.close();
            format!("error: {error}, {unsent} bytes unsent")
        }
        StreamEvent::Connected => return,
    };
    if !app.quiet {
        println!("close {peer} ({why})");
    }
}
