//! Buffered streams for [evloop]: libevent's buffer layer, built only on
//! evloop's public API.
//!
//! | type | libevent | what it does |
//! |---|---|---|
//! | [`Buffer`] | evbuffer | a byte queue of reference-counted chunks: append, prepend and move without copying, search and read lines across chunk boundaries, `readv`/`writev`/`sendfile` |
//! | [`BufferedStream`] | bufferevent | a non-blocking socket with an input and an output `Buffer`, moved by the loop: read, write and event callbacks, watermarks, per-direction timeouts, connect, close after flushing |
//! | [`Listener`] | evconnlistener | accepts connections in batches; pauses instead of spinning when the process runs out of fds |
//!
//! Streams and listeners live inside the loop (in its extension slot) and
//! are named by `Copy` handles, [`StreamId`] and [`ListenerId`], that carry
//! their loop's identity: a handle of another loop is refused
//! ([`evloop::Error::ForeignHandle`]), one whose stream was closed is stale
//! ([`evloop::Error::StaleHandle`]). Any callback reaches any stream
//! through its `&mut Ctx` with [`StreamExt::stream`] (and any listener with
//! [`ListenerExt::listener`]); outside callbacks, `lp.ctx()` gives the
//! `Ctx`. So a server needs no `Rc<RefCell<_>>` (the [`stream`] module has
//! the whole model).
//!
//! | on `Ctx` | makes |
//! |---|---|
//! | [`new_stream(socket)`](StreamExt::new_stream) | a stream of a connected socket (`TcpStream`, `UnixStream`, [`Accepted`], `OwnedFd`) |
//! | [`new_stream_connect(addr)`](StreamExt::new_stream_connect) | a stream that connects (non-blocking) |
//! | [`new_stream_pair()`](StreamExt::new_stream_pair) | two connected streams (a socketpair) |
//! | [`listen(addr, &opts, on_accept)`](ListenerExt::listen) | a listener on `"127.0.0.1:7100"`, `"unix:/run/app.sock"`, a `SocketAddr` or a path ([`ToListenAddr`]) |
//! | [`listen_on(socket, &opts, on_accept)`](ListenerExt::listen_on) | a listener on a socket bound already |
//!
//! # A TCP server
//!
//! A line echo server: it listens on a free port, makes a stream of each
//! connection and sends every line back. The client (in a thread, so that
//! this one can run the loop) sends two lines, the last one without a line
//! end, and hangs up; the server still gets that last line, because
//! [`BufferedStream::read_line`] returns the rest of the input as the last
//! line once the peer has sent EOF.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{Shutdown, TcpStream};
//! use evloop::{Loop, RunMode};
//! use evloop_buffer::{Eol, ListenAddr, ListenerExt, ListenerOptions, StreamExt};
//!
//! let mut lp: Loop<usize> = Loop::new()?; // the application state: lines echoed
//! let mut ctx = lp.ctx();
//! let listener = ctx.listen("127.0.0.1:0", &ListenerOptions::new(), |ctx, _, lid, conn| {
//!     let Ok(id) = ctx.new_stream(conn) else { return };
//!     ctx.stream(id).unwrap().on_read(|ctx, echoed, id| {
//!         let mut s = ctx.stream(id).unwrap();
//!         while let Some(line) = s.read_line(Eol::CrlfOrLf) {
//!             s.write(&line);
//!             s.write(b"\n");
//!             *echoed += 1;
//!         }
//!     });
//!     // Without an event callback the stream closes itself once the
//!     // client hangs up, after sending what is queued.
//!     ctx.listener(lid).unwrap().close(); // one client for this example: then run returns
//! })?;
//! let ListenAddr::Tcp(addr) = ctx.listener(listener)?.local_addr()? else { unreachable!() };
//!
//! let client = std::thread::spawn(move || -> std::io::Result<String> {
//!     let mut c = TcpStream::connect(addr)?;
//!     c.write_all(b"hello\r\nworld")?; // no line end after "world"
//!     c.shutdown(Shutdown::Write)?;
//!     let mut back = String::new();
//!     c.read_to_string(&mut back)?;
//!     Ok(back)
//! });
//! let mut echoed = 0;
//! lp.run(&mut echoed, RunMode::Default)?;
//! assert_eq!(client.join().unwrap()?, "hello\nworld\n");
//! assert_eq!(echoed, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Lines, and how long they may get
//!
//! [`Buffer::read_line`] takes a line once its line end is buffered;
//! [`BufferedStream::read_line`] also takes the unterminated rest at EOF
//! (and the read callback runs once more at EOF for it).
//!
//! **A peer that never sends a line end makes the input grow**: the
//! incomplete line stays buffered, and every read adds to it, up to the
//! stream's read high watermark, or without any bound if none is set
//! (the default). A line-based server should set the high watermark
//! ([`Watermarks::read_high`]) to the longest line it accepts and drop a
//! client whose input reaches it with no line end;
//! [`BufferedStream::read_line`] shows it, and the `chat` example does it.
//!
//! # Priorities and keepalive
//!
//! A stream's or listener's watchers are its own; their settings are
//! reached through it: [`BufferedStream::set_priority`] and
//! [`Listener::set_priority`] order its callbacks against other watchers,
//! and [`BufferedStream::set_keepalive`]`(false)` and
//! [`Listener::set_keepalive`]`(false)` let `run` return while it is still
//! open (as evloop's `Watcher::set_keepalive` does for a watcher).
//! [`BufferedStream::is_active`] tells whether a stream waits on its
//! socket, and so keeps `run` going.
//!
//! # Two streams in one process
//!
//! Here two streams of an in-process pair talk: one sends a line, the
//! other answers it.
//!
//! ```
//! use evloop::{Loop, RunMode};
//! use evloop_buffer::{Eol, StreamExt};
//!
//! let mut lp: Loop<Vec<String>> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let (client, server) = ctx.new_stream_pair()?;
//! ctx.stream(server)?.on_read(|ctx, _log, id| {
//!     let mut s = ctx.stream(id).unwrap();
//!     while let Some(line) = s.read_line(Eol::CrlfOrLf) {
//!         let answer = format!("you said {}\n", String::from_utf8_lossy(&line));
//!         s.write(answer.as_bytes());
//!     }
//! });
//! let mut c = ctx.stream(client)?;
//! c.write(b"hello\n");
//! c.on_read(|ctx, log, id| {
//!     let mut s = ctx.stream(id).unwrap();
//!     if let Some(line) = s.read_line(Eol::Lf) {
//!         log.push(String::from_utf8_lossy(&line).into_owned());
//!         drop(s);
//!         ctx.break_loop(evloop::Break::All);
//!     }
//! });
//! drop(c);
//! let mut log = Vec::new();
//! lp.run(&mut log, RunMode::Default)?;
//! assert_eq!(log, ["you said hello"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The workspace's `memcached` example is a complete server on this crate;
//! `stream_echo` and `chat` in this crate's `examples/` are small ones.

mod buffer;

pub use buffer::{Buffer, Eol};

mod listener;
pub mod stream;

pub use listener::{
    Accepted, ListenAddr, ListenSocket, Listener, ListenerEvent, ListenerExt, ListenerId,
    ListenerOptions, ToListenAddr,
};
pub use stream::{
    BufferedStream, Direction, RateGroup, RateGroupId, RateLimit, StreamEvent, StreamExt, StreamId,
    Watermarks, DEFAULT_MIN_SHARE, DEFAULT_READ_SIZE, DEFAULT_WRITE_SIZE,
};
