//! RFC 7766 framing of DNS over TCP: a 2-byte length, then the message.
//! The resolver and the server both cut their stream input this way.

use evloop_buffer::Buffer;

/// Takes the next whole frame's message out of `input`, or None until one
/// has arrived (a read may end anywhere, or hold several frames).
pub(crate) fn take_frame(input: &mut Buffer) -> Option<bytes::Bytes> {
    let mut len = [0u8; 2];
    if input.copy_out_at(0, &mut len) < 2 {
        return None;
    }
    let n = usize::from(u16::from_be_bytes(len));
    if input.len() < 2 + n {
        return None;
    }
    input.drain(2);
    Some(input.split_to(n))
}
