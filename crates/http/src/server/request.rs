//! [`Request`]: what a handler gets.

use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};

use super::Responder;

/// A request, as a handler gets it: the head, the body (for routes that
/// buffer it; see [`Route::stream_body`](super::Route::stream_body)) and
/// the [`Responder`] that answers it.
pub struct Request {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    /// Made on the first look when `raw_fields` is set: a handler that
    /// reads no field costs no map.
    pub(crate) headers: OnceLock<HeaderMap>,
    /// The head, when its fields were checked without a map being made
    /// (see `proto::fast_head::fields_map`).
    pub(crate) raw_fields: Option<Bytes>,
    /// Boxed: most requests have neither body nor trailers, and a request
    /// is moved several times on its way to the handler.
    pub(crate) content: Option<Box<Content>>,
    pub(crate) has_body: bool,
    pub(crate) responder: Responder,
    pub(crate) peer: Option<SocketAddr>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("version", &self.version)
            .field("headers", self.headers())
            .field("content", &self.content)
            .field("has_body", &self.has_body)
            .field("responder", &self.responder)
            .field("peer", &self.peer)
            .finish()
    }
}

/// A buffered body and its trailer fields.
#[derive(Debug, Default)]
pub(crate) struct Content {
    pub(crate) body: Bytes,
    pub(crate) trailers: HeaderMap,
}

static NO_BODY: Bytes = Bytes::new();

impl Request {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target as sent (origin form `/path?query`, or absolute
    /// form, or `host:port` for CONNECT, or `*` for `OPTIONS *`).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The path of the target (`/` when it has none).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query of the target, without its `?`.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The HTTP version (1.0 or 1.1).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> &HeaderMap {
        self.headers.get_or_init(|| self.made_fields())
    }

    /// The field map of a request whose fields were left in its head.
    fn made_fields(&self) -> HeaderMap {
        self.raw_fields
            .as_ref()
            .map_or_else(HeaderMap::new, crate::proto::fields_map)
    }

    /// The whole body, for routes that buffer it (the default); empty for a
    /// streaming route, whose body comes through
    /// [`Responder::read_body`].
    pub fn body(&self) -> &Bytes {
        self.content.as_ref().map_or(&NO_BODY, |c| &c.body)
    }

    /// Whether the request has a body (a non-zero Content-Length, or the
    /// chunked coding): for a streaming route, whether
    /// [`Responder::read_body`] has anything to read.
    pub fn has_body(&self) -> bool {
        self.has_body
    }

    /// Takes the body out, without a copy.
    pub fn take_body(&mut self) -> Bytes {
        self.content
            .as_mut()
            .map(|c| std::mem::take(&mut c.body))
            .unwrap_or_default()
    }

    /// A buffered chunked body's trailer fields (empty if none).
    pub fn trailers(&self) -> &HeaderMap {
        static NONE: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
        match &self.content {
            Some(c) => &c.trailers,
            None => NONE.get_or_init(HeaderMap::new),
        }
    }

    /// The handle that answers this request, from the handler or later
    /// (it is `Copy`).
    pub fn responder(&self) -> Responder {
        self.responder
    }

    /// The client's address, for TCP connections.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The request as an [`http::Request`] (for code written against the
    /// `http` crate's types); the responder is lost, take it first.
    pub fn into_http(mut self) -> http::Request<Bytes> {
        let mut req = http::Request::new(self.take_body());
        *req.method_mut() = std::mem::take(&mut self.method);
        *req.uri_mut() = std::mem::take(&mut self.uri);
        *req.version_mut() = self.version;
        *req.headers_mut() = match self.headers.take() {
            Some(map) => map,
            None => self.made_fields(),
        };
        req
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        // A map given away already (into_http) or never made: nothing to
        // keep.
        if let Some(map) = self.headers.take() {
            crate::proto::spare_maps::give_back(map);
        }
    }
}
