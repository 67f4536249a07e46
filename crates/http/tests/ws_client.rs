//! Our WebSocket client (`ws::connect`): against our server over TCP,
//! against python3's `websockets` server (SKIP without it), and its
//! failures: refused, not an upgrade, no answer.

mod ws_support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use evloop::{Loop, RunMode};
use evloop_http::ws::{
    self, ClientHandshakeError, CloseCode, Closed, Config, ConnectError, Message, WebSocketExt,
};
use ws_support::TestServer;

#[derive(Default)]
struct Client {
    opened: Option<Result<(), String>>,
    got: Vec<Message>,
    closed: Option<Closed>,
}

/// Connects to `addr`/`path`; once open sends `msgs` and a ping, and
/// closes after `msgs.len()` echoes and the pong. Runs until all is done.
fn run_client(addr: SocketAddr, path: &str, config: Config, msgs: Vec<Message>) -> Client {
    let mut lp: Loop<Client> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let want = msgs.len() + 1;
    ws::connect(
        &mut ctx,
        addr,
        path,
        config,
        move |ctx, c: &mut Client, res| {
            let id = match res {
                Ok(id) => id,
                Err(e) => {
                    c.opened = Some(Err(match e {
                        ConnectError::Io(_) => "io".to_string(),
                        ConnectError::Handshake(ClientHandshakeError::Status(s)) => {
                            format!("status {s}")
                        }
                        other => other.to_string(),
                    }));
                    return;
                }
            };
            c.opened = Some(Ok(()));
            let mut ws = ctx.websocket(id).unwrap();
            for m in msgs {
                ws.send(m).unwrap();
            }
            ws.ping("beat").unwrap();
            ws.on_message(move |ctx, c: &mut Client, id, msg| {
                c.got.push(msg);
                if c.got.len() == want {
                    ctx.websocket(id)
                        .unwrap()
                        .close(CloseCode::NORMAL, "thanks")
                        .unwrap();
                }
            });
            ws.on_close(|_, c: &mut Client, _, closed| c.closed = Some(closed));
        },
    )
    .unwrap();
    let mut c = Client::default();
    lp.run(&mut c, RunMode::Default).unwrap();
    c
}

fn conversation() -> Vec<Message> {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 249) as u8).collect();
    vec![
        Message::Text("héllo ✓".into()),
        Message::Binary(Bytes::from(big)),
    ]
}

fn check_echoed(c: &Client) {
    assert_eq!(c.opened, Some(Ok(())));
    let mut want = conversation();
    want.push(Message::Pong("beat".into()));
    let mut got = c.got[..3].to_vec();
    // The pong may overtake the echo of the big message.
    got.sort_by_key(|m| m.opcode() as u8);
    want.sort_by_key(|m| m.opcode() as u8);
    assert_eq!(got, want);
    assert!(matches!(&c.got[3], Message::Close(Some(f)) if f.code == CloseCode::NORMAL));
    let closed = c.closed.as_ref().unwrap();
    assert_eq!((closed.code, closed.clean), (CloseCode::NORMAL, true));
}

#[test]
fn our_client_against_our_server() {
    let server = TestServer::start(Config::default());
    let c = run_client(server.addr, "/ws", Config::default(), conversation());
    check_echoed(&c);
    assert_eq!(server.stop(), ["1000 \"thanks\" true"]);
}

#[test]
fn our_client_against_python_websockets_server() {
    const SCRIPT: &str = r#"
import asyncio, websockets

async def echo(ws, *path):
    async for m in ws:
        await ws.send(m)

async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

asyncio.run(main())
"#;
    let Some(py) = ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import websockets"])
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        println!(
            "SKIP: no python3 with the websockets module (apt-get install python3-websockets)"
        );
        return;
    };
    let mut child = Command::new(py)
        .args(["-c", SCRIPT])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("port line: {line:?}"));
    let c = run_client(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "/",
        Config::default(),
        conversation(),
    );
    let _ = child.kill();
    let _ = child.wait();
    check_echoed(&c);
}

#[test]
fn refused_connect_is_an_io_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = run_client(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "/",
        Config::default(),
        vec![],
    );
    assert_eq!(c.opened, Some(Err("io".to_string())));
}

#[test]
fn a_plain_http_answer_is_refused() {
    let server = TestServer::start(Config::default());
    let c = run_client(server.addr, "/", Config::default(), vec![]);
    assert_eq!(c.opened, Some(Err("status 200".to_string())));
    let c = run_client(server.addr, "/nowhere", Config::default(), vec![]);
    assert_eq!(c.opened, Some(Err("status 404".to_string())));
    server.stop();
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        handshake_timeout: Duration::from_millis(100),
        ..Config::default()
    };
    let start = std::time::Instant::now();
    let c = run_client(addr, "/", config, vec![]);
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(c.opened, Some(Err(ConnectError::Timeout.to_string())));
    drop(listener);
}
