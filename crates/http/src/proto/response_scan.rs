//! [`ResponseScanner`]: finds where a response head ends, a read at a time.

use evloop_buffer::Buffer;

use super::response::bad;
use super::{HeadScanner, HttpError, Lenient, Limits, MAX_LEADING_EMPTY_LINES};

/// Finds the end of a response head in a connection's input: a
/// [`HeadScanner`] (same limits, same linear cost, same result however the
/// input is split) that knows the client's [`Lenient`] switches.
///
/// The status line is held to [`Limits::max_request_line`], the head to
/// [`Limits::max_head`] and [`Limits::max_headers`]. Up to
/// [`MAX_LEADING_EMPTY_LINES`](super::MAX_LEADING_EMPTY_LINES) empty lines
/// before the status line are skipped and counted in the length returned
/// (some servers send a stray CRLF after a body).
///
/// With [`Lenient::bare_lf`] a bare LF ends a line. With
/// [`Lenient::http09`], an input whose first bytes (after empty lines)
/// cannot start `HTTP/` gives `Ok(Some(0))`: there is no head, everything
/// is the body of an HTTP/0.9 response, which
/// [`parse_response_head`](super::parse_response_head) describes when
/// handed the empty head. While the input is a prefix of `HTTP/` (such as
/// `HT`) the answer is `Ok(None)`; if the connection closes then, those
/// bytes are the whole HTTP/0.9 body.
///
/// ```
/// use evloop_buffer::Buffer;
/// use evloop_http::proto::{Lenient, Limits, ResponseScanner};
///
/// let limits = Limits::default();
/// let mut scanner = ResponseScanner::new(&Lenient::default());
/// let mut input = Buffer::new();
/// input.add(b"HTTP/1.1 200 OK\r\nContent-Le");
/// assert_eq!(scanner.scan(&input, &limits), Ok(None));
/// input.add(b"ngth: 2\r\n\r\nhi");
/// assert_eq!(scanner.scan(&input, &limits), Ok(Some(17 + 19 + 2)));
///
/// let mut old = ResponseScanner::new(&Lenient { http09: true, ..Lenient::default() });
/// assert_eq!(old.scan(&Buffer::from(&b"<html>"[..]), &limits), Ok(Some(0)));
/// ```
#[derive(Clone, Debug)]
pub struct ResponseScanner {
    head: HeadScanner,
    http09: bool,
    /// The input starts with `HTTP/` (after empty lines): a head follows.
    has_status_line: bool,
}

impl ResponseScanner {
    /// A scanner at the start of a response.
    pub fn new(lenient: &Lenient) -> Self {
        ResponseScanner {
            head: HeadScanner::with_bare_lf(lenient.bare_lf),
            http09: lenient.http09,
            has_status_line: false,
        }
    }

    /// Forgets the current head; the next [`scan`](ResponseScanner::scan)
    /// starts at the input's first byte.
    pub fn reset(&mut self) {
        self.head.reset();
        self.has_status_line = false;
    }

    /// How many bytes of the input have been examined so far.
    pub fn scanned(&self) -> usize {
        self.head.scanned()
    }

    /// Looks at the bytes added to `input` since the last call: `Ok(None)`
    /// while the head is incomplete, `Ok(Some(n))` when the first `n` bytes
    /// are a complete head (`0` for HTTP/0.9, see above), or the error.
    /// After `Some`, the scanner is ready for the next response, which
    /// starts once the caller has removed this one from the input.
    pub fn scan(&mut self, input: &Buffer, limits: &Limits) -> Result<Option<usize>, HttpError> {
        if self.http09 && !self.has_status_line {
            match starts_with_http(input) {
                Some(false) => return Ok(Some(0)),
                Some(true) => self.has_status_line = true,
                None => return Ok(None),
            }
        }
        let found = self.head.scan(input, limits).map_err(as_response_error)?;
        if found.is_some() {
            self.has_status_line = false;
        }
        Ok(found)
    }
}

/// Whether `input`, after any CR and LF, starts with `HTTP/`; `None` while
/// too few bytes have arrived to tell. More line ends than the empty lines
/// a scanner skips count as `HTTP/`: the head scanner then refuses them.
fn starts_with_http(input: &Buffer) -> Option<bool> {
    const PREFIX: &[u8] = b"HTTP/";
    let mut matched = 0;
    let mut started = false;
    let mut line_ends = 0;
    for piece in input.chunks() {
        for &b in piece.iter() {
            if !started && (b == b'\r' || b == b'\n') {
                line_ends += 1;
                if line_ends > 2 * MAX_LEADING_EMPTY_LINES + 2 {
                    return Some(true);
                }
                continue;
            }
            started = true;
            if b != PREFIX[matched] {
                return Some(false);
            }
            matched += 1;
            if matched == PREFIX.len() {
                return Some(true);
            }
        }
    }
    None
}

/// The head scanner's error in a response's words, with the status of
/// every response error (502).
fn as_response_error(e: HttpError) -> HttpError {
    bad(match e.reason {
        "request line too long" => "status line too long",
        "request head too large" => "response head too large",
        "too many empty lines before the request" => "too many empty lines before the response",
        other => other,
    })
}
