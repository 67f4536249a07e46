//! The state of one stream, kept in the loop's [`Streams`] table, and
//! what it wants from the loop.

use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Duration;

use evloop::{Ctx, Events, IoId, Priority, TimerId};
use slotmap::SlotMap;

use super::callback::CallbackSlot;
use super::options::{Watermarks, DEFAULT_READ_SIZE, DEFAULT_WRITE_SIZE};
use super::rate::Limits;
use super::{Direction, StreamEvent, StreamId};
use crate::Buffer;

pub(crate) type DataCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, StreamId);
pub(crate) type EventCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, StreamId, StreamEvent);

slotmap::new_key_type! {
    /// A stream's key in the loop's [`Streams`] table.
    pub struct StreamKey;
}

/// Every stream of one loop: the crate's extension value in the loop
/// (`Ctx::ext_mut`), so that a stream is found with one table lookup and
/// no downcast of an io source.
pub(crate) struct Streams<T: 'static> {
    pub map: SlotMap<StreamKey, State<T>>,
}

impl<T: 'static> Default for Streams<T> {
    fn default() -> Self {
        Streams {
            map: SlotMap::with_key(),
        }
    }
}

/// What to do once output has been flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// Close the stream.
    Close,
    /// Send FIN (`shutdown(SHUT_WR)`) and keep reading.
    Shutdown,
}

/// [`State::wants_read`], [`State::wants_write`] and
/// [`State::writes_by_feed`] at one moment: settling a stream needs each
/// several times, and they stay the same while it decides.
#[derive(Clone, Copy)]
pub(crate) struct Wants {
    pub read: bool,
    pub write: bool,
    pub by_feed: bool,
}

impl Wants {
    #[inline]
    pub fn of<T>(st: &State<T>) -> Wants {
        let read = st.wants_read();
        Wants {
            read,
            write: st.wants_write(),
            by_feed: st.writes_by_feed(read),
        }
    }
}

pub(crate) struct State<T: 'static> {
    /// The socket; the stream's io watcher holds the other reference, so
    /// the fd is closed only once the watcher is gone (deregistered).
    pub fd: Rc<OwnedFd>,
    /// The io watcher on the socket, the stream's own (no handle to it
    /// leaves the crate).
    pub io: IoId<Rc<OwnedFd>>,
    pub input: Buffer,
    pub output: Buffer,
    pub read_enabled: bool,
    pub write_enabled: bool,
    /// A connect is in progress: the socket's first writability tells its
    /// outcome.
    pub connecting: bool,
    /// The peer sent EOF: nothing more to read.
    pub read_eof: bool,
    /// An error was reported: neither direction runs any more.
    pub failed: bool,
    /// Our write side was shut down: nothing more can be sent.
    pub write_shut: bool,
    pub closing: Option<Closing>,
    /// An error found outside the loop's callbacks (a connect refused at
    /// once, data queued after shutdown), delivered from the io watcher.
    pub deferred_error: Option<(io::Error, Direction)>,
    /// The last write stopped short: wait for writability before the next.
    pub write_blocked: bool,
    /// The descriptor is (still believed to be) a socket: bytes move with
    /// `recv` and `send(MSG_NOSIGNAL)`. The first `ENOTSOCK` (a pipe, a
    /// terminal) turns this off for good, and `read`/`write` are used.
    pub socket: bool,
    /// Whether file segments may go out with `sendfile` (it raises
    /// `SIGPIPE`, so only while that is ignored): asked when the stream's
    /// first file segment reaches the front of its output, not for every
    /// send of it (a large file takes many).
    pub sendfile_ok: Option<bool>,
    pub watermarks: Watermarks,
    pub read_size: usize,
    pub write_size: usize,
    pub read_timeout: Option<Duration>,
    pub write_timeout: Option<Duration>,
    pub read_timer: Option<TimerId>,
    pub write_timer: Option<TimerId>,
    /// What the loop has been told: the io watcher's interest and whether
    /// it runs, and whether each timer runs. The stream is the only one
    /// that starts or stops these watchers (the loop stops the io watcher
    /// only on a bad fd, which `on_io` notes), so `settle` compares with
    /// these and calls the loop only for a change.
    pub io_interest: Events,
    pub io_on: bool,
    /// The stream's io callback is running: it settles the stream once
    /// when it is done, so a view dropped inside it (the read callback's)
    /// need not.
    pub dispatching: bool,
    pub read_timer_on: bool,
    pub write_timer_on: bool,
    /// The priority of the stream's watchers (io and timers).
    pub priority: Priority,
    /// Whether the stream's watchers keep `run` going while active.
    pub keepalive: bool,
    pub on_read: CallbackSlot<DataCb<T>>,
    pub on_write: CallbackSlot<DataCb<T>>,
    pub on_event: CallbackSlot<EventCb<T>>,
    /// Boxed: most streams have none, and the state stays small.
    pub rate: Option<Box<Limits>>,
}

impl<T> State<T> {
    pub fn new(fd: Rc<OwnedFd>, io: IoId<Rc<OwnedFd>>, connecting: bool) -> Self {
        State {
            fd,
            io,
            input: Buffer::new(),
            output: Buffer::new(),
            read_enabled: true,
            write_enabled: true,
            connecting,
            read_eof: false,
            failed: false,
            write_shut: false,
            closing: None,
            deferred_error: None,
            write_blocked: false,
            socket: true,
            sendfile_ok: None,
            watermarks: Watermarks::default(),
            read_size: DEFAULT_READ_SIZE,
            write_size: DEFAULT_WRITE_SIZE,
            read_timeout: None,
            write_timeout: None,
            read_timer: None,
            write_timer: None,
            io_interest: Events::empty(),
            io_on: false,
            dispatching: false,
            read_timer_on: false,
            write_timer_on: false,
            priority: Priority::DEFAULT,
            keepalive: true,
            on_read: CallbackSlot::empty(),
            on_write: CallbackSlot::empty(),
            on_event: CallbackSlot::empty(),
            rate: None,
        }
    }

    /// Room left below the read high watermark (unbounded without one).
    /// Every timer of the stream's own: read and write timeouts, rate
    /// limit refill.
    pub fn timers(&self) -> [Option<TimerId>; 3] {
        let refill = self.rate.as_deref().and_then(|r| r.own.as_ref()?.timer);
        [self.read_timer, self.write_timer, refill]
    }

    pub fn read_room(&self) -> usize {
        match self.watermarks.high() {
            Some(h) => h.saturating_sub(self.input.len()),
            None => usize::MAX,
        }
    }

    /// A flushed close is due: the output went out, or can never go out
    /// because the stream failed (an error found but not reported yet
    /// waits for its report).
    pub fn close_due(&self) -> bool {
        self.closing == Some(Closing::Close)
            && self.deferred_error.is_none()
            && (self.failed || self.output.is_empty())
    }

    pub fn wants_read(&self) -> bool {
        self.read_enabled
            && !self.read_eof
            && !self.failed
            && !self.connecting
            && self.closing != Some(Closing::Close)
            && self.read_room() > 0
            && self.rate.as_deref().is_none_or(|r| r.open(Direction::Read))
    }

    pub fn wants_write(&self) -> bool {
        // A connect in progress waits for writability too, so disabling
        // writing also holds back its outcome.
        !self.failed
            && !self.write_shut
            && self.write_enabled
            && (self.connecting
                || (!self.output.is_empty()
                    && self
                        .rate
                        .as_deref()
                        .is_none_or(|r| r.open(Direction::Write))))
    }

    /// The io interest that serves what the stream wants now.
    pub fn interest(&self) -> Events {
        self.interest_for(Wants::of(self))
    }

    /// [`interest`](Self::interest) from `wants`, computed already.
    #[inline]
    pub fn interest_for(&self, wants: Wants) -> Events {
        if self.deferred_error.is_some() {
            // Any readiness will do to deliver it (it is fed, too).
            return Events::READ | Events::WRITE;
        }
        let mut ev = Events::empty();
        if wants.read {
            ev |= Events::READ;
        }
        if wants.write && !wants.by_feed {
            ev |= Events::WRITE;
        }
        ev
    }

    /// Whether output that waits is sent through a fed WRITE event rather
    /// than the poller: when the socket last took everything (it is not
    /// known to be full) and the watcher runs anyway, for reading. Asking
    /// the poller for writability would cost two `epoll_ctl` calls (on,
    /// then off again) and a poll for output queued from outside the
    /// stream's own callbacks, e.g. a proxy writing one connection from
    /// another's callback. `wants_read` is [`wants_read`](Self::wants_read)'s
    /// answer, which the caller has at hand.
    #[inline]
    pub fn writes_by_feed(&self, wants_read: bool) -> bool {
        !self.write_blocked && !self.connecting && wants_read
    }
}
