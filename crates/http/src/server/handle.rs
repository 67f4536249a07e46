//! [`ServerExt`] (making servers on a loop), [`ServerId`] and the
//! [`Server`] view: listening, counting, shutting down.

use std::fmt;

use evloop::{Ctx, Error, LoopId};
use evloop_buffer::{ListenerExt, StreamExt};

use super::close::{forget, Close};
use super::date::DateCache;
use super::kick::{kick_server, on_kick};
use super::route::Router;
use super::slab::Key;
use super::state::{server, Out, Reader, ServerState, Servers};
use super::ServerOptions;

/// Names a server: a small `Copy` handle carrying its loop's identity. It
/// goes stale once a [graceful shutdown](Server::shutdown) is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerId {
    lp: LoopId,
    pub(super) key: Key,
}

/// Server calls on evloop's [`Ctx`] (outside callbacks, `Loop::ctx()`
/// gives one). `T` is the loop's application state, which every handler
/// gets as `&mut T`.
pub trait ServerExt<T: 'static> {
    /// Makes a server with `router`'s handlers and `opts`' limits. It
    /// serves nothing until it [listens](Server::listen).
    ///
    /// # Errors
    ///
    /// If the loop refuses a watcher; [`Error::InvalidArgument`] if the
    /// options' [`rate_limit`](ServerOptions::rate_limit) or
    /// [`total_rate_limit`](ServerOptions::total_rate_limit) cannot work.
    fn new_server(&mut self, router: Router<T>, opts: ServerOptions) -> Result<ServerId, Error>;

    /// The server `id`.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] once it has shut down,
    /// [`Error::ForeignHandle`] if it is another loop's.
    fn server(&mut self, id: ServerId) -> Result<Server<'_, T>, Error>;
}

impl<T: 'static> ServerExt<T> for Ctx<'_, T> {
    fn new_server(&mut self, router: Router<T>, opts: ServerOptions) -> Result<ServerId, Error> {
        if let Some(limit) = &opts.rate_limit {
            limit.validate()?;
        }
        let rate_group = match opts.total_rate_limit {
            Some(limit) => Some(self.new_rate_group(limit)?),
            None => None,
        };
        let kick = self.new_check(|_, _, _, _| {})?;
        let st = ServerState {
            router,
            opts,
            listeners: Vec::new(),
            conn_count: 0,
            at_capacity: false,
            kick,
            kick_fed: false,
            dirty: Vec::new(),
            remote: None,
            date: DateCache::default(),
            shutting_down: false,
            rate_group,
            on_done: None,
            scratch: Vec::new(),
            ok_prefix: Vec::new(),
            ok_prefix_from: std::time::UNIX_EPOCH,
            ok_prefix_until: std::time::UNIX_EPOCH,
            fast_head: Default::default(),
            closed: Vec::new(),
        };
        let key = self.ext_or_default::<Servers<T>>().servers.insert(st);
        self.check(kick)?
            .set_callback(move |ctx, data, _, _| on_kick(ctx, data, key));
        Ok(ServerId {
            lp: self.loop_id(),
            key,
        })
    }

    fn server(&mut self, id: ServerId) -> Result<Server<'_, T>, Error> {
        if id.lp != self.loop_id() {
            return Err(Error::ForeignHandle);
        }
        if server(self, id.key).is_none() {
            return Err(Error::StaleHandle);
        }
        Ok(Server {
            ctx: self.reborrow(),
            id,
        })
    }
}

/// A server, borrowed from the loop by [`ctx.server(id)`](ServerExt::server).
pub struct Server<'a, T: 'static> {
    pub(super) ctx: Ctx<'a, T>,
    pub(super) id: ServerId,
}

impl<T: 'static> fmt::Debug for Server<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Server<'_, T> {
    pub(super) fn st(&mut self) -> &mut ServerState<T> {
        match server(&mut self.ctx, self.id.key) {
            Some(s) => s,
            None => unreachable!("checked when the Server was made, and it borrows the loop"),
        }
    }

    /// Its handle.
    pub fn id(&self) -> ServerId {
        self.id
    }

    /// How many connections it holds (lingering ones included).
    pub fn connection_count(&mut self) -> usize {
        self.st().conn_count
    }

    /// Whether a graceful shutdown is under way.
    pub fn is_shutting_down(&mut self) -> bool {
        self.st().shutting_down
    }

    /// Graceful shutdown: stops listening (the listening sockets are
    /// closed), closes idle connections, lets requests in flight finish
    /// (their responses say `Connection: close`; nothing more is read
    /// after them), and calls `on_done` from the loop once the last
    /// connection is closed. The server is gone then (its handle stale).
    pub fn shutdown<F>(mut self, on_done: F)
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T) + 'static,
    {
        let key = self.id.key;
        let st = self.st();
        if st.shutting_down {
            return;
        }
        st.shutting_down = true;
        st.on_done = Some(Box::new(on_done));
        let listeners = std::mem::take(&mut st.listeners);
        for (lid, _) in listeners {
            if let Ok(l) = self.ctx.listener(lid) {
                l.close();
            }
        }
        let keys = match self.ctx.ext::<Servers<T>>() {
            Some(sv) => sv.conns.keys(),
            None => Vec::new(),
        };
        for ck in keys {
            let Some(sv) = self.ctx.ext_mut::<Servers<T>>() else {
                break;
            };
            let Some(c) = sv.conns.get_mut(ck) else {
                continue;
            };
            if c.server != key {
                continue;
            }
            for e in c.queue.iter_mut() {
                e.keep_alive = false;
            }
            match c.reader {
                Reader::Head if c.queue.is_empty() => {
                    forget(&mut self.ctx, ck, Close::Now);
                }
                Reader::Head | Reader::Wait => {
                    c.reader = Reader::Stopped;
                    // Some response may be complete and waiting already.
                    if c.queue
                        .front()
                        .is_some_and(|e| matches!(e.state, Out::Done))
                    {
                        let _ = super::respond::advance(&mut self.ctx, ck);
                    }
                }
                Reader::Body(_) | Reader::Stopped | Reader::Linger => {}
            }
        }
        kick_server(&mut self.ctx, key);
    }
}

/// Stops or resumes accepting for `max_connections`.
pub(crate) fn set_capacity<T: 'static>(ctx: &mut Ctx<'_, T>, skey: Key, full: bool) {
    let Some(st) = server(ctx, skey) else { return };
    st.at_capacity = full;
    let listeners: Vec<_> = st.listeners.iter().map(|(lid, _)| *lid).collect();
    for lid in listeners {
        if let Ok(mut l) = ctx.listener(lid) {
            if full {
                l.disable();
            } else {
                l.enable();
            }
        }
    }
}

/// Ends a graceful shutdown once no connection is left.
pub(crate) fn maybe_finish_shutdown<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, skey: Key) {
    let Some(st) = server(ctx, skey) else { return };
    if !st.shutting_down || st.conn_count > 0 {
        return;
    }
    let Some(sv) = ctx.ext_mut::<Servers<T>>() else {
        return;
    };
    let Some(st) = sv.servers.remove(skey) else {
        return;
    };
    let _ = ctx.remove(st.kick);
    if let Some(r) = st.remote {
        let _ = ctx.remove(r.watcher);
    }
    if let Some(g) = st.rate_group.and_then(|g| ctx.rate_group(g).ok()) {
        g.remove();
    }
    if let Some(done) = st.on_done {
        done(ctx, data);
    }
}
