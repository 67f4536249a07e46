//! HTTP/1.1 for [evloop], on [evloop_buffer]'s streams.
//!
//! # Server
//!
//! [`server`] is libevent's evhttp done over: routes with a fallback,
//! answers now or later (from any callback, or another thread), request
//! bodies buffered or streamed with back-pressure, fixed, file (`sendfile`)
//! and streamed responses, keep-alive and pipelining with one `writev` per
//! batch, strict parsing ([`proto`]), deadlines and limits on by default,
//! upgrades, graceful shutdown.
//!
//! ```
//! use evloop::Loop;
//! use evloop_http::server::{Body, Router, ServerExt, ServerOptions};
//! use http::{Method, Response};
//!
//! let mut router: Router<()> = Router::new();
//! router.exact("/", &[Method::GET], |_ctx, _state, _req| {
//!     Response::new(Body::from("Hello, World!"))
//! });
//! let mut lp: Loop<()> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let id = ctx.new_server(router, ServerOptions::new())?;
//! let addr = ctx.server(id)?.listen("127.0.0.1:0")?;
//! println!("listening on {addr}");
//! // lp.run(&mut (), evloop::RunMode::Default) would serve until stopped.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## From evhttp
//!
//! | evhttp | evloop-http |
//! |---|---|
//! | `evhttp_new(base)` | [`ctx.new_server(router, opts)`](server::ServerExt::new_server) |
//! | `evhttp_bind_socket(http, addr, port)` | [`ctx.server(id)?.listen("addr:port")`](server::Server::listen) (TCP or `unix:PATH`, several per server) |
//! | `evhttp_accept_socket(http, fd)` | [`listen_on(std_listener)`](server::Server::listen_on) (a `TcpListener`, `UnixListener` or [`evloop_buffer::ListenSocket`]) |
//! | `evhttp_del_accept_socket(http, handle)` | [`stop_listening(&addr)`](server::Server::stop_listening), with the address `listen`/`listen_on` returned; [`listen_addrs`](server::Server::listen_addrs) lists them |
//! | `evhttp_set_cb(http, path, cb, arg)` | [`router.exact(path, methods, handler)`](server::Router::exact); [`prefix`](server::Router::prefix) for path prefixes |
//! | `evhttp_set_gencb` | [`router.fallback(handler)`](server::Router::fallback) (404 when unset) |
//! | `evhttp_set_allowed_methods` | the methods of each route: 405 with `Allow`, 501 for unknown methods |
//! | `evhttp_send_reply(req, code, reason, buf)` | return an `http::Response<Body>`, or [`Responder::respond`](server::Responder::respond) |
//! | `evhttp_request_own` + a later reply | [`Reply::Later`](server::Reply::Later) and the `Copy` [`Responder`](server::Responder); from other threads [`Responder::remote`](server::Responder::remote) |
//! | `evhttp_send_reply_start/_chunk/_end` | [`Responder::stream`](server::Responder::stream), [`send`](server::Responder::send), [`finish`](server::Responder::finish), with [`on_drain`](server::Responder::on_drain) for back-pressure |
//! | `evhttp_set_max_body_size`, `set_max_headers_size` | [`ServerOptions::with_limits`](server::ServerOptions::with_limits) ([`proto::Limits`]); 413, 414, 431 |
//! | `evhttp_set_timeout` | [`header_timeout`](server::ServerOptions::header_timeout), [`body_timeout`](server::ServerOptions::body_timeout), [`keepalive_timeout`](server::ServerOptions::keepalive_timeout), [`write_timeout`](server::ServerOptions::write_timeout) |
//! | `evhttp_set_max_connections` | [`ServerOptions::max_connections`](server::ServerOptions::max_connections) (stops accepting at the limit) |
//! | `evhttp_set_default_content_type` | [`ServerOptions::default_content_type`](server::ServerOptions::default_content_type) |
//! | body callbacks (libevent PR #1865) | [`Route::stream_body`](server::Route::stream_body) and [`Responder::read_body`](server::Responder::read_body) |
//! | `evhttp_free` | [`Server::shutdown`](server::Server::shutdown) (graceful: finishes requests in flight) |
//!
//! Differences: pipelined requests are read ahead and answered in order
//! (evhttp reads the next request only after answering); `100 Continue`
//! waits for the route's limit check or for the handler to ask for the
//! body; a request with a framing error gets its status and a close, and
//! nothing after it is read.
#![forbid(unsafe_code)]

pub mod client;
pub mod proto;
pub mod server;
pub mod ws;
