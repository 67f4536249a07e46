//! Making a connection: a Unix socket, an IP address, or a host name
//! through evloop-dns's happy eyeballs; the stream's callbacks and
//! settings; what happens when it is made or fails.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use evloop::Ctx;
use evloop_buffer::stream::Watermarks;
use evloop_buffer::{StreamExt, StreamId};
use evloop_dns::connect::{ConnectError, ConnectExt, ConnectOptions};
use evloop_dns::resolver::ResolverExt;

use super::conn::{on_event, on_read, on_write};
use super::finish::defer_error;
use super::pool::{close_conn, dispatch, make_idle};
use super::send::{assign, DRAIN_LOW};
use super::state::{clients, conn, req, Conn, ConnPhase, PoolKey};
use super::{ClientError, TimeoutKind};

/// Starts a connection for request `rid`.
pub(crate) fn open<T: 'static>(ctx: &mut Ctx<'_, T>, cid: u64, rid: u64, key: PoolKey) {
    let Some(cs) = clients::<T>(ctx) else { return };
    let id = cs.id();
    cs.conns.insert(
        id,
        Conn {
            client: cid,
            key: key.clone(),
            stream: None,
            phase: ConnPhase::Connecting {
                for_req: Some(rid),
                dns: None,
                since: Instant::now(),
            },
            served: 0,
            unrefd: false,
            eof: false,
            error: None,
            read_off: false,
            fields: Default::default(),
            info: Default::default(),
        },
    );
    if let Some(r) = cs.reqs.get_mut(&rid) {
        r.connecting = Some(id);
    }
    let Some(cl) = cs.clients.get_mut(&cid) else {
        return;
    };
    let timeout = cl.opts.connect_timeout;
    let configured = cl.opts.resolver.or(cl.resolver);
    match key {
        // Non-blocking: a listener with a full backlog is an error (EAGAIN),
        // not a loop stalled until it accepts.
        PoolKey::Unix(path) => {
            let started = ctx.new_stream_connect_unix(&path);
            connecting(ctx, id, started, timeout);
        }
        PoolKey::Tcp { host, port } => {
            if let Ok(ip) = host.parse::<IpAddr>() {
                let addr = SocketAddr::new(ip, port);
                if let Some(c) = conn::<T>(ctx, id) {
                    c.info.peer = Some(addr);
                }
                let started = ctx.new_stream_connect(addr);
                connecting(ctx, id, started, timeout);
                return;
            }
            let resolver = match configured {
                Some(r) => r,
                None => {
                    let config = evloop_dns::config::Config::from_system().unwrap_or_default();
                    match ctx.new_resolver(config) {
                        Ok(r) => {
                            if let Some(cl) = super::state::client::<T>(ctx, cid) {
                                cl.resolver = Some(r);
                            }
                            r
                        }
                        Err(e) => {
                            connect_failed_later(ctx, id, ClientError::Resolve(e.to_string()));
                            return;
                        }
                    }
                }
            };
            let opts = ConnectOptions::new().timeout(timeout);
            let dns = ctx.connect_host(
                resolver,
                &host,
                port,
                &opts,
                move |ctx, data, res| match res {
                    Ok(c) => {
                        if let Some(conn) = conn::<T>(ctx, id) {
                            conn.info.peer = Some(c.addr);
                        }
                        setup(ctx, id, c.stream);
                        connected(ctx, id, c.stream);
                    }
                    Err(e) => {
                        let err = match e {
                            ConnectError::Resolve { .. } | ConnectError::NoAddress => {
                                ClientError::Resolve(e.to_string())
                            }
                            ConnectError::TimedOut { .. } => {
                                ClientError::Timeout(TimeoutKind::Connect)
                            }
                            ConnectError::Failed(mut v) => match v.pop() {
                                Some((_, e)) => ClientError::Connect(e),
                                None => ClientError::Connect(std::io::Error::other("failed")),
                            },
                            other => ClientError::Connect(std::io::Error::other(other.to_string())),
                        };
                        connect_failed(ctx, data, id, err);
                    }
                },
            );
            if let Some(Conn {
                phase: ConnPhase::Connecting { dns: slot, .. },
                ..
            }) = conn::<T>(ctx, id)
            {
                *slot = Some(dns);
            }
        }
    }
}

/// A connect by address started (or not): the stream is the connection's,
/// and its write timeout bounds the connect (the body timeout takes over
/// once connected). The outcome comes as the stream's event.
fn connecting<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    id: u64,
    started: std::io::Result<StreamId>,
    timeout: Option<Duration>,
) {
    match started {
        Ok(sid) => {
            if let Some(c) = conn::<T>(ctx, id) {
                c.stream = Some(sid);
            }
            setup(ctx, id, sid);
            if let Ok(mut s) = ctx.stream(sid) {
                let _ = s.set_timeouts(None, timeout);
            }
        }
        Err(e) => connect_failed_later(ctx, id, ClientError::Connect(e)),
    }
}

/// Gives a new connection's stream its callbacks and settings.
fn setup<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64, sid: StreamId) {
    let owner = conn::<T>(ctx, id).map(|c| {
        c.stream = Some(sid);
        c.client
    });
    let limit = owner.and_then(|k| super::state::client::<T>(ctx, k)?.opts.rate_limit);
    if let Ok(mut s) = ctx.stream(sid) {
        if limit.is_some() {
            // Checked by `new_client`.
            let _ = s.set_rate_limit(limit);
        }
        s.set_watermarks(Watermarks {
            write_low: DRAIN_LOW,
            ..Watermarks::default()
        });
        s.on_read(move |ctx, data, _| on_read(ctx, data, id));
        s.on_write(move |ctx, data, _| on_write(ctx, data, id));
        s.on_event(move |ctx, data, sid, ev| on_event(ctx, data, id, sid, ev));
    }
}

/// Sets `TCP_NODELAY` (request heads and body pieces go out at once) and
/// returns the local address: once a connection, not once a request.
fn nodelay<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId) -> Option<SocketAddr> {
    let s = ctx.stream(sid).ok()?;
    let _ = s.set_nodelay(true);
    s.local_addr().ok().flatten()
}

/// A connection is made: it serves the request it was made for, if that
/// one still waits, or goes to the pool.
pub(crate) fn connected<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64, sid: StreamId) {
    let Some(c) = conn::<T>(ctx, id) else {
        if let Ok(s) = ctx.stream(sid) {
            s.close();
        }
        return;
    };
    let (cid, tcp) = (c.client, matches!(c.key, PoolKey::Tcp { .. }));
    let for_req = match c.phase {
        ConnPhase::Connecting { for_req, since, .. } => {
            c.info.connect_time = Some(since.elapsed());
            for_req
        }
        _ => None,
    };
    c.phase = ConnPhase::Idle;
    if tcp {
        let local = nodelay(ctx, sid);
        if let Some(c) = conn::<T>(ctx, id) {
            c.info.local = local;
        }
    }
    let Some(cs) = clients::<T>(ctx) else { return };
    let waiting = for_req.filter(|r| {
        cs.reqs
            .get(r)
            .is_some_and(|r| r.conn.is_none() && r.pending_error.is_none())
    });
    let Some(cl) = cs.clients.get_mut(&cid) else {
        return;
    };
    // Set once for the connection's life: the read timeout is the idle
    // timeout (a busy connection ignores it: its request has its own
    // deadlines), the write timeout is the upload stall.
    let (idle, body) = (cl.opts.idle_timeout, cl.opts.body_timeout);
    if let Some(rid) = waiting {
        cl.queue.retain(|&q| q != rid);
    }
    if let Ok(mut s) = ctx.stream(sid) {
        let _ = s.set_timeouts(idle, body);
    }
    if let Some(rid) = waiting {
        assign(ctx, rid, id);
    } else {
        if let Some(r) = for_req.and_then(|r| req::<T>(ctx, r)) {
            if r.connecting == Some(id) {
                r.connecting = None;
            }
        }
        make_idle(ctx, id, true);
        dispatch(ctx, cid);
    }
}

/// A connect failed: the request it was made for fails, if it still waits.
pub(crate) fn connect_failed<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    id: u64,
    err: ClientError,
) {
    let Some(c) = conn::<T>(ctx, id) else { return };
    let cid = c.client;
    let for_req = match c.phase {
        ConnPhase::Connecting { for_req, .. } => for_req,
        _ => None,
    };
    close_conn(ctx, id);
    if let Some(rid) = for_req {
        let waiting = req::<T>(ctx, rid).is_some_and(|r| r.conn.is_none());
        if waiting {
            super::finish::fail(ctx, data, rid, err);
        }
    }
    dispatch(ctx, cid);
}

/// A connect that failed before the loop could report it: the request
/// hears it from the loop.
fn connect_failed_later<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64, err: ClientError) {
    let Some(c) = conn::<T>(ctx, id) else { return };
    let for_req = match c.phase {
        ConnPhase::Connecting { for_req, .. } => for_req,
        _ => None,
    };
    close_conn(ctx, id);
    if let Some(rid) = for_req {
        defer_error(ctx, rid, err);
    }
}
