//! Searching across chunk boundaries, and lines.

use std::ops::Range;

use bytes::Bytes;
use memchr::memmem;

use super::Buffer;

/// How [`Buffer::find_eol`] and [`Buffer::read_line`] recognise the end of
/// a line.
///
/// There is deliberately no "any run of CR and LF" style (libevent's
/// `EVBUFFER_EOL_ANY`): whether `"\r"` followed later by `"\n"` is one line
/// end or two depends on how the bytes were split across reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Eol {
    /// Exactly `"\r\n"`; a lone `"\n"` is line content
    /// (`EVBUFFER_EOL_CRLF_STRICT`).
    CrlfStrict,
    /// `"\n"`, optionally preceded by `"\r"`, which then belongs to the line
    /// end (libevent's `EVBUFFER_EOL_CRLF`). A `"\r"` not followed by `"\n"`
    /// is line content.
    CrlfOrLf,
    /// `"\n"` only; a preceding `"\r"` stays in the line.
    Lf,
    /// A NUL byte.
    Nul,
}

impl Buffer {
    /// Offset of the first occurrence of `needle`, including occurrences
    /// that span chunk boundaries. An empty needle matches at 0.
    ///
    /// Reads file segments it reaches, see
    /// [File segments](Buffer#file-segments).
    pub fn find(&self, needle: &[u8]) -> Option<usize> {
        self.find_in(needle, 0..self.len)
    }

    /// Offset of the first occurrence of `needle` that lies entirely inside
    /// `range` (`evbuffer_search_range`).
    ///
    /// `range.end` is clamped to [`len`](Buffer::len); an empty needle
    /// matches at `range.start` if that is within the buffer. Only file
    /// segments that overlap the range are read.
    ///
    /// ```
    /// let mut buf = evloop_buffer::Buffer::new();
    /// buf.add(b"abcab");
    /// buf.add_bytes(bytes::Bytes::from_static(b"cab"));
    /// assert_eq!(buf.find(b"cab"), Some(2));
    /// assert_eq!(buf.find_in(b"cab", 3..8), Some(5)); // across the chunk boundary
    /// assert_eq!(buf.find_in(b"cab", 3..7), None);    // would end past the range
    /// ```
    pub fn find_in(&self, needle: &[u8], range: Range<usize>) -> Option<usize> {
        let (start, end) = (range.start, range.end.min(self.len));
        if start > end || end - start < needle.len() {
            return None;
        }
        match needle {
            [] => Some(start),
            &[b] => self.find_byte(b, start, end),
            _ => self.find_seq(&memmem::Finder::new(needle), start, end),
        }
    }

    /// Offset of the first `b` in `[start, end)`.
    fn find_byte(&self, b: u8, start: usize, end: usize) -> Option<usize> {
        self.slices(start, end)
            .find_map(|(at, s)| memchr::memchr(b, s).map(|i| at + i))
    }

    /// The first match of a needle of two or more bytes in `[start, end)`.
    fn find_seq(&self, finder: &memmem::Finder<'_>, start: usize, end: usize) -> Option<usize> {
        let needle = finder.needle();
        let m = needle.len();
        // The last m-1 bytes before the current piece (fewer near the
        // start), where a match still running into this piece may begin,
        // and the offset of its first byte.
        let mut carry: Vec<u8> = Vec::with_capacity(2 * m);
        let mut carry_at = start;
        for (at, s) in self.slices(start, end) {
            if !carry.is_empty() {
                // Matches that begin in the carry are the earliest left. One
                // that also runs past this piece is found at the next one:
                // the piece is then shorter than m, so nothing inside it can
                // match first.
                let keep = carry.len();
                carry.extend_from_slice(&s[..s.len().min(m - 1)]);
                let hit = if m <= 16 {
                    // Under 32 bytes: a plain scan beats the searcher's
                    // per-call setup, which adds up over many chunks.
                    carry.windows(m).take(keep).position(|w| w == needle)
                } else {
                    finder.find(&carry).filter(|&i| i < keep)
                };
                if let Some(i) = hit {
                    return Some(carry_at + i);
                }
                carry.truncate(keep);
            }
            if let Some(i) = finder.find(s) {
                return Some(at + i);
            }
            if s.len() >= m - 1 {
                carry.clear();
                carry.extend_from_slice(&s[s.len() - (m - 1)..]);
                carry_at = at + s.len() - (m - 1);
            } else {
                carry.extend_from_slice(s);
                let excess = carry.len().saturating_sub(m - 1);
                carry.drain(..excess);
                carry_at = at + s.len() - carry.len();
            }
        }
        None
    }

    /// The first LF at or after `start` that is preceded by a CR at or
    /// after `start`, as `(position of the CR, 2)`; unless `strict`, an LF
    /// without a CR before it ends the search as `(its position, 1)`.
    ///
    /// One memchr pass for LF: cheaper than searching for the pair, and the
    /// CR before an LF at the start of a piece is remembered from the piece
    /// before.
    fn find_crlf(&self, start: usize, strict: bool) -> Option<(usize, usize)> {
        let mut prev = None;
        for (at, s) in self.slices(start, self.len) {
            let mut from = 0;
            while let Some(i) = memchr::memchr(b'\n', &s[from..]) {
                let p = from + i;
                let cr = match p {
                    0 => prev == Some(b'\r'),
                    _ => s[p - 1] == b'\r',
                };
                if cr {
                    return Some((at + p - 1, 2));
                }
                if !strict {
                    return Some((at + p, 1));
                }
                from = p + 1;
            }
            prev = s.last().copied();
        }
        None
    }

    /// The first line end at or after `start`: its offset and its length
    /// (1 or 2), e.g. `(3, 2)` for `"abc\r\n"` with [`Eol::CrlfStrict`].
    ///
    /// With [`Eol::CrlfOrLf`] a `"\r"` before the `"\n"` counts only if it
    /// is at or after `start`. Reads file segments it reaches, see
    /// [File segments](Buffer#file-segments).
    pub fn find_eol(&self, style: Eol, start: usize) -> Option<(usize, usize)> {
        let end = self.len;
        if start >= end {
            return None;
        }
        match style {
            Eol::Lf => self.find_byte(b'\n', start, end).map(|p| (p, 1)),
            Eol::Nul => self.find_byte(0, start, end).map(|p| (p, 1)),
            Eol::CrlfStrict => self.find_crlf(start, true),
            Eol::CrlfOrLf => self.find_crlf(start, false),
        }
    }

    /// Removes the first complete line and returns it without its line end,
    /// which is drained too (`evbuffer_readln`). `None`, and nothing
    /// removed, while no line end is buffered yet; in particular a `"\r"`
    /// at the very end is not a line end before the `"\n"` arrives.
    ///
    /// The line is a slice of the chunk it lies in when it does not span
    /// chunks, so reading lines out of a large read copies nothing.
    ///
    /// At the end of the input, a last line without a line end is not a
    /// line to this call: [`read_line_or_rest`](Self::read_line_or_rest)
    /// (and [`BufferedStream::read_line`](crate::BufferedStream::read_line),
    /// which knows when the peer sent EOF) returns it too.
    ///
    /// **Unbounded lines**: while no line end arrives, the data stays
    /// buffered, so input that never has one grows for as long as it is
    /// read. Bound what is read (a stream's read high watermark, see
    /// [`BufferedStream::read_line`](crate::BufferedStream::read_line)) and
    /// check the length when this returns `None`:
    ///
    /// ```
    /// use evloop_buffer::{Buffer, Eol};
    ///
    /// const MAX_LINE: usize = 8;
    /// let mut buf = Buffer::new();
    /// buf.add(b"ok\nno line end in sight");
    /// assert_eq!(buf.read_line(Eol::Lf).unwrap(), "ok");
    /// assert_eq!(buf.read_line(Eol::Lf), None);
    /// let too_long = buf.len() >= MAX_LINE; // the guard: refuse, don't wait
    /// assert!(too_long);
    /// ```
    pub fn read_line(&mut self, style: Eol) -> Option<Bytes> {
        let (pos, eol_len) = self.find_eol(style, 0)?;
        let line = self.split_to(pos);
        self.drain(eol_len);
        Some(line)
    }

    /// [`read_line`](Self::read_line), and at the end of the input
    /// (`eof`: no more bytes will be added) everything left as the last
    /// line, as [`BufRead::lines`](std::io::BufRead::lines) returns a
    /// last line that has no line end. A partial line end stays in it
    /// (`"abc\r"` at EOF is the line `"abc\r"`, since its `"\n"` never
    /// came). `None` once the buffer is empty, or while it holds no
    /// complete line and `eof` is false.
    ///
    /// ```
    /// use evloop_buffer::{Buffer, Eol};
    ///
    /// let mut buf = Buffer::new();
    /// buf.add(b"one\ntwo");
    /// assert_eq!(buf.read_line_or_rest(Eol::Lf, false).unwrap(), "one");
    /// assert_eq!(buf.read_line_or_rest(Eol::Lf, false), None); // "two" may go on
    /// assert_eq!(buf.read_line_or_rest(Eol::Lf, true).unwrap(), "two"); // it won't
    /// assert_eq!(buf.read_line_or_rest(Eol::Lf, true), None);
    /// ```
    pub fn read_line_or_rest(&mut self, style: Eol, eof: bool) -> Option<Bytes> {
        match self.read_line(style) {
            Some(line) => Some(line),
            None if eof && !self.is_empty() => Some(self.split_to(self.len())),
            None => None,
        }
    }
}
