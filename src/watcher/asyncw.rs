//! Async watchers (libev's `ev_async`): wake the loop from another thread
//! or from a signal handler.
//!
//! Each watcher has a flag shared with its [`AsyncSender`]s; the loop has
//! one wake-up eventfd (see `wake.rs`). A send sets the flag and, if it was
//! clear, wakes the loop; the loop's internal watcher on the eventfd clears
//! the wake-up first and then takes each active watcher's flag, so a send
//! racing with that scan is either seen by it or wakes the loop again.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::{io, list_push, list_remove, Contract, Kind, NO_INDEX};
use crate::handle::{handle, WatcherKey};
use crate::inner::Inner;
use crate::wake::Waker;
use crate::{Ctx, Error, Events, Watcher};

handle! {
    /// Handle of an async watcher (libev's `ev_async`).
    AsyncId, Async
}

/// What a watcher shares with its senders.
#[derive(Debug)]
pub(crate) struct AsyncFlag {
    sent: AtomicBool,
    /// How many `AsyncSender`s exist.
    senders: AtomicUsize,
    /// The last sender was dropped since the loop last looked.
    closed: AtomicBool,
    /// The watcher still exists (cleared when it is removed).
    alive: AtomicBool,
    waker: Arc<Waker>,
}

/// The async part of a watcher slot.
pub(crate) struct AsyncData {
    index: u32,
    flag: Arc<AsyncFlag>,
}

impl Drop for AsyncData {
    /// The watcher is removed, or its loop dropped: senders learn that
    /// nobody listens.
    fn drop(&mut self) {
        self.flag.alive.store(false, Ordering::Release);
    }
}

/// The loop's async watchers.
#[derive(Default)]
pub(crate) struct AsyncState {
    /// The active ones.
    list: Vec<WatcherKey>,
    /// The wake-up fd, with its internal watcher, made on first use.
    waker: Option<(Arc<Waker>, WatcherKey)>,
}

/// Wakes an async watcher's loop from any thread (libev's `ev_async_send`).
///
/// `Send + Sync + Clone`; sending is lock-free and async-signal-safe (an
/// atomic swap, and one `write(2)` when the flag was clear), so it may be
/// called from a signal handler. Sends coalesce: however many arrive before
/// the loop gets to the watcher, its callback runs once, and a send is never
/// lost while the watcher is active: the callback runs at least once after
/// the last send. A send while the watcher is stopped is kept and delivered
/// when it starts.
///
/// When the last sender of a watcher is dropped, the watcher's callback
/// runs with [`Events::CLOSED`], so the loop can tell that no other thread
/// will wake it any more (as a channel's receiver learns that every sender
/// is gone); [`Watcher::sender`] makes a new one.
#[derive(Debug)]
pub struct AsyncSender {
    flag: Arc<AsyncFlag>,
}

impl AsyncSender {
    fn new(flag: Arc<AsyncFlag>) -> Self {
        flag.senders.fetch_add(1, Ordering::AcqRel);
        AsyncSender { flag }
    }

    /// Marks the watcher as sent to and wakes its loop. Returns `false` if
    /// the watcher was removed (or its loop dropped): nobody listens.
    pub fn send(&self) -> bool {
        if !self.flag.alive.load(Ordering::Acquire) {
            return false;
        }
        if !self.flag.sent.swap(true, Ordering::AcqRel) {
            self.flag.waker.wake();
        }
        true
    }
}

impl Clone for AsyncSender {
    fn clone(&self) -> Self {
        AsyncSender::new(self.flag.clone())
    }
}

impl Drop for AsyncSender {
    fn drop(&mut self) {
        if self.flag.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.flag.closed.store(true, Ordering::Release);
            self.flag.waker.wake();
        }
    }
}

pub(crate) struct Async;

impl Contract for Async {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        let index = list_push(&mut inner.kinds.asyncw.list, key);
        if let Kind::Async(a) = &mut inner.slots[key].kind {
            a.index = index;
            // A send (or a close) while stopped is delivered now.
            if a.flag.sent.load(Ordering::Acquire) || a.flag.closed.load(Ordering::Acquire) {
                a.flag.waker.wake();
            }
        }
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        let Kind::Async(a) = &mut inner.slots[key].kind else {
            return;
        };
        let index = std::mem::replace(&mut a.index, NO_INDEX);
        if index == NO_INDEX {
            return;
        }
        if let Some(moved) = list_remove(&mut inner.kinds.asyncw.list, index) {
            if let Kind::Async(m) = &mut inner.slots[moved].kind {
                m.index = index;
            }
        }
    }

    fn after_fork<T>(inner: &mut Inner<T>) -> Result<(), Error> {
        if let Some((w, _)) = &inner.kinds.asyncw.waker {
            w.renew_after_fork()?;
        }
        Ok(())
    }
}

/// The loop's wake-up eventfd, created with its internal watcher on first
/// use.
fn waker<T>(inner: &mut Inner<T>) -> Result<Arc<Waker>, Error> {
    if let Some((w, _)) = &inner.kinds.asyncw.waker {
        return Ok(w.clone());
    }
    let w = Arc::new(Waker::new()?);
    let fd = w.as_fd().as_raw_fd();
    let key = io::internal(
        inner,
        fd,
        Box::new(w.clone()),
        Box::new(|ctx, _, _, _| woken(ctx.inner)),
    );
    inner.kinds.asyncw.waker = Some((w.clone(), key));
    Ok(w)
}

/// The wake-up fd was readable: queue every active watcher sent to.
fn woken<T>(inner: &mut Inner<T>) {
    if let Some((w, _)) = &inner.kinds.asyncw.waker {
        w.reset();
    }
    for i in 0..inner.kinds.asyncw.list.len() {
        let key = inner.kinds.asyncw.list[i];
        let mut ev = Events::empty();
        if let Kind::Async(a) = &inner.slots[key].kind {
            if a.flag.sent.swap(false, Ordering::AcqRel) {
                ev |= Events::ASYNC;
            }
            if a.flag.closed.swap(false, Ordering::AcqRel) {
                ev |= Events::CLOSED;
            }
        }
        if !ev.is_empty() {
            inner.queue_key(key, ev);
        }
    }
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped async watcher and a sender for it (libev's
    /// `ev_async`). Hand clones of the sender to other threads; each
    /// [`send`](AsyncSender::send) makes the callback run (with
    /// [`Events::ASYNC`]) in the loop's thread, many sends coalescing into
    /// one run. Data goes alongside, for example in a channel that the
    /// callback drains. When every sender is gone, the callback runs once
    /// more with [`Events::CLOSED`].
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use evloop::{Events, Loop, RunMode};
    ///
    /// let (tx, rx) = mpsc::channel::<u64>();
    /// let mut lp: Loop<u64> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let (id, sender) = ctx.new_async(move |ctx, sum, id, ev| {
    ///     *sum += rx.try_iter().sum::<u64>();
    ///     if ev.contains(Events::CLOSED) {
    ///         ctx.stop(id).unwrap(); // the worker is done
    ///     }
    /// })?;
    /// ctx.start(id)?;
    /// let worker = std::thread::spawn(move || {
    ///     for n in 1..=4 {
    ///         tx.send(n).unwrap();
    ///         sender.send();
    ///     }
    ///     // `sender` is dropped here: the loop hears of it.
    /// });
    /// let mut sum = 0;
    /// lp.run(&mut sum, RunMode::Default)?;
    /// worker.join().unwrap();
    /// assert_eq!(sum, 10);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the loop's wake-up eventfd cannot be created (the
    /// first async watcher creates it).
    pub fn new_async<F>(&mut self, cb: F) -> Result<(AsyncId, AsyncSender), Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, AsyncId, Events) + 'static,
    {
        let waker = waker(self.inner)?;
        let flag = Arc::new(AsyncFlag {
            sent: AtomicBool::new(false),
            senders: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            waker,
        });
        let sender = AsyncSender::new(flag.clone());
        let kind = Kind::Async(AsyncData {
            index: NO_INDEX,
            flag,
        });
        let key = self.inner.insert(kind, super::wrap(cb));
        Ok((self.inner.handle(key), sender))
    }

    /// A view of an async watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn async_watcher(&mut self, id: AsyncId) -> Result<Watcher<'_, T, AsyncId>, Error> {
        self.watcher(id)
    }
}

impl<'a, T> Watcher<'a, T, AsyncId> {
    fn flag(&self) -> &Arc<AsyncFlag> {
        match &self.inner.slots[self.key].kind {
            Kind::Async(a) => &a.flag,
            _ => unreachable!("an AsyncId resolves to an async watcher"),
        }
    }

    /// Another sender.
    pub fn sender(&self) -> AsyncSender {
        AsyncSender::new(self.flag().clone())
    }

    /// How many senders exist.
    pub fn sender_count(&self) -> usize {
        self.flag().senders.load(Ordering::Acquire)
    }

    /// Whether a send has arrived that the callback has not yet been
    /// queued for (libev's `ev_async_pending`).
    pub fn is_sent(&self) -> bool {
        self.flag().sent.load(Ordering::Acquire)
    }

    crate::view::set_callback!(AsyncId);
}
