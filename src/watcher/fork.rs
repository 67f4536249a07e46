//! Fork watchers (libev's `ev_fork`) and what the loop does after `fork`.
//!
//! A forked child shares its parent's kernel objects: the epoll set, the
//! eventfds, the inotify instance. Used from both processes they would mix
//! up each other's events, so the child's loop must make its own:
//! [`Ctx::loop_fork`] (or the automatic pid check of
//! [`LoopBuilder::fork_check`](crate::LoopBuilder::fork_check)) creates a
//! new backend, registers every active fd in it again, and lets every
//! watcher kind renew its kernel objects (wake-up and signal eventfds get
//! fresh files at the same numbers, inotify is renewed, embedded loops fork
//! too); then fork watchers run, before the next poll.

use super::lists::{delist, enlist};
use super::{Contract, Kind, NO_INDEX};
use crate::handle::{handle, WatcherKey};
use crate::inner::Inner;
use crate::sys::process;
use crate::{backend, Ctx, Error, Events, Watcher};

handle! {
    /// Handle of a fork watcher (libev's `ev_fork`).
    ForkId, Fork
}

/// The loop's fork state.
pub(crate) struct ForkState {
    /// The active fork watchers.
    list: Vec<WatcherKey>,
    /// The pid the loop's kernel state belongs to.
    pid: i32,
    /// `loop_fork` ran and the fork watchers have not been queued yet.
    pub postfork: bool,
}

impl Default for ForkState {
    fn default() -> Self {
        ForkState {
            list: Vec::new(),
            pid: process::getpid(),
            postfork: false,
        }
    }
}

fn fork_list<T>(inner: &mut Inner<T>, _: WatcherKey) -> &mut Vec<WatcherKey> {
    &mut inner.kinds.fork.list
}

pub(crate) struct Fork;

impl Contract for Fork {
    fn start<T>(inner: &mut Inner<T>, key: WatcherKey) -> Result<(), Error> {
        enlist(inner, key, fork_list);
        Ok(())
    }

    fn stop<T>(inner: &mut Inner<T>, key: WatcherKey) {
        delist(inner, key, fork_list);
    }
}

/// libev's `ev_loop_fork`; see [`Ctx::loop_fork`].
pub(crate) fn loop_fork<T>(inner: &mut Inner<T>) -> Result<(), Error> {
    inner.kinds.fork.pid = process::getpid();
    inner.poller = backend::create(inner.poller.kind())?;
    inner.pollers_made += 1;
    inner.kinds.io.fds.reset_all();
    super::after_fork(inner)?;
    inner.kinds.fork.postfork = true;
    Ok(())
}

/// At the start of each iteration: the automatic fork check, and the fork
/// watchers after a fork. Returns whether fork watchers were queued.
#[inline]
pub(crate) fn reify<T>(inner: &mut Inner<T>) -> Result<bool, Error> {
    if inner.opts.fork_check && process::getpid() != inner.kinds.fork.pid {
        loop_fork(inner)?;
    }
    if !std::mem::take(&mut inner.kinds.fork.postfork) {
        return Ok(false);
    }
    let list = std::mem::take(&mut inner.kinds.fork.list);
    inner.queue_all(&list, Events::FORK);
    inner.kinds.fork.list = list;
    Ok(true)
}

impl<'a, T> Ctx<'a, T> {
    /// Creates a stopped fork watcher (libev's `ev_fork`): after
    /// [`loop_fork`](Self::loop_fork) in a forked child, its callback runs
    /// with [`Events::FORK`] in the next iteration, before the loop polls.
    /// Unlike libev's, an active fork watcher does not keep `run` going (it
    /// waits for an event that most processes never see);
    /// [`Watcher::set_keepalive`]`(true)` makes it.
    ///
    /// # Errors
    ///
    /// None today; the `Result` keeps the shape of the other constructors.
    pub fn new_fork<F>(&mut self, cb: F) -> Result<ForkId, Error>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, ForkId, Events) + 'static,
    {
        let key = self.inner.insert(Kind::Fork(NO_INDEX), super::wrap(cb));
        self.inner.slots[key].keepalive = false;
        Ok(self.inner.handle(key))
    }

    /// A view of a fork watcher.
    ///
    /// # Errors
    ///
    /// [`Error::StaleHandle`] if it was removed, [`Error::ForeignHandle`]
    /// if the handle is another loop's.
    #[inline]
    pub fn fork(&mut self, id: ForkId) -> Result<Watcher<'_, T, ForkId>, Error> {
        self.watcher(id)
    }

    /// Tells the loop that the process forked and this is the child (libev's
    /// `ev_loop_fork`); call it in the child before using the loop. It
    /// rebuilds the loop's kernel state now (backend, wake-up and signal
    /// eventfds, inotify, and every embedded loop's) and makes the fork
    /// watchers run in the next iteration, before the poll. The parent's
    /// loop needs nothing.
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
        loop_fork(self.inner)
    }
}

impl<'a, T> Watcher<'a, T, ForkId> {
    crate::view::set_callback!(ForkId);
}
