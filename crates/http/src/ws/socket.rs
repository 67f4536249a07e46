//! The loop-level API: a WebSocket on a stream of the loop, named by a
//! [`WsId`], reached from any callback through [`WebSocketExt`].

use std::fmt;

use bytes::Bytes;
use evloop::Ctx;
use evloop_buffer::{Direction, StreamExt, StreamId, Watermarks};

use super::close::{CloseCode, CloseFrame, Closed};
use super::config::{Config, Role};
use super::driver;
use super::frame::{check_message, encode_message, SendError};
use super::message::Message;
use super::state::{conn, Phase};

/// Names a WebSocket: a small `Copy` handle, the [`StreamId`] of the
/// stream it runs on. It goes stale once the WebSocket has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WsId(pub(crate) StreamId);

impl WsId {
    /// The stream the WebSocket runs on (for its socket address, say;
    /// writing to it directly would corrupt the framing).
    pub fn stream(self) -> StreamId {
        self.0
    }
}

impl fmt::Display for WsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// WebSocket calls on evloop's [`Ctx`] (outside callbacks, `Loop::ctx()`
/// gives one).
pub trait WebSocketExt<T: 'static> {
    /// Makes the stream `stream`, whose opening handshake is done, a
    /// WebSocket: it takes over the stream's callbacks (and resets its
    /// watermarks and timeouts); bytes already in its input (frames sent
    /// right behind the handshake) are decoded on the loop's next turn,
    /// after the caller has set its callbacks. [`accept`](super::accept)
    /// (server) and [`connect`](super::connect) (client) call it after
    /// the handshake; call it yourself for a stream whose handshake you
    /// did, e.g. with [`ClientHandshake`](super::ClientHandshake), or
    /// after the HTTP server's [`upgrade`](crate::server::Responder::upgrade).
    ///
    /// # Errors
    ///
    /// The stream's handle is stale or foreign.
    fn new_websocket(
        &mut self,
        stream: StreamId,
        role: Role,
        config: Config,
    ) -> Result<WsId, evloop::Error>;

    /// Borrows the WebSocket `id`.
    ///
    /// # Errors
    ///
    /// [`evloop::Error::StaleHandle`] once it has ended,
    /// [`evloop::Error::ForeignHandle`] for another loop's.
    fn websocket(&mut self, id: WsId) -> Result<WebSocket<'_, T>, evloop::Error>;
}

impl<T: 'static> WebSocketExt<T> for Ctx<'_, T> {
    fn new_websocket(
        &mut self,
        stream: StreamId,
        role: Role,
        config: Config,
    ) -> Result<WsId, evloop::Error> {
        driver::adopt(self, stream, role, config)
    }

    fn websocket(&mut self, id: WsId) -> Result<WebSocket<'_, T>, evloop::Error> {
        // The stream's own check tells stale from foreign.
        let checked = self.stream(id.0).map(drop);
        if let Err(e) = checked {
            if matches!(e, evloop::Error::StaleHandle) {
                // Its stream was closed behind the WebSocket's back: forget it.
                if let Some(s) = self.ext_mut::<super::state::Sockets<T>>() {
                    s.map.remove(&id.0);
                }
            }
            return Err(e);
        }
        if conn(self, id.0).is_none() {
            return Err(evloop::Error::StaleHandle);
        }
        Ok(WebSocket {
            ctx: self.reborrow(),
            id,
        })
    }
}

/// One WebSocket, borrowed from the loop by
/// [`ctx.websocket(id)`](WebSocketExt::websocket): send messages, set the
/// callbacks, watch the output.
///
/// Messages are whole: a text or binary message is handed to
/// [`on_message`](Self::on_message) once all its fragments have arrived,
/// and sent as one frame. Pings are answered by themselves
/// ([`Config::auto_pong`]). The close handshake is the library's: when
/// the peer's close frame arrives it is answered, and the connection is
/// closed as RFC 6455 asks (a server closes TCP first); any protocol
/// violation fails the connection with its close code. The end, whatever
/// it was, is reported once to [`on_close`](Self::on_close).
///
/// # Example: an echo server and a client, over a socket pair
///
/// ```
/// use evloop::{Loop, RunMode};
/// use evloop_buffer::StreamExt;
/// use evloop_http::ws::{CloseCode, Config, Message, Role, WebSocketExt};
///
/// let mut lp: Loop<Vec<Message>> = Loop::new()?;
/// let mut ctx = lp.ctx();
/// let (a, b) = ctx.new_stream_pair()?; // (handshakes skipped here)
///
/// let server = ctx.new_websocket(a, Role::Server, Config::default())?;
/// ctx.websocket(server)?.on_message(|ctx, _, id, msg| {
///     let mut ws = ctx.websocket(id).unwrap();
///     match msg {
///         Message::Text(t) => ws.send_text(&t).unwrap(),
///         Message::Binary(b) => ws.send_binary(b).unwrap(),
///         _ => {}
///     }
/// });
///
/// let client = ctx.new_websocket(b, Role::Client, Config::default())?;
/// let mut ws = ctx.websocket(client)?;
/// ws.send_text("hello")?;
/// ws.ping("are you there?")?;
/// ws.on_message(|ctx, got, id, msg| {
///     got.push(msg);
///     if got.len() == 2 {
///         ctx.websocket(id).unwrap().close(CloseCode::NORMAL, "bye").unwrap();
///     }
/// });
/// drop(ws);
///
/// let mut got = Vec::new();
/// lp.run(&mut got, RunMode::Default)?; // returns once both ends closed
/// assert_eq!(got[0], Message::Text("hello".into()));
/// assert_eq!(got[1], Message::Pong("are you there?".into()));
/// assert!(matches!(&got[2], Message::Close(Some(f)) if f.code == CloseCode::NORMAL));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WebSocket<'a, T: 'static> {
    ctx: Ctx<'a, T>,
    id: WsId,
}

impl<T: 'static> fmt::Debug for WebSocket<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> WebSocket<'_, T> {
    /// Its handle.
    pub fn id(&self) -> WsId {
        self.id
    }

    fn state(&mut self) -> &mut super::state::Conn<T> {
        match conn(&mut self.ctx, self.id.0) {
            Some(c) => c,
            None => unreachable!("a borrowed WebSocket exists until a callback ends it"),
        }
    }

    /// Our role (server or client).
    pub fn role(&mut self) -> Role {
        self.state().role
    }

    /// Whether messages may still be sent: no close frame has been sent
    /// or received.
    pub fn is_open(&mut self) -> bool {
        self.state().phase == Phase::Open
    }

    /// Sets the message callback: it gets every whole message, pings,
    /// pongs and the peer's close frame included (the close handshake is
    /// answered by the library; [`on_close`](Self::on_close) follows).
    /// Replaces the previous one; a callback may replace itself.
    pub fn on_message<F>(&mut self, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, WsId, Message) + 'static,
    {
        self.state().on_message = Some(Box::new(cb));
    }

    /// Sets the callback told, once, how the WebSocket ended: after a
    /// clean close handshake, a protocol error (with the code we failed it
    /// with), or a connection that broke ([`CloseCode::ABNORMAL`]). The
    /// handle is stale when it runs.
    pub fn on_close<F>(&mut self, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, WsId, Closed) + 'static,
    {
        self.state().on_close = Some(Box::new(cb));
    }

    /// Back-pressure for senders: `cb` runs after the socket took data
    /// and left at most `low` bytes queued
    /// ([`buffered_amount`](Self::buffered_amount)). A producer sends
    /// while the amount is below its limit and resumes from here
    /// (libevent's write low watermark).
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    /// use evloop_buffer::StreamExt;
    /// use evloop_http::ws::{CloseCode, Config, Message, Role, WebSocketExt, WsId};
    ///
    /// // Send 64 binary messages of 64 KiB, never more than 256 KiB queued.
    /// struct App { left: usize, got: usize }
    /// fn produce(ctx: &mut evloop::Ctx<'_, App>, app: &mut App, id: WsId) {
    ///     let mut ws = ctx.websocket(id).unwrap();
    ///     while app.left > 0 && ws.buffered_amount() < 256 * 1024 {
    ///         ws.send_binary(vec![7u8; 64 * 1024]).unwrap();
    ///         app.left -= 1;
    ///     }
    ///     if app.left == 0 && ws.is_open() {
    ///         ws.close(CloseCode::NORMAL, "").unwrap();
    ///     }
    /// }
    ///
    /// let mut lp: Loop<App> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let (a, b) = ctx.new_stream_pair()?;
    /// let server = ctx.new_websocket(a, Role::Server, Config::default())?;
    /// ctx.websocket(server)?.on_drain(64 * 1024, produce);
    /// let client = ctx.new_websocket(b, Role::Client, Config::default())?;
    /// ctx.websocket(client)?.on_message(|_, app: &mut App, _, msg| {
    ///     if let Message::Binary(b) = msg {
    ///         app.got += b.len();
    ///     }
    /// });
    /// let mut app = App { left: 64, got: 0 };
    /// produce(&mut lp.ctx(), &mut app, server);
    /// lp.run(&mut app, RunMode::Default)?;
    /// assert_eq!(app.got, 64 * 64 * 1024);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_drain<F>(&mut self, low: usize, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, WsId) + 'static,
    {
        self.state().on_drain = Some(Box::new(cb));
        let sid = self.id.0;
        if let Ok(mut s) = self.ctx.stream(sid) {
            s.set_watermarks(Watermarks {
                write_low: low,
                ..s.watermarks()
            });
            s.on_write(driver::on_write);
        }
    }

    /// Bytes queued for sending and not yet taken by the socket (the
    /// browser API's `bufferedAmount`).
    pub fn buffered_amount(&mut self) -> usize {
        let sid = self.id.0;
        self.ctx.stream(sid).map_or(0, |mut s| s.output().len())
    }

    /// Stops delivering messages and reading from the peer (its data
    /// waits in the kernel, then in the peer), or resumes: back-pressure
    /// for a receiver that cannot keep up. Takes effect at once, even
    /// between two messages that arrived together; on resuming, messages
    /// already buffered are delivered from the loop.
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    /// use evloop_buffer::StreamExt;
    /// use evloop_http::ws::{Config, Message, Role, WebSocketExt};
    ///
    /// let mut lp: Loop<Vec<Message>> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let (a, b) = ctx.new_stream_pair()?;
    /// let server = ctx.new_websocket(a, Role::Server, Config::default())?;
    /// ctx.websocket(server)?.on_message(|ctx, got, id, msg| {
    ///     got.push(msg);
    ///     ctx.websocket(id).unwrap().set_reading(false); // one at a time
    /// });
    /// let client = ctx.new_websocket(b, Role::Client, Config::default())?;
    /// let mut ws = ctx.websocket(client)?;
    /// ws.send_text("one")?;
    /// ws.send_text("two")?;
    /// let mut got = Vec::new();
    /// lp.run(&mut got, RunMode::NoWait)?; // both frames arrive in one read
    /// lp.run(&mut got, RunMode::NoWait)?;
    /// assert_eq!(got, [Message::Text("one".into())]);
    /// lp.ctx().websocket(server)?.set_reading(true);
    /// lp.run(&mut got, RunMode::NoWait)?;
    /// assert_eq!(got.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_reading(&mut self, on: bool) {
        let sid = self.id.0;
        let was_paused = std::mem::replace(&mut self.state().paused, !on);
        let buffered = match self.ctx.stream(sid) {
            Ok(mut s) => {
                if on {
                    s.enable(Direction::Read);
                } else {
                    s.disable(Direction::Read);
                }
                !s.input().is_empty()
            }
            Err(_) => false,
        };
        if on && was_paused && buffered {
            let _ = driver::kick(&mut self.ctx, sid);
        }
    }

    /// Queues `msg` as one frame (masked for a client).
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] once a close frame was sent or received;
    /// [`SendError::ControlTooLong`] for a ping or pong over 125 bytes;
    /// for a [`Message::Close`], what [`close`](Self::close) refuses.
    pub fn send(&mut self, msg: Message) -> Result<(), SendError> {
        let c = self.state();
        if c.phase != Phase::Open {
            return Err(SendError::Closed);
        }
        let role = c.role;
        if let Message::Close(frame) = msg {
            check_message(&Message::Close(frame.clone()))?;
            driver::start_close(&mut self.ctx, self.id.0, frame);
            return Ok(());
        }
        let sid = self.id.0;
        match self.ctx.stream(sid) {
            Ok(mut s) => encode_message(s.output(), &msg, role),
            Err(_) => Err(SendError::Closed),
        }
    }

    /// Queues a text message.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] once our close frame was sent.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send(Message::Text(text.to_owned()))
    }

    /// Queues a binary message (a large `Bytes` is linked into the output,
    /// not copied, on the server side).
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] once our close frame was sent.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(Message::Binary(data.into()))
    }

    /// Queues a ping; the peer answers with a pong carrying `payload`.
    ///
    /// # Errors
    ///
    /// [`SendError::ControlTooLong`] over 125 bytes, [`SendError::Closed`]
    /// once our close frame was sent.
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(Message::Ping(payload.into()))
    }

    /// Queues an unsolicited pong (a one-way heartbeat).
    ///
    /// # Errors
    ///
    /// As [`ping`](Self::ping).
    pub fn pong(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send(Message::Pong(payload.into()))
    }

    /// Starts the close handshake: sends a close frame with `code` and
    /// `reason`; nothing more can be sent. Messages the peer sent before
    /// its answer are still delivered; once its close frame arrives (or
    /// after [`Config::close_timeout`] without it) the connection closes
    /// and [`on_close`](Self::on_close) is told.
    ///
    /// # Errors
    ///
    /// [`SendError::InvalidCloseCode`] for a code that may not be sent
    /// (1005, 1006, 1015, unassigned ones), [`SendError::ReasonTooLong`]
    /// over 123 bytes, [`SendError::Closed`] if a close frame was sent
    /// already.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned(),
        })))
    }
}
