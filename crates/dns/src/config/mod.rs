//! Resolver configuration: resolv.conf, hosts files, or built in code.
//!
//! Nothing is read from `/etc` unless asked: [`Config::default`] has no
//! nameserver, no search list and no hosts file; [`Config::from_system`]
//! reads `/etc/resolv.conf` and `/etc/hosts` explicitly.
//!
//! ```
//! use evloop_dns::config::{Config, ResolvConf};
//!
//! let rc = ResolvConf::parse("nameserver 127.0.0.1:5353\nsearch example.com\noptions ndots:2 rotate");
//! let config = Config::from_resolv_conf(&rc);
//! assert_eq!(config.nameservers, vec!["127.0.0.1:5353".parse().unwrap()]);
//! assert_eq!(config.ndots, 2);
//! assert!(config.rotate);
//! assert_eq!(config.search.len(), 1);
//! ```

mod hosts;
mod resolv_conf;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hickory_proto::rr::Name;

pub use hosts::Hosts;
pub use resolv_conf::{parse_nameserver, ResolvConf};

/// The default EDNS0 UDP payload size (the DNS flag day 2020 value, as
/// c-ares uses).
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;

/// How a resolver behaves. Build one in code (fields are public, `with_*`
/// helpers chain), from a [`ResolvConf`], or from the system's files with
/// [`Config::from_system`].
///
/// ```
/// use std::time::Duration;
/// use evloop_dns::config::Config;
///
/// let config = Config::default()
///     .with_nameserver("127.0.0.1:5353".parse().unwrap())
///     .with_search("corp.example")
///     .with_timeout(Duration::from_millis(500))
///     .with_attempts(3);
/// assert_eq!(config.attempts, 3);
/// assert_eq!(config.search[0].to_ascii(), "corp.example.");
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Servers, tried in this order (or rotated, see `rotate`).
    pub nameservers: Vec<SocketAddr>,
    /// The search list (resolv.conf's `search` or `domain`), fully
    /// qualified.
    pub search: Vec<Name>,
    /// A name with at least this many dots is tried as given before the
    /// search list (resolv.conf's `ndots`, default 1, at most 15).
    pub ndots: u8,
    /// How long one transmission waits for its answer (default 2 s, as
    /// c-ares; resolv.conf's `timeout`).
    pub timeout: Duration,
    /// Transmissions per server (default 3, as c-ares; resolv.conf's
    /// `attempts`). At least 1.
    pub attempts: u32,
    /// Start each query at the next server in turn instead of the first
    /// healthy one.
    pub rotate: bool,
    /// Send EDNS0 with this UDP payload size (`None`: no EDNS). Default
    /// [`DEFAULT_EDNS_PAYLOAD`].
    pub edns: Option<u16>,
    /// Randomise the case of query names (DNS 0x20) and require the reply
    /// to echo it exactly; a mismatch is treated as a spoof and the query
    /// is asked again over TCP.
    pub case_randomization: bool,
    /// Cache answers (positive by TTL, negative per RFC 2308). Default on.
    pub cache: bool,
    /// At most this many cache entries (name, type, class); the oldest go
    /// first. Default 4096.
    pub cache_size: usize,
    /// Cap on the TTL of cached entries (default 3600 s, as c-ares).
    pub cache_max_ttl: u32,
    /// Answer A, AAAA and address lookups from this hosts file first.
    pub hosts: Option<Hosts>,
    /// At most this many queries on the wire at once; more wait in a queue
    /// (default 256).
    pub max_inflight: usize,
    /// A UDP socket (and so its random source port) is used for at most
    /// this many queries, then a new one is opened (default 64; c-ares
    /// keeps one socket per server unless told otherwise, evdns always
    /// does). 1 gives every query its own port, at the cost of a socket
    /// per query (a socket's life is about five system calls and the
    /// kernel's work on them).
    pub udp_max_queries: u32,
    /// After a server failed, it is tried again (probed) only after this
    /// delay, until then healthy servers go first (default 5 s).
    pub server_retry_delay: Duration,
    /// Under load (at least [`COALESCE_MIN_INFLIGHT`] queries in flight),
    /// UDP replies are read every this long instead of as each one comes
    /// (the way a network card moderates its interrupts): the replies of a
    /// period, and the queries their lookups start, then cost one read
    /// and one send instead of a read, a send and a wake-up each. A reply
    /// waits at most this long more (plus the kernel's timer slack); below
    /// the threshold nothing waits. The cost is that added latency: with a
    /// fixed number of queries in flight to a server a few hundred
    /// microseconds away, throughput drops by the same proportion, so turn
    /// it off (zero) for such a server if CPU matters less. Default 50 µs.
    pub reply_coalescing: Duration,
}

/// Queries in flight from which [`Config::reply_coalescing`] applies: with
/// fewer, a fast server's queue might run dry while replies wait (a local
/// unbound answers 64 queries in about 350 µs; a period, with the kernel's
/// 50 µs timer slack and the work on the replies, takes about 150 µs).
pub const COALESCE_MIN_INFLIGHT: usize = 64;

impl Default for Config {
    fn default() -> Self {
        Config {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(2),
            attempts: 3,
            rotate: false,
            edns: Some(DEFAULT_EDNS_PAYLOAD),
            case_randomization: false,
            cache: true,
            cache_size: 4096,
            cache_max_ttl: 3600,
            hosts: None,
            max_inflight: 256,
            udp_max_queries: 64,
            server_retry_delay: Duration::from_secs(5),
            reply_coalescing: Duration::from_micros(50),
        }
    }
}

impl Config {
    /// A config from a parsed resolv.conf: its nameservers, search list and
    /// options; everything else keeps its default.
    ///
    /// ```
    /// use evloop_dns::config::{Config, ResolvConf};
    /// let c = Config::from_resolv_conf(&ResolvConf::parse("options timeout:1 attempts:4"));
    /// assert_eq!(c.timeout.as_secs(), 1);
    /// assert_eq!(c.attempts, 4);
    /// ```
    pub fn from_resolv_conf(rc: &ResolvConf) -> Config {
        let mut c = Config {
            nameservers: rc.nameservers.clone(),
            ..Config::default()
        };
        c.apply_resolv_conf_options(rc);
        c
    }

    /// Takes the search list and options of `rc` (not its nameservers):
    /// for a resolv.conf whose servers are overridden.
    pub fn apply_resolv_conf_options(&mut self, rc: &ResolvConf) {
        self.search = rc.search.clone();
        if let Some(n) = rc.ndots {
            self.ndots = n;
        }
        if let Some(t) = rc.timeout {
            self.timeout = t;
        }
        if let Some(a) = rc.attempts {
            self.attempts = a;
        }
        if rc.rotate {
            self.rotate = true;
        }
        if rc.edns0 && self.edns.is_none() {
            self.edns = Some(DEFAULT_EDNS_PAYLOAD);
        }
    }

    /// Reads `/etc/resolv.conf` and `/etc/hosts` (the only call that reads
    /// `/etc`). A missing hosts file is not an error.
    ///
    /// ```no_run
    /// let config = evloop_dns::config::Config::from_system().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// If `/etc/resolv.conf` cannot be read.
    pub fn from_system() -> io::Result<Config> {
        let mut c = Config::from_resolv_conf(&ResolvConf::from_file("/etc/resolv.conf")?);
        c.hosts = Hosts::from_file("/etc/hosts").ok();
        Ok(c)
    }

    /// Reads a resolv.conf file into a config.
    ///
    /// # Errors
    ///
    /// If the file cannot be read.
    pub fn from_resolv_conf_file(path: impl AsRef<Path>) -> io::Result<Config> {
        Ok(Config::from_resolv_conf(&ResolvConf::from_file(path)?))
    }

    /// Adds a nameserver at the end of the list.
    pub fn with_nameserver(mut self, addr: SocketAddr) -> Self {
        self.nameservers.push(addr);
        self
    }

    /// Adds a search domain; a name that does not parse is ignored (as a
    /// bad resolv.conf line would be).
    pub fn with_search(mut self, domain: &str) -> Self {
        if let Some(n) = resolv_conf::domain_name(domain) {
            self.search.push(n);
        }
        self
    }

    /// Sets `ndots` (capped at 15).
    pub fn with_ndots(mut self, ndots: u8) -> Self {
        self.ndots = ndots.min(15);
        self
    }

    /// Sets the per-transmission timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the attempts per server (at least 1).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Sets the EDNS0 payload size, or turns EDNS off with `None`.
    pub fn with_edns(mut self, payload: Option<u16>) -> Self {
        self.edns = payload;
        self
    }

    /// Turns DNS 0x20 case randomisation on or off.
    pub fn with_case_randomization(mut self, on: bool) -> Self {
        self.case_randomization = on;
        self
    }

    /// Turns the cache on or off.
    pub fn with_cache(mut self, on: bool) -> Self {
        self.cache = on;
        self
    }

    /// Sets the hosts file answered from first.
    pub fn with_hosts(mut self, hosts: Hosts) -> Self {
        self.hosts = Some(hosts);
        self
    }

    /// Sets the in-flight cap.
    pub fn with_max_inflight(mut self, n: usize) -> Self {
        self.max_inflight = n.max(1);
        self
    }

    /// Sets server rotation.
    pub fn with_rotate(mut self, on: bool) -> Self {
        self.rotate = on;
        self
    }
}
