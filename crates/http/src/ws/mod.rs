//! WebSocket (RFC 6455) over an upgraded connection.
//!
//! | piece | what it does | for users of |
//! |---|---|---|
//! | [`accept`], [`handler`] | in a route handler of this crate's [server](crate::server): handshake, 101 and hand-over in one call | tungstenite's `accept`, libevent's `evws_new_session` |
//! | [`check_request`], [`Accept`], [`accept_key`] | the server's opening handshake: checks the upgrade request (400, or 426 for a version other than 13) and computes `Sec-WebSocket-Accept` | tungstenite's `accept_hdr`, libwebsockets' `LWS_CALLBACK_ESTABLISHED` |
//! | [`connect`], [`connect_url`] | a client: connect (to an address, or to a `ws://` URL through the [HTTP client](crate::client), host names and extra headers included), handshake, then a [`WebSocket`] with masked frames | tungstenite's `connect`, the browser's `new WebSocket(url)` |
//! | [`ClientHandshake`] | the client's request and the check of the server's 101, for a stream of your own | tungstenite's `client` |
//! | [`Decoder`] | incremental frame decoder: bytes in, whole [`Message`]s out, every protocol rule checked with its close code ([`ProtocolError`]) | tungstenite's `FrameCodec`, sans-IO |
//! | [`encode_frame`], [`encode_message`] | frames out, masked for a client | tungstenite's `Frame::format` |
//! | [`WebSocketExt::new_websocket`], [`WebSocket`] | a WebSocket on a stream of the loop: `on_message`, `on_close`, `send_text`/`send_binary`/`ping`/`close`, `buffered_amount` and `on_drain` for back-pressure; automatic pongs and the whole close handshake | libwebsockets' callbacks, the browser's `WebSocket`, libevent's `evws_*` |
//!
//! Each WebSocket's state lives in the loop (in an extension slot, as
//! evloop-buffer keeps its streams) and is named by a `Copy` handle,
//! [`WsId`]; any callback reaches any WebSocket with
//! [`ctx.websocket(id)`](WebSocketExt::websocket), so a chat server
//! broadcasts by looping over its handles, with no `Rc<RefCell<_>>`.
//!
//! # Protocol rules
//!
//! What a peer sends is checked as it arrives (a message trickling in one
//! byte at a time costs linear time), and a violation fails the
//! connection: our close frame with the code, then the TCP close.
//!
//! | peer sends | close code |
//! |---|---|
//! | RSV bits (no extension is negotiated), a reserved opcode | 1002 |
//! | a control frame fragmented or over 125 bytes | 1002 |
//! | an unmasked frame to a server, a masked one to a client | 1002 |
//! | a 64-bit length with its top bit set | 1002 |
//! | a continuation with no message begun, a new message before the last ended | 1002 |
//! | a close frame of 1 byte, or with a code that may not be sent ([`CloseCode::is_valid`]) | 1002 |
//! | text (or a close reason) that is not UTF-8, found at the first bad byte | 1007 |
//! | a message over [`Config::max_message_size`], found from the frame header | 1009 |
//!
//! Back-pressure: [`WebSocket::buffered_amount`] and
//! [`WebSocket::on_drain`] for what we send (a peer that does not read
//! makes the amount grow: watch it), [`WebSocket::set_reading`] for what
//! we receive.
//!
//! Control frames may come between the fragments of a message. A ping is
//! answered with a pong ([`Config::auto_pong`]). A close frame is
//! answered with one carrying the same code; a server then closes the
//! TCP connection once its frame is sent, a client waits for the server to
//! (RFC 6455 section 7.1.1), both within [`Config::close_timeout`].
//!
//! # Example
//!
//! A server and a client over a socket pair (over TCP, [`accept`] gives
//! the server its WebSocket from a route of the HTTP server, and
//! [`connect`] the client):
//!
//! ```
//! use evloop::{Loop, RunMode};
//! use evloop_buffer::StreamExt;
//! use evloop_http::ws::{Closed, CloseCode, Config, Message, Role, WebSocketExt};
//!
//! #[derive(Default)]
//! struct Log { client_got: Vec<Message>, server_closed: Option<Closed> }
//!
//! let mut lp: Loop<Log> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let (a, b) = ctx.new_stream_pair()?;
//!
//! let server = ctx.new_websocket(a, Role::Server, Config::default())?;
//! let mut ws = ctx.websocket(server)?;
//! ws.on_message(|ctx, _, id, msg| {
//!     if let Message::Text(t) = msg {
//!         ctx.websocket(id).unwrap().send_text(&t.to_uppercase()).unwrap();
//!     }
//! });
//! ws.on_close(|_, log, _, closed| log.server_closed = Some(closed));
//! drop(ws);
//!
//! let client = ctx.new_websocket(b, Role::Client, Config::default())?;
//! let mut ws = ctx.websocket(client)?;
//! ws.send_text("hello")?;
//! ws.on_message(|ctx, log, id, msg| {
//!     if matches!(msg, Message::Text(_)) {
//!         ctx.websocket(id).unwrap().close(CloseCode::NORMAL, "done").unwrap();
//!     }
//!     log.client_got.push(msg);
//! });
//! drop(ws);
//!
//! let mut log = Log::default();
//! lp.run(&mut log, RunMode::Default)?;
//! assert_eq!(log.client_got[0], Message::Text("HELLO".into()));
//! let closed = log.server_closed.unwrap();
//! assert_eq!((closed.code, closed.reason.as_str(), closed.clean), (CloseCode::NORMAL, "done", true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accept;
mod base64;
mod client;
mod close;
mod config;
mod connect;
mod decoder;
mod driver;
mod frame;
mod handshake;
mod message;
mod random;
mod socket;
mod state;

pub use accept::{accept, accept_protocol, handler};
pub use client::{ClientHandshake, ClientHandshakeError};
pub use close::{CloseCode, CloseFrame, Closed};
pub use config::{Config, Role};
pub use connect::{connect, connect_url, connect_url_with, ConnectError};
pub use decoder::{Decoder, ProtocolError};
pub use frame::{apply_mask, encode_frame, encode_message, SendError};
pub use handshake::{accept_key, check_request, Accept, HandshakeError, GUID};
pub use message::{Message, OpCode};
pub use socket::{WebSocket, WebSocketExt, WsId};
