//! Accepting connections: [`Listener`] (libevent's evconnlistener), made
//! with [`ListenerExt::listen`].

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{SocketAddr as UnixSocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use evloop::{Ctx, Events, IoId, LoopId, Once, Priority};
use slotmap::SlotMap;

use crate::stream::callback::{self, CallbackSlot};
use crate::stream::sys;

slotmap::new_key_type! {
    /// A listener's key in the loop's [`Listeners`] table.
    pub struct ListenerKey;
}

/// Names a listener; a small `Copy` handle like evloop's watcher handles,
/// carrying its loop's identity. It goes stale (every call fails with
/// [`evloop::Error::StaleHandle`]) once the listener is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId {
    key: ListenerKey,
    lp: LoopId,
}

/// Where to listen: a TCP address or a Unix-domain socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address; port 0 picks a free port.
    Tcp(SocketAddr),
    /// A Unix-domain socket path; it must not exist yet (a stale socket
    /// file from an earlier run must be removed first).
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => a.fmt(f),
            ListenAddr::Unix(p) => p.display().fmt(f),
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr::Tcp(addr)
    }
}

impl From<PathBuf> for ListenAddr {
    fn from(path: PathBuf) -> Self {
        ListenAddr::Unix(path)
    }
}

impl std::str::FromStr for ListenAddr {
    type Err = io::Error;

    /// `IP:PORT` (`127.0.0.1:7100`, `[::1]:7100`, port 0 for any free
    /// one) is a TCP address; `unix:PATH`, or anything containing a `/`,
    /// is a Unix socket path. Host names (`localhost:7100`) are refused:
    /// resolving one blocks, and may give several addresses (resolve it
    /// first, and listen on the address you mean).
    ///
    /// # Errors
    ///
    /// `InvalidInput`, with a message that says what is wrong: no port, a
    /// port out of range, a host name, an IPv6 address without brackets,
    /// an empty path.
    fn from_str(s: &str) -> io::Result<ListenAddr> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad_addr(s, "unix: needs a socket path after it"));
            }
            return Ok(ListenAddr::Unix(PathBuf::from(path)));
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(ListenAddr::Tcp(addr));
        }
        if s.contains('/') {
            return Ok(ListenAddr::Unix(PathBuf::from(s)));
        }
        Err(bad_addr(s, &why_not_an_address(s)))
    }
}

fn bad_addr(s: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot listen on {s:?}: {why}"),
    )
}

/// Why `s`, which is neither `IP:PORT` nor a path, is no address.
fn why_not_an_address(s: &str) -> String {
    const FORMS: &str = "expected IP:PORT (127.0.0.1:7100, [::1]:7100, port 0 for any \
                         free one) or unix:PATH";
    if s.is_empty() {
        return format!("empty; {FORMS}");
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        let example = SocketAddr::new(ip, 7100);
        return format!("no port (e.g. {example})");
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return format!("{FORMS}; host names are not resolved");
    };
    if port.parse::<u16>().is_err() {
        return format!("{port:?} is not a port number (0 to 65535)");
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        return format!("an IPv6 address goes in brackets: [{bare}]:{port}");
    }
    format!(
        "{host:?} is not an IP address; host names are not resolved (that \
         blocks, and a name may stand for several addresses): resolve it \
         first, or use an address such as 127.0.0.1:{port} or [::]:{port}"
    )
}

/// What [`ListenerExt::listen`] accepts as an address, as std's
/// `ToSocketAddrs` does for connecting: a [`SocketAddr`], an
/// `(IpAddr, u16)`, a [`ListenAddr`], a Unix socket path (`&Path`,
/// `PathBuf`), or a string parsed as [`ListenAddr::from_str`](std::str::FromStr)
/// says (`"127.0.0.1:7100"`, `"unix:/run/app.sock"`).
pub trait ToListenAddr {
    /// The address, or why it is none.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a string that is no address.
    fn to_listen_addr(&self) -> io::Result<ListenAddr>;
}

impl ToListenAddr for ListenAddr {
    fn to_listen_addr(&self) -> io::Result<ListenAddr> {
        Ok(self.clone())
    }
}

impl ToListenAddr for SocketAddr {
    fn to_listen_addr(&self) -> io::Result<ListenAddr> {
        Ok(ListenAddr::Tcp(*self))
    }
}

impl ToListenAddr for (IpAddr, u16) {
    fn to_listen_addr(&self) -> io::Result<ListenAddr> {
        Ok(ListenAddr::Tcp(SocketAddr::from(*self)))
    }
}

impl ToListenAddr for Path {
    fn to_listen_addr(&self) -> io::Result<ListenAddr> {
        Ok(ListenAddr::Unix(self.to_path_buf()))
    }
}

impl ToListenAddr for PathBuf {
    fn to_listen_addr(&self) -> io::Result<ListenAddr> {
        Ok(ListenAddr::Unix(self.clone()))
    }
}

impl ToListenAddr for str {
    fn to_listen_addr(&self) -> io::Result<ListenAddr> {
        self.parse()
    }
}

impl ToListenAddr for String {
    fn to_listen_addr(&self) -> io::Result<ListenAddr> {
        self.parse()
    }
}

impl<A: ToListenAddr + ?Sized> ToListenAddr for &A {
    fn to_listen_addr(&self) -> io::Result<ListenAddr> {
        (**self).to_listen_addr()
    }
}

/// How to bind and how to accept. Built with chained setters:
/// `ListenerOptions::new().backlog(128).reuse_port(true)`.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    backlog: i32,
    reuse_addr: bool,
    reuse_port: bool,
    accepts_per_wakeup: usize,
    retry_min: Duration,
    retry_max: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        ListenerOptions {
            backlog: 1024,
            reuse_addr: true,
            reuse_port: false,
            accepts_per_wakeup: 64,
            retry_min: Duration::from_millis(10),
            retry_max: Duration::from_secs(1),
        }
    }
}

impl ListenerOptions {
    /// The defaults: backlog 1024, `SO_REUSEADDR` on, `SO_REUSEPORT` off,
    /// 64 accepts per wake-up, retries after 10 ms doubling up to 1 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// The length of the kernel's queue of connections not yet accepted
    /// (the kernel caps it at `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// `SO_REUSEADDR` (TCP only): rebinding a port with connections in
    /// `TIME_WAIT` works. On by default, as servers want.
    pub fn reuse_addr(mut self, on: bool) -> Self {
        self.reuse_addr = on;
        self
    }

    /// `SO_REUSEPORT` (TCP only): several sockets, typically one per thread
    /// or process, listen on one port and the kernel spreads connections.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// At most this many accepts per readiness report (at least 1), so
    /// that a flood of connections cannot hold up the rest of the loop;
    /// the rest are taken in the next iteration.
    pub fn accepts_per_wakeup(mut self, n: usize) -> Self {
        self.accepts_per_wakeup = n.max(1);
        self
    }

    /// The first and the longest delay between retries while accepting
    /// fails (out of fds); each failed retry doubles the delay.
    pub fn retry_delays(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max.max(min);
        self
    }
}

/// A bound, listening socket, before it is handed to the loop.
#[derive(Debug)]
pub enum ListenSocket {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix-domain listener.
    Unix(UnixListener),
}

impl From<TcpListener> for ListenSocket {
    fn from(l: TcpListener) -> Self {
        ListenSocket::Tcp(l)
    }
}

impl From<UnixListener> for ListenSocket {
    fn from(l: UnixListener) -> Self {
        ListenSocket::Unix(l)
    }
}

impl AsFd for ListenSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            ListenSocket::Tcp(l) => l.as_fd(),
            ListenSocket::Unix(l) => l.as_fd(),
        }
    }
}

impl ListenSocket {
    /// Creates a non-blocking socket, applies the options, binds and
    /// listens.
    ///
    /// # Errors
    ///
    /// What `socket`, `setsockopt`, `bind` or `listen` returned
    /// (`AddrInUse` for a taken port or an existing socket path).
    pub fn bind(addr: &ListenAddr, opts: &ListenerOptions) -> io::Result<ListenSocket> {
        match addr {
            ListenAddr::Tcp(addr) => {
                let fd = sys::tcp_socket(addr)?;
                if opts.reuse_addr {
                    sys::set_int_option(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
                }
                if opts.reuse_port {
                    sys::set_int_option(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
                }
                sys::bind(fd.as_fd(), addr)?;
                sys::listen(fd.as_fd(), opts.backlog)?;
                Ok(ListenSocket::Tcp(TcpListener::from(fd)))
            }
            ListenAddr::Unix(path) => {
                let l = UnixListener::bind(path)?;
                sys::listen(l.as_fd(), opts.backlog)?;
                l.set_nonblocking(true)?;
                Ok(ListenSocket::Unix(l))
            }
        }
    }

    /// The address it listens on (the real port after binding port 0).
    ///
    /// # Errors
    ///
    /// What `getsockname` returned; `InvalidInput` for an unnamed Unix
    /// socket.
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            ListenSocket::Tcp(l) => Ok(ListenAddr::Tcp(l.local_addr()?)),
            ListenSocket::Unix(l) => match l.local_addr()?.as_pathname() {
                Some(p) => Ok(ListenAddr::Unix(p.to_path_buf())),
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the Unix listener has no path",
                )),
            },
        }
    }

    fn accept(&self) -> io::Result<Accepted> {
        let (fd, peer) = sys::accept(self.as_fd())?;
        match self {
            ListenSocket::Tcp(_) => {
                let stream = TcpStream::from(fd);
                let peer = match peer {
                    Some(p) => p,
                    None => stream.peer_addr()?,
                };
                Ok(Accepted::Tcp { stream, peer })
            }
            ListenSocket::Unix(_) => {
                let stream = UnixStream::from(fd);
                // Peers are usually unnamed; std builds the address from
                // getpeername without any unsafe here.
                let peer = stream.peer_addr()?;
                Ok(Accepted::Unix { stream, peer })
            }
        }
    }
}

/// An accepted connection: non-blocking and close-on-exec already. Pass it
/// to [`StreamExt::new_stream`](crate::StreamExt::new_stream) (it
/// converts into an `OwnedFd`) or use the std stream directly.
#[derive(Debug)]
pub enum Accepted {
    /// From a TCP listener.
    Tcp {
        /// The connection.
        stream: TcpStream,
        /// The client's address.
        peer: SocketAddr,
    },
    /// From a Unix-domain listener.
    Unix {
        /// The connection.
        stream: UnixStream,
        /// The client's address (usually unnamed).
        peer: UnixSocketAddr,
    },
}

impl From<Accepted> for OwnedFd {
    fn from(a: Accepted) -> OwnedFd {
        match a {
            Accepted::Tcp { stream, .. } => stream.into(),
            Accepted::Unix { stream, .. } => stream.into(),
        }
    }
}

impl AsFd for Accepted {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Accepted::Tcp { stream, .. } => stream.as_fd(),
            Accepted::Unix { stream, .. } => stream.as_fd(),
        }
    }
}

/// What a listener reports besides connections.
#[derive(Debug)]
pub enum ListenerEvent {
    /// Accepting failed (typically `EMFILE`/`ENFILE`: out of fds); the
    /// listener stopped watching its socket and retries in `retry_in`,
    /// with a growing delay. Reported once per outage, not per retry.
    Paused {
        /// Why `accept` failed.
        error: io::Error,
        /// When the first retry happens.
        retry_in: Duration,
    },
    /// Accepting works again after [`Paused`](Self::Paused).
    Resumed {
        /// How many retries failed before this one.
        failed_retries: u32,
    },
}

type AcceptCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, ListenerId, Accepted);
type EventCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, ListenerId, ListenerEvent);

/// Every listener of one loop: the crate's extension value in the loop.
struct Listeners<T: 'static> {
    map: SlotMap<ListenerKey, State<T>>,
}

impl<T: 'static> Default for Listeners<T> {
    fn default() -> Self {
        Listeners {
            map: SlotMap::with_key(),
        }
    }
}

/// One listener's state.
struct State<T: 'static> {
    /// The socket; its io watcher holds the other reference.
    sock: Rc<ListenSocket>,
    /// The io watcher on the socket, the listener's own.
    io: IoId<Rc<ListenSocket>>,
    opts: ListenerOptions,
    /// The one-shot retry timer while paused (it goes away when it fires).
    retry: Option<Once>,
    on_accept: CallbackSlot<AcceptCb<T>>,
    on_event: CallbackSlot<EventCb<T>>,
    /// Wanted by the user ([`Listener::enable`]/[`Listener::disable`]).
    enabled: bool,
    /// Accepting failed; the retry timer runs instead of the io watcher.
    paused: bool,
    failed_retries: u32,
    next_delay: Duration,
    /// The priority of the listener's io watcher.
    priority: Priority,
    /// Whether the listener keeps `run` going (its io watcher, and its
    /// retry timer while paused).
    keepalive: bool,
}

fn state<'c, T: 'static>(ctx: &'c mut Ctx<'_, T>, id: ListenerId) -> Option<&'c mut State<T>> {
    if id.lp != ctx.loop_id() {
        return None;
    }
    ctx.ext_mut::<Listeners<T>>()?.map.get_mut(id.key)
}

/// Listener calls on evloop's [`Ctx`] (outside callbacks, `Loop::ctx()`
/// gives one).
pub trait ListenerExt<T: 'static> {
    /// Binds `addr` (see [`ListenSocket::bind`]; a [`SocketAddr`], a
    /// string like `"127.0.0.1:7100"` or `"unix:/run/app.sock"`, a path:
    /// see [`ToListenAddr`]) and starts accepting: `on_accept` gets every
    /// new connection. Shorthand for `bind` and
    /// [`listen_on`](Self::listen_on).
    ///
    /// # Errors
    ///
    /// As [`ToListenAddr::to_listen_addr`] and [`ListenSocket::bind`].
    fn listen<F>(
        &mut self,
        addr: impl ToListenAddr,
        opts: &ListenerOptions,
        on_accept: F,
    ) -> io::Result<ListenerId>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, ListenerId, Accepted) + 'static;

    /// Starts accepting on a socket that listens already (it is made
    /// non-blocking). Only the accept-side options apply.
    ///
    /// # Errors
    ///
    /// If the socket cannot be made non-blocking, or the loop refuses the
    /// watcher.
    fn listen_on<F>(
        &mut self,
        sock: impl Into<ListenSocket>,
        opts: &ListenerOptions,
        on_accept: F,
    ) -> io::Result<ListenerId>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, ListenerId, Accepted) + 'static;

    /// The listener `id`, to configure or close it.
    ///
    /// # Errors
    ///
    /// [`evloop::Error::StaleHandle`] once it was closed,
    /// [`evloop::Error::ForeignHandle`] if it is another loop's.
    fn listener(&mut self, id: ListenerId) -> Result<Listener<'_, T>, evloop::Error>;
}

impl<T: 'static> ListenerExt<T> for Ctx<'_, T> {
    fn listen<F>(
        &mut self,
        addr: impl ToListenAddr,
        opts: &ListenerOptions,
        on_accept: F,
    ) -> io::Result<ListenerId>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, ListenerId, Accepted) + 'static,
    {
        let sock = ListenSocket::bind(&addr.to_listen_addr()?, opts)?;
        self.listen_on(sock, opts, on_accept)
    }

    fn listen_on<F>(
        &mut self,
        sock: impl Into<ListenSocket>,
        opts: &ListenerOptions,
        on_accept: F,
    ) -> io::Result<ListenerId>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, ListenerId, Accepted) + 'static,
    {
        let sock = sock.into();
        match &sock {
            ListenSocket::Tcp(l) => l.set_nonblocking(true)?,
            ListenSocket::Unix(l) => l.set_nonblocking(true)?,
        }
        let sock = Rc::new(sock);
        // The watcher's callback names the listener, which gets its key
        // below.
        let io = self.new_io(sock.clone(), Events::READ, |_, _, _, _| {})?;
        let mut on_accept_slot = CallbackSlot::empty();
        on_accept_slot.set(Box::new(on_accept) as Box<AcceptCb<T>>);
        let st = State {
            sock,
            io,
            opts: opts.clone(),
            retry: None,
            on_accept: on_accept_slot,
            on_event: CallbackSlot::empty(),
            enabled: true,
            paused: false,
            failed_retries: 0,
            next_delay: opts.retry_min,
            priority: Priority::DEFAULT,
            keepalive: true,
        };
        let key = self.ext_or_default::<Listeners<T>>().map.insert(st);
        let id = ListenerId {
            key,
            lp: self.loop_id(),
        };
        let mut w = self.io(io).map_err(io::Error::other)?;
        w.set_callback(move |ctx, data, _io, _ev| {
            accept_batch(ctx, data, id);
        });
        w.start().map_err(io::Error::other)?;
        Ok(id)
    }

    fn listener(&mut self, id: ListenerId) -> Result<Listener<'_, T>, evloop::Error> {
        if id.lp != self.loop_id() {
            return Err(evloop::Error::ForeignHandle);
        }
        if state(self, id).is_none() {
            return Err(evloop::Error::StaleHandle);
        }
        Ok(Listener {
            ctx: self.reborrow(),
            id,
        })
    }
}

/// Accepts up to the per-wake-up budget, handing each connection to the
/// accept callback; pauses on an error that is not about one connection.
/// Returns whether anything was accepted or nothing was waiting (that is,
/// accepting works).
fn accept_batch<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: ListenerId) -> bool {
    let Some(st) = state(ctx, id) else {
        return false;
    };
    let budget = st.opts.accepts_per_wakeup;
    for _ in 0..budget {
        let Some(st) = state(ctx, id) else {
            return true;
        };
        if !st.enabled {
            return true;
        }
        match st.sock.accept() {
            Ok(conn) => {
                if st.paused {
                    resume(ctx, data, id);
                }
                deliver(ctx, data, id, conn);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if is_per_connection(&e) => {}
            Err(e) => {
                pause(ctx, data, id, e);
                return false;
            }
        }
    }
    true
}

/// Errors that concern the one connection being accepted (it was reset
/// before we took it, a firewall refused it, ...) or nothing at all.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EINTR
                | libc::ECONNABORTED
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

fn deliver<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: ListenerId, conn: Accepted) {
    let Some(mut taken) = state(ctx, id).and_then(|st| st.on_accept.take()) else {
        return; // no callback: the connection is closed by dropping it
    };
    let outcome = callback::catch(|| (taken.cb)(ctx, data, id, conn));
    if let Some(st) = state(ctx, id) {
        st.on_accept.restore(taken);
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn report<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: ListenerId, ev: ListenerEvent) {
    let Some(mut taken) = state(ctx, id).and_then(|st| st.on_event.take()) else {
        return;
    };
    let outcome = callback::catch(|| (taken.cb)(ctx, data, id, ev));
    if let Some(st) = state(ctx, id) {
        st.on_event.restore(taken);
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn pause<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: ListenerId, error: io::Error) {
    let Some(st) = state(ctx, id) else { return };
    let first = !st.paused;
    let delay = st.next_delay;
    st.next_delay = (delay * 2).min(st.opts.retry_max);
    if !first {
        st.failed_retries += 1;
    }
    st.paused = true;
    let (old, io, keepalive) = (st.retry.take(), st.io, st.keepalive);
    cancel(ctx, old);
    let _ = ctx.stop(io);
    let timer = ctx.once_timer(delay, move |ctx, data, _ev| retry(ctx, data, id));
    if let Ok(t) = timer {
        // While paused the retry timer stands in for the io watcher: it
        // keeps `run` going exactly when the listener would (a server out
        // of fds must not end because it is waiting to accept again).
        let _ = ctx.set_once_keepalive(t, keepalive);
        if let Some(st) = state(ctx, id) {
            st.retry = Some(t);
        }
    }
    if first {
        report(
            ctx,
            data,
            id,
            ListenerEvent::Paused {
                error,
                retry_in: delay,
            },
        );
    }
}

fn resume<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: ListenerId) {
    let Some(st) = state(ctx, id) else { return };
    let failed_retries = st.failed_retries;
    st.paused = false;
    st.failed_retries = 0;
    st.next_delay = st.opts.retry_min;
    let (old, enabled, io) = (st.retry.take(), st.enabled, st.io);
    cancel(ctx, old);
    if enabled {
        let _ = ctx.start(io);
    }
    report(ctx, data, id, ListenerEvent::Resumed { failed_retries });
}

/// The retry timer fired: try accepting without waiting for readiness.
fn retry<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: ListenerId) {
    let Some(st) = state(ctx, id) else { return };
    st.retry = None; // it removed itself
    let paused = st.paused && st.enabled;
    // A batch that accepted something has resumed already; one that found
    // nothing waiting resumes here (fds may still be short, but nothing is
    // lost: the next failure pauses again).
    if paused && accept_batch(ctx, data, id) && state(ctx, id).is_some_and(|st| st.paused) {
        resume(ctx, data, id);
    }
}

fn cancel<T>(ctx: &mut Ctx<'_, T>, timer: Option<Once>) {
    if let Some(t) = timer {
        ctx.cancel_once(t);
    }
}

/// Access to one listener, borrowed from the loop by
/// [`ctx.listener(id)`](ListenerExt::listener): configure it, close it.
///
/// A listener accepts up to
/// [`accepts_per_wakeup`](ListenerOptions::accepts_per_wakeup) connections
/// each time its socket is readable, with `accept4(SOCK_NONBLOCK |
/// SOCK_CLOEXEC)`, and hands each one to its accept callback, which may
/// close the listener or replace itself.
///
/// ```
/// use std::net::{SocketAddr, TcpStream};
/// use evloop::{Loop, RunMode};
/// use evloop_buffer::{Accepted, ListenAddr, ListenerExt, ListenerOptions};
///
/// let mut lp: Loop<Vec<SocketAddr>> = Loop::new()?;
/// let mut ctx = lp.ctx();
/// let id = ctx.listen("127.0.0.1:0", &ListenerOptions::new(), |ctx, peers, id, conn| {
///     if let Accepted::Tcp { peer, .. } = conn {
///         peers.push(peer);
///     }
///     ctx.listener(id).unwrap().close(); // one is enough: run returns
/// })?;
/// let ListenAddr::Tcp(addr) = ctx.listener(id)?.local_addr()? else { unreachable!() };
/// let client = TcpStream::connect(addr)?;
/// let mut peers = Vec::new();
/// lp.run(&mut peers, RunMode::Default)?;
/// assert_eq!(peers, [client.local_addr()?]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Out of file descriptors
///
/// When `accept` fails with `EMFILE` or `ENFILE` (or `ENOBUFS`, `ENOMEM`,
/// or any error that is not about one connection), the connection stays in
/// the kernel's queue and the listening socket stays readable. A
/// level-triggered loop would report it again at once, forever: 100% CPU.
/// So the listener stops its io watcher, tells the event callback
/// ([`ListenerEvent::Paused`]) and retries from a timer, with a delay that
/// doubles from [`ListenerOptions::retry_delays`]' minimum to its maximum.
/// The first retry that accepts a connection, or finds none waiting,
/// resumes watching and reports [`ListenerEvent::Resumed`]. Pending
/// clients wait in the backlog meanwhile; none is refused. (libev's
/// alternative, a reserve fd closed to accept-and-drop the client, refuses
/// them instead; it could be added as an option.)
pub struct Listener<'a, T: 'static> {
    ctx: Ctx<'a, T>,
    id: ListenerId,
}

impl<T: 'static> std::fmt::Debug for Listener<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("id", &self.id).finish()
    }
}

impl<T: 'static> Listener<'_, T> {
    fn st(&mut self) -> &mut State<T> {
        match state(&mut self.ctx, self.id) {
            Some(st) => st,
            None => unreachable!("checked when the Listener was made, and it borrows the loop"),
        }
    }

    fn st_ref(&self) -> &State<T> {
        match self
            .ctx
            .ext::<Listeners<T>>()
            .and_then(|l| l.map.get(self.id.key))
        {
            Some(st) => st,
            None => unreachable!("checked when the Listener was made, and it borrows the loop"),
        }
    }

    /// Its handle.
    pub fn id(&self) -> ListenerId {
        self.id
    }

    /// The address it listens on.
    ///
    /// # Errors
    ///
    /// As [`ListenSocket::local_addr`].
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        self.st_ref().sock.local_addr()
    }

    /// The listening socket, for socket options (`TCP_DEFER_ACCEPT`, ...).
    /// It stays the listener's: it is closed by [`close`](Self::close).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.st_ref().sock.as_fd()
    }

    /// The priority of the listener's watcher.
    pub fn priority(&self) -> Priority {
        self.st_ref().priority
    }

    /// Sets the priority of the listener's io watcher (see
    /// [`evloop::Priority`]): in an iteration where connections are
    /// waiting and other events are ready too, a higher priority accepts
    /// first, a lower one serves the connections it has first. Default
    /// [`Priority::DEFAULT`]. (The retry timer of a
    /// [pause](Listener#out-of-file-descriptors) keeps the default.)
    pub fn set_priority(&mut self, priority: Priority) {
        let st = self.st();
        st.priority = priority;
        let io = st.io;
        if let Ok(mut w) = self.ctx.io(io) {
            w.set_priority(priority);
        }
    }

    /// Whether the listener keeps [`run`](evloop::Loop::run) going while it
    /// accepts.
    pub fn keepalive(&self) -> bool {
        self.st_ref().keepalive
    }

    /// Whether the listener keeps [`run`](evloop::Loop::run) (in
    /// `RunMode::Default`) going while it is enabled (the default; also
    /// while it is paused and waiting to retry), or not: with keepalive off
    /// it still accepts while the loop runs, but `run` returns once
    /// nothing else keeps the loop going (say, an admin port that should
    /// not keep a program alive whose real work is done).
    pub fn set_keepalive(&mut self, keepalive: bool) {
        let st = self.st();
        st.keepalive = keepalive;
        let (io, retry) = (st.io, st.retry);
        if let Ok(mut w) = self.ctx.io(io) {
            w.set_keepalive(keepalive);
        }
        if let Some(t) = retry {
            let _ = self.ctx.set_once_keepalive(t, keepalive);
        }
    }

    /// Replaces the accept callback (also from inside it).
    pub fn on_accept<F>(&mut self, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, ListenerId, Accepted) + 'static,
    {
        self.st().on_accept.set(Box::new(cb));
    }

    /// Sets the callback for [`ListenerEvent`]s (pauses and recoveries).
    pub fn on_event<F>(&mut self, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, ListenerId, ListenerEvent) + 'static,
    {
        self.st().on_event.set(Box::new(cb));
    }

    /// Whether accepting is paused after a failure (see [Out of file
    /// descriptors](Listener#out-of-file-descriptors)).
    pub fn is_paused(&self) -> bool {
        self.st_ref().paused
    }

    /// Whether it accepts (was not [`disable`](Self::disable)d). It waits
    /// for connections (its watcher is active) when it is enabled and not
    /// [paused](Self::is_paused).
    pub fn is_enabled(&self) -> bool {
        self.st_ref().enabled
    }

    /// Starts accepting again after [`disable`](Self::disable); also ends
    /// a pause at once (a still-failing accept pauses again).
    pub fn enable(&mut self) {
        let st = self.st();
        st.enabled = true;
        st.paused = false;
        st.failed_retries = 0;
        st.next_delay = st.opts.retry_min;
        let (old, io) = (st.retry.take(), st.io);
        cancel(&mut self.ctx, old);
        let _ = self.ctx.start(io);
    }

    /// Stops accepting; new clients wait in the backlog.
    pub fn disable(&mut self) {
        let st = self.st();
        st.enabled = false;
        let (old, io) = (st.retry.take(), st.io);
        cancel(&mut self.ctx, old);
        let _ = self.ctx.stop(io);
    }

    /// Closes the listening socket (a Unix socket's file stays; remove it
    /// if the path is to be reused).
    pub fn close(mut self) {
        let st = self.st();
        let (old, io) = (st.retry.take(), st.io);
        cancel(&mut self.ctx, old);
        // The watcher goes first, deregistering the socket; dropping the
        // state then closes it.
        let _ = self.ctx.remove(io);
        if let Some(l) = self.ctx.ext_mut::<Listeners<T>>() {
            l.map.remove(self.id.key);
        }
    }
}
