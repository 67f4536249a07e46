//! The pool: handing waiting requests to idle connections, opening new
//! ones within the caps, taking connections back, closing them.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream;

use evloop::Ctx;
use evloop_buffer::stream::Watermarks;
use evloop_buffer::{Direction, StreamExt, StreamId};
use evloop_dns::connect::{ConnectError, ConnectExt, ConnectOptions};
use evloop_dns::resolver::ResolverExt;

use super::conn::{on_event, on_read, on_write};
use super::deadline::arm;
use super::finish::defer_error;
use super::state::{clients, conn, req, Conn, ConnPhase, PoolKey};
use super::{ClientError, RequestBody, TimeoutKind};

/// Output at or below this much counts as drained for a streamed request
/// body's producer.
pub(crate) const DRAIN_LOW: usize = 64 * 1024;

/// Hands waiting requests of client `cid` to idle connections, and opens
/// connections for the others as far as the caps allow. Runs no user code.
pub(crate) fn dispatch<T: 'static>(ctx: &mut Ctx<'_, T>, cid: u64) {
    let mut i = 0;
    loop {
        let Some(cs) = clients::<T>(ctx) else { return };
        let Some(cl) = cs.clients.get_mut(&cid) else {
            return;
        };
        let Some(&rid) = cl.queue.get(i) else { return };
        let Some(r) = cs.reqs.get(&rid) else {
            cl.queue.remove(i);
            continue;
        };
        if r.pending_error.is_some() {
            i += 1;
            continue;
        }
        let key = r.key.clone();
        let fresh = r.fresh_only;
        let has_connect = r.connecting.is_some();
        let (per_host, max_total) = (cl.opts.max_per_host, cl.opts.max_total);
        let pool = cl.pools.entry(key.clone()).or_default();
        if !fresh {
            if let Some(c) = pool.idle.pop() {
                cl.queue.remove(i);
                assign(ctx, rid, c);
                continue;
            }
        }
        if has_connect {
            i += 1;
            continue;
        }
        if pool.open >= per_host {
            if fresh && !pool.idle.is_empty() {
                // A retry needs a new connection: make room for it.
                let victim = pool.idle.remove(0);
                close_conn(ctx, victim);
                continue;
            }
            i += 1;
            continue;
        }
        if cl.total >= max_total {
            // Room taken by another host's idle connection is given back.
            let victim = cl.pools.values().find_map(|p| p.idle.first().copied());
            match victim {
                Some(v) => {
                    if let Some(p) = cl.pools.values_mut().find(|p| p.idle.contains(&v)) {
                        p.idle.retain(|&x| x != v);
                    }
                    close_conn(ctx, v);
                    continue;
                }
                None => {
                    i += 1;
                    continue;
                }
            }
        }
        pool.open += 1;
        cl.total += 1;
        open(ctx, cid, rid, key);
        i += 1;
    }
}

/// Starts a connection for request `rid`.
fn open<T: 'static>(ctx: &mut Ctx<'_, T>, cid: u64, rid: u64, key: PoolKey) {
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
            },
            served: 0,
            eof: false,
            error: None,
            read_off: false,
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
        PoolKey::Unix(path) => match UnixStream::connect(&path) {
            // A local connect completes at once (or fails at once).
            Ok(s) => match ctx.new_stream(s) {
                Ok(sid) => {
                    setup(ctx, id, sid);
                    connected(ctx, id, sid);
                }
                Err(e) => connect_failed_later(ctx, id, ClientError::Connect(e)),
            },
            Err(e) => connect_failed_later(ctx, id, ClientError::Connect(e)),
        },
        PoolKey::Tcp { host, port } => {
            if let Ok(ip) = host.parse::<IpAddr>() {
                match ctx.new_stream_connect(SocketAddr::new(ip, port)) {
                    Ok(sid) => {
                        if let Some(c) = conn::<T>(ctx, id) {
                            c.stream = Some(sid);
                        }
                        setup(ctx, id, sid);
                        if let Ok(mut s) = ctx.stream(sid) {
                            // Bounds the connect; the body timeout takes
                            // over once connected.
                            let _ = s.set_timeouts(None, timeout);
                        }
                    }
                    Err(e) => connect_failed_later(ctx, id, ClientError::Connect(e)),
                }
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

/// Gives a new connection's stream its callbacks and settings.
fn setup<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64, sid: StreamId) {
    if let Some(c) = conn::<T>(ctx, id) {
        c.stream = Some(sid);
    }
    if let Ok(mut s) = ctx.stream(sid) {
        s.set_watermarks(Watermarks {
            write_low: DRAIN_LOW,
            ..Watermarks::default()
        });
        s.on_read(move |ctx, data, _| on_read(ctx, data, id));
        s.on_write(move |ctx, data, _| on_write(ctx, data, id));
        s.on_event(move |ctx, data, sid, ev| on_event(ctx, data, id, sid, ev));
    }
}

/// Sets `TCP_NODELAY` (request heads and body pieces go out at once) on a
/// duplicate of the socket's descriptor: the option belongs to the socket.
fn nodelay<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId) {
    let Ok(s) = ctx.stream(sid) else { return };
    if let Ok(fd) = s.fd().try_clone_to_owned() {
        let _ = std::net::TcpStream::from(fd).set_nodelay(true);
    }
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
    let (cid, key) = (c.client, c.key.clone());
    let for_req = match c.phase {
        ConnPhase::Connecting { for_req, .. } => for_req,
        _ => None,
    };
    c.phase = ConnPhase::Idle;
    if matches!(key, PoolKey::Tcp { .. }) {
        nodelay(ctx, sid);
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
        make_idle(ctx, id);
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

/// Puts request `rid` on connection `id` and writes it.
pub(crate) fn assign<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64, id: u64) {
    let now = ctx.now();
    let Some(cs) = clients::<T>(ctx) else { return };
    let Some(c) = cs.conns.get_mut(&id) else {
        return;
    };
    c.phase = ConnPhase::Busy(rid);
    c.read_off = false;
    let sid = c.stream;
    let Some(r) = cs.reqs.get_mut(&rid) else {
        return;
    };
    if let Some(other) = r.connecting.take() {
        if other != id {
            if let Some(Conn {
                phase: ConnPhase::Connecting { for_req, .. },
                ..
            }) = cs.conns.get_mut(&other)
            {
                *for_req = None;
            }
        }
    }
    r.conn = Some(id);
    let Some(sid) = sid else { return };
    let head = r.wire_head.clone();
    let send_body = !r.expect_wait;
    if r.expect_wait {
        r.continue_since = Some(now);
    }
    let body = r.body.clone();
    let mut held = std::mem::take(&mut r.held);
    let stream_done = r.out.as_ref().is_none_or(|o| o.finished);
    let streamed = r.out.is_some();
    let Ok(mut s) = ctx.stream(sid) else { return };
    s.set_keepalive(true);
    s.enable(Direction::Read);
    let out = s.output();
    out.add_bytes(head);
    let mut queued = true;
    if send_body {
        match body {
            RequestBody::Empty => {}
            RequestBody::Bytes(b) => out.add_bytes(b),
            RequestBody::File { file, offset, len } => {
                if let Err(e) = out.add_file(file, offset, len) {
                    drop(s);
                    defer_error(ctx, rid, ClientError::Io(e));
                    return;
                }
            }
            RequestBody::Stream => {
                out.append_buffer(&mut held);
                queued = stream_done;
            }
        }
    } else {
        queued = false;
    }
    drop(s);
    if let Some(r) = req::<T>(ctx, rid) {
        r.held = held;
        r.body_queued = queued;
        if queued {
            r.head_since = Some(now);
        }
    }
    arm(ctx, rid);
    if streamed {
        // Its producer may go on now.
        super::finish::kick(ctx, rid);
    }
}

/// Sends a body held for `100 Continue` (the server said go, or the wait
/// ran out).
pub(crate) fn release_body<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) {
    let now = ctx.now();
    let Some(cs) = clients::<T>(ctx) else { return };
    let Some(r) = cs.reqs.get_mut(&rid) else {
        return;
    };
    if !r.expect_wait {
        return;
    }
    r.expect_wait = false;
    r.continue_since = None;
    let Some(sid) = r.conn.and_then(|c| cs.conns.get(&c)).and_then(|c| c.stream) else {
        return;
    };
    let body = r.body.clone();
    let mut held = std::mem::take(&mut r.held);
    let stream_done = r.out.as_ref().is_none_or(|o| o.finished);
    let Ok(mut s) = ctx.stream(sid) else { return };
    let out = s.output();
    let mut queued = true;
    match body {
        RequestBody::Empty => {}
        RequestBody::Bytes(b) => out.add_bytes(b),
        RequestBody::File { file, offset, len } => {
            if let Err(e) = out.add_file(file, offset, len) {
                drop(s);
                defer_error(ctx, rid, ClientError::Io(e));
                return;
            }
        }
        RequestBody::Stream => {
            out.append_buffer(&mut held);
            queued = stream_done;
        }
    }
    drop(s);
    if let Some(r) = req::<T>(ctx, rid) {
        r.body_queued = queued;
        if queued {
            r.head_since = Some(now);
        }
    }
    arm(ctx, rid);
    super::finish::kick(ctx, rid);
}

/// An idle connection in the pool: it does not keep the loop running,
/// and it closes after the idle timeout or when the server closes it.
fn make_idle<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64) {
    let Some(cs) = clients::<T>(ctx) else { return };
    let Some(c) = cs.conns.get_mut(&id) else {
        return;
    };
    c.phase = ConnPhase::Idle;
    c.read_off = false;
    let sid = c.stream;
    let Some(cl) = cs.clients.get_mut(&c.client) else {
        return;
    };
    cl.pools.entry(c.key.clone()).or_default().idle.push(id);
    if let Some(sid) = sid {
        if let Ok(mut s) = ctx.stream(sid) {
            s.set_keepalive(false);
            s.enable(Direction::Read);
        }
    }
}

/// Takes connection `id` back after a response read to its end: to the
/// pool if it can carry another request, closed otherwise. Then waiting
/// requests get their turn.
pub(crate) fn release<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64, reusable: bool) {
    let Some(c) = conn::<T>(ctx, id) else { return };
    c.served += 1;
    let cid = c.client;
    let shut = super::state::client::<T>(ctx, cid).is_none_or(|cl| cl.shut);
    if reusable && !shut {
        make_idle(ctx, id);
    } else {
        close_conn(ctx, id);
    }
    dispatch(ctx, cid);
}

/// Closes connection `id` and forgets it (it leaves its pool's counts).
pub(crate) fn close_conn<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64) {
    let Some(cs) = clients::<T>(ctx) else { return };
    let Some(c) = cs.conns.remove(&id) else {
        return;
    };
    if let Some(cl) = cs.clients.get_mut(&c.client) {
        cl.total = cl.total.saturating_sub(1);
        if let Some(p) = cl.pools.get_mut(&c.key) {
            p.open = p.open.saturating_sub(1);
            p.idle.retain(|&x| x != id);
        }
    }
    if let ConnPhase::Connecting {
        dns: Some(d),
        for_req,
    } = c.phase
    {
        ctx.cancel_connect(d);
        if let Some(r) = for_req.and_then(|r| req::<T>(ctx, r)) {
            if r.connecting == Some(id) {
                r.connecting = None;
            }
        }
    } else if let ConnPhase::Connecting {
        for_req: Some(r), ..
    } = c.phase
    {
        if let Some(r) = req::<T>(ctx, r) {
            if r.connecting == Some(id) {
                r.connecting = None;
            }
        }
    }
    if let Some(sid) = c.stream {
        if let Ok(s) = ctx.stream(sid) {
            s.close();
        }
    }
}

/// Hands a connection's stream over (an upgrade): it leaves the pool.
pub(crate) fn detach<T: 'static>(ctx: &mut Ctx<'_, T>, id: u64) -> Option<StreamId> {
    let cs = clients::<T>(ctx)?;
    let c = cs.conns.remove(&id)?;
    if let Some(cl) = cs.clients.get_mut(&c.client) {
        cl.total = cl.total.saturating_sub(1);
        if let Some(p) = cl.pools.get_mut(&c.key) {
            p.open = p.open.saturating_sub(1);
        }
    }
    let sid = c.stream?;
    if let Ok(mut s) = ctx.stream(sid) {
        s.clear_data_callbacks();
        s.set_keepalive(true);
        s.enable(Direction::Read);
        let _ = s.set_timeouts(None, None);
        s.on_event(|ctx, _, sid, ev| {
            if !matches!(ev, evloop_buffer::StreamEvent::Connected) {
                if let Ok(s) = ctx.stream(sid) {
                    s.close();
                }
            }
        });
    }
    dispatch(ctx, c.client);
    Some(sid)
}
