//! Writing responses: the head's serialisation, the order of responses on
//! a connection, and the start of a close.

use std::time::SystemTime;

use evloop::{Ctx, Error};
use evloop_buffer::{Buffer, StreamExt};
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, SERVER, TRANSFER_ENCODING};
use http::{HeaderMap, Response, StatusCode, Version};

use super::slab::Key;
use super::state::{parts, Exchange, Out, Reader, ServerState};
use super::{Body, Responder};

/// How a response's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// No Content-Length of ours: the handler's, if any, is kept (HEAD,
    /// 304).
    KeepUsers,
    /// No length at all: 1xx, 204, a 2xx to CONNECT, or a body that ends at
    /// close.
    None,
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Runs `f` with the buffer that response `seq` writes into: the socket's
/// output when it is the oldest response in flight, its own buffer
/// otherwise (moved to the output when its turn comes).
pub(crate) fn with_target<T: 'static, R>(
    ctx: &mut Ctx<'_, T>,
    r: Responder,
    f: impl FnOnce(&mut ServerState<T>, &mut Exchange<T>, &mut Buffer) -> Result<R, Error>,
) -> Result<R, Error> {
    if r.lp != ctx.loop_id() {
        return Err(Error::ForeignHandle);
    }
    let (server, conn) = parts(ctx, r.conn).ok_or(Error::StaleHandle)?;
    let Some(pos) = conn.queue.iter().position(|e| e.seq == r.seq) else {
        return Err(Error::StaleHandle);
    };
    let super::state::Conn {
        queue,
        hold_out,
        holding,
        stream,
        ..
    } = conn;
    if pos == 0 && *holding {
        return f(server, &mut queue[0], hold_out);
    }
    if pos > 0 {
        let ex = &mut queue[pos];
        let mut out = ex.out.take().unwrap_or_default();
        let res = f(server, ex, &mut out);
        ex.out = Some(out);
        return res;
    }
    // Written straight into the stream's output, the connection looked
    // up again beside it (one stream handle, whose drop settles the
    // stream once).
    let sid = *stream;
    let mut s = ctx.stream(sid)?;
    let (_, out, sv) = s
        .buffers_with_ext::<super::state::Servers<T>>()
        .ok_or(Error::StaleHandle)?;
    let conn = sv.conns.get_mut(r.conn).ok_or(Error::StaleHandle)?;
    let server = sv.servers.get_mut(conn.server).ok_or(Error::StaleHandle)?;
    f(server, &mut conn.queue[0], out)
}

/// Answers request `r` with `resp` (a whole response).
pub(crate) fn respond<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    r: Responder,
    resp: Response<Body>,
) -> Result<(), Error> {
    let now = ctx.now_wall();
    let (head, body) = resp.into_parts();
    if let Body::Bytes(b) = &body {
        if head.status == StatusCode::OK && head.headers.is_empty() && plain_front(ctx, r, now, b) {
            return Ok(());
        }
    }
    // A file range is checked before anything is written.
    let mut file_body = None;
    if let Body::File { file, offset, len } = &body {
        let mut b = Buffer::new();
        b.add_file(file.clone(), *offset, *len)
            .map_err(|_| Error::InvalidArgument("the file range of the body cannot be sent"))?;
        file_body = Some(b);
    }
    with_target(ctx, r, |server, ex, out| {
        if !matches!(ex.state, Out::Pending) {
            return Err(Error::StaleHandle);
        }
        if let Body::Bytes(b) = &body {
            if head.status == StatusCode::OK
                && head.headers.is_empty()
                && !ex.head_request
                && write_plain_ok(server, ex, out, now, b)
            {
                ex.state = Out::Done;
                return Ok(());
            }
        }
        let status = head.status;
        let no_body = ex.head_request || bodiless_status(status);
        let framing = if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || (ex.connect && status.is_success())
        {
            Framing::None
        } else if status == StatusCode::NOT_MODIFIED || (ex.head_request && body.is_empty()) {
            // A HEAD answer without a body says what GET would: the
            // handler's Content-Length if it gives one, and no false
            // `content-length: 0` if it gives none (RFC 9110 9.3.2 lets a
            // HEAD response leave the field out).
            Framing::KeepUsers
        } else {
            Framing::Length(body.len())
        };
        write_head(
            server,
            ex,
            out,
            now,
            status,
            &head.headers,
            framing,
            !body.is_empty(),
        );
        if !no_body {
            match body {
                Body::Empty => {}
                Body::Bytes(b) if b.len() <= 4096 => out.add(&b),
                Body::Bytes(b) => out.add_bytes(b),
                Body::File { .. } => {
                    if let Some(b) = file_body.as_mut() {
                        out.append_buffer(b);
                    }
                }
            }
        }
        ex.state = Out::Done;
        Ok(())
    })?;
    // The head is written: its map holds the next message's fields.
    crate::proto::spare_maps::give_back(head.headers);
    after_response(ctx, r.conn);
    Ok(())
}

/// The common case with one look at the connection: a plain `200 OK` for
/// the oldest request in flight during an engine run, written to the held
/// output and taken off the queue at once. False (nothing done) for any
/// other case.
fn plain_front<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    r: Responder,
    now: SystemTime,
    body: &bytes::Bytes,
) -> bool {
    let mono = ctx.now();
    if r.lp != ctx.loop_id() {
        return false;
    }
    let Some((server, conn)) = parts(ctx, r.conn) else {
        return false;
    };
    let super::state::Conn {
        queue,
        hold_out,
        holding,
        ..
    } = conn;
    let Some(front) = queue.front_mut() else {
        return false;
    };
    if !*holding
        || front.seq != r.seq
        || !matches!(front.state, Out::Pending)
        || front.head_request
        || front.out.as_ref().is_some_and(|o| !o.is_empty())
        || !write_plain_ok(server, front, hold_out, now, body)
    {
        return false;
    }
    // As `advance` does for it (it keeps the connection open: a plain
    // response is a keep-alive one).
    queue.pop_front();
    if !queue.is_empty() || matches!(conn.reader, Reader::Stopped) {
        let _ = advance(ctx, r.conn);
    } else {
        conn.idle_since = mono;
    }
    true
}

/// 1xx, 204 and 304 responses never carry a body.
pub(crate) fn bodiless_status(s: StatusCode) -> bool {
    s.is_informational() || s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED
}

/// Writes the status line and the header section, and decides whether the
/// connection closes after this response (recorded in `ex.keep_alive`).
/// One pass over the handler's headers; the head is put together in the
/// server's scratch vector and copied into `out` once.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_head<T: 'static>(
    server: &mut ServerState<T>,
    ex: &mut Exchange<T>,
    out: &mut Buffer,
    now: SystemTime,
    status: StatusCode,
    headers: &HeaderMap,
    framing: Framing,
    has_body: bool,
) {
    let mut h = std::mem::take(&mut server.scratch);
    h.clear();
    if let Framing::Length(n) = framing {
        if status == StatusCode::OK && headers.is_empty() && has_body && plain_ok(server, ex) {
            // The common case, from a prefix made once per second.
            ok_head(server, &mut h, now, n);
            out.add(&h);
            server.scratch = h;
            return;
        }
    }
    h.extend_from_slice(b"HTTP/1.1 ");
    h.extend_from_slice(status.as_str().as_bytes());
    h.push(b' ');
    h.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    h.extend_from_slice(b"\r\n");
    if server.shutting_down {
        ex.keep_alive = false;
    }
    let (mut has_date, mut has_server, mut has_type) = (false, false, false);
    let mut connection: Option<&http::HeaderValue> = None;
    for (name, value) in headers {
        if *name == CONNECTION {
            if has_token(value.as_bytes(), b"close") {
                ex.keep_alive = false;
            }
            // Written at the end, once it is known whether it closes.
            connection = Some(value);
            continue;
        }
        if *name == TRANSFER_ENCODING || (*name == CONTENT_LENGTH && framing != Framing::KeepUsers)
        {
            continue;
        }
        has_date |= *name == DATE;
        has_server |= *name == SERVER;
        has_type |= *name == CONTENT_TYPE;
        h.extend_from_slice(name.as_str().as_bytes());
        h.extend_from_slice(b": ");
        h.extend_from_slice(value.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    if !has_date {
        h.extend_from_slice(server.date.line(now));
    }
    if let (Some(v), false) = (&server.opts.server_header, has_server) {
        h.extend_from_slice(b"server: ");
        h.extend_from_slice(v.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    if has_body && !has_type && !bodiless_status(status) {
        if let Some(v) = &server.opts.default_content_type {
            h.extend_from_slice(b"content-type: ");
            h.extend_from_slice(v.as_bytes());
            h.extend_from_slice(b"\r\n");
        }
    }
    match framing {
        Framing::Length(n) => {
            h.extend_from_slice(b"content-length: ");
            let mut digits = [0u8; 20];
            h.extend_from_slice(crate::proto::decimal(n, &mut digits));
            h.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => h.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::KeepUsers | Framing::None => {}
    }
    if !ex.keep_alive {
        h.extend_from_slice(b"connection: close\r\n");
    } else if let Some(v) = connection.filter(|_| ex.version != Version::HTTP_10) {
        h.extend_from_slice(b"connection: ");
        h.extend_from_slice(v.as_bytes());
        h.extend_from_slice(b"\r\n");
    } else if ex.version == Version::HTTP_10 {
        h.extend_from_slice(b"connection: keep-alive\r\n");
    }
    h.extend_from_slice(b"\r\n");
    out.add(&h);
    server.scratch = h;
}

/// Whether a plain `200 OK` (no header of the handler's) for `ex` is the
/// prefix's: keep-alive HTTP/1.1 and no shutdown under way.
fn plain_ok<T: 'static>(server: &ServerState<T>, ex: &Exchange<T>) -> bool {
    ex.keep_alive && !server.shutting_down && ex.version == Version::HTTP_11
}

/// A plain `200 OK` head with a body of `len` bytes into `h`.
fn ok_head<T: 'static>(server: &mut ServerState<T>, h: &mut Vec<u8>, now: SystemTime, len: u64) {
    if !(server.ok_prefix_from <= now && now < server.ok_prefix_until) {
        build_ok_prefix(server, now);
    }
    h.extend_from_slice(&server.ok_prefix);
    let mut digits = [0u8; 20];
    h.extend_from_slice(crate::proto::decimal(len, &mut digits));
    h.extend_from_slice(b"\r\n\r\n");
}

/// A plain `200 OK` with a small body, head and body copied into `out`
/// at once; false (nothing written) when the response is not that case.
fn write_plain_ok<T: 'static>(
    server: &mut ServerState<T>,
    ex: &Exchange<T>,
    out: &mut Buffer,
    now: SystemTime,
    body: &bytes::Bytes,
) -> bool {
    if body.is_empty() || body.len() > 4096 || !plain_ok(server, ex) {
        return false;
    }
    let mut h = std::mem::take(&mut server.scratch);
    h.clear();
    ok_head(server, &mut h, now, body.len() as u64);
    h.extend_from_slice(body);
    out.add(&h);
    server.scratch = h;
    true
}

/// The plain `200 OK` head up to the Content-Length value (see
/// `ServerState::ok_prefix`).
fn build_ok_prefix<T: 'static>(server: &mut ServerState<T>, now: SystemTime) {
    let mut p = std::mem::take(&mut server.ok_prefix);
    p.clear();
    p.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    p.extend_from_slice(server.date.line(now));
    if let Some(v) = &server.opts.server_header {
        p.extend_from_slice(b"server: ");
        p.extend_from_slice(v.as_bytes());
        p.extend_from_slice(b"\r\n");
    }
    if let Some(v) = &server.opts.default_content_type {
        p.extend_from_slice(b"content-type: ");
        p.extend_from_slice(v.as_bytes());
        p.extend_from_slice(b"\r\n");
    }
    p.extend_from_slice(b"content-length: ");
    let from = std::time::UNIX_EPOCH + std::time::Duration::from_secs(server.date.secs());
    server.ok_prefix_from = from;
    server.ok_prefix_until = from + std::time::Duration::from_secs(1);
    server.ok_prefix = p;
}

/// Whether a comma-separated header value holds `token` (any case).
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// After a response (or a piece of one) was written: move finished
/// responses along, and have the engine look at the connection again if
/// something now waits on it.
pub(crate) fn after_response<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) {
    match advance_then(ctx, key, true) {
        Then::Nothing => {}
        // All a run of the engine would do now: the connection waits for
        // the next head (a kick costs a run, a watcher and a look at the
        // stream for each response given outside the engine).
        Then::Wait(arm) => {
            if let Some(arm) = arm {
                arm.apply(ctx, ctx.now());
            }
        }
        Then::Kick => super::kick::schedule(ctx, key),
    }
}

/// What is left to do for a connection once `advance_then` moved its
/// responses along.
enum Then {
    /// Nothing: the engine is running for it, or it is gone.
    Nothing,
    /// It is settled (see `settled`): only its deadline timer, if that
    /// must fire sooner.
    Wait(Option<super::deadline::Arm>),
    /// The engine must look at it again.
    Kick,
}

/// Whether the connection, answered and idle, has nothing for the engine
/// to do: no request in flight, no cut-off body callback, the reader
/// waiting for a head with reading on (so any input is an incomplete
/// head, which only more bytes can complete).
fn settled<T: 'static>(c: &super::state::Conn<T>) -> bool {
    c.queue.is_empty()
        && matches!(c.reader, Reader::Head)
        && c.aborted.is_none()
        && !c.read_off
        && !c.read_off_applied
        && !c.holding
        && !c.dirty
}

/// Moves the oldest responses to the socket while they are complete; a
/// response that ends the connection starts its close.
/// Returns whether the connection may need the engine to look at it
/// again (it is not running for it now).
pub(crate) fn advance<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) -> bool {
    !matches!(advance_then(ctx, key, false), Then::Nothing)
}

/// `advance`, telling what the engine needs next; with `plan`, a settled
/// connection's deadline is worked out in the same look at it (what
/// moving the responses along does after that leaves it as it is).
fn advance_then<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key, plan: bool) -> Then {
    let now = ctx.now();
    let lp = ctx.loop_id();
    let Some((server, conn)) = parts(ctx, key) else {
        return Then::Nothing;
    };
    let mut dropped = false;
    // Outside an engine run, moved bytes are collected and handed to the
    // stream once.
    let mut moved: Option<Buffer> = None;
    while let Some(front) = conn.queue.front_mut() {
        if let Some(out) = front.out.as_mut().filter(|o| !o.is_empty()) {
            let target = if conn.holding {
                &mut conn.hold_out
            } else {
                moved.get_or_insert_with(Buffer::new)
            };
            target.append_buffer(out);
        }
        if !matches!(front.state, Out::Done) {
            break;
        }
        let closes = front.closes();
        conn.queue.pop_front();
        if conn.queue.is_empty() {
            conn.idle_since = now;
        }
        if closes {
            let reader = std::mem::replace(&mut conn.reader, Reader::Stopped);
            if let Reader::Body(b) = reader {
                if let super::state::Sink::Stream { cb: Some(cb), .. } = b.sink {
                    conn.aborted = Some((cb, b.seq));
                }
            }
            if !conn.closers.is_empty() {
                // The requests behind it are dropped unanswered.
                let pending = super::on_close::waiting(&conn.queue);
                super::on_close::release(server, conn, lp, key, |seq| pending.contains(&seq));
                dropped = true;
            }
            conn.queue.clear();
        }
    }
    let stop = matches!(conn.reader, Reader::Stopped) && conn.queue.is_empty();
    // Outside an engine run, the engine must look again (a cut-off body
    // callback, input held back by the pipeline limit, a producer).
    let then = if conn.in_pump {
        Then::Nothing
    } else if plan && settled(conn) {
        Then::Wait(super::deadline::plan(server, conn))
    } else {
        Then::Kick
    };
    let sid = conn.stream;
    let skey = conn.server;
    if let Some(mut moved) = moved {
        if let Ok(mut s) = ctx.stream(sid) {
            s.write_buffer(&mut moved);
        }
    }
    if dropped {
        super::on_close::fire_soon(ctx, skey);
    }
    if stop {
        begin_linger(ctx, key);
    }
    then
}

/// The last response is queued: shut the write side once it is sent, and
/// drop what the client still sends until it closes (closing with unread
/// input would reset the connection, and the client could lose the
/// response).
pub(crate) fn begin_linger<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) {
    // The shutdown must come after everything queued, held output too.
    super::engine::release(ctx, key);
    let now = ctx.now();
    let Some((_, conn)) = parts(ctx, key) else {
        return;
    };
    conn.reader = Reader::Linger;
    conn.hold_in.clear();
    conn.idle_since = now;
    conn.read_off = false;
    conn.read_off_applied = false;
    let sid = conn.stream;
    if ctx.stream(sid).is_ok_and(|s| s.is_eof()) {
        // The client is gone already: nothing to linger for.
        super::close::forget(ctx, key, super::close::Close::Flush);
        return;
    }
    if let Ok(mut s) = ctx.stream(sid) {
        s.input().clear();
        s.enable(evloop_buffer::stream::Direction::Read);
        s.shutdown_when_flushed();
    }
    super::deadline::arm(ctx, key);
}

/// The status line and headers of an error response the server makes
/// itself (404, 405, 408, 413, 501, and the parser's errors).
pub(crate) fn error_response(
    status: StatusCode,
    allow: Option<http::HeaderValue>,
) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut r = Response::new(Body::from(format!("{} {reason}\n", status.as_str())));
    *r.status_mut() = status;
    if let Some(a) = allow {
        r.headers_mut().insert(http::header::ALLOW, a);
    }
    r
}
