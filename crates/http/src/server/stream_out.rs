//! Streamed responses: [`Responder::stream`], `send`, `finish`, the
//! producer called when the output runs low, and how much waits.

use bytes::Bytes;
use evloop::{Ctx, Error};
use evloop_buffer::StreamExt;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Response};

use super::conn::drive;
use super::kick::schedule;
use super::respond::{after_response, bodiless_status, with_target, write_head, Framing};
use super::state::{conn, parts, Out};
use super::Responder;
use crate::proto::{add_last_chunk, add_piece};

impl Responder {
    /// Starts a streamed response (evhttp's `evhttp_send_reply_start`):
    /// sends `head`, then the body as [`send`](Self::send) gives it, until
    /// [`finish`](Self::finish). To produce without piling data up, set a
    /// producer with [`on_drain`](Self::on_drain).
    ///
    /// Framing: if `head` has a valid `Content-Length` (one value, digits
    /// only), it is kept and the body is sent as is, to HTTP/1.1 and 1.0
    /// clients alike (so a 1.0 client that asked for keep-alive keeps its
    /// connection); sending more than that length is refused, and
    /// finishing short of it aborts the response (see
    /// [`abort`](Self::abort)). Without one, HTTP/1.1 clients get the
    /// chunked coding and HTTP/1.0 clients a body that ends when the
    /// connection closes. A `Transfer-Encoding` of the handler's is always
    /// dropped.
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
            let left = if bodiless {
                None
            } else {
                known_length(&head.headers)
            };
            let chunked = !bodiless && left.is_none() && ex.version != http::Version::HTTP_10;
            let framing = if bodiless || left.is_some() {
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
                left,
                on_drain: None,
            };
            Ok(())
        })?;
        crate::proto::spare_maps::give_back(head.headers);
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
    /// started, or if the piece goes past the `Content-Length` the
    /// response was started with (nothing of it is sent then; the
    /// response is still open).
    pub fn send<T: 'static>(
        self,
        ctx: &mut Ctx<'_, T>,
        data: impl Into<Bytes>,
    ) -> Result<(), Error> {
        let data = data.into();
        with_target(ctx, self, |_, ex, out| {
            let (chunked, bodiless) = streaming(&ex.state)?;
            if bodiless || data.is_empty() {
                return Ok(());
            }
            if let Out::Streaming { left: Some(n), .. } = &mut ex.state {
                if data.len() as u64 > *n {
                    return Err(Error::InvalidArgument(
                        "more body than the response's Content-Length",
                    ));
                }
                *n -= data.len() as u64;
            }
            add_piece(out, data, chunked);
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
    /// coding, that is to HTTP/1.1 clients of a response without a
    /// `Content-Length`).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); and [`Error::InvalidArgument`] if less than
    /// the response's `Content-Length` was sent: the response is then
    /// [aborted](Self::abort) (the connection closes after what was sent,
    /// and the client sees a body shorter than announced).
    pub fn finish_with_trailers<T: 'static>(
        self,
        ctx: &mut Ctx<'_, T>,
        trailers: &HeaderMap,
    ) -> Result<(), Error> {
        let short = conn(ctx, self.conn)
            .and_then(|c| c.queue.iter().find(|e| e.seq == self.seq))
            .is_some_and(|e| matches!(e.state, Out::Streaming { left: Some(n), .. } if n > 0));
        if short {
            self.abort(ctx)?;
            return Err(Error::InvalidArgument(
                "less body than the response's Content-Length: aborted",
            ));
        }
        with_target(ctx, self, |_, ex, out| {
            let (chunked, bodiless) = streaming(&ex.state)?;
            if chunked && !bodiless {
                add_last_chunk(out, trailers);
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
        // The stream calls the producer back through its write callback,
        // which only connections with a producer have (see conn::accept).
        let (sid, key) = (c.stream, self.conn);
        if let Ok(mut s) = ctx.stream(sid) {
            s.on_write(move |ctx, data, _| drive(ctx, data, key));
        }
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
        let own = c.queue[pos].out.as_ref().map_or(0, |o| o.len());
        let held = if c.holding { c.hold_out.len() } else { 0 };
        let sid = c.stream;
        if pos == 0 {
            own + held + ctx.stream(sid).map_or(0, |mut s| s.output().len())
        } else {
            own
        }
    }
}

/// The `(chunked, bodiless)` framing of the streamed response `state`
/// describes, or the error of [`Responder::send`] and
/// [`Responder::finish`] when none was started.
#[inline]
fn streaming<T: 'static>(state: &Out<T>) -> Result<(bool, bool), Error> {
    match *state {
        Out::Streaming {
            chunked, bodiless, ..
        } => Ok((chunked, bodiless)),
        _ => Err(Error::InvalidArgument("no streamed response was started")),
    }
}

/// The length a streamed response's head announces: its one
/// `Content-Length` value, if that is a valid one (RFC 9110 8.6: digits
/// only). Anything else is dropped, and the body framed by the server.
fn known_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let v = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let b = v.as_bytes();
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}
