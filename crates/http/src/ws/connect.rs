//! A WebSocket client on the loop: connect, handshake, then a
//! [`WebSocket`](super::WebSocket) with [`Role::Client`].

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;

use evloop::Ctx;
use evloop_buffer::{StreamEvent, StreamExt, StreamId};

use super::client::{ClientHandshake, ClientHandshakeError};
use super::config::{Config, Role};
use super::socket::{WebSocketExt, WsId};

type OpenCb<T> = dyn FnOnce(&mut Ctx<'_, T>, &mut T, Result<WsId, ConnectError>);

/// Why [`connect`] did not open a WebSocket.
#[derive(Debug)]
pub enum ConnectError {
    /// The TCP connect failed, or the connection broke during the
    /// handshake.
    Io(io::Error),
    /// The connection closed before the server's response was complete.
    Closed,
    /// No complete response within [`Config::handshake_timeout`].
    Timeout,
    /// The server answered, but not with a valid upgrade.
    Handshake(ClientHandshakeError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Io(e) => write!(f, "WebSocket connect: {e}"),
            ConnectError::Closed => f.write_str("WebSocket connect: closed during the handshake"),
            ConnectError::Timeout => f.write_str("WebSocket connect: handshake timed out"),
            ConnectError::Handshake(e) => write!(f, "WebSocket connect: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

struct Pending<T: 'static> {
    handshake: ClientHandshake,
    config: Config,
    on_open: Box<OpenCb<T>>,
}

/// Client handshakes in progress, in the loop's extension slot.
struct Connecting<T: 'static> {
    map: HashMap<StreamId, Pending<T>>,
}

impl<T: 'static> Default for Connecting<T> {
    fn default() -> Self {
        Connecting {
            map: HashMap::new(),
        }
    }
}

/// Opens a WebSocket to `addr` (`ws://addr/path`; the `Host` header is
/// `addr`): connects without blocking, sends the handshake, checks the
/// server's answer, and calls `on_open` from the loop with the new
/// WebSocket ([`Role::Client`]: its frames are masked) or the reason it
/// failed. Frames the server sent right behind its response are kept.
/// For another `Host` or extra headers, use [`ClientHandshake`] on a
/// stream and [`WebSocketExt::new_websocket`].
///
/// # Errors
///
/// Only if no socket could be made; a failed connect goes to `on_open`.
///
/// ```
/// use evloop::{Loop, RunMode};
/// use evloop_buffer::ListenAddr;
/// use evloop_http::server::{Router, ServerExt, ServerOptions};
/// use evloop_http::ws::{self, CloseCode, Config, Message, WebSocketExt};
/// use http::Method;
///
/// // An echo server and a client of it, on one loop.
/// let mut router: Router<Vec<String>> = Router::new();
/// router.exact("/echo", &[Method::GET], ws::handler(Config::default(), |ctx, _, id, _| {
///     ctx.websocket(id).unwrap().on_message(|ctx, _, id, msg| {
///         if let Message::Text(t) = msg {
///             let _ = ctx.websocket(id).unwrap().send_text(&t);
///         }
///     });
/// }));
/// let mut lp: Loop<Vec<String>> = Loop::new()?;
/// let mut ctx = lp.ctx();
/// let server = ctx.new_server(router, ServerOptions::new())?;
/// let ListenAddr::Tcp(addr) = ctx.server(server)?.listen("127.0.0.1:0")? else { unreachable!() };
///
/// ws::connect(&mut ctx, addr, "/echo", Config::default(), move |ctx, _, res| {
///     let mut ws = ctx.websocket(res.unwrap()).unwrap();
///     ws.send_text("hello").unwrap();
///     ws.on_message(|ctx, got, id, msg| {
///         if let Message::Text(t) = msg {
///             got.push(t);
///             ctx.websocket(id).unwrap().close(CloseCode::NORMAL, "").unwrap();
///         }
///     });
///     ws.on_close(move |ctx, _, _, _| ctx.server(server).unwrap().shutdown(|_, _| {}));
/// })?;
/// let mut got = Vec::new();
/// lp.run(&mut got, RunMode::Default)?;
/// assert_eq!(got, ["hello"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect<T, F>(
    ctx: &mut Ctx<'_, T>,
    addr: SocketAddr,
    path: &str,
    config: Config,
    on_open: F,
) -> io::Result<StreamId>
where
    T: 'static,
    F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<WsId, ConnectError>) + 'static,
{
    let sid = ctx.new_stream_connect(addr)?;
    let handshake = ClientHandshake::new();
    {
        let mut s = ctx.stream(sid).map_err(io::Error::other)?;
        handshake.write_request(s.output(), &addr.to_string(), path);
        let wait = Some(config.handshake_timeout);
        s.set_timeouts(wait, wait).map_err(io::Error::other)?;
        s.on_read(on_read);
        s.on_event(on_event);
    }
    ctx.ext_or_default::<Connecting<T>>().map.insert(
        sid,
        Pending {
            handshake,
            config,
            on_open: Box::new(on_open),
        },
    );
    Ok(sid)
}

fn take<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId) -> Option<Pending<T>> {
    ctx.ext_mut::<Connecting<T>>()?.map.remove(&sid)
}

fn on_read<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, sid: StreamId) {
    let Some(mut p) = take(ctx, sid) else { return };
    let res = match ctx.stream(sid) {
        Ok(mut s) => p.handshake.read_response(s.input()),
        Err(_) => return,
    };
    match res {
        Ok(false) => {
            ctx.ext_or_default::<Connecting<T>>().map.insert(sid, p);
        }
        Ok(true) => {
            let opened = ctx
                .new_websocket(sid, Role::Client, p.config)
                .map_err(|e| ConnectError::Io(io::Error::other(e)));
            (p.on_open)(ctx, data, opened);
        }
        Err(e) => fail(ctx, data, sid, p, ConnectError::Handshake(e)),
    }
}

fn on_event<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, sid: StreamId, ev: StreamEvent) {
    let err = match ev {
        StreamEvent::Connected => return,
        StreamEvent::Eof => ConnectError::Closed,
        StreamEvent::Timeout(_) => ConnectError::Timeout,
        StreamEvent::Error { error, .. } => ConnectError::Io(error),
    };
    if let Some(p) = take(ctx, sid) {
        fail(ctx, data, sid, p, err);
    } else if let Ok(s) = ctx.stream(sid) {
        s.close();
    }
}

fn fail<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    sid: StreamId,
    p: Pending<T>,
    err: ConnectError,
) {
    if let Ok(s) = ctx.stream(sid) {
        s.close();
    }
    (p.on_open)(ctx, data, Err(err));
}
