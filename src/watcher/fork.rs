//! Fork watchers (libev's `ev_fork`) and what the loop does after `fork`.
//!
//! A forked child shares its parent's kernel objects: the epoll set, the
//! eventfds, the inotify instance. Used from both processes they would mix
//! up each other's events, so the child's loop must make its own:
//! [`Ctx::loop_fork`] (or the automatic pid check of
//! [`LoopBuilder::fork_check`](crate::LoopBuilder::fork_check)) creates a
//! new backend, registers every active fd in it again, gives the wake-up
//! and signal eventfds fresh files at the same numbers, and renews inotify;
//! then fork watchers run, before the next poll.

use crate::handle::ForkId;
use crate::watcher::{Kind, NO_INDEX};
use crate::{backend, Ctx, Error, Events};

impl<T> Ctx<T> {
    /// Creates a stopped fork watcher (libev's `ev_fork`): after
    /// [`loop_fork`](Self::loop_fork) in a forked child, its callback runs
    /// with [`Events::FORK`] in the next iteration, before the loop polls.
    /// Unlike libev's, an active fork watcher does not keep `run` going (it
    /// waits for an event that most processes never see);
    /// [`set_keepalive`](Self::set_keepalive)`(true)` makes it.
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn fork<F>(&mut self, mut cb: F) -> Result<ForkId, Error>
    where
        F: FnMut(&mut Ctx<T>, &mut T, ForkId, Events) + 'static,
    {
        let key = self.insert(
            Kind::Fork(NO_INDEX),
            Box::new(move |c, d, k, e| cb(c, d, ForkId(k), e)),
        );
        self.slots[key].keepalive = false;
        Ok(ForkId(key))
    }

    /// Tells the loop that the process forked and this is the child (libev's
    /// `ev_loop_fork`); call it in the child before using the loop. It
    /// rebuilds the loop's kernel state now (backend, wake-up and signal
    /// eventfds, inotify) and makes the fork watchers run in the next
    /// iteration, before the poll. The parent's loop needs nothing.
    ///
    /// Only the thread that called `fork` exists in the child, so a loop
    /// whose thread is gone cannot be used there; and a loop that is not
    /// used in the child needs no call (though its kernel objects stay shared
    /// until it is dropped, which is harmless).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::BackendUnavailable`] if a kernel object
    /// cannot be created; the loop should then not be used.
    pub fn loop_fork(&mut self) -> Result<(), Error> {
        // SAFETY: getpid cannot fail.
        self.pid = unsafe { libc::getpid() };
        self.poller = backend::create(self.poller.kind())?;
        self.fds.reset_all();
        if let Some((w, _)) = &self.waker {
            w.renew_after_fork()?;
        }
        if let Some((entry, _)) = &self.sig {
            entry.renew_after_fork()?;
        }
        self.stat_after_fork()?;
        self.postfork = true;
        Ok(())
    }

    /// At the start of each iteration: the automatic fork check, and the
    /// fork watchers after a fork.
    pub(crate) fn fork_reify(&mut self) -> Result<bool, Error> {
        if self.opts.fork_check {
            // SAFETY: getpid cannot fail.
            if unsafe { libc::getpid() } != self.pid {
                self.loop_fork()?;
            }
        }
        if !std::mem::take(&mut self.postfork) {
            return Ok(false);
        }
        for i in 0..self.forks.len() {
            let key = self.forks[i];
            self.queue_key(key, Events::FORK);
        }
        Ok(true)
    }
}
