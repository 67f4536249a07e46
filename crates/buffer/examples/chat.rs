//! A line-based chat server: every line a client sends goes to all the
//! other clients.
//!
//! ```text
//! cargo run -p evloop-buffer --example chat -- [--listen ADDR]
//! nc 127.0.0.1 7002      # in two or more terminals
//! ```
//!
//! What it shows:
//!
//! * One stream's read callback writes to every other stream, through
//!   nothing but their ids in the application state.
//! * Lines end in LF or CRLF (`Eol::CrlfOrLf`), so `nc` and `telnet` both
//!   work. [`BufferedStream::read_line`] also gives a client's last line
//!   when it has no line end (the client hung up right after it).
//! * Limits that keep one client from hurting the others:
//!   - **slow readers are disconnected**: a client whose unsent output
//!     passes `MAX_BACKLOG` is closed, its backlog dropped (a chat line
//!     that arrives minutes late is worthless, and dropping single lines
//!     silently would garble the conversation). The others are told.
//!   - **over-long lines are refused**: the read high watermark stops
//!     reading at `MAX_LINE`; if no line end is in there, the client is
//!     disconnected instead of buffering without bound.
//! * It prints where it listens (`chat: listening on ...`) and exits with
//!   status 0 on SIGINT (Ctrl-C) or SIGTERM, telling the clients.
//!
//! [`BufferedStream::read_line`]: evloop_buffer::BufferedStream::read_line

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use evloop::{signum, Break, Ctx, Loop, RunMode};
use evloop_buffer::{
    Accepted, Eol, ListenAddr, ListenerExt, ListenerId, ListenerOptions, StreamEvent, StreamExt,
    StreamId, Watermarks,
};

/// The longest line accepted, line end included.
const MAX_LINE: usize = 4096;
/// A client with more than this queued for it is too slow to keep.
const MAX_BACKLOG: usize = 256 * 1024;

const USAGE: &str = "usage: chat [--listen ADDR]   (IP:PORT or unix:PATH; default 127.0.0.1:7002)";

/// The clients by stream, with the name the others see.
#[derive(Default)]
struct Chat {
    clients: BTreeMap<StreamId, String>,
    listener: Option<ListenerId>,
    /// A signal came: the clients are being told, then it ends.
    stopping: bool,
}

/// How long a shutdown waits for the clients to take the goodbye.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let mut listen = ListenAddr::Tcp(([127, 0, 0, 1], 7002).into());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => match args.next().map(|v| v.parse()) {
                Some(Ok(a)) => listen = a,
                Some(Err(e)) => return usage(&format!("--listen: {e}")),
                None => return usage("--listen needs ADDR"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    match serve(&listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("chat: {msg}\n{USAGE}");
    ExitCode::from(2)
}

fn serve(addr: &ListenAddr) -> Result<(), Box<dyn std::error::Error>> {
    let mut lp: Loop<Chat> = Loop::new()?;
    let mut ctx = lp.ctx();
    let id = ctx
        .listen(addr, &ListenerOptions::new(), on_accept)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = ctx.listener(id)?.local_addr()?;
    for (signal, name) in [(signum::SIGINT, "SIGINT"), (signum::SIGTERM, "SIGTERM")] {
        let sig = ctx.new_signal(signal, move |ctx, chat, _, _| shut_down(ctx, chat, name))?;
        // The signals only end the server; they do not keep it running.
        let mut w = ctx.signal(sig)?;
        w.set_keepalive(false);
        w.start()?;
    }
    println!("chat: listening on {local}");
    let mut chat = Chat {
        listener: Some(id),
        ..Chat::default()
    };
    // Until a signal: then `run` returns once every client has its goodbye
    // (or the goodbye timeout breaks it).
    lp.run(&mut chat, RunMode::Default)?;
    if let ListenAddr::Unix(path) = local {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// SIGINT or SIGTERM: stop accepting, say goodbye to every client and
/// close each once that went out. A second signal ends at once.
fn shut_down(ctx: &mut Ctx<'_, Chat>, chat: &mut Chat, signal: &str) {
    println!("chat: {signal}, exiting");
    if chat.stopping {
        ctx.break_loop(Break::All);
        return;
    }
    chat.stopping = true;
    if let Some(Ok(l)) = chat.listener.take().map(|l| ctx.listener(l)) {
        l.close();
    }
    for (id, _) in std::mem::take(&mut chat.clients) {
        if let Ok(mut s) = ctx.stream(id) {
            s.write(b"* the server is shutting down\n");
            s.close_when_flushed();
        }
    }
    // Clients that do not take it in time are not waited for; the timer
    // itself does not keep the loop going once they are all gone.
    if let Ok(t) = ctx.once_timer(GOODBYE_TIMEOUT, |ctx, _, _| ctx.break_loop(Break::All)) {
        let _ = ctx.set_once_keepalive(t, false);
    }
}

fn on_accept(ctx: &mut Ctx<'_, Chat>, chat: &mut Chat, _: ListenerId, conn: Accepted) {
    let name = match &conn {
        Accepted::Tcp { peer, .. } => peer.to_string(),
        Accepted::Unix { .. } => "local".to_string(),
    };
    let Ok(id) = ctx.new_stream(conn) else {
        return;
    };
    let Ok(mut s) = ctx.stream(id) else { return };
    s.set_watermarks(Watermarks {
        read_high: Some(MAX_LINE),
        ..Watermarks::default()
    });
    s.write(format!("welcome, {name}; {} others here\n", chat.clients.len()).as_bytes());
    s.on_read(on_read);
    s.on_event(|ctx, chat, id, ev| {
        let why = match ev {
            StreamEvent::Eof => "left".to_string(),
            StreamEvent::Error { error, .. } => format!("left ({error})"),
            _ => return,
        };
        leave(ctx, chat, id, &why);
    });
    drop(s); // gives the loop back
    broadcast(ctx, chat, id, format!("* {name} joined\n").as_bytes());
    chat.clients.insert(id, name);
}

fn on_read(ctx: &mut Ctx<'_, Chat>, chat: &mut Chat, id: StreamId) {
    loop {
        // `let else` drops the stream view before the loop is used again.
        // At EOF `read_line` gives the last line even without a line end.
        let Some(line) = ctx
            .stream(id)
            .ok()
            .and_then(|mut s| s.read_line(Eol::CrlfOrLf))
        else {
            break;
        };
        let name = chat.clients.get(&id).cloned().unwrap_or_default();
        let mut msg = Vec::with_capacity(name.len() + line.len() + 3);
        msg.extend_from_slice(name.as_bytes());
        msg.extend_from_slice(b": ");
        msg.extend_from_slice(&line);
        msg.push(b'\n');
        broadcast(ctx, chat, id, &msg);
    }
    // No line end within MAX_LINE bytes: the high watermark has stopped
    // reading, and waiting would not help.
    if ctx
        .stream(id)
        .is_ok_and(|mut s| s.input().len() >= MAX_LINE)
    {
        leave(ctx, chat, id, "left (line too long)");
    }
}

/// Sends `msg` to everyone but `from`, disconnecting those who lag.
fn broadcast(ctx: &mut Ctx<'_, Chat>, chat: &mut Chat, from: StreamId, msg: &[u8]) {
    let mut too_slow = Vec::new();
    for (&to, _) in chat.clients.iter().filter(|(&to, _)| to != from) {
        let Ok(mut s) = ctx.stream(to) else { continue };
        s.write(msg);
        if s.output().len() > MAX_BACKLOG {
            too_slow.push(to);
        }
    }
    for id in too_slow {
        leave(ctx, chat, id, "disconnected (too slow)");
    }
}

/// Closes a client's stream and tells the others.
fn leave(ctx: &mut Ctx<'_, Chat>, chat: &mut Chat, id: StreamId, why: &str) {
    let Some(name) = chat.clients.remove(&id) else {
        return;
    };
    let dropped = ctx.stream(id).map(|s| s.close()).unwrap_or(0);
    println!("{name} {why} ({dropped} bytes not delivered)");
    broadcast(ctx, chat, id, format!("* {name} {why}\n").as_bytes());
}
