//! Accepting a WebSocket on this crate's HTTP server: the handshake check,
//! the 101 response and the hand-over of the connection, in one call.

use evloop::Ctx;
use http::{Response, StatusCode};

use super::config::{Config, Role};
use super::handshake::check_request;
use super::socket::{WebSocketExt, WsId};
use crate::server::{Body, Reply, Request};

/// Accepts `req`, an upgrade to WebSocket, from a handler: checks the
/// handshake, sends `101 Switching Protocols` and makes the connection a
/// WebSocket with `config`; the handler then returns [`Reply::Later`].
/// Frames the client sent right behind its request are not lost: they
/// are decoded once the caller has set its callbacks.
///
/// # Errors
///
/// The response to return instead (`Reply::Now(response)`): `400` for a
/// request that is not a valid handshake, `426` with
/// `Sec-WebSocket-Version: 13` for another protocol version, `500` if the
/// server cannot hand the connection over (a request that is not the
/// oldest in flight, or whose body was not read).
///
/// ```
/// use evloop_http::server::{Reply, Router};
/// use evloop_http::ws::{self, Config, Message, WebSocketExt};
/// use http::Method;
///
/// let mut router: Router<()> = Router::new();
/// router.exact("/echo", &[Method::GET], |ctx, _, req| {
///     let id = match ws::accept(ctx, &req, Config::default()) {
///         Ok(id) => id,
///         Err(refusal) => return Reply::Now(refusal),
///     };
///     ctx.websocket(id).unwrap().on_message(|ctx, _, id, msg| {
///         if let Message::Text(t) = msg {
///             let _ = ctx.websocket(id).unwrap().send_text(&t);
///         }
///     });
///     Reply::Later
/// });
/// ```
pub fn accept<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    req: &Request,
    config: Config,
) -> Result<WsId, Response<Body>> {
    accept_protocol(ctx, req, config, &[])
}

/// [`accept`], choosing a subprotocol: the first of `supported` (in our
/// order of preference) that the client offered in
/// `Sec-WebSocket-Protocol` is named in the response. If none matches the
/// handshake still succeeds without one (the client decides whether to go
/// on, RFC 6455 section 4.1).
///
/// # Errors
///
/// As [`accept`].
pub fn accept_protocol<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    req: &Request,
    config: Config,
    supported: &[&str],
) -> Result<WsId, Response<Body>> {
    let mut ok = match check_request(req.method(), req.version(), req.headers()) {
        Ok(ok) => ok,
        Err(e) => {
            let mut resp = Response::new(Body::from(format!("{e}\n")));
            *resp.status_mut() = e.status();
            resp.headers_mut().extend(e.headers());
            return Err(resp);
        }
    };
    ok.select_protocol(supported);
    let mut head = Response::new(());
    *head.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *head.headers_mut() = ok.response_headers();
    let refused = |what: &str| {
        let mut resp = Response::new(Body::from(format!("cannot upgrade: {what}\n")));
        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        resp
    };
    let stream = req
        .responder()
        .upgrade(ctx, head)
        .map_err(|e| refused(&e.to_string()))?;
    ctx.new_websocket(stream, Role::Server, config)
        .map_err(|e| refused(&e.to_string()))
}

/// A route handler that accepts WebSocket upgrades (refusing bad
/// handshakes with their status) and gives each new WebSocket to
/// `on_open`, with its request, to set its callbacks.
///
/// ```
/// use evloop_http::server::Router;
/// use evloop_http::ws::{self, Config, Message, WebSocketExt};
/// use http::Method;
///
/// // A chat: every message goes to every client.
/// #[derive(Default)]
/// struct Chat { clients: Vec<ws::WsId> }
///
/// let mut router: Router<Chat> = Router::new();
/// router.exact("/ws", &[Method::GET], ws::handler(Config::default(), |ctx, chat: &mut Chat, id, _req| {
///     chat.clients.push(id);
///     let mut ws = ctx.websocket(id).unwrap();
///     ws.on_message(|ctx, chat, _, msg| {
///         if let Message::Text(t) = msg {
///             for &c in &chat.clients {
///                 let _ = ctx.websocket(c).map(|mut ws| ws.send_text(&t));
///             }
///         }
///     });
///     ws.on_close(|_, chat, id, _| chat.clients.retain(|&c| c != id));
/// }));
/// ```
pub fn handler<T, F>(
    config: Config,
    mut on_open: F,
) -> impl FnMut(&mut Ctx<'_, T>, &mut T, Request) -> Reply + 'static
where
    T: 'static,
    F: FnMut(&mut Ctx<'_, T>, &mut T, WsId, &Request) + 'static,
{
    move |ctx, data, req| match accept(ctx, &req, config.clone()) {
        Ok(id) => {
            on_open(ctx, data, id, &req);
            Reply::Later
        }
        Err(refusal) => Reply::Now(refusal),
    }
}
