//! Reading requests out of a connection's input: heads (scanned, parsed,
//! routed, queued in order) and bodies (collected, streamed, or dropped).
//! Pure state changes: what needs user code is returned as an [`Act`].

use bytes::Bytes;
use evloop_buffer::Buffer;
use http::{HeaderMap, Method, StatusCode};

use super::engine::Act;
use super::request::Content;
use super::respond::error_response;
use super::route::Routed;
use super::slab::Key;
use super::state::{BodyRead, Conn, Exchange, Framing, HandlerRef, Out, Reader, Sink};
use super::{Request, Responder};
use crate::proto::{parse_request_head_shared, BodyKind, ChunkStep, ChunkedDecoder};

/// Most body bytes decoded from the chunked coding per step.
pub(crate) const CHUNK_STEP: usize = 64 * 1024;

/// One step of the connection's reader over its input: a head scanned or
/// parsed and its request started, body bytes moved, or nothing to do yet.
pub(crate) fn step_with<T: 'static>(
    server: &mut super::state::ServerState<T>,
    conn: &mut Conn<T>,
    now: std::time::Instant,
    lp: evloop::LoopId,
    key: Key,
) -> Act<T> {
    // The held input, borrowed apart from the connection's other fields
    // (taking it out and putting it back costs more than a request's
    // routing).
    let input = &mut conn.hold_in;
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
            // The common head in one pass, when no scan of it has begun
            // (the scanner's position stays linear otherwise).
            let fast = &mut server.fast_head;
            let fast = conn.scanner.scanned() == 0
                && crate::proto::scan_fast(bytes::Buf::chunk(input), limits, fast);
            let (bytes, parsed) = if fast {
                let f = &server.fast_head;
                let bytes = input.split_to(f.len());
                let parsed = f.parse(&bytes, Some(&mut conn.head_cache));
                (bytes, parsed)
            } else {
                match conn.scanner.scan(input, limits) {
                    Err(e) => return Act::Fail(Some(e.status), e.reason),
                    Ok(None) => {
                        conn.head_since.get_or_insert(now);
                        return Act::Idle;
                    }
                    Ok(Some(n)) => {
                        // Split off (no copy when the head lies in one
                        // piece of the input): the request's target and
                        // field values are slices of it. As with hyper, a
                        // request kept alive (long polling) keeps its read
                        // block alive with it.
                        let bytes = input.split_to(n);
                        let parsed =
                            parse_request_head_shared(&bytes, limits, Some(&mut conn.head_cache));
                        (bytes, parsed)
                    }
                }
            };
            let head = match parsed {
                Ok(h) => h,
                Err(e) => return Act::Fail(Some(e.status), e.reason),
            };
            let upgradable = head.upgrade || head.method == Method::CONNECT;
            if upgradable && !conn.queue.is_empty() {
                // The bytes after it may not be HTTP: it waits until every
                // earlier request is answered.
                input.prepend_bytes(bytes);
                conn.scanner.reset();
                conn.reader = Reader::Wait;
                conn.read_off = true;
                return Act::Idle;
            }
            conn.head_since = None;
            conn.fresh = false;
            // The body timeout counts from the head's end.
            conn.body_since = now;
            start_request(server, conn, key, lp, head, bytes)
        }
        Reader::Body(_) => body_step(server, conn, now, lp, key),
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
pub(crate) fn start_request<T: 'static>(
    server: &mut super::state::ServerState<T>,
    conn: &mut Conn<T>,
    key: Key,
    lp: evloop::LoopId,
    head: crate::proto::Head,
    bytes: Bytes,
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
        out: None,
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
        Routed::NotFound
        | Routed::NotAllowed(_)
        | Routed::NotImplemented
        | Routed::ServerOptions => {
            let (status, allow) = match routed {
                Routed::ServerOptions => (StatusCode::OK, Some(server.router.allow_all())),
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
            let answer = if status == StatusCode::OK {
                // The server's options: no content, as RFC 9110 9.3.7
                // expects (Content-Length: 0).
                let mut r = http::Response::new(super::Body::empty());
                if let Some(a) = allow {
                    r.headers_mut().insert(http::header::ALLOW, a);
                }
                r
            } else {
                error_response(status, allow)
            };
            return Act::Answer(responder, answer);
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
        // The head's bytes are kept only while the map is to be made
        // from them.
        raw_fields: head.headers.is_none().then_some(bytes),
        headers: match head.headers {
            Some(map) => map.into(),
            None => std::sync::OnceLock::new(),
        },
        content: None,
        has_body,
        responder,
        peer: conn.peer,
    };
    if !has_body {
        // Reading heads already, as is most often next (a Reader is large
        // to move).
        if !matches!(next, Reader::Head) {
            conn.reader = next;
        }
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
pub(crate) fn unread_body<T: 'static>(
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
pub(crate) fn body_step<T: 'static>(
    server: &mut super::state::ServerState<T>,
    conn: &mut Conn<T>,
    now: std::time::Instant,
    lp: evloop::LoopId,
    key: Key,
) -> Act<T> {
    let _ = server;
    let input = &mut conn.hold_in;
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
            let body = buf.split_to(usize::MAX);
            if !body.is_empty() || !trailers.is_empty() {
                req.content = Some(Box::new(Content { body, trailers }));
            }
            Act::Call(handler, *req)
        }
        Sink::Stream { cb: Some(cb), .. } => Act::End(r, cb, data, trailers),
        _ => Act::Again,
    }
}
