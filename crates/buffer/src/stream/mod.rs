//! Buffered streams (libevent's bufferevent): a non-blocking socket with an
//! input and an output [`Buffer`], moved by the loop.
//!
//! # Model
//!
//! * A stream lives **inside the loop**: its state (socket, both buffers,
//!   settings, callbacks) is an entry of this crate's table, kept in the
//!   loop's extension slot ([`Ctx::ext_mut`](evloop::Ctx::ext_mut)), and it
//!   has an io watcher and timers of its own that no handle outside the
//!   crate reaches (their priority and keepalive are the stream's:
//!   [`BufferedStream::set_priority`], [`BufferedStream::set_keepalive`]).
//!   A [`StreamId`] (a `Copy` handle carrying its loop's
//!   identity) names it; once the stream is closed the handle is stale and
//!   [`StreamExt::stream`] returns [`evloop::Error::StaleHandle`] (and
//!   [`evloop::Error::ForeignHandle`] for a handle of another loop).
//! * [`ctx.stream(id)`](StreamExt::stream) lends a [`BufferedStream`], a
//!   short-lived view that borrows the loop: read `input()`, queue data
//!   with `write()`, change settings, close. When the view is dropped the
//!   stream re-computes what it waits for (READ while it may read, WRITE
//!   while output is queued) and its timers; inside the stream's own read
//!   and write callbacks this waits until the stream has handled the event
//!   (a reply queued by the read callback is sent right after it, so the
//!   loop never needs to be told to wait for writability). So a callback can reach any
//!   stream, its own or others, one after the other, with nothing but the
//!   `&mut Ctx<'_, T>` it got: no `Rc<RefCell<_>>`.
//! * Callbacks are `FnMut(&mut Ctx<'_, T>, &mut T, StreamId)` (read, write) and
//!   `FnMut(&mut Ctx<'_, T>, &mut T, StreamId, StreamEvent)` (events). They are
//!   stored in the stream and **taken out while they run**, then put back
//!   unless the callback installed a replacement or the stream was closed.
//!   So a callback may close its own stream, replace itself, or write to
//!   every other stream. A callback that panics is put back too, and the
//!   panic propagates out of `run`, as with evloop's own watchers.
//! * Callbacks run only from the loop (from the stream's io watcher, its
//!   timers, or a fed event), never from inside a [`BufferedStream`]
//!   method: queueing data or closing never re-enters user code.
//! * Writes are sent when the socket is writable; right after the stream's
//!   own read callback queued data, the stream tries to send it at once
//!   (usually saving a round through the poll).
//!
//! # Events
//!
//! [`StreamEvent::Connected`] ends a [`connect`](StreamExt::new_stream_connect).
//! [`Eof`](StreamEvent::Eof) means the peer will send nothing more; reading
//! stops, writing goes on (half-close). Just before it, if input still
//! holds bytes, the read callback runs once more (whatever the read low
//! watermark), with [`is_eof`](BufferedStream::is_eof) true: an
//! unterminated last line ([`BufferedStream::read_line`] returns it then)
//! or a short last record is not stranded, and a stream without an event
//! callback does not drop it. [`Timeout`](StreamEvent::Timeout)
//! disables the direction that timed out. [`Error`](StreamEvent::Error)
//! stops both directions and says how many queued bytes were not sent
//! (they stay in `output()`); the stream is not closed by it, so the
//! callback decides; but a stream that was asked to
//! [`close_when_flushed`](BufferedStream::close_when_flushed) is closed
//! right after the event callback has heard of the error. A stream
//! **without an event callback** is closed by any event but `Connected`
//! (after flushing its output, for `Eof`): otherwise nothing would ever
//! free it.
//!
//! # Watermarks (libevent's semantics)
//!
//! * read low: the read callback runs only when input holds at least this
//!   much (default 0: on every read).
//! * read high: reading stops while input holds this much or more, and
//!   resumes once the application drains it below (back-pressure: the
//!   peer's further data waits in the kernel, then in the peer). Each read
//!   asks for at most the room left below the mark, so input never exceeds
//!   it. Default: none.
//! * write low: after a write, the write callback runs if output holds
//!   this much or less (default 0: when output has emptied).
//!
//! # Timeouts
//!
//! A read timeout runs only while the stream wants to read (reading
//! enabled, no EOF, not held back by the read high watermark); a write
//! timeout only while it wants to write (output queued, or a connect in
//! progress). Each read, or each write that makes progress, starts its
//! timeout afresh. On expiry that direction is disabled and the event
//! callback gets `Timeout(direction)`; `enable` restarts it.
//!
//! # Rate limits
//!
//! [`BufferedStream::set_rate_limit`] bounds how fast a stream reads and
//! sends, with a token bucket per direction ([`RateLimit`], libevent's
//! `ev_token_bucket_cfg`): each tick adds `rate` bytes' worth, up to
//! `burst`; each read or send takes at most what the bucket holds. A
//! direction whose bucket is empty is held back like a reader above its
//! high watermark (it stops waiting on the socket, and its timeout
//! pauses) until the next tick. The refill is a timer of the stream's
//! own that runs only while a bucket is below its burst: a stream that
//! stays under its rate is never held back, and one without a limit pays
//! nothing for the feature.
//!
//! A **rate group** ([`StreamExt::new_rate_group`], libevent's
//! `bufferevent_rate_limit_group`) limits the sum of its members (every
//! download of a server, say), on top of each member's own limit. Each
//! read or send of a member takes at most an equal share of the group's
//! tokens, and at least [`DEFAULT_MIN_SHARE`] bytes
//! ([`RateGroup::set_min_share`]), so the bucket may go a little below
//! zero; the ticks pay that back. When the bucket is empty every member is
//! held back in that direction until the group's next tick lets them all
//! go. [`RateGroup::totals`] counts what the members moved.
//!
//! # SIGPIPE, and the system calls a stream makes
//!
//! Writing to a socket whose peer is gone fails with `EPIPE`, reported as
//! an [`Error`](StreamEvent::Error) event, and must not kill the process,
//! whatever its `SIGPIPE` disposition (Rust binaries ignore the signal,
//! but a C host or a program that restored the default does not). On a
//! socket a stream reads with `recv` and sends with `send`/`sendmsg` and
//! `MSG_NOSIGNAL`: they never raise the signal, and they skip the file
//! layer a `read` or `write` goes through (about 65 ns less a call). A
//! file segment goes out with `sendfile` if the process ignores `SIGPIPE`
//! (asked once, when the stream's first file segment reaches the front
//! of its output), and otherwise is read and sent in pieces of at most
//! 64 KiB. A stream on
//! something else (a pipe, a terminal) learns so from its first
//! `ENOTSOCK` and uses `read` and `write`, as [`Buffer`] does; a pipe
//! whose reader is gone raises `SIGPIPE` there unless it is ignored.
//!
//! [`Buffer`]: crate::Buffer

pub(crate) mod callback;
mod connect;
mod driver;
mod group;
mod handle;
mod notify;
mod options;
mod pair;
mod rate;
mod refill;
mod settle;
mod state;
pub(crate) mod sys;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use evloop::{Ctx, LoopId};

pub use group::{RateGroup, RateGroupId, DEFAULT_MIN_SHARE};
pub use handle::BufferedStream;
pub use options::{Watermarks, DEFAULT_READ_SIZE, DEFAULT_WRITE_SIZE};
pub use rate::RateLimit;
use state::StreamKey;

/// Names a buffered stream: a small `Copy` handle. It goes stale (every
/// call fails with [`evloop::Error::StaleHandle`]) once the stream is
/// closed, even if a new stream reuses its slot; used with another loop
/// than its own it fails with [`evloop::Error::ForeignHandle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    pub(crate) key: StreamKey,
    pub(crate) lp: LoopId,
}

/// A direction of a stream: reading (input) or writing (output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Reading from the socket into input.
    Read,
    /// Writing output to the socket.
    Write,
}

/// What the event callback is told.
#[derive(Debug)]
pub enum StreamEvent {
    /// A [`new_stream_connect`](StreamExt::new_stream_connect) succeeded.
    Connected,
    /// The peer will send nothing more (it closed or shut down its write
    /// side). Reading has stopped; writing still works.
    Eof,
    /// Nothing could be read, or nothing written, for the direction's
    /// timeout. That direction has been disabled.
    Timeout(Direction),
    /// A socket call failed (a connect that was refused, `ECONNRESET`,
    /// `EPIPE`, ...). Both directions have stopped; the stream stays open
    /// until closed.
    Error {
        /// What the system call returned.
        error: io::Error,
        /// Whether it happened while reading or while writing (a failed
        /// connect counts as writing).
        direction: Direction,
        /// Bytes queued for sending that did not go out; they are still in
        /// `output()`.
        unsent: usize,
    },
}

/// Stream calls on evloop's [`Ctx`] (outside callbacks, `Loop::ctx()`
/// gives one). `T` is the loop's application state.
pub trait StreamExt<T: 'static> {
    /// Makes a buffered stream of a connected socket (a `TcpStream`,
    /// `UnixStream`, an [`Accepted`](crate::Accepted) connection, any
    /// stream socket as `OwnedFd`). It is made non-blocking and starts
    /// reading at once; set the callbacks before the loop runs again.
    ///
    /// # Errors
    ///
    /// If the socket cannot be made non-blocking or the loop refuses the
    /// watcher.
    fn new_stream(&mut self, socket: impl Into<OwnedFd>) -> io::Result<StreamId>;

    /// Makes a stream and starts a non-blocking TCP connect to `addr` with
    /// it. The event callback gets
    /// [`StreamEvent::Connected`], or [`StreamEvent::Error`] (direction
    /// `Write`) if it failed, refused ones included; the write timeout, if
    /// set, bounds the wait. Data written meanwhile is sent once connected.
    ///
    /// # Errors
    ///
    /// Only if no socket could be created (out of fds, ...); a failing
    /// connect is reported as an event.
    fn new_stream_connect(&mut self, addr: SocketAddr) -> io::Result<StreamId>;

    /// Makes a stream and connects it, without blocking, to the Unix
    /// stream socket at `path`, with the same events as
    /// [`new_stream_connect`](StreamExt::new_stream_connect). A local
    /// connect is decided at once: [`StreamEvent::Connected`] comes on the
    /// next iteration, or [`StreamEvent::Error`] (direction `Write`) with
    /// the reason: no such socket, refused, or `EAGAIN` when the
    /// listener's backlog is full (where std's blocking
    /// `UnixStream::connect` would stall the loop until the peer accepts).
    ///
    /// # Errors
    ///
    /// If no socket could be created, or `path` is not a filesystem path
    /// that fits a `sockaddr_un` (at most 107 bytes, no NUL byte): the
    /// latter is `InvalidInput`.
    fn new_stream_connect_unix(&mut self, path: &Path) -> io::Result<StreamId>;

    /// Two streams connected to each other through a Unix socketpair
    /// (libevent's `bufferevent_pair_new`): for tests, and for handing
    /// bytes between parts of one program.
    ///
    /// # Errors
    ///
    /// If `socketpair` fails.
    fn new_stream_pair(&mut self) -> io::Result<(StreamId, StreamId)>;

    /// Borrows the stream `id` (see the [module docs](crate::stream)).
    ///
    /// # Errors
    ///
    /// [`evloop::Error::StaleHandle`] if it was closed,
    /// [`evloop::Error::ForeignHandle`] if it is another loop's.
    fn stream(&mut self, id: StreamId) -> Result<BufferedStream<'_, T>, evloop::Error>;

    /// A rate group with `limit` and no members yet (libevent's
    /// `bufferevent_rate_limit_group_new`): streams join it with
    /// [`BufferedStream::set_rate_group`] and then share its buckets (see
    /// the [module docs](crate::stream#rate-limits)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop::{Loop, RunMode};
    /// use evloop_buffer::{Direction, RateLimit, StreamExt};
    ///
    /// let mut lp: Loop<usize> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// // Three senders, 2,000 bytes each, 3,000 bytes every 10 ms together.
    /// let group = ctx.new_rate_group(RateLimit::new(Duration::from_millis(10)).write(3_000, 3_000))?;
    /// for _ in 0..3 {
    ///     let (a, b) = ctx.new_stream_pair()?;
    ///     let mut s = ctx.stream(a)?;
    ///     s.set_rate_group(Some(group))?;
    ///     s.write(&[0; 2_000]);
    ///     s.close_when_flushed();
    ///     ctx.stream(b)?.on_read(|ctx, got, id| {
    ///         let mut s = ctx.stream(id).unwrap();
    ///         *got += s.input().len();
    ///         s.input().clear();
    ///     });
    /// }
    /// let start = std::time::Instant::now();
    /// let mut got = 0;
    /// lp.run(&mut got, RunMode::Default)?;
    /// assert_eq!(got, 6_000);
    /// assert!(start.elapsed() >= Duration::from_millis(10), "at least one refill");
    /// assert_eq!(lp.ctx().rate_group(group)?.totals(), (0, 6_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`evloop::Error::InvalidArgument`] for a limit that cannot work
    /// (see [`RateLimit::validate`]).
    fn new_rate_group(&mut self, limit: RateLimit) -> Result<RateGroupId, evloop::Error>;

    /// Borrows the rate group `id`.
    ///
    /// # Errors
    ///
    /// [`evloop::Error::StaleHandle`] if it was removed,
    /// [`evloop::Error::ForeignHandle`] if it is another loop's.
    fn rate_group(&mut self, id: RateGroupId) -> Result<RateGroup<'_, T>, evloop::Error>;
}

impl<T: 'static> StreamExt<T> for Ctx<'_, T> {
    fn new_stream(&mut self, socket: impl Into<OwnedFd>) -> io::Result<StreamId> {
        let fd = socket.into();
        sys::set_nonblocking(fd.as_fd())?;
        driver::open(self, fd, false)
    }

    fn new_stream_connect(&mut self, addr: SocketAddr) -> io::Result<StreamId> {
        connect::connect(self, addr)
    }

    fn new_stream_connect_unix(&mut self, path: &Path) -> io::Result<StreamId> {
        connect::connect_unix(self, path)
    }

    fn new_stream_pair(&mut self) -> io::Result<(StreamId, StreamId)> {
        pair::pair(self)
    }

    fn new_rate_group(&mut self, limit: RateLimit) -> Result<RateGroupId, evloop::Error> {
        group::new_group(self, limit)
    }

    fn rate_group(&mut self, id: RateGroupId) -> Result<RateGroup<'_, T>, evloop::Error> {
        RateGroup::new(self.reborrow(), id)
    }

    fn stream(&mut self, id: StreamId) -> Result<BufferedStream<'_, T>, evloop::Error> {
        BufferedStream::new(self.reborrow(), id)
    }
}
