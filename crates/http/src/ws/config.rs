//! Settings of a WebSocket endpoint.

use std::time::Duration;

/// Which end of the connection we are: it decides the masking rules
/// (RFC 6455 section 5.1) and who closes the TCP connection first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We accepted the handshake: frames from the peer must be masked,
    /// ours are not, and we close the TCP connection once the close
    /// handshake is done.
    Server,
    /// We sent the handshake: our frames are masked with a fresh key each,
    /// the server's must not be, and we wait for the server to close the
    /// TCP connection.
    Client,
}

/// Limits and behaviour of a WebSocket endpoint.
///
/// ```
/// use std::time::Duration;
/// use evloop_http::ws::Config;
///
/// let config = Config {
///     max_message_size: 1 << 20,
///     close_timeout: Duration::from_secs(2),
///     ..Config::default()
/// };
/// assert!(config.auto_pong);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The largest message accepted, all fragments together (the payload
    /// of one frame counts before it arrives, from its header). A bigger
    /// one fails the connection with [`CloseCode::MESSAGE_TOO_BIG`](super::CloseCode::MESSAGE_TOO_BIG).
    /// Default 16 MiB.
    pub max_message_size: usize,
    /// Answer every ping with a pong carrying the same data, before the
    /// ping is handed to the message callback. Default `true`.
    pub auto_pong: bool,
    /// How long to wait, once we sent a close frame, for the peer's close
    /// frame (and, as a client, for the server to close the TCP
    /// connection) before closing the connection anyway. Default 5 s.
    pub close_timeout: Duration,
    /// (Client, [`connect`](super::connect)) How long the connect and the
    /// server's handshake response may take. Default 10 s.
    pub handshake_timeout: Duration,
}

impl Config {
    /// The default largest message: 16 MiB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_size: Config::DEFAULT_MAX_MESSAGE_SIZE,
            auto_pong: true,
            close_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}
