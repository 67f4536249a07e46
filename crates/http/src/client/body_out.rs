//! Streamed request bodies: [`RequestId::send_body`], `finish_body`, the
//! producer called when the output runs low, and how much waits.

use bytes::Bytes;
use evloop::Ctx;
use evloop_buffer::{Buffer, StreamExt};
use http::HeaderMap;

use super::finish::defer_error;
use super::send::DRAIN_LOW;
use super::state::{clients, req, OutStream};
use super::{ClientError, RequestId};
use crate::proto::{add_last_chunk, add_piece};

/// Where framed body bytes go now: the connection's output, or the
/// request's own buffer while it has no connection or waits for
/// `100 Continue`. Runs `f` on it.
fn with_out<T: 'static, R>(
    ctx: &mut Ctx<'_, T>,
    rid: u64,
    f: impl FnOnce(&mut Buffer) -> R,
) -> Option<R> {
    let cs = clients::<T>(ctx)?;
    let r = cs.reqs.get_mut(&rid)?;
    let sid = if r.expect_wait {
        None
    } else {
        r.conn.and_then(|c| cs.conns.get(&c)).and_then(|c| c.stream)
    };
    match sid {
        Some(sid) => {
            let mut s = ctx.stream(sid).ok()?;
            Some(f(s.output()))
        }
        None => Some(f(&mut r.held)),
    }
}

/// The request's streamed body while it takes more, and whether the
/// server has answered without wanting it (pieces are then dropped).
fn open_body<'c, T: 'static>(
    ctx: &'c mut Ctx<'_, T>,
    rid: u64,
) -> Result<(&'c mut OutStream<T>, bool), ClientError> {
    let r = req::<T>(ctx, rid).ok_or(ClientError::Stale)?;
    let abandoned = r.body_abandoned;
    let o = r.out.as_mut().ok_or(ClientError::InvalidRequest(
        "the request body is not a stream",
    ))?;
    if o.finished {
        return Err(ClientError::InvalidRequest("the request body is finished"));
    }
    Ok((o, abandoned))
}

impl RequestId {
    /// Queues the next piece of a [`RequestBody::Stream`](super::RequestBody::Stream)
    /// body (a chunk of the chunked coding, or raw bytes under a
    /// `Content-Length`). Nothing limits how much may be queued: check
    /// [`buffered`](Self::buffered) or produce from
    /// [`on_drain`](Self::on_drain). Pieces given before the connection
    /// is made (or before `100 Continue`) wait in the request. Once the
    /// server has answered without wanting the body (a final status to
    /// `Expect: 100-continue`), pieces are dropped.
    ///
    /// # Errors
    ///
    /// [`ClientError::Stale`] if the request ended;
    /// [`ClientError::InvalidRequest`] if its body is not a stream, is
    /// finished, or would exceed its `Content-Length`.
    pub fn send_body<T: 'static>(
        self,
        ctx: &mut Ctx<'_, T>,
        data: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        let data = data.into();
        self.check(ctx)?;
        let (o, abandoned) = open_body(ctx, self.id)?;
        if o.declared.is_some_and(|d| o.sent + data.len() as u64 > d) {
            return Err(ClientError::InvalidRequest(
                "more body than its Content-Length",
            ));
        }
        o.sent += data.len() as u64;
        if abandoned || data.is_empty() {
            return Ok(());
        }
        let chunked = o.chunked;
        with_out(ctx, self.id, |out| add_piece(out, data, chunked));
        Ok(())
    }

    /// Ends a streamed request body, with trailer fields (sent only with
    /// the chunked coding; pass an empty map for none).
    ///
    /// # Errors
    ///
    /// As [`send_body`](Self::send_body); also if fewer bytes than the
    /// `Content-Length` were sent (the request then fails with that
    /// error too: the server still waits for the rest).
    pub fn finish_body<T: 'static>(
        self,
        ctx: &mut Ctx<'_, T>,
        trailers: HeaderMap,
    ) -> Result<(), ClientError> {
        self.check(ctx)?;
        let now = ctx.now();
        let (o, abandoned) = open_body(ctx, self.id)?;
        if o.declared.is_some_and(|d| o.sent != d) {
            defer_error(
                ctx,
                self.id,
                ClientError::InvalidRequest("less body than its Content-Length"),
            );
            return Err(ClientError::InvalidRequest(
                "less body than its Content-Length",
            ));
        }
        o.finished = true;
        o.on_drain = None;
        let chunked = o.chunked;
        if chunked && !abandoned {
            with_out(ctx, self.id, |out| add_last_chunk(out, &trailers));
        }
        if let Some(r) = req::<T>(ctx, self.id) {
            if r.conn.is_some() && !r.expect_wait {
                r.body_queued = true;
                r.head_since = Some(now);
            }
        }
        super::deadline::arm(ctx, self.id);
        Ok(())
    }

    /// Sets the producer of a streamed request body: called when at most
    /// 64 KiB of the body wait to be sent (once soon after being set, then
    /// after writes that drained that far), until
    /// [`finish_body`](Self::finish_body). It should
    /// [`send_body`](Self::send_body) until [`buffered`](Self::buffered)
    /// reaches a bound of its choice; with nothing to send yet, it may send
    /// later from anywhere (it is called again once that is written).
    ///
    /// # Errors
    ///
    /// As [`send_body`](Self::send_body).
    pub fn on_drain<T: 'static, F>(self, ctx: &mut Ctx<'_, T>, cb: F) -> Result<(), ClientError>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, RequestId) + 'static,
    {
        self.check(ctx)?;
        let (o, _) = open_body(ctx, self.id)?;
        o.on_drain = Some(Box::new(cb));
        super::finish::kick(ctx, self.id);
        Ok(())
    }

    /// Request-body bytes waiting to be written (in the request, and in
    /// the connection's output). 0 for a stale id.
    pub fn buffered<T: 'static>(self, ctx: &mut Ctx<'_, T>) -> usize {
        if self.check(ctx).is_err() {
            return 0;
        }
        let Some(cs) = clients::<T>(ctx) else {
            return 0;
        };
        let Some(r) = cs.reqs.get(&self.id) else {
            return 0;
        };
        let held = r.held.len();
        let sid = r.conn.and_then(|c| cs.conns.get(&c)).and_then(|c| c.stream);
        held + sid.map_or(0, |sid| ctx.stream(sid).map_or(0, |mut s| s.output().len()))
    }
}

/// Calls a streamed body's producer if little of the body waits.
pub(crate) fn drain<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, rid: u64) {
    let id = RequestId {
        lp: ctx.loop_id(),
        id: rid,
    };
    let wants = req::<T>(ctx, rid)
        .and_then(|r| r.out.as_ref())
        .is_some_and(|o| o.on_drain.is_some() && !o.finished);
    if !wants || id.buffered(ctx) > DRAIN_LOW {
        return;
    }
    let Some(mut cb) = req::<T>(ctx, rid)
        .and_then(|r| r.out.as_mut())
        .and_then(|o| o.on_drain.take())
    else {
        return;
    };
    cb(ctx, data, id);
    if let Some(o) = req::<T>(ctx, rid).and_then(|r| r.out.as_mut()) {
        if o.on_drain.is_none() && !o.finished {
            o.on_drain = Some(cb);
        }
    }
}
