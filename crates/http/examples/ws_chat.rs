//! A WebSocket chat room:
//!
//! ```text
//! ws_chat [--addr IP:PORT]     (default 127.0.0.1:8080)
//! ```
//!
//! `GET /` serves a small HTML page whose script joins the chat;
//! `GET /ws` is the chat's WebSocket: each text message a client sends
//! goes to every connected client (the sender too) as `NAME: text`, and
//! arrivals and departures are announced. A client that reads too slowly
//! (over 1 MiB queued for it) is dropped with close code 1008, so one
//! stalled browser cannot make the server's memory grow. Open the page in
//! two browser tabs, or use any WebSocket client
//! (`python3 -m websockets ws://127.0.0.1:8080/ws`).
//!
//! It prints `ws_chat: listening on ADDR` and runs until SIGINT or
//! SIGTERM, then exits with status 0.

use std::process::ExitCode;

use evloop::{signum, Break, Ctx, Loop, RunMode};
use evloop_http::server::{Body, Router, ServerExt, ServerOptions};
use evloop_http::ws::{self, CloseCode, Config, Message, WebSocketExt, WsId};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Response};

const USAGE: &str = "usage: ws_chat [--addr IP:PORT]";
const PAGE: &str = include_str!("ws_chat.html");
/// More than this queued for one client and it is dropped.
const MAX_QUEUED: usize = 1 << 20;

/// The room: who is in it, and the number the next one is called by.
#[derive(Default)]
struct Room {
    members: Vec<(WsId, String)>,
    joined: u64,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:8080".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => match args.next() {
                Some(a) => addr = a,
                None => return usage("--addr needs a value"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    match serve(&addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ws_chat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("ws_chat: {msg}\n{USAGE}");
    ExitCode::from(2)
}

/// Sends `line` to everyone, dropping those who cannot keep up.
fn broadcast(ctx: &mut Ctx<'_, Room>, room: &mut Room, line: &str) {
    let mut slow = Vec::new();
    for (id, _) in &room.members {
        let Ok(mut ws) = ctx.websocket(*id) else {
            continue;
        };
        if ws.buffered_amount() > MAX_QUEUED {
            slow.push(*id);
            let _ = ws.close(CloseCode::POLICY_VIOLATION, "reading too slowly");
        } else {
            let _ = ws.send_text(line);
        }
    }
    room.members.retain(|(id, _)| !slow.contains(id));
}

fn join(ctx: &mut Ctx<'_, Room>, room: &mut Room, id: WsId) {
    room.joined += 1;
    let name = format!("guest{}", room.joined);
    let Ok(mut ws) = ctx.websocket(id) else {
        return;
    };
    let _ = ws.send_text(&format!("welcome, you are {name}"));
    ws.on_message(|ctx, room, id, msg| {
        let Message::Text(text) = msg else { return };
        let Some(name) = room.members.iter().find(|m| m.0 == id).map(|m| m.1.clone()) else {
            return;
        };
        broadcast(ctx, room, &format!("{name}: {text}"));
    });
    ws.on_close(|ctx, room, id, _| {
        let Some(at) = room.members.iter().position(|m| m.0 == id) else {
            return;
        };
        let (_, name) = room.members.remove(at);
        broadcast(ctx, room, &format!("* {name} left"));
    });
    broadcast(ctx, room, &format!("* {name} joined"));
    room.members.push((id, name));
}

fn serve(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut router: Router<Room> = Router::new();
    router.exact("/", &[Method::GET], |_, _, _| {
        let mut r = Response::new(Body::from(PAGE));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    });
    let config = Config {
        max_message_size: 64 * 1024,
        ..Config::default()
    };
    router.exact(
        "/ws",
        &[Method::GET],
        ws::handler(config, |ctx, room, id, _req| join(ctx, room, id)),
    );
    let mut lp: Loop<Room> = Loop::new()?;
    let mut ctx = lp.ctx();
    let server = ctx.new_server(router, ServerOptions::new())?;
    let local = ctx
        .server(server)?
        .listen(addr)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    for signal in [signum::SIGINT, signum::SIGTERM] {
        let sid = ctx.new_signal(signal, |ctx, _, _, _| ctx.break_loop(Break::All))?;
        let mut w = ctx.signal(sid)?;
        w.set_keepalive(false);
        w.start()?;
    }
    println!("ws_chat: listening on {local}");
    lp.run(&mut Room::default(), RunMode::Default)?;
    Ok(())
}
