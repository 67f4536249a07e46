//! [`Responder`]: answers a request, now or later; streams a response;
//! reads a streamed request body; upgrades the connection.

use std::sync::mpsc;

use evloop::{AsyncSender, Ctx, Error, LoopId};
use http::Response;

use super::kick::schedule;
use super::respond::respond;
use super::slab::Key;
use super::state::{conn, parts, Out, Reader, Remote, Sink};
use super::Body;

/// Names one request and answers it: a small `Copy` token, not tied to the
/// handler's stack frame, so a timer, another stream's callback or any
/// later callback on the loop can answer (evhttp's owned request). Every
/// call takes the loop's `Ctx`; once the request is answered, or its
/// connection is gone, calls fail with [`Error::StaleHandle`].
///
/// Responses of one connection go out in the order of its requests: a
/// response given early waits for the older ones.
///
/// ```
/// use std::time::Duration;
/// use evloop_http::server::{Body, Reply, Router};
/// use http::{Method, Response};
///
/// let mut router: Router<()> = Router::new();
/// router.exact("/slow", &[Method::GET], |ctx, _, req| {
///     let r = req.responder();
///     // Answer in 10 ms, from a timer.
///     ctx.once_timer(Duration::from_millis(10), move |ctx, _, _| {
///         let _ = r.respond(ctx, Response::new(Body::from("late")));
///     })
///     .unwrap();
///     Reply::Later
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Responder {
    pub(crate) lp: LoopId,
    pub(crate) conn: Key,
    pub(crate) seq: u64,
}

/// A [`Responder`] for another thread ([`Responder::remote`]): it posts the
/// response to the loop, which sends it (through an async watcher, so the
/// loop wakes up at once).
///
/// It sends whole responses only ([`respond`](Self::respond), consuming
/// it): streaming a response ([`Responder::stream`],
/// [`send`](Responder::send), [`finish`](Responder::finish)), reading a
/// request body and upgrading need the loop's `Ctx`, so they are done on
/// the loop thread. A worker thread that produces a body piece by piece
/// hands its pieces to the loop itself (a channel and an async watcher of
/// the application's, whose callback calls `send`).
#[derive(Debug)]
pub struct RemoteResponder {
    token: Responder,
    tx: mpsc::Sender<(Responder, Response<Body>)>,
    wake: AsyncSender,
}

impl RemoteResponder {
    /// Posts the response. It is sent as [`Responder::respond`] would (and
    /// dropped if the connection closed meanwhile).
    ///
    /// # Errors
    ///
    /// The response back, if the server (or its loop) is gone.
    pub fn respond(self, resp: Response<Body>) -> Result<(), Response<Body>> {
        if let Err(mpsc::SendError((_, resp))) = self.tx.send((self.token, resp)) {
            return Err(resp);
        }
        self.wake.send();
        Ok(())
    }
}

impl Responder {
    /// Sends `resp` (evhttp's `evhttp_send_reply`). The server adds `Date`,
    /// `Content-Length` (from the body), a default `Content-Type` if the
    /// body is not empty and has none, and `Connection` as the request's
    /// version and the server's state want; a `Connection: close` of the
    /// handler's closes the connection after the response. Responses to
    /// HEAD, and 1xx, 204 and 304 responses, are sent without their body
    /// (HEAD keeps the `Content-Length` of the body it would have had).
    /// A HEAD answer given without a body ([`Body::Empty`], or empty
    /// bytes) keeps the handler's own `Content-Length`, and has none if the
    /// handler set none: a proxy or cache that answers HEAD from a stored
    /// head never announces a false `content-length: 0`.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the request was answered already or its
    /// connection closed; [`Error::InvalidArgument`] if a file body's range
    /// cannot be queued.
    pub fn respond<T: 'static>(
        self,
        ctx: &mut Ctx<'_, T>,
        resp: Response<Body>,
    ) -> Result<(), Error> {
        // `respond` checks the handle and that no response was given yet.
        self.unread_body(ctx);
        respond(ctx, self, resp)
    }

    /// Whether the request still waits for its response, or for the end of
    /// a streamed one.
    pub fn is_pending<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> bool {
        self.exchange_state(ctx).is_some()
    }

    /// A handle that answers this request from another thread with a
    /// whole response (see [`RemoteResponder`]; it cannot stream).
    ///
    /// ```
    /// use evloop_http::server::{Body, Reply, Router};
    /// use http::{Method, Response};
    ///
    /// let mut router: Router<()> = Router::new();
    /// router.exact("/work", &[Method::POST], |ctx, _, req| {
    ///     let remote = req.responder().remote(ctx).unwrap();
    ///     let input = req.body().clone();
    ///     std::thread::spawn(move || {
    ///         let sum: u64 = input.iter().map(|&b| u64::from(b)).sum();
    ///         let _ = remote.respond(Response::new(Body::from(sum.to_string())));
    ///     });
    ///     Reply::Later
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the request was answered or its connection
    /// closed; an error of the loop if its async watcher cannot be made.
    pub fn remote<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Result<RemoteResponder, Error> {
        self.check(ctx)?;
        let skey = conn(ctx, self.conn).ok_or(Error::StaleHandle)?.server;
        let sv = super::state::server(ctx, skey).ok_or(Error::StaleHandle)?;
        if let Some(r) = &sv.remote {
            return Ok(RemoteResponder {
                token: self,
                tx: r.tx.clone(),
                wake: r.wake.clone(),
            });
        }
        let (watcher, wake) = ctx.new_async(move |ctx, _, _, _| {
            let Some(sv) = super::state::server(ctx, skey) else {
                return;
            };
            let Some(r) = &sv.remote else { return };
            let posted: Vec<_> = r.rx.try_iter().collect();
            for (token, resp) in posted {
                let _ = token.respond(ctx, resp);
            }
        })?;
        if let Ok(mut w) = ctx.async_watcher(watcher) {
            // Posted answers belong to connections, which keep the loop
            // running; the watcher alone must not.
            w.set_keepalive(false);
            w.start()?;
        }
        let (tx, rx) = mpsc::channel();
        let remote = RemoteResponder {
            token: self,
            tx: tx.clone(),
            wake: wake.clone(),
        };
        if let Some(sv) = super::state::server(ctx, skey) {
            sv.remote = Some(Remote {
                watcher,
                tx,
                rx,
                wake,
            });
        }
        Ok(remote)
    }

    pub(crate) fn check<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Result<(), Error> {
        if self.lp != ctx.loop_id() {
            return Err(Error::ForeignHandle);
        }
        match self.exchange_state(ctx) {
            Some(()) => Ok(()),
            None => Err(Error::StaleHandle),
        }
    }

    pub(crate) fn exchange_state<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Option<()> {
        let c = conn(ctx, self.conn)?;
        let ex = c.queue.iter().find(|e| e.seq == self.seq)?;
        (!matches!(ex.state, Out::Done)).then_some(())
    }

    /// The request is answered while its body is still unread (a streaming
    /// handler that did not call `read_body`): a client waiting for
    /// `100 Continue` will not send it, so the connection closes after the
    /// answer; any other client sends it, and it is read and dropped.
    pub(crate) fn unread_body<T: 'static>(self, ctx: &mut Ctx<'_, T>) {
        if self.lp != ctx.loop_id() {
            return;
        }
        let Some((server, c)) = parts(ctx, self.conn) else {
            return;
        };
        let max = server.opts.limits.max_body;
        let Reader::Body(b) = &mut c.reader else {
            return;
        };
        if b.seq != self.seq || !matches!(b.sink, Sink::Await) {
            return;
        }
        if b.continue_pending {
            c.reader = Reader::Stopped;
            if let Some(ex) = c.queue.iter_mut().find(|e| e.seq == self.seq) {
                ex.keep_alive = false;
            }
        } else {
            b.sink = Sink::Discard;
            b.limit = Some(max);
            schedule(ctx, self.conn);
        }
    }
}
