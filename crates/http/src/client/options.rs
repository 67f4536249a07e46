//! [`ClientOptions`] (per client) and [`RequestOptions`] (per request).

use std::path::PathBuf;
use std::time::Duration;

use evloop_buffer::RateLimit;
use evloop_dns::resolver::ResolverId;

use crate::proto::{Lenient, Limits};

/// How a client connects, pools and reads. Builder methods; the defaults:
///
/// | option | default |
/// |---|---|
/// | [`connect_timeout`](Self::connect_timeout) | 10 s |
/// | [`head_timeout`](Self::head_timeout) (request sent to response head) | 30 s |
/// | [`body_timeout`](Self::body_timeout) (no body byte moving, either way) | 30 s |
/// | [`request_timeout`](Self::request_timeout) (the whole request) | none |
/// | [`idle_timeout`](Self::idle_timeout) (a pooled connection) | 90 s |
/// | [`max_per_host`](Self::max_per_host) | 16 connections |
/// | [`max_total`](Self::max_total) | 1024 connections |
/// | [`limits`](Self::limits) | [`Limits::default`] (64 KiB head, 8 MiB buffered body) |
/// | [`lenient`](Self::lenient) | strict ([`Lenient::default`]) |
/// | [`follow_redirects`](Self::follow_redirects) | 0 (off) |
/// | [`expect_continue_timeout`](Self::expect_continue_timeout) | 1 s |
/// | [`user_agent`](Self::user_agent) | `evloop-http/0.1` |
/// | [`rate_limit`](Self::rate_limit) (each connection) | none |
/// | [`resolver`](Self::resolver) | one made on first use from `/etc/resolv.conf` |
///
/// ```
/// use std::time::Duration;
/// use evloop_http::client::ClientOptions;
///
/// let opts = ClientOptions::new()
///     .max_per_host(4)
///     .request_timeout(Some(Duration::from_secs(5)))
///     .follow_redirects(5);
/// assert_eq!(opts.max_per_host_value(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub(crate) resolver: Option<ResolverId>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) head_timeout: Option<Duration>,
    pub(crate) body_timeout: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_per_host: usize,
    pub(crate) max_total: usize,
    pub(crate) limits: Limits,
    pub(crate) lenient: Lenient,
    pub(crate) follow_redirects: u32,
    pub(crate) expect_continue_timeout: Duration,
    pub(crate) user_agent: Option<String>,
    pub(crate) rate_limit: Option<RateLimit>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            resolver: None,
            connect_timeout: Some(Duration::from_secs(10)),
            head_timeout: Some(Duration::from_secs(30)),
            body_timeout: Some(Duration::from_secs(30)),
            request_timeout: None,
            idle_timeout: Some(Duration::from_secs(90)),
            max_per_host: 16,
            max_total: 1024,
            limits: Limits::default(),
            lenient: Lenient::default(),
            follow_redirects: 0,
            expect_continue_timeout: Duration::from_secs(1),
            user_agent: Some("evloop-http/0.1".to_string()),
            rate_limit: None,
        }
    }
}

impl ClientOptions {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        Self::default()
    }

    /// The resolver for host names (evloop-dns). `None`: one is made on
    /// first use from the system's configuration.
    pub fn resolver(mut self, r: Option<ResolverId>) -> Self {
        self.resolver = r;
        self
    }

    /// Bound on making a connection, name resolution included. `None`:
    /// the kernel's own.
    pub fn connect_timeout(mut self, t: Option<Duration>) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Bound on the wait for the response head, counted from when the
    /// request (its body included) was handed to the socket.
    pub fn head_timeout(mut self, t: Option<Duration>) -> Self {
        self.head_timeout = t;
        self
    }

    /// Bound on a stall: no response body byte arriving, or no request
    /// body byte leaving, for this long. A paused streamed body does not
    /// count.
    pub fn body_timeout(mut self, t: Option<Duration>) -> Self {
        self.body_timeout = t;
        self
    }

    /// Bound on a whole request, from `send` to the last body byte
    /// (redirects included).
    pub fn request_timeout(mut self, t: Option<Duration>) -> Self {
        self.request_timeout = t;
        self
    }

    /// How long an idle pooled connection is kept.
    pub fn idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.idle_timeout = t;
        self
    }

    /// Most connections to one (scheme, host, port) or Unix socket; more
    /// requests wait their turn, in order. At least 1.
    pub fn max_per_host(mut self, n: usize) -> Self {
        self.max_per_host = n.max(1);
        self
    }

    /// The value set with [`max_per_host`](Self::max_per_host).
    pub fn max_per_host_value(&self) -> usize {
        self.max_per_host
    }

    /// Most connections of the client in all. At least 1.
    pub fn max_total(mut self, n: usize) -> Self {
        self.max_total = n.max(1);
        self
    }

    /// Limits on responses: head size and field count (status line:
    /// `max_request_line`), chunk extensions, trailers, and the largest
    /// buffered body (`max_body`).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Deviations from RFC 9112 accepted in responses (default: none).
    pub fn lenient(mut self, lenient: Lenient) -> Self {
        self.lenient = lenient;
        self
    }

    /// Follow up to `max` redirects (0: off, the default).
    pub fn follow_redirects(mut self, max: u32) -> Self {
        self.follow_redirects = max;
        self
    }

    /// How long a request with `Expect: 100-continue` holds its body back
    /// waiting for `100 Continue` before sending it anyway (as curl does).
    pub fn expect_continue_timeout(mut self, t: Duration) -> Self {
        self.expect_continue_timeout = t;
        self
    }

    /// The `User-Agent` added to requests without one (`None`: none).
    pub fn user_agent(mut self, ua: Option<String>) -> Self {
        self.user_agent = ua;
        self
    }

    /// A rate limit for every connection the client makes (evloop-buffer's
    /// [`RateLimit`] on its stream): the read side bounds how fast
    /// responses come in (curl's `--limit-rate`), the write side how fast
    /// request bodies go out. A response held back by the limit waits in
    /// the kernel and then in the server, as with a slow reader; the body
    /// timeout counts that time, so a tick must bring some of the body
    /// within it. Default none; a limit that cannot work makes
    /// [`new_client`](super::ClientExt::new_client) fail.
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }
}

/// Per-request options for [`Client::send_with`](super::Client::send_with).
///
/// ```
/// use std::time::Duration;
/// use evloop_http::client::RequestOptions;
///
/// let opts = RequestOptions::new()
///     .stream_response(true)
///     .timeout(Some(Duration::from_secs(2)))
///     .follow_redirects(3);
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    pub(crate) stream_response: bool,
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) follow_redirects: Option<u32>,
    pub(crate) unix_socket: Option<PathBuf>,
    pub(crate) expect_continue: bool,
    pub(crate) connect_to: Option<(String, u16)>,
}

impl RequestOptions {
    /// The client's settings, response buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hand over the head first and the body piece by piece
    /// ([`RequestId::read_body`](super::RequestId::read_body)) instead of
    /// buffering it.
    pub fn stream_response(mut self, on: bool) -> Self {
        self.stream_response = on;
        self
    }

    /// Bound on this whole request (overrides
    /// [`ClientOptions::request_timeout`]; `None`: no bound).
    pub fn timeout(mut self, t: Option<Duration>) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Follow up to `max` redirects (overrides
    /// [`ClientOptions::follow_redirects`]; 0: do not follow).
    pub fn follow_redirects(mut self, max: u32) -> Self {
        self.follow_redirects = Some(max);
        self
    }

    /// Connect to this Unix socket instead of the URL's host (whose name
    /// still goes in `Host`; a URL without a host gets `localhost`). The
    /// connect is made at once, in the call that starts it: a local
    /// connect does not wait (unless the server's listen queue is full,
    /// where it waits for room).
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.unix_socket = Some(path.into());
        self
    }

    /// Connect to `host:port` (a name or an IP address) instead of the
    /// URL's host and port, which still name the target (`Host`, the
    /// CONNECT authority): curl's `--connect-to`, or how a CONNECT reaches
    /// a proxy. Dropped when a redirect leads to another host.
    pub fn connect_to(mut self, host: impl Into<String>, port: u16) -> Self {
        self.connect_to = Some((host.into(), port));
        self
    }

    /// Send `Expect: 100-continue` and hold the body until the server
    /// answers `100 Continue` (or a final status, or
    /// [`ClientOptions::expect_continue_timeout`] passes). A request
    /// carrying the field itself is treated the same.
    pub fn expect_continue(mut self, on: bool) -> Self {
        self.expect_continue = on;
        self
    }
}
