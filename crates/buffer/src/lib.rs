//! Buffered streams for [evloop]: libevent's buffer layer, built only on
//! evloop's public API.
//!
//! | type | libevent | what it does |
//! |---|---|---|
//! | [`Buffer`] | evbuffer | a byte queue of reference-counted chunks: append, prepend and move without copying, search and read lines across chunk boundaries, `readv`/`writev`/`sendfile` |
//! | [`BufferedStream`] | bufferevent | a non-blocking socket with an input and an output `Buffer`, moved by the loop: read, write and event callbacks, watermarks, per-direction timeouts, connect, close after flushing |
//! | [`Listener`] | evconnlistener | accepts connections in batches; pauses instead of spinning when the process runs out of fds |
//!
//! A stream lives inside the loop and is named by a `Copy` [`StreamId`];
//! any callback reaches any stream through its `&mut Ctx<T>` with
//! [`StreamExt::stream`], so a server needs no `Rc<RefCell<_>>` (the
//! [`stream`] module has the whole model). Here two streams of an
//! in-process pair talk: one sends a line, the other answers it.
//!
//! ```
//! use evloop::{Loop, RunMode};
//! use evloop_buffer::{Eol, StreamExt};
//!
//! let mut lp: Loop<Vec<String>> = Loop::new()?;
//! let (client, server) = lp.stream_pair()?;
//! let mut s = lp.stream(server)?;
//! s.on_read(|ctx, _log, id| {
//!     let mut s = ctx.stream(id).unwrap();
//!     while let Some(line) = s.input().read_line(Eol::CrlfOrLf) {
//!         let answer = format!("you said {}\n", String::from_utf8_lossy(&line));
//!         s.write(answer.as_bytes());
//!     }
//! });
//! drop(s);
//! let mut c = lp.stream(client)?;
//! c.write(b"hello\n");
//! c.on_read(|ctx, log, id| {
//!     let mut s = ctx.stream(id).unwrap();
//!     if let Some(line) = s.input().read_line(Eol::Lf) {
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
    ListenerOptions,
};
pub use stream::{
    BufferedStream, Direction, StreamEvent, StreamExt, StreamId, Watermarks, DEFAULT_READ_SIZE,
    DEFAULT_WRITE_SIZE,
};
