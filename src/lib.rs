//! evloop: a callback-style event loop modeled on libev, with a safe API.
//!
//! A [`Loop`] owns *watchers*. Each watcher waits for one kind of event, an
//! fd becoming readable, a timeout, a wall-clock time, and calls its closure
//! when that happens. Closures receive the loop's API ([`Ctx`]) and the
//! application's state `&mut T`, which [`run`](Ctx::run) lends to them, so
//! a callback can touch shared state and start, stop, change or remove any
//! watcher, itself included, without `Rc<RefCell<_>>` or `unsafe`.
//!
//! ```
//! use std::time::Duration;
//! use evloop::{Loop, RunMode};
//!
//! struct App { ticks: u32 }
//! let mut lp: Loop<App> = Loop::new()?;
//! let tick = lp.timer(Duration::ZERO, Duration::from_millis(1), |ctx, app, id, _ev| {
//!     app.ticks += 1;
//!     if app.ticks == 3 {
//!         ctx.remove(id).unwrap(); // nothing left: run returns
//!     }
//! })?;
//! lp.start(tick)?;
//! let mut app = App { ticks: 0 };
//! lp.run(&mut app, RunMode::Default)?;
//! assert_eq!(app.ticks, 3);
//! # Ok::<(), evloop::Error>(())
//! ```
//!
//! # Watchers
//!
//! | kind | created with | libev | fires |
//! |---|---|---|---|
//! | io | [`Ctx::io`], [`Ctx::io_raw`] | `ev_io` | fd readable / writable (level-triggered) |
//! | timer | [`Ctx::timer`] | `ev_timer` | after a monotonic delay, optionally repeating |
//! | periodic | [`Ctx::periodic`] | `ev_periodic` | at wall-clock times |
//! | idle | [`Ctx::idle`] | `ev_idle` | when nothing else is pending |
//! | prepare | [`Ctx::prepare`] | `ev_prepare` | before each poll |
//! | check | [`Ctx::check`] | `ev_check` | after each poll |
//! | once | [`Ctx::once_io`], [`Ctx::once_timer`] | `ev_once` | one io event or timeout |
//!
//! A watcher exists independently of being active, as in libev: create it
//! (stopped), [`start`](Ctx::start) it, [`stop`](Ctx::stop) it, change its
//! settings, start it again, and [`remove`](Ctx::remove) it when done. Its
//! handle ([`IoId`], [`TimerId`], ...) is a small `Copy` key; a handle whose
//! watcher was removed is *stale*, and every call with it returns
//! [`Error::StaleHandle`].
//!
//! # Watcher states
//!
//! * **active**: started and not stopped. Active watchers (unless
//!   [`set_keepalive`](Ctx::set_keepalive)`(false)`) keep `run` going. A
//!   one-shot timer or periodic becomes inactive when it fires; an io watcher
//!   when its fd turns out bad (it then gets [`Events::ERROR`]).
//! * **pending**: an event has been collected and the callback has not run
//!   yet. Stopping (or removing) a pending watcher drops the event: a
//!   callback never runs for a watcher that was stopped before its turn,
//!   even within the iteration that collected the event.
//!
//! # One iteration
//!
//! [`Ctx::run`] repeats these steps, in libev's order:
//!
//! 1. Events already pending (fed, or left by a panicking callback) run.
//! 2. Prepare watchers run. If a break was requested, `run` returns here.
//! 3. Queued fd interest changes go to the backend, one system call at
//!    most per changed fd (a watcher stopped and started again in between
//!    costs nothing).
//! 4. The blocking time is computed: zero in [`RunMode::NoWait`], with an
//!    active idle watcher, with events pending, or with nothing left to keep
//!    the loop alive; otherwise until the nearest timer or periodic (at most
//!    about a minute while periodics exist), or forever.
//! 5. The backend polls; ready fds become pending io events.
//! 6. The clocks are read once; expired timers, then due periodics, become
//!    pending, earliest first.
//! 7. Idle watchers of the highest priority that has any become pending if
//!    nothing of that priority or higher is.
//! 8. Check watchers become pending.
//! 9. Pending callbacks run, highest priority first. Within a priority the
//!    most recently queued runs first (libev's order): check watchers before
//!    idle, idle before periodics, periodics before timers, timers before io.
//!    A callback that makes a higher-priority watcher pending has it run next.
//!
//! `run` in [`RunMode::Default`] repeats until [`Ctx::break_loop`] or until
//! no referenced active watcher is left; [`RunMode::Once`] and
//! [`RunMode::NoWait`] do one iteration.
//!
//! # Priorities
//!
//! Every watcher has a [`Priority`] from -2 to 2 (default 0). Priorities
//! order the callbacks of one iteration; they do not starve anything except
//! idle watchers, which run only when nothing of their priority or higher is
//! pending.
//!
//! # Backends
//!
//! epoll, poll or select, chosen when the loop is created: the best one that
//! works, or the one `EVLOOP_BACKEND` names (unless the builder says
//! [`ignore_env`](LoopBuilder::ignore_env)), or the one the builder names.
//! See [`Backend`], [`supported_backends`] and [`recommended_backends`].
//!
//! # Time
//!
//! Timers count monotonic time from the loop's cached [`Ctx::now`], which is
//! read once per iteration; periodics follow the wall clock. Both clocks
//! come from a [`Clock`], which tests can replace with a [`ManualClock`].

#![warn(missing_debug_implementations)]

mod backend;
mod builder;
mod clock;
mod error;
mod event_loop;
mod events;
mod fd_table;
mod handle;
mod pending;
mod signals;
mod timer_heap;
mod wake;
mod watcher;

pub use backend::{recommended_backends, supported_backends, Backend, Backends};
pub use builder::{LoopBuilder, BACKEND_ENV};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use event_loop::{Break, Ctx, Loop, RunMode};
pub use events::Events;
pub use handle::{
    AsyncId, CheckId, ChildId, CleanupId, EmbedId, ForkId, IdleId, IoId, PeriodicId, PrepareId,
    Priority, SignalId, StatId, TimerId, WatcherId,
};
pub use signals::feed_signal;
pub use watcher::asyncw::AsyncSender;
pub use watcher::child::ChildStatus;
pub use watcher::once::Once;
pub use watcher::stat::{StatAttrs, DEFAULT_STAT_INTERVAL, MIN_STAT_INTERVAL};
pub use watcher::Schedule;
