//! The TCP server: the loop, the listener, the store's clock and the
//! signals that stop it. What happens on each connection is in [`conn`].
//!
//! [`conn`]: crate::conn

use std::error::Error;
use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use evloop::signum::{SIGINT, SIGTERM};
use evloop::{Break, Ctx, Loop, RunMode};
use evloop_buffer::{ListenerEvent, ListenerExt, ListenerId, ListenerOptions, StreamId};
use hashbrown::HashMap;

use crate::clock::Clock;
use crate::config::Config;
use crate::conn::{self, Conn};
use crate::stats::Stats;
use crate::store::Store;

/// How often the clock timer runs: memcached's clock has whole seconds.
const TICK: Duration = Duration::from_secs(1);

/// Dead items (expired, flushed) freed per tick from the LRU's old end, as
/// memcached's LRU crawler does; bounded so one tick stays short.
const RECLAIM_PER_TICK: usize = 4096;

/// File descriptors kept beyond `-c` for the listener, the loop's own and
/// connections that are refused (they are accepted to be told why).
const SPARE_FDS: u64 = 64;

/// The loop's application state: everything the callbacks share.
pub struct App {
    /// The cache.
    pub store: Store,
    /// Server-wide counters.
    pub stats: Stats,
    /// The open client connections.
    pub conns: HashMap<StreamId, Conn>,
    /// `-I`, for new connections' parsers.
    pub item_max: usize,
}

/// Serves TCP on `cfg.listen` until SIGTERM or SIGINT, after printing
/// the address it listens on (`memcached: listening on ADDR:PORT`).
///
/// # Errors
///
/// If the loop cannot be made or the address cannot be bound.
pub fn run(cfg: &Config) -> Result<(), Box<dyn Error>> {
    raise_fd_limit(cfg.max_connections as u64 + SPARE_FDS);
    let mut lp: Loop<App> = Loop::new()?;
    let mut ctx = lp.ctx();
    let listener = ctx
        .listen(cfg.listen, &ListenerOptions::new(), conn::on_accept)
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    ctx.listener(listener)?.on_event(on_listener_event);
    // The real address: the port the kernel chose for `--listen ...:0`.
    let addr = ctx.listener(listener)?.local_addr()?;
    // The signals arrive through the loop, so stopping happens between
    // callbacks, never in the middle of a request.
    for signum in [SIGTERM, SIGINT] {
        let id = ctx.new_signal(signum, |ctx, _, _, _| ctx.break_loop(Break::All))?;
        ctx.start(id)?;
    }
    let clock = ctx.new_timer(TICK, TICK, |ctx, app, _, _| {
        tick_clock(ctx, app);
        app.store.reclaim(RECLAIM_PER_TICK);
    })?;
    ctx.start(clock)?;
    // Not `println!`: a closed stdout must not stop the server.
    let _ = writeln!(io::stdout(), "memcached: listening on {addr}");
    let mut app = App {
        store: Store::new(cfg.memory_limit, cfg.item_size_max, Clock::system()),
        stats: Stats::new(cfg.max_connections),
        conns: HashMap::new(),
        item_max: cfg.item_size_max,
    };
    lp.run(&mut app, RunMode::Default)?;
    Ok(())
}

/// Moves the store's clock to the loop's wall-clock time, which the loop
/// reads once per iteration anyway: free, and precise to the second, so an
/// item's lifetime does not depend on when the 1 s timer last ran.
pub fn tick_clock(ctx: &Ctx<'_, App>, app: &mut App) {
    let unix = ctx
        .now_wall()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    app.store.set_time(unix);
}

/// Logs accept failures (out of file descriptors): once per outage.
fn on_listener_event(_: &mut Ctx<'_, App>, _: &mut App, _: ListenerId, ev: ListenerEvent) {
    match ev {
        ListenerEvent::Paused { error, retry_in } => {
            eprintln!("memcached: accept failed ({error}); retrying in {retry_in:?}");
        }
        ListenerEvent::Resumed { failed_retries } => {
            eprintln!("memcached: accepting again after {failed_retries} failed retries");
        }
    }
}

/// Raises the soft open-files limit to `want` (up to the hard limit), as
/// memcached does for `-c`: the default soft limit (often 1024) would make
/// accepting fail below `-c`.
fn raise_fd_limit(want: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let target = want.min(hard);
    if target > soft && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_err() {
        eprintln!("memcached: cannot raise the open files limit to {target}");
    }
}
