//! Command line: memcached's flags (`-p`, `-l`, `-U`, `-m`, `-c`, `-I`,
//! `-t`, `-v`, `-A`, `-B`, `-b`, `-R`, `-o`, with their long forms) plus
//! `--listen` and `--stdio`, with memcached's defaults and limits, and no
//! arithmetic overflow: a number out of range is an error, never a
//! wrapped value.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

pub use crate::exec::Protocol;

/// The help text.
pub const USAGE: &str = "\
usage: evloop-memcached [options]

A memcached 1.6 compatible cache server (text, meta and binary protocols)
on evloop.

options:
  -p, --port PORT           TCP port for -l addresses without one (default
                            11211; -1: one the kernel picks; 0: no TCP)
  -l, --listen ADDR[,ADDR]  address(es) to listen on, ADDR or ADDR:PORT;
                            repeatable (default 127.0.0.1)
  -U, --udp-port PORT       UDP port on the same addresses (default 0: off;
                            -1: one the kernel picks); without -p, the TCP
                            port too
  -s, --unix-socket PATH    listen on this Unix socket instead of TCP and UDP
  -a, --unix-mask MODE      the Unix socket's permissions, octal (default 0700)
  -m, --memory-limit MiB    item memory in megabytes (default 64)
  -c, --conn-limit CONNS    max simultaneous connections (default 1024)
  -I, --max-item-size SIZE  max item size, bytes or with a k/m suffix
                            (default 1m; at least 1024, at most 1/2 of -m)
  -t, --threads N           event loops, one thread each (default 1)
  -v, --verbose             more log lines (-vv, -vvv: more still)
  -A, --enable-shutdown     allow the shutdown command
  -Y, --auth-file FILE      text connections first authenticate with a
                            `set` of `user password` against FILE's
                            user:password lines (reread on SIGHUP); binds
                            every connection to the text protocol
  -F, --disable-flush-all   refuse the flush_all command
  -M, --disable-evictions   answer an out-of-memory error instead of evicting
  -C, --disable-cas         hand out no CAS uniques (all 0)
  -W, --disable-watch       refuse the watch command
  -B, --protocol PROTO      ascii, binary or auto (default: auto, decided
                            by each connection's first byte)
  -b, --listen-backlog N    the listen queue's length (default 1024)
  -R, --max-reqs-per-event N  requests one connection runs before the loop
                            serves the others (default 20)
  -o, --extended OPT[,OPT]  memcached's extended options this server has:
                            lru_crawler, no_lru_crawler (background freeing
                            of dead items), idle_timeout=SECS (close
                            connections idle that long; 0: never),
                            watcher_logbuf_size=KiB (each watch
                            connection's buffer, default 256),
                            slab_automove=N and slab_automove_ratio=F (shown
                            in stats settings), no_modern (as memcached:
                            the crawler starts disabled, and each store
                            first frees dead items at the LRU's old end);
                            relaxed_privileges is accepted (this server
                            drops no privileges). memcached's options that
                            tune its slab classes, LRU segments, hash
                            table and buffers (modern, slab_chunk_max=N,
                            lru_maintainer, hashpower=N,
                            read_buf_mem_limit=N, ...) are accepted with a
                            warning that they have no effect
  -u, --user USER           when started as root: run as USER once listening
  -P, --pidfile FILE        write the process id to FILE (removed at exit)
  -X, --disable-dumping     refuse stats cachedump, lru_crawler metadump and
                            stats detail
  -D CHAR                   stats detail's key prefix delimiter (default
                            ':'); also turns stats detail on
  -k, --lock-memory         lock all of the process's memory in RAM
                            (mlockall; a warning if the system refuses)
  -r, --enable-coredumps    raise the core file size limit to the maximum
  -f, -n, -L                memcached's slab growth factor, smallest chunk
                            and large pages: accepted (values checked as
                            memcached does) with a warning that they have
                            no effect here
  -d, --daemon              run in the background: detached from the
                            terminal, in /, its output to /dev/null
                            (kept with -v)
  --stdio                   serve one client on stdin/stdout instead of TCP
  -V, --version             print the version and exit
  -h, --help                show this help
";

/// Default TCP port, as memcached's.
pub const DEFAULT_PORT: u16 = 11211;

/// `-s`: a Unix socket to listen on instead of TCP and UDP.
#[derive(Debug, Clone, PartialEq)]
pub struct UnixSocket {
    /// Its path.
    pub path: std::path::PathBuf,
    /// Its permission bits (`-a`).
    pub mode: u32,
}

/// Most worker loops `-t` takes.
pub const MAX_THREADS: usize = 1024;

/// The server's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where to listen for TCP (one listener per address and loop); empty
    /// with `-p 0` or `-s`.
    pub listen: Vec<SocketAddr>,
    /// Where to take UDP datagrams (one socket per address and loop); empty
    /// unless `-U` names a port.
    pub udp: Vec<SocketAddr>,
    /// `-s`, `-a`.
    pub unix: Option<UnixSocket>,
    /// Memory limit for items, in bytes (`-m` is in MiB).
    pub memory_limit: usize,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Largest item, in bytes, as memcached counts it.
    pub item_size_max: usize,
    /// Event loops (threads).
    pub threads: usize,
    /// `-v` count.
    pub verbosity: u8,
    /// The `shutdown` command is allowed.
    pub enable_shutdown: bool,
    /// The `flush_all` command is refused (`-F`).
    pub disable_flush: bool,
    /// The LRU crawler starts disabled (`-o no_lru_crawler`).
    pub no_lru_crawler: bool,
    /// Writes fail rather than evict live items (`-M`).
    pub no_evict: bool,
    /// No CAS uniques (`-C`).
    pub disable_cas: bool,
    /// `-u`: the user to become once listening, when started as root.
    pub user: Option<String>,
    /// `-P`: where to write the process id.
    pub pid_file: Option<std::path::PathBuf>,
    /// Serve stdin/stdout instead of TCP.
    pub stdio: bool,
    /// The protocols a connection may speak (`-B`).
    pub protocol: Protocol,
    /// The listen queue's length (`-b`).
    pub backlog: i32,
    /// Requests one connection runs per turn (`-R`).
    pub reqs_per_event: usize,
    /// Close connections idle this many seconds; 0: never
    /// (`-o idle_timeout`).
    pub idle_timeout: u32,
    /// `-o no_modern`: memcached's older defaults (the crawler starts
    /// disabled, and each store first frees dead items at the LRU's old
    /// end).
    pub no_modern: bool,
    /// `-o slab_automove`, if given.
    pub slab_automove: Option<u32>,
    /// `-o slab_automove_ratio`, if given.
    pub slab_automove_ratio: Option<f64>,
    /// `-o` options accepted without effect, to be warned about at start.
    pub no_effect: Vec<String>,
    /// `-W`: the `watch` command is refused.
    pub disable_watch: bool,
    /// `-d`: run in the background, detached from the terminal.
    pub daemonize: bool,
    /// `-Y`: the ASCII authentication file.
    pub auth_file: Option<String>,
    /// Its pairs, once read (by `main`, not by the parser).
    pub auth: Option<crate::auth::AuthFile>,
    /// `-X`: key dumps and `stats detail` are refused.
    pub disable_dumping: bool,
    /// `-D`: the `stats detail` key prefix delimiter (it also turns
    /// `stats detail` on, as in memcached).
    pub prefix_delimiter: Option<u8>,
    /// `-k`: lock the process's memory (mlockall).
    pub lock_memory: bool,
    /// `-r`: raise the core file size limit to the hard limit.
    pub max_core: bool,
    /// A `watch` connection's buffer, bytes (`-o watcher_logbuf_size`).
    pub watcher_logbuf: usize,
}

/// memcached's `-o` options that tune what this server does not have
/// (slab classes and their mover, segmented LRUs, the hash table, per-thread
/// buffers and logs): accepted so that a memcached command line starts, and
/// warned about. The value each takes: `None` for a bare flag.
const NO_EFFECT: &[(&str, Option<Value>)] = &[
    ("maxconns_fast", None),
    ("no_maxconns_fast", None),
    ("hashpower", Some(Value::Int)),
    ("no_hashexpand", None),
    ("slab_reassign", None),
    ("no_slab_reassign", None),
    ("no_slab_automove", None),
    ("slab_automove_window", Some(Value::Int)),
    ("tail_repair_time", Some(Value::Int)),
    ("hash_algorithm", Some(Value::Word)),
    ("lru_crawler_sleep", Some(Value::Int)),
    ("lru_crawler_tocrawl", Some(Value::Int)),
    ("lru_maintainer", None),
    ("no_lru_maintainer", None),
    ("hot_lru_pct", Some(Value::Int)),
    ("warm_lru_pct", Some(Value::Int)),
    ("hot_max_factor", Some(Value::Float)),
    ("warm_max_factor", Some(Value::Float)),
    ("temporary_ttl", Some(Value::Int)),
    ("worker_logbuf_size", Some(Value::Int)),
    ("slab_sizes", Some(Value::Sizes)),
    ("slab_chunk_max", Some(Value::Int)),
    ("track_sizes", None),
    ("no_inline_ascii_resp", None),
    ("inline_ascii_resp", None),
    ("modern", None),
    ("no_chunked_items", None),
    ("resp_obj_mem_limit", Some(Value::Int)),
    ("read_buf_mem_limit", Some(Value::Int)),
    ("drop_privileges", None),
];

/// The kind of value an `-o` option takes.
#[derive(Debug, Clone, Copy)]
enum Value {
    /// A whole number.
    Int,
    /// A decimal number.
    Float,
    /// A name.
    Word,
    /// Sizes joined by `-` (`slab_sizes`).
    Sizes,
}

impl Value {
    fn accepts(self, v: &str) -> bool {
        match self {
            Value::Int => v.parse::<u64>().is_ok(),
            Value::Float => v.parse::<f64>().is_ok_and(f64::is_finite),
            Value::Word => !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric()),
            Value::Sizes => v.split('-').all(|n| n.parse::<u64>().is_ok()),
        }
    }
}

/// One `-o` option into `cfg`.
fn extended(cfg: &mut Config, opt: &str) -> Result<(), String> {
    let (name, value) = match opt.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (opt, None),
    };
    let number = |what: &str| -> Result<u64, String> {
        value
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("-o {name}: needs {what}"))
    };
    match name {
        "lru_crawler" if value.is_none() => cfg.no_lru_crawler = false,
        // memcached's pre-1.5 defaults: among them the crawler off and an
        // unsegmented LRU, whose dead tail items each store frees (slab
        // page moves, the rest of what it turns off, this server does not
        // have).
        "no_modern" if value.is_none() => {
            cfg.no_lru_crawler = true;
            cfg.no_modern = true;
        }
        "no_lru_crawler" if value.is_none() => cfg.no_lru_crawler = true,
        // memcached's seccomp privilege dropping; this server drops none,
        // which is what these ask.
        "relaxed_privileges" | "no_drop_privileges" if value.is_none() => {}
        "idle_timeout" => {
            cfg.idle_timeout = u32::try_from(number("a number of seconds")?).map_err(|_| {
                format!(
                    "-o idle_timeout: {} is too many seconds",
                    value.unwrap_or("")
                )
            })?;
        }
        "slab_automove" => {
            let level = number("0, 1 or 2")?;
            if level > 2 {
                return Err("-o slab_automove: needs 0, 1 or 2".into());
            }
            cfg.slab_automove = Some(level as u32);
        }
        "watcher_logbuf_size" => {
            let kib = number("a size in KiB")?;
            cfg.watcher_logbuf = usize::try_from(kib)
                .ok()
                .and_then(|k| k.checked_mul(1024))
                .filter(|b| *b > 0)
                .ok_or("-o watcher_logbuf_size: needs a size in KiB from 1")?;
        }
        "slab_automove_ratio" => {
            let ratio = value
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|r| r.is_finite() && *r >= 0.0)
                .ok_or("-o slab_automove_ratio: needs a decimal number")?;
            cfg.slab_automove_ratio = Some(ratio);
        }
        _ => {
            let Some((_, kind)) = NO_EFFECT.iter().find(|(n, _)| *n == name) else {
                return Err(format!("-o: unknown or unsupported option {opt:?}"));
            };
            match (kind, value) {
                (None, None) => {}
                (Some(k), Some(v)) if k.accepts(v) => {}
                (None, Some(_)) => return Err(format!("-o {name}: takes no value")),
                (Some(_), _) => return Err(format!("-o {name}: bad or missing value in {opt:?}")),
            }
            cfg.no_effect.push(name.to_string());
        }
    }
    Ok(())
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT))],
            memory_limit: 64 << 20,
            max_connections: 1024,
            item_size_max: 1 << 20,
            threads: 1,
            verbosity: 0,
            enable_shutdown: false,
            disable_flush: false,
            no_lru_crawler: false,
            no_evict: false,
            disable_cas: false,
            udp: Vec::new(),
            unix: None,
            user: None,
            pid_file: None,
            stdio: false,
            protocol: Protocol::Auto,
            backlog: 1024,
            reqs_per_event: 20,
            idle_timeout: 0,
            no_modern: false,
            slab_automove: None,
            slab_automove_ratio: None,
            no_effect: Vec::new(),
            disable_watch: false,
            daemonize: false,
            auth_file: None,
            auth: None,
            disable_dumping: false,
            prefix_delimiter: None,
            lock_memory: false,
            max_core: false,
            watcher_logbuf: crate::watch::DEFAULT_LOGBUF,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Args {
    /// Run with this configuration (boxed: it is large, and the other
    /// variants are nothing).
    Run(Box<Config>),
    /// Print [`USAGE`] and exit.
    Help,
    /// Print the version and exit.
    Version,
}

/// Splits an argument into an option name and a value written into it:
/// `--name=value`, or a short option's attached value (`-p11211`, as
/// getopt takes it). Flags without a value (`-vv`, `-A`) come back whole.
fn split_arg(arg: &str) -> (String, Option<String>) {
    if let Some(long) = arg.strip_prefix("--") {
        return match long.split_once('=') {
            Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
            None => (arg.to_string(), None),
        };
    }
    let b = arg.as_bytes();
    if b.len() > 2 && b[0] == b'-' && b"plUmcItuPBbRsaYDfn".contains(&b[1]) {
        return (arg[..2].to_string(), Some(arg[2..].to_string()));
    }
    (arg.to_string(), None)
}

/// Parses the arguments after the program name. Options take their value
/// as the next argument, after `=` (long options) or attached (short
/// options, `-p11211`).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Args, String> {
    let mut cfg = Config::default();
    let mut port: Option<i32> = None;
    let mut udp_port = 0;
    let mut unix_mode = 0o700;
    let mut listen: Vec<String> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = split_arg(&arg);
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Args::Help),
            "-V" | "--version" => return Ok(Args::Version),
            "--stdio" => cfg.stdio = true,
            "-A" | "--enable-shutdown" => cfg.enable_shutdown = true,
            "-F" | "--disable-flush-all" => cfg.disable_flush = true,
            "-M" | "--disable-evictions" => cfg.no_evict = true,
            "-C" | "--disable-cas" => cfg.disable_cas = true,
            "-W" | "--disable-watch" => cfg.disable_watch = true,
            "-d" | "--daemon" => cfg.daemonize = true,
            "-X" | "--disable-dumping" => cfg.disable_dumping = true,
            "-k" | "--lock-memory" => cfg.lock_memory = true,
            "-r" | "--enable-coredumps" => cfg.max_core = true,
            "-D" => {
                let v = value("a delimiter")?;
                match v.as_bytes() {
                    [b] if b.is_ascii_graphic() => cfg.prefix_delimiter = Some(*b),
                    _ => return Err(format!("-D: {v:?} is not one printable character")),
                }
            }
            // Slab class sizing and large pages: what this server does not
            // have; checked as memcached checks them, then warned about.
            "-f" | "--slab-growth-factor" => {
                let v = value("a factor")?;
                if !v.parse::<f64>().is_ok_and(|f| f.is_finite() && f > 1.0) {
                    return Err(format!("-f: {v:?}: the factor must be greater than 1"));
                }
                cfg.no_effect.push("-f".into());
            }
            "-n" | "--slab-min-size" => {
                let v = value("a size")?;
                if !v
                    .parse::<u32>()
                    .is_ok_and(|n| n > 0 && n <= i32::MAX as u32)
                {
                    return Err(format!("-n: {v:?}: the chunk size must be greater than 0"));
                }
                cfg.no_effect.push("-n".into());
            }
            "-L" | "--enable-largepages" => cfg.no_effect.push("-L".into()),
            "-Y" | "--auth-file" => cfg.auth_file = Some(value("a file")?),
            "-v" | "--verbose" => cfg.verbosity = cfg.verbosity.saturating_add(1),
            v if v.len() > 2 && v.starts_with('-') && v[1..].bytes().all(|b| b == b'v') => {
                let n = u8::try_from(v.len() - 1).unwrap_or(u8::MAX);
                cfg.verbosity = cfg.verbosity.saturating_add(n);
            }
            "-p" | "--port" => port = Some(port_number("-p", &value("a port")?)?),
            "-U" | "--udp-port" => udp_port = port_number("-U", &value("a port")?)?,
            "-s" | "--unix-socket" => {
                let v = value("a path")?;
                if v.is_empty() {
                    return Err("-s: an empty path".into());
                }
                cfg.unix = Some(UnixSocket {
                    path: v.into(),
                    mode: 0,
                });
            }
            "-a" | "--unix-mask" => {
                let v = value("an octal mode")?;
                unix_mode = u32::from_str_radix(&v, 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| format!("-a: {v:?} is not an octal mode (0 to 777)"))?;
            }
            "-l" | "--listen" => {
                let v = value("an address")?;
                listen.extend(v.split(',').map(str::to_string));
            }
            "-m" | "--memory-limit" => {
                let v = value("a size in MiB")?;
                let mb: usize = v
                    .parse()
                    .map_err(|_| format!("-m: {v:?} is not a number of MiB"))?;
                if mb == 0 {
                    return Err("-m: the memory limit must be at least 1 MiB".into());
                }
                cfg.memory_limit = mb
                    .checked_mul(1 << 20)
                    .ok_or_else(|| format!("-m: {mb} MiB is more than this machine can address"))?;
            }
            "-c" | "--conn-limit" => {
                let v = value("a number of connections")?;
                cfg.max_connections = v
                    .parse::<u32>()
                    .ok()
                    .filter(|&c| c > 0 && c <= i32::MAX as u32)
                    .ok_or_else(|| format!("-c: {v:?} is not a number from 1 to {}", i32::MAX))?
                    as usize;
            }
            "-I" | "--max-item-size" => {
                let v = value("a size")?;
                cfg.item_size_max =
                    parse_size(&v).ok_or_else(|| format!("-I: {v:?} is not a size"))?;
            }
            "-o" | "--extended" => {
                for opt in value("options")?.split(',') {
                    extended(&mut cfg, opt)?;
                }
            }
            "-B" | "--protocol" => {
                let v = value("a protocol")?;
                cfg.protocol = match v.as_str() {
                    "auto" => Protocol::Auto,
                    "ascii" => Protocol::Ascii,
                    "binary" => Protocol::Binary,
                    _ => return Err(format!("-B: {v:?} is not ascii, binary or auto")),
                };
            }
            "-b" | "--listen-backlog" => {
                let v = value("a queue length")?;
                cfg.backlog =
                    v.parse::<i32>().ok().filter(|&b| b > 0).ok_or_else(|| {
                        format!("-b: {v:?} is not a number from 1 to {}", i32::MAX)
                    })?;
            }
            "-R" | "--max-reqs-per-event" => {
                let v = value("a number of requests")?;
                cfg.reqs_per_event = v
                    .parse::<u32>()
                    .ok()
                    .filter(|&r| r > 0 && r <= i32::MAX as u32)
                    .ok_or_else(|| format!("-R: {v:?} is not a number from 1 to {}", i32::MAX))?
                    as usize;
            }
            "-u" | "--user" => cfg.user = Some(value("a user name")?),
            "-P" | "--pidfile" => cfg.pid_file = Some(value("a file")?.into()),
            "-t" | "--threads" => {
                let v = value("a number of threads")?;
                cfg.threads = v
                    .parse::<usize>()
                    .ok()
                    .filter(|&t| (1..=MAX_THREADS).contains(&t))
                    .ok_or_else(|| format!("-t: {v:?} is not a number from 1 to {MAX_THREADS}"))?;
            }
            _ => return Err(format!("unknown option {arg:?}")),
        }
    }
    // As memcached: `-U` alone sets the TCP port too; a port of 0 turns
    // its protocol off, -1 has the kernel pick one; an address's own port
    // (ADDR:PORT) wins over either, but not over 0.
    let port = port.unwrap_or(if udp_port != 0 {
        udp_port
    } else {
        i32::from(DEFAULT_PORT)
    });
    if listen.is_empty() {
        listen.push("127.0.0.1".into());
    }
    cfg.listen = addresses(&listen, port)?;
    cfg.udp = addresses(&listen, udp_port)?;
    if let Some(unix) = &mut cfg.unix {
        // A Unix socket turns the network off, as in memcached.
        unix.mode = unix_mode;
        cfg.listen.clear();
        cfg.udp.clear();
    }
    if cfg.auth_file.is_some() {
        // The pair is checked by the text protocol only; memcached's binary
        // clients authenticate with SASL, which this server (as a default
        // memcached build) does not have.
        if !cfg.udp.is_empty() {
            return Err(
                "Cannot use UDP with ascii authentication enabled (-U 0 to disable)".into(),
            );
        }
        if cfg.protocol == Protocol::Binary {
            return Err("Cannot use -B binary with ascii authentication (-Y)".into());
        }
        cfg.protocol = Protocol::Ascii;
    }
    if cfg.item_size_max < 1024 {
        return Err("Item max size cannot be less than 1024 bytes.".into());
    }
    if cfg.item_size_max > 1 << 30 {
        return Err("Cannot set item size limit higher than 1 GB.".into());
    }
    if cfg.item_size_max > cfg.memory_limit / 2 {
        return Err("Cannot set item size limit higher than 1/2 of memory max.".into());
    }
    Ok(Args::Run(Box::new(cfg)))
}

/// A port for `-p` or `-U`: 0 to 65535, or -1 (one the kernel picks).
fn port_number(flag: &str, v: &str) -> Result<i32, String> {
    v.parse::<i32>()
        .ok()
        .filter(|p| (-1..=65535).contains(p))
        .ok_or_else(|| format!("{flag}: {v:?} is not a port (-1 to 65535)"))
}

/// The addresses of the `-l` entries for a protocol on `port` (none for
/// port 0; -1 is port 0 to the kernel), each once.
fn addresses(listen: &[String], port: i32) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    if port == 0 {
        return Ok(out);
    }
    let port = u16::try_from(port).unwrap_or(0);
    for a in listen {
        for addr in resolve(a, port)? {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    Ok(out)
}

/// The addresses one `-l` entry names: `ADDR:PORT`, `[V6]:PORT`, or an
/// address or host name without a port (then `port`).
fn resolve(a: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(sa) = a.parse::<SocketAddr>() {
        return Ok(vec![sa]);
    }
    let bare = a.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let found: Vec<SocketAddr> = match a.rsplit_once(':') {
        // host:port
        Some((host, p)) if !host.contains(':') && !host.is_empty() => {
            let p: u16 = p
                .parse()
                .map_err(|_| format!("-l: {a:?}: {p:?} is not a port"))?;
            (host, p).to_socket_addrs().map(Iterator::collect)
        }
        _ if !a.is_empty() => (a, port).to_socket_addrs().map(Iterator::collect),
        _ => return Err("-l: an empty address".into()),
    }
    .map_err(|e| format!("-l: cannot use {a:?} as an address: {e}"))?;
    if found.is_empty() {
        return Err(format!("-l: {a:?} names no address"));
    }
    Ok(found)
}

/// A byte count with an optional `k`/`m`/`g` suffix (powers of 1024).
fn parse_size(s: &str) -> Option<usize> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    fn run(args: &[&str]) -> Config {
        match parse(args) {
            Ok(Args::Run(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn addrs(v: &[&str]) -> Vec<SocketAddr> {
        v.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn defaults() {
        let c = run(&[]);
        assert_eq!(c.listen, addrs(&["127.0.0.1:11211"]));
        assert_eq!(c.memory_limit, 64 << 20);
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.item_size_max, 1 << 20);
        assert_eq!(c.threads, 1);
        assert_eq!(c.verbosity, 0);
        assert!(!c.enable_shutdown);
        assert!(!c.stdio);
    }

    #[test]
    fn all_options() {
        let c = run(&[
            "--listen",
            "127.0.0.1:4000",
            "-m",
            "128",
            "-c",
            "10",
            "-I",
            "2m",
            "-t",
            "4",
            "-A",
            "-F",
            "-M",
            "-C",
            "-o",
            "relaxed_privileges,no_lru_crawler",
            "-vv",
            "--stdio",
        ]);
        assert_eq!(c.listen, addrs(&["127.0.0.1:4000"]));
        assert_eq!(c.memory_limit, 128 << 20);
        assert_eq!(c.max_connections, 10);
        assert_eq!(c.item_size_max, 2 << 20);
        assert_eq!(c.threads, 4);
        assert_eq!(c.verbosity, 2);
        assert!(c.enable_shutdown);
        assert!(c.disable_flush);
        assert!(c.no_lru_crawler);
        assert!(c.no_evict);
        assert!(c.disable_cas);
        assert!(c.stdio);
        let c = run(&[
            "--listen=[::1]:5000",
            "--memory-limit=8",
            "--max-item-size=4096",
            "--threads=2",
            "--enable-shutdown",
            "-v",
        ]);
        assert_eq!(c.listen, addrs(&["[::1]:5000"]));
        assert_eq!(c.memory_limit, 8 << 20);
        assert_eq!(c.item_size_max, 4096);
        assert_eq!(c.threads, 2);
        assert_eq!(c.verbosity, 1);
        assert_eq!(run(&["-I", "512k"]).item_size_max, 512 << 10);
    }

    #[test]
    fn memcached_style_addresses_and_ports() {
        // -p applies to -l addresses without a port, wherever it comes.
        let c = run(&["-l", "127.0.0.1", "-p", "4001"]);
        assert_eq!(c.listen, addrs(&["127.0.0.1:4001"]));
        assert_eq!(run(&["-p4002"]).listen, addrs(&["127.0.0.1:4002"]));
        assert_eq!(run(&["--port=4003"]).listen, addrs(&["127.0.0.1:4003"]));
        let c = run(&["-l", "127.0.0.1,127.0.0.2:4005", "-l", "::1", "-p", "4004"]);
        assert_eq!(
            c.listen,
            addrs(&["127.0.0.1:4004", "127.0.0.2:4005", "[::1]:4004"])
        );
        // duplicates bind once
        assert_eq!(
            run(&["-l", "127.0.0.1", "-l", "127.0.0.1:11211"]).listen,
            addrs(&["127.0.0.1:11211"])
        );
        assert_eq!(run(&["-l", "[::1]"]).listen, addrs(&["[::1]:11211"]));
        assert!(run(&["-U", "0"]).udp.is_empty());
        assert!(run(&[]).udp.is_empty());
        assert_eq!(run(&["-t8"]).threads, 8);
        let c = run(&["-u", "memcache", "-P", "/run/mc.pid"]);
        assert_eq!(c.user.as_deref(), Some("memcache"));
        assert_eq!(c.pid_file, Some("/run/mc.pid".into()));
    }

    #[test]
    fn tcp_and_udp_ports_as_memcached_sets_them() {
        let ports = |args: &[&str]| {
            let c = run(args);
            (c.listen, c.udp)
        };
        // -U alone: both protocols on its port; -p and -U apart.
        assert_eq!(
            ports(&["-U", "5001"]),
            (addrs(&["127.0.0.1:5001"]), addrs(&["127.0.0.1:5001"]))
        );
        assert_eq!(
            ports(&["-p", "5002", "-U", "5003", "-l", "127.0.0.1,::1"]),
            (
                addrs(&["127.0.0.1:5002", "[::1]:5002"]),
                addrs(&["127.0.0.1:5003", "[::1]:5003"])
            )
        );
        // 0 turns a protocol off, -1 lets the kernel pick.
        assert_eq!(ports(&["-p", "0"]), (vec![], vec![]));
        assert_eq!(
            ports(&["-p", "0", "-U", "5004"]),
            (vec![], addrs(&["127.0.0.1:5004"]))
        );
        assert_eq!(
            ports(&["-p", "-1", "-U", "-1"]),
            (addrs(&["127.0.0.1:0"]), addrs(&["127.0.0.1:0"]))
        );
        assert_eq!(ports(&["-p", "-1"]), (addrs(&["127.0.0.1:0"]), vec![]));
        // An address's own port serves both protocols that are on.
        assert_eq!(
            ports(&["-l", "127.0.0.1:5005", "-U", "5006"]),
            (addrs(&["127.0.0.1:5005"]), addrs(&["127.0.0.1:5005"]))
        );
        // A Unix socket turns the network off.
        let c = run(&["-s", "/tmp/mc.sock", "-U", "5007", "-a", "770"]);
        assert_eq!((c.listen.len(), c.udp.len()), (0, 0));
        assert_eq!(
            c.unix,
            Some(UnixSocket {
                path: "/tmp/mc.sock".into(),
                mode: 0o770
            })
        );
        assert_eq!(run(&["-s/tmp/x"]).unix.map(|u| u.mode), Some(0o700));
    }

    #[test]
    fn protocol_backlog_turns_and_extended_options() {
        let c = run(&[]);
        assert_eq!(
            (c.protocol, c.backlog, c.reqs_per_event, c.idle_timeout),
            (Protocol::Auto, 1024, 20, 0)
        );
        assert_eq!(run(&["-B", "ascii"]).protocol, Protocol::Ascii);
        assert_eq!(run(&["-Bbinary"]).protocol, Protocol::Binary);
        assert_eq!(run(&["--protocol=auto"]).protocol, Protocol::Auto);
        assert_eq!(run(&["-b", "64"]).backlog, 64);
        assert_eq!(run(&["-R1"]).reqs_per_event, 1);
        let c = run(&[
            "-o",
            "idle_timeout=3,slab_automove=2,slab_automove_ratio=0.5",
        ]);
        assert_eq!(c.idle_timeout, 3);
        assert_eq!(
            (c.slab_automove, c.slab_automove_ratio),
            (Some(2), Some(0.5))
        );
        assert!(c.no_effect.is_empty());
        // memcached's pre-1.5 defaults start the crawler disabled.
        assert!(run(&["-o", "no_modern"]).no_lru_crawler);
        assert!(!run(&["-o", "no_modern,lru_crawler"]).no_lru_crawler);
        // Tuning of what this server does not have: accepted, listed for
        // the warning at start.
        let c = run(&[
            "-o",
            "modern,slab_chunk_max=16384,lru_maintainer,hash_algorithm=murmur3",
            "-o",
            "slab_sizes=96-192-384,hot_max_factor=0.2,read_buf_mem_limit=1,watcher_logbuf_size=8",
        ]);
        assert_eq!(
            c.no_effect,
            [
                "modern",
                "slab_chunk_max",
                "lru_maintainer",
                "hash_algorithm",
                "slab_sizes",
                "hot_max_factor",
                "read_buf_mem_limit"
            ]
        );
        assert_eq!(c.watcher_logbuf, 8 << 10);
        assert!(run(&["-W"]).disable_watch);
        assert!(run(&["-d"]).daemonize);
        let c = run(&["-X", "-k", "-r", "-D", "/", "-f", "1.25", "-n", "48", "-L"]);
        assert!(c.disable_dumping && c.lock_memory && c.max_core);
        assert_eq!(c.prefix_delimiter, Some(b'/'));
        assert_eq!(c.no_effect, ["-f", "-n", "-L"]);
        assert_eq!(run(&["-D#"]).prefix_delimiter, Some(b'#'));
        let c = run(&["-Y", "/etc/mc-auth"]);
        assert_eq!(
            (c.auth_file.as_deref(), c.protocol),
            (Some("/etc/mc-auth"), Protocol::Ascii)
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(&["--help"]), Ok(Args::Help));
        assert_eq!(parse(&["-m", "10", "-h"]), Ok(Args::Help));
        assert_eq!(parse(&["-V"]), Ok(Args::Version));
        assert_eq!(parse(&["--version"]), Ok(Args::Version));
    }

    #[test]
    fn errors() {
        for bad in [
            &["--listen"][..],
            &["--listen", "127.0.0.1:99999"],
            &["-l", ""],
            &["-m", "x"],
            &["-m", "0"],
            &["-m", "99999999999999999999"],
            &["-m", "18446744073709551615"],
            &["-c", "0"],
            &["-c", "-5"],
            &["-c", "4294967296"],
            &["-c", "99999999999999999999999"],
            &["-I", "1q"],
            &["-I", "100"],
            &["-I", "99999999999999999999g"],
            &["-I", "18014398509481984k"],
            &["-I", "2g", "-m", "10000"],
            &["-m", "1"],
            &["-p", "65536"],
            &["-p", "-2"],
            &["-U", "99999"],
            &["-U", "-2"],
            &["-s", ""],
            &["-s"],
            &["-a", "800"],
            &["-a", "1000"],
            &["-a", "rw"],
            &["-t", "0"],
            &["-t", "100000"],
            &["-t", "18446744073709551616"],
            &["--bogus"],
            &["-o", "relaxed_privileges,ext_path=/tmp/x"],
            &["-o", "no_modern=1"],
            &["-o", "slab_chunk_max"],
            &["-o", "slab_chunk_max=big"],
            &["-o", "hot_max_factor=nan"],
            &["-o", "modern=yes"],
            &["-o", "idle_timeout"],
            &["-o", "idle_timeout=-1"],
            &["-o", "idle_timeout=4294967296"],
            &["-o", "slab_automove=3"],
            &["-o", "slab_automove_ratio=x"],
            &["-B", "http"],
            &["-B"],
            &["-b", "0"],
            &["-b", "2147483648"],
            &["-Y", "f", "-U", "11211"],
            &["-Y", "f", "-B", "binary"],
            &["-D", ""],
            &["-D", "ab"],
            &["-D", " "],
            &["-f", "1"],
            &["-f", "x"],
            &["-n", "0"],
            &["-R", "0"],
            &["-R", "-1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse(&["-m", "1"]),
            Err("Cannot set item size limit higher than 1/2 of memory max.".into())
        );
    }
}
