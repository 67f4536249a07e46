//! The HTTP/1.1 wire rules, without sockets: request heads, response
//! heads, body framing, the chunked coding.
//!
//! A server reads a request in three steps, each fed from the connection's
//! input [`Buffer`](evloop_buffer::Buffer) as bytes arrive:
//!
//! 1. [`HeadScanner::scan`] finds the end of the head (linear however the
//!    bytes arrive; request-line and head limits enforced on the way);
//! 2. [`parse_request_head`] turns the head into a [`RequestHead`];
//! 3. for [`BodyKind::Length`] the server takes that many bytes, for
//!    [`BodyKind::Chunked`] a [`ChunkedDecoder`] moves the body's bytes out.
//!
//! Every [`HttpError`] means: answer with its status, then close. No byte
//! after the error may be read as another request.
//!
//! ```
//! use evloop_buffer::Buffer;
//! use evloop_http::proto::{
//!     parse_request_head, BodyKind, ChunkStep, ChunkedDecoder, HeadScanner, Limits,
//! };
//!
//! let limits = Limits::default();
//! let mut scanner = HeadScanner::new();
//! let mut input = Buffer::new();
//! // Two reads' worth of a pipelined pair: a chunked POST, then a GET.
//! input.add(b"POST /up HTTP/1.1\r\nHost: ex.org\r\nTransfer-Encoding: chu");
//! assert_eq!(scanner.scan(&input, &limits)?, None);
//! input.add(b"nked\r\n\r\n4\r\nWiki\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: ex.org\r\n\r\n");
//!
//! let n = scanner.scan(&input, &limits)?.expect("a complete head");
//! let head = parse_request_head(input.pullup(n), &limits)?;
//! input.drain(n);
//! assert_eq!(head.body, BodyKind::Chunked);
//!
//! let mut decoder = ChunkedDecoder::new(&limits);
//! let mut body = Buffer::new();
//! loop {
//!     match decoder.decode(&mut input, &mut body, 64 * 1024)? {
//!         ChunkStep::Data(_) => {}                  // hand `body` on, call again
//!         ChunkStep::NeedMore => unreachable!(),    // (a server would read more)
//!         ChunkStep::Done { trailers } => break assert!(trailers.is_empty()),
//!     }
//! }
//! assert_eq!(body.split_to(usize::MAX), "Wiki");
//!
//! // The input now starts with the next request.
//! let n = scanner.scan(&input, &limits)?.expect("the GET");
//! assert_eq!(parse_request_head(input.pullup(n), &limits)?.method, http::Method::GET);
//! # Ok::<(), evloop_http::proto::HttpError>(())
//! ```
//!
//! Names are those the server was planned against; additions:
//! [`Limits::new`] and its `with_` builders, [`RequestHead::has_body`],
//! [`HeadScanner::reset`]/[`HeadScanner::scanned`],
//! [`MAX_LEADING_EMPTY_LINES`] (the skipped empty lines are part of the
//! length `scan` returns, see [`HeadScanner`]), [`ChunkedDecoder::new`]
//! taking the [`Limits`], [`ChunkedDecoder::decoded`] and
//! [`ChunkedDecoder::is_done`].
//!
//! # Rules and choices
//!
//! The server side is never lenient. Where RFC 9112/9110 leave a choice,
//! the stricter one is taken:
//!
//! | Input | Answer |
//! |---|---|
//! | bare CR anywhere in the head or a chunk line | 400 |
//! | bare LF as a line end (RFC: MAY accept) | 400 |
//! | more than [`MAX_LEADING_EMPTY_LINES`] empty lines before the request line | 400 (fewer are skipped) |
//! | request line over [`Limits::max_request_line`] | 414 |
//! | head over [`Limits::max_head`], more than [`Limits::max_headers`] fields | 431 |
//! | `HTTP/1.0`, `HTTP/1.1` | as such |
//! | `HTTP/1.2`..`HTTP/1.9` | treated as 1.1 (RFC 9110 2.5) |
//! | `HTTP/0.9`, `HTTP/2.0`, `HTTP/2`, `HTTP/3`, any other major | 505 |
//! | malformed version (`http/1.1`, `HTTP/1.10`), no version | 400 |
//! | several spaces or tabs in the request line, invalid method token | 400 |
//! | `*` other than with OPTIONS, authority-form other than with CONNECT, CONNECT without `host:port` | 400 |
//! | fragment, userinfo, empty host, scheme other than http/https in the target | 400 |
//! | characters in the target | as [`http::Uri`] takes them: RFC 3986's, plus those browsers leave unencoded in queries (`{`, `}`, `^`, `"`, backslash, vertical bar); controls, space, `<`, `>`, backquote, non-ASCII: 400 |
//! | whitespace between field name and colon, obs-fold, space before the first field | 400 |
//! | control characters (NUL, bare CR, ...) in a field value | 400 |
//! | HTTP/1.1 without Host, any request with two Host fields, invalid Host value | 400 (an empty Host is valid) |
//! | absolute-form target | its authority replaces the Host field |
//! | Transfer-Encoding and Content-Length both | 400 (RFC: MAY reject) |
//! | Transfer-Encoding in an HTTP/1.0 request | 400 |
//! | final transfer coding not `chunked`, `chunked` twice, parameters on `chunked`, empty TE | 400 |
//! | other codings before `chunked` (`gzip, chunked`) | 501 (not decoded here) |
//! | Content-Length list or repeated, even with equal values (RFC: MAY accept) | 400 |
//! | Content-Length not `1*DIGIT` (sign, space, hex) or over u64 | 400 |
//! | Content-Length over [`Limits::max_body`] | not an error here: the server decides (413 or streaming) |
//! | a body on TRACE or CONNECT | 400 (other methods: the body is read and framed as usual) |
//! | `Expect: 100-continue` (any case) | [`RequestHead::expect_continue`] (ignored for 1.0 and bodiless requests) |
//! | any other expectation | 417 |
//! | chunk size not hex, over 64 bits, more than 32 digits (leading zeros) | 400 |
//! | chunk extension not per the grammar, or over [`Limits::max_chunk_ext`] | 400 |
//! | missing CRLF after chunk data | 400 |
//! | trailer section over [`Limits::max_trailer`] or more fields than [`Limits::max_headers`] | 431 |
//! | trailer fields that may not be trailers (RFC 9110 6.5.1: framing, routing, controls, authentication, content metadata) | dropped, never merged into the head |
//!
//! # Responses
//!
//! A client reads a response the same way: [`ResponseScanner::scan`] finds
//! the end of the head, [`parse_response_head`] (given the request's
//! method) turns it into a [`ResponseHead`] whose [`ResponseBodyKind`]
//! says how the body ends, and a [`ChunkedDecoder`] decodes a chunked one.
//! Every error is a [`HttpError`] with status 502: the connection cannot
//! carry anything more. Strict by default; the [`Lenient`] switches relax
//! the rules marked so below.
//!
//! ```
//! use evloop_buffer::Buffer;
//! use evloop_http::proto::{
//!     parse_response_head, Lenient, Limits, ResponseBodyKind, ResponseScanner,
//! };
//!
//! let (limits, lenient) = (Limits::default(), Lenient::default());
//! let mut scanner = ResponseScanner::new(&lenient);
//! let mut input = Buffer::new();
//! input.add(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n");
//! input.add(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
//! // An interim response first: the final one follows.
//! let n = scanner.scan(&input, &limits)?.expect("a complete head");
//! let early = parse_response_head(input.pullup(n), &http::Method::GET, &limits, &lenient)?;
//! input.drain(n);
//! assert!(early.is_informational());
//! let n = scanner.scan(&input, &limits)?.expect("the final head");
//! let head = parse_response_head(input.pullup(n), &http::Method::GET, &limits, &lenient)?;
//! input.drain(n);
//! assert_eq!(head.body, ResponseBodyKind::Length(2));
//! assert_eq!(input.split_to(usize::MAX), "hi");
//! # Ok::<(), evloop_http::proto::HttpError>(())
//! ```
//!
//! | Response input | Answer |
//! |---|---|
//! | status line other than `HTTP-version SP 3DIGIT SP reason` | error (the SP before an empty reason may be missing: nothing can be misread, and clients take it) |
//! | status code outside 100..=599 (RFC 9110 section 15) | error |
//! | `HTTP/1.2`..`HTTP/1.9` | treated as 1.1 |
//! | any other version, malformed version | error |
//! | reason phrase | kept (non-ASCII bytes as U+FFFD); control characters other than HTAB: error |
//! | status line over [`Limits::max_request_line`], head over [`Limits::max_head`] or [`Limits::max_headers`] | error |
//! | up to [`MAX_LEADING_EMPTY_LINES`] empty lines before the status line | skipped |
//! | bare CR | error, lenient or not |
//! | bare LF as a line end | error; accepted with [`Lenient::bare_lf`] |
//! | obs-fold | error; with [`Lenient::obs_fold`] each fold's CR and LF become SP |
//! | whitespace between field name and colon | error; dropped with [`Lenient::space_before_colon`] |
//! | no status line (first bytes not `HTTP/`) | error; with [`Lenient::http09`] an HTTP/0.9 response: status 200, all bytes are body up to the close |
//! | field lines otherwise | as a request's (token names, no controls in values) |
//! | `101`; `2xx` to CONNECT | [`ResponseBodyKind::Tunnel`]: the bytes after the head belong to the new protocol |
//! | response to HEAD; `1xx`; `204`; `304` | [`ResponseBodyKind::None`], whatever Content-Length or Transfer-Encoding say |
//! | Transfer-Encoding and Content-Length both | error, lenient or not (response splitting) |
//! | Transfer-Encoding in an HTTP/1.0 response | error (RFC 9112 section 6.1: faulty framing) |
//! | Transfer-Encoding `chunked` (once, last, no parameters) | [`ResponseBodyKind::Chunked`] |
//! | any other transfer coding (`gzip, chunked`, final `gzip`), `chunked` twice or with parameters, empty TE | error: the client decodes only chunked, and would otherwise hand over encoded bytes as the content |
//! | one Content-Length of `1*DIGIT` within u64 | [`ResponseBodyKind::Length`] |
//! | Content-Length list or repeated | error; equal values accepted with [`Lenient::content_length_list`] (different values never) |
//! | Content-Length malformed or over u64 | error |
//! | neither | [`ResponseBodyKind::CloseDelimited`] |
//! | keep-alive | 1.1 unless `Connection: close`; 1.0 only with `Connection: keep-alive`; never after a close-delimited body or a tunnel |

mod chunk_line;
mod chunk_out;
mod chunked;
mod decimal;
mod error;
mod fast_head;
mod field_line;
mod framing;
mod head;
mod limits;
mod names;
#[cfg(test)]
mod prop_pick;
mod response;
mod response_cache;
mod response_framing;
mod response_lines;
mod response_scan;
mod scan;
pub(crate) mod spare_maps;
mod target;
mod token;
mod trailer;
mod version;

pub(crate) use chunk_out::{add_last_chunk, add_piece};
pub use chunked::{ChunkStep, ChunkedDecoder};
pub(crate) use decimal::decimal;
pub use error::HttpError;
pub(crate) use fast_head::{fields_map, scan_fast, FastHead};
pub use framing::BodyKind;
pub use head::{parse_request_head, RequestHead};
pub(crate) use head::{parse_request_head_shared, Head, HeadCache};
pub use limits::Limits;
// For the client, which splits heads off its input as Bytes (no copy).
pub(crate) use response::parse_response_head_shared;
pub use response::{parse_response_head, Lenient, ResponseBodyKind, ResponseHead};
pub(crate) use response_cache::FieldCache;
pub use response_scan::ResponseScanner;
pub use scan::{HeadScanner, MAX_LEADING_EMPTY_LINES};

#[cfg(test)]
mod head_tests;
#[cfg(test)]
mod response_tests;
