//! evloop: a callback-style event loop modeled on libev, with a safe API.
//!
//! A [`Loop`] owns *watchers*. Each watcher waits for one kind of event, an
//! fd becoming readable, a timeout, a wall-clock time, and calls its closure
//! when that happens. Closures receive the loop's API ([`Ctx`]) and the
//! application's state `&mut T`, which [`run`](Loop::run) lends to them, so
//! a callback can touch shared state and start, stop, change or remove any
//! watcher, itself included, without `Rc<RefCell<_>>` or `unsafe`.
//!
//! A TCP server, with nothing but io watchers: one on the listening
//! socket, one per connection. Each connection's watcher owns its
//! `TcpStream`; removing the watcher closes it.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use evloop::{Events, Loop, RunMode};
//!
//! #[derive(Default)]
//! struct Server { served: u32 }
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! listener.set_nonblocking(true)?;
//! let addr = listener.local_addr()?;
//! let mut lp: Loop<Server> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let accept = ctx.new_io(listener, Events::READ, |ctx, server, id, _ev| {
//!     let Ok((conn, _peer)) = ctx.io(id).unwrap().source().accept() else { return };
//!     conn.set_nonblocking(true).unwrap();
//!     let echo = ctx.new_io(conn, Events::READ, |ctx, _server, id, _ev| {
//!         let mut io = ctx.io(id).unwrap();
//!         let mut buf = [0u8; 4096];
//!         match io.source().read(&mut buf) {
//!             Ok(0) | Err(_) => io.remove(), // closed: drop the watcher and the socket
//!             Ok(n) => { let _ = io.source().write_all(&buf[..n]); }
//!         }
//!     }).unwrap();
//!     ctx.start(echo).unwrap();
//!     server.served += 1;
//!     ctx.stop(id).unwrap(); // one client for this example; then run returns
//! })?;
//! ctx.start(accept)?;
//!
//! // A client in another thread, so that this one can run the loop.
//! let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
//!     let mut c = TcpStream::connect(addr)?;
//!     c.write_all(b"ping")?;
//!     let mut back = [0u8; 4];
//!     c.read_exact(&mut back)?;
//!     Ok(back.to_vec())
//! });
//! let mut server = Server::default();
//! lp.run(&mut server, RunMode::Default)?;
//! assert_eq!(client.join().unwrap()?, b"ping");
//! assert_eq!(server.served, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Watchers
//!
//! Every kind has a constructor on [`Ctx`] (`new_*`: the watcher is created
//! stopped), a typed handle, and a view that its handle opens
//! (`ctx.timer(id)?`, a [`Watcher`]) with the calls every kind shares
//! (start, stop, remove, priority, keepalive, feed, callback) and the
//! kind's own.
//!
//! | kind | created with | handle | libev | fires |
//! |---|---|---|---|---|
//! | io | [`Ctx::new_io`], [`Ctx::new_io_raw`] | [`IoId<S>`] | `ev_io` | fd readable / writable (level-triggered) |
//! | timer | [`Ctx::new_timer`] | [`TimerId`] | `ev_timer` | after a monotonic delay, optionally repeating |
//! | periodic | [`Ctx::new_periodic`] | [`PeriodicId`] | `ev_periodic` | at wall-clock times |
//! | idle | [`Ctx::new_idle`] | [`IdleId`] | `ev_idle` | when nothing else is pending |
//! | prepare | [`Ctx::new_prepare`] | [`PrepareId`] | `ev_prepare` | before each poll |
//! | check | [`Ctx::new_check`] | [`CheckId`] | `ev_check` | after each poll |
//! | signal | [`Ctx::new_signal`] | [`SignalId`] | `ev_signal` | a POSIX signal arrived (delivered inside `run`) |
//! | child | [`Ctx::new_child`] | [`ChildId`] | `ev_child` | a child process exited, was killed, stopped or continued |
//! | async | [`Ctx::new_async`] | [`AsyncId`] | `ev_async` | another thread (or a signal handler) sent a wake-up |
//! | stat | [`Ctx::new_stat`] | [`StatId`] | `ev_stat` | a path's attributes changed |
//! | fork | [`Ctx::new_fork`] | [`ForkId`] | `ev_fork` | in a forked child, after [`Ctx::loop_fork`] |
//! | cleanup | [`Ctx::new_cleanup`] | [`CleanupId`] | `ev_cleanup` | when the loop is dropped |
//! | embed | [`Ctx::new_embed`] | [`EmbedId<U>`] | `ev_embed` | another loop, driven by this one, had events |
//! | once | [`Ctx::once_io`], [`Ctx::once_timer`] | [`Once<S>`] | `ev_once` | one io event or timeout |
//!
//! A watcher exists independently of being active, as in libev: create it
//! (stopped), [`start`](Watcher::start) it, [`stop`](Watcher::stop) it,
//! change its settings, start it again, and [`remove`](Watcher::remove) it
//! when done. [`Ctx::start`], [`Ctx::stop`] and [`Ctx::remove`] are
//! shortcuts for the view's calls.
//!
//! # Handles
//!
//! A handle ([`IoId`], [`TimerId`], ...) is a small `Copy` value that
//! names one watcher of one loop. It carries the loop's [`LoopId`] and its
//! kind is its type, so it can only ever reach the watcher it was made for:
//! a handle whose watcher was removed is *stale* ([`Error::StaleHandle`]),
//! one used with another loop is refused ([`Error::ForeignHandle`]), and
//! the watchers the loop keeps for itself (wake-up fds, pidfds, inotify,
//! embedding) have no handle at all.
//!
//! An io watcher's handle names the type of its source: `ctx.io(id)?.source()`
//! is the `TcpStream` (or whatever was given), lent for reading and
//! writing. It cannot be replaced or closed through the loop's API while
//! the loop has its fd registered: I/O safety holds through every safe
//! call.
//!
//! # Watcher states
//!
//! * **active**: started and not stopped. Active watchers (unless
//!   [`set_keepalive`](Watcher::set_keepalive)`(false)`) keep `run` going. A
//!   one-shot timer or periodic becomes inactive when it fires; an io watcher
//!   when its fd turns out bad (it then gets [`Events::ERROR`]).
//! * **pending**: an event has been collected and the callback has not run
//!   yet. Stopping (or removing) a pending watcher drops the event: a
//!   callback never runs for a watcher that was stopped before its turn,
//!   even within the iteration that collected the event.
//!
//! # One iteration
//!
//! [`Loop::run`] repeats these steps, in libev's order:
//!
//! 1. Events already pending (fed, or left by a panicking callback) run.
//! 2. After a fork, fork watchers run. Prepare watchers run. If a break was
//!    requested, `run` returns here.
//! 3. Queued fd interest changes go to the backend, one system call at
//!    most per changed fd (a watcher stopped and started again in between
//!    costs nothing).
//! 4. The blocking time is computed: zero in [`RunMode::NoWait`], with an
//!    active idle watcher, with events pending, or with nothing left to keep
//!    the loop alive; otherwise until the nearest timer or periodic (at most
//!    about a minute while periodics exist), or forever.
//! 5. The backend polls; ready fds become pending io events.
//! 6. The clocks are read once; timers and periodics whose time has passed
//!    become pending, earliest first.
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
//! # Room for libraries
//!
//! A library built on the loop (evloop-buffer's streams, an HTTP client's
//! connection pool, a DNS cache) keeps its per-loop state in the loop's
//! extension slots ([`Ctx::insert_ext`], [`Ctx::ext_mut`]: one value per
//! type), stamps its own handles with [`Ctx::loop_id`] to refuse another
//! loop's, and can replace a watcher's callback ([`Watcher::set_callback`],
//! libev's `ev_set_cb`).
//!
//! # Backends
//!
//! epoll, poll or select, chosen when the loop is created: the best one that
//! works, or the one `EVLOOP_BACKEND` names (unless the builder says
//! [`ignore_env`](LoopBuilder::ignore_env)), or the one the builder names.
//! See [`Backend`], [`supported_backends`] and [`recommended_backends`].
//! Every system call lives in one private module, the only place with
//! `unsafe` code.
//!
//! # Signals: who owns them
//!
//! A signal's disposition belongs to the process, not to a loop. evloop
//! installs one handler for every signal that some loop watches; the
//! handler only records the signal and writes an eventfd of each loop that
//! watches it, and the loop runs the watchers inside [`Loop::run`]. So:
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
//! [`signum`] has the usual signal numbers.
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
//! child watcher is active) and calls `waitid` for each watched pid; still
//! only watched pids are reaped. A watcher of pid 0 (any child) reaps every
//! child that exits while it is active, as libev does; do not combine it
//! with `Child::wait` elsewhere. Each state change goes to every watcher of
//! that pid and every watcher of pid 0 in the loop that found it.
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
//!    handler use, renews inotify with the same watches, and forks every
//!    embedded loop;
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
//! [`Ctx::new_embed`] lets one evloop loop drive another (the inner one
//! must use epoll). Any other event loop can drive an evloop loop too: poll
//! [`Ctx::backend_fd`] for readability together with your own fds, with
//! the timeout [`Ctx::next_timeout`] gives, after
//! [`Ctx::flush_fd_changes`]; then call `run(..., RunMode::NoWait)`.
//! `examples/foreign_loop.rs` shows it.
//!
//! # Time
//!
//! Timers count monotonic time from the loop's cached [`Ctx::now`], which is
//! read once per iteration; periodics follow the wall clock. A timer or
//! periodic fires once its time has passed (strictly later, as in libev),
//! never at or before it. Both clocks come from a [`Clock`], which tests can
//! replace with a [`ManualClock`].

#![warn(missing_debug_implementations)]
#![deny(unsafe_code)]

mod backend;
mod builder;
mod clock;
mod ctx;
mod error;
mod event_loop;
mod events;
mod ext;
mod fd_table;
mod handle;
mod inner;
mod pending;
mod signals;
pub mod signum;
mod sys;
mod time;
mod timer_heap;
mod view;
mod wake;
mod watcher;

pub use backend::{recommended_backends, supported_backends, Backend, Backends};
pub use builder::{LoopBuilder, BACKEND_ENV};
pub use clock::{Clock, ManualClock, SystemClock};
pub use ctx::{Ctx, WatcherCount};
pub use error::{Error, Result};
pub use event_loop::{Break, Loop, RunMode};
pub use events::Events;
pub use handle::{LoopId, Priority, WatcherId};
pub use signals::feed_signal;
pub use view::Watcher;
pub use watcher::asyncw::{AsyncId, AsyncSender};
pub use watcher::child::{ChildEvent, ChildId, ChildStatus};
pub use watcher::cleanup::CleanupId;
pub use watcher::embed::EmbedId;
pub use watcher::fork::ForkId;
pub use watcher::io::{IoId, SourceMut};
pub use watcher::lists::{CheckId, IdleId, PrepareId};
pub use watcher::once::Once;
pub use watcher::periodic::PeriodicId;
pub use watcher::signal::SignalId;
pub use watcher::stat::{StatAttrs, StatId, DEFAULT_STAT_INTERVAL, MIN_STAT_INTERVAL};
pub use watcher::timer::TimerId;
pub use watcher::Schedule;
