//! [`Response`]: the head, body and trailers of an answered request.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use evloop_buffer::StreamId;
use http::{HeaderMap, StatusCode, Uri, Version};

use super::RequestId;
use crate::proto::ResponseHead;

/// A response. With a buffered request the body is here whole; with
/// [`RequestOptions::stream_response`](super::RequestOptions::stream_response)
/// the body is empty and read with
/// [`RequestId::read_body`](super::RequestId::read_body) (the request's id
/// is [`request_id`](Self::request_id)).
#[derive(Debug)]
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) reason: Cow<'static, str>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) trailers: HeaderMap,
    pub(crate) informational: Vec<ResponseHead>,
    pub(crate) url: Uri,
    pub(crate) redirects: usize,
    pub(crate) upgrade: Option<StreamId>,
    pub(crate) id: RequestId,
    pub(crate) streaming: bool,
    pub(crate) connection: ConnectionInfo,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The version the server answered with.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The reason phrase as sent (may be empty).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The header fields (names lowercase).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body (empty for a streamed response, HEAD, 204, 304).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Takes the body out, leaving it empty.
    pub fn take_body(&mut self) -> Bytes {
        std::mem::take(&mut self.body)
    }

    /// The trailer fields of a chunked body (buffered responses; a
    /// streamed one gets them in [`ResponseChunk::End`](super::ResponseChunk::End)).
    pub fn trailers(&self) -> &HeaderMap {
        &self.trailers
    }

    /// The request this answers (for `read_body`, `pause_body`, ...).
    pub fn request_id(&self) -> RequestId {
        self.id
    }

    /// Whether the body is still to be read with
    /// [`RequestId::read_body`](super::RequestId::read_body) (a streamed
    /// response; even an empty body ends there with `End`).
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// The interim (1xx) responses that came before this one, in order
    /// (`103 Early Hints`, `100 Continue`, ...).
    pub fn informational(&self) -> &[ResponseHead] {
        &self.informational
    }

    /// The URL this response came from (the last one, after redirects).
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// How many redirects were followed.
    pub fn redirects(&self) -> usize {
        self.redirects
    }

    /// The connection this response came on (after redirects, the last
    /// request's): its addresses, whether it was reused, how long it took
    /// to make. The same for a buffered, a streamed and an upgraded
    /// response; libevent's `evhttp_connection_get_peer`, reqwest's
    /// `remote_addr`.
    pub fn connection(&self) -> &ConnectionInfo {
        &self.connection
    }

    /// After `101 Switching Protocols` (to a request with `Upgrade`) or a
    /// 2xx to CONNECT: the connection's stream, now the caller's (set its
    /// callbacks; bytes the server sent behind the head are in its
    /// input). `None` otherwise, or once taken. A stream never taken stays
    /// open until the peer closes it.
    pub fn take_upgrade(&mut self) -> Option<StreamId> {
        self.upgrade.take()
    }

    /// The response as an `http::Response` (the body moved, trailers and
    /// interim responses dropped).
    pub fn into_http(mut self) -> http::Response<Bytes> {
        let mut r = http::Response::new(std::mem::take(&mut self.body));
        *r.status_mut() = self.status;
        *r.version_mut() = self.version;
        *r.headers_mut() = std::mem::take(&mut self.headers);
        r
    }
}

/// The connection a [`Response`] came on ([`Response::connection`]).
///
/// Noted once when the connection is made and copied to each request
/// put on it: asking costs nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) reused: bool,
    pub(crate) connect_time: Option<Duration>,
}

impl ConnectionInfo {
    /// The server's address: the one connected to (with a host name, the
    /// address happy eyeballs picked; with
    /// [`RequestOptions::connect_to`](super::RequestOptions::connect_to),
    /// that one's). `None` for a Unix socket: its path is the one given to
    /// [`RequestOptions::unix_socket`](super::RequestOptions::unix_socket).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The client's end of a TCP connection (the port the system chose);
    /// `None` for a Unix socket, or if the system would not say.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// Whether the connection was taken from the pool rather than made
    /// for this request: it served an earlier request, or was made for
    /// one that another connection served first. A request retried
    /// after the keep-alive race goes on a new connection, so its
    /// response says `false`.
    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// How long making the connection took, for a connection made for
    /// this request (`None` when [reused](Self::is_reused)): from the
    /// moment the client started on it (before resolving a host name, so
    /// the DNS lookup and every address happy eyeballs tried count) to
    /// the moment the socket was connected. The wait for a free place
    /// under the pool's caps before that does not count, nor the request
    /// sent after. As curl's `time_connect`, which counts from the
    /// start of the transfer, when the transfer starts connecting at once.
    pub fn connect_time(&self) -> Option<Duration> {
        self.connect_time
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        // The emptied map holds the next response's fields. A map given
        // away already (into_http) left one without a table: nothing to
        // keep, and no new empty map to make and drop.
        if self.headers.capacity() > 0 {
            crate::proto::spare_maps::give_back(std::mem::take(&mut self.headers));
        }
    }
}
