//! [`HeadScanner`]: finds where a request head ends, a read at a time, in
//! linear time.

use evloop_buffer::Buffer;
use http::StatusCode;

use super::{HttpError, Limits};

/// How many empty lines (CRLF) a scanner skips before a request line
/// (RFC 9112 section 2.2 asks a server to ignore at least one, which some
/// clients send after a request body). One more is a 400.
pub const MAX_LEADING_EMPTY_LINES: usize = 4;

/// Finds the end of a request head in a connection's input, remembering how
/// far it has looked so that each byte is examined once however the head
/// arrives (a byte per read costs the same as one read).
///
/// Call [`scan`](HeadScanner::scan) after each read with the same input
/// buffer, whose first byte is the start of the request (and which must not
/// be drained in between). It returns `Ok(Some(n))` once the head is
/// complete: the first `n` bytes of the input are the head, through its
/// blank line, **including the empty lines skipped before the request line**
/// (at most [`MAX_LEADING_EMPTY_LINES`]); [`parse_request_head`] skips those
/// again. The scanner is then ready for the next head, which starts once the
/// caller has removed this head and its body from the input.
///
/// Limits are enforced as bytes arrive, before the head is complete: a
/// request line longer than [`Limits::max_request_line`] gives 414, a head
/// larger than [`Limits::max_head`] or with more than
/// [`Limits::max_headers`] field lines gives 431. A line end must be CRLF: a
/// bare LF is a 400 here (RFC 9112 allows a recipient to accept it; this
/// server never does, as the bytes after it could be read as a different
/// message by another parser on the path). A bare CR inside a line is left
/// to [`parse_request_head`], which rejects it. The result is the same
/// however the input was split across reads.
///
/// ```
/// use evloop_buffer::Buffer;
/// use evloop_http::proto::{HeadScanner, Limits};
///
/// let limits = Limits::default();
/// let mut scanner = HeadScanner::new();
/// let mut input = Buffer::new();
/// input.add(b"\r\nGET / HTTP/1.1\r\nHost: a");
/// assert_eq!(scanner.scan(&input, &limits), Ok(None));
/// input.add(b"\r\n\r\nbody");
/// // The empty line, the request line, the field line and the blank line.
/// assert_eq!(scanner.scan(&input, &limits), Ok(Some(2 + 16 + 9 + 2)));
/// ```
///
/// [`parse_request_head`]: super::parse_request_head
#[derive(Clone, Debug, Default)]
pub struct HeadScanner {
    /// Offset of the next byte to look at.
    pos: usize,
    /// Offset of the current line's first byte.
    line_start: usize,
    /// Offset of the request line, once its first byte is known not to
    /// start an empty line.
    head_start: Option<usize>,
    /// Empty lines skipped before the request line.
    skipped: usize,
    /// Field lines seen.
    fields: usize,
    /// Whether the byte before `pos` is a CR (it may be in an earlier
    /// piece of the input).
    prev_cr: bool,
    /// A bare LF ends a line (a client's lenient mode; never a server's).
    bare_lf: bool,
}

impl HeadScanner {
    /// A scanner at the start of a head.
    pub fn new() -> Self {
        HeadScanner::default()
    }

    /// Forgets the current head; the next [`scan`](HeadScanner::scan)
    /// starts at the input's first byte.
    pub fn reset(&mut self) {
        *self = HeadScanner {
            bare_lf: self.bare_lf,
            ..HeadScanner::default()
        };
    }

    /// A scanner that takes a bare LF as a line end (and an LF alone as
    /// an empty line), for a client reading responses with
    /// [`Lenient::bare_lf`](super::Lenient::bare_lf). A bare CR is still
    /// left to the parser, which rejects it.
    pub(super) fn with_bare_lf(bare_lf: bool) -> Self {
        HeadScanner {
            bare_lf,
            ..HeadScanner::default()
        }
    }

    /// How many bytes of the input have been examined so far (for a caller
    /// that wants to know whether anything of a next request has arrived).
    pub fn scanned(&self) -> usize {
        self.pos
    }

    /// Looks at the bytes added to `input` since the last call: `Ok(None)`
    /// while the head is incomplete, `Ok(Some(n))` when the first `n` bytes
    /// are a complete head, or the error to answer with.
    pub fn scan(&mut self, input: &Buffer, limits: &Limits) -> Result<Option<usize>, HttpError> {
        if self.pos == 0 {
            // The input's first piece (without building an iterator).
            if let Some(n) = whole_head(bytes::Buf::chunk(input), limits) {
                return Ok(Some(n));
            }
        }
        // The buffer's pieces are walked in place: pieces before the scan
        // position are stepped over by length, nothing is copied.
        let mut at = 0;
        for piece in input.chunks() {
            let end = at + piece.len();
            while self.pos < end {
                if let Some(n) = self.step(&piece[self.pos - at..], limits)? {
                    return Ok(Some(n));
                }
            }
            at = end;
        }
        Ok(None)
    }

    /// Examines `bytes` (which start at `self.pos`, at least one) up to
    /// the next line end or limit; `Some(n)` when the head is complete.
    fn step(&mut self, bytes: &[u8], limits: &Limits) -> Result<Option<usize>, HttpError> {
        let Some(head_start) = self.head_start else {
            return self.step_before_request(bytes[0]);
        };
        // Any byte at `head_limit` makes the head one too large; a byte
        // other than LF at `line_limit` makes the request line one too
        // long (the byte before it, its last allowed one, is the CR).
        let head_limit = head_start.saturating_add(limits.max_head);
        if self.pos >= head_limit {
            return Err(HttpError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request head too large",
            ));
        }
        let in_request_line = self.line_start == head_start;
        let line_limit = if in_request_line {
            self.line_start
                .saturating_add(limits.max_request_line)
                .saturating_add(1)
        } else {
            usize::MAX
        };
        if self.pos > line_limit {
            // Only reached when called again after that error.
            return Err(HttpError::new(
                StatusCode::URI_TOO_LONG,
                "request line too long",
            ));
        }
        let end = head_limit.min(line_limit.saturating_add(1));
        let window = &bytes[..bytes.len().min(end - self.pos)];
        let Some(i) = find_lf(window) else {
            self.prev_cr = window.last() == Some(&b'\r');
            self.pos += window.len();
            if self.pos > line_limit {
                return Err(HttpError::new(
                    StatusCode::URI_TOO_LONG,
                    "request line too long",
                ));
            }
            return Ok(None);
        };
        let lf = self.pos + i;
        let cr = match i {
            0 => self.prev_cr,
            _ => window[i - 1] == b'\r',
        };
        if !cr && !self.bare_lf {
            return Err(HttpError::bad("bare LF line end"));
        }
        let content_end = if cr { lf - 1 } else { lf };
        if !cr && in_request_line && content_end - self.line_start > limits.max_request_line {
            // The line limit above counts on a CR before the LF.
            return Err(HttpError::new(
                StatusCode::URI_TOO_LONG,
                "request line too long",
            ));
        }
        if content_end == self.line_start {
            // The blank line: the head is complete.
            self.reset();
            return Ok(Some(lf + 1));
        }
        if !in_request_line {
            self.fields += 1;
            if self.fields > limits.max_headers {
                return Err(HttpError::new(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "too many header fields",
                ));
            }
        }
        self.line_start = lf + 1;
        self.pos = lf + 1;
        self.prev_cr = false;
        Ok(None)
    }

    /// One byte before the request line: empty lines are skipped, the
    /// first other byte starts the request line (and is examined again as
    /// its first byte).
    fn step_before_request(&mut self, b: u8) -> Result<Option<usize>, HttpError> {
        if self.pos == self.line_start {
            match b {
                b'\n' if self.bare_lf => {}
                b'\n' => return Err(HttpError::bad("bare LF line end")),
                b'\r' => {
                    self.pos += 1;
                    return Ok(None);
                }
                _ => {
                    self.head_start = Some(self.line_start);
                    return Ok(None);
                }
            }
        } else if b != b'\n' {
            // After the CR of what must be an empty line.
            return Err(HttpError::bad("bare CR"));
        }
        self.skipped += 1;
        if self.skipped > MAX_LEADING_EMPTY_LINES {
            return Err(HttpError::bad("too many empty lines before the request"));
        }
        self.pos += 1;
        self.line_start = self.pos;
        Ok(None)
    }
}

/// The common case in one pass, for a scanner at the start of a head:
/// `piece` (the input's first piece) starts with a request line and holds
/// the whole head, every line ending in CRLF and every limit kept. `None`
/// for anything else (an incomplete head, leading empty lines, any error):
/// the scanner's step-by-step walk then decides, from the same start (a
/// byte is looked at no more than twice).
fn whole_head(piece: &[u8], limits: &Limits) -> Option<usize> {
    if matches!(piece.first(), None | Some(b'\r' | b'\n')) {
        return None;
    }
    // A byte at `max_head` would make the head too large.
    let window = &piece[..piece.len().min(limits.max_head)];
    let mut line_start = 0;
    let mut fields = 0;
    loop {
        let lf = line_start + find_lf(&window[line_start..])?;
        if lf == line_start || window[lf - 1] != b'\r' {
            return None;
        }
        if line_start == 0 {
            if lf - 1 > limits.max_request_line {
                return None;
            }
        } else if lf - 1 == line_start {
            return Some(lf + 1);
        } else {
            fields += 1;
            if fields > limits.max_headers {
                return None;
            }
        }
        line_start = lf + 1;
    }
}

/// The first LF in `bytes`, eight bytes per step (a head is mostly long
/// lines; a byte-by-byte loop costs several instructions per byte).
pub(super) fn find_lf(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const LFS: u64 = ONES * b'\n' as u64;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ LFS;
        // A zero byte in `x` is an LF in `w` (the classic has-zero test:
        // exact for the lowest zero byte, which is the one wanted).
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = words.remainder();
    tail.iter().position(|&b| b == b'\n').map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(bytes: &[u8], limits: &Limits) -> Result<Option<usize>, HttpError> {
        let mut input = Buffer::new();
        input.add(bytes);
        HeadScanner::new().scan(&input, limits)
    }

    fn scan_bytewise(bytes: &[u8], limits: &Limits) -> Result<Option<usize>, HttpError> {
        let mut input = Buffer::new();
        let mut s = HeadScanner::new();
        for &b in bytes {
            input.add(&[b]);
            if let Some(n) = s.scan(&input, limits)? {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    fn both(bytes: &[u8], limits: &Limits) -> Result<Option<usize>, HttpError> {
        let a = scan_all(bytes, limits);
        assert_eq!(a, scan_bytewise(bytes, limits), "split changed the result");
        a
    }

    #[test]
    fn finds_end_of_head() {
        let l = Limits::default();
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT";
        assert_eq!(both(req, &l), Ok(Some(req.len() - 4)));
        assert_eq!(both(b"GET / HTTP/1.1\r\n\r", &l), Ok(None));
    }

    #[test]
    fn skips_a_few_empty_lines_and_counts_them() {
        let l = Limits::default();
        assert_eq!(both(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", &l), Ok(Some(22)));
        let mut many = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES + 1);
        many.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(both(&many, &l).unwrap_err().status, 400);
    }

    #[test]
    fn bare_lf_rejected() {
        let l = Limits::default();
        for req in [
            &b"GET / HTTP/1.1\nHost: x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\n",
            b"\nGET / HTTP/1.1\r\n\r\n",
            b"\r\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(both(req, &l).unwrap_err().status, 400, "{req:?}");
        }
    }

    #[test]
    fn request_line_limit_is_exact() {
        let l = Limits {
            max_request_line: 20,
            ..Limits::default()
        };
        let ok = b"GET /67890123456 H\r\n\r\n"; // 18 + CRLF
        assert!(both(ok, &l).unwrap().is_some());
        let line = b"GET /6789012345678901";
        assert_eq!(both(&line[..20], &l), Ok(None));
        assert_eq!(both(&[&line[..20], b"\r"].concat(), &l), Ok(None));
        let exact = [&line[..20], b"\r\n\r\n"].concat();
        assert!(both(&exact, &l).unwrap().is_some());
        let over = [&line[..21], b"\r\n\r\n"].concat();
        assert_eq!(both(&over, &l).unwrap_err().status, 414);
        // Known before the line ends.
        assert_eq!(both(&line[..21], &l), Ok(None));
        assert_eq!(
            both(&[&line[..21], b"x"].concat(), &l).unwrap_err().status,
            414
        );
    }

    #[test]
    fn head_size_limit_is_exact() {
        let mut l = Limits::default();
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        l.max_head = req.len();
        assert!(both(req, &l).unwrap().is_some());
        l.max_head = req.len() - 1;
        assert_eq!(both(req, &l).unwrap_err().status, 431);
        // Leading empty lines do not count.
        l.max_head = req.len();
        assert!(both(&[b"\r\n", &req[..]].concat(), &l).unwrap().is_some());
        // A long request line is 431 when the head limit comes first.
        l.max_head = 10;
        assert_eq!(
            both(b"GET /aaaaaaaaaaaaaaaaaaaa", &l).unwrap_err().status,
            431
        );
    }

    #[test]
    fn field_count_limit() {
        let l = Limits {
            max_headers: 2,
            ..Limits::default()
        };
        assert!(both(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\n\r\n", &l)
            .unwrap()
            .is_some());
        let three = b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
        assert_eq!(both(three, &l).unwrap_err().status, 431);
    }

    #[test]
    fn line_ends_across_chunks() {
        let l = Limits::default();
        let req = b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut input = Buffer::new();
        let mut s = HeadScanner::new();
        for (i, &b) in req.iter().enumerate() {
            input.add_bytes(bytes::Bytes::copy_from_slice(&[b]));
            let want = if i + 1 == req.len() {
                Some(req.len())
            } else {
                None
            };
            assert_eq!(s.scan(&input, &l), Ok(want), "at {i}");
        }
        assert_eq!(input.chunk_count(), req.len());
        let mut input = Buffer::new();
        let mut s = HeadScanner::new();
        input.add_bytes(bytes::Bytes::from_static(b"GET / HTTP/1.1\r"));
        input.add_bytes(bytes::Bytes::from_static(b"X\n"));
        assert_eq!(s.scan(&input, &l).unwrap_err().status, 400);
    }

    #[test]
    fn an_error_repeats_and_never_hangs() {
        let l = Limits::default().with_max_request_line(4);
        let mut input = Buffer::from(&b"GET /abc HTTP/1.1"[..]);
        let mut s = HeadScanner::new();
        assert_eq!(s.scan(&input, &l).unwrap_err().status, 414);
        input.add(b"\r\n\r\n");
        assert_eq!(s.scan(&input, &l).unwrap_err().status, 414);
    }

    #[test]
    fn find_lf_agrees_with_a_plain_search() {
        let mut bytes = [b'a'; 40];
        assert_eq!(find_lf(&bytes), None);
        for lf in 0..40 {
            for other in [0u8, 0x0b, 0x8a, 0xff, b'\r', 0x09] {
                bytes = [b'x'; 40];
                bytes[..lf].fill(other);
                bytes[lf] = b'\n';
                for len in 0..=40 {
                    let want = bytes[..len].iter().position(|&b| b == b'\n');
                    assert_eq!(
                        find_lf(&bytes[..len]),
                        want,
                        "lf {lf} len {len} other {other}"
                    );
                    let from = lf.min(len);
                    let want = bytes[from..len].iter().position(|&b| b == b'\n');
                    assert_eq!(find_lf(&bytes[from..len]), want);
                }
            }
        }
    }

    #[test]
    fn each_byte_is_examined_once() {
        // The scan position follows the input a byte at a time: nothing is
        // looked at again from the head's start (the memcached example's
        // quadratic cost).
        let l = Limits::default();
        let head = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X-Filler: 0123456789\r\n".repeat(50)
        );
        let mut input = Buffer::new();
        let mut s = HeadScanner::new();
        for (i, &b) in head.as_bytes().iter().enumerate() {
            input.add(&[b]);
            match s.scan(&input, &l).unwrap() {
                None => assert_eq!(s.scanned(), i + 1),
                Some(n) => assert_eq!((n, i + 1), (head.len(), head.len())),
            }
        }
    }

    #[test]
    fn the_one_pass_case_agrees_with_the_walk() {
        // Heads at and around every limit, whole in one piece: the same
        // answer as when they arrive a byte at a time (the walk).
        let l = Limits {
            max_request_line: 16,
            max_head: 40,
            max_headers: 2,
            ..Limits::default()
        };
        for head in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"GET /234 HTTP/1.1\r\n\r\n",
            b"GET /2345 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\n\r\n",
            b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n",
            b"GET / HTTP/1.1\r\na: 12345678901234\r\n\r\n",
            b"GET / HTTP/1.1\r\na: 123456789012345\r\n\r\n",
            b"GET / HTTP/1.1\r\na: 1234567890123456\r\n\r\n",
            b"GET / HTTP/1.1\na: 1\r\n\r\n",
            b"GET / HTTP/1.1\r\na: 1\n\r\n",
            b"GET / HTTP/1.1\r\na: 1\r\n\n",
            b"\r\nGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\na: 1\r\n",
        ] {
            let mut with_next = head.to_vec();
            with_next.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
            for bytes in [head, &with_next[..]] {
                let want = scan_bytewise(bytes, &l);
                assert_eq!(
                    scan_all(bytes, &l),
                    want,
                    "{:?}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }

    #[test]
    fn scanner_resets_after_a_head() {
        let l = Limits::default();
        let mut input = Buffer::new();
        let mut s = HeadScanner::new();
        input.add(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
        assert_eq!(s.scan(&input, &l), Ok(Some(19)));
        input.drain(19);
        assert_eq!(s.scan(&input, &l), Ok(Some(19)));
    }
}
