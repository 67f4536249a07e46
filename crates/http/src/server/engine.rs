//! The connection engine: accepting, reading requests (heads, bodies,
//! pipelined ahead), calling handlers, errors, and the kick that lets
//! responses given outside the engine's own callbacks move the
//! connection along.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use evloop::Ctx;
use evloop_buffer::stream::{Direction, StreamEvent, Watermarks};
use evloop_buffer::{Accepted, Buffer, StreamExt};
use http::{HeaderMap, Method, StatusCode, Version};

use super::deadline::{arm, due};
use super::respond::{advance, error_response, respond, with_target};
use super::route::{Reply, Routed};
use super::slab::Key;
use super::state::{
    conn, parts, server, BodyCb, BodyRead, Conn, Deadline, Exchange, Framing, HandlerRef, Out,
    Reader, Servers, Sink,
};
use super::{BodyChunk, Request, Responder};
use crate::proto::{parse_request_head, BodyKind, ChunkStep, ChunkedDecoder, HeadScanner};

/// Most body bytes decoded from the chunked coding per step.
const CHUNK_STEP: usize = 64 * 1024;

/// What the engine does next for a connection; computed while it holds the
/// server's state, done once it has let go (handlers get the loop).
enum Act<T: 'static> {
    /// Nothing more until more bytes arrive (or a response moves things).
    Idle,
    /// Look again.
    Again,
    Call(HandlerRef, Request),
    /// The engine answers itself (404, 405, 413, 501).
    Answer(Responder, http::Response<super::Body>),
    /// `100 Continue` for this request.
    Continue(Responder),
    /// A piece of a streamed body; the end too if `end` is set.
    Deliver(Responder, Bytes),
    End(Responder, Box<BodyCb<T>>, Bytes, HeaderMap),
    Fail(Option<StatusCode>, &'static str),
}

/// A new connection of server `skey`.
pub(crate) fn accept<T: 'static>(ctx: &mut Ctx<'_, T>, skey: Key, accepted: Accepted) {
    let peer = match &accepted {
        Accepted::Tcp { stream, peer } => {
            // Pipelined responses would wait on Nagle and delayed ACKs.
            let _ = stream.set_nodelay(true);
            Some(*peer)
        }
        Accepted::Unix { .. } => None,
    };
    let Some(low) = server(ctx, skey).map(|s| s.opts.stream_low_water) else {
        return;
    };
    let Ok(sid) = ctx.new_stream(accepted) else {
        return;
    };
    let timer = match ctx.new_timer(Duration::from_secs(1), Duration::ZERO, |_, _, _, _| {}) {
        Ok(t) => t,
        Err(_) => {
            if let Ok(s) = ctx.stream(sid) {
                s.close();
            }
            return;
        }
    };
    let now = ctx.now();
    let c = Conn {
        server: skey,
        stream: sid,
        peer,
        scanner: HeadScanner::new(),
        reader: Reader::Head,
        queue: VecDeque::new(),
        next_seq: 0,
        timer,
        armed: None,
        deadline: None,
        idle_since: now,
        head_since: None,
        body_since: now,
        fresh: true,
        read_off: false,
        read_off_applied: false,
        in_pump: false,
        dirty: false,
        logged: false,
        holding: false,
        hold_in: Buffer::new(),
        hold_out: Buffer::new(),
    };
    let sv = ctx.ext_or_default::<Servers<T>>();
    let key = sv.conns.insert(c);
    let full = match sv.servers.get_mut(skey) {
        Some(s) => {
            s.conn_count += 1;
            s.conn_count >= s.opts.max_connections && !s.at_capacity
        }
        None => false,
    };
    if full {
        super::handle::set_capacity(ctx, skey, true);
    }
    if let Ok(mut t) = ctx.timer(timer) {
        t.set_callback(move |ctx, data, _, _| on_timer(ctx, data, key));
    }
    if let Ok(mut s) = ctx.stream(sid) {
        s.set_watermarks(Watermarks {
            write_low: low,
            ..Watermarks::default()
        });
        s.on_read(move |ctx, data, _| on_read(ctx, data, key));
        s.on_write(move |ctx, data, _| drive(ctx, data, key));
        s.on_event(move |ctx, data, _, ev| on_event(ctx, data, key, ev));
    }
    arm(ctx, key);
}

fn on_read<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    run(ctx, data, key);
}

/// Everything the engine does for a connection after an event.
pub(crate) fn run<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    let Some(c) = conn(ctx, key) else { return };
    if matches!(c.reader, Reader::Linger) {
        let sid = c.stream;
        if let Ok(mut s) = ctx.stream(sid) {
            s.input().clear();
        }
        return;
    }
    pump(ctx, data, key);
    drive(ctx, data, key);
    arm(ctx, key);
}

fn on_event<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key, ev: StreamEvent) {
    let Some(c) = conn(ctx, key) else { return };
    match ev {
        StreamEvent::Connected => {}
        // Responses queued in the same event as the EOF still go out.
        StreamEvent::Eof => match &c.reader {
            Reader::Linger => drop_conn(ctx, data, key, true),
            Reader::Head if c.queue.is_empty() => drop_conn(ctx, data, key, true),
            Reader::Body(_) => fail(ctx, data, key, None, "the client closed during a body"),
            _ => {
                // Answers to requests in flight still go out (half-close).
                c.reader = Reader::Stopped;
                let _ = advance(ctx, key);
            }
        },
        StreamEvent::Timeout(_) => drop_conn(ctx, data, key, false),
        StreamEvent::Error { error, .. } => {
            log(ctx, key, &format!("connection error: {error}"));
            drop_conn(ctx, data, key, false);
        }
    }
}

fn on_timer<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    let Some(kind) = due(ctx, key) else { return };
    match kind {
        Deadline::Head => {
            let started = conn(ctx, key).is_some_and(|c| c.head_since.is_some());
            if started {
                fail(
                    ctx,
                    data,
                    key,
                    Some(StatusCode::REQUEST_TIMEOUT),
                    "request head timed out",
                );
            } else {
                drop_conn(ctx, data, key, false);
            }
        }
        Deadline::Body => fail(
            ctx,
            data,
            key,
            Some(StatusCode::REQUEST_TIMEOUT),
            "request body timed out",
        ),
        Deadline::Idle | Deadline::Linger => drop_conn(ctx, data, key, false),
    }
}

/// Reads requests out of the input for as long as there is something to do.
fn pump<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    let Some(c) = conn(ctx, key) else { return };
    c.in_pump = true;
    let sid = c.stream;
    hold(ctx, key);
    loop {
        match step(ctx, key) {
            Act::Idle => break,
            Act::Again => {}
            Act::Call(h, req) => call(ctx, data, key, h, req),
            Act::Answer(r, resp) => {
                let _ = respond(ctx, r, resp);
            }
            Act::Continue(r) => send_continue(ctx, r),
            Act::Deliver(r, bytes) => deliver(ctx, data, r, BodyChunk::Data(bytes)),
            Act::End(r, mut cb, bytes, trailers) => {
                if !bytes.is_empty() {
                    cb(ctx, data, r, BodyChunk::Data(bytes));
                }
                cb(ctx, data, r, BodyChunk::End(trailers));
            }
            Act::Fail(status, reason) => {
                fail(ctx, data, key, status, reason);
                break;
            }
        }
    }
    release(ctx, key);
    let Some(c) = conn(ctx, key) else { return };
    c.in_pump = false;
    let off = c.read_off;
    if off == c.read_off_applied {
        return;
    }
    c.read_off_applied = off;
    if let Ok(mut s) = ctx.stream(sid) {
        if off == s.is_enabled(Direction::Read) {
            if off {
                s.disable(Direction::Read);
            } else {
                s.enable(Direction::Read);
            }
        }
    }
}

/// Takes the stream's buffers into the connection for a run of the engine.
fn hold<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) {
    let Some(c) = conn(ctx, key) else { return };
    if c.holding {
        return;
    }
    let sid = c.stream;
    let Ok(mut s) = ctx.stream(sid) else { return };
    let (i, o) = s.buffers();
    let (i, o) = (std::mem::take(i), std::mem::take(o));
    drop(s);
    if let Some(c) = conn(ctx, key) {
        c.hold_in = i;
        c.hold_out = o;
        c.holding = true;
    }
}

/// Gives the held buffers back to the stream (what may have reached the
/// stream meanwhile stays after them).
pub(crate) fn release<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) {
    let Some(c) = conn(ctx, key) else { return };
    if !c.holding {
        return;
    }
    c.holding = false;
    let mut i = std::mem::take(&mut c.hold_in);
    let mut o = std::mem::take(&mut c.hold_out);
    let sid = c.stream;
    let Ok(mut s) = ctx.stream(sid) else { return };
    let (si, so) = s.buffers();
    if si.is_empty() {
        std::mem::swap(si, &mut i);
    } else {
        i.append_buffer(si);
        std::mem::swap(si, &mut i);
    }
    if so.is_empty() {
        std::mem::swap(so, &mut o);
    } else {
        o.append_buffer(so);
        std::mem::swap(so, &mut o);
    }
}

/// The next thing to do for the connection, given its (held) input.
fn step<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) -> Act<T> {
    let now = ctx.now();
    let lp = ctx.loop_id();
    let Some((server, conn)) = parts(ctx, key) else {
        return Act::Idle;
    };
    if !conn.holding {
        return Act::Idle;
    }
    let mut input = std::mem::take(&mut conn.hold_in);
    let act = step_with(server, conn, &mut input, now, lp, key);
    conn.hold_in = input;
    act
}

fn step_with<T: 'static>(
    server: &mut super::state::ServerState<T>,
    conn: &mut Conn<T>,
    input: &mut Buffer,
    now: std::time::Instant,
    lp: evloop::LoopId,
    key: Key,
) -> Act<T> {
    match &mut conn.reader {
        Reader::Head => {
            if conn.queue.len() >= server.opts.max_pipeline {
                conn.read_off = true;
                return Act::Idle;
            }
            conn.read_off = false;
            if input.is_empty() {
                return Act::Idle;
            }
            let limits = &server.opts.limits;
            match conn.scanner.scan(input, limits) {
                Err(e) => Act::Fail(Some(e.status), e.reason),
                Ok(None) => {
                    conn.head_since.get_or_insert(now);
                    Act::Idle
                }
                Ok(Some(n)) => {
                    let head = match parse_request_head(input.pullup(n), limits) {
                        Ok(h) => h,
                        Err(e) => return Act::Fail(Some(e.status), e.reason),
                    };
                    let upgradable = head.upgrade || head.method == Method::CONNECT;
                    if upgradable && !conn.queue.is_empty() {
                        // The bytes after it may not be HTTP: it waits
                        // until every earlier request is answered.
                        conn.scanner.reset();
                        conn.reader = Reader::Wait;
                        conn.read_off = true;
                        return Act::Idle;
                    }
                    input.drain(n);
                    conn.head_since = None;
                    conn.fresh = false;
                    // The body timeout counts from the head's end.
                    conn.body_since = now;
                    start_request(server, conn, key, lp, head)
                }
            }
        }
        Reader::Body(_) => body_step(server, conn, input, now, lp, key),
        Reader::Wait => {
            if conn.queue.is_empty() {
                conn.reader = Reader::Head;
                Act::Again
            } else {
                conn.read_off = true;
                Act::Idle
            }
        }
        Reader::Stopped | Reader::Linger => {
            // Nothing after a request that ends the connection is read.
            input.clear();
            conn.read_off = matches!(conn.reader, Reader::Stopped);
            Act::Idle
        }
    }
}

/// A head has arrived: queue its exchange, route it, and decide how its
/// body is read.
fn start_request<T: 'static>(
    server: &mut super::state::ServerState<T>,
    conn: &mut Conn<T>,
    key: Key,
    lp: evloop::LoopId,
    head: crate::proto::RequestHead,
) -> Act<T> {
    let seq = conn.next_seq;
    conn.next_seq += 1;
    let responder = Responder { lp, conn: key, seq };
    let upgradable = head.upgrade || head.method == Method::CONNECT;
    conn.queue.push_back(Exchange {
        seq,
        head_request: head.method == Method::HEAD,
        version: head.version,
        keep_alive: head.keep_alive && !server.shutting_down,
        upgradable,
        connect: head.method == Method::CONNECT,
        out: Buffer::new(),
        state: Out::Pending,
    });
    let has_body = head.has_body();
    let max_body = server.opts.limits.max_body;
    let framing = match head.body {
        BodyKind::Chunked => Framing::Chunked(Box::new((
            ChunkedDecoder::new(&server.opts.limits),
            Buffer::new(),
        ))),
        BodyKind::Length(n) => Framing::Length(n),
        BodyKind::None => Framing::Length(0),
    };
    let next = if upgradable {
        Reader::Wait
    } else {
        Reader::Head
    };
    let routed = server.router.route(&head.method, head.uri.path());
    let (handler, streaming, limit) = match routed {
        Routed::Route(i) => {
            let r = &server.router.routes[i];
            let limit = r.max_body.or((!r.streaming).then_some(max_body));
            (HandlerRef::Route(i), r.streaming, limit)
        }
        Routed::Fallback => (HandlerRef::Fallback, false, Some(max_body)),
        Routed::NotFound | Routed::NotAllowed(_) | Routed::NotImplemented => {
            let (status, allow) = match routed {
                Routed::NotFound => (StatusCode::NOT_FOUND, None),
                Routed::NotAllowed(i) => {
                    (StatusCode::METHOD_NOT_ALLOWED, Some(server.router.allow(i)))
                }
                _ => (StatusCode::NOT_IMPLEMENTED, None),
            };
            unread_body(
                conn,
                seq,
                has_body,
                head.expect_continue,
                framing,
                max_body,
                next,
            );
            return Act::Answer(responder, error_response(status, allow));
        }
    };
    if let (Some(limit), BodyKind::Length(n)) = (limit, head.body) {
        if n > limit {
            // Refused before any of it is read (and without 100 Continue).
            if let Some(ex) = conn.queue.back_mut() {
                ex.keep_alive = false;
            }
            conn.reader = Reader::Stopped;
            return Act::Answer(
                responder,
                error_response(StatusCode::PAYLOAD_TOO_LARGE, None),
            );
        }
    }
    let req = Request {
        method: head.method,
        uri: head.uri,
        version: head.version,
        headers: head.headers,
        body: Bytes::new(),
        trailers: HeaderMap::new(),
        has_body,
        responder,
        peer: conn.peer,
    };
    if !has_body {
        conn.reader = next;
        return Act::Call(handler, req);
    }
    let body = |sink| BodyRead {
        seq,
        framing,
        sink,
        received: 0,
        limit,
        continue_pending: false,
        then_wait: upgradable,
    };
    if streaming {
        let mut b = body(Sink::Await);
        b.continue_pending = head.expect_continue;
        conn.reader = Reader::Body(b);
        return Act::Call(handler, req);
    }
    conn.reader = Reader::Body(body(Sink::Collect {
        buf: Buffer::new(),
        req: Box::new(req),
        handler,
    }));
    if head.expect_continue {
        // The limit check accepted it: the client may send the body.
        Act::Continue(responder)
    } else {
        Act::Again
    }
}

/// A request answered without its body being wanted: a client that waits
/// for `100 Continue` will not send it (close after the answer); any other
/// sends it, and it is read and dropped (up to the body limit).
fn unread_body<T: 'static>(
    conn: &mut Conn<T>,
    seq: u64,
    has_body: bool,
    expect_continue: bool,
    framing: Framing,
    max_body: u64,
    next: Reader<T>,
) {
    if !has_body {
        conn.reader = next;
    } else if expect_continue {
        if let Some(ex) = conn.queue.back_mut() {
            ex.keep_alive = false;
        }
        conn.reader = Reader::Stopped;
    } else {
        conn.reader = Reader::Body(BodyRead {
            seq,
            framing,
            sink: Sink::Discard,
            received: 0,
            limit: Some(max_body),
            continue_pending: false,
            then_wait: matches!(next, Reader::Wait),
        });
    }
}

/// Moves body bytes from the input to where they go.
fn body_step<T: 'static>(
    server: &mut super::state::ServerState<T>,
    conn: &mut Conn<T>,
    input: &mut Buffer,
    now: std::time::Instant,
    lp: evloop::LoopId,
    key: Key,
) -> Act<T> {
    let _ = server;
    let Reader::Body(b) = &mut conn.reader else {
        return Act::Idle;
    };
    if matches!(b.sink, Sink::Await | Sink::Stream { paused: true, .. }) {
        conn.read_off = true;
        return Act::Idle;
    }
    conn.read_off = false;
    let r = Responder {
        lp,
        conn: key,
        seq: b.seq,
    };
    let mut data = Bytes::new();
    let mut end = None;
    match &mut b.framing {
        Framing::Length(rem) => {
            let n = (*rem).min(input.len() as u64) as usize;
            if n == 0 && *rem > 0 {
                return Act::Idle;
            }
            data = input.split_to(n);
            *rem -= n as u64;
            if *rem == 0 {
                end = Some(HeaderMap::new());
            }
        }
        Framing::Chunked(dec) => match dec.0.decode(input, &mut dec.1, CHUNK_STEP) {
            Err(e) => return Act::Fail(Some(e.status), e.reason),
            Ok(ChunkStep::NeedMore) => return Act::Idle,
            Ok(ChunkStep::Data(n)) => data = dec.1.split_to(n),
            Ok(ChunkStep::Done { trailers }) => end = Some(trailers),
        },
    }
    if !data.is_empty() {
        conn.body_since = now;
        b.received += data.len() as u64;
        if b.limit.is_some_and(|l| b.received > l) {
            return match b.sink {
                Sink::Discard => Act::Fail(None, "discarded body too large"),
                _ => Act::Fail(
                    Some(StatusCode::PAYLOAD_TOO_LARGE),
                    "request body too large",
                ),
            };
        }
    }
    let Some(trailers) = end else {
        return match &mut b.sink {
            Sink::Collect { buf, .. } => {
                buf.add_bytes(data);
                Act::Again
            }
            Sink::Stream { .. } => Act::Deliver(r, data),
            _ => Act::Again,
        };
    };
    let next = if b.then_wait {
        Reader::Wait
    } else {
        Reader::Head
    };
    let Reader::Body(b) = std::mem::replace(&mut conn.reader, next) else {
        return Act::Idle;
    };
    match b.sink {
        Sink::Collect {
            mut buf,
            mut req,
            handler,
        } => {
            buf.add_bytes(data);
            req.body = buf.split_to(usize::MAX);
            req.trailers = trailers;
            Act::Call(handler, *req)
        }
        Sink::Stream { cb: Some(cb), .. } => Act::End(r, cb, data, trailers),
        _ => Act::Again,
    }
}

/// Calls a handler (taken out of the router while it runs) and sends what
/// it returns.
fn call<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key, h: HandlerRef, req: Request) {
    let r = req.responder;
    let Some(skey) = conn(ctx, key).map(|c| c.server) else {
        return;
    };
    let Some(sv) = server(ctx, skey) else { return };
    let taken = match h {
        HandlerRef::Route(i) => sv.router.routes[i].handler.take(),
        HandlerRef::Fallback => sv.router.fallback.take(),
    };
    let Some(mut f) = taken else { return };
    // A panicking handler goes back into its route, and the connection
    // gives its buffers back, before the panic goes on out of `run`.
    let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(ctx, data, req)));
    if let Some(sv) = server(ctx, skey) {
        match h {
            HandlerRef::Route(i) => sv.router.routes[i].handler = Some(f),
            HandlerRef::Fallback => sv.router.fallback = Some(f),
        }
    }
    let reply = match reply {
        Ok(reply) => reply,
        Err(panic) => {
            release(ctx, key);
            if let Some(c) = conn(ctx, key) {
                c.in_pump = false;
            }
            forget(ctx, key, Close::Now);
            std::panic::resume_unwind(panic);
        }
    };
    if let Reply::Now(resp) = reply {
        let _ = r.respond(ctx, resp);
    }
}

/// `100 Continue`, in its place among the responses.
pub(crate) fn send_continue<T: 'static>(ctx: &mut Ctx<'_, T>, r: Responder) {
    let _ = with_target(ctx, r, |_, _, out| {
        out.add(b"HTTP/1.1 100 Continue\r\n\r\n");
        Ok(())
    });
}

/// Hands a piece of body to the request's body callback.
fn deliver<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, r: Responder, chunk: BodyChunk) {
    let Some(mut cb) = body_cb(ctx, r) else {
        return;
    };
    cb(ctx, data, r, chunk);
    if let Some(c) = conn(ctx, r.conn) {
        if let Reader::Body(BodyRead {
            seq,
            sink: Sink::Stream {
                cb: slot @ None, ..
            },
            ..
        }) = &mut c.reader
        {
            if *seq == r.seq {
                *slot = Some(cb);
            }
        }
    }
}

fn body_cb<T: 'static>(ctx: &mut Ctx<'_, T>, r: Responder) -> Option<Box<BodyCb<T>>> {
    match &mut conn(ctx, r.conn)?.reader {
        Reader::Body(BodyRead {
            seq,
            sink: Sink::Stream { cb, .. },
            ..
        }) if *seq == r.seq => cb.take(),
        _ => None,
    }
}

/// Ends the connection after an error: the request being read gets
/// `status` (if it has no response yet, and a status is given), nothing
/// more is read, and the connection closes once the responses in flight
/// are sent. A body callback hears `Aborted`.
pub(crate) fn fail<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    key: Key,
    status: Option<StatusCode>,
    reason: &'static str,
) {
    match status {
        Some(s) => log(ctx, key, &format!("{} {reason}", s.as_str())),
        None => log(ctx, key, reason),
    }
    let lp = ctx.loop_id();
    let Some((_, c)) = parts(ctx, key) else {
        return;
    };
    let sid = c.stream;
    let mut aborted = None;
    let body_seq = match std::mem::replace(&mut c.reader, Reader::Stopped) {
        Reader::Body(b) => {
            if let Sink::Stream { cb: Some(cb), .. } = b.sink {
                aborted = Some(cb);
            }
            Some(b.seq)
        }
        _ => None,
    };
    // The request whose body broke gets the status, unless its handler
    // has answered already (then the connection just closes after that
    // answer); a broken head gets a response of its own.
    let target = match (body_seq, status) {
        (Some(seq), Some(_)) => c
            .queue
            .iter()
            .any(|e| e.seq == seq && matches!(e.state, Out::Pending))
            .then_some(seq),
        (Some(_), None) => None,
        (None, Some(_)) => {
            let seq = c.next_seq;
            c.next_seq += 1;
            c.queue.push_back(Exchange {
                seq,
                head_request: false,
                version: Version::HTTP_11,
                keep_alive: false,
                upgradable: false,
                connect: false,
                out: Buffer::new(),
                state: Out::Pending,
            });
            Some(seq)
        }
        (None, None) => None,
    };
    for e in c.queue.iter_mut() {
        e.keep_alive = false;
    }
    c.hold_in.clear();
    if let Ok(mut s) = ctx.stream(sid) {
        s.input().clear();
    }
    if let (Some(mut cb), Some(seq)) = (aborted, body_seq) {
        cb(
            ctx,
            data,
            Responder { lp, conn: key, seq },
            BodyChunk::Aborted,
        );
    }
    match (target, status) {
        (Some(seq), Some(status)) => {
            let r = Responder { lp, conn: key, seq };
            let _ = respond(ctx, r, error_response(status, None));
        }
        _ => {
            let _ = advance(ctx, key);
        }
    }
    arm(ctx, key);
}

/// Forgets the connection and closes its stream (after sending what is
/// queued if `flush`). A body callback hears `Aborted`.
pub(crate) fn drop_conn<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key, flush: bool) {
    let lp = ctx.loop_id();
    let how = if flush { Close::Flush } else { Close::Now };
    if let Some((cb, seq)) = forget(ctx, key, how) {
        let mut cb = cb;
        cb(
            ctx,
            data,
            Responder { lp, conn: key, seq },
            BodyChunk::Aborted,
        );
    }
}

/// [`drop_conn`] without calling anyone: returns the body callback that
/// should hear `Aborted`, if any.
/// What becomes of a forgotten connection's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    Now,
    Flush,
    /// Left open: it was handed over (upgrade).
    Keep,
}

pub(crate) fn forget<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    key: Key,
    how: Close,
) -> Option<(Box<BodyCb<T>>, u64)> {
    release(ctx, key);
    let sv = ctx.ext_mut::<Servers<T>>()?;
    let c = sv.conns.remove(key)?;
    let skey = c.server;
    let (count, max, at_cap, shutting) = match sv.servers.get_mut(skey) {
        Some(s) => {
            s.conn_count -= 1;
            (
                s.conn_count,
                s.opts.max_connections,
                s.at_capacity,
                s.shutting_down,
            )
        }
        None => (0, usize::MAX, false, false),
    };
    let _ = ctx.remove(c.timer);
    if let Ok(s) = ctx.stream(c.stream) {
        match how {
            Close::Flush => {
                s.close_when_flushed();
            }
            Close::Now => {
                s.close();
            }
            Close::Keep => {}
        }
    }
    if at_cap && count < max {
        super::handle::set_capacity(ctx, skey, false);
    }
    if shutting && count == 0 {
        kick_server(ctx, skey);
    }
    match c.reader {
        Reader::Body(BodyRead {
            seq,
            sink: Sink::Stream { cb: Some(cb), .. },
            ..
        }) => Some((cb, seq)),
        _ => None,
    }
}

/// Calls a streamed response's producer when the connection can take more.
pub(crate) fn drive<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, key: Key) {
    let lp = ctx.loop_id();
    let Some((server, c)) = parts(ctx, key) else {
        return;
    };
    let low = server.opts.stream_low_water;
    let Some(front) = c.queue.front_mut() else {
        return;
    };
    let Out::Streaming { on_drain, .. } = &mut front.state else {
        return;
    };
    if on_drain.is_none() {
        return;
    }
    let (sid, seq) = (c.stream, front.seq);
    let held = if c.holding { c.hold_out.len() } else { 0 };
    let queued = held + ctx.stream(sid).map_or(usize::MAX, |mut s| s.output().len());
    if queued > low {
        return;
    }
    let Some((_, c)) = parts(ctx, key) else {
        return;
    };
    let Some(Out::Streaming { on_drain, .. }) = c.queue.front_mut().map(|f| &mut f.state) else {
        return;
    };
    let Some(mut cb) = on_drain.take() else {
        return;
    };
    let r = Responder { lp, conn: key, seq };
    cb(ctx, data, r);
    if let Some((_, c)) = parts(ctx, key) {
        if let Some(f) = c.queue.iter_mut().find(|e| e.seq == seq) {
            if let Out::Streaming {
                on_drain: slot @ None,
                ..
            } = &mut f.state
            {
                *slot = Some(cb);
            }
        }
    }
}

/// Has the engine look at the connection from the loop soon, unless it is
/// running for it now (then it looks anyway).
pub(crate) fn schedule<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) {
    let Some(c) = conn(ctx, key) else { return };
    if c.in_pump || c.dirty {
        return;
    }
    c.dirty = true;
    let skey = c.server;
    if let Some(s) = server(ctx, skey) {
        s.dirty.push(key);
    }
    kick_server(ctx, skey);
}

/// Feeds the server's kick watcher (once per iteration).
pub(crate) fn kick_server<T: 'static>(ctx: &mut Ctx<'_, T>, skey: Key) {
    let Some(s) = server(ctx, skey) else { return };
    if s.kick_fed {
        return;
    }
    s.kick_fed = true;
    let kick = s.kick;
    if let Ok(mut w) = ctx.check(kick) {
        let _ = w.feed(evloop::Events::CUSTOM);
    }
}

/// The kick watcher's callback: runs the engine for the connections that
/// asked, and ends a graceful shutdown once no connection is left.
pub(crate) fn on_kick<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, skey: Key) {
    let Some(s) = server(ctx, skey) else { return };
    s.kick_fed = false;
    let dirty = std::mem::take(&mut s.dirty);
    for key in dirty {
        if let Some(c) = conn(ctx, key) {
            c.dirty = false;
            run(ctx, data, key);
        }
    }
    super::handle::maybe_finish_shutdown(ctx, data, skey);
}

/// One line on stderr for a connection that ends in an error, when the
/// server was asked to log, and only once per connection.
fn log<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key, what: &str) {
    let Some((server, c)) = parts(ctx, key) else {
        return;
    };
    if !server.opts.log_errors || c.logged {
        return;
    }
    c.logged = true;
    match c.peer {
        Some(p) => eprintln!("evloop-http: {p}: {what}"),
        None => eprintln!("evloop-http: {what}"),
    }
}
