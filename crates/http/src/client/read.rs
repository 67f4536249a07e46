//! Reading a response out of a connection's input: interim heads, the
//! final head, the body by its framing. Pure state changes; what needs
//! user code is returned as a [`Step`].

use bytes::Bytes;
use evloop_buffer::Buffer;
use http::{HeaderMap, StatusCode};

use super::state::{In, Req};
use super::ClientError;
use crate::proto::{
    parse_response_head_shared, ChunkStep, ChunkedDecoder, FieldCache, Lenient, Limits,
    ResponseBodyKind,
};

/// Most body bytes handed over per step.
pub(crate) const STEP: usize = 256 * 1024;

/// Most interim (1xx) responses before the final one.
const MAX_INTERIM: usize = 32;

pub(crate) enum Step {
    /// Read more.
    NeedMore,
    /// An interim head was read (`true`: it was `100 Continue`).
    Interim(bool),
    /// The final head was read.
    Head,
    /// Body bytes.
    Data(Bytes),
    /// A streamed body nobody takes now: stop reading.
    Paused,
    /// The body is complete.
    End(HeaderMap),
    /// `101` or a 2xx to CONNECT: the connection is the caller's.
    Upgrade,
    /// The connection ended before any byte of the response.
    Unanswered,
    Fail(ClientError),
}

/// `cache`: the connection's fields of its previous response.
pub(crate) fn step<T: 'static>(
    r: &mut Req<T>,
    input: &mut Buffer,
    eof: bool,
    limits: &Limits,
    lenient: &Lenient,
    cache: &mut FieldCache,
) -> Step {
    if r.framing.is_none() {
        return head_step(r, input, eof, limits, lenient, cache);
    }
    if r.stream_response && r.redirect.is_none() && (r.read_cb.is_none() || r.paused) {
        return Step::Paused;
    }
    match r.framing.as_mut() {
        Some(In::Length(rem)) => {
            if *rem == 0 {
                return Step::End(HeaderMap::new());
            }
            let n = (*rem).min(input.len() as u64) as usize;
            if n == 0 {
                return if eof {
                    Step::Fail(ClientError::Closed)
                } else {
                    Step::NeedMore
                };
            }
            *rem -= n as u64;
            Step::Data(input.split_to(n))
        }
        Some(In::Chunked(dec)) => {
            let (dec, out) = &mut **dec;
            match dec.decode(input, out, STEP) {
                Err(e) => Step::Fail(e.into()),
                Ok(ChunkStep::NeedMore) if eof => Step::Fail(ClientError::Closed),
                Ok(ChunkStep::NeedMore) => Step::NeedMore,
                Ok(ChunkStep::Data(n)) => Step::Data(out.split_to(n)),
                Ok(ChunkStep::Done { trailers }) => Step::End(trailers),
            }
        }
        Some(In::Close) => {
            if !input.is_empty() {
                let n = input.len().min(STEP);
                Step::Data(input.split_to(n))
            } else if eof {
                Step::End(HeaderMap::new())
            } else {
                Step::NeedMore
            }
        }
        None => Step::NeedMore,
    }
}

fn head_step<T: 'static>(
    r: &mut Req<T>,
    input: &mut Buffer,
    eof: bool,
    limits: &Limits,
    lenient: &Lenient,
    cache: &mut FieldCache,
) -> Step {
    if input.is_empty() {
        return match (eof, r.got_bytes) {
            (false, _) => Step::NeedMore,
            (true, false) => Step::Unanswered,
            (true, true) => Step::Fail(ClientError::Closed),
        };
    }
    r.got_bytes = true;
    if !lenient.http09 && starts_http(input) == Some(false) {
        return Step::Fail(ClientError::Protocol(
            "the response does not start with HTTP/".into(),
        ));
    }
    let n = match r.scanner.scan(input, limits) {
        Err(e) => return Step::Fail(e.into()),
        Ok(None) if eof => {
            if lenient.http09 && r.scanner.scanned() == 0 {
                0
            } else {
                return Step::Fail(ClientError::Closed);
            }
        }
        Ok(None) => return Step::NeedMore,
        Ok(Some(n)) => n,
    };
    let bytes = input.split_to(n);
    let head = match parse_response_head_shared(&bytes, &r.method, limits, lenient, Some(cache)) {
        Ok(h) => h,
        Err(e) => return Step::Fail(e.into()),
    };
    r.scanner.reset();
    if head.is_informational() {
        if r.informational.len() >= MAX_INTERIM {
            return Step::Fail(ClientError::Protocol(
                "too many interim (1xx) responses".into(),
            ));
        }
        let cont = head.status == StatusCode::CONTINUE;
        r.informational.push(head);
        return Step::Interim(cont);
    }
    if head.status == StatusCode::SWITCHING_PROTOCOLS && !r.upgrade {
        return Step::Fail(ClientError::Protocol(
            "101 Switching Protocols to a request without Upgrade".into(),
        ));
    }
    let framing = match head.body {
        ResponseBodyKind::Tunnel => {
            r.head = Some(head);
            return Step::Upgrade;
        }
        ResponseBodyKind::None => In::Length(0),
        ResponseBodyKind::Length(n) => In::Length(n),
        ResponseBodyKind::Chunked => {
            In::Chunked(Box::new((ChunkedDecoder::new(limits), Buffer::new())))
        }
        ResponseBodyKind::CloseDelimited => In::Close,
    };
    r.head = Some(head);
    r.framing = Some(framing);
    Step::Head
}

/// Whether the input (after empty lines) starts like a status line:
/// `None` while too little has come to tell.
fn starts_http(input: &Buffer) -> Option<bool> {
    let mut want = b"HTTP/".iter();
    let mut leading = true;
    for piece in input.chunks() {
        for &b in piece {
            if leading && (b == b'\r' || b == b'\n') {
                continue;
            }
            leading = false;
            match want.next() {
                Some(&w) if w == b => {}
                Some(_) => return Some(false),
                None => return Some(true),
            }
        }
    }
    want.as_slice().is_empty().then_some(true)
}
