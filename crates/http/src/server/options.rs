//! [`ServerOptions`]: limits, deadlines and header choices.

use std::time::Duration;

use evloop_buffer::RateLimit;
use http::HeaderValue;

use crate::proto::Limits;

/// How a server treats its connections. Every limit and deadline is on by
/// default; change them with the chained setters:
///
/// ```
/// use std::time::Duration;
/// use evloop_http::server::ServerOptions;
///
/// let opts = ServerOptions::new()
///     .header_timeout(Duration::from_secs(5))
///     .max_connections(1000)
///     .server_header(Some("evloop"));
/// assert_eq!(opts.limits().max_headers, 100);
/// ```
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub(crate) limits: Limits,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) linger: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_pipeline: usize,
    pub(crate) stream_low_water: usize,
    pub(crate) server_header: Option<HeaderValue>,
    pub(crate) default_content_type: Option<HeaderValue>,
    pub(crate) log_errors: bool,
    pub(crate) client_eof_aborts: bool,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) total_rate_limit: Option<RateLimit>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions::new()
    }
}

impl ServerOptions {
    /// The defaults: [`Limits::default`], a 30 s header deadline, a 30 s
    /// body idle timeout, a 60 s keep-alive idle timeout, a 60 s write
    /// stall timeout, at most 10 000
    /// connections, 32 pipelined requests in flight per connection, no
    /// `Server` header, `Content-Type: text/plain; charset=utf-8` for bodies
    /// without one, no error log.
    pub fn new() -> Self {
        ServerOptions {
            limits: Limits::default(),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            linger: Duration::from_secs(2),
            max_connections: 10_000,
            max_pipeline: 32,
            stream_low_water: 64 * 1024,
            server_header: None,
            default_content_type: Some(HeaderValue::from_static("text/plain; charset=utf-8")),
            log_errors: false,
            client_eof_aborts: false,
            rate_limit: None,
            total_rate_limit: None,
        }
    }

    /// The size limits (request line, head, header count, buffered body,
    /// chunk extensions, trailers).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the size limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long a whole request head may take to arrive, counted from its
    /// first byte (from the connection's start for its first request):
    /// a slow client (slowloris) gets `408 Request Timeout` and is closed.
    /// Zero turns the deadline off.
    pub fn header_timeout(mut self, d: Duration) -> Self {
        self.header_timeout = d;
        self
    }

    /// How long a request body may go without a byte arriving, while the
    /// server wants it: 408 (if no response was sent yet) and close. Zero
    /// turns it off.
    pub fn body_timeout(mut self, d: Duration) -> Self {
        self.body_timeout = d;
        self
    }

    /// How long a keep-alive connection may stay idle between requests
    /// before it is closed (silently, as RFC 9112 section 9.8 allows). Zero
    /// turns it off.
    pub fn keepalive_timeout(mut self, d: Duration) -> Self {
        self.keepalive_timeout = d;
        self
    }

    /// How long a connection may go without sending a byte while response
    /// bytes wait to be sent (a client that stops reading its responses):
    /// the connection is then closed, with no response (there is no way to
    /// send one). Every byte sent starts the time afresh, so a slow client
    /// that keeps reading is not cut off; a streamed response whose
    /// producer has nothing queued is waiting on the producer, not on the
    /// client, and does not count. This is the write half of evhttp's
    /// `evhttp_set_timeout` (nginx's `send_timeout`). Default 60 s; zero
    /// turns it off. Durations beyond about 136 years are taken as that.
    pub fn write_timeout(mut self, d: Duration) -> Self {
        // The stream refuses timeouts its timers cannot arm (~292 years).
        self.write_timeout = d.min(Duration::from_secs(1 << 32));
        self
    }

    /// A rate limit for every connection (evloop-buffer's [`RateLimit`] on
    /// its stream): the write side bounds how fast responses go out
    /// (nginx's `limit_rate`), the read side how fast requests and
    /// uploads come in. Each connection has buckets of its own. A
    /// response held back by the limit is not a stall: the write timeout
    /// does not count that time. Default none; a limit that cannot work
    /// makes [`new_server`](super::ServerExt::new_server) fail.
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// A rate limit on all the server's connections together: the server
    /// makes an evloop-buffer rate group with it and puts every
    /// connection in, so that, say, all downloads share 10 MB/s however
    /// many there are (each read or send of a connection takes an equal
    /// share of what is left in a tick; see evloop-buffer's
    /// `StreamExt::new_rate_group`). Works with
    /// [`rate_limit`](Self::rate_limit), which bounds each connection on
    /// its own. The group goes when the server has shut down. Default
    /// none; a limit that cannot work makes
    /// [`new_server`](super::ServerExt::new_server) fail.
    pub fn total_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.total_rate_limit = limit;
        self
    }

    /// How many connections the server holds at once; at the limit it
    /// stops accepting (new clients wait in the listen backlog) until one
    /// closes. At least 1.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How many requests of one connection may be parsed ahead and waiting
    /// for their responses (pipelining); beyond it the connection is not
    /// read until the oldest is answered. At least 1.
    pub fn max_pipeline(mut self, n: usize) -> Self {
        self.max_pipeline = n.max(1);
        self
    }

    /// A streamed response's producer (see
    /// [`Responder::on_drain`](super::Responder::on_drain)) is called when
    /// at most this many of its bytes wait to be sent. Default 64 KiB.
    pub fn stream_low_watermark(mut self, n: usize) -> Self {
        self.stream_low_water = n;
        self
    }

    /// The `Server` header sent with every response, or none (the
    /// default). A value that is not a valid header value is ignored.
    pub fn server_header(mut self, value: Option<&str>) -> Self {
        self.server_header = value.and_then(|v| HeaderValue::from_str(v).ok());
        self
    }

    /// The `Content-Type` given to a response with a body and without one
    /// of its own, or none.
    pub fn default_content_type(mut self, value: Option<HeaderValue>) -> Self {
        self.default_content_type = value;
        self
    }

    /// Whether a connection that ends in an error (a malformed request, a
    /// limit, a deadline, a socket error) prints one line to stderr. Off by
    /// default.
    pub fn log_errors(mut self, on: bool) -> Self {
        self.log_errors = on;
        self
    }

    /// What the end of the client's input (EOF) means while a request of
    /// its waits for its response (or is being sent a streamed one).
    ///
    /// `false` (the default): a half close. RFC 9112 section 9.6 lets a
    /// client shut its sending side once its request is sent, so nothing
    /// more is read and the answers still go out. A client that closed
    /// completely is found out when an answer is written (the socket
    /// reports the reset); only then does the connection close and
    /// [`Responder::on_close`](super::Responder::on_close) run.
    ///
    /// `true`: the client is taken to have left. The connection closes at
    /// once (what is queued is still flushed), the waiting requests are
    /// dropped and their `on_close` callbacks run, so that work done for
    /// them (an upstream request, a long poll) stops without waiting for
    /// an answer to fail. This is nginx's proxy behaviour
    /// (`proxy_ignore_client_abort off`, which ends such a request with
    /// status 499); clients that half-close get no answer then.
    pub fn client_eof_aborts(mut self, on: bool) -> Self {
        self.client_eof_aborts = on;
        self
    }

    /// How long a connection closed after an error response keeps reading
    /// (and dropping) what the client still sends, so that closing does
    /// not reset the connection before the client has read the response.
    /// Default 2 s.
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }
}
