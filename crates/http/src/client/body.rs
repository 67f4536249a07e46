//! [`RequestBody`] (what a request sends) and [`ResponseChunk`] (what a
//! streamed response hands over).

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;

use super::ClientError;

/// The body of a request.
///
/// `Bytes` and `File` bodies are sent with a `Content-Length` (a file
/// segment with `sendfile`) and can be sent again (a keep-alive retry, a
/// 307/308 redirect). A `Stream` body is produced after `send` with
/// [`RequestId::send_body`](super::RequestId::send_body) and
/// [`finish_body`](super::RequestId::finish_body): chunked, unless the
/// request carries a `Content-Length`.
#[derive(Debug, Clone, Default)]
pub enum RequestBody {
    /// No body (`Content-Length: 0` is sent for POST, PUT and PATCH).
    #[default]
    Empty,
    /// These bytes.
    Bytes(Bytes),
    /// `len` bytes of `file` from `offset`.
    File {
        /// The file (shared: the request may be sent again).
        file: Arc<File>,
        /// Where the body starts in it.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// Produced piece by piece after `send` (see above).
    Stream,
}

impl RequestBody {
    /// Whether the body can be sent a second time.
    pub fn is_replayable(&self) -> bool {
        !matches!(self, RequestBody::Stream)
    }
}

impl From<()> for RequestBody {
    fn from(_: ()) -> Self {
        RequestBody::Empty
    }
}

impl From<&'static str> for RequestBody {
    fn from(s: &'static str) -> Self {
        RequestBody::Bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for RequestBody {
    fn from(s: &'static [u8]) -> Self {
        RequestBody::Bytes(Bytes::from_static(s))
    }
}

impl From<String> for RequestBody {
    fn from(s: String) -> Self {
        RequestBody::Bytes(Bytes::from(s))
    }
}

impl From<Vec<u8>> for RequestBody {
    fn from(v: Vec<u8>) -> Self {
        RequestBody::Bytes(Bytes::from(v))
    }
}

impl From<Bytes> for RequestBody {
    fn from(b: Bytes) -> Self {
        RequestBody::Bytes(b)
    }
}

/// A piece of a streamed response body, for the callback given to
/// [`RequestId::read_body`](super::RequestId::read_body).
#[derive(Debug)]
pub enum ResponseChunk {
    /// The next bytes of the body.
    Data(Bytes),
    /// The body is complete; the trailer fields (usually none). The last
    /// call.
    End(HeaderMap),
    /// The body could not be read to its end (the connection closed, a
    /// framing error, a timeout). The last call.
    Error(ClientError),
}
