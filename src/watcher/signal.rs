//! Signal watchers (libev's `ev_signal`): a POSIX signal, delivered inside
//! the loop.
//!
//! The handler (see `signals.rs`) only marks the signal and writes the
//! loop's eventfd; an internal io watcher on that fd then queues every
//! active watcher of each signal that arrived. Signals that arrive several
//! times before the loop looks are reported once: like the kernel's own
//! pending-signal bit, the count is not kept, but a signal is never lost
//! entirely while a watcher for it is active.

use crate::handle::{SignalId, WatcherKey};
use crate::signals::{check_signum, SignalEntry, MAX_SIGNAL};
use crate::watcher::{Kind, NO_INDEX};
use crate::{Ctx, Error, Events};

/// The signal part of a watcher slot.
pub(crate) struct SignalData {
    pub signum: i32,
    /// Index in the loop's list of active watchers of `signum`.
    pub index: u32,
}

impl<T> Ctx<T> {
    /// Creates a stopped signal watcher for `signum` (libev's `ev_signal`).
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
    /// use evloop::{Loop, RunMode};
    ///
    /// let mut lp: Loop<u32> = Loop::new()?;
    /// let id = lp.signal(libc::SIGUSR2, |ctx, got, id, _ev| {
    ///     *got += 1;
    ///     ctx.stop(id).unwrap();
    /// })?;
    /// lp.start(id)?;
    /// // SAFETY: raise only sends a signal to this thread.
    /// unsafe { libc::raise(libc::SIGUSR2) };
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
    pub fn signal<F>(&mut self, signum: i32, mut cb: F) -> Result<SignalId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, SignalId, Events) + 'static,
    {
        check_signum(signum)?;
        Ok(SignalId(self.insert(
            Kind::Signal(SignalData {
                signum,
                index: NO_INDEX,
            }),
            Box::new(move |c, d, k, e| cb(c, d, SignalId(k), e)),
        )))
    }

    /// The signal number a signal watcher watches.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if the watcher was removed.
    pub fn signal_number(&self, id: SignalId) -> Result<i32, Error> {
        match &self.slots.get(id.0).ok_or(Error::StaleHandle)?.kind {
            Kind::Signal(s) => Ok(s.signum),
            _ => Err(Error::StaleHandle),
        }
    }

    /// Makes sure this loop has its signal table entry and the internal
    /// watcher on the entry's eventfd.
    fn signal_entry(&mut self) -> Result<&SignalEntry, Error> {
        if self.sig.is_none() {
            let entry = SignalEntry::acquire()?;
            let fd = entry.fd();
            // SAFETY: the entry's eventfd is never closed (see signals.rs),
            // so it stays valid for as long as this watcher exists.
            let key =
                unsafe { self.io_raw(fd, Events::READ, |ctx, _, _, _| ctx.signals_arrived())? };
            self.make_internal(key.0);
            self.start(key)?;
            self.sig = Some((entry, key.0));
        }
        Ok(&self.sig.as_ref().expect("just set").0)
    }

    pub(crate) fn signal_start(&mut self, key: WatcherKey) -> Result<(), Error> {
        let Kind::Signal(s) = &self.slots[key].kind else {
            return Ok(());
        };
        let signum = s.signum as usize;
        if self.sig_watchers.len() <= signum {
            self.sig_watchers.resize_with(signum + 1, Vec::new);
        }
        if self.sig_watchers[signum].is_empty() {
            self.signal_entry()?.watch(signum as i32)?;
        }
        let list = &mut self.sig_watchers[signum];
        list.push(key);
        let index = (list.len() - 1) as u32;
        if let Kind::Signal(s) = &mut self.slots[key].kind {
            s.index = index;
        }
        Ok(())
    }

    pub(crate) fn signal_stop(&mut self, key: WatcherKey) {
        let Kind::Signal(s) = &mut self.slots[key].kind else {
            return;
        };
        let (signum, index) = (s.signum as usize, s.index);
        s.index = NO_INDEX;
        if index == NO_INDEX {
            return;
        }
        let list = &mut self.sig_watchers[signum];
        list.swap_remove(index as usize);
        if let Some(&moved) = list.get(index as usize) {
            if let Kind::Signal(m) = &mut self.slots[moved].kind {
                m.index = index;
            }
        }
        if list.is_empty() {
            if let Some((entry, _)) = &self.sig {
                entry.unwatch(signum as i32);
            }
        }
    }

    /// The internal watcher's callback: queue the watchers of every signal
    /// that arrived.
    fn signals_arrived(&mut self) {
        let Some((entry, _)) = &self.sig else {
            return;
        };
        let mut arrived = entry.take_arrived();
        while arrived != 0 {
            let signum = arrived.trailing_zeros() as usize + 1;
            arrived &= arrived - 1;
            if signum > MAX_SIGNAL as usize {
                break;
            }
            let n = self.sig_watchers.get(signum).map_or(0, Vec::len);
            for i in 0..n {
                let key = self.sig_watchers[signum][i];
                self.queue_key(key, Events::SIGNAL);
            }
        }
    }
}
