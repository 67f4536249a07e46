//! The state of each WebSocket of a loop, kept in the loop's extension
//! slot (as evloop-buffer keeps its streams), keyed by the stream it runs
//! on.

use std::collections::HashMap;

use evloop::Ctx;
use evloop_buffer::StreamId;

use super::close::{CloseCode, Closed};
use super::config::{Config, Role};
use super::decoder::Decoder;
use super::message::Message;
use super::socket::WsId;

pub(crate) type MessageCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, WsId, Message);
pub(crate) type CloseCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, WsId, Closed);
pub(crate) type DrainCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, WsId);

/// Where the close handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    CloseSent,
    /// Close frames went both ways; a client waits for the server to
    /// close the TCP connection.
    AwaitEof,
}

pub(crate) struct Conn<T: 'static> {
    pub role: Role,
    pub config: Config,
    /// Taken out while it decodes (the stream's input is borrowed from
    /// the loop at the same time).
    pub decoder: Option<Decoder>,
    pub phase: Phase,
    /// The application stopped reading (`set_reading(false)`): no message
    /// is delivered, even from bytes already buffered.
    pub paused: bool,
    /// The peer's close frame, once it came: what `on_close` reports.
    pub peer_close: Option<(CloseCode, String)>,
    pub on_message: Option<Box<MessageCb<T>>>,
    pub on_close: Option<Box<CloseCb<T>>>,
    pub on_drain: Option<Box<DrainCb<T>>>,
}

impl<T: 'static> Conn<T> {
    pub fn new(role: Role, config: Config) -> Self {
        Conn {
            role,
            decoder: Some(Decoder::new(role, config.max_message_size)),
            config,
            phase: Phase::Open,
            paused: false,
            peer_close: None,
            on_message: None,
            on_close: None,
            on_drain: None,
        }
    }
}

/// Every WebSocket of one loop.
pub(crate) struct Sockets<T: 'static> {
    pub map: HashMap<StreamId, Conn<T>>,
}

impl<T: 'static> Default for Sockets<T> {
    fn default() -> Self {
        Sockets {
            map: HashMap::new(),
        }
    }
}

/// The state of `id`'s WebSocket, if it is open.
pub(crate) fn conn<'a, T: 'static>(
    ctx: &'a mut Ctx<'_, T>,
    id: StreamId,
) -> Option<&'a mut Conn<T>> {
    ctx.ext_mut::<Sockets<T>>()?.map.get_mut(&id)
}
