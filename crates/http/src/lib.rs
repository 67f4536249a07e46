//! HTTP/1.1 for [evloop], on [evloop_buffer]'s streams.
//!
//! # Server
//!
//! [`server`] is libevent's evhttp done over: routes with a fallback,
//! answers now or later (from any callback, or another thread), request
//! bodies buffered or streamed with back-pressure, fixed, file (`sendfile`)
//! and streamed responses, keep-alive and pipelining with one gathered
//! send per batch, strict parsing ([`proto`]), deadlines and limits on by default,
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
//!
//! # Client
//!
//! [`client`] sends requests from the loop: a keep-alive pool per host
//! with caps and a queue, connects by host name (evloop-dns, happy
//! eyeballs), by IP or over a Unix socket, request bodies fixed, from a
//! file or streamed with back-pressure, responses buffered or streamed
//! with read back-pressure, strict framing (lenient switches available),
//! deadlines, cancellation, redirects when asked, upgrades, and a
//! WebSocket client on top ([`ws::connect_url`]).
//!
//! ```
//! use evloop::{Loop, RunMode};
//! use evloop_http::client::{ClientExt, ClientOptions, RequestBody};
//! use http::Request;
//!
//! let server = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = server.local_addr()?;
//! std::thread::spawn(move || {
//!     use std::io::{Read, Write};
//!     let (mut c, _) = server.accept().unwrap();
//!     let mut buf = [0u8; 1024];
//!     let _ = c.read(&mut buf).unwrap();
//!     c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
//! });
//! let mut lp: Loop<Option<u16>> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let client = ctx.new_client(ClientOptions::new())?;
//! let req = Request::get(format!("http://{addr}/")).body(RequestBody::Empty)?;
//! ctx.client(client)?.send(req, |_, status, res| {
//!     *status = Some(res.unwrap().status().as_u16());
//! })?;
//! let mut status = None;
//! lp.run(&mut status, RunMode::Default)?; // returns once the request is done
//! assert_eq!(status, Some(200));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## From evhttp's client
//!
//! | evhttp | evloop-http |
//! |---|---|
//! | `evhttp_connection_base_new(base, dns, host, port)` | [`ctx.new_client(opts)`](client::ClientExt::new_client) once; connections are made per request from the URL, pooled per (host, port), resolved with [`ClientOptions::resolver`](client::ClientOptions::resolver) |
//! | `evhttp_connection_base_bufferevent_unix_new` | [`RequestOptions::unix_socket`](client::RequestOptions::unix_socket) |
//! | `evhttp_request_new(cb, arg)` + `evhttp_make_request(evcon, req, type, uri)` | [`client.send(http::Request, cb)`](client::Client::send) (the callback gets the `Response` or a `ClientError`) |
//! | `evhttp_cancel_request` | [`RequestId::cancel`](client::RequestId::cancel) (the callback never runs; the connection is closed) |
//! | `evhttp_request_set_chunked_cb` | [`RequestOptions::stream_response`](client::RequestOptions::stream_response) + [`RequestId::read_body`](client::RequestId::read_body), with [`pause_body`](client::RequestId::pause_body)/[`resume_body`](client::RequestId::resume_body) |
//! | `evhttp_request_set_header_cb` | the streamed response's callback gets the head first; [`cancel`](client::RequestId::cancel) to abort |
//! | `evhttp_request_set_error_cb` (`EVREQ_HTTP_TIMEOUT`, `_EOF`, `_INVALID_HEADER`, `_DATA_TOO_LONG`, ...) | [`ClientError`](client::ClientError) (`Timeout(kind)`, `Closed`, `Protocol`, `BodyTooLarge`, ...) |
//! | streaming uploads (libevent#483, #1131: none) | [`RequestBody::Stream`](client::RequestBody::Stream), [`send_body`](client::RequestId::send_body), [`finish_body`](client::RequestId::finish_body), [`on_drain`](client::RequestId::on_drain) |
//! | `evhttp_connection_set_timeout`, `set_connect_timeout_tv`, `set_read_timeout_tv`, `set_write_timeout_tv` | [`ClientOptions::connect_timeout`](client::ClientOptions::connect_timeout), [`head_timeout`](client::ClientOptions::head_timeout), [`body_timeout`](client::ClientOptions::body_timeout) (a stall either way), [`request_timeout`](client::ClientOptions::request_timeout), per request [`RequestOptions::timeout`](client::RequestOptions::timeout) |
//! | `evhttp_connection_set_retries`, `set_initial_retry_tv` | one automatic retry, for the keep-alive race only (idempotent method, replayable body, reused connection, nothing answered); other retries are the caller's choice |
//! | `evhttp_connection_set_max_headers_size`, `set_max_body_size` | [`ClientOptions::limits`](client::ClientOptions::limits) ([`proto::Limits`]) |
//! | `evhttp_connection_set_family` | happy eyeballs over both families (evloop-dns's [`ConnectOptions`](evloop_dns::connect::ConnectOptions)) |
//! | `evhttp_connection_free`, `set_closecb` | [`Client::close_idle`](client::Client::close_idle), [`Client::shutdown`](client::Client::shutdown) |
//! | `evhttp_connection_get_peer` | [`Client::connection_count`](client::Client::connection_count), [`idle_count`](client::Client::idle_count) |
//!
//! Differences: many requests per client, any number of hosts, a pool
//! with caps instead of one connection with a queue; address families
//! raced instead of waited for; strict response parsing by default.
#![forbid(unsafe_code)]

pub mod client;
pub mod proto;
pub mod server;
pub mod ws;
