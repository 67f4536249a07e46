//! Async watchers (libev's `ev_async`): wake the loop from another thread
//! or from a signal handler.
//!
//! Each watcher has a flag shared with its [`AsyncSender`]s; the loop has
//! one wake-up eventfd (see `wake.rs`). A send sets the flag and, if it was
//! clear, wakes the loop; the loop's internal watcher on the eventfd clears
//! the wake-up first and then takes each active watcher's flag, so a send
//! racing with that scan is either seen by it or wakes the loop again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::handle::{AsyncId, WatcherKey};
use crate::wake::Waker;
use crate::watcher::{Kind, NO_INDEX};
use crate::{Ctx, Error, Events};

/// What a watcher shares with its senders.
#[derive(Debug)]
pub(crate) struct AsyncFlag {
    sent: AtomicBool,
    waker: Arc<Waker>,
}

/// The async part of a watcher slot.
pub(crate) struct AsyncData {
    pub index: u32,
    pub flag: Arc<AsyncFlag>,
}

/// Wakes an async watcher's loop from any thread (libev's `ev_async_send`).
///
/// `Send + Sync + Clone`; sending is lock-free and async-signal-safe (an
/// atomic swap, and one `write(2)` when the flag was clear), so it may be
/// called from a signal handler. Sends coalesce: however many arrive before
/// the loop gets to the watcher, its callback runs once, and a send is never
/// lost while the watcher is active: the callback runs at least once after
/// the last send. A send while the watcher is stopped is kept and delivered
/// when it starts. After the watcher is removed or the loop dropped, sends
/// do nothing.
#[derive(Debug, Clone)]
pub struct AsyncSender {
    flag: Arc<AsyncFlag>,
}

impl AsyncSender {
    /// Marks the watcher as sent to and wakes its loop.
    pub fn send(&self) {
        if !self.flag.sent.swap(true, Ordering::AcqRel) {
            self.flag.waker.wake();
        }
    }
}

impl<T> Ctx<T> {
    /// Creates a stopped async watcher and a sender for it (libev's
    /// `ev_async`). Hand clones of the sender to other threads; each
    /// [`send`](AsyncSender::send) makes the callback run (with
    /// [`Events::ASYNC`]) in the loop's thread, many sends coalescing into
    /// one run. Data goes alongside, for example in a channel that the
    /// callback drains.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use evloop::{Loop, RunMode};
    ///
    /// let (tx, rx) = mpsc::channel::<u64>();
    /// let mut lp: Loop<u64> = Loop::new()?;
    /// let (id, sender) = lp.async_watcher(move |ctx, sum, id, _ev| {
    ///     for n in rx.try_iter() {
    ///         *sum += n;
    ///     }
    ///     if *sum == 10 {
    ///         ctx.stop(id).unwrap();
    ///     }
    /// })?;
    /// lp.start(id)?;
    /// let worker = std::thread::spawn(move || {
    ///     for n in 1..=4 {
    ///         tx.send(n).unwrap();
    ///         sender.send();
    ///     }
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
    pub fn async_watcher<F>(&mut self, mut cb: F) -> Result<(AsyncId, AsyncSender), Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, AsyncId, Events) + 'static,
    {
        let waker = self.waker()?;
        let flag = Arc::new(AsyncFlag {
            sent: AtomicBool::new(false),
            waker,
        });
        let key = self.insert(
            Kind::Async(AsyncData {
                index: NO_INDEX,
                flag: flag.clone(),
            }),
            Box::new(move |c, d, k, e| cb(c, d, AsyncId(k), e)),
        );
        Ok((AsyncId(key), AsyncSender { flag }))
    }

    /// Another sender for an async watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn async_sender(&self, id: AsyncId) -> Result<AsyncSender, Error> {
        match &self.slots.get(id.0).ok_or(Error::StaleHandle)?.kind {
            Kind::Async(a) => Ok(AsyncSender {
                flag: a.flag.clone(),
            }),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Whether a send has arrived that the callback has not yet been
    /// queued for (libev's `ev_async_pending`).
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn async_pending(&self, id: AsyncId) -> Result<bool, Error> {
        match &self.slots.get(id.0).ok_or(Error::StaleHandle)?.kind {
            Kind::Async(a) => Ok(a.flag.sent.load(Ordering::Acquire)),
            _ => Err(Error::StaleHandle),
        }
    }

    /// The loop's wake-up eventfd, created with its internal watcher on
    /// first use.
    fn waker(&mut self) -> Result<Arc<Waker>, Error> {
        if let Some((w, _)) = &self.waker {
            return Ok(w.clone());
        }
        let w = Arc::new(Waker::new()?);
        let key = self.internal_io(w.clone(), |ctx, _, _, _| ctx.asyncs_woken())?;
        self.waker = Some((w.clone(), key));
        Ok(w)
    }

    pub(crate) fn async_start(&mut self, key: WatcherKey) {
        self.asyncs.push(key);
        let index = (self.asyncs.len() - 1) as u32;
        if let Kind::Async(a) = &mut self.slots[key].kind {
            a.index = index;
            // A send while stopped is delivered now.
            if a.flag.sent.load(Ordering::Acquire) {
                a.flag.waker.wake();
            }
        }
    }

    pub(crate) fn async_stop(&mut self, key: WatcherKey) {
        let Kind::Async(a) = &mut self.slots[key].kind else {
            return;
        };
        let index = std::mem::replace(&mut a.index, NO_INDEX);
        if index == NO_INDEX {
            return;
        }
        self.asyncs.swap_remove(index as usize);
        if let Some(&moved) = self.asyncs.get(index as usize) {
            if let Kind::Async(m) = &mut self.slots[moved].kind {
                m.index = index;
            }
        }
    }

    /// The wake-up fd was readable: queue every active watcher sent to.
    fn asyncs_woken(&mut self) {
        if let Some((w, _)) = &self.waker {
            w.reset();
        }
        for i in 0..self.asyncs.len() {
            let key = self.asyncs[i];
            let sent = match &self.slots[key].kind {
                Kind::Async(a) => a.flag.sent.swap(false, Ordering::AcqRel),
                _ => false,
            };
            if sent {
                self.queue_key(key, Events::ASYNC);
            }
        }
    }
}
