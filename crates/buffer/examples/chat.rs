//! A line-based chat server: every line a client sends goes to all the
//! other clients.
//!
//! ```text
//! cargo run -p evloop-buffer --example chat -- [--listen ADDR:PORT]
//! nc 127.0.0.1 7002      # in two or more terminals
//! ```
//!
//! What it shows:
//!
//! * One stream's read callback writes to every other stream, through
//!   nothing but their ids in the application state.
//! * Lines end in LF or CRLF (`Eol::CrlfOrLf`), so `nc` and `telnet` both
//!   work.
//! * Limits that keep one client from hurting the others:
//!   - **slow readers are disconnected**: a client whose unsent output
//!     passes `MAX_BACKLOG` is closed, its backlog dropped (a chat line
//!     that arrives minutes late is worthless, and dropping single lines
//!     silently would garble the conversation). The others are told.
//!   - **over-long lines are refused**: the read high watermark stops
//!     reading at `MAX_LINE`; if no line end is in there, the client is
//!     disconnected instead of buffering without bound.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;

use evloop::{Ctx, Loop, RunMode};
use evloop_buffer::{
    Accepted, Eol, ListenerExt, ListenerId, ListenerOptions, StreamEvent, StreamExt, StreamId,
    Watermarks,
};

/// The longest line accepted, line end included.
const MAX_LINE: usize = 4096;
/// A client with more than this queued for it is too slow to keep.
const MAX_BACKLOG: usize = 256 * 1024;

/// The clients by stream, with the name the others see.
#[derive(Default)]
struct Chat {
    clients: BTreeMap<StreamId, String>,
}

fn main() -> ExitCode {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 7002));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => match args.next().and_then(|v| v.parse().ok()) {
                Some(a) => listen = a,
                None => return usage("--listen needs ADDR:PORT"),
            },
            "--help" | "-h" => {
                println!("usage: chat [--listen ADDR:PORT]   (default 127.0.0.1:7002)");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    match serve(listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("chat: {msg}\nusage: chat [--listen ADDR:PORT]");
    ExitCode::from(2)
}

fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let mut lp: Loop<Chat> = Loop::new()?;
    let id = lp.listen(addr, &ListenerOptions::new(), on_accept)?;
    println!("chat on {}", lp.listener(id)?.local_addr()?);
    lp.run(&mut Chat::default(), RunMode::Default)?;
    Ok(())
}

fn on_accept(ctx: &mut Ctx<Chat>, chat: &mut Chat, _: ListenerId, conn: Accepted) {
    let name = match &conn {
        Accepted::Tcp { peer, .. } => peer.to_string(),
        Accepted::Unix { .. } => "local".to_string(),
    };
    let Ok(id) = ctx.open_stream(conn) else {
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

fn on_read(ctx: &mut Ctx<Chat>, chat: &mut Chat, id: StreamId) {
    loop {
        // `let else` drops the stream view before the loop is used again.
        let Some(line) = ctx
            .stream(id)
            .ok()
            .and_then(|mut s| s.input().read_line(Eol::CrlfOrLf))
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
fn broadcast(ctx: &mut Ctx<Chat>, chat: &mut Chat, from: StreamId, msg: &[u8]) {
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
fn leave(ctx: &mut Ctx<Chat>, chat: &mut Chat, id: StreamId, why: &str) {
    let Some(name) = chat.clients.remove(&id) else {
        return;
    };
    let dropped = ctx.stream(id).map(|s| s.close()).unwrap_or(0);
    println!("{name} {why} ({dropped} bytes not delivered)");
    broadcast(ctx, chat, id, format!("* {name} {why}\n").as_bytes());
}
