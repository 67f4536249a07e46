// Cost notes (callgrind, release hello_server, GET / with a Host field;
// the difference of two runs of N requests, so startup is left out). 16
// pipelined requests per write: 3.94k instructions per request (hyper 1.x:
// 3.60k) before the one-pass parser, 2.41k after it (counted over a whole
// wrk run, startup included: 3.84k -> 2.41k; wrk at 64 connections, one
// request per round trip: 5.97k -> 4.57k). What a head costs is kept down
// by: the common head (a known method, an origin-form target, HTTP/1.1,
// plain field lines, in the input's first piece) found and tokenised in
// one pass instead of the scanner's pass and httparse's
// (proto/fast_head.rs; anything else goes the full way, and the checks
// after tokenising are the full path's own); its field map left to the
// handler's first look when no check needs it (no Content-Length,
// Transfer-Encoding or Expect): ~700 less for a handler that reads no
// field, ~290 more for one that does (the map is then made from the head
// through a OnceLock, without the connection's Host cache); the last valid
// Host value kept per connection (owned bytes), so a repeated Host is
// neither re-validated nor re-checked (~300); the head split off the input
// as Bytes without a copy (field values and the target are slices of the
// read buffer), a spare HeaderMap reused across requests
// (proto/spare_maps.rs), a plain 200 written from a per-second prefix
// (respond.rs), and the reader working on the held input in place, the
// stream's buffers swapped with the connection's empty spares in one look
// at both tables (engine.rs: hold, give_back). Per event (one request per
// round trip, before the one-pass parser) the split was: the loop outside
// callbacks ~590 (poll ~320, one monotonic clock read before and one after
// the poll ~130: the wall clock is interpolated between reads every half
// second, as libev does), calling the io watcher ~175, evloop-buffer
// ~1.03k (the read and the write with their system-call wrappers, taking
// and restoring the read callback, settling; the stream is looked up once
// per step), and this crate's read callback ~4.96k. The stream has a write
// callback only while a streamed response has a producer
// (Responder::on_drain), so a plain reply runs none. Each look at the
// connection or the stream (an extension-slot search by TypeId and a
// downcast) costs ~25-30: about 20 downcasts per request remain, 4 of them
// evloop-buffer's own. Before the perf pass (git 7d2af5f) these were
// 1.09k, 175, 1.72k and 5.56k (8.55k in all). System calls per request:
// one recv(2) and one send(2) (readv/writev, then read/write before),
// and a share of epoll_pwait2; no epoll_ctl while a connection is kept
// alive.

//! The server: listeners, connections, routing, responses (libevent's
//! evhttp, with hyper's pipelining, upgrades and limits).
//!
//! # Model
//!
//! * A server lives inside the loop (in its extension slot), as
//!   evloop-buffer's streams do: [`ServerExt::new_server`] makes one from a
//!   [`Router`] and [`ServerOptions`] and returns a `Copy` [`ServerId`];
//!   [`ctx.server(id)`](ServerExt::server) lends a [`Server`] to
//!   [`listen`](Server::listen) on TCP or Unix addresses (several per
//!   server), [serve sockets bound already](Server::listen_on),
//!   [stop listening](Server::stop_listening) on one, or
//!   [`shutdown`](Server::shutdown).
//! * Handlers are `FnMut(&mut Ctx<'_, T>, &mut T, Request) -> R` with `R`
//!   a [`Reply`] or an `http::Response<Body>`: the same shared-state model
//!   as evloop's watchers, no `Rc<RefCell<_>>`.
//! * [`Router`]: exact paths, then the longest prefix, then the fallback
//!   (404). A known method a route does not take gets 405 with `Allow`;
//!   one HTTP does not define gets 501, unless the route names it or
//!   takes any method ([`Route::any_method`], for proxies and gateways).
//! * A request is answered by the handler's return value, or later through
//!   its [`Responder`] (a `Copy` token) from any callback on the loop, or
//!   from another thread through a [`RemoteResponder`].
//! * Request bodies are buffered for the handler (up to
//!   [`Limits::max_body`](crate::proto::Limits), 413 above), or streamed to
//!   it ([`Route::stream_body`], [`Responder::read_body`]) with
//!   back-pressure. `Expect: 100-continue` is answered only once the limit
//!   check (buffered routes) or the handler (streaming routes, by calling
//!   `read_body`) accepts the body.
//! * Responses: fixed bodies with `Content-Length` ([`Body::Bytes`]), files
//!   sent with `sendfile` ([`Body::File`]), streamed bodies
//!   ([`Responder::stream`]: with the handler's `Content-Length` when it
//!   gives one, else chunked for HTTP/1.1 and close-delimited for 1.0)
//!   with a producer called when the output runs low
//!   ([`Responder::on_drain`]).
//! * A client that leaves before its answer is complete is reported by
//!   [`Responder::on_close`] (the connection reset or closed, or the
//!   request dropped behind a response that closed it), so the work for it
//!   can stop. An EOF while a request waits is a half close by default
//!   (the answer still goes out, RFC 9112 9.6);
//!   [`ServerOptions::client_eof_aborts`] takes it as the client leaving,
//!   as nginx does for proxied requests.
//! * HEAD is answered with the fields GET would get and no body: from a
//!   body, its length; from no body (a head a proxy or cache holds), the
//!   handler's own `Content-Length`, or none (never a made-up `0`).
//! * A response that cannot be completed (its source failed) is given up
//!   with [`Responder::abort`]: the connection closes without the body's
//!   end (or without any answer if no head was sent), so the client sees
//!   a failed exchange, never a truncated body that looks whole.
//! * Connections: keep-alive by default for 1.1 and on request for 1.0;
//!   pipelined requests are read ahead (up to
//!   [`ServerOptions::max_pipeline`]) and answered strictly in order, the
//!   responses of one batch written with one gathered send.
//!   `TCP_NODELAY` is set on accepted sockets. A malformed request is answered with the
//!   parser's status and `Connection: close`; nothing after it is parsed.
//! * Deadlines on by default (see the table below) and a maximum number
//!   of connections.
//!
//! # Deadlines and limits
//!
//! | What | Default | Set with | At the deadline |
//! |---|---|---|---|
//! | a whole request head, from its first byte (slowloris) | 30 s | [`ServerOptions::header_timeout`] | `408`, close (a silent close if nothing of it came) |
//! | a request body without a byte arriving | 30 s | [`ServerOptions::body_timeout`] | `408` (unless answered), close |
//! | an idle keep-alive connection | 60 s | [`ServerOptions::keepalive_timeout`] | silent close |
//! | response bytes waiting without one being sent (the client reads nothing) | 60 s | [`ServerOptions::write_timeout`] | close (no response can get through) |
//! | reading what the client still sends after the last response | 2 s | [`ServerOptions::linger`] | close |
//! | connections held at once | 10 000 | [`ServerOptions::max_connections`] | accepting pauses |
//! | requests read ahead per connection | 32 | [`ServerOptions::max_pipeline`] | reading pauses |
//!
//! Zero turns a deadline off. Size limits (request line, head, header
//! count, body, chunk extensions, trailers) are in
//! [`Limits`](crate::proto::Limits).
//!
//! # A server
//!
//! ```
//! use std::io::{Read, Write};
//! use evloop::{Loop, RunMode};
//! use evloop_buffer::ListenAddr;
//! use evloop_http::server::{Body, Router, ServerExt, ServerOptions};
//! use http::{Method, Response};
//!
//! let mut router: Router<u32> = Router::new();
//! router.exact("/", &[Method::GET], |_ctx, hits, _req| {
//!     *hits += 1;
//!     Response::new(Body::from("Hello, World!"))
//! });
//! let mut lp: Loop<u32> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let id = ctx.new_server(router, ServerOptions::new())?;
//! let ListenAddr::Tcp(addr) = ctx.server(id)?.listen("127.0.0.1:0")? else { unreachable!() };
//!
//! let client = std::thread::spawn(move || {
//!     let mut c = std::net::TcpStream::connect(addr).unwrap();
//!     c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//!     let mut answer = String::new();
//!     c.read_to_string(&mut answer).unwrap();
//!     answer
//! });
//! // Serve until the client is done (without blocking: the client may
//! // finish between two iterations), then shut down.
//! let mut hits = 0;
//! while !client.is_finished() {
//!     lp.run(&mut hits, RunMode::NoWait)?;
//!     std::thread::sleep(std::time::Duration::from_millis(1));
//! }
//! let answer = client.join().unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(answer.ends_with("\r\n\r\nHello, World!"));
//! assert_eq!(hits, 1);
//! lp.ctx().server(id)?.shutdown(|_, _| {});
//! lp.run(&mut hits, RunMode::Default)?; // returns once the server is gone
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod abort;
mod body;
mod body_in;
mod close;
mod conn;
mod date;
mod deadline;
mod engine;
mod handle;
mod kick;
mod listen;
mod on_close;
mod options;
mod read;
mod request;
mod respond;
mod responder;
mod route;
mod slab;
mod state;
mod stream_out;
mod upgrade;

pub use body::{Body, BodyChunk};
pub use handle::{Server, ServerExt, ServerId};
pub use options::ServerOptions;
pub use request::Request;
pub use responder::{RemoteResponder, Responder};
pub use route::{Reply, Route, Router};
