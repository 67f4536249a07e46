//! A memcached 1.6 compatible cache server on evloop: the text protocol
//! (storage, retrieval, delete, incr/decr, touch, gat, flush_all, stats, ...)
//! the meta protocol (mg, ms, md, ma, mn, me) and the binary protocol
//! (every opcode memcached 1.6 serves, quiet variants, CAS), with LRU
//! eviction under `-m`, the `-I` item size limit and memcached's exact
//! replies.
//!
//! ```text
//! cargo run --release -p evloop-memcached -- --listen 127.0.0.1:11211
//! printf 'set k 0 0 2\r\nhi\r\nget k\r\n' | cargo run -p evloop-memcached -- --stdio
//! ```
//!
//! The protocol core does not touch the network: [`protocol`] frames
//! text and meta requests incrementally, [`exec`] runs them against the
//! [`store`] and appends replies to a [`reply::ReplySink`], so a server
//! answers a batch of pipelined requests with one write; [`binary`] does
//! the same for binary requests (a connection's first byte decides). The network side is [`server`] (the
//! loop, listener, clock and signals) and [`conn`] (one connection:
//! batching and back-pressure) on evloop-buffer's streams.

mod auth;
mod binary;
mod clock;
mod config;
mod conn;
mod detail;
mod exec;
mod item;
mod lru;
mod output;
mod protocol;
mod reply;
mod server;
mod stats;
mod store;
mod udp;
mod watch;
mod watchers;

use std::io::{self, Read, Write};
use std::process::ExitCode;

use config::{Args, Config};
use exec::Session;
use stats::Stats;
use store::Store;

/// Parses the command line, then serves TCP (or stdio) until SIGTERM or
/// SIGINT, which end it with status 0.
fn main() -> ExitCode {
    let cfg = match config::parse_args(std::env::args().skip(1)) {
        Ok(Args::Run(cfg)) => *cfg,
        Ok(Args::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Args::Version) => {
            println!("memcached {}", stats::VERSION);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("memcached: {e}\n\n{}", config::USAGE);
            return ExitCode::from(2);
        }
    };
    let mut cfg = cfg;
    let background = cfg.daemonize && !cfg.stdio;
    if background {
        if let Err(e) = absolute_paths(&mut cfg) {
            eprintln!("memcached: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = &cfg.auth_file {
        match auth::AuthFile::load(path) {
            Ok(file) => cfg.auth = Some(file),
            Err(e) => {
                eprintln!("memcached: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    // memcached's daemon(3): before anything else runs (no thread yet to
    // lose in the fork), into `/`, the output kept only with -v.
    if background {
        if let Err(e) = nix::unistd::daemon(false, cfg.verbosity > 0) {
            eprintln!("memcached: cannot run in the background: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = process_limits(&cfg) {
        eprintln!("memcached: {e}");
        return ExitCode::FAILURE;
    }
    let served = if cfg.stdio {
        serve_stdio(&cfg).map_err(Into::into)
    } else {
        server::run(&cfg)
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memcached: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `-r` and `-k`, as memcached applies them: a core file limit that cannot
/// be raised stops the start, memory that cannot be locked is a warning.
fn process_limits(cfg: &config::Config) -> Result<(), String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if cfg.max_core {
        getrlimit(Resource::RLIMIT_CORE)
            .and_then(|(_, hard)| setrlimit(Resource::RLIMIT_CORE, hard, hard))
            .map_err(|e| format!("failed to ensure corefile creation: {e}"))?;
    }
    if cfg.lock_memory {
        use nix::sys::mman::{mlockall, MlockAllFlags};
        if let Err(e) = mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
            eprintln!("memcached: warning: -k invalid, mlockall() failed: {e}");
        }
    }
    Ok(())
}

/// For `-d`, which moves into `/`: the pid file's, the Unix socket's and
/// the auth file's paths made absolute, so that they still name what the
/// command line meant.
fn absolute_paths(cfg: &mut config::Config) -> io::Result<()> {
    let cwd = std::env::current_dir()?;
    if let Some(p) = &mut cfg.pid_file {
        *p = cwd.join(&*p);
    }
    if let Some(u) = &mut cfg.unix {
        u.path = cwd.join(&u.path);
    }
    if let Some(a) = &mut cfg.auth_file {
        *a = cwd.join(&*a).display().to_string();
    }
    Ok(())
}

/// Serves one client on stdin/stdout: reads in chunks, answers every
/// complete request in a chunk with one write, as the TCP server does per
/// read event.
fn serve_stdio(cfg: &Config) -> io::Result<()> {
    let mut store = Store::new(cfg.memory_limit, cfg.item_size_max, clock::Clock::system());
    let mut stats = Stats::new(cfg.max_connections);
    stats.settings.threads = 1;
    stats.settings.shutdown_enabled = cfg.enable_shutdown;
    stats.settings.verbosity = u64::from(cfg.verbosity);
    stats.settings.auth = cfg.auth.clone();
    stats.settings.dump_disabled = cfg.disable_dumping;
    stats.settings.prefix_delimiter = cfg.prefix_delimiter;
    stats.settings.detail_enabled = cfg.prefix_delimiter.is_some();
    stats.curr_connections = 1;
    stats.total_connections = 1;
    // One client: nobody to take turns with (`-R`).
    let mut session = Session::with_limits(cfg.item_size_max, cfg.protocol, usize::MAX);
    let (mut stdin, mut stdout) = (io::stdin().lock(), io::stdout().lock());
    let mut input = Vec::new();
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = stdin.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        stats.bytes_read += n as u64;
        input.extend_from_slice(&chunk[..n]);
        store.set_time(clock::system_unix_time());
        // Let flushed and expired items go a few at a time, as memcached's
        // LRU crawler does.
        store.reclaim(64);
        if input.len() < session.wanted() {
            continue;
        }
        // A long multi-get or a metadump comes in steps of a full output.
        loop {
            let p = session.process(&input, &mut store, &mut stats, &mut out);
            input.drain(..p.consumed);
            if p.watch.is_some() {
                // One client, and it is the one that would watch.
                out.extend_from_slice(b"CLIENT_ERROR watch is not served over stdio\r\n");
            }
            stats.bytes_written += out.len() as u64;
            stdout.write_all(&out)?;
            stdout.flush()?;
            out.clear();
            if p.close {
                return Ok(());
            }
            if !session.busy() {
                break;
            }
        }
    }
}
