//! A WebSocket client on the loop: connect, handshake, then a
//! [`WebSocket`](super::WebSocket) with [`Role::Client`].

use std::fmt;
use std::io;
use std::net::SocketAddr;

use evloop::Ctx;
use evloop_buffer::StreamExt;
use http::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use http::{StatusCode, Uri};

use super::client::{ClientHandshake, ClientHandshakeError};
use super::config::{Config, Role};
use super::handshake::accept_key;
use super::socket::{WebSocketExt, WsId};
use crate::client::{
    ClientError, ClientExt, ClientId, ClientOptions, RequestBody, RequestId, RequestOptions,
};

/// Why [`connect`] did not open a WebSocket.
#[derive(Debug)]
pub enum ConnectError {
    /// The TCP connect failed (refused, unreachable), or the connection
    /// broke during the handshake.
    Io(io::Error),
    /// The connection closed before the server's response was complete.
    Closed,
    /// No complete response within [`Config::handshake_timeout`].
    Timeout,
    /// The server answered, but not with a valid upgrade.
    Handshake(ClientHandshakeError),
    /// The HTTP client could not make the request: a bad URL, a name that
    /// does not resolve, a protocol error in the answer, ...
    Client(ClientError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Io(e) => write!(f, "WebSocket connect: {e}"),
            ConnectError::Closed => f.write_str("WebSocket connect: closed during the handshake"),
            ConnectError::Timeout => f.write_str("WebSocket connect: handshake timed out"),
            ConnectError::Handshake(e) => write!(f, "WebSocket connect: {e}"),
            ConnectError::Client(e) => write!(f, "WebSocket connect: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Io(e) => Some(e),
            ConnectError::Handshake(e) => Some(e),
            ConnectError::Client(e) => Some(e),
            _ => None,
        }
    }
}

/// Opens a WebSocket to `addr` (`ws://addr/path`; the `Host` header is
/// `addr`): [`connect_url`] with that URL and no extra header. It
/// connects without blocking (through the loop's [HTTP
/// client](crate::client)), sends the handshake, checks the server's
/// answer, and calls `on_open` from the loop with the new WebSocket
/// ([`Role::Client`]: its frames are masked) or the reason it failed.
/// Frames the server sent right behind its response are kept.
/// For a URL with a host name, extra headers (a subprotocol, cookies,
/// authorization), use [`connect_url`].
///
/// # Errors
///
/// A `path` that does not make a URL; a failed connect goes to
/// `on_open` ([`ConnectError::Io`] when refused).
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
) -> Result<RequestId, ConnectError>
where
    T: 'static,
    F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<WsId, ConnectError>) + 'static,
{
    let slash = if path.starts_with('/') { "" } else { "/" };
    let url = format!("ws://{addr}{slash}{path}");
    connect_url(ctx, &url, HeaderMap::new(), config, on_open)
}

/// The client [`connect_url`] uses, made on first use (in the loop's
/// extension slot).
struct DefaultClient(ClientId);

/// Opens a WebSocket to `url` (`ws://host[:port]/path?query`) through the
/// [HTTP client](crate::client): the host may be a name (resolved by
/// evloop-dns, connected with happy eyeballs), `headers` are sent with the
/// handshake (`Sec-WebSocket-Protocol`, `Origin`, `Cookie`, ...), and the
/// server's `101` is checked as [`connect`] does. `on_open` runs from the
/// loop with the WebSocket ([`Role::Client`]) or the reason it failed;
/// the whole handshake is bounded by [`Config::handshake_timeout`]. A
/// client with default [`ClientOptions`] is made for the loop on first
/// use; [`connect_url_with`] takes one of yours (its resolver, connect
/// timeout, limits).
///
/// ```
/// use evloop::{Loop, RunMode};
/// use evloop_buffer::ListenAddr;
/// use evloop_http::server::{Router, ServerExt, ServerOptions};
/// use evloop_http::ws::{self, CloseCode, Config, Message, WebSocketExt};
/// use http::{HeaderMap, Method};
///
/// let mut router: Router<Vec<String>> = Router::new();
/// router.exact("/echo", &[Method::GET], ws::handler(Config::default(), |ctx, _, id, req| {
///     let proto = req.headers()["sec-websocket-protocol"].to_str().unwrap().to_string();
///     ctx.websocket(id).unwrap().send_text(&proto).unwrap();
/// }));
/// let mut lp: Loop<Vec<String>> = Loop::new()?;
/// let mut ctx = lp.ctx();
/// let server = ctx.new_server(router, ServerOptions::new())?;
/// let ListenAddr::Tcp(addr) = ctx.server(server)?.listen("127.0.0.1:0")? else { unreachable!() };
///
/// let mut headers = HeaderMap::new();
/// headers.insert("sec-websocket-protocol", "chat".parse()?);
/// let url = format!("ws://{addr}/echo");
/// ws::connect_url(&mut ctx, &url, headers, Config::default(), move |ctx, _, res| {
///     let mut ws = ctx.websocket(res.unwrap()).unwrap();
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
/// assert_eq!(got, ["chat"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`ConnectError::Client`] for a URL that cannot be requested (no host,
/// a scheme other than `ws`/`http`: `wss` needs TLS, which this crate does
/// not have); everything later goes to `on_open`.
pub fn connect_url<T, F>(
    ctx: &mut Ctx<'_, T>,
    url: &str,
    headers: HeaderMap,
    config: Config,
    on_open: F,
) -> Result<RequestId, ConnectError>
where
    T: 'static,
    F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<WsId, ConnectError>) + 'static,
{
    let known = ctx.ext::<DefaultClient>().map(|c| c.0);
    let client = match known {
        Some(c) if ctx.client(c).is_ok() => c,
        _ => {
            let c = ctx
                .new_client(ClientOptions::new())
                .map_err(|e| ConnectError::Io(io::Error::other(e)))?;
            ctx.insert_ext(DefaultClient(c));
            c
        }
    };
    connect_url_with(ctx, client, url, headers, config, on_open)
}

/// [`connect_url`] with a client of yours.
///
/// # Errors
///
/// As [`connect_url`]; also [`ConnectError::Client`] with
/// [`ClientError::Stale`] if `client` is not this loop's.
pub fn connect_url_with<T, F>(
    ctx: &mut Ctx<'_, T>,
    client: ClientId,
    url: &str,
    headers: HeaderMap,
    config: Config,
    on_open: F,
) -> Result<RequestId, ConnectError>
where
    T: 'static,
    F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<WsId, ConnectError>) + 'static,
{
    let bad = |why| ConnectError::Client(ClientError::InvalidRequest(why));
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("ws") || s.eq_ignore_ascii_case("http") => {}
        Some(s) => {
            return Err(ConnectError::Client(ClientError::UnsupportedScheme(
                s.to_string(),
            )))
        }
        None => return Err(bad("the URL has no scheme")),
    }
    let authority = uri.authority().ok_or(bad("the URL has no host"))?;
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let target = if target.is_empty() { "/" } else { target };
    let http_url: Uri = format!("http://{authority}{target}")
        .parse()
        .map_err(|_| bad("not a URL"))?;
    let handshake = ClientHandshake::new();
    let key = handshake.key().to_string();
    let mut req = http::Request::get(http_url)
        .body(RequestBody::Empty)
        .map_err(|_| bad("not a URL"))?;
    let h = req.headers_mut();
    for (name, value) in &headers {
        h.append(name, value.clone());
    }
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        "sec-websocket-key",
        HeaderValue::from_str(&key).map_err(|_| bad("bad key"))?,
    );
    h.insert("sec-websocket-version", HeaderValue::from_static("13"));
    let opts = RequestOptions::new().timeout(Some(config.handshake_timeout));
    let mut c = ctx
        .client(client)
        .map_err(|_| ConnectError::Client(ClientError::Stale))?;
    c.send_with(req, opts, move |ctx, data, res| {
        let opened = match res {
            Err(ClientError::Timeout(_)) => Err(ConnectError::Timeout),
            Err(ClientError::Closed) => Err(ConnectError::Closed),
            Err(ClientError::Io(e) | ClientError::Connect(e)) => Err(ConnectError::Io(e)),
            Err(e) => Err(ConnectError::Client(e)),
            Ok(mut resp) => match check_upgrade(&resp, &key) {
                Err(e) => {
                    if let Some(sid) = resp.take_upgrade() {
                        if let Ok(s) = ctx.stream(sid) {
                            s.close();
                        }
                    }
                    Err(ConnectError::Handshake(e))
                }
                Ok(()) => match resp.take_upgrade() {
                    Some(sid) => ctx
                        .new_websocket(sid, Role::Client, config)
                        .map_err(|e| ConnectError::Io(io::Error::other(e))),
                    None => Err(ConnectError::Handshake(ClientHandshakeError::NotUpgraded)),
                },
            },
        };
        on_open(ctx, data, opened);
    })
    .map_err(ConnectError::Client)
}

/// RFC 6455 section 4.1's checks of the server's answer.
fn check_upgrade(resp: &crate::client::Response, key: &str) -> Result<(), ClientHandshakeError> {
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(ClientHandshakeError::Status(resp.status().as_u16()));
    }
    let has = |name: http::header::HeaderName, token: &str| {
        resp.headers().get_all(name).iter().any(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    if !has(UPGRADE, "websocket") || !has(CONNECTION, "upgrade") {
        return Err(ClientHandshakeError::NotUpgraded);
    }
    match resp.headers().get("sec-websocket-accept") {
        Some(v) if v.as_bytes() == accept_key(key.as_bytes()).as_bytes() => Ok(()),
        _ => Err(ClientHandshakeError::BadAccept),
    }
}
