//! What the loop runs for a stream: its io watcher's callback (connect,
//! write, read) and its timers' callback.

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use evloop::{Ctx, Events, TimerId};

use super::callback::Taken;
use super::notify::{call_data, emit, run_taken};
use super::settle::{apply, settle, settle_after_dispatch};
use super::state::{DataCb, State, Streams};
use super::{sys, Direction, StreamEvent, StreamId};
use crate::buffer::Calls;

/// The stream's state, if `id` names a stream of this loop that is open.
#[inline]
pub(super) fn state<'c, T: 'static>(
    ctx: &'c mut Ctx<'_, T>,
    id: StreamId,
) -> Option<&'c mut State<T>> {
    if id.lp != ctx.loop_id() {
        return None;
    }
    ctx.ext_mut::<Streams<T>>()?.map.get_mut(id.key)
}

/// Puts a non-blocking socket under the loop.
pub(super) fn open<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    fd: OwnedFd,
    connecting: bool,
) -> io::Result<StreamId> {
    let fd = Rc::new(fd);
    // The watcher's callback names the stream, which gets its key below.
    let io = ctx.new_io(fd.clone(), Events::empty(), |_, _, _, _| {})?;
    let st = State::<T>::new(fd, io, connecting);
    let key = ctx.ext_or_default::<Streams<T>>().map.insert(st);
    let id = StreamId {
        key,
        lp: ctx.loop_id(),
    };
    ctx.io(io)
        .map_err(io::Error::other)?
        .set_callback(move |ctx, data, _io, ev| on_io(ctx, data, id, ev));
    settle(ctx, id);
    Ok(id)
}

/// The io watcher's callback. While it runs the stream is marked
/// `dispatching`: views dropped in the user's callbacks leave the settling
/// to its end (one `settle` per event instead of one per view: a reply
/// queued by the read callback and sent right after never shows as a
/// change of interest).
///
/// The stream's state is looked up in the loop's extension slot once per
/// step (the event, the callback's return, the settling), not once per
/// helper: these lookups were a good part of what an event cost.
fn on_io<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: StreamId, ev: Events) {
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(ctx, data, id, ev)));
    settle_after_dispatch(ctx, id);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// What `on_io` does for an event; the caller settles the stream (a
/// stream that is gone is not settled, so marking it `dispatching` here,
/// in the lookup the event needs anyway, is enough).
fn dispatch<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: StreamId, ev: Events) {
    let Some(st) = state(ctx, id) else { return };
    st.dispatching = true;
    if let Some((error, direction)) = st.deferred_error.take() {
        fail(ctx, data, id, error, direction);
        return;
    }
    if ev.contains(Events::ERROR) {
        // The loop found the fd invalid and stopped the watcher.
        st.io_on = false;
        let e = io::Error::from_raw_os_error(libc::EBADF);
        fail(ctx, data, id, e, Direction::Read);
        return;
    }
    if st.failed {
        return;
    }
    if st.connecting {
        if ev.intersects(Events::READ | Events::WRITE) {
            finish_connect(ctx, data, id);
        }
        return;
    }
    let st = if ev.contains(Events::WRITE) {
        st.write_blocked = false;
        if st.wants_write() {
            let sent = send_out(st);
            if !write_done(ctx, data, id, sent) {
                return;
            }
        }
        if !ev.contains(Events::READ) {
            return;
        }
        let Some(st) = state(ctx, id) else { return };
        st
    } else {
        st
    };
    if ev.contains(Events::READ) {
        let step = read_step(st);
        read_done(ctx, data, id, step);
    }
}

fn finish_connect<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: StreamId) {
    let Some(st) = state(ctx, id) else { return };
    match sys::take_error(st.fd.as_fd()) {
        Ok(None) => {
            st.connecting = false;
            settle(ctx, id);
            emit(ctx, data, id, StreamEvent::Connected);
        }
        Ok(Some(e)) | Err(e) => fail(ctx, data, id, e, Direction::Write),
    }
}

/// One read of up to the read size (and the room below the high
/// watermark; `Buffer::read_from` applies its own per-call cap too), then
/// the read callback if input reached the low watermark. One call per
/// event keeps connections fair: the watcher is level-triggered, so what
/// is left is read in the next iteration.
///
/// At EOF the read callback runs once more if input holds anything (below
/// the low watermark too), before the `Eof` event: no more bytes will
/// come, so what is there is all there is (an unterminated last line, a
/// short last record), and a callback that reads lines with
/// [`BufferedStream::read_line`](super::BufferedStream::read_line) gets it.
///
/// `read_step` does the part that needs only the state (the read itself,
/// taking the callback out), `read_done` the rest with the loop.
enum ReadStep<T: 'static> {
    Nothing,
    Eof {
        rest: bool,
    },
    Data {
        timer: Option<TimerId>,
        cb: Option<Taken<DataCb<T>>>,
    },
    Failed(io::Error),
}

fn read_step<T: 'static>(st: &mut State<T>) -> ReadStep<T> {
    if !st.wants_read() {
        return ReadStep::Nothing;
    }
    let mut max = st.read_size.min(st.read_room());
    if let Some(r) = st.rate.as_deref() {
        // Above zero: `wants_read` found the limits open.
        max = max.min(r.allowance(Direction::Read));
    }
    match receive(st, max) {
        Ok(0) => {
            st.read_eof = true;
            ReadStep::Eof {
                rest: !st.input.is_empty(),
            }
        }
        Ok(n) => {
            if let Some(r) = st.rate.as_deref_mut() {
                r.spend(Direction::Read, n);
            }
            let timer = st.read_timer.filter(|_| st.read_timer_on);
            // A low mark above the high one could never be reached (reading
            // stops at the high one): the high one counts then.
            let low = st
                .watermarks
                .high()
                .map_or(st.watermarks.read_low, |h| st.watermarks.read_low.min(h));
            let cb = if st.input.len() >= low {
                st.on_read.take()
            } else {
                None
            };
            ReadStep::Data { timer, cb }
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            ReadStep::Nothing
        }
        Err(e) => ReadStep::Failed(e),
    }
}

fn read_done<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: StreamId, step: ReadStep<T>) {
    let st = match step {
        ReadStep::Nothing => state(ctx, id),
        ReadStep::Eof { rest } => {
            settle(ctx, id);
            if rest {
                call_data(ctx, data, id, Direction::Read);
            }
            emit(ctx, data, id, StreamEvent::Eof);
            state(ctx, id)
        }
        ReadStep::Failed(e) => {
            fail(ctx, data, id, e, Direction::Read);
            state(ctx, id)
        }
        ReadStep::Data { timer, cb } => {
            restart(ctx, timer);
            match cb {
                Some(taken) => run_taken(ctx, data, id, Direction::Read, taken),
                None => state(ctx, id),
            }
        }
    };
    // What the read callback queued usually fits into the socket right
    // away: send it now rather than after another poll.
    if let Some(st) = st.filter(|st| !st.write_blocked && st.wants_write()) {
        let sent = send_out(st);
        write_done(ctx, data, id, sent);
    }
}

/// What `send_out` did, for `write_done`.
struct Sent<T: 'static> {
    error: Option<io::Error>,
    sent: usize,
    timer: Option<TimerId>,
    /// The write callback, taken out: output fell to the low watermark.
    cb: Option<Taken<DataCb<T>>>,
}

/// Sends output until it is empty, the socket is full, or the write size
/// is reached (the state alone: the caller has it at hand, and
/// `write_done` does the rest with the loop).
fn send_out<T: 'static>(st: &mut State<T>) -> Sent<T> {
    let mut sent = 0;
    let error = loop {
        if st.output.is_empty() {
            break None;
        }
        if sent >= st.write_size {
            // The rest waits for the poller (as if the socket were full),
            // so one stream cannot keep the loop writing to it alone.
            st.write_blocked = true;
            break None;
        }
        let mut budget = st.write_size - sent;
        if let Some(r) = st.rate.as_deref() {
            budget = budget.min(r.allowance(Direction::Write));
            if budget == 0 {
                // Held back until the next tick (the stream no longer
                // wants to write, so it does not wait on the socket).
                break None;
            }
        }
        match send(st, budget) {
            Ok((n, tried)) => {
                sent += n;
                if let Some(r) = st.rate.as_deref_mut() {
                    r.spend(Direction::Write, n);
                }
                if n < tried {
                    // The socket is full; it says when it has room again.
                    st.write_blocked = true;
                    break None;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                st.write_blocked = true;
                break None;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Some(e),
        }
    };
    let (mut timer, mut cb) = (None, None);
    if error.is_none() && sent > 0 {
        timer = st.write_timer.filter(|_| st.write_timer_on);
        if st.output.len() <= st.watermarks.write_low {
            cb = st.on_write.take();
        }
    }
    Sent {
        error,
        sent,
        timer,
        cb,
    }
}

/// The rest of a write, with the loop: the error, the write timeout, then
/// the write callback if output fell to the low watermark. Returns whether
/// the stream is still there and working.
fn write_done<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: StreamId, s: Sent<T>) -> bool {
    if let Some(e) = s.error {
        fail(ctx, data, id, e, Direction::Write);
        return false;
    }
    if s.sent > 0 {
        restart(ctx, s.timer);
        if let Some(taken) = s.cb {
            return run_taken(ctx, data, id, Direction::Write, taken).is_some_and(|st| !st.failed);
        }
    }
    // Nothing ran since the state was seen working (a send is only tried
    // on a stream that wants to write, which a failed one does not).
    true
}

/// One read of at most `max` bytes: `recv` on a socket, `read` on
/// anything else (found out by the first `ENOTSOCK`).
#[inline]
fn receive<T>(st: &mut State<T>, max: usize) -> io::Result<usize> {
    if st.socket {
        match st
            .input
            .read_via(st.fd.as_fd(), max, Calls::Socket { sendfile: false })
        {
            Err(e) if e.raw_os_error() == Some(libc::ENOTSOCK) => st.socket = false,
            r => return r,
        }
    }
    st.input.read_from(st.fd.as_fd(), max)
}

/// One send of at most `max` bytes. Returns what was sent and what was
/// offered.
///
/// On a socket: `send`/`sendmsg` with `MSG_NOSIGNAL`, so a peer that went
/// away is an `EPIPE` error value whatever the process's `SIGPIPE`
/// disposition is now. A file segment goes out with `sendfile` only if
/// `SIGPIPE` was ignored when the stream's first file segment came to the
/// front (see `State::sendfile_ok`), otherwise read and sent in pieces.
fn send<T>(st: &mut State<T>, max: usize) -> io::Result<(usize, usize)> {
    let offered = st.output.len().min(max);
    if st.socket {
        let sendfile = st.output.starts_with_unread_file()
            && *st.sendfile_ok.get_or_insert_with(sys::sigpipe_ignored);
        match st
            .output
            .write_via(st.fd.as_fd(), max, Calls::Socket { sendfile })
        {
            Err(e) if e.raw_os_error() == Some(libc::ENOTSOCK) => st.socket = false,
            r => return r.map(|sent| (sent, offered)),
        }
    }
    let sent = st.output.write_to(st.fd.as_fd(), max)?;
    Ok((sent, offered))
}

/// Restarts a running timeout after progress.
#[inline]
fn restart<T>(ctx: &mut Ctx<'_, T>, timer: Option<TimerId>) {
    if let Some(mut t) = timer.and_then(|t| ctx.timer(t).ok()) {
        t.again();
    }
}

pub(super) fn on_timeout<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    id: StreamId,
    dir: Direction,
) {
    let Some(st) = state(ctx, id) else { return };
    match dir {
        Direction::Read => st.read_enabled = false,
        Direction::Write => st.write_enabled = false,
    }
    settle(ctx, id);
    emit(ctx, data, id, StreamEvent::Timeout(dir));
}

/// Stops both directions and reports the error with the unsent count.
/// A pending flushed close happens after the report (in `emit`), not
/// before: the event callback hears of the error first.
fn fail<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    id: StreamId,
    error: io::Error,
    direction: Direction,
) {
    let Some(st) = state(ctx, id) else { return };
    st.failed = true;
    let unsent = st.output.len();
    apply(ctx, id);
    let ev = StreamEvent::Error {
        error,
        direction,
        unsent,
    };
    emit(ctx, data, id, ev);
}
