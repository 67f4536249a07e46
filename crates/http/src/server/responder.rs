//! [`Responder`]: answers a request, now or later; streams a response;
//! reads a streamed request body; upgrades the connection.

use std::sync::mpsc;

use bytes::Bytes;
use evloop::{AsyncSender, Ctx, Error, LoopId};
use evloop_buffer::stream::{Direction, StreamEvent, Watermarks};
use evloop_buffer::{StreamExt, StreamId};
use http::{HeaderMap, Response, StatusCode};

use super::close::{forget, Close};
use super::engine::send_continue;
use super::kick::schedule;
use super::respond::{after_response, bodiless_status, respond, with_target, write_head, Framing};
use super::slab::Key;
use super::state::{conn, parts, BodyRead, Out, Reader, Remote, Sink};
use super::{Body, BodyChunk};

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

    /// Starts a streamed response (evhttp's `evhttp_send_reply_start`):
    /// sends `head`, then the body as [`send`](Self::send) gives it, until
    /// [`finish`](Self::finish). HTTP/1.1 clients get the chunked coding,
    /// HTTP/1.0 clients a body that ends when the connection closes. To
    /// produce without piling data up, set a producer with
    /// [`on_drain`](Self::on_drain).
    ///
    /// ```
    /// use evloop_http::server::{Reply, Router};
    /// use http::{Method, Response};
    ///
    /// let mut router: Router<()> = Router::new();
    /// router.exact("/count", &[Method::GET], |ctx, _, req| {
    ///     let r = req.responder();
    ///     r.stream(ctx, Response::new(())).unwrap();
    ///     let mut n = 0;
    ///     r.on_drain(ctx, move |ctx, _, r| {
    ///         // Called whenever little of this body waits to be sent.
    ///         while n < 1000 && r.buffered(ctx) < 64 * 1024 {
    ///             r.send(ctx, format!("{n}\n")).unwrap();
    ///             n += 1;
    ///         }
    ///         if n == 1000 {
    ///             r.finish(ctx).unwrap();
    ///         }
    ///     })
    ///     .unwrap();
    ///     Reply::Later
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] as for [`respond`](Self::respond).
    pub fn stream<T: 'static>(self, ctx: &mut Ctx<'_, T>, head: Response<()>) -> Result<(), Error> {
        self.check(ctx)?;
        self.unread_body(ctx);
        let now = ctx.now_wall();
        let (head, ()) = head.into_parts();
        with_target(ctx, self, |server, ex, out| {
            if !matches!(ex.state, Out::Pending) {
                return Err(Error::StaleHandle);
            }
            let bodiless = ex.head_request || bodiless_status(head.status);
            let chunked = !bodiless && ex.version != http::Version::HTTP_10;
            let framing = if bodiless {
                Framing::KeepUsers
            } else if chunked {
                Framing::Chunked
            } else {
                ex.keep_alive = false;
                Framing::None
            };
            write_head(
                server,
                ex,
                out,
                now,
                head.status,
                &head.headers,
                framing,
                !bodiless,
            );
            ex.state = Out::Streaming {
                chunked,
                bodiless,
                on_drain: None,
            };
            Ok(())
        })?;
        after_response(ctx, self.conn);
        Ok(())
    }

    /// Queues the next piece of a streamed body (evhttp's
    /// `evhttp_send_reply_chunk`); an empty piece is ignored. Nothing limits
    /// how much may be queued: check [`buffered`](Self::buffered), or
    /// produce from [`on_drain`](Self::on_drain).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the connection closed or the response is
    /// finished; [`Error::InvalidArgument`] if no streamed response was
    /// started.
    pub fn send<T: 'static>(
        self,
        ctx: &mut Ctx<'_, T>,
        data: impl Into<Bytes>,
    ) -> Result<(), Error> {
        let data = data.into();
        with_target(ctx, self, |_, ex, out| {
            let Out::Streaming {
                chunked, bodiless, ..
            } = ex.state
            else {
                return Err(Error::InvalidArgument("no streamed response was started"));
            };
            if bodiless || data.is_empty() {
                return Ok(());
            }
            if chunked {
                out.add_fmt(format_args!("{:x}\r\n", data.len()));
            }
            if data.len() <= 4096 {
                out.add(&data);
            } else {
                out.add_bytes(data);
            }
            if chunked {
                out.add(b"\r\n");
            }
            Ok(())
        })
    }

    /// Ends a streamed body (evhttp's `evhttp_send_reply_end`).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn finish<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Result<(), Error> {
        self.finish_with_trailers(ctx, &HeaderMap::new())
    }

    /// Ends a streamed body with trailer fields (sent only with the chunked
    /// coding, that is to HTTP/1.1 clients).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn finish_with_trailers<T: 'static>(
        self,
        ctx: &mut Ctx<'_, T>,
        trailers: &HeaderMap,
    ) -> Result<(), Error> {
        with_target(ctx, self, |_, ex, out| {
            let Out::Streaming {
                chunked, bodiless, ..
            } = ex.state
            else {
                return Err(Error::InvalidArgument("no streamed response was started"));
            };
            if chunked && !bodiless {
                out.add(b"0\r\n");
                for (name, value) in trailers {
                    out.add(name.as_str().as_bytes());
                    out.add(b": ");
                    out.add(value.as_bytes());
                    out.add(b"\r\n");
                }
                out.add(b"\r\n");
            }
            ex.state = Out::Done;
            Ok(())
        })?;
        after_response(ctx, self.conn);
        Ok(())
    }

    /// Sets the producer of a streamed response: it is called when at most
    /// [`ServerOptions::stream_low_watermark`](super::ServerOptions::stream_low_watermark)
    /// bytes of the connection's output wait to be sent and this response
    /// is the one being sent (once soon after being set, then after writes
    /// that drained the output that far). It should [`send`](Self::send)
    /// until [`buffered`](Self::buffered) reaches a bound of its choice, and
    /// [`finish`](Self::finish) at the end; if it has nothing to send yet,
    /// it may send later from anywhere (the producer is called again after
    /// that data is written).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn on_drain<T: 'static, F>(self, ctx: &mut Ctx<'_, T>, cb: F) -> Result<(), Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, Responder) + 'static,
    {
        let (_, c) = parts(ctx, self.conn).ok_or(Error::StaleHandle)?;
        let ex = c
            .queue
            .iter_mut()
            .find(|e| e.seq == self.seq)
            .ok_or(Error::StaleHandle)?;
        let Out::Streaming { on_drain, .. } = &mut ex.state else {
            return Err(Error::InvalidArgument("no streamed response was started"));
        };
        *on_drain = Some(Box::new(cb));
        schedule(ctx, self.conn);
        Ok(())
    }

    /// How many bytes of this response wait to be sent (with what is
    /// queued on the connection ahead of it, once it is the response being
    /// sent). 0 for a stale responder.
    pub fn buffered<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> usize {
        let Some(c) = conn(ctx, self.conn) else {
            return 0;
        };
        let Some(pos) = c.queue.iter().position(|e| e.seq == self.seq) else {
            return 0;
        };
        let own = c.queue[pos].out.len();
        let held = if c.holding { c.hold_out.len() } else { 0 };
        let sid = c.stream;
        if pos == 0 {
            own + held + ctx.stream(sid).map_or(0, |mut s| s.output().len())
        } else {
            own
        }
    }

    /// Reads the request's body piece by piece, for a handler of a
    /// [streaming route](super::Route::stream_body): `cb` gets
    /// [`BodyChunk::Data`] pieces, then [`BodyChunk::End`] with the
    /// trailers (or [`BodyChunk::Aborted`]). A client that asked for
    /// `100 Continue` gets it now. Until this is called the body is not
    /// read (the socket is not either); answering without calling it
    /// drops the body (or closes the connection if the client waits for
    /// `100 Continue`).
    ///
    /// ```
    /// use evloop_http::server::{Body, BodyChunk, Reply, Router};
    /// use http::{Method, Response};
    ///
    /// let mut router: Router<u64> = Router::new();
    /// router
    ///     .exact("/upload", &[Method::PUT], |ctx, _, req| {
    ///         if !req.has_body() {
    ///             return Reply::Now(Response::new(Body::from("0")));
    ///         }
    ///         let mut total = 0;
    ///         req.responder()
    ///             .read_body(ctx, move |ctx, stored, r, chunk| match chunk {
    ///                 BodyChunk::Data(bytes) => total += bytes.len(),
    ///                 BodyChunk::End(_trailers) => {
    ///                     *stored += total as u64;
    ///                     let _ = r.respond(ctx, Response::new(Body::from(total.to_string())));
    ///                 }
    ///                 BodyChunk::Aborted => {}
    ///             })
    ///             .unwrap();
    ///         Reply::Later
    ///     })
    ///     .stream_body();
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the request has no body to read (see
    /// [`Request::has_body`](super::Request::has_body)) or it is read
    /// already; [`Error::StaleHandle`] if the connection closed.
    pub fn read_body<T: 'static, F>(self, ctx: &mut Ctx<'_, T>, cb: F) -> Result<(), Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, Responder, BodyChunk) + 'static,
    {
        self.check(ctx)?;
        let now = ctx.now();
        let c = conn(ctx, self.conn).ok_or(Error::StaleHandle)?;
        let Reader::Body(BodyRead {
            seq,
            sink,
            continue_pending,
            ..
        }) = &mut c.reader
        else {
            return Err(Error::InvalidArgument(
                "the request has no body left to read",
            ));
        };
        if *seq != self.seq || !matches!(sink, Sink::Await) {
            return Err(Error::InvalidArgument(
                "the request has no body left to read",
            ));
        }
        *sink = Sink::Stream {
            cb: Some(Box::new(cb)),
            paused: false,
        };
        // The body timeout counts from when the body is wanted.
        c.body_since = now;
        let cont = std::mem::take(continue_pending);
        if cont {
            send_continue(ctx, self);
        }
        schedule(ctx, self.conn);
        Ok(())
    }

    /// Stops delivering the body (and reading the socket: the client is
    /// held back by TCP flow control) until [`resume_body`](Self::resume_body).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the body is not being read through
    /// [`read_body`](Self::read_body).
    pub fn pause_body<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Result<(), Error> {
        self.set_paused(ctx, true)
    }

    /// Delivers the body again after [`pause_body`](Self::pause_body).
    ///
    /// # Errors
    ///
    /// As [`pause_body`](Self::pause_body).
    pub fn resume_body<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Result<(), Error> {
        self.set_paused(ctx, false)?;
        schedule(ctx, self.conn);
        Ok(())
    }

    fn set_paused<T: 'static>(self, ctx: &mut Ctx<'_, T>, on: bool) -> Result<(), Error> {
        self.check(ctx)?;
        let now = ctx.now();
        let c = conn(ctx, self.conn).ok_or(Error::StaleHandle)?;
        // A pause does not count against the body timeout.
        c.body_since = now;
        match &mut c.reader {
            Reader::Body(BodyRead {
                seq,
                sink: Sink::Stream { paused, .. },
                ..
            }) if *seq == self.seq => {
                *paused = on;
                Ok(())
            }
            _ => Err(Error::InvalidArgument("the body is not being read")),
        }
    }

    /// Accepts an `Upgrade` (or a `CONNECT`) request and takes the
    /// connection out of the server: `head` is sent (status 101 for an
    /// upgrade, a 2xx for CONNECT; its headers as given, e.g. `Upgrade` and
    /// `Connection: upgrade`, plus `Date`), then the connection's
    /// [`StreamId`] is returned and the server forgets it. The caller owns
    /// the stream from now on: its read and write callbacks are cleared and
    /// its event callback closes it on any event until the caller sets its
    /// own. **Bytes the client sent after the request are already in the
    /// stream's input**: handle them at once (the read callback only runs
    /// for new bytes).
    ///
    /// Only the oldest request in flight can upgrade (the server reads
    /// nothing past an upgrade request, and answers the ones before it
    /// first), and only once its body, if any, was read.
    ///
    /// ```
    /// use evloop_buffer::StreamExt;
    /// use evloop_http::server::{Body, Reply, Router};
    /// use http::{Method, Response, StatusCode};
    ///
    /// let mut router: Router<()> = Router::new();
    /// router.exact("/echo", &[Method::GET], |ctx, _, req| {
    ///     if !req.headers().contains_key(http::header::UPGRADE) {
    ///         return Reply::Now(Response::new(Body::from("upgrade required")));
    ///     }
    ///     let head = Response::builder()
    ///         .status(StatusCode::SWITCHING_PROTOCOLS)
    ///         .header("upgrade", "echo")
    ///         .header("connection", "upgrade")
    ///         .body(())
    ///         .unwrap();
    ///     let id = req.responder().upgrade(ctx, head).unwrap();
    ///     let mut s = ctx.stream(id).unwrap();
    ///     let early = s.input().split_to(usize::MAX); // sent with the request
    ///     s.write_bytes(early);
    ///     s.on_read(|ctx, _, id| {
    ///         let mut s = ctx.stream(id).unwrap();
    ///         let b = s.input().split_to(usize::MAX);
    ///         s.write_bytes(b);
    ///     });
    ///     Reply::Later
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the request is no upgrade (or
    /// CONNECT), is not the oldest in flight, has unread body, or `head`'s
    /// status is not 101 (2xx for CONNECT); [`Error::StaleHandle`] if it was
    /// answered or its connection closed.
    pub fn upgrade<T: 'static>(
        self,
        ctx: &mut Ctx<'_, T>,
        head: Response<()>,
    ) -> Result<StreamId, Error> {
        self.check(ctx)?;
        let now = ctx.now_wall();
        let (_, c) = parts(ctx, self.conn).ok_or(Error::StaleHandle)?;
        let ex = c.queue.front().ok_or(Error::StaleHandle)?;
        if ex.seq != self.seq || !matches!(ex.state, Out::Pending) {
            return Err(if c.queue.iter().any(|e| e.seq == self.seq) {
                Error::InvalidArgument("only the oldest request in flight can upgrade")
            } else {
                Error::StaleHandle
            });
        }
        if !ex.upgradable {
            return Err(Error::InvalidArgument("the request asks for no upgrade"));
        }
        if !matches!(c.reader, Reader::Wait) {
            return Err(Error::InvalidArgument("the request's body is not read yet"));
        }
        let ok = if ex.connect {
            head.status().is_success()
        } else {
            head.status() == StatusCode::SWITCHING_PROTOCOLS
        };
        if !ok {
            return Err(Error::InvalidArgument(
                "an upgrade is answered with 101 (a CONNECT with a 2xx)",
            ));
        }
        let (head, ()) = head.into_parts();
        with_target(ctx, self, |server, ex, out| {
            ex.keep_alive = true;
            write_head(
                server,
                ex,
                out,
                now,
                head.status,
                &head.headers,
                Framing::None,
                false,
            );
            Ok(())
        })?;
        let sid = conn(ctx, self.conn).ok_or(Error::StaleHandle)?.stream;
        // forget gives held buffers back to the stream first.
        forget(ctx, self.conn, Close::Keep);
        let mut s = ctx.stream(sid)?;
        s.clear_data_callbacks();
        s.on_event(|ctx, _, id, ev| {
            if let Ok(s) = ctx.stream(id) {
                match ev {
                    StreamEvent::Connected => {}
                    StreamEvent::Eof => {
                        s.close_when_flushed();
                    }
                    _ => {
                        s.close();
                    }
                }
            }
        });
        s.set_watermarks(Watermarks::default());
        s.enable(Direction::Read);
        Ok(sid)
    }

    /// A handle that answers this request from another thread (see
    /// [`RemoteResponder`]).
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

    fn check<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Result<(), Error> {
        if self.lp != ctx.loop_id() {
            return Err(Error::ForeignHandle);
        }
        match self.exchange_state(ctx) {
            Some(()) => Ok(()),
            None => Err(Error::StaleHandle),
        }
    }

    fn exchange_state<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Option<()> {
        let c = conn(ctx, self.conn)?;
        let ex = c.queue.iter().find(|e| e.seq == self.seq)?;
        (!matches!(ex.state, Out::Done)).then_some(())
    }

    /// The request is answered while its body is still unread (a streaming
    /// handler that did not call `read_body`): a client waiting for
    /// `100 Continue` will not send it, so the connection closes after the
    /// answer; any other client sends it, and it is read and dropped.
    fn unread_body<T: 'static>(self, ctx: &mut Ctx<'_, T>) {
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
