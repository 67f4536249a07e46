//! The client: HTTP/1.1 requests from the loop, with a keep-alive pool
//! (libevent's `evhttp_connection` + `evhttp_make_request`, with what
//! hyper's client and curl add: streamed bodies both ways, happy-eyeballs
//! connects by host name, redirects, upgrades).
//!
//! # Model
//!
//! * A client lives inside the loop (in its extension slot), as the
//!   [server](crate::server) does: [`ClientExt::new_client`] makes one
//!   from [`ClientOptions`] and returns a `Copy` [`ClientId`];
//!   [`ctx.client(id)`](ClientExt::client) lends a [`Client`] to
//!   [`send`](Client::send) requests (the `http` crate's
//!   `Request<RequestBody>`).
//! * Each request ends with exactly one call of its callback, from the
//!   loop, with a [`Response`] or a [`ClientError`] (unless it is
//!   [cancelled](RequestId::cancel)); callbacks get `&mut Ctx` and `&mut T`
//!   like every evloop callback, so they can send more requests.
//! * Connections: IP literals are connected to directly, host names
//!   through evloop-dns (AAAA and A at once, happy eyeballs), or a Unix
//!   socket ([`RequestOptions::unix_socket`]). One pool per (host, port) or
//!   socket path: idle connections are reused (most recent first), closed
//!   after [`ClientOptions::idle_timeout`] or as soon as the server closes
//!   them; at most [`ClientOptions::max_per_host`] per pool and
//!   [`ClientOptions::max_total`] in all, further requests wait in order.
//!   A connection goes back to the pool only once its response was read
//!   to the end. Idle connections do not keep the loop running.
//! * The keep-alive race: a request sent on a reused connection that the
//!   server closes before any byte of an answer is sent once more on a new
//!   connection if it is idempotent (GET, HEAD, PUT, DELETE, OPTIONS,
//!   TRACE) and its body can be sent again (not a stream); never twice,
//!   never otherwise.
//! * Request bodies ([`RequestBody`]): bytes and file segments (`sendfile`)
//!   with `Content-Length`; streams, chunked unless the request has a
//!   `Content-Length`, produced with [`RequestId::send_body`] /
//!   [`finish_body`](RequestId::finish_body) (trailers too) and a producer
//!   called when the output runs low ([`RequestId::on_drain`]).
//!   `Expect: 100-continue` holds the body until `100 Continue`, a final
//!   status (the body is then not sent, and the connection not reused), or
//!   [`ClientOptions::expect_continue_timeout`].
//! * Responses: strict framing by default (the server's rules: conflicting
//!   lengths, bad chunks, oversized heads are [`ClientError::Protocol`]),
//!   [`Lenient`](crate::proto::Lenient) switches for servers that break
//!   them. Interim responses are kept ([`Response::informational`]), and
//!   which connection answered ([`Response::connection`]); HEAD,
//!   204 and 304 have no body; a body cut short is
//!   [`ClientError::Closed`], never a short response. Buffered up to
//!   [`Limits::max_body`](crate::proto::Limits::max_body), or streamed
//!   ([`RequestOptions::stream_response`], [`RequestId::read_body`]) with
//!   read back-pressure ([`pause_body`](RequestId::pause_body)): a body
//!   nobody takes stops the socket being read.
//! * Deadlines: connect, response head, body stall (either way), whole
//!   request ([`ClientOptions`], [`RequestOptions::timeout`]).
//! * Redirects when asked ([`ClientOptions::follow_redirects`],
//!   [`RequestOptions::follow_redirects`]) with RFC 9110's method rules.
//! * Upgrades: a request with `Upgrade` answered with `101`, or a CONNECT
//!   answered with a 2xx, hands the connection's stream over
//!   ([`Response::take_upgrade`]); [`ws::connect_url`](crate::ws::connect_url)
//!   builds a WebSocket client on it.
//! * Only `http`: `https` is [`ClientError::UnsupportedScheme`].
//!
//! # A request to a server on the same loop
//!
//! ```
//! use evloop::{Loop, RunMode};
//! use evloop_buffer::ListenAddr;
//! use evloop_http::client::{ClientExt, ClientOptions, RequestBody};
//! use evloop_http::server::{Body, Router, ServerExt, ServerOptions};
//! use http::{Method, Request, Response};
//!
//! let mut router: Router<Option<String>> = Router::new();
//! router.exact("/", &[Method::GET], |_, _, _| Response::new(Body::from("Hello, World!")));
//! let mut lp: Loop<Option<String>> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let server = ctx.new_server(router, ServerOptions::new())?;
//! let ListenAddr::Tcp(addr) = ctx.server(server)?.listen("127.0.0.1:0")? else { unreachable!() };
//!
//! let client = ctx.new_client(ClientOptions::new())?;
//! let req = Request::get(format!("http://{addr}/")).body(RequestBody::Empty)?;
//! ctx.client(client)?.send(req, move |ctx, out, res| {
//!     let resp = res.expect("a response");
//!     assert_eq!(resp.status(), 200);
//!     *out = Some(String::from_utf8_lossy(resp.body()).into_owned());
//!     // Done: let the loop end (idle pooled connections do not hold it).
//!     ctx.server(server).unwrap().shutdown(|_, _| {});
//! })?;
//! let mut out = None;
//! lp.run(&mut out, RunMode::Default)?;
//! assert_eq!(out.as_deref(), Some("Hello, World!"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Streaming both ways
//!
//! An upload produced as the connection takes it, and the answer read
//! piece by piece:
//!
//! ```
//! use evloop::{Loop, RunMode};
//! use evloop_buffer::ListenAddr;
//! use evloop_http::client::{ClientExt, ClientOptions, RequestBody, RequestOptions, ResponseChunk};
//! use evloop_http::server::{Body, Router, ServerExt, ServerOptions};
//! use http::{HeaderMap, Method, Request, Response};
//!
//! #[derive(Default)]
//! struct St { sent: usize, received: usize, done: bool }
//!
//! let mut router: Router<St> = Router::new();
//! router.exact("/echo", &[Method::POST], |_, _, mut req| Response::new(Body::from(req.take_body())));
//! let mut lp: Loop<St> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let server = ctx.new_server(router, ServerOptions::new())?;
//! let ListenAddr::Tcp(addr) = ctx.server(server)?.listen("127.0.0.1:0")? else { unreachable!() };
//! let client = ctx.new_client(ClientOptions::new())?;
//!
//! let req = Request::post(format!("http://{addr}/echo")).body(RequestBody::Stream)?;
//! let opts = RequestOptions::new().stream_response(true);
//! let id = ctx.client(client)?.send_with(req, opts, move |ctx, _, res| {
//!     let head = res.expect("a response head");
//!     head.request_id().read_body(ctx, move |ctx, st: &mut St, _, chunk| match chunk {
//!         ResponseChunk::Data(bytes) => st.received += bytes.len(),
//!         ResponseChunk::End(_trailers) => {
//!             st.done = true;
//!             ctx.server(server).unwrap().shutdown(|_, _| {});
//!         }
//!         ResponseChunk::Error(e) => panic!("{e}"),
//!     }).unwrap();
//! })?;
//! // The producer: called whenever little of the body waits to be sent.
//! id.on_drain(&mut ctx, |ctx, st: &mut St, id| {
//!     while st.sent < 1 << 20 && id.buffered(ctx) < 64 * 1024 {
//!         id.send_body(ctx, vec![b'x'; 8192]).unwrap();
//!         st.sent += 8192;
//!     }
//!     if st.sent == 1 << 20 {
//!         id.finish_body(ctx, HeaderMap::new()).unwrap();
//!     }
//! })?;
//! let mut st = St::default();
//! lp.run(&mut st, RunMode::Default)?;
//! assert!(st.done);
//! assert_eq!(st.received, 1 << 20);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod body;
mod body_in;
mod body_out;
mod conn;
mod connect;
mod deadline;
mod error;
mod finish;
mod follow;
mod handle;
mod options;
mod pool;
mod prepare;
mod read;
mod redirect;
mod response;
mod send;
mod state;

pub use body::{RequestBody, ResponseChunk};
pub use error::{ClientError, TimeoutKind};
pub use handle::{Client, ClientExt, ClientId, RequestId};
pub use options::{ClientOptions, RequestOptions};
pub use response::{ConnectionInfo, Response};
