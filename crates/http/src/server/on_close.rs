//! [`Responder::on_close`]: learning that a request will never be
//! answered because its connection closed (or it was dropped) first.

use evloop::{Ctx, Error, LoopId};

use super::kick::kick_server;
use super::slab::Key;
use super::state::{conn, server, Conn, Exchange, Out, ServerState};
use super::Responder;

impl Responder {
    /// Calls `cb` once if the request is dropped before its response is
    /// complete: its connection closes (a socket error or reset, the write
    /// timeout, a server shutdown that has to cut it), or it was pipelined
    /// behind a response that closes the connection (a `Connection:
    /// close`, an [`abort`](Self::abort)). It is not called once the
    /// response is given whole ([`respond`](Self::respond),
    /// [`finish`](Self::finish), [`abort`](Self::abort) of its own,
    /// [`upgrade`](Self::upgrade)). `cb` runs from the loop soon after the
    /// close, with the responder (stale by then). A second call replaces
    /// the callback.
    ///
    /// A client that shuts its sending side (EOF) while it waits is taken
    /// as a half close by default: its answer is still sent, and `cb` runs
    /// only if writing it then fails. With
    /// [`ServerOptions::client_eof_aborts`](super::ServerOptions::client_eof_aborts)
    /// the EOF itself drops the request (as nginx does for proxied
    /// requests), which is what a proxy or a long poll wants to stop work
    /// for a client that left.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop_http::server::{Body, Reply, Router};
    /// use http::{Method, Response};
    ///
    /// let mut router: Router<u32> = Router::new();
    /// router.exact("/poll", &[Method::GET], |ctx, _, req| {
    ///     let r = req.responder();
    ///     let timer = ctx
    ///         .once_timer(Duration::from_secs(30), move |ctx, _, _| {
    ///             let _ = r.respond(ctx, Response::new(Body::from("nothing new")));
    ///         })
    ///         .unwrap();
    ///     // The client left: stop waiting for it.
    ///     r.on_close(ctx, move |ctx, gone, _| {
    ///         let _ = ctx.cancel_once(timer);
    ///         *gone += 1;
    ///     })
    ///     .unwrap();
    ///     Reply::Later
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the response is complete already or the
    /// connection is gone (then nothing will call `cb`).
    pub fn on_close<T: 'static, F>(self, ctx: &mut Ctx<'_, T>, cb: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, Responder) + 'static,
    {
        if self.lp != ctx.loop_id() {
            return Err(Error::ForeignHandle);
        }
        let Conn { queue, closers, .. } = conn(ctx, self.conn).ok_or(Error::StaleHandle)?;
        let pending = |seq: u64| {
            queue
                .iter()
                .any(|e| e.seq == seq && !matches!(e.state, Out::Done))
        };
        if !pending(self.seq) {
            return Err(Error::StaleHandle);
        }
        // Callbacks of requests answered meanwhile are never due: forget
        // them here (this keeps the list as short as the queue).
        if !closers.is_empty() {
            closers.retain(|(seq, _)| *seq != self.seq && pending(*seq));
        }
        closers.push((self.seq, Box::new(cb)));
        Ok(())
    }
}

/// The requests of `queue` still without a complete response.
pub(crate) fn waiting<'a, T: 'static>(
    queue: impl IntoIterator<Item = &'a Exchange<T>>,
) -> Vec<u64> {
    queue
        .into_iter()
        .filter(|e| !matches!(e.state, Out::Done))
        .map(|e| e.seq)
        .collect()
}

/// Moves the callbacks of the requests `dropped` says are dropped to the
/// server's list of those due ([`fire_soon`] has them called).
pub(crate) fn release<T: 'static>(
    server: &mut ServerState<T>,
    conn: &mut Conn<T>,
    lp: LoopId,
    key: Key,
    dropped: impl Fn(u64) -> bool,
) {
    if conn.closers.is_empty() {
        return;
    }
    for (seq, cb) in std::mem::take(&mut conn.closers) {
        if dropped(seq) {
            server.closed.push((Responder { lp, conn: key, seq }, cb));
        } else {
            conn.closers.push((seq, cb));
        }
    }
}

/// Has the due callbacks called from the loop (the kick has the
/// application state), if there are any.
pub(crate) fn fire_soon<T: 'static>(ctx: &mut Ctx<'_, T>, skey: Key) {
    if server(ctx, skey).is_some_and(|s| !s.closed.is_empty()) {
        kick_server(ctx, skey);
    }
}

/// Calls the due callbacks (those they make due too).
pub(crate) fn run_closed<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, skey: Key) {
    loop {
        let Some((r, cb)) = server(ctx, skey).and_then(|s| s.closed.pop()) else {
            return;
        };
        cb(ctx, data, r);
    }
}
