//! [`Response`]: the head, body and trailers of an answered request.

use std::borrow::Cow;

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
