//! Server-wide counters and the `stats` replies built from them and the
//! store's.

use crate::detail::Detail;
use crate::reply::{Line, ReplySink};
use crate::store::{Mode, Store, StoreOutcome};

/// Version string of `version` and `stats`: the memcached release whose
/// protocol this server follows, tagged with what it is.
pub const VERSION: &str = "1.6.18-evloop";

/// The server's settings as `stats settings` shows them, and the ones the
/// executor needs (`shutdown`).
#[derive(Debug, Default, Clone)]
pub struct Settings {
    /// Worker loops (`-t`).
    pub threads: u64,
    /// `shutdown` is allowed (`-A`).
    pub shutdown_enabled: bool,
    /// The TCP port of the first listening address, as bound.
    pub tcp_port: u64,
    /// The UDP port of the first UDP address, as bound (0: off).
    pub udp_port: u64,
    /// The listening addresses, comma-separated (`-l`).
    pub interfaces: String,
    /// `-s`: the Unix socket's path, and `-a`: its mode.
    pub unix: Option<(String, u32)>,
    /// `-v` count, or the last `verbosity` level.
    pub verbosity: u64,
    /// The slab page mover's setting (`slabs automove`).
    pub automove: Automove,
    /// `stats detail on`: per-prefix counts are being collected.
    pub detail_enabled: bool,
    /// `-F`: `flush_all` is refused.
    pub flush_disabled: bool,
    /// `lru_crawler disable`: dead items are no longer freed in the
    /// background, and crawls and dumps are refused.
    pub crawler_disabled: bool,
    /// `-R`.
    pub reqs_per_event: u64,
    /// `-b`.
    pub tcp_backlog: u64,
    /// `-B`.
    pub protocol: crate::exec::Protocol,
    /// `-o idle_timeout`, seconds (0: off).
    pub idle_timeout: u64,
    /// `-W`: `watch` is refused.
    pub watch_disabled: bool,
    /// `-Y`: text connections authenticate against these pairs first.
    pub auth: Option<crate::auth::AuthFile>,
    /// `-X`: key dumps (`stats cachedump`, `lru_crawler metadump`) and
    /// `stats detail` are refused.
    pub dump_disabled: bool,
    /// `-D`: the key prefix delimiter of `stats detail` (`None`: `:`).
    pub prefix_delimiter: Option<u8>,
    /// A watcher's buffer, bytes (`-o watcher_logbuf_size`, in KiB).
    pub watcher_logbuf: u64,
}

/// memcached's counters of its log watchers (see [`crate::watch`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogCounters {
    /// Lines formatted.
    pub written: u64,
    /// Lines dropped for a full watcher buffer.
    pub skipped: u64,
    /// Writes of lines to watchers.
    pub sent: u64,
    /// Watchers now.
    pub watchers: u64,
}

impl Settings {
    /// The key prefix delimiter of `stats detail`.
    pub fn delimiter(&self) -> u8 {
        self.prefix_delimiter.unwrap_or(crate::detail::DELIMITER)
    }
}

/// memcached's slab page mover settings, kept and shown as set (this
/// server has one item class, so no page ever moves).
#[derive(Debug, Clone, Copy)]
pub struct Automove {
    /// `slab_automove`: 0, 1 or 2.
    pub level: u32,
    /// `slab_automove_ratio`.
    pub ratio: f64,
}

impl Default for Automove {
    /// memcached 1.6's defaults.
    fn default() -> Self {
        Automove {
            level: 1,
            ratio: 0.8,
        }
    }
}

/// A connection as `stats conns` shows it.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer, `tcp:ADDR:PORT`.
    pub addr: String,
    /// The address it arrived on, `tcp:ADDR:PORT` (listeners: none).
    pub listen_addr: Option<String>,
    /// Server time of its last request.
    pub last_cmd: u32,
    /// What a client connection waits for.
    pub waiting: Waiting,
}

/// What a connection waits for, as `stats conns` shows its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Waiting {
    /// A request (`conn_waiting`).
    #[default]
    Command,
    /// The rest of a storage request's data block (`conn_nread`).
    Data,
    /// The rest of a refused data block to discard (`conn_swallow`).
    Swallow,
    /// A UDP socket waits for datagrams (`conn_read`).
    Datagram,
}

/// Counters for `stats`. The executor counts commands; the server counts
/// connections and bytes.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Settings shown by `stats settings`.
    pub settings: Settings,
    /// The log watchers' counters.
    pub log: LogCounters,
    /// Per-prefix counts (`stats detail`), cleared by `stats reset`.
    pub detail: Detail,
    /// Open connections and listeners by file descriptor (`stats conns`).
    pub conns: std::collections::BTreeMap<i32, ConnInfo>,
    /// The connection whose requests run now (`conn_parse_cmd` in `stats
    /// conns`).
    pub current_fd: i32,
    /// `-c`.
    pub max_connections: u64,
    /// Open connections.
    pub curr_connections: u64,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Connections refused at `-c`.
    pub rejected_connections: u64,
    /// Bytes read from clients.
    pub bytes_read: u64,
    /// Bytes written to clients.
    pub bytes_written: u64,
    /// Retrieval requests (per key).
    pub cmd_get: u64,
    /// Storage requests.
    pub cmd_set: u64,
    /// flush_all requests.
    pub cmd_flush: u64,
    /// Touch requests (touch, gat per key, mg with T).
    pub cmd_touch: u64,
    /// Meta commands.
    pub cmd_meta: u64,
    /// Keys found.
    pub get_hits: u64,
    /// Keys not found.
    pub get_misses: u64,
    /// Deletes of absent keys.
    pub delete_misses: u64,
    /// Deletes that removed an item.
    pub delete_hits: u64,
    /// File descriptors kept beyond `-c` (listeners, the loops' own, and
    /// connections refused at the limit), as memcached's `reserved_fds`.
    pub reserved_fds: u64,
    /// Authentication attempts (`-Y`).
    pub auth_cmds: u64,
    /// Failed ones.
    pub auth_errors: u64,
    /// incr of absent keys.
    pub incr_misses: u64,
    /// Successful incr.
    pub incr_hits: u64,
    /// decr of absent keys.
    pub decr_misses: u64,
    /// Successful decr.
    pub decr_hits: u64,
    /// cas on absent keys.
    pub cas_misses: u64,
    /// Successful cas.
    pub cas_hits: u64,
    /// cas with a stale unique.
    pub cas_badval: u64,
    /// Touches that found the key.
    pub touch_hits: u64,
    /// Touches that did not.
    pub touch_misses: u64,
    /// Writes refused as larger than `-I`.
    pub store_too_large: u64,
    /// Writes refused as larger than `-m`.
    pub store_no_memory: u64,
    /// Connections that ran their requests per turn (`-R`) with more
    /// waiting, and let the others go first.
    pub conn_yields: u64,
    /// Connections closed for idling past `-o idle_timeout`.
    pub idle_kicks: u64,
}

impl Stats {
    /// Counts a lookup of one key: a get (`touch` false) or a touch/gat
    /// (`touch` true), found (`hit`) or not. Text, meta and binary alike.
    #[inline]
    pub fn count_fetch(&mut self, touch: bool, hit: bool) {
        if touch {
            self.cmd_touch += 1;
            if hit {
                self.touch_hits += 1;
            } else {
                self.touch_misses += 1;
            }
        } else {
            self.cmd_get += 1;
            if hit {
                self.get_hits += 1;
            } else {
                self.get_misses += 1;
            }
        }
    }

    /// Counts an incr (`incr` true) or decr that found its item (`hit`)
    /// or not.
    #[inline]
    pub fn count_delta(&mut self, incr: bool, hit: bool) {
        match (incr, hit) {
            (true, true) => self.incr_hits += 1,
            (true, false) => self.incr_misses += 1,
            (false, true) => self.decr_hits += 1,
            (false, false) => self.decr_misses += 1,
        }
    }

    /// Counts a write's outcome in the `cas_*` counters when it was a
    /// `cas` (text, meta or binary).
    #[inline]
    pub fn count_store(&mut self, mode: Mode, result: StoreOutcome) {
        if mode == Mode::Cas {
            match result {
                StoreOutcome::Stored(_) => self.cas_hits += 1,
                StoreOutcome::Exists => self.cas_badval += 1,
                StoreOutcome::NotFound => self.cas_misses += 1,
                _ => {}
            }
        }
    }

    /// Counts a lookup for `stats detail`, when it is on.
    pub fn detail_get(&mut self, key: &[u8], hit: bool) {
        if self.settings.detail_enabled {
            let delim = self.settings.delimiter();
            self.detail.get(key, hit, delim);
        }
    }

    /// Counts a storage request for `stats detail`, when it is on.
    pub fn detail_set(&mut self, key: &[u8]) {
        if self.settings.detail_enabled {
            let delim = self.settings.delimiter();
            self.detail.set(key, delim);
        }
    }

    /// Counts a delete for `stats detail`, when it is on.
    pub fn detail_delete(&mut self, key: &[u8]) {
        if self.settings.detail_enabled {
            let delim = self.settings.delimiter();
            self.detail.delete(key, delim);
        }
    }

    /// Counters for a server allowing `max_connections` connections.
    pub fn new(max_connections: usize) -> Self {
        Stats {
            max_connections: max_connections as u64,
            ..Stats::default()
        }
    }

    /// `stats reset`: zeroes the command and byte counters (not the gauges).
    pub fn reset(&mut self) {
        *self = Stats {
            settings: std::mem::take(&mut self.settings),
            conns: std::mem::take(&mut self.conns),
            max_connections: self.max_connections,
            curr_connections: self.curr_connections,
            reserved_fds: self.reserved_fds,
            ..Stats::default()
        };
    }
}

/// Writes one `STAT name value` line.
fn stat(out: &mut impl ReplySink, name: &str, value: impl StatValue) {
    let mut l = Line::new();
    l.push(out, b"STAT ");
    l.push(out, name.as_bytes());
    l.push(out, b" ");
    value.write(&mut l, out);
    l.push(out, b"\r\n");
    l.flush(out);
}

/// A value a `STAT` line can show.
trait StatValue {
    /// Appends the value's text.
    fn write(&self, l: &mut Line, out: &mut impl ReplySink);
}

impl StatValue for u64 {
    fn write(&self, l: &mut Line, out: &mut impl ReplySink) {
        l.num(out, *self);
    }
}

impl StatValue for &str {
    fn write(&self, l: &mut Line, out: &mut impl ReplySink) {
        l.push(out, self.as_bytes());
    }
}

/// CPU time used by the process, `(user, system)`, as memcached's
/// `seconds.microseconds` strings.
fn rusage() -> (String, String) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let f = |t: nix::sys::time::TimeVal| format!("{}.{:06}", t.tv_sec(), t.tv_usec());
            (f(u.user_time()), f(u.system_time()))
        }
        Err(_) => ("0.000000".into(), "0.000000".into()),
    }
}

/// The general `stats` reply.
pub fn write_general(store: &Store, s: &Stats, out: &mut impl ReplySink) {
    let clock = store.clock();
    let c = store.counters();
    let (user, system) = rusage();
    stat(out, "pid", std::process::id() as u64);
    stat(out, "uptime", clock.uptime() as u64);
    stat(out, "time", clock.unix_now() as u64);
    stat(out, "version", VERSION);
    stat(out, "pointer_size", usize::BITS as u64);
    stat(out, "rusage_user", user.as_str());
    stat(out, "rusage_system", system.as_str());
    stat(out, "max_connections", s.max_connections);
    stat(out, "curr_connections", s.curr_connections);
    stat(out, "total_connections", s.total_connections);
    stat(out, "rejected_connections", s.rejected_connections);
    stat(out, "connection_structures", s.curr_connections);
    stat(out, "reserved_fds", s.reserved_fds);
    stat(out, "cmd_get", s.cmd_get);
    stat(out, "cmd_set", s.cmd_set);
    stat(out, "cmd_flush", s.cmd_flush);
    stat(out, "cmd_touch", s.cmd_touch);
    stat(out, "cmd_meta", s.cmd_meta);
    stat(out, "get_hits", s.get_hits);
    stat(out, "get_misses", s.get_misses);
    stat(out, "get_expired", c.get_expired);
    stat(out, "get_flushed", c.get_flushed);
    stat(out, "delete_misses", s.delete_misses);
    stat(out, "delete_hits", s.delete_hits);
    stat(out, "incr_misses", s.incr_misses);
    stat(out, "incr_hits", s.incr_hits);
    stat(out, "decr_misses", s.decr_misses);
    stat(out, "decr_hits", s.decr_hits);
    stat(out, "cas_misses", s.cas_misses);
    stat(out, "cas_hits", s.cas_hits);
    stat(out, "cas_badval", s.cas_badval);
    stat(out, "touch_hits", s.touch_hits);
    stat(out, "touch_misses", s.touch_misses);
    stat(out, "store_too_large", s.store_too_large);
    stat(out, "store_no_memory", s.store_no_memory);
    stat(out, "auth_cmds", s.auth_cmds);
    stat(out, "auth_errors", s.auth_errors);
    if s.settings.idle_timeout > 0 {
        stat(out, "idle_kicks", s.idle_kicks);
    }
    stat(out, "bytes_read", s.bytes_read);
    stat(out, "bytes_written", s.bytes_written);
    stat(out, "limit_maxbytes", store.limit() as u64);
    stat(out, "accepting_conns", 1);
    // At `-c` new connections are refused, never the listener paused.
    stat(out, "listen_disabled_num", 0);
    stat(out, "time_in_listen_disabled_us", 0);
    stat(out, "threads", s.settings.threads.max(1));
    stat(out, "conn_yields", s.conn_yields);
    let buckets = store.hash_buckets();
    stat(
        out,
        "hash_power_level",
        u64::from(buckets.max(1).trailing_zeros()),
    );
    stat(out, "hash_bytes", store.hash_bytes() as u64);
    // The table grows in place, within one request: never mid-expansion
    // between requests.
    stat(out, "hash_is_expanding", 0);
    // Dead items are freed in bounded steps inside the loop's clock tick,
    // never running between requests.
    stat(out, "lru_crawler_running", 0);
    stat(out, "lru_crawler_starts", store.crawler_starts());
    // An allocation that fails ends the process (Rust's allocator), so
    // none is ever counted.
    stat(out, "malloc_fails", 0);
    // Lines are formatted where they happen: none is dropped before a
    // watcher's own buffer.
    stat(out, "log_worker_dropped", 0);
    stat(out, "log_worker_written", s.log.written);
    stat(out, "log_watcher_skipped", s.log.skipped);
    stat(out, "log_watcher_sent", s.log.sent);
    stat(out, "log_watchers", s.log.watchers);
    stat(out, "bytes", store.bytes() as u64);
    stat(out, "curr_items", store.len() as u64);
    stat(out, "total_items", c.total_items);
    stat(out, "expired_unfetched", c.expired_unfetched);
    stat(out, "evicted_unfetched", c.evicted_unfetched);
    stat(out, "evictions", c.evictions);
    stat(out, "reclaimed", c.reclaimed);
    stat(out, "crawler_reclaimed", c.crawler_reclaimed);
    stat(out, "crawler_items_checked", c.crawler_items_checked);
    // Eviction never finds the LRU tail in use (replies share values).
    stat(out, "lrutail_reflocked", 0);
    out.put(b"END\r\n");
}

/// `stats settings`: the settings in force, under memcached's names (only
/// those this server has).
pub fn write_settings(store: &Store, s: &Stats, out: &mut impl ReplySink) {
    let set = &s.settings;
    stat(out, "maxbytes", store.limit() as u64);
    stat(out, "maxconns", s.max_connections);
    stat(out, "tcpport", set.tcp_port);
    stat(out, "udpport", set.udp_port);
    stat(out, "inter", set.interfaces.as_str());
    stat(out, "verbosity", set.verbosity);
    stat(out, "evictions", if store.evicts() { "on" } else { "off" });
    match &set.unix {
        Some((path, mode)) => {
            stat(out, "domain_socket", path.as_str());
            stat(out, "umask", format!("{mode:o}").as_str());
        }
        None => {
            stat(out, "domain_socket", "NULL");
            stat(out, "umask", "700");
        }
    }
    stat(out, "shutdown_command", yes_no(set.shutdown_enabled));
    stat(out, "num_threads", set.threads.max(1));
    // Each loop has its own socket on every UDP address.
    stat(out, "num_threads_per_udp", set.threads.max(1));
    stat(
        out,
        "stat_key_prefix",
        std::str::from_utf8(&[set.delimiter()]).unwrap_or(":"),
    );
    stat(out, "detail_enabled", yes_no(set.detail_enabled));
    stat(out, "reqs_per_event", set.reqs_per_event);
    stat(out, "cas_enabled", yes_no(store.uses_cas()));
    stat(out, "tcp_backlog", set.tcp_backlog);
    stat(
        out,
        "binding_protocol",
        match set.protocol {
            crate::exec::Protocol::Auto => "auto-negotiate",
            crate::exec::Protocol::Ascii => "ascii",
            crate::exec::Protocol::Binary => "binary",
        },
    );
    stat(out, "auth_enabled_sasl", "no");
    match &set.auth {
        Some(a) => stat(out, "auth_enabled_ascii", a.path.as_str()),
        None => stat(out, "auth_enabled_ascii", "no"),
    }
    stat(out, "item_size_max", store.item_max() as u64);
    stat(out, "slab_automove", u64::from(set.automove.level));
    stat(
        out,
        "slab_automove_ratio",
        format!("{:.2}", set.automove.ratio).as_str(),
    );
    stat(out, "lru_crawler", yes_no(!set.crawler_disabled));
    stat(out, "idle_timeout", set.idle_timeout);
    stat(out, "flush_enabled", yes_no(!set.flush_disabled));
    stat(out, "dump_enabled", yes_no(!set.dump_disabled));
    stat(out, "watcher_logbuf_size", set.watcher_logbuf);
    out.put(b"END\r\n");
}

/// memcached's boolean settings text.
fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The one item class this server reports: items are not sorted into slab
/// classes, but tools (memcdump, memcached-tool) walk `stats items` class
/// ids, so all items are shown under class 1.
pub const CLASS_ID: u32 = 1;

/// `stats items`: every item is in class [`CLASS_ID`].
pub fn write_items(store: &Store, out: &mut impl ReplySink) {
    if store.len() > 0 {
        let c = store.counters();
        let now = store.clock().now();
        let oldest = store
            .oldest_atime()
            .map_or(0, |t| u64::from(now.saturating_sub(t)));
        stat(out, "items:1:number", store.len() as u64);
        stat(out, "items:1:age", oldest);
        stat(out, "items:1:mem_requested", store.bytes() as u64);
        stat(out, "items:1:evicted", c.evictions);
        stat(out, "items:1:reclaimed", c.reclaimed);
        stat(out, "items:1:expired_unfetched", c.expired_unfetched);
        stat(out, "items:1:evicted_unfetched", c.evicted_unfetched);
        stat(out, "items:1:crawler_reclaimed", c.crawler_reclaimed);
        stat(
            out,
            "items:1:crawler_items_checked",
            c.crawler_items_checked,
        );
        stat(out, "items:1:lrutail_reflocked", 0);
    }
    out.put(b"END\r\n");
}

/// `stats slabs`: an honest summary, not slab pages this server does not
/// have: the items held and the item memory in use (as memcached counts
/// item sizes; `stats items` shows it as `mem_requested`).
///
/// The one item class shows once it has held an item, as a memcached
/// class shows once it has a page: emptied again (expired, deleted,
/// crawled), it shows `1:used_chunks 0`.
pub fn write_slabs(store: &Store, out: &mut impl ReplySink) {
    let used = store.has_held_items();
    if used {
        stat(out, "1:used_chunks", store.len() as u64);
    }
    stat(out, "active_slabs", u64::from(used));
    stat(out, "total_malloced", store.bytes() as u64);
    out.put(b"END\r\n");
}

/// `stats conns`: one group of lines per listener and connection.
pub fn write_conns(store: &Store, s: &Stats, out: &mut impl ReplySink) {
    let now = store.clock().now();
    for (fd, c) in &s.conns {
        let name = |what: &str| format!("{fd}:{what}");
        stat(out, &name("addr"), c.addr.as_str());
        let state = match &c.listen_addr {
            Some(l) => {
                stat(out, &name("listen_addr"), l.as_str());
                match c.waiting {
                    _ if *fd == s.current_fd => "conn_parse_cmd",
                    Waiting::Command | Waiting::Datagram => "conn_waiting",
                    Waiting::Data => "conn_nread",
                    Waiting::Swallow => "conn_swallow",
                }
            }
            None if c.waiting == Waiting::Datagram => "conn_read",
            None => "conn_listening",
        };
        stat(out, &name("state"), state);
        stat(
            out,
            &name("secs_since_last_cmd"),
            u64::from(now.saturating_sub(c.last_cmd)),
        );
    }
    out.put(b"END\r\n");
}
