//! Creating a loop: backend choice, environment override, clock.

use std::any::TypeId;
use std::env;

use crate::backend::{self, recommended_backends, supported_backends, Backend, Backends};
use crate::clock::{Clock, SystemClock};
use crate::inner::Options;
use crate::sys::process;
use crate::{Error, Loop};

/// The environment variable that names the backend, as `LIBEV_FLAGS` does
/// for libev: `EVLOOP_BACKEND=epoll|poll|select`.
pub const BACKEND_ENV: &str = "EVLOOP_BACKEND";

/// Options for a new [`Loop`] (libev's `ev_loop_new` flags).
///
/// ```
/// use evloop::{Backend, Loop};
/// let mut lp: Loop<()> = Loop::builder()
///     .backend(Backend::Poll)
///     .ignore_env(true)
///     .build()?;
/// assert_eq!(lp.ctx().backend(), Backend::Poll);
/// # Ok::<(), evloop::Error>(())
/// ```
pub struct LoopBuilder {
    backends: Option<Backends>,
    ignore_env: bool,
    clock: Option<Box<dyn Clock>>,
    opts: Options,
}

impl std::fmt::Debug for LoopBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopBuilder")
            .field("backends", &self.backends)
            .field("ignore_env", &self.ignore_env)
            .field("fork_check", &self.opts.fork_check)
            .field("inotify", &self.opts.inotify)
            .field("pidfd", &self.opts.pidfd)
            .finish_non_exhaustive()
    }
}

/// A set-user-ID or set-group-ID program does not let whoever starts it
/// choose its backend through the environment (libev does the same).
fn privileged() -> bool {
    process::privileged()
}

impl Default for LoopBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LoopBuilder {
    /// Defaults: the best recommended backend, `EVLOOP_BACKEND` honoured,
    /// the system clock.
    pub fn new() -> Self {
        LoopBuilder {
            backends: None,
            ignore_env: false,
            clock: None,
            opts: Options::default(),
        }
    }

    /// Check the process id at the start of every iteration and do
    /// [`loop_fork`](crate::Ctx::loop_fork) by itself when it changed
    /// (libev's `EVFLAG_FORKCHECK`). Costs one `getpid` per iteration; off
    /// by default.
    pub fn fork_check(mut self, on: bool) -> Self {
        self.opts.fork_check = on;
        self
    }

    /// Whether stat watchers may use inotify (default: yes; libev's
    /// `EVFLAG_NOINOTIFY` turns it off). Without it they poll only.
    pub fn inotify(mut self, on: bool) -> Self {
        self.opts.inotify = on;
        self
    }

    /// Whether child watchers may use pidfds (default: yes, where the
    /// kernel has them). Without, they rely on SIGCHLD and `waitpid`; see
    /// [`Ctx::new_child`](crate::Ctx::new_child).
    pub fn pidfd(mut self, on: bool) -> Self {
        self.opts.pidfd = on;
        self
    }

    /// Use exactly this backend; building fails if it cannot be created.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backends = Some(match backend {
            Backend::Epoll => Backends::EPOLL,
            Backend::Poll => Backends::POLL,
            Backend::Select => Backends::SELECT,
        });
        self
    }

    /// Use the best backend of this set that can be created.
    pub fn backends(mut self, backends: Backends) -> Self {
        self.backends = Some(backends);
        self
    }

    /// Ignore `EVLOOP_BACKEND` (libev's `EVFLAG_NOENV`). Without this, the
    /// variable overrides the backend chosen here, so that a user can force a
    /// backend on any program without rebuilding it. Set-user-ID and
    /// set-group-ID programs always ignore it.
    pub fn ignore_env(mut self, ignore: bool) -> Self {
        self.ignore_env = ignore;
        self
    }

    /// Read time from this clock instead of the system's (for tests).
    pub fn clock<C: Clock + 'static>(mut self, clock: C) -> Self {
        // The system clock is read without the trait object (see `Time`).
        self.clock = if TypeId::of::<C>() == TypeId::of::<SystemClock>() {
            None
        } else {
            Some(Box::new(clock))
        };
        self
    }

    /// Creates the loop.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBackend`] if `EVLOOP_BACKEND` names no backend,
    /// [`Error::BackendUnavailable`] if the requested backend (by the
    /// variable or by [`backend`](Self::backend)) is not supported here or
    /// could not be created; there is no silent fallback in either case.
    pub fn build<T>(self) -> Result<Loop<T>, Error> {
        let from_env = if self.ignore_env || privileged() {
            None
        } else {
            match env::var(BACKEND_ENV) {
                Ok(v) if !v.trim().is_empty() => Some(v.parse::<Backend>()?),
                _ => None,
            }
        };
        let poller = if let Some(b) = from_env {
            if !supported_backends().has(b) {
                return Err(Error::BackendUnavailable(b, None));
            }
            backend::create(b)?
        } else {
            let allowed = self.backends.unwrap_or_else(recommended_backends);
            let mut last = None;
            let mut made = None;
            for b in allowed.iter_best_first() {
                if !supported_backends().has(b) {
                    last = Some(Error::BackendUnavailable(b, None));
                    continue;
                }
                match backend::create(b) {
                    Ok(p) => {
                        made = Some(p);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match made {
                Some(p) => p,
                None => {
                    return Err(last.unwrap_or(Error::InvalidArgument("no backend was allowed")))
                }
            }
        };
        Ok(Loop::from_parts(poller, self.clock, self.opts))
    }
}
