//! Streamed request bodies: [`Responder::read_body`] and its back-pressure
//! (`pause_body`, `resume_body`).

use evloop::{Ctx, Error};

use super::engine::send_continue;
use super::kick::schedule;
use super::state::{conn, BodyRead, Reader, Sink};
use super::{BodyChunk, Responder};

impl Responder {
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
}
