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
//! | signal | [`Ctx::signal`] | `ev_signal` | a POSIX signal arrived (delivered inside `run`) |
//! | child | [`Ctx::child`] | `ev_child` | a child process exited, was killed, stopped or continued |
//! | async | [`Ctx::async_watcher`] | `ev_async` | another thread (or a signal handler) sent a wake-up |
//! | stat | [`Ctx::stat`] | `ev_stat` | a path's attributes changed |
//! | fork | [`Ctx::fork`] | `ev_fork` | in a forked child, after [`Ctx::loop_fork`] |
//! | cleanup | [`Ctx::cleanup`] | `ev_cleanup` | when the loop is dropped |
//! | embed | [`Ctx::embed`] | `ev_embed` | another loop, driven by this one, had events |
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
//! # Signals: who owns them
//!
//! A signal's disposition belongs to the process, not to a loop. evloop
//! installs one handler for every signal that some loop watches; the
//! handler only records the signal and writes an eventfd of each loop that
//! watches it, and the loop runs the watchers inside [`Ctx::run`]. So:
//!
//! * **every loop that watches a signal gets it** (libev lets one loop own
//!   a signal); any number of watchers per loop;
//! * when the last watcher of a signal in the process stops, or its loop is
//!   dropped, the disposition from before the first one started comes back;
//!   while any is active, a handler installed by other code for that signal
//!   is replaced (forward to evloop from your own handler with
//!   [`feed_signal`] if you must keep yours);
//! * evloop does not touch the signal mask: block a signal in the threads
//!   that should not take it, or leave it unblocked everywhere;
//! * a burst of one signal before the loop looks is one callback; a signal
//!   is never lost entirely while a watcher of it is active.
//!
//! # Children: who reaps them
//!
//! Child watchers work on any loop. With pidfds (Linux 5.3 and later, the
//! default) each watcher of one pid waits for that pid only, through its
//! pidfd, so children the application waits for itself (say with
//! [`std::process::Child::wait`]) are never reaped behind its back, and no
//! SIGCHLD handler is needed unless a watcher asks for stops and continues.
//! Without pidfds ([`LoopBuilder::pidfd`]`(false)`, or an older kernel)
//! the loop catches SIGCHLD (see above: the disposition is evloop's while a
//! child watcher is active) and calls `waitpid` for each watched pid; still
//! only watched pids are reaped. A watcher of pid 0 (any child) reaps every
//! child that exits while it is active, as libev does; do not combine it
//! with `Child::wait` elsewhere.
//!
//! # After fork
//!
//! A forked child shares its parent's epoll set, eventfds and inotify
//! instance; used by both, they would mix up each other's events. In the
//! child, before using a loop:
//!
//! 1. call [`Ctx::loop_fork`] (or build the loop with
//!    [`LoopBuilder::fork_check`]`(true)` to have it noticed by itself at the
//!    next iteration). It creates a new backend and registers every active fd
//!    in it, puts fresh eventfds at the numbers async senders and the signal
//!    handler use, and renews inotify with the same watches;
//! 2. the loop's fork watchers run in its next iteration, before it polls;
//! 3. the parent's loop needs nothing and is not disturbed by the child.
//!
//! Only the forking thread exists in the child: a loop that belonged to
//! another thread cannot be used there (drop it or leave it alone). Pidfds
//! of the parent's children stay open in the child but are not its
//! children: their watchers see nothing.
//!
//! # Inside other loops
//!
//! [`Ctx::embed`] lets one evloop loop drive another (the inner one must use
//! epoll). Any other event loop can drive an evloop loop too: poll
//! [`Ctx::backend_fd`] for readability together with your own fds, with
//! the timeout [`Ctx::next_timeout`] gives, after
//! [`Ctx::flush_fd_changes`]; then call `run(..., RunMode::NoWait)`.
//! `examples/foreign_loop.rs` shows it.
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
