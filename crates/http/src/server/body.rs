//! [`Body`] (a response's body) and [`BodyChunk`] (a piece of a streamed
//! request body).

use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;

/// The body of a response given to [`Responder::respond`](super::Responder::respond)
/// or returned by a handler. Its length is known, so it is sent with
/// `Content-Length`; a body produced piece by piece is streamed with
/// [`Responder::stream`](super::Responder::stream) instead.
///
/// ```
/// use evloop_http::server::Body;
///
/// let b = Body::from("Hello");
/// assert_eq!(b.len(), 5);
/// assert!(Body::empty().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub enum Body {
    /// No body (`Content-Length: 0`).
    #[default]
    Empty,
    /// Bytes in memory, sent without a copy.
    Bytes(Bytes),
    /// A range of a file, sent with `sendfile`. The range must exist when
    /// it is sent: a file that shrinks meanwhile fails the connection.
    File {
        /// The open file.
        file: Arc<File>,
        /// Where the range starts.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body::Empty
    }

    /// A whole file, from its current length.
    ///
    /// # Errors
    ///
    /// If the file's metadata cannot be read.
    pub fn file(file: File) -> std::io::Result<Body> {
        let len = file.metadata()?.len();
        Ok(Body::File {
            file: Arc::new(file),
            offset: 0,
            len,
        })
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::Bytes(b)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::Bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::Bytes(Bytes::from_static(s))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Bytes(Bytes::from(s))
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::Bytes(Bytes::from(v))
    }
}

impl From<()> for Body {
    fn from((): ()) -> Body {
        Body::Empty
    }
}

/// A piece of a request body delivered to the callback given to
/// [`Responder::read_body`](super::Responder::read_body).
#[derive(Debug)]
pub enum BodyChunk {
    /// The next bytes of the body (the chunked coding removed).
    Data(Bytes),
    /// The body is complete; a chunked body's trailer fields, if any
    /// (empty otherwise).
    End(HeaderMap),
    /// The body will not complete: the client closed the connection, broke
    /// the framing, went past the route's body limit or the body timeout.
    /// The connection is being closed; the callback is not called again.
    Aborted,
}
