//! What the server keeps in the loop's extension slot: the servers, their
//! connections, and each connection's requests in flight.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Instant;

use evloop::{AsyncId, AsyncSender, CheckId, Ctx, TimerId};
use evloop_buffer::{Buffer, ListenAddr, ListenerId, RateGroupId, StreamId};
use http::{Response, Version};

use super::date::DateCache;
use super::route::Router;
use super::slab::{Key, Slab};
use super::{Body, BodyChunk, Request, Responder, ServerOptions};
use crate::proto::{ChunkedDecoder, FastHead, HeadCache, HeadScanner};

pub(crate) type BodyCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, Responder, BodyChunk);
pub(crate) type DrainCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, Responder);
pub(crate) type DoneCb<T> = dyn FnOnce(&mut Ctx<'_, T>, &mut T);
pub(crate) type CloseCb<T> = dyn FnOnce(&mut Ctx<'_, T>, &mut T, Responder);

/// The crate's extension value in a loop.
pub(crate) struct Servers<T: 'static> {
    pub(crate) servers: Slab<ServerState<T>>,
    pub(crate) conns: Slab<Conn<T>>,
}

impl<T: 'static> Default for Servers<T> {
    fn default() -> Self {
        Servers {
            servers: Slab::default(),
            conns: Slab::default(),
        }
    }
}

pub(crate) struct ServerState<T: 'static> {
    pub(crate) router: Router<T>,
    pub(crate) opts: ServerOptions,
    /// Each listener and the address it listens on.
    pub(crate) listeners: Vec<(ListenerId, ListenAddr)>,
    pub(crate) conn_count: usize,
    /// Listeners are disabled because of `max_connections`.
    pub(crate) at_capacity: bool,
    /// A check watcher that is never started, only fed: it runs the
    /// connections in `dirty` from the loop, outside any user callback.
    pub(crate) kick: CheckId,
    pub(crate) kick_fed: bool,
    pub(crate) dirty: Vec<Key>,
    pub(crate) remote: Option<Remote>,
    pub(crate) date: DateCache,
    pub(crate) shutting_down: bool,
    /// The group of `ServerOptions::total_rate_limit`.
    pub(crate) rate_group: Option<RateGroupId>,
    pub(crate) on_done: Option<Box<DoneCb<T>>>,
    /// Where a response head is put together before one copy into the
    /// output.
    pub(crate) scratch: Vec<u8>,
    /// The head of a plain `200 OK` with a body and no header of the
    /// handler's, up to the Content-Length value: status line, Date,
    /// Server, Content-Type. Rebuilt when the Date second changes.
    pub(crate) ok_prefix: Vec<u8>,
    /// The wall-clock second the prefix's Date is for: `[from, until)`.
    pub(crate) ok_prefix_from: std::time::SystemTime,
    pub(crate) ok_prefix_until: std::time::SystemTime,
    /// Where the one-pass parser describes each head it takes.
    pub(crate) fast_head: FastHead,
    /// `on_close` callbacks due (their request was dropped unanswered),
    /// called from the kick, which has the application state.
    pub(crate) closed: Vec<(Responder, Box<CloseCb<T>>)>,
}

/// Responses posted from other threads.
pub(crate) struct Remote {
    pub(crate) watcher: AsyncId,
    pub(crate) tx: mpsc::Sender<(Responder, Response<Body>)>,
    pub(crate) rx: mpsc::Receiver<(Responder, Response<Body>)>,
    pub(crate) wake: AsyncSender,
}

/// One connection.
pub(crate) struct Conn<T: 'static> {
    pub(crate) server: Key,
    pub(crate) stream: StreamId,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) scanner: HeadScanner,
    /// What the connection's requests repeat (the Host value).
    pub(crate) head_cache: HeadCache,
    pub(crate) reader: Reader<T>,
    /// Requests whose responses are not all sent yet, oldest first.
    pub(crate) queue: VecDeque<Exchange<T>>,
    pub(crate) next_seq: u64,
    pub(crate) timer: TimerId,
    /// When the timer is due to fire (it may fire before the deadline,
    /// which is then re-armed: moving a deadline later costs nothing).
    pub(crate) armed: Option<Instant>,
    /// The current deadline and what happens at it.
    pub(crate) deadline: Option<(Instant, Deadline)>,
    /// When the connection was made, or last became idle.
    pub(crate) idle_since: Instant,
    /// When the first byte of the current head arrived.
    pub(crate) head_since: Option<Instant>,
    /// When body bytes last arrived.
    pub(crate) body_since: Instant,
    /// No request has been read yet.
    pub(crate) fresh: bool,
    /// Reading is switched off by the server (pipeline full, body paused).
    pub(crate) read_off: bool,
    /// What the stream was last told (reading disabled or not).
    pub(crate) read_off_applied: bool,
    /// The engine runs for this connection: responses given now need no
    /// kick.
    pub(crate) in_pump: bool,
    pub(crate) dirty: bool,
    pub(crate) logged: bool,
    /// A body callback cut off by a response that closed the connection:
    /// it hears `Aborted` from the engine's next run (which has the
    /// application state to call it with).
    pub(crate) aborted: Option<(Box<BodyCb<T>>, u64)>,
    /// While the engine runs for the connection, the stream's input and
    /// output are held here (taken once, given back once at the end)
    /// rather than looked up for every request of a pipelined batch.
    pub(crate) holding: bool,
    pub(crate) hold_in: Buffer,
    pub(crate) hold_out: Buffer,
    /// `Responder::on_close` callbacks, by request.
    pub(crate) closers: Vec<(u64, Box<CloseCb<T>>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// The head did not arrive in time: 408 (or a silent close when nothing
    /// of it came).
    Head,
    /// The body stalled: 408.
    Body,
    /// Idle keep-alive connection: close.
    Idle,
    /// Lingering after the last response: close.
    Linger,
}

/// What the input side is doing.
pub(crate) enum Reader<T: 'static> {
    /// Waiting for (or scanning) the next head.
    Head,
    /// Reading the body of request `seq`.
    Body(BodyRead<T>),
    /// An Upgrade or CONNECT request went to its handler: nothing more is
    /// read until it has answered (the bytes after it may not be HTTP).
    Wait,
    /// No more requests on this connection: it closes when its last
    /// response is sent.
    Stopped,
    /// The last response is out and the write side shut: what the client
    /// still sends is dropped until it closes or the linger time ends.
    Linger,
}

pub(crate) struct BodyRead<T: 'static> {
    pub(crate) seq: u64,
    pub(crate) framing: Framing,
    pub(crate) sink: Sink<T>,
    pub(crate) received: u64,
    pub(crate) limit: Option<u64>,
    /// The request expects `100 Continue`, not sent yet.
    pub(crate) continue_pending: bool,
    /// After this body, the request upgrades: wait instead of reading on.
    pub(crate) then_wait: bool,
}

pub(crate) enum Framing {
    Length(u64),
    Chunked(Box<(ChunkedDecoder, Buffer)>),
}

pub(crate) enum Sink<T: 'static> {
    /// Collected for a handler that gets the whole body.
    Collect {
        buf: Buffer,
        req: Box<Request>,
        handler: HandlerRef,
    },
    /// Handed to the callback given to `read_body`.
    Stream {
        cb: Option<Box<BodyCb<T>>>,
        paused: bool,
    },
    /// A streaming handler has not asked for the body yet.
    Await,
    /// Read and dropped (the request was answered without it).
    Discard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandlerRef {
    Route(usize),
    Fallback,
}

/// One request in flight and its response.
pub(crate) struct Exchange<T: 'static> {
    pub(crate) seq: u64,
    pub(crate) head_request: bool,
    pub(crate) version: Version,
    pub(crate) keep_alive: bool,
    pub(crate) upgradable: bool,
    pub(crate) connect: bool,
    /// Response bytes made while an older response is still unsent; they
    /// move to the socket's output when this one becomes the oldest. Made
    /// only then (most responses are written straight to the output).
    pub(crate) out: Option<Box<Buffer>>,
    pub(crate) state: Out<T>,
}

pub(crate) enum Out<T: 'static> {
    /// No response yet.
    Pending,
    /// The response is complete (in `out` or already in the output).
    Done,
    /// A streamed response is being produced.
    Streaming {
        /// Pieces get the chunked coding (1.1); otherwise the body ends
        /// when the connection closes.
        chunked: bool,
        /// The body is left out (HEAD, 204, 304).
        bodiless: bool,
        /// The handler's `Content-Length` frames the body (sent raw): the
        /// bytes still owed.
        left: Option<u64>,
        on_drain: Option<Box<DrainCb<T>>>,
    },
}

impl<T: 'static> Exchange<T> {
    /// Whether the connection closes after this response.
    pub(crate) fn closes(&self) -> bool {
        !self.keep_alive
    }
}

/// The server and the connection `key`, both mutable.
pub(crate) fn parts<'c, T: 'static>(
    ctx: &'c mut Ctx<'_, T>,
    key: Key,
) -> Option<(&'c mut ServerState<T>, &'c mut Conn<T>)> {
    let sv = ctx.ext_mut::<Servers<T>>()?;
    let conn = sv.conns.get_mut(key)?;
    let server = sv.servers.get_mut(conn.server)?;
    Some((server, conn))
}

pub(crate) fn conn<'c, T: 'static>(ctx: &'c mut Ctx<'_, T>, key: Key) -> Option<&'c mut Conn<T>> {
    ctx.ext_mut::<Servers<T>>()?.conns.get_mut(key)
}

pub(crate) fn server<'c, T: 'static>(
    ctx: &'c mut Ctx<'_, T>,
    key: Key,
) -> Option<&'c mut ServerState<T>> {
    ctx.ext_mut::<Servers<T>>()?.servers.get_mut(key)
}
