//! [`Limits`]: how much of a request a server accepts, on by default.

/// Size limits applied while a request is read.
///
/// The defaults follow what hyper and nginx ship with. Each limit names the
/// status a request over it gets. Change a field after
/// [`Limits::default`]:
///
/// ```
/// let mut limits = evloop_http::proto::Limits::default();
/// limits.max_body = 64 << 20;
/// assert_eq!(limits.max_request_line, 8 * 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest request line, without its CRLF: `414 URI Too Long` above it.
    /// Default 8 KiB.
    pub max_request_line: usize,
    /// Largest head (request line, field lines and the blank line, line
    /// ends included; empty lines skipped before the request line are not
    /// counted): `431 Request Header Fields Too Large` above it. Default
    /// 64 KiB.
    pub max_head: usize,
    /// Most field lines in the head, and in a chunked body's trailer
    /// section: 431 above it. Default 100.
    pub max_headers: usize,
    /// Largest body a server buffers for a handler: `413 Content Too Large`
    /// above it. The parser itself never applies it (a streaming handler
    /// may take more); the server does. Default 8 MiB.
    pub max_body: u64,
    /// Longest chunk extension of one chunk (the bytes between the chunk
    /// size and the CRLF): 400 above it. Default 1 KiB.
    pub max_chunk_ext: usize,
    /// Largest trailer section of a chunked body (its field lines and the
    /// final blank line): 431 above it. Default 16 KiB.
    pub max_trailer: usize,
}

impl Limits {
    /// The defaults, as [`Limits::default`].
    pub const fn new() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_head: 64 * 1024,
            max_headers: 100,
            max_body: 8 * 1024 * 1024,
            max_chunk_ext: 1024,
            max_trailer: 16 * 1024,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}
