//! [`ServerOptions`] and [`ServerStats`].

use std::time::Duration;

/// How a server behaves; `ServerOptions::default()` suits most uses.
///
/// ```
/// use std::time::Duration;
/// use evloop_dns::server::ServerOptions;
///
/// let opts = ServerOptions::new()
///     .tcp_idle_timeout(Duration::from_secs(5))
///     .tcp_max_clients(64);
/// assert_eq!(opts.udp_payload_size(), 1232);
/// ```
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub(crate) payload: u16,
    pub(crate) tcp: bool,
    pub(crate) idle: Duration,
    pub(crate) max_clients: usize,
    pub(crate) chunks: Option<(usize, Duration)>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            payload: 1232,
            tcp: true,
            idle: Duration::from_secs(10),
            max_clients: 256,
            chunks: None,
        }
    }
}

impl ServerOptions {
    /// The defaults: EDNS payload 1232, TCP on, 10 s TCP idle timeout,
    /// 256 TCP clients at most, whole writes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The UDP payload size the server advertises in its OPT records
    /// (answers to EDNS queries). Values below 512 count as 512.
    pub fn udp_payload(mut self, size: u16) -> Self {
        self.payload = size;
        self
    }

    /// The advertised UDP payload size.
    pub fn udp_payload_size(&self) -> u16 {
        self.payload
    }

    /// Whether to accept TCP on the same port (default on). Off, the
    /// server binds UDP only.
    pub fn tcp(mut self, on: bool) -> Self {
        self.tcp = on;
        self
    }

    /// How long a TCP connection may stay silent before the server closes
    /// it (RFC 7766 section 6.2.3; libevent's `EVDNS_SOPT_TCP_IDLE_TIMEOUT`).
    /// The same bound applies to a client that stops reading its answers.
    /// Zero means no limit.
    pub fn tcp_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The most TCP connections open at once; more are closed as soon as
    /// they are accepted (libevent's `EVDNS_SOPT_TCP_MAX_CLIENTS`).
    pub fn tcp_max_clients(mut self, n: usize) -> Self {
        self.max_clients = n;
        self
    }

    /// Writes TCP answers `chunk` bytes at a time (at least 1), `gap`
    /// apart, instead of whole: for testing that clients reassemble frames
    /// split anywhere.
    pub fn tcp_write_chunks(mut self, chunk: usize, gap: Duration) -> Self {
        self.chunks = Some((chunk.max(1), gap));
        self
    }
}

/// What a server has seen so far ([`DnsServer::stats`](super::DnsServer::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// UDP datagrams received (malformed ones included).
    pub udp_received: u64,
    /// TCP frames received (malformed ones included).
    pub tcp_received: u64,
    /// TCP connections accepted (refused ones over the client cap
    /// included).
    pub tcp_connections: u64,
    /// Messages that could not be read: answered FORMERR when the header
    /// was readable, dropped otherwise.
    pub malformed: u64,
    /// Messages sent (UDP datagrams and TCP frames).
    pub sent: u64,
}
