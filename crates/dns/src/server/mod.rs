//! The server side: answer DNS queries over UDP and TCP on the loop
//! (libevent's `evdns_server_port`).
//!
//! [`ServerExt::serve_dns`] binds one port for both UDP and TCP (RFC 7766
//! framing: a 2-byte length before each message, reads split anywhere,
//! several queries pipelined per connection, an idle timeout) and calls a
//! handler for every query. The handler returns an [`Action`]: an answer,
//! a refusal, another response code, nothing, raw bytes (to test
//! clients against wrong ids, wrong questions or garbage), a delayed
//! action, or [`Action::Defer`] with a [`Responder`] kept to answer later.
//!
//! The server takes care of what the handler should not have to:
//! - UDP answers longer than the client's EDNS payload size (512 bytes
//!   without EDNS) go out truncated with TC=1, so the client asks again
//!   over TCP;
//! - an unreadable query gets FORMERR when its header can be read and is
//!   dropped otherwise; responses are never answered; other opcodes get
//!   NOTIMP, a query with zero or several questions FORMERR, an EDNS
//!   version other than 0 BADVERS. No input makes it panic.
//!
//! Servers live in the loop (its extension slot), as evloop-buffer's
//! streams do: [`ServerId`] names one, [`ServerExt::dns_server`] opens a
//! [`DnsServer`] view to read its address and counters or close it.
//!
//! ```
//! use std::net::{Ipv4Addr, UdpSocket};
//! use evloop::{Break, Loop, RunMode};
//! use evloop_dns::server::{Action, ServerExt, ServerOptions};
//! use hickory_proto::op::{Message, Query};
//! use hickory_proto::rr::{rdata::A, Name, RData, Record, RecordType};
//!
//! let mut lp: Loop<u32> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let id = ctx.serve_dns("127.0.0.1:0".parse()?, &ServerOptions::new(), |ctx, served, req| {
//!     *served += 1;
//!     ctx.break_loop(Break::One); // one query for this example, then run returns
//!     if req.name().to_ascii() == "host.example." {
//!         let a = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
//!         req.answer([Record::from_rdata(req.name().clone(), 60, a)])
//!     } else {
//!         Action::Refuse
//!     }
//! })?;
//! let addr = ctx.dns_server(id)?.local_addr();
//!
//! // A client: one UDP query.
//! let mut q = Message::new();
//! q.set_id(7).add_query(Query::query(Name::from_ascii("host.example.")?, RecordType::A));
//! let client = UdpSocket::bind("127.0.0.1:0")?;
//! client.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
//! client.send_to(&q.to_vec()?, addr)?;
//!
//! let mut served = 0;
//! lp.run(&mut served, RunMode::Default)?;
//! let mut buf = [0u8; 512];
//! let n = client.recv(&mut buf)?;
//! let answer = Message::from_vec(&buf[..n])?;
//! assert_eq!(answer.id(), 7);
//! assert_eq!(answer.answers().len(), 1);
//! assert_eq!(served, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod action;
mod dispatch;
mod options;
mod request;
mod state;
mod tcp;
mod udp;

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::rc::Rc;

use evloop::{Ctx, LoopId};
use evloop_buffer::{ListenerExt, ListenerOptions};

pub use action::Action;
pub use options::{ServerOptions, ServerStats};
pub use request::{Request, Responder, Transport, MIN_UDP_PAYLOAD};

use state::{state, Servers, State};

/// Names a DNS server of one loop: a small `Copy` handle, stale once the
/// server is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerId {
    key: u64,
    lp: LoopId,
}

/// Binds UDP and TCP on the same port; with port 0, tries a few ports
/// until one is free for both.
fn bind_both(addr: SocketAddr, tcp: bool) -> io::Result<(UdpSocket, Option<TcpListener>)> {
    let mut tries = if addr.port() == 0 { 16 } else { 1 };
    loop {
        let udp = UdpSocket::bind(addr)?;
        if !tcp {
            return Ok((udp, None));
        }
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)) {
            Ok(l) => return Ok((udp, Some(l))),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries > 1 => tries -= 1,
            Err(e) => return Err(e),
        }
    }
}

/// DNS server calls on evloop's [`Ctx`] (outside callbacks, `Loop::ctx()`
/// gives one). `T` is the loop's application state.
pub trait ServerExt<T: 'static> {
    /// Binds `addr` for UDP, and for TCP on the same port unless
    /// [`ServerOptions::tcp`] is off (port 0 picks a port free for both),
    /// and starts serving: `handler` gets every well-formed query.
    ///
    /// # Errors
    ///
    /// If a socket cannot be bound, or the loop refuses its watcher.
    fn serve_dns<F>(
        &mut self,
        addr: SocketAddr,
        opts: &ServerOptions,
        handler: F,
    ) -> io::Result<ServerId>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, &Request) -> Action + 'static;

    /// Serves on sockets bound already (libevent's
    /// `evdns_add_server_port_with_base`): a UDP socket and, optionally, a
    /// listening TCP socket. Both are made non-blocking.
    ///
    /// # Errors
    ///
    /// If a socket cannot be made non-blocking, or the loop refuses a
    /// watcher.
    fn serve_dns_on<F>(
        &mut self,
        udp: UdpSocket,
        tcp: Option<TcpListener>,
        opts: &ServerOptions,
        handler: F,
    ) -> io::Result<ServerId>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, &Request) -> Action + 'static;

    /// The server `id`, to read its address and counters or close it.
    ///
    /// # Errors
    ///
    /// [`evloop::Error::StaleHandle`] once it was closed,
    /// [`evloop::Error::ForeignHandle`] if it is another loop's.
    fn dns_server(&mut self, id: ServerId) -> Result<DnsServer<'_, T>, evloop::Error>;

    /// Carries out `action` for a query whose handler returned
    /// [`Action::Defer`] (libevent's `evdns_server_request_respond`). Over
    /// TCP, the answer is dropped if the connection was closed meanwhile.
    /// A client that shut down its sending side still gets it: the server
    /// closes such a connection once no answer is pending (or after one
    /// idle timeout).
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use evloop::{Loop, RunMode};
    /// use evloop_dns::server::{Action, Responder, ServerExt, ServerOptions};
    /// use hickory_proto::op::{Message, Query, ResponseCode};
    /// use hickory_proto::rr::{Name, RecordType};
    ///
    /// let mut lp: Loop<Vec<Responder>> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let id = ctx.serve_dns("127.0.0.1:0".parse()?, &ServerOptions::new(), |ctx, kept, req| {
    ///     kept.push(req.responder());
    ///     ctx.break_loop(evloop::Break::One);
    ///     Action::Defer
    /// })?;
    /// let addr = ctx.dns_server(id)?.local_addr();
    /// let client = UdpSocket::bind("127.0.0.1:0")?;
    /// client.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    /// let mut q = Message::new();
    /// q.set_id(9).add_query(Query::query(Name::from_ascii("later.example.")?, RecordType::A));
    /// client.send_to(&q.to_vec()?, addr)?;
    ///
    /// let mut kept = Vec::new();
    /// lp.run(&mut kept, RunMode::Default)?;
    /// let r = kept.pop().unwrap();
    /// lp.ctx().respond(r, Action::Fail(ResponseCode::ServFail))?;
    /// let mut buf = [0u8; 512];
    /// let n = client.recv(&mut buf)?;
    /// assert_eq!(Message::from_vec(&buf[..n])?.response_code(), ResponseCode::ServFail);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`evloop::Error::StaleHandle`] if the server was closed.
    fn respond(&mut self, responder: Responder, action: Action) -> Result<(), evloop::Error>;
}

impl<T: 'static> ServerExt<T> for Ctx<'_, T> {
    fn serve_dns<F>(
        &mut self,
        addr: SocketAddr,
        opts: &ServerOptions,
        handler: F,
    ) -> io::Result<ServerId>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, &Request) -> Action + 'static,
    {
        let (udp, tcp) = bind_both(addr, opts.tcp)?;
        self.serve_dns_on(udp, tcp, opts, handler)
    }

    fn serve_dns_on<F>(
        &mut self,
        udp: UdpSocket,
        tcp: Option<TcpListener>,
        opts: &ServerOptions,
        handler: F,
    ) -> io::Result<ServerId>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, &Request) -> Action + 'static,
    {
        udp.set_nonblocking(true)?;
        let servers = self.ext_or_default::<Servers<T>>();
        let key = servers.next;
        servers.next += 1;
        let id = ServerId {
            key,
            lp: self.loop_id(),
        };
        let udp = Rc::new(udp);
        let udp_io = udp::watch(self, udp.clone(), id).map_err(io::Error::other)?;
        let listener = match tcp {
            Some(l) => {
                let lopts = ListenerOptions::new();
                match self.listen_on(l, &lopts, move |ctx, _, _, conn| tcp::accept(ctx, id, conn)) {
                    Ok(lid) => Some(lid),
                    Err(e) => {
                        let _ = self.remove(udp_io);
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        let st = State {
            udp,
            udp_io,
            listener,
            handler: Some(Box::new(handler)),
            opts: opts.clone(),
            conns: Default::default(),
            stats: Default::default(),
        };
        self.ext_or_default::<Servers<T>>().map.insert(key, st);
        if let Err(e) = self.start(udp_io) {
            DnsServer {
                ctx: self.reborrow(),
                id,
            }
            .close();
            return Err(io::Error::other(e));
        }
        Ok(id)
    }

    fn dns_server(&mut self, id: ServerId) -> Result<DnsServer<'_, T>, evloop::Error> {
        if id.lp != self.loop_id() {
            return Err(evloop::Error::ForeignHandle);
        }
        if state(self, id).is_none() {
            return Err(evloop::Error::StaleHandle);
        }
        Ok(DnsServer {
            ctx: self.reborrow(),
            id,
        })
    }

    fn respond(&mut self, responder: Responder, action: Action) -> Result<(), evloop::Error> {
        let id = responder.request.server;
        self.dns_server(id)?;
        let via = responder.request.via;
        dispatch::answered(self, id, via);
        dispatch::perform(self, id, &responder.request, action);
        if let request::Via::Tcp(sid) = via {
            dispatch::close_if_done(self, id, sid);
        }
        Ok(())
    }
}

/// A DNS server borrowed from the loop ([`ServerExt::dns_server`]).
pub struct DnsServer<'a, T: 'static> {
    ctx: Ctx<'a, T>,
    id: ServerId,
}

impl<T: 'static> std::fmt::Debug for DnsServer<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer").field("id", &self.id).finish()
    }
}

impl<T: 'static> DnsServer<'_, T> {
    fn st(&mut self) -> &mut State<T> {
        // The view exists only while the server does (checked when made,
        // and nothing it offers removes it but `close`, which consumes it).
        state(&mut self.ctx, self.id).expect("a DnsServer view outlived its server")
    }

    /// The server's handle.
    pub fn id(&self) -> ServerId {
        self.id
    }

    /// The address served (the same port for UDP and TCP).
    pub fn local_addr(&mut self) -> SocketAddr {
        let udp = self.st().udp.clone();
        // A bound socket always has an address; a failure here would
        // mean the fd is not a socket, which the server never allows.
        udp.local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// What the server has received and sent so far.
    pub fn stats(&mut self) -> ServerStats {
        self.st().stats
    }

    /// Whether the server accepts TCP.
    pub fn serves_tcp(&mut self) -> bool {
        self.st().listener.is_some()
    }

    /// How many TCP connections are open.
    pub fn tcp_clients(&mut self) -> usize {
        self.st().conns.len()
    }

    /// Replaces the handler (takes effect with the next query).
    pub fn set_handler<F>(&mut self, handler: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, &Request) -> Action + 'static,
    {
        self.st().handler = Some(Box::new(handler));
    }

    /// Stops serving: closes the sockets and every TCP connection. Delayed
    /// and deferred answers are dropped; the handle goes stale.
    pub fn close(mut self) {
        let Some(st) = self
            .ctx
            .ext_mut::<Servers<T>>()
            .and_then(|s| s.map.remove(&self.id.key))
        else {
            return;
        };
        let _ = self.ctx.remove(st.udp_io);
        if let Some(lid) = st.listener {
            if let Ok(l) = self.ctx.listener(lid) {
                l.close();
            }
        }
        for (sid, conn) in st.conns {
            use evloop_buffer::StreamExt;
            if let Some(linger) = conn.linger {
                self.ctx.cancel_once(linger);
            }
            if let Ok(s) = self.ctx.stream(sid) {
                s.close();
            }
        }
    }
}
