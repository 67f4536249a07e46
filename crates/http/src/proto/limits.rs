//! [`Limits`]: how much of a request a server accepts, on by default.

/// Size limits applied while a request is read.
///
/// The defaults follow what hyper and nginx ship with. Each limit names the
/// status a request over it gets. Change a field after
/// [`Limits::default`], or chain the `with_` methods:
///
/// ```
/// use evloop_http::proto::Limits;
///
/// let mut limits = Limits::default();
/// limits.max_body = 64 << 20;
/// assert_eq!(limits.max_request_line, 8 * 1024);
///
/// let strict = Limits::new().with_max_head(16 * 1024).with_max_headers(50);
/// assert_eq!((strict.max_head, strict.max_headers), (16 * 1024, 50));
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

    /// These limits with [`max_request_line`](Limits::max_request_line) set to `n`.
    pub const fn with_max_request_line(mut self, n: usize) -> Self {
        self.max_request_line = n;
        self
    }

    /// These limits with [`max_head`](Limits::max_head) set to `n`.
    pub const fn with_max_head(mut self, n: usize) -> Self {
        self.max_head = n;
        self
    }

    /// These limits with [`max_headers`](Limits::max_headers) set to `n`.
    pub const fn with_max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }

    /// These limits with [`max_body`](Limits::max_body) set to `n`.
    pub const fn with_max_body(mut self, n: u64) -> Self {
        self.max_body = n;
        self
    }

    /// These limits with [`max_chunk_ext`](Limits::max_chunk_ext) set to `n`.
    pub const fn with_max_chunk_ext(mut self, n: usize) -> Self {
        self.max_chunk_ext = n;
        self
    }

    /// These limits with [`max_trailer`](Limits::max_trailer) set to `n`.
    pub const fn with_max_trailer(mut self, n: usize) -> Self {
        self.max_trailer = n;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new()
    }
}
