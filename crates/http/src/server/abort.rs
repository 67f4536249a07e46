//! [`Responder::abort`]: ending a request without a complete answer.

use evloop::{Ctx, Error};
use evloop_buffer::StreamExt;

use super::respond::after_response;
use super::state::{parts, Out, Reader, Sink};
use super::Responder;

impl Responder {
    /// Gives up on the request: the connection closes without a complete
    /// response for it (hyper drops the connection for a body that fails;
    /// evhttp has no equivalent), so the client can tell that something
    /// went wrong rather than take a truncated body for a whole one.
    ///
    /// * A [streamed response](Self::stream) already started: what is
    ///   queued of it is still sent, then the connection closes **without
    ///   the end of the body** (no terminating zero-size chunk; fewer bytes
    ///   than a `Content-Length` announced). The client sees an incomplete
    ///   message. Only a body without framing (an HTTP/1.0 client without
    ///   a `Content-Length`) cannot show it: its end is the close.
    /// * No response started yet: nothing is sent for the request; the
    ///   connection closes once the responses to the requests before it are
    ///   sent (an HTTP client takes a close without an answer as a failed
    ///   request, which a proxy's client can retry when it is idempotent).
    ///
    /// In both cases nothing more is read from the connection, and the
    /// requests pipelined behind this one are dropped unanswered (their
    /// responders go stale; their [`on_close`](Self::on_close) callbacks
    /// run). A body still being read hears [`BodyChunk::Aborted`](super::BodyChunk::Aborted).
    ///
    /// ```
    /// use evloop_http::server::{Reply, Router};
    /// use http::{Method, Response};
    ///
    /// let mut router: Router<()> = Router::new();
    /// router.exact("/feed", &[Method::GET], |ctx, _, req| {
    ///     let r = req.responder();
    ///     r.stream(ctx, Response::new(())).unwrap();
    ///     r.send(ctx, "first part\n").unwrap();
    ///     // The source of the rest failed: the client must not take the
    ///     // first part for the whole body.
    ///     r.abort(ctx).unwrap();
    ///     Reply::Later
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the request was answered completely
    /// already, or its connection closed.
    pub fn abort<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Result<(), Error> {
        self.check(ctx)?;
        let (server, c) = parts(ctx, self.conn).ok_or(Error::StaleHandle)?;
        let pos = c
            .queue
            .iter()
            .position(|e| e.seq == self.seq)
            .ok_or(Error::StaleHandle)?;
        let dropped = super::on_close::waiting(c.queue.range(pos + 1..));
        c.queue.truncate(pos + 1);
        // Its own callback is not for an abort of its own handler's.
        c.closers.retain(|(seq, _)| *seq != self.seq);
        super::on_close::release(server, c, self.lp, self.conn, |seq| dropped.contains(&seq));
        let skey = c.server;
        let ex = &mut c.queue[pos];
        ex.keep_alive = false;
        // What was written of it stays queued; nothing ends it.
        ex.state = Out::Done;
        // Nothing after it is read; a body being read (its own, or a
        // dropped request's) is cut off.
        match std::mem::replace(&mut c.reader, Reader::Stopped) {
            Reader::Body(b) => {
                if let Sink::Stream { cb: Some(cb), .. } = b.sink {
                    c.aborted = Some((cb, b.seq));
                }
            }
            Reader::Linger => c.reader = Reader::Linger,
            _ => {}
        }
        c.hold_in.clear();
        let sid = c.stream;
        if let Ok(mut s) = ctx.stream(sid) {
            s.input().clear();
        }
        super::on_close::fire_soon(ctx, skey);
        after_response(ctx, self.conn);
        Ok(())
    }
}
