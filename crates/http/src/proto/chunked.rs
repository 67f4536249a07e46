//! [`ChunkedDecoder`]: the chunked transfer coding of a request body.

use evloop_buffer::Buffer;
use http::HeaderMap;

use super::chunk_line::ChunkLine;
use super::trailer::Trailer;
use super::{HttpError, Limits};

/// What one [`ChunkedDecoder::decode`] call achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkStep {
    /// Every byte of the input was used and the body is not finished:
    /// read more.
    NeedMore,
    /// This many body bytes were moved to the output. Call again: more may
    /// be decodable from the input already. `Data(0)` only happens when
    /// `max` was 0 and the decoder stands before chunk data.
    Data(usize),
    /// The last chunk and the trailer section have been read; the input
    /// now starts with whatever follows the body. Trailer fields that may
    /// not be trailers are left out (see the [module docs](super)).
    Done {
        /// The trailer fields (usually none).
        trailers: HeaderMap,
    },
}

#[derive(Clone, Debug)]
enum State {
    Line,
    Data(u64),
    DataCr,
    DataLf,
    Trailer,
    Done(Option<HeaderMap>),
}

/// Decodes a chunked body incrementally: chunk lines and trailers are read
/// a byte at a time (never re-read however they are split), chunk data is
/// moved from the input to the output buffer without copying.
///
/// ```
/// use evloop_buffer::Buffer;
/// use evloop_http::proto::{ChunkStep, ChunkedDecoder, Limits};
///
/// let mut dec = ChunkedDecoder::new(&Limits::default());
/// let (mut input, mut body) = (Buffer::new(), Buffer::new());
/// input.add(b"5;ext=1\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\nGET /next");
/// assert_eq!(dec.decode(&mut input, &mut body, 3), Ok(ChunkStep::Data(3)));
/// assert_eq!(dec.decode(&mut input, &mut body, 100), Ok(ChunkStep::Data(2)));
/// let Ok(ChunkStep::Done { trailers }) = dec.decode(&mut input, &mut body, 100) else {
///     panic!()
/// };
/// assert_eq!(trailers["x-sum"], "5");
/// assert_eq!(body.split_to(usize::MAX), "hello");
/// assert_eq!(input.split_to(usize::MAX), "GET /next");
/// ```
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: ChunkLine,
    trailer: Trailer,
    max_ext: usize,
    max_trailer: usize,
    max_trailer_fields: usize,
    decoded: u64,
    error: Option<HttpError>,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body, with the chunk-extension and
    /// trailer limits of `limits`.
    pub fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: State::Line,
            line: ChunkLine::default(),
            trailer: Trailer::default(),
            max_ext: limits.max_chunk_ext,
            max_trailer: limits.max_trailer,
            max_trailer_fields: limits.max_headers,
            decoded: 0,
            error: None,
        }
    }

    /// Body bytes moved out so far (for a server's body limit).
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// True once the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// Consumes framing from the front of `input` and moves at most `max`
    /// body bytes to the end of `out`, stopping at the body's end (the
    /// bytes after it stay in `input`).
    ///
    /// With `max` set to the room a consumer has left, a server stops
    /// reading when the consumer stops taking data: the decoder returns
    /// `Data(n)` with `n < ` the input on hand, and leaves the rest.
    ///
    /// An error is final: every later call returns it again, and the
    /// connection must be answered with its status and closed.
    /// After `Done`, later calls return `Done` with no trailers and consume
    /// nothing.
    pub fn decode(
        &mut self,
        input: &mut Buffer,
        out: &mut Buffer,
        max: usize,
    ) -> Result<ChunkStep, HttpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let r = self.run(input, out, max);
        if let Err(e) = r {
            self.error = Some(e);
        }
        r
    }

    fn run(
        &mut self,
        input: &mut Buffer,
        out: &mut Buffer,
        max: usize,
    ) -> Result<ChunkStep, HttpError> {
        let mut moved = 0;
        let pause = |moved: usize| match moved {
            0 => ChunkStep::NeedMore,
            n => ChunkStep::Data(n),
        };
        loop {
            match &mut self.state {
                State::Done(trailers) => {
                    if moved > 0 {
                        return Ok(ChunkStep::Data(moved));
                    }
                    let trailers = trailers.take().unwrap_or_default();
                    return Ok(ChunkStep::Done { trailers });
                }
                State::Data(left) => {
                    let room = max - moved;
                    if room == 0 {
                        return Ok(ChunkStep::Data(moved));
                    }
                    if input.is_empty() {
                        return Ok(pause(moved));
                    }
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(room)
                        .min(input.len());
                    out.append_buffer(&mut input.split_to_buffer(n));
                    moved += n;
                    self.decoded += n as u64;
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    let Some(bytes) = input.chunks().next() else {
                        return Ok(pause(moved));
                    };
                    let used = self.framing(bytes)?;
                    input.drain(used);
                }
            }
        }
    }

    /// Reads framing bytes (chunk line, the CRLF after data, trailers) from
    /// `bytes` until the state changes; returns how many were used.
    fn framing(&mut self, bytes: &[u8]) -> Result<usize, HttpError> {
        match self.state {
            State::Line => {
                let (used, size) = self.line.feed(bytes, self.max_ext)?;
                match size {
                    Some(0) => self.state = State::Trailer,
                    Some(n) => self.state = State::Data(n),
                    None => {}
                }
                Ok(used)
            }
            State::DataCr | State::DataLf => {
                let (want, next) = match self.state {
                    State::DataCr => (b'\r', State::DataLf),
                    _ => (b'\n', State::Line),
                };
                if bytes[0] != want {
                    return Err(HttpError::bad("missing CRLF after chunk data"));
                }
                self.state = next;
                Ok(1)
            }
            State::Trailer => {
                let (used, fields) =
                    self.trailer
                        .feed(bytes, self.max_trailer, self.max_trailer_fields)?;
                if let Some(f) = fields {
                    self.state = State::Done(Some(f));
                }
                Ok(used)
            }
            State::Data(_) | State::Done(_) => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes all of `body` fed in pieces of `step` bytes, with `room` as
    /// max: the body, the trailers and what is left after it, or the error.
    fn decode(
        body: &[u8],
        step: usize,
        room: usize,
        limits: &Limits,
    ) -> Result<(Vec<u8>, HeaderMap, Vec<u8>), HttpError> {
        let mut dec = ChunkedDecoder::new(limits);
        let (mut input, mut out) = (Buffer::new(), Buffer::new());
        let mut fed = 0;
        loop {
            match dec.decode(&mut input, &mut out, room)? {
                ChunkStep::Done { trailers } => {
                    let rest = [input.split_to(usize::MAX).to_vec(), body[fed..].to_vec()];
                    return Ok((out.split_to(usize::MAX).to_vec(), trailers, rest.concat()));
                }
                ChunkStep::Data(n) => assert!(n > 0 && n <= room),
                ChunkStep::NeedMore => {
                    assert!(fed < body.len(), "needs more at the end of the input");
                    let end = (fed + step).min(body.len());
                    input.add(&body[fed..end]);
                    fed = end;
                }
            }
        }
    }

    fn all_ways(body: &[u8], limits: &Limits) -> Result<(Vec<u8>, HeaderMap, Vec<u8>), HttpError> {
        let whole = decode(body, body.len(), usize::MAX, limits);
        for (step, room) in [(1, usize::MAX), (1, 1), (3, 2), (7, 5)] {
            assert_eq!(
                decode(body, step, room, limits),
                whole,
                "step {step} room {room}"
            );
        }
        whole
    }

    #[test]
    fn decodes_with_trailers_and_leaves_the_rest() {
        let l = Limits::default();
        let (data, trailers, rest) = all_ways(
            b"3\r\nabc\r\n0a;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\nNEXT",
            &l,
        )
        .unwrap();
        assert_eq!(data, b"abc0123456789");
        assert_eq!(trailers["t"], "v");
        assert_eq!(rest, b"NEXT");
        let (data, trailers, rest) = all_ways(b"0\r\n\r\n", &l).unwrap();
        assert!(data.is_empty() && trailers.is_empty() && rest.is_empty());
    }

    #[test]
    fn data_must_end_with_crlf() {
        let l = Limits::default();
        for bad in [
            &b"3\r\nabcd\r\n0\r\n\r\n"[..],
            b"3\r\nabc\n0\r\n\r\n",
            b"3\r\nabc\rx",
        ] {
            assert_eq!(all_ways(bad, &l).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn errors_are_sticky_and_limits_apply() {
        let mut l = Limits {
            max_chunk_ext: 4,
            ..Limits::default()
        };
        assert_eq!(
            all_ways(b"1;abcde\r\nx\r\n0\r\n\r\n", &l)
                .unwrap_err()
                .status,
            400
        );
        l.max_trailer = 8;
        assert_eq!(
            all_ways(b"0\r\nLong: trailer\r\n\r\n", &l)
                .unwrap_err()
                .status,
            431
        );

        let mut dec = ChunkedDecoder::new(&l);
        let (mut input, mut out) = (Buffer::from(&b"zz\r\n"[..]), Buffer::new());
        assert!(dec.decode(&mut input, &mut out, 10).is_err());
        input.add(b"0\r\n\r\n");
        assert!(dec.decode(&mut input, &mut out, 10).is_err());
    }

    #[test]
    fn framing_bytes_are_consumed_as_they_arrive() {
        // A chunk line or trailer arriving a byte at a time is never kept
        // to be looked at again: each decode call consumes what it got.
        let mut dec = ChunkedDecoder::new(&Limits::default());
        let (mut input, mut out) = (Buffer::new(), Buffer::new());
        for &b in b"1a;name=\"a long quoted value\";x=y\r\n".iter() {
            input.add(&[b]);
            assert_eq!(
                dec.decode(&mut input, &mut out, 100),
                Ok(ChunkStep::NeedMore)
            );
            assert!(input.is_empty());
        }
        input.add(&[b'z'; 26]);
        assert_eq!(
            dec.decode(&mut input, &mut out, 100),
            Ok(ChunkStep::Data(26))
        );
        for &b in b"\r\n0\r\nX-Long-Trailer: value\r\n".iter() {
            input.add(&[b]);
            assert_eq!(
                dec.decode(&mut input, &mut out, 100),
                Ok(ChunkStep::NeedMore)
            );
            assert!(input.is_empty());
        }
        input.add(b"\r\n");
        assert!(matches!(
            dec.decode(&mut input, &mut out, 100),
            Ok(ChunkStep::Done { .. })
        ));
    }

    #[test]
    fn zero_room_moves_nothing() {
        let mut dec = ChunkedDecoder::new(&Limits::default());
        let (mut input, mut out) = (Buffer::from(&b"3\r\nabc\r\n0\r\n\r\n"[..]), Buffer::new());
        assert_eq!(dec.decode(&mut input, &mut out, 0), Ok(ChunkStep::Data(0)));
        assert_eq!(input.len(), 3 + 2 + 5);
        assert_eq!(dec.decode(&mut input, &mut out, 10), Ok(ChunkStep::Data(3)));
        assert!(matches!(
            dec.decode(&mut input, &mut out, 10),
            Ok(ChunkStep::Done { .. })
        ));
        assert!(dec.is_done());
        assert_eq!(dec.decoded(), 3);
    }
}
