//! The servers of one loop, kept in the loop's extension slot.

use std::collections::{HashMap, VecDeque};
use std::net::UdpSocket;
use std::rc::Rc;

use evloop::{Ctx, IoId, Once};
use evloop_buffer::{ListenerId, StreamId};

use super::{Action, Request, ServerId, ServerOptions, ServerStats};

/// The handler a server calls for each query.
pub(crate) type Handler<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, &Request) -> Action;

/// Every server of one loop.
pub(crate) struct Servers<T: 'static> {
    pub next: u64,
    pub map: HashMap<u64, State<T>>,
}

impl<T: 'static> Default for Servers<T> {
    fn default() -> Self {
        Servers {
            next: 0,
            map: HashMap::new(),
        }
    }
}

/// One server.
pub(crate) struct State<T: 'static> {
    pub udp: Rc<UdpSocket>,
    pub udp_io: IoId<Rc<UdpSocket>>,
    pub listener: Option<ListenerId>,
    /// `None` while it runs (taken out so it can borrow the loop).
    pub handler: Option<Box<Handler<T>>>,
    pub opts: ServerOptions,
    pub conns: HashMap<StreamId, Conn>,
    pub stats: ServerStats,
}

/// One TCP connection.
#[derive(Default)]
pub(crate) struct Conn {
    /// Bytes waiting for the next chunk (when answers are written in
    /// chunks).
    pub queue: VecDeque<u8>,
    /// A chunk timer is armed.
    pub writing: bool,
    /// Delayed or deferred answers still to come.
    pub pending: usize,
    /// The client shut down its sending side.
    pub eof: bool,
    /// After `eof`, the bound on waiting for pending answers.
    pub linger: Option<Once>,
}

pub(crate) fn state<'c, T: 'static>(
    ctx: &'c mut Ctx<'_, T>,
    id: ServerId,
) -> Option<&'c mut State<T>> {
    if id.lp != ctx.loop_id() {
        return None;
    }
    ctx.ext_mut::<Servers<T>>()?.map.get_mut(&id.key)
}
