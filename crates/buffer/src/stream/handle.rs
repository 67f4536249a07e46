//! [`BufferedStream`]: a stream borrowed from the loop.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use bytes::Bytes;
use evloop::{Ctx, Priority};

use super::driver::state;
use super::settle;
use super::state::{Closing, State, Streams};
use super::{sys, Direction, RateGroupId, RateLimit, StreamEvent, StreamId, Watermarks};
use crate::{Buffer, Eol};

/// One buffered stream, borrowed from the loop by
/// [`ctx.stream(id)`](super::StreamExt::stream): its buffers, settings and
/// callbacks. Dropping it (usually at the end of the statement) applies
/// what changed: queued output gets sent, drained input resumes reading.
///
/// Because it acts when dropped, the view holds the loop until the end of
/// its scope: use it within one statement (`ctx.stream(id)?.write(..)`),
/// or `drop` it before calling the loop or borrowing another stream. For
/// the same reason, loop over lines with `loop { let Some(line) = ... else
/// { break }; ... }` rather than `while let`, whose scrutinee lives through
/// the body.
///
/// ```
/// use evloop::{Loop, RunMode};
/// use evloop_buffer::{Eol, StreamExt};
///
/// let mut lp: Loop<Vec<String>> = Loop::new()?;
/// let mut ctx = lp.ctx(); // outside callbacks, the loop's Ctx
/// let (a, b) = ctx.new_stream_pair()?;
/// ctx.stream(b)?.on_read(|ctx, lines, id| {
///     let mut s = ctx.stream(id).unwrap();
///     while let Some(line) = s.read_line(Eol::Lf) {
///         lines.push(String::from_utf8_lossy(&line).into_owned());
///     }
///     if lines.len() == 2 {
///         s.close(); // and `a`, when its output is flushed:
///     }
/// });
/// let mut s = ctx.stream(a)?;
/// s.write(b"hello\nworld\n");
/// assert_eq!(s.close_when_flushed(), 0, "nothing dropped: it will all be sent");
/// let mut lines = Vec::new();
/// lp.run(&mut lines, RunMode::Default)?; // returns once both are closed
/// assert_eq!(lines, ["hello", "world"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BufferedStream<'a, T: 'static> {
    ctx: Ctx<'a, T>,
    id: StreamId,
    /// The stream's io callback is running (it cannot start or end while
    /// the view borrows the loop): it settles the stream itself, so the
    /// view's drop has nothing to do and need not look the stream up.
    dispatching: bool,
}

impl<T: 'static> fmt::Debug for BufferedStream<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.st_ref();
        f.debug_struct("BufferedStream")
            .field("id", &self.id)
            .field("input", &st.input.len())
            .field("output", &st.output.len())
            .field("read_enabled", &st.read_enabled)
            .field("write_enabled", &st.write_enabled)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Drop for BufferedStream<'_, T> {
    fn drop(&mut self) {
        if !self.dispatching {
            settle::settle_view(&mut self.ctx, self.id);
        }
    }
}

impl<'a, T: 'static> BufferedStream<'a, T> {
    pub(super) fn new(mut ctx: Ctx<'a, T>, id: StreamId) -> Result<Self, evloop::Error> {
        if id.lp != ctx.loop_id() {
            return Err(evloop::Error::ForeignHandle);
        }
        let Some(st) = state(&mut ctx, id) else {
            return Err(evloop::Error::StaleHandle);
        };
        let dispatching = st.dispatching;
        Ok(BufferedStream {
            ctx,
            id,
            dispatching,
        })
    }

    // The view borrows the loop exclusively and only `close` (which
    // consumes it) removes the stream, so the state is always there.
    fn st(&mut self) -> &mut State<T> {
        match state(&mut self.ctx, self.id) {
            Some(st) => st,
            None => unreachable!("a BufferedStream's stream exists while it is borrowed"),
        }
    }

    fn st_ref(&self) -> &State<T> {
        match self
            .ctx
            .ext::<Streams<T>>()
            .and_then(|s| s.map.get(self.id.key))
        {
            Some(st) => st,
            None => unreachable!("a BufferedStream's stream exists while it is borrowed"),
        }
    }

    /// Its handle.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// The bytes read and not consumed yet. Consume them with the
    /// [`Buffer`] methods (`read_line`, `split_to`, `drain`, ...).
    pub fn input(&mut self) -> &mut Buffer {
        &mut self.st().input
    }

    /// The next line of input, without its line end (which is consumed
    /// too), as [`Buffer::read_line`] gives it; and once the peer has sent
    /// EOF, the unterminated rest of the input as the last line, as
    /// [`BufRead::lines`](std::io::BufRead::lines) does. `None` while no
    /// complete line is buffered (and, at EOF, once input is empty).
    ///
    /// Call it in the read callback until it returns `None`: at EOF the
    /// read callback runs once more if input is not empty, so a last line
    /// without a line end is delivered there too (see
    /// [Events](crate::stream#events)).
    ///
    /// **A peer that never sends a line end makes input grow** until the
    /// read high watermark stops reading, or without bound if none is set.
    /// Set one ([`Watermarks::read_high`]) at the longest line you accept,
    /// and drop the client when input reaches it without a line end:
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    /// use evloop_buffer::{Eol, StreamExt, Watermarks};
    ///
    /// const MAX_LINE: usize = 64;
    /// #[derive(Default)]
    /// struct Log { lines: Vec<String>, refused: bool }
    ///
    /// let mut lp: Loop<Log> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let (client, server) = ctx.new_stream_pair()?;
    /// let mut s = ctx.stream(server)?;
    /// s.set_watermarks(Watermarks { read_high: Some(MAX_LINE), ..Watermarks::default() });
    /// s.on_read(|ctx, log, id| {
    ///     let mut s = ctx.stream(id).unwrap();
    ///     while let Some(line) = s.read_line(Eol::Lf) {
    ///         log.lines.push(String::from_utf8_lossy(&line).into_owned());
    ///     }
    ///     if s.input().len() >= MAX_LINE {
    ///         // MAX_LINE bytes and no line end: reading has stopped at the
    ///         // watermark, and waiting would not help.
    ///         log.refused = true;
    ///         s.close();
    ///     }
    /// });
    /// drop(s);
    /// let mut c = ctx.stream(client)?;
    /// c.write(b"short\n");
    /// c.write(&[b'x'; 1000]); // no line end, ever
    /// drop(c);
    /// let mut log = Log::default();
    /// lp.run(&mut log, RunMode::Default)?; // ends: the server closed, the client saw EOF
    /// assert_eq!(log.lines, ["short"]);
    /// assert!(log.refused);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_line(&mut self, style: Eol) -> Option<Bytes> {
        let st = self.st();
        let eof = st.read_eof;
        st.input.read_line_or_rest(style, eof)
    }

    /// The bytes queued for sending. Anything added here is sent (once this
    /// view is dropped); [`write`](Self::write) is the short form.
    pub fn output(&mut self) -> &mut Buffer {
        &mut self.st().output
    }

    /// The input and the output at once: for a request/reply server that
    /// parses requests out of the input while it appends replies to the
    /// output, without taking either out of the stream.
    pub fn buffers(&mut self) -> (&mut Buffer, &mut Buffer) {
        let st = self.st();
        (&mut st.input, &mut st.output)
    }

    /// The input and the output together with the loop's extension value
    /// of type `E` (see [`Ctx::insert_ext`](evloop::Ctx::insert_ext)), all
    /// at once: for a library that keeps its per-connection state in its
    /// own extension value and moves data between it and the stream (a
    /// server that swaps the stream's buffers with its connection's) in one
    /// look, without taking the buffers out. `None` if the loop holds no
    /// `E`.
    ///
    /// ```
    /// use evloop::{Loop, RunMode};
    /// use evloop_buffer::{Buffer, StreamExt};
    ///
    /// #[derive(Default)]
    /// struct Parked(Buffer);
    ///
    /// let mut lp: Loop<()> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let (a, _b) = ctx.new_stream_pair()?;
    /// ctx.ext_or_default::<Parked>().0.add(b"later");
    /// let mut s = ctx.stream(a)?;
    /// let (_input, output, parked) = s.buffers_with_ext::<Parked>().unwrap();
    /// std::mem::swap(output, &mut parked.0);
    /// assert_eq!(s.output().len(), 5);
    /// assert!(s.buffers_with_ext::<String>().is_none(), "no String in this loop");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn buffers_with_ext<E: 'static>(&mut self) -> Option<(&mut Buffer, &mut Buffer, &mut E)> {
        let key = self.id.key;
        let (streams, e) = self.ctx.ext_pair_mut::<Streams<T>, E>()?;
        let st = streams.map.get_mut(key)?;
        Some((&mut st.input, &mut st.output, e))
    }

    /// Queues a copy of `data` for sending.
    pub fn write(&mut self, data: &[u8]) {
        self.st().output.add(data);
    }

    /// Queues `data` for sending without copying it.
    pub fn write_bytes(&mut self, data: Bytes) {
        self.st().output.add_bytes(data);
    }

    /// Moves all of `buf` into the output, without copying (libevent's
    /// `bufferevent_write_buffer`).
    pub fn write_buffer(&mut self, buf: &mut Buffer) {
        self.st().output.append_buffer(buf);
    }

    /// Sets the read callback: it runs after a read when input holds at
    /// least the read low watermark. Replaces the previous one (a callback
    /// may replace itself).
    pub fn on_read<F>(&mut self, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, StreamId) + 'static,
    {
        self.st().on_read.set(Box::new(cb));
    }

    /// Sets the write callback: it runs after a write that left output at
    /// or below the write low watermark (by default: empty).
    pub fn on_write<F>(&mut self, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, StreamId) + 'static,
    {
        self.st().on_write.set(Box::new(cb));
    }

    /// Sets the event callback (see [`StreamEvent`]). Without one, every
    /// event but `Connected` closes the stream.
    pub fn on_event<F>(&mut self, cb: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, StreamId, StreamEvent) + 'static,
    {
        self.st().on_event.set(Box::new(cb));
    }

    /// Removes the read and write callbacks (the event callback stays).
    pub fn clear_data_callbacks(&mut self) {
        let st = self.st();
        st.on_read.clear();
        st.on_write.clear();
    }

    /// Turns a direction on: reading resumes (unless at EOF), queued
    /// output is sent. Also how a direction that timed out is restarted.
    /// Both are on when a stream is made.
    pub fn enable(&mut self, dir: Direction) {
        let st = self.st();
        match dir {
            Direction::Read => st.read_enabled = true,
            Direction::Write => st.write_enabled = true,
        }
    }

    /// Turns a direction off: no reads (the peer's data waits in the
    /// kernel), or no writes (output stays queued). Its timeout stops.
    pub fn disable(&mut self, dir: Direction) {
        let st = self.st();
        match dir {
            Direction::Read => st.read_enabled = false,
            Direction::Write => st.write_enabled = false,
        }
    }

    /// Whether the direction is enabled.
    pub fn is_enabled(&self, dir: Direction) -> bool {
        let st = self.st_ref();
        match dir {
            Direction::Read => st.read_enabled,
            Direction::Write => st.write_enabled,
        }
    }

    /// The watermarks.
    pub fn watermarks(&self) -> Watermarks {
        self.st_ref().watermarks
    }

    /// Sets the watermarks (see the [module docs](crate::stream)).
    pub fn set_watermarks(&mut self, wm: Watermarks) {
        self.st().watermarks = wm;
    }

    /// The read and write timeouts.
    pub fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        let st = self.st_ref();
        (st.read_timeout, st.write_timeout)
    }

    /// Sets the read and write timeouts; `None` (or zero) means none. See
    /// the [module docs](crate::stream#timeouts) for when they run.
    ///
    /// # Errors
    ///
    /// [`evloop::Error::InvalidArgument`] for durations beyond 292 years.
    pub fn set_timeouts(
        &mut self,
        read: Option<Duration>,
        write: Option<Duration>,
    ) -> Result<(), evloop::Error> {
        settle::set_timeout(&mut self.ctx, self.id, Direction::Read, read)?;
        settle::set_timeout(&mut self.ctx, self.id, Direction::Write, write)
    }

    /// The stream's rate limit, if it has one.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.st_ref().rate.as_deref()?.own.as_ref().map(|r| r.limit)
    }

    /// Limits how fast the stream reads and sends (libevent's
    /// `bufferevent_set_rate_limit`; see [`RateLimit`]), or, with `None`,
    /// lifts the limit. A direction whose bucket is empty waits for the
    /// next tick as it waits below the read high watermark: it stops
    /// asking the socket, and its timeout does not run meanwhile.
    /// Replacing a limit keeps what the buckets hold, cut down to the new
    /// bursts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, RunMode};
    /// use evloop_buffer::{RateLimit, StreamExt};
    ///
    /// let mut lp: Loop<usize> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let (a, b) = ctx.new_stream_pair()?;
    /// // 1,000 bytes every 10 ms: 3,000 bytes need at least two refills.
    /// let limit = RateLimit::new(Duration::from_millis(10)).write(1_000, 1_000);
    /// let mut s = ctx.stream(a)?;
    /// s.set_rate_limit(Some(limit))?;
    /// s.write(&[7; 3_000]);
    /// assert_eq!(s.close_when_flushed(), 0);
    /// ctx.stream(b)?.on_read(|ctx, got, id| {
    ///     let mut s = ctx.stream(id).unwrap();
    ///     *got += s.input().len();
    ///     s.input().clear();
    ///     if *got == 3_000 {
    ///         s.close();
    ///     }
    /// });
    /// let start = std::time::Instant::now();
    /// let mut got = 0;
    /// lp.run(&mut got, RunMode::Default)?;
    /// assert_eq!(got, 3_000);
    /// assert!(start.elapsed() >= Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`evloop::Error::InvalidArgument`] for a limit that cannot work (a
    /// zero tick or rate, a burst below the rate); nothing changes then.
    pub fn set_rate_limit(&mut self, limit: Option<RateLimit>) -> Result<(), evloop::Error> {
        super::refill::set_rate_limit(&mut self.ctx, self.id, limit)
    }

    /// The bytes `dir` may move before its bucket is empty (libevent's
    /// `bufferevent_get_read_limit`/`_write_limit`): negative after a
    /// large [`charge`](Self::charge_rate_limit), `None` if the direction
    /// is not limited.
    pub fn rate_allowance(&self, dir: Direction) -> Option<i64> {
        self.st_ref().rate.as_deref()?.own.as_ref()?.tokens(dir)
    }

    /// Takes `n` bytes from `dir`'s bucket, for bytes the application
    /// moved some other way (libevent's
    /// `bufferevent_decrement_read_limit`/`_write_limit`); a negative `n`
    /// gives tokens back, up to the burst. A bucket can go below zero: the
    /// direction then waits for as many ticks as pay the debt. Nothing
    /// happens to an unlimited direction.
    pub fn charge_rate_limit(&mut self, dir: Direction, n: i64) {
        if let Some(r) = self.st().rate.as_deref_mut().and_then(|l| l.own.as_mut()) {
            r.charge(dir, n);
        }
    }

    /// The rate group the stream is in, if any.
    pub fn rate_group(&mut self) -> Option<RateGroupId> {
        let id = self.id;
        super::group::group_of(&mut self.ctx, id)
    }

    /// Puts the stream in a rate group (libevent's
    /// `bufferevent_add_to_rate_limit_group`), out of the one it was in;
    /// `None` takes it out (`bufferevent_remove_from_rate_limit_group`).
    /// The group's limit applies on top of the stream's own
    /// [`set_rate_limit`](Self::set_rate_limit), if it has one: a read or
    /// send takes at most what both allow.
    ///
    /// # Errors
    ///
    /// [`evloop::Error::StaleHandle`] if the group was removed,
    /// [`evloop::Error::ForeignHandle`] if it is another loop's; nothing
    /// changes then.
    pub fn set_rate_group(&mut self, group: Option<RateGroupId>) -> Result<(), evloop::Error> {
        let id = self.id;
        super::group::set_stream_group(&mut self.ctx, id, group)
    }

    /// How many bytes one read asks for at most (clamped to 1 up to
    /// [`Buffer::MAX_READ_LIMIT`]; default
    /// [`DEFAULT_READ_SIZE`](super::DEFAULT_READ_SIZE)).
    pub fn set_read_size(&mut self, n: usize) {
        let st = self.st();
        st.read_size = n.clamp(1, Buffer::MAX_READ_LIMIT);
        // The input buffer caps each read too; it must not undercut this.
        st.input.set_max_read(st.read_size);
    }

    /// How many bytes one writable event sends at most (at least 1;
    /// default [`DEFAULT_WRITE_SIZE`](super::DEFAULT_WRITE_SIZE)).
    pub fn set_write_size(&mut self, n: usize) {
        self.st().write_size = n.max(1);
    }

    /// The read size.
    pub fn read_size(&self) -> usize {
        self.st_ref().read_size
    }

    /// The write size.
    pub fn write_size(&self) -> usize {
        self.st_ref().write_size
    }

    /// A connect is still in progress.
    pub fn is_connecting(&self) -> bool {
        self.st_ref().connecting
    }

    /// The peer sent EOF.
    pub fn is_eof(&self) -> bool {
        self.st_ref().read_eof
    }

    /// An error was reported; the stream moves no more bytes.
    pub fn has_failed(&self) -> bool {
        self.st_ref().failed
    }

    /// Whether the stream waits on its socket now: for reading (enabled,
    /// no EOF, below the read high watermark), or for writing (output
    /// queued, or a connect in progress); or on its
    /// [rate limit](Self::set_rate_limit)'s next tick, while a bucket is
    /// below its burst. Only then does it keep
    /// [`run`](evloop::Loop::run) going (see
    /// [`set_keepalive`](Self::set_keepalive)); a stream that waits for
    /// nothing stays open but idle until the application enables a
    /// direction, queues output or closes it.
    pub fn is_active(&self) -> bool {
        let st = self.st_ref();
        !st.interest().is_empty()
            || st.rate.as_deref().is_some_and(|l| {
                l.own.as_ref().is_some_and(|r| r.timer_on)
                    || l.group.as_ref().is_some_and(|g| {
                        [Direction::Read, Direction::Write]
                            .into_iter()
                            .any(|d| g.cell.held(d))
                    })
            })
    }

    /// The priority of the stream's watchers.
    pub fn priority(&self) -> Priority {
        self.st_ref().priority
    }

    /// Sets the priority of the stream's io watcher and timers (see
    /// [`evloop::Priority`]): in an iteration where several things are
    /// ready, the callbacks of higher-priority streams run first. Default
    /// [`Priority::DEFAULT`].
    pub fn set_priority(&mut self, priority: Priority) {
        let st = self.st();
        // The stream alone sets its watchers' priority, and gives new
        // timers its own: watchers never differ from the stream.
        if st.priority == priority {
            return;
        }
        st.priority = priority;
        let (io, timers) = (st.io, st.timers());
        settle::set_watchers_priority(&mut self.ctx, io, timers, priority);
    }

    /// Whether the stream keeps [`run`](evloop::Loop::run) going while it
    /// is [active](Self::is_active).
    pub fn keepalive(&self) -> bool {
        self.st_ref().keepalive
    }

    /// Whether the stream keeps [`run`](evloop::Loop::run) (in
    /// `RunMode::Default`) going while it is [active](Self::is_active) (the
    /// default), or not: a stream with keepalive off is still served while
    /// the loop runs, but `run` returns once only such streams and
    /// watchers are left (a control connection, a log sink, a connection
    /// to a service that should not by itself keep the program alive).
    /// evloop's `Watcher::set_keepalive` for the stream's watchers.
    pub fn set_keepalive(&mut self, keepalive: bool) {
        let st = self.st();
        // As for the priority, the watchers always have the stream's.
        if st.keepalive == keepalive {
            return;
        }
        st.keepalive = keepalive;
        let (io, timers) = (st.io, st.timers());
        settle::set_watchers_keepalive(&mut self.ctx, io, timers, keepalive);
    }

    /// The socket, for socket options (`TCP_NODELAY`, ...) and addresses.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.st_ref().fd.as_fd()
    }

    /// Sets `TCP_NODELAY` on the stream's socket (`setsockopt`): with it
    /// on, each send goes out at once instead of waiting, Nagle-style,
    /// for the acknowledgement of the previous one. One system call, on
    /// the socket itself (no duplicate descriptor to make and close).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error: `EOPNOTSUPP` or `ENOPROTOOPT` for a socket
    /// that is not TCP, `ENOTSOCK` for a pipe.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sys::set_int_option(self.fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, on.into())
    }

    /// The local address of the stream's socket (`getsockname`): after a
    /// [`new_stream_connect`](crate::StreamExt::new_stream_connect), the
    /// address and port the kernel picked. `None` for a socket that is not
    /// an IP one (Unix-domain).
    ///
    /// # Errors
    ///
    /// The `getsockname` error (`ENOTSOCK` for a pipe).
    pub fn local_addr(&self) -> io::Result<Option<SocketAddr>> {
        sys::local_ip_addr(self.fd())
    }

    /// Closes the stream now: its watchers go, the socket is closed and
    /// both buffers are dropped; the handle is stale from now on.
    ///
    /// Returns how many queued output bytes this dropped unsent (0 if
    /// everything went out). [`close_when_flushed`](Self::close_when_flushed)
    /// returns the same count, for the same reason: every call that closes
    /// a stream says how much data it threw away, so that no loss is
    /// silent; `close` throws away what is queued, `close_when_flushed`
    /// only what can no longer be sent.
    pub fn close(mut self) -> usize {
        settle::close(&mut self.ctx, self.id)
    }

    /// Stops reading and closes the stream once its output has been sent
    /// (at once if it is empty). The read and write callbacks are not
    /// called any more.
    ///
    /// Returns, as [`close`](Self::close) does, how many queued output
    /// bytes this call dropped unsent: 0, unless the stream has failed
    /// already (an [`Error`](StreamEvent::Error) was reported), in which
    /// case nothing more can be sent and it closes at once, dropping its
    /// output. If sending fails later, the event callback gets the error
    /// with the unsent count (as for any failed write), and the stream is
    /// closed right after it.
    pub fn close_when_flushed(mut self) -> usize {
        let st = self.st();
        if st.failed {
            return settle::close(&mut self.ctx, self.id);
        }
        st.closing = Some(Closing::Close);
        st.write_enabled = true;
        st.on_read.clear();
        st.on_write.clear();
        0
    }

    /// Half-close: once the output has been sent, shuts down the write side
    /// (the peer reads EOF) and goes on reading. Data queued after that is
    /// reported as an error, not dropped silently.
    pub fn shutdown_when_flushed(&mut self) {
        let st = self.st();
        st.closing = Some(Closing::Shutdown);
        st.write_enabled = true;
    }
}
