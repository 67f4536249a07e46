//! [`ClientError`]: why a request got no (complete) response.

use std::fmt;
use std::io;

/// Which deadline ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    /// The connection was not made in time
    /// ([`ClientOptions::connect_timeout`](super::ClientOptions::connect_timeout)).
    Connect,
    /// The response head did not come in time after the request was sent
    /// ([`ClientOptions::head_timeout`](super::ClientOptions::head_timeout)).
    Head,
    /// Nothing of the body came (or nothing of the request body could be
    /// sent) for too long
    /// ([`ClientOptions::body_timeout`](super::ClientOptions::body_timeout)).
    Body,
    /// The whole request took too long
    /// ([`ClientOptions::request_timeout`](super::ClientOptions::request_timeout),
    /// [`RequestOptions::timeout`](super::RequestOptions::timeout)).
    Request,
}

/// Why a request failed. Every request ends with a response or exactly one
/// of these (unless it was [cancelled](super::RequestId::cancel)).
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The request cannot be sent as given (no host, a body that does not
    /// fit its `Content-Length`, ...).
    InvalidRequest(&'static str),
    /// Only `http` is spoken (no TLS here): the scheme given.
    UnsupportedScheme(String),
    /// The host name gave no address.
    Resolve(String),
    /// The connection could not be made.
    Connect(io::Error),
    /// The connection broke while the request was sent or the response
    /// read.
    Io(io::Error),
    /// The server closed the connection before the response was complete
    /// (a short body is this error, never a short response).
    Closed,
    /// A deadline ran out.
    Timeout(TimeoutKind),
    /// The server broke HTTP/1.1 (a malformed head, conflicting lengths, a
    /// bad chunk, a head over the limits, an unrequested `101`, ...).
    Protocol(String),
    /// The body is larger than
    /// [`Limits::max_body`](crate::proto::Limits::max_body) (buffered
    /// responses only; stream larger ones).
    BodyTooLarge,
    /// More redirects than allowed.
    TooManyRedirects,
    /// The client was shut down.
    Shutdown,
    /// The [`RequestId`](super::RequestId) (or [`ClientId`](super::ClientId))
    /// names nothing any more: the request ended or was cancelled.
    Stale,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            ClientError::UnsupportedScheme(s) => write!(f, "unsupported URL scheme {s:?}"),
            ClientError::Resolve(why) => write!(f, "cannot resolve host: {why}"),
            ClientError::Connect(e) => write!(f, "connect failed: {e}"),
            ClientError::Io(e) => write!(f, "connection error: {e}"),
            ClientError::Closed => {
                f.write_str("connection closed before the response was complete")
            }
            ClientError::Timeout(k) => {
                let what = match k {
                    TimeoutKind::Connect => "connect",
                    TimeoutKind::Head => "response head",
                    TimeoutKind::Body => "body",
                    TimeoutKind::Request => "request",
                };
                write!(f, "{what} timed out")
            }
            ClientError::Protocol(why) => write!(f, "protocol error: {why}"),
            ClientError::BodyTooLarge => f.write_str("response body too large"),
            ClientError::TooManyRedirects => f.write_str("too many redirects"),
            ClientError::Shutdown => f.write_str("client shut down"),
            ClientError::Stale => f.write_str("no such request (it ended or was cancelled)"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Connect(e) | ClientError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::proto::HttpError> for ClientError {
    fn from(e: crate::proto::HttpError) -> Self {
        ClientError::Protocol(e.reason.to_string())
    }
}
