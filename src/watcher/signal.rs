//! Signal watchers (libev's `ev_signal`): the per-loop side. The
//! process-wide side (the handler, the table of watching loops, restoring
//! dispositions) is in `signals.rs`.
//!
//! Each loop that watches signals has one entry in the process's table and
//! one internal io watcher on that entry's eventfd. Its callback queues the
//! active watchers of every signal that arrived. Several arrivals of one
//! signal before the loop looks are reported once: like the kernel's own
//! pending-signal bit, the count is not kept, but a signal is never lost
//! entirely while a watcher for it is active.

use std::os::fd::RawFd;

use super::{io, list_push, list_remove, Contract, Kind, NO_INDEX};
use crate::handle::{handle, WatcherKey};
use crate::inner::Inner;
use crate::signals::{check_signum, SignalEntry, MAX_SIGNAL};
use crate::{Ctx, Error, Events, Watcher};

handle! {
    /// Handle of a signal watcher (libev's `ev_signal`).
    SignalId, Signal
}

/// The signal part of a watcher slot.
pub(crate) struct SignalData {
    pub signum: i32,
    /// Index in the loop's list of active watchers of `signum`.
    pub index: u32,
}

/// The loop's signal state.
#[derive(Default)]
pub(crate) struct SignalState {
    /// This loop's entry in the process's table, with the internal watcher
    /// on its eventfd.
    entry: Option<(SignalEntry, WatcherKey)>,
    /// The active watchers of each signal.
    watchers: Vec<Vec<WatcherKey>>,
}

pub(crate) struct Signal;

impl Contract for Signal {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        let Kind::Signal(s) = &inner.slots[key].kind else {
            return Ok(());
        };
        let signum = s.signum as usize;
        let st = &mut inner.kinds.signal;
        if st.watchers.len() <= signum {
            st.watchers.resize_with(signum + 1, Vec::new);
        }
        if st.watchers[signum].is_empty() {
            entry(inner)?.watch(signum as i32)?;
        }
        let index = list_push(&mut inner.kinds.signal.watchers[signum], key);
        if let Kind::Signal(s) = &mut inner.slots[key].kind {
            s.index = index;
        }
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        let Kind::Signal(s) = &mut inner.slots[key].kind else {
            return;
        };
        let (signum, index) = (s.signum as usize, s.index);
        s.index = NO_INDEX;
        if index == NO_INDEX {
            return;
        }
        let st = &mut inner.kinds.signal;
        let list = &mut st.watchers[signum];
        if let Some(moved) = list_remove(list, index) {
            if let Kind::Signal(m) = &mut inner.slots[moved].kind {
                m.index = index;
            }
        }
        if list.is_empty() {
            if let Some((entry, _)) = &st.entry {
                entry.unwatch(signum as i32);
            }
        }
    }

    fn after_fork<T>(inner: &mut Inner<T>) -> Result<(), Error> {
        if let Some((entry, _)) = &inner.kinds.signal.entry {
            entry.renew_after_fork()?;
        }
        Ok(())
    }
}

/// Makes sure the loop has its signal table entry and the internal watcher
/// on the entry's eventfd.
fn entry<T>(inner: &mut Inner<T>) -> Result<&SignalEntry, Error> {
    if inner.kinds.signal.entry.is_none() {
        let entry = SignalEntry::acquire()?;
        let fd: RawFd = entry.fd();
        // The entry's eventfd is never closed (see signals.rs), so it stays
        // valid for as long as this watcher exists.
        let key = io::internal(
            inner,
            fd,
            Box::new(()),
            Box::new(|ctx, _, _, _| arrived(ctx.inner)),
        );
        inner.kinds.signal.entry = Some((entry, key));
    }
    Ok(&inner.kinds.signal.entry.as_ref().expect("just set").0)
}

/// The internal watcher's callback: queue the watchers of every signal
/// that arrived.
fn arrived<T>(inner: &mut Inner<T>) {
    let Some((entry, _)) = &inner.kinds.signal.entry else {
        return;
    };
    let mut arrived = entry.take_arrived();
    while arrived != 0 {
        let signum = arrived.trailing_zeros() as i32 + 1;
        arrived &= arrived - 1;
        if signum > MAX_SIGNAL {
            break;
        }
        queue_signal(inner, signum);
    }
}

/// Queues every active watcher of `signum` in this loop.
fn queue_signal<T>(inner: &mut Inner<T>, signum: i32) {
    let Some(list) = inner.kinds.signal.watchers.get_mut(signum as usize) else {
        return;
    };
    let list = std::mem::take(list);
    inner.queue_all(&list, Events::SIGNAL);
    inner.kinds.signal.watchers[signum as usize] = list;
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped signal watcher for `signum` (libev's `ev_signal`);
    /// [`signum`](crate::signum) has the usual numbers.
    ///
    /// While it is active, the signal's disposition is evloop's handler,
    /// and each time the signal arrives the callback runs once, inside
    /// `run`, with [`Events::SIGNAL`]. Any number of watchers, in any number
    /// of loops (one per thread, say), may watch the same signal; **every
    /// loop that watches a signal gets it**, and within a loop every active
    /// watcher of it runs. When the last watcher of a signal in the whole
    /// process stops, the disposition that was there before the first one
    /// started is put back.
    ///
    /// A burst of one signal before the loop gets to run is reported once.
    /// evloop does not touch the signal mask: a thread that blocks the
    /// signal simply does not take it, and the kernel gives it to another.
    ///
    /// ```
    /// use evloop::{signum, Loop, RunMode};
    ///
    /// let mut lp: Loop<u32> = Loop::new()?;
    /// let mut ctx = lp.ctx();
    /// let id = ctx.new_signal(signum::SIGUSR2, |ctx, got, id, _ev| {
    ///     *got += 1;
    ///     ctx.stop(id).unwrap();
    /// })?;
    /// ctx.start(id)?;
    /// evloop::feed_signal(signum::SIGUSR2); // as if it had arrived
    /// let mut got = 0;
    /// lp.run(&mut got, RunMode::Default)?;
    /// assert_eq!(got, 1);
    /// # Ok::<(), evloop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a number outside 1..=64, for SIGKILL
    /// and SIGSTOP (uncatchable), SIGSEGV, SIGBUS, SIGILL and SIGFPE (faults
    /// must be handled before the faulting code goes on) and for the signals
    /// the C library reserves (32 up to `SIGRTMIN`).
    pub fn new_signal<F>(&mut self, signum: i32, cb: F) -> Result<SignalId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, SignalId, Events) + 'static,
    {
        check_signum(signum)?;
        let kind = Kind::Signal(SignalData {
            signum,
            index: NO_INDEX,
        });
        let key = self.inner.insert(kind, super::wrap(cb));
        Ok(self.inner.handle(key))
    }

    /// A view of a signal watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn signal(&mut self, id: SignalId) -> Result<Watcher<'_, T, SignalId>, Error> {
        self.watcher(id)
    }

    /// Makes every active watcher of `signum` in this loop pending, as if
    /// the signal had arrived, without involving the process or other loops
    /// (libev's `ev_feed_signal_event`). [`feed_signal`](crate::feed_signal)
    /// is the process-wide counterpart, safe to call from a signal handler.
    pub fn feed_signal_event(&mut self, signum: i32) {
        if (1..=MAX_SIGNAL).contains(&signum) {
            queue_signal(self.inner, signum);
        }
    }
}

impl<'a, T> Watcher<'a, T, SignalId> {
    /// The signal number it watches.
    pub fn signum(&self) -> i32 {
        match &self.inner.slots[self.key].kind {
            Kind::Signal(s) => s.signum,
            _ => unreachable!("a SignalId resolves to a signal watcher"),
        }
    }

    crate::view::set_callback!(SignalId);
}
