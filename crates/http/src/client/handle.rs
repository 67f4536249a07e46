//! [`ClientExt`] (making clients on a loop), [`ClientId`], the [`Client`]
//! view (sending, counting, shutting down) and the [`RequestId`] token.

use evloop::{Ctx, Error, LoopId};
use http::Request;

use super::deadline::{arm, timer_for};
use super::finish::defer_error;
use super::pool::{close_conn, dispatch};
use super::prepare::{prepare, Ask};
use super::state::{client, clients, ClientState, Clients, ConnPhase, OutStream, Req};
use super::{ClientError, ClientOptions, ConnectionInfo, RequestBody, RequestOptions, Response};
use crate::proto::ResponseScanner;

/// Names a client: a small `Copy` handle carrying its loop's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId {
    lp: LoopId,
    id: u64,
}

/// Names one request: a small `Copy` token for its streamed body (both
/// ways) and for cancelling it, usable from any callback on the loop. Once
/// the request has ended every call fails with [`ClientError::Stale`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    pub(crate) lp: LoopId,
    pub(crate) id: u64,
}

impl RequestId {
    pub(crate) fn check<T: 'static>(self, ctx: &Ctx<'_, T>) -> Result<(), ClientError> {
        if self.lp == ctx.loop_id() {
            Ok(())
        } else {
            Err(ClientError::Stale)
        }
    }
}

/// Client calls on evloop's [`Ctx`] (outside callbacks, `Loop::ctx()`
/// gives one). `T` is the loop's application state, which every callback
/// gets as `&mut T`.
pub trait ClientExt<T: 'static> {
    /// Makes a client with `opts`. It holds no connection until it sends.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the options'
    /// [`rate_limit`](ClientOptions::rate_limit) cannot work.
    fn new_client(&mut self, opts: ClientOptions) -> Result<ClientId, Error>;

    /// The client `id`.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] for a client this loop does not know,
    /// [`Error::ForeignHandle`] for another loop's.
    fn client(&mut self, id: ClientId) -> Result<Client<'_, T>, Error>;
}

impl<T: 'static> ClientExt<T> for Ctx<'_, T> {
    fn new_client(&mut self, opts: ClientOptions) -> Result<ClientId, Error> {
        if let Some(limit) = &opts.rate_limit {
            limit.validate()?;
        }
        let cs = self.ext_or_default::<Clients<T>>();
        let id = cs.id();
        cs.clients.insert(
            id,
            ClientState {
                resolver: opts.resolver,
                opts,
                pools: Default::default(),
                total: 0,
                queue: Default::default(),
                last_key: None,
                shut: false,
            },
        );
        Ok(ClientId {
            lp: self.loop_id(),
            id,
        })
    }

    fn client(&mut self, id: ClientId) -> Result<Client<'_, T>, Error> {
        if id.lp != self.loop_id() {
            return Err(Error::ForeignHandle);
        }
        if client::<T>(self, id.id).is_none() {
            return Err(Error::StaleHandle);
        }
        Ok(Client {
            ctx: self.reborrow(),
            id: id.id,
        })
    }
}

/// A client, borrowed from the loop for a few calls.
pub struct Client<'a, T: 'static> {
    ctx: Ctx<'a, T>,
    id: u64,
}

impl<T: 'static> Client<'_, T> {
    /// Sends `req` and buffers the response: `cb` runs once, from the
    /// loop, with the whole response (body up to
    /// [`Limits::max_body`](crate::proto::Limits::max_body)) or the error
    /// (evhttp's `evhttp_make_request`).
    ///
    /// # Errors
    ///
    /// A request that cannot be sent as given (no host, a scheme other
    /// than `http`, ...), or [`ClientError::Shutdown`]: `cb` is dropped
    /// then. Everything later goes to `cb`.
    pub fn send<F>(&mut self, req: Request<RequestBody>, cb: F) -> Result<RequestId, ClientError>
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<Response, ClientError>) + 'static,
    {
        self.send_with(req, RequestOptions::new(), cb)
    }

    /// Sends `req` with per-request options (a streamed response, a
    /// timeout, redirects, a Unix socket, `100-continue`). With
    /// [`stream_response`](RequestOptions::stream_response), `cb` gets the
    /// response head (an empty body) and the body is read with
    /// [`RequestId::read_body`].
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_with<F>(
        &mut self,
        req: Request<RequestBody>,
        opts: RequestOptions,
        cb: F,
    ) -> Result<RequestId, ClientError>
    where
        F: FnOnce(&mut Ctx<'_, T>, &mut T, Result<Response, ClientError>) + 'static,
    {
        let ctx = &mut self.ctx;
        let cid = self.id;
        let now = ctx.now();
        let cs = clients::<T>(ctx).ok_or(ClientError::Stale)?;
        let cl = cs.clients.get_mut(&cid).ok_or(ClientError::Stale)?;
        if cl.shut {
            return Err(ClientError::Shutdown);
        }
        // A finished request's record, and the vector its head was in.
        let mut spare = cs.spare_reqs.pop();
        let mut head = spare
            .as_mut()
            .map(|s| std::mem::take(&mut s.wire_head))
            .unwrap_or_default();
        let (parts, body) = req.into_parts();
        let p = prepare(
            Ask {
                method: &parts.method,
                url: &parts.uri,
                version: parts.version,
                headers: &parts.headers,
                body: &body,
                unix: opts.unix_socket.as_ref(),
                connect_to: opts.connect_to.as_ref(),
                expect_continue: opts.expect_continue,
            },
            &cl.opts,
            cl.last_key.as_ref(),
            &mut head,
        )?;
        if cl.last_key.as_ref() != Some(&p.key) {
            cl.last_key = Some(p.key.clone());
        }
        let timeout = opts.timeout.unwrap_or(cl.opts.request_timeout);
        let max_redirects = opts.follow_redirects.unwrap_or(cl.opts.follow_redirects);
        let lenient = cl.opts.lenient;
        let cs = clients::<T>(ctx).ok_or(ClientError::Stale)?;
        let rid = cs.id();
        let spare_timer = cs.spare_timers.pop();
        let (timer, timer_rid) = timer_for(ctx, rid, spare_timer)
            .map_err(|_| ClientError::InvalidRequest("the loop refused a timer"))?;
        let out = matches!(body, RequestBody::Stream).then(|| OutStream {
            chunked: p.chunked,
            declared: p.declared,
            sent: 0,
            finished: false,
            on_drain: None,
        });
        // The fields are kept only for a redirect's next request; without
        // redirects their map can hold the next head parsed (the
        // response's, most likely).
        let headers = if max_redirects == 0 {
            crate::proto::spare_maps::give_back(parts.headers);
            http::HeaderMap::new()
        } else {
            parts.headers
        };
        let r = Req {
            client: cid,
            key: p.key,
            method: parts.method,
            url: parts.uri,
            version: parts.version,
            headers,
            unix: opts.unix_socket,
            connect_to: opts.connect_to,
            wire_head: head,
            body,
            out,
            held: Default::default(),
            expect_wait: p.expect,
            expect: p.expect,
            body_abandoned: false,
            body_queued: false,
            stream_response: opts.stream_response,
            upgrade: p.upgrade,
            close: p.close,
            cb: Some(Box::new(cb)),
            read_cb: None,
            conn: None,
            connection: ConnectionInfo::default(),
            connecting: None,
            fresh_only: false,
            retried: false,
            timer,
            timer_rid,
            armed: None,
            hold: false,
            started: now,
            timeout,
            head_since: None,
            body_since: now,
            continue_since: None,
            got_bytes: false,
            scanner: ResponseScanner::new(&lenient),
            informational: Vec::new(),
            head: None,
            framing: None,
            collected: Default::default(),
            head_delivered: false,
            paused: false,
            kicked: false,
            in_head_cb: false,
            pending_error: None,
            redirects: 0,
            max_redirects,
            redirect: None,
            discarded: 0,
        };
        let cs = clients::<T>(ctx).ok_or(ClientError::Stale)?;
        let r = match spare {
            Some(mut spare) => {
                *spare = r;
                spare
            }
            None => Box::new(r),
        };
        cs.reqs.insert(rid, r);
        if let Some(cl) = cs.clients.get_mut(&cid) {
            cl.queue.push_back(rid);
        }
        dispatch(ctx, cid);
        // A request put on a connection had its timer armed then.
        if super::state::req::<T>(ctx, rid).is_some_and(|r| r.conn.is_none()) {
            arm(ctx, rid);
        }
        Ok(RequestId {
            lp: ctx.loop_id(),
            id: rid,
        })
    }

    /// Closes the pooled idle connections.
    pub fn close_idle(&mut self) {
        let ids: Vec<u64> = match client::<T>(&mut self.ctx, self.id) {
            Some(cl) => cl
                .pools
                .values()
                .flat_map(|p| p.idle.iter().copied())
                .collect(),
            None => return,
        };
        for c in ids {
            close_conn(&mut self.ctx, c);
        }
    }

    /// Connections open or being made (idle and busy).
    pub fn connection_count(&self) -> usize {
        self.state().map_or(0, |cl| cl.total)
    }

    /// Idle connections in the pool.
    pub fn idle_count(&self) -> usize {
        self.state()
            .map_or(0, |cl| cl.pools.values().map(|p| p.idle.len()).sum())
    }

    /// Requests not ended yet (waiting, sent, or reading their body).
    pub fn pending_count(&self) -> usize {
        let id = self.id;
        self.ctx
            .ext::<Clients<T>>()
            .map_or(0, |cs| cs.reqs.values().filter(|r| r.client == id).count())
    }

    fn state(&self) -> Option<&ClientState> {
        self.ctx.ext::<Clients<T>>()?.clients.get(&self.id)
    }

    /// Stops the client: requests not ended fail with
    /// [`ClientError::Shutdown`] (from the loop), connections close, and
    /// further sends fail. The handle stays valid.
    pub fn shutdown(&mut self) {
        let id = self.id;
        let ctx = &mut self.ctx;
        let Some(cs) = clients::<T>(ctx) else { return };
        if let Some(cl) = cs.clients.get_mut(&id) {
            cl.shut = true;
            cl.queue.clear();
        }
        let reqs: Vec<u64> = cs
            .reqs
            .iter()
            .filter(|(_, r)| r.client == id)
            .map(|(k, _)| *k)
            .collect();
        let conns: Vec<u64> = cs
            .conns
            .iter()
            .filter(|(_, c)| c.client == id && !matches!(c.phase, ConnPhase::Busy(_)))
            .map(|(k, _)| *k)
            .collect();
        for c in conns {
            close_conn(ctx, c);
        }
        for r in reqs {
            defer_error(ctx, r, ClientError::Shutdown);
        }
    }
}
