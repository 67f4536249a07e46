//! Streamed response bodies: [`RequestId::read_body`] and its
//! back-pressure (`pause_body`, `resume_body`), and `cancel`.

use evloop::Ctx;

use super::conn::set_reading;
use super::finish::kick;
use super::state::req;
use super::{ClientError, RequestId, ResponseChunk};

impl RequestId {
    /// Reads a streamed response's body (the request was sent with
    /// [`RequestOptions::stream_response`](super::RequestOptions::stream_response)
    /// and its callback got the head): `cb` gets
    /// [`ResponseChunk::Data`] pieces, then [`ResponseChunk::End`] with
    /// the trailers, or [`ResponseChunk::Error`]. Until this is called
    /// the connection is not read (the server is held back by TCP flow
    /// control), and it goes back to the pool only once the body was read
    /// to its end.
    ///
    /// # Errors
    ///
    /// [`ClientError::Stale`] if the request ended;
    /// [`ClientError::InvalidRequest`] if the response is not streamed or
    /// its body is being read already.
    pub fn read_body<T: 'static, F>(self, ctx: &mut Ctx<'_, T>, cb: F) -> Result<(), ClientError>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, RequestId, ResponseChunk) + 'static,
    {
        self.check(ctx)?;
        let now = ctx.now();
        let r = req::<T>(ctx, self.id).ok_or(ClientError::Stale)?;
        if !r.stream_response || !r.head_delivered {
            return Err(ClientError::InvalidRequest("the response is not streamed"));
        }
        if r.read_cb.is_some() {
            return Err(ClientError::InvalidRequest(
                "the body is being read already",
            ));
        }
        r.read_cb = Some(Box::new(cb));
        r.body_since = now;
        if r.in_head_cb {
            // The pump under this call reads on, with the timer armed for
            // the body, once the callback returns.
            return Ok(());
        }
        let conn = r.conn;
        let paused = r.paused;
        if let (Some(c), false) = (conn, paused) {
            set_reading(ctx, c, true);
        }
        super::deadline::arm(ctx, self.id);
        kick(ctx, self.id);
        Ok(())
    }

    /// Stops handing over the body, and reading the socket, until
    /// [`resume_body`](Self::resume_body). A paused body does not count
    /// against the body timeout.
    ///
    /// # Errors
    ///
    /// [`ClientError::Stale`] if the request ended;
    /// [`ClientError::InvalidRequest`] if the response is not streamed.
    pub fn pause_body<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Result<(), ClientError> {
        self.set_paused(ctx, true)
    }

    /// Hands the body over again after [`pause_body`](Self::pause_body).
    ///
    /// # Errors
    ///
    /// As [`pause_body`](Self::pause_body).
    pub fn resume_body<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> Result<(), ClientError> {
        self.set_paused(ctx, false)?;
        kick_unless_pumping(ctx, self.id);
        Ok(())
    }

    fn set_paused<T: 'static>(self, ctx: &mut Ctx<'_, T>, on: bool) -> Result<(), ClientError> {
        self.check(ctx)?;
        let now = ctx.now();
        let r = req::<T>(ctx, self.id).ok_or(ClientError::Stale)?;
        if !r.stream_response {
            return Err(ClientError::InvalidRequest("the response is not streamed"));
        }
        r.paused = on;
        r.body_since = now;
        let reading = !on && r.read_cb.is_some();
        if let Some(c) = r.conn {
            set_reading(ctx, c, reading);
        }
        super::deadline::arm(ctx, self.id);
        Ok(())
    }

    /// Gives the request up: its callbacks never run again, and its
    /// connection is closed (a response not read to its end cannot be
    /// followed by another on it). False if it had ended already.
    pub fn cancel<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> bool {
        self.check(ctx).is_ok() && super::finish::cancel(ctx, self.id)
    }

    /// Whether the request is still going (queued, sent, or its body being
    /// read).
    pub fn is_pending<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> bool {
        self.check(ctx).is_ok() && req::<T>(ctx, self.id).is_some()
    }
}

/// Has the loop read what waits for request `rid`, unless the pump is
/// under this call (the head's callback), which reads on when it returns.
fn kick_unless_pumping<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) {
    if req::<T>(ctx, rid).is_some_and(|r| !r.in_head_cb) {
        kick(ctx, rid);
    }
}
