//! One client connection: accepting it (or refusing it at `-c`), running
//! its requests in batches, holding it back while it does not read its
//! replies, and closing it.
//!
//! * **Batching.** Each read event runs the complete requests in the input
//!   buffer (up to `-R` of them) and appends all the replies to the output
//!   buffer; the stream then sends them with one gathered send right
//!   after the read callback. So a pipelined batch costs one read and one
//!   write.
//! * **Turns.** A connection with more than `-R` requests waiting stops
//!   reading and queues itself for another turn, which a zero-delay timer
//!   gives it after the next poll: every other ready connection is served
//!   in between (memcached's `conn_yields`).
//! * **Back-pressure.** Once [`OUTPUT_HIGH`] bytes of replies wait for the
//!   client, the session stops between requests and reading stops (the
//!   client's further requests wait in the kernel, then in the client).
//!   The write callback runs when the output has drained to
//!   [`OUTPUT_LOW`]; it runs the requests left over and resumes reading.
//!   Memory per connection stays bounded by the output limit, one read and
//!   the largest request.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use evloop::Ctx;
use evloop_buffer::{
    Accepted, BufferedStream, Direction, ListenerId, StreamEvent, StreamExt, StreamId, Watermarks,
};

use crate::exec::{Protocol, Session};
use crate::output::{Replies, OUTPUT_HIGH, OUTPUT_LOW};
use crate::protocol::MAX_LINE;
use crate::server::{lock, tick_clock, App};
use crate::stats::{ConnInfo, Waiting};
use crate::watch::Event;

/// What a connection refused at `-c` is told (memcached's words).
const TOO_MANY: &[u8] = b"ERROR Too many open connections\r\n";

/// What every new connection is set up with (from the command line).
#[derive(Debug, Clone, Copy)]
pub struct ConnOptions {
    /// `-I`, for its parser.
    pub item_max: usize,
    /// `-B`.
    pub protocol: Protocol,
    /// `-R`: requests it runs before the other connections get a turn.
    pub reqs_per_event: usize,
    /// `-o idle_timeout`: seconds without a request after which it is
    /// closed (0: never).
    pub idle_timeout: u32,
}

/// The server's state for one open connection (the stream keeps its
/// buffers).
pub struct Conn {
    /// Protocol state.
    session: Session,
    /// Input bytes already counted in `bytes_read`: what was left
    /// unconsumed after the last batch.
    counted: usize,
    /// Reading is stopped until the client takes its replies.
    paused: bool,
    /// The stream reads (off while paused, and while requests already
    /// read wait for their turn).
    reading: bool,
    /// The client sent EOF: close once everything is answered.
    eof: bool,
    /// The client's address, for the log.
    peer: Option<SocketAddr>,
    /// The socket's descriptor: its key in `stats conns`.
    fd: i32,
    /// Server time of the last request, as `stats conns` last saw it.
    last_cmd: u32,
    /// What it waits for, as `stats conns` last saw it.
    waiting: Waiting,
    /// It ran its requests per turn (`-R`) with more waiting, and is
    /// queued for another turn.
    turn_queued: bool,
    /// It sent `watch`: it gets log lines, and what it sends is ignored.
    watching: bool,
}

/// The listener's callback: opens a stream for the connection, or tells
/// the client there are too many and closes it, as memcached does.
pub fn on_accept(ctx: &mut Ctx<'_, App>, app: &mut App, _: ListenerId, conn: Accepted) {
    // `stats conns` names both ends as memcached does: a Unix client has
    // no path of its own (`unix:`), its listener's is the socket file.
    let (peer, addr, listen_addr, fd) = match &conn {
        Accepted::Tcp { stream, peer } => {
            // Replies are small writes that should leave at once.
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().map(|l| format!("tcp:{l}"));
            let addr = format!("tcp:{peer}");
            (Some(*peer), addr, local.ok(), stream.as_raw_fd())
        }
        Accepted::Unix { stream, .. } => {
            let local = stream.local_addr().ok();
            let path = local.as_ref().and_then(|l| l.as_pathname());
            let path = path.map(|p| p.display().to_string()).unwrap_or_default();
            let listen_addr = format!("unix:{path}");
            (
                None,
                "unix:".to_string(),
                Some(listen_addr),
                stream.as_raw_fd(),
            )
        }
    };
    let mut core = lock(&app.core);
    let refuse = core.stats.curr_connections >= core.stats.max_connections;
    let id = match ctx.new_stream(conn) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("memcached: cannot serve {}: {e}", show(peer));
            return;
        }
    };
    let Ok(mut s) = ctx.stream(id) else { return };
    if refuse {
        core.stats.rejected_connections += 1;
        // Without an event callback any error closes it; nothing is read.
        s.write(TOO_MANY);
        s.close_when_flushed();
        return;
    }
    s.set_watermarks(Watermarks {
        write_low: OUTPUT_LOW,
        ..Watermarks::default()
    });
    s.on_read(drive);
    // No write callback until the connection first pauses (see `drive`):
    // a connection that never fills its output pays nothing per reply.
    s.on_event(on_event);
    let now = core.store.clock().now();
    app.conns.insert(
        id,
        Conn {
            session: Session::with_limits(
                app.opts.item_max,
                app.opts.protocol,
                app.opts.reqs_per_event,
            ),
            counted: 0,
            paused: false,
            reading: true,
            eof: false,
            peer,
            fd,
            last_cmd: now,
            waiting: Waiting::Command,
            turn_queued: false,
            watching: false,
        },
    );
    core.stats.curr_connections += 1;
    core.stats.total_connections += 1;
    let info = ConnInfo {
        addr,
        listen_addr: Some(listen_addr.unwrap_or_default()),
        last_cmd: now,
        waiting: Waiting::Command,
    };
    core.stats.conns.insert(fd, info);
    core.log(Event::ConnNew { peer, cfd: fd });
    core.publish_events();
}

/// Runs every complete request in the input (up to the output limit),
/// then pauses or resumes reading, or closes after `quit`, a fatal
/// protocol error or the client's EOF. The read callback.
fn drive(ctx: &mut Ctx<'_, App>, app: &mut App, id: StreamId) {
    let Some(conn) = app.conns.get_mut(&id) else {
        return;
    };
    let mut guard = lock(&app.core);
    let core = &mut *guard;
    tick_clock(ctx, &mut core.store);
    let Ok(mut s) = ctx.stream(id) else { return };
    // Both buffers for the batch: the session reads requests out of the
    // input while it appends replies to the output.
    let (input, out) = s.buffers();
    core.stats.bytes_read += (input.len() - conn.counted) as u64;
    if conn.watching {
        // A watcher's requests are not read, as in memcached; its EOF
        // still ends it.
        input.clear();
        conn.counted = 0;
        if conn.eof {
            drop(guard);
            s.close_when_flushed();
            forget(app, id, "normal");
        }
        return;
    }
    core.stats.current_fd = conn.fd;
    core.store.log.cfd = conn.fd;
    let queued = out.len();
    let mut close = false;
    let mut error = false;
    let mut shutdown = false;
    let mut yielded = false;
    if input.len() >= conn.session.wanted() && queued < OUTPUT_HIGH {
        // A line arriving in pieces is searched from where the last search
        // stopped, in place: no copy until its newline is in. (Input in
        // one piece is searched by the parser itself, which also keeps its
        // position: one scan, not two, for the usual small request.)
        let mut line_in = true;
        let scan_from = if input.chunk_count() > 1 {
            conn.session.line_scan_from()
        } else {
            None
        };
        if let Some(from) = scan_from {
            if input.find_in(b"\n", from..input.len()).is_none() {
                line_in = false;
                let len = input.len();
                let head = input.pullup(MAX_LINE + 1);
                if let Some(p) = conn.session.no_line_yet(len, head) {
                    input.drain(p.consumed);
                    close = true;
                }
            }
        }
        if line_in {
            // Usually free: a batch arrives in one read, hence one piece.
            let data = input.pullup(usize::MAX);
            let p = conn
                .session
                .process(data, &mut core.store, &mut core.stats, &mut Replies(out));
            input.drain(p.consumed);
            close = p.close;
            error = p.error;
            shutdown = p.shutdown;
            yielded = p.yielded;
            if let Some(flags) = p.watch {
                if core.add_watcher(app.loop_ix, id, flags) {
                    out.add(b"OK\r\n");
                    conn.watching = true;
                } else {
                    out.add(b"WATCHER_TOO_MANY log watcher limit reached\r\n");
                }
            }
            if yielded {
                core.stats.conn_yields += 1;
            }
        }
        let now = core.store.clock().now();
        let waiting = conn.session.waiting_for();
        if conn.last_cmd != now || conn.waiting != waiting {
            conn.last_cmd = now;
            conn.waiting = waiting;
            if let Some(info) = core.stats.conns.get_mut(&conn.fd) {
                info.last_cmd = now;
                info.waiting = waiting;
            }
        }
    }
    let queued_now = out.len();
    core.stats.bytes_written += (queued_now - queued) as u64;
    core.publish_events();
    drop(guard);
    let full = queued_now >= OUTPUT_HIGH;
    conn.counted = input.len();
    if close || (conn.eof && !full && !yielded) {
        // Everything answered that will be: send it, then close.
        s.close_when_flushed();
        forget(app, id, if error { "error" } else { "normal" });
        if shutdown {
            crate::server::shutdown(ctx, app);
        }
        return;
    }
    if full && !conn.paused {
        // Resume once output drains (installed on the first pause, kept
        // after it; a fn item, so no allocation).
        s.on_write(on_write);
    }
    conn.paused = full;
    // Nothing more is read while the replies wait for the client, nor
    // while requests already read wait for their turn: what the input
    // holds stays bounded, and is not pulled up again for every turn.
    let read = !full && !yielded;
    if read != conn.reading {
        conn.reading = read;
        if read {
            s.enable(Direction::Read);
        } else {
            s.disable(Direction::Read);
        }
    }
    // A full output resumes through the write callback; otherwise the
    // rest waits for a turn after the other connections' events.
    if yielded && !full && !conn.turn_queued {
        conn.turn_queued = true;
        drop(s);
        queue_turn(ctx, app, id);
    }
}

/// Queues `id` for another turn from the loop's turn timer, a
/// zero-delay timer: it fires after the poll, so every connection ready
/// meanwhile goes first (as memcached's yield, which waits for a write
/// event).
fn queue_turn(ctx: &mut Ctx<'_, App>, app: &mut App, id: StreamId) {
    app.turns.push(id);
    if let Ok(mut t) = ctx.timer(app.turn_timer) {
        if !t.is_active() {
            let _ = t.start();
        }
    }
}

/// The turn timer's callback: the queued connections' next turns.
pub fn take_turns(ctx: &mut Ctx<'_, App>, app: &mut App) {
    for id in std::mem::take(&mut app.turns) {
        if let Some(c) = app.conns.get_mut(&id) {
            c.turn_queued = false;
            drive(ctx, app, id);
        }
    }
}

/// Closes the connections that waited for a request longer than
/// `-o idle_timeout` (not those in the middle of a data block, nor those
/// whose replies wait for the client), counting them in `idle_kicks`, as
/// memcached does. Runs once a second.
pub fn close_idle(ctx: &mut Ctx<'_, App>, app: &mut App) {
    let limit = app.opts.idle_timeout;
    if limit == 0 {
        return;
    }
    let mut core = lock(&app.core);
    tick_clock(ctx, &mut core.store);
    let now = core.store.clock().now();
    let idle: Vec<StreamId> = app
        .conns
        .iter()
        .filter(|(_, c)| {
            !c.paused
                && !c.turn_queued
                && c.waiting == Waiting::Command
                && now.saturating_sub(c.last_cmd) > limit
        })
        .map(|(id, _)| *id)
        .collect();
    core.stats.idle_kicks += idle.len() as u64;
    drop(core);
    for id in idle {
        if let Ok(s) = ctx.stream(id) {
            close_now(s);
        }
        forget(app, id, "idle_timeout");
    }
}

/// The write callback: output has drained to [`OUTPUT_LOW`]. A paused
/// connection goes on with its requests.
fn on_write(ctx: &mut Ctx<'_, App>, app: &mut App, id: StreamId) {
    if app.conns.get(&id).is_some_and(|c| c.paused) {
        drive(ctx, app, id);
    }
}

/// EOF: answer what is left, then close. An error: log it (one line,
/// unless the client merely hung up), close.
fn on_event(ctx: &mut Ctx<'_, App>, app: &mut App, id: StreamId, ev: StreamEvent) {
    match ev {
        StreamEvent::Eof => {
            if let Some(conn) = app.conns.get_mut(&id) {
                conn.eof = true;
                drive(ctx, app, id);
            } else if let Ok(s) = ctx.stream(id) {
                close_now(s);
            }
        }
        StreamEvent::Error {
            error,
            direction,
            unsent,
        } => {
            // A reset or a broken pipe is how many clients hang up (with
            // replies unread, or mid-request): not worth a line each.
            let hangup = matches!(
                error.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            );
            if !hangup {
                let peer = app.conns.get(&id).and_then(|c| c.peer);
                let dir = match direction {
                    Direction::Read => "reading",
                    Direction::Write => "writing",
                };
                eprintln!(
                    "memcached: connection {}: {error} while {dir} ({unsent} bytes unsent); \
                     closed",
                    show(peer)
                );
            }
            if let Ok(s) = ctx.stream(id) {
                close_now(s);
            }
            forget(app, id, if hangup { "normal" } else { "error" });
        }
        StreamEvent::Timeout(_) | StreamEvent::Connected => {}
    }
}

/// Closes a stream at once, dropping what it had not sent: it failed, or
/// it is not a connection of ours. (What `close` returns, the bytes left
/// unsent, says nothing the log has not said already.)
fn close_now(s: BufferedStream<'_, App>) {
    let _ = s.close();
}

/// Drops a closed (or closing) connection's state; `reason` is what a
/// watcher of connection events is told (memcached's words).
fn forget(app: &mut App, id: StreamId, reason: &'static str) {
    if let Some(conn) = app.conns.remove(&id) {
        let mut core = lock(&app.core);
        core.stats.curr_connections -= 1;
        core.stats.conns.remove(&conn.fd);
        if conn.watching {
            core.remove_watcher(app.loop_ix, id);
        }
        core.log(Event::ConnClose {
            peer: conn.peer,
            reason,
            cfd: conn.fd,
        });
        core.publish_events();
    }
}

/// The loop's log wake-up: writes its `watch` connections' new lines, to
/// those whose output is not already a buffer's worth behind (the rest
/// wait in their buffers, and are skipped once those are full).
pub fn write_logs(ctx: &mut Ctx<'_, App>, app: &mut App) {
    let mut core = lock(&app.core);
    let lines = core.watchers.take(app.loop_ix, |sid| {
        ctx.stream(sid).ok().map(|mut s| s.output().len())
    });
    core.sync_watchers();
    drop(core);
    for (sid, text) in lines {
        if let Ok(mut s) = ctx.stream(sid) {
            s.write(&text);
            // Told again once this has drained.
            s.on_write(write_logs_on_drain);
        }
    }
}

/// A watcher's output drained: more of its lines may wait.
fn write_logs_on_drain(ctx: &mut Ctx<'_, App>, app: &mut App, _: StreamId) {
    write_logs(ctx, app);
}

/// A peer address for the log.
fn show(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "(unix)".to_string(), |p| p.to_string())
}
