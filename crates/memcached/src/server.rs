//! The TCP server: one event loop per `-t` thread, each with its own
//! listeners on every address (`SO_REUSEPORT` when there are several loops,
//! so the kernel spreads connections over them), all serving one store;
//! the store's clock, the signals that stop it and `shutdown`. What happens
//! on each connection is in [`conn`].
//!
//! The store and the counters are one [`Core`] behind a mutex that a
//! connection holds while it runs a batch of requests (never across a
//! system call), so the loops' reads and writes run in parallel and their
//! requests one after the other, each batch atomic.
//!
//! [`conn`]: crate::conn

use std::cell::{RefCell, RefMut};
use std::error::Error;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use evloop::signum::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use evloop::{AsyncSender, Break, Ctx, Loop, RunMode, TimerId};
use evloop_buffer::{
    ListenAddr, ListenerEvent, ListenerExt, ListenerId, ListenerOptions, StreamId,
};
use hashbrown::HashMap;

use crate::clock::Clock;
use crate::config::{Config, UnixSocket};
use crate::conn::{self, Conn, ConnOptions};
use crate::stats::{ConnInfo, Settings, Stats, Waiting};
use crate::store::Store;
use crate::watch::Event;
use crate::watchers::Watchers;

/// How often the clock timer runs: memcached's clock has whole seconds.
const TICK: Duration = Duration::from_secs(1);

/// Dead items (expired, flushed) freed per tick from the LRU's old end, as
/// memcached's LRU crawler does; bounded so one tick stays short.
const RECLAIM_PER_TICK: usize = 4096;

/// File descriptors kept beyond `-c` for the listeners, the loops' own and
/// connections that are refused (they are accepted to be told why).
const SPARE_FDS: u64 = 64;

/// What all loops share: the cache and the counters.
pub struct Core {
    /// The cache.
    pub store: Store,
    /// Server-wide counters.
    pub stats: Stats,
    /// The `watch` connections of every loop.
    pub watchers: Watchers<StreamId>,
}

/// The `watch` side of the core: the watchers, the store's mask of the
/// kinds they want and the `log_*` counters change only here, together.
impl Core {
    /// Records an event of the server's own (a connection opened or
    /// closed) with the store's, if some watcher wants its kind.
    pub fn log(&mut self, ev: Event) {
        if self.store.log.wants(ev.flag()) {
            self.store.log.events.push(ev);
        }
    }

    /// Hands the events recorded since the last call to the `watch`
    /// connections (see [`crate::watch`]).
    pub fn publish_events(&mut self) {
        if !self.store.log.events.is_empty() {
            let events = std::mem::take(&mut self.store.log.events);
            self.watchers.publish(events);
            self.sync_watchers();
        }
    }

    /// Makes stream `id` of loop `loop_ix` a watcher of `flags`; `false`
    /// at the limit.
    pub fn add_watcher(&mut self, loop_ix: usize, id: StreamId, flags: u16) -> bool {
        let added = self.watchers.add(loop_ix, id, flags);
        self.sync_watchers();
        added
    }

    /// Forgets a watcher whose connection closed.
    pub fn remove_watcher(&mut self, loop_ix: usize, id: StreamId) {
        if self.watchers.remove(loop_ix, id) {
            self.sync_watchers();
        }
    }

    /// The store's mask and the counters `stats` shows, after a change of
    /// the watchers.
    pub fn sync_watchers(&mut self) {
        self.store.log.mask = self.watchers.mask();
        self.stats.log = self.watchers.counters();
    }
}

/// Where a loop finds the core: its own (one loop: no lock to take on the
/// hot path) or shared with the other loops behind a mutex.
pub enum CoreCell {
    /// The only loop's.
    Own(Box<RefCell<Core>>),
    /// Shared by `-t` loops.
    Shared(Arc<Mutex<Core>>),
}

/// Access to the core for one callback (see [`lock`]).
pub enum CoreGuard<'a> {
    /// The only loop's core, borrowed.
    Own(RefMut<'a, Core>),
    /// The shared core, locked.
    Shared(MutexGuard<'a, Core>),
}

impl Deref for CoreGuard<'_> {
    type Target = Core;

    fn deref(&self) -> &Core {
        match self {
            CoreGuard::Own(c) => c,
            CoreGuard::Shared(c) => c,
        }
    }
}

impl DerefMut for CoreGuard<'_> {
    fn deref_mut(&mut self) -> &mut Core {
        match self {
            CoreGuard::Own(c) => c,
            CoreGuard::Shared(c) => c,
        }
    }
}

/// Takes the core for the rest of a callback (never across one: callbacks
/// do not nest). A panic in another loop while it held the lock leaves
/// the store consistent between requests, so the poison is ignored.
pub fn lock(core: &CoreCell) -> CoreGuard<'_> {
    match core {
        CoreCell::Own(c) => CoreGuard::Own(c.borrow_mut()),
        CoreCell::Shared(c) => CoreGuard::Shared(c.lock().unwrap_or_else(|e| e.into_inner())),
    }
}

/// One loop's application state: everything its callbacks share.
pub struct App {
    /// The store and counters (shared by all loops when there are several).
    pub core: CoreCell,
    /// This loop's open client connections.
    pub conns: HashMap<StreamId, Conn>,
    /// How new connections are set up.
    pub opts: ConnOptions,
    /// Connections waiting for another turn (`-R`).
    pub turns: Vec<StreamId>,
    /// The zero-delay timer that gives them their turn.
    pub turn_timer: TimerId,
    /// Wakes every loop to stop (`shutdown`, signals).
    stop: Arc<Mutex<Vec<AsyncSender>>>,
    /// This loop's index among the `-t` loops (0: the first).
    pub loop_ix: usize,
}

impl App {
    /// A loop's state, before it has connections; `turn_timer` is the one
    /// [`loop_timers`] made on that loop.
    fn new(
        core: CoreCell,
        opts: ConnOptions,
        turn_timer: TimerId,
        stop: Arc<Mutex<Vec<AsyncSender>>>,
        loop_ix: usize,
    ) -> App {
        App {
            core,
            conns: HashMap::new(),
            opts,
            turns: Vec::new(),
            turn_timer,
            stop,
            loop_ix,
        }
    }
}

/// Stops every loop: the `shutdown` command.
pub fn shutdown(ctx: &mut Ctx<'_, App>, app: &mut App) {
    stop_all(&app.stop);
    ctx.break_loop(Break::All);
}

/// SIGHUP: reads the `-Y` file again; one that no longer reads leaves
/// the pairs in force, with a line saying why.
fn reload_auth(app: &mut App) {
    let mut core = lock(&app.core);
    let Some(path) = core.stats.settings.auth.as_ref().map(|a| a.path.clone()) else {
        return;
    };
    match crate::auth::AuthFile::load(&path) {
        Ok(file) => core.stats.settings.auth = Some(file),
        Err(e) => eprintln!("memcached: {e}; the pairs read before stay in force"),
    }
}

/// Wakes every loop's stop watcher.
fn stop_all(stop: &Mutex<Vec<AsyncSender>>) {
    for s in stop.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        s.send();
    }
}

/// Serves TCP on `cfg.listen` with `cfg.threads` loops until SIGTERM,
/// SIGINT or an enabled `shutdown`, after printing each address it listens
/// on (`memcached: listening on ADDR:PORT`).
///
/// # Errors
///
/// If a loop cannot be made or an address cannot be bound.
pub fn run(cfg: &Config) -> Result<(), Box<dyn Error>> {
    let max_connections = fd_limit_for(cfg.max_connections, cfg.threads);
    if cfg.listen.is_empty() && cfg.udp.is_empty() && cfg.unix.is_none() {
        eprintln!("memcached: -p 0 without -U or -s: nothing to listen on");
    }
    for opt in &cfg.no_effect {
        // The flags come as `-f`; the `-o` options by name.
        let opt = if opt.starts_with('-') {
            opt.clone()
        } else {
            format!("-o {opt}")
        };
        eprintln!(
            "memcached: {opt} has no effect here (this server has no slab classes, \
             LRU segments or per-thread buffers to tune)"
        );
    }
    let conn_opts = ConnOptions {
        item_max: cfg.item_size_max,
        protocol: cfg.protocol,
        reqs_per_event: cfg.reqs_per_event,
        idle_timeout: cfg.idle_timeout,
    };
    let mut stats = Stats::new(max_connections);
    stats.reserved_fds = spare_fds(cfg.threads);
    stats.settings = Settings {
        threads: cfg.threads as u64,
        shutdown_enabled: cfg.enable_shutdown,
        unix: cfg
            .unix
            .as_ref()
            .map(|u| (u.path.display().to_string(), u.mode)),
        interfaces: {
            let mut ips = Vec::new();
            for a in cfg.listen.iter().chain(&cfg.udp) {
                if !ips.contains(&a.ip()) {
                    ips.push(a.ip());
                }
            }
            ips.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        },
        verbosity: u64::from(cfg.verbosity),
        flush_disabled: cfg.disable_flush,
        crawler_disabled: cfg.no_lru_crawler,
        reqs_per_event: cfg.reqs_per_event as u64,
        tcp_backlog: cfg.backlog as u64,
        protocol: cfg.protocol,
        idle_timeout: u64::from(cfg.idle_timeout),
        watch_disabled: cfg.disable_watch,
        auth: cfg.auth.clone(),
        dump_disabled: cfg.disable_dumping,
        prefix_delimiter: cfg.prefix_delimiter,
        detail_enabled: cfg.prefix_delimiter.is_some(),
        watcher_logbuf: cfg.watcher_logbuf as u64,
        ..Settings::default()
    };
    if let Some(level) = cfg.slab_automove {
        stats.settings.automove.level = level;
    }
    if let Some(ratio) = cfg.slab_automove_ratio {
        stats.settings.automove.ratio = ratio;
    }
    let mut store = Store::new(cfg.memory_limit, cfg.item_size_max, Clock::system());
    store.set_no_evict(cfg.no_evict);
    store.set_pull_tail(cfg.no_modern);
    if cfg.disable_cas {
        store.disable_cas();
    }
    let core = Core {
        store,
        stats,
        watchers: Watchers::new(cfg.watcher_logbuf),
    };
    // One loop keeps the core to itself; several share it.
    let (core, shared) = if cfg.threads > 1 {
        let arc = Arc::new(Mutex::new(core));
        (CoreCell::Shared(arc.clone()), Some(arc))
    } else {
        (CoreCell::Own(Box::new(RefCell::new(core))), None)
    };
    let stop = Arc::new(Mutex::new(Vec::new()));
    let several = cfg.threads > 1;
    let opts = ListenerOptions::new()
        .reuse_port(several)
        .backlog(cfg.backlog);

    // Loop 0 first: it binds (and learns the ports the kernel picks for
    // port 0), and owns the signal watchers, before any other thread runs.
    let mut lp: Loop<App> = Loop::new()?;
    let bound = Bound {
        tcp: listen_all(&mut lp.ctx(), &cfg.listen, &opts, &core)?,
        udp: udp_all(&mut lp.ctx(), &cfg.udp, several, &core)?,
    };
    // The ports as bound (the kernel's pick for port 0).
    {
        let settings = &mut lock(&core).stats.settings;
        settings.tcp_port = bound.tcp.first().map_or(0, |a| u64::from(a.port()));
        settings.udp_port = bound.udp.first().map_or(0, |a| u64::from(a.port()));
    }
    // One socket file: loop 0 alone listens on it.
    if let Some(unix) = &cfg.unix {
        listen_unix(&mut lp.ctx(), unix, cfg.backlog, &core)?;
    }
    {
        let mut ctx = lp.ctx();
        // SIGUSR1 is memcached's graceful stop, which here stops as
        // `shutdown graceful` does.
        for signum in [SIGTERM, SIGINT, SIGUSR1] {
            let id = ctx.new_signal(signum, |ctx, app: &mut App, _, _| shutdown(ctx, app))?;
            ctx.start(id)?;
        }
        // memcached keeps running on SIGHUP (its terminal closing, say),
        // and reads its auth file again.
        let hup = ctx.new_signal(SIGHUP, |_, app: &mut App, _, _| reload_auth(app))?;
        ctx.start(hup)?;
        let clock = ctx.new_timer(TICK, TICK, |ctx, app, _, _| {
            let mut core = lock(&app.core);
            tick_clock(ctx, &mut core.store);
            if !core.stats.settings.crawler_disabled {
                core.store.reclaim(RECLAIM_PER_TICK);
            }
        })?;
        ctx.start(clock)?;
    }
    add_stop_watcher(&mut lp, &stop)?;
    let turn_timer = loop_timers(&mut lp, &conn_opts)?;
    log_waker(&mut lp, &core, 0)?;

    let mut workers = Vec::new();
    let (ready_tx, ready_rx) = mpsc::channel();
    for (ix, shared) in std::iter::repeat_n(shared, cfg.threads - 1)
        .flatten()
        .enumerate()
    {
        let (core, stop, bound, opts, ready) = (
            shared,
            stop.clone(),
            bound.clone(),
            opts.clone(),
            ready_tx.clone(),
        );
        workers.push(thread::spawn(move || {
            worker(core, stop, &bound, &opts, conn_opts, ready, ix + 1)
        }));
    }
    drop(ready_tx);
    // Every loop listens before the server says it does.
    let mut failed = None;
    for r in ready_rx {
        if let Err(e) = r {
            failed.get_or_insert(e);
        }
    }
    if let Some(e) = failed {
        stop_all(&stop);
        for w in workers {
            let _ = w.join();
        }
        return Err(e.into());
    }
    // Written while still privileged (a pid file under /run).
    if let Some(path) = &cfg.pid_file {
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            eprintln!(
                "memcached: cannot write the pid file {}: {e}",
                path.display()
            );
        }
    }
    if let Err(e) = become_user(cfg.user.as_deref()) {
        stop_all(&stop);
        for w in workers {
            let _ = w.join();
        }
        return Err(e.into());
    }
    // As memcached: a Unix socket has no port to write.
    if cfg.unix.is_none() {
        write_port_file(&bound);
    }
    // Not `println!`: a closed stdout must not stop the server.
    let mut out = io::stdout();
    for addr in &bound.tcp {
        let _ = writeln!(out, "memcached: listening on {addr}");
    }
    for addr in &bound.udp {
        let _ = writeln!(out, "memcached: listening on udp:{addr}");
    }
    if let Some(unix) = &cfg.unix {
        let _ = writeln!(out, "memcached: listening on unix:{}", unix.path.display());
    }
    let _ = out.flush();
    let mut app = App::new(core, conn_opts, turn_timer, stop.clone(), 0);
    let served = lp.run(&mut app, RunMode::Default);
    stop_all(&stop);
    for w in workers {
        let _ = w.join();
    }
    if let Some(path) = &cfg.pid_file {
        let _ = std::fs::remove_file(path);
    }
    if let Some(unix) = &cfg.unix {
        let _ = std::fs::remove_file(&unix.path);
    }
    served?;
    Ok(())
}

/// `-u`: started as root, becomes `user` (its group, then its id) once
/// every loop listens, so ports below 1024 can be bound; as memcached, the
/// flag means nothing to a server that is not root.
fn become_user(user: Option<&str>) -> Result<(), String> {
    use nix::unistd::{geteuid, setgid, setgroups, setuid, User};
    let Some(name) = user else { return Ok(()) };
    if !geteuid().is_root() {
        return Ok(());
    }
    let u = User::from_name(name)
        .map_err(|e| format!("cannot look up user {name:?}: {e}"))?
        .ok_or_else(|| format!("can't find the user {name} to switch to"))?;
    setgroups(&[u.gid]).map_err(|e| format!("failed to drop supplementary groups: {e}"))?;
    setgid(u.gid).map_err(|e| format!("failed to assume the group of {name}: {e}"))?;
    setuid(u.uid).map_err(|e| format!("failed to assume the identity of {name}: {e}"))?;
    Ok(())
}

/// The addresses loop 0 bound (with the ports the kernel picked), where
/// the other loops bind too.
#[derive(Debug, Clone)]
struct Bound {
    tcp: Vec<SocketAddr>,
    udp: Vec<SocketAddr>,
}

/// A worker loop: listeners on the same addresses, serving until told to
/// stop. Tells `ready` whether it could listen.
fn worker(
    core: Arc<Mutex<Core>>,
    stop: Arc<Mutex<Vec<AsyncSender>>>,
    bound: &Bound,
    opts: &ListenerOptions,
    conn_opts: ConnOptions,
    ready: mpsc::Sender<Result<(), String>>,
    loop_ix: usize,
) {
    let core = CoreCell::Shared(core);
    let setup = || -> Result<(Loop<App>, TimerId), String> {
        let mut lp: Loop<App> = Loop::new().map_err(|e| format!("cannot make a loop: {e}"))?;
        listen_all(&mut lp.ctx(), &bound.tcp, opts, &core)?;
        udp_all(&mut lp.ctx(), &bound.udp, true, &core)?;
        add_stop_watcher(&mut lp, &stop).map_err(|e| e.to_string())?;
        let turn_timer = loop_timers(&mut lp, &conn_opts).map_err(|e| e.to_string())?;
        log_waker(&mut lp, &core, loop_ix).map_err(|e| e.to_string())?;
        Ok((lp, turn_timer))
    };
    let (mut lp, turn_timer) = match setup() {
        Ok(made) => {
            let _ = ready.send(Ok(()));
            made
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    drop(ready);
    let mut app = App::new(core, conn_opts, turn_timer, stop, loop_ix);
    if let Err(e) = lp.run(&mut app, RunMode::Default) {
        eprintln!("memcached: a worker loop failed: {e}");
        stop_all(&app.stop);
    }
}

/// Registers a watcher that breaks `lp`'s run when any loop stops them all.
fn add_stop_watcher(
    lp: &mut Loop<App>,
    stop: &Mutex<Vec<AsyncSender>>,
) -> Result<(), evloop::Error> {
    let mut ctx = lp.ctx();
    let (id, sender) = ctx.new_async(|ctx, _, _, _| ctx.break_loop(Break::All))?;
    ctx.start(id)?;
    stop.lock().unwrap_or_else(|e| e.into_inner()).push(sender);
    Ok(())
}

/// The connections' timers on `lp`: with `-o idle_timeout`, one a second
/// that closes the idle ones (started); and the turn timer of `-R`
/// (stopped until a connection waits for a turn), returned.
fn loop_timers(lp: &mut Loop<App>, opts: &ConnOptions) -> Result<TimerId, evloop::Error> {
    let mut ctx = lp.ctx();
    if opts.idle_timeout > 0 {
        let id = ctx.new_timer(TICK, TICK, |ctx, app, _, _| conn::close_idle(ctx, app))?;
        ctx.start(id)?;
    }
    ctx.new_timer(Duration::ZERO, Duration::ZERO, |ctx, app, _, _| {
        conn::take_turns(ctx, app)
    })
}

/// The async watcher through which loop `ix` is told that its `watch`
/// connections have lines to write (they may come from any loop).
fn log_waker(lp: &mut Loop<App>, core: &CoreCell, ix: usize) -> Result<(), evloop::Error> {
    let mut ctx = lp.ctx();
    let (id, sender) = ctx.new_async(|ctx, app, _, _| conn::write_logs(ctx, app))?;
    ctx.start(id)?;
    lock(core).watchers.set_waker(ix, sender);
    Ok(())
}

/// Listens on every address; returns the addresses bound (the real ports
/// for port 0).
fn listen_all(
    ctx: &mut Ctx<'_, App>,
    addrs: &[SocketAddr],
    opts: &ListenerOptions,
    core: &CoreCell,
) -> Result<Vec<SocketAddr>, String> {
    let mut bound = Vec::new();
    for &addr in addrs {
        let id = ctx
            .listen(addr, opts, conn::on_accept)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let mut l = ctx.listener(id).map_err(|e| e.to_string())?;
        l.on_event(on_listener_event);
        let real = match l.local_addr() {
            Ok(ListenAddr::Tcp(a)) => a,
            _ => addr,
        };
        show_socket(
            core,
            l.fd().as_raw_fd(),
            format!("tcp:{real}"),
            Waiting::Command,
        );
        bound.push(real);
    }
    Ok(bound)
}

/// Serves UDP on every address (`reuse_port` when several loops bind
/// each); returns the addresses bound (the real ports for port 0).
fn udp_all(
    ctx: &mut Ctx<'_, App>,
    addrs: &[SocketAddr],
    reuse_port: bool,
    core: &CoreCell,
) -> Result<Vec<SocketAddr>, String> {
    let mut bound = Vec::new();
    for &addr in addrs {
        let sock =
            bind_udp(addr, reuse_port).map_err(|e| format!("cannot listen on UDP {addr}: {e}"))?;
        let real = sock.local_addr().unwrap_or(addr);
        let fd = sock.as_raw_fd();
        crate::udp::watch(ctx, sock).map_err(|e| e.to_string())?;
        show_socket(core, fd, format!("udp:{real}"), Waiting::Datagram);
        bound.push(real);
    }
    Ok(bound)
}

/// Lists a listening or UDP socket in `stats conns` (`Waiting::Datagram`
/// for a UDP one).
fn show_socket(core: &CoreCell, fd: i32, addr: String, waiting: Waiting) {
    let info = ConnInfo {
        addr,
        listen_addr: None,
        last_cmd: 0,
        waiting,
    };
    lock(core).stats.conns.insert(fd, info);
}

/// A non-blocking UDP socket bound to `addr`; an IPv6 one takes IPv6 only,
/// as memcached's, so that IPv4 and IPv6 addresses bind apart.
fn bind_udp(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
    };
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd = socket(family, SockType::Datagram, flags, None)?;
    if addr.is_ipv6() {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    if reuse_port {
        setsockopt(&fd, sockopt::ReusePort, &true)?;
    }
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    Ok(UdpSocket::from(fd))
}

/// `-s`: listens on a Unix socket with `-a`'s permissions. A socket file
/// left by an earlier run is replaced, as memcached does; any other file
/// is an error.
fn listen_unix(
    ctx: &mut Ctx<'_, App>,
    unix: &UnixSocket,
    backlog: i32,
    core: &CoreCell,
) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let path = &unix.path;
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "cannot listen on {shown}: a file that is not a socket is there"
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove the old socket {shown}: {e}"))?;
    }
    let opts = ListenerOptions::new().backlog(backlog);
    let id = ctx
        .listen(ListenAddr::Unix(path.clone()), &opts, conn::on_accept)
        .map_err(|e| format!("cannot listen on {shown}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(unix.mode))
        .map_err(|e| format!("cannot set the mode of {shown}: {e}"))?;
    let mut l = ctx.listener(id).map_err(|e| e.to_string())?;
    l.on_event(on_listener_event);
    show_socket(
        core,
        l.fd().as_raw_fd(),
        format!("unix:{shown}"),
        Waiting::Command,
    );
    Ok(())
}

/// memcached's `MEMCACHED_PORT_FILENAME`: when the variable names a file,
/// each bound port is written to it (`TCP INET: 11211`, `UDP INET6: ...`),
/// through a `.lck` file renamed once complete, so that a reader sees all
/// of them or none.
fn write_port_file(bound: &Bound) {
    let Some(path) = std::env::var_os("MEMCACHED_PORT_FILENAME") else {
        return;
    };
    let mut text = String::new();
    for (proto, addrs) in [("TCP", &bound.tcp), ("UDP", &bound.udp)] {
        for a in addrs {
            let family = if a.is_ipv4() { "INET" } else { "INET6" };
            text.push_str(&format!("{proto} {family}: {}\n", a.port()));
        }
    }
    let mut lck = path.clone();
    lck.push(".lck");
    let written = std::fs::write(&lck, text).and_then(|()| std::fs::rename(&lck, &path));
    if let Err(e) = written {
        eprintln!(
            "memcached: cannot write the port file {}: {e}",
            std::path::Path::new(&path).display()
        );
    }
}

/// Moves the store's clock to the loop's wall-clock time, which the loop
/// reads once per iteration anyway: free, and precise to the second, so an
/// item's lifetime does not depend on when the 1 s timer last ran.
pub fn tick_clock(ctx: &Ctx<'_, App>, store: &mut Store) {
    let unix = ctx
        .now_wall()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    store.set_time(unix);
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

/// Descriptors kept beyond `-c` for `threads` loops.
fn spare_fds(threads: usize) -> u64 {
    SPARE_FDS.saturating_add(8u64.saturating_mul(threads as u64))
}

/// Raises the soft open-files limit so that `-c` connections fit (up to the
/// hard limit), as memcached does for `-c`; returns the connection limit
/// that fits, lower than asked (with a warning) if the hard limit is.
fn fd_limit_for(max_connections: usize, threads: usize) -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let spare = spare_fds(threads);
    let want = (max_connections as u64).saturating_add(spare);
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return max_connections;
    };
    let target = want.min(hard);
    let limit = if target > soft && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_err() {
        soft
    } else {
        target.max(soft)
    };
    if want <= limit {
        return max_connections;
    }
    let fits = limit.saturating_sub(spare).max(1);
    eprintln!(
        "memcached: -c {max_connections} needs {want} open files but the limit is {limit}; \
         serving at most {fits} connections"
    );
    usize::try_from(fits).unwrap_or(max_connections)
}
