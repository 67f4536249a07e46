//! [`Responder::upgrade`]: the connection handed over after a 101 (or a
//! 2xx to CONNECT).

use evloop::{Ctx, Error};
use evloop_buffer::stream::{Direction, StreamEvent, Watermarks};
use evloop_buffer::{StreamExt, StreamId};
use http::{Response, StatusCode};

use super::close::{forget, Close};
use super::respond::{with_target, write_head, Framing};
use super::state::{conn, parts, Out, Reader};
use super::Responder;

impl Responder {
    /// Accepts an `Upgrade` (or a `CONNECT`) request and takes the
    /// connection out of the server: `head` is sent (status 101 for an
    /// upgrade, a 2xx for CONNECT; its headers as given, e.g. `Upgrade` and
    /// `Connection: upgrade`, plus `Date`), then the connection's
    /// [`StreamId`] is returned and the server forgets it. The caller owns
    /// the stream from now on: its read and write callbacks are cleared and
    /// its event callback closes it on any event until the caller sets its
    /// own; it has no timeouts (the server's write timeout is taken off).
    /// **Bytes the client sent after the request are already in the
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
        // The server's write timeout is its own policy, not the new owner's.
        let _ = s.set_timeouts(None, None);
        s.enable(Direction::Read);
        Ok(sid)
    }
}
