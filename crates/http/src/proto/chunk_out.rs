//! Writing a body as it is sent: a piece, framed as a chunk or raw, and
//! the chunked coding's end. The server's streamed responses and the
//! client's streamed requests both write their bodies this way.

use bytes::Bytes;
use evloop_buffer::Buffer;
use http::HeaderMap;

/// Queues one non-empty piece of a body on `out`: a chunk (size line,
/// data, CRLF) when `chunked`, the bytes alone otherwise.
pub(crate) fn add_piece(out: &mut Buffer, data: Bytes, chunked: bool) {
    if chunked {
        out.add_fmt(format_args!("{:x}\r\n", data.len()));
    }
    // A small piece is copied: cheaper than a segment of its own.
    if data.len() <= 4096 {
        out.add(&data);
    } else {
        out.add_bytes(data);
    }
    if chunked {
        out.add(b"\r\n");
    }
}

/// Queues the end of a chunked body on `out`: the last chunk, the
/// trailer fields and the empty line.
pub(crate) fn add_last_chunk(out: &mut Buffer, trailers: &HeaderMap) {
    out.add(b"0\r\n");
    for (name, value) in trailers {
        out.add(name.as_str().as_bytes());
        out.add(b": ");
        out.add(value.as_bytes());
        out.add(b"\r\n");
    }
    out.add(b"\r\n");
}
