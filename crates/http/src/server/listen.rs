//! A server's listeners: binding addresses, serving sockets bound
//! elsewhere, and letting one go.

use std::io;

use evloop_buffer::{ListenAddr, ListenSocket, ListenerExt, ListenerOptions, ToListenAddr};

use super::conn::accept;
use super::handle::Server;

impl<T: 'static> Server<'_, T> {
    /// Listens on `addr` too (evhttp's `evhttp_bind_socket`): a TCP
    /// address (`"127.0.0.1:8080"`, port 0 for any free one) or a Unix
    /// socket (`"unix:/run/app.sock"`), as evloop-buffer's
    /// [`ListenerExt::listen`] takes them. Returns the address it listens
    /// on (with the port chosen).
    ///
    /// # Errors
    ///
    /// As [`ListenerExt::listen`]; and `Other` if the server is shutting
    /// down.
    pub fn listen(&mut self, addr: impl ToListenAddr) -> io::Result<ListenAddr> {
        self.refuse_if_shutting_down()?;
        let opts = ListenerOptions::new();
        let sock = ListenSocket::bind(&addr.to_listen_addr()?, &opts)?;
        self.serve(sock, &opts)
    }

    /// Serves a socket that is bound and listening already (evhttp's
    /// `evhttp_accept_socket`): a `std::net::TcpListener`, a
    /// `std::os::unix::net::UnixListener`, or an evloop-buffer
    /// [`ListenSocket`] (one inherited from a supervisor, bound with
    /// options of the caller's, or bound before privileges were dropped).
    /// It is made non-blocking. Returns the address it listens on.
    ///
    /// ```
    /// use evloop::Loop;
    /// use evloop_buffer::ListenAddr;
    /// use evloop_http::server::{Router, ServerExt, ServerOptions};
    ///
    /// let sock = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let bound = sock.local_addr()?;
    /// let mut lp: Loop<()> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let id = ctx.new_server(Router::new(), ServerOptions::new())?;
    /// let addr = ctx.server(id)?.listen_on(sock)?;
    /// assert_eq!(addr, ListenAddr::Tcp(bound));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If its address cannot be read (an abstract or unnamed Unix socket),
    /// it cannot be made non-blocking, or the loop refuses its watcher (the
    /// socket is closed then); `Other` if the server is shutting down.
    pub fn listen_on(&mut self, sock: impl Into<ListenSocket>) -> io::Result<ListenAddr> {
        self.refuse_if_shutting_down()?;
        self.serve(sock.into(), &ListenerOptions::new())
    }

    /// Stops listening on `addr` (evhttp's `evhttp_del_accept_socket`):
    /// every listener of this server on that address is closed (its
    /// socket too). Connections accepted from it go on. Returns whether
    /// there was one.
    pub fn stop_listening(&mut self, addr: &ListenAddr) -> bool {
        let st = self.st();
        let mut gone = Vec::new();
        st.listeners.retain(|(lid, a)| {
            if a == addr {
                gone.push(*lid);
                false
            } else {
                true
            }
        });
        for lid in &gone {
            if let Ok(l) = self.ctx.listener(*lid) {
                l.close();
            }
        }
        !gone.is_empty()
    }

    /// The addresses it listens on, in the order they were added.
    pub fn listen_addrs(&mut self) -> Vec<ListenAddr> {
        self.st().listeners.iter().map(|(_, a)| a.clone()).collect()
    }

    fn refuse_if_shutting_down(&mut self) -> io::Result<()> {
        if self.st().shutting_down {
            return Err(io::Error::other("the server is shutting down"));
        }
        Ok(())
    }

    /// Accepts on `sock` for this server.
    fn serve(&mut self, sock: ListenSocket, opts: &ListenerOptions) -> io::Result<ListenAddr> {
        // Read first: a listener running without a known address could
        // not be named to stop_listening.
        let local = sock.local_addr()?;
        let key = self.id.key;
        let lid = self
            .ctx
            .listen_on(sock, opts, move |ctx, _, _, conn| accept(ctx, key, conn))?;
        let st = self.st();
        st.listeners.push((lid, local.clone()));
        if st.at_capacity {
            if let Ok(mut l) = self.ctx.listener(lid) {
                l.disable();
            }
        }
        Ok(local)
    }
}
