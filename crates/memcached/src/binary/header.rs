//! The 24-byte packet header of memcached's binary protocol (all numbers
//! big-endian), read from requests and written into replies.

use crate::reply::{Line, ReplySink};

/// Bytes in a request or response header.
pub const HEADER_LEN: usize = 24;

/// First byte of every request (and how a connection announces that it
/// speaks the binary protocol).
pub const REQUEST_MAGIC: u8 = 0x80;

/// First byte of every response.
pub const RESPONSE_MAGIC: u8 = 0x81;

/// A request header, in host byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// [`REQUEST_MAGIC`] in a valid request.
    pub magic: u8,
    /// The command.
    pub opcode: u8,
    /// Key bytes after the extras.
    pub key_len: u16,
    /// Extras bytes after the header.
    pub extras_len: u8,
    /// Data type (memcached ignores it).
    pub data_type: u8,
    /// vbucket id (unused by memcached).
    pub vbucket: u16,
    /// Extras, key and value together.
    pub body_len: u32,
    /// Echoed in the response, so a client can match pipelined replies.
    pub opaque: [u8; 4],
    /// CAS unique to compare, or 0.
    pub cas: u64,
}

impl Header {
    /// Reads a header from the first [`HEADER_LEN`] bytes of `b`.
    ///
    /// # Panics
    ///
    /// If `b` is shorter than [`HEADER_LEN`] (the caller checks first).
    pub fn parse(b: &[u8]) -> Header {
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            magic: b[0],
            opcode: b[1],
            key_len: u16_at(2),
            extras_len: b[4],
            data_type: b[5],
            vbucket: u16_at(6),
            body_len: u32_at(8),
            opaque: [b[12], b[13], b[14], b[15]],
            cas: (u64::from(u32_at(16)) << 32) | u64::from(u32_at(20)),
        }
    }

    /// Bytes from the start of the header to the end of the key: what
    /// must have arrived before the request can be looked at (the value,
    /// if any, may follow later).
    pub fn fixed_len(&self) -> usize {
        HEADER_LEN + self.extras_len as usize + self.key_len as usize
    }
}

/// The parts of a response, written by [`Response::write`].
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    /// The request's opcode (quiet ones included), echoed.
    pub opcode: u8,
    /// Status code.
    pub status: u16,
    /// The request's opaque, echoed.
    pub opaque: [u8; 4],
    /// CAS unique of the item concerned, or 0.
    pub cas: u64,
    /// Extras (flags of a get, ...).
    pub extras: &'a [u8],
    /// Key (getk, gatk, stats names).
    pub key: &'a [u8],
    /// Length of the value the caller appends after this call.
    pub value_len: usize,
}

impl Response<'_> {
    /// Appends header, extras and key to `out` in one piece; the caller
    /// then appends `value_len` bytes of value.
    pub fn write(&self, out: &mut impl ReplySink) {
        let body = self.extras.len() + self.key.len() + self.value_len;
        let mut h = [0u8; HEADER_LEN];
        h[0] = RESPONSE_MAGIC;
        h[1] = self.opcode;
        h[2..4].copy_from_slice(&(self.key.len() as u16).to_be_bytes());
        h[4] = self.extras.len() as u8;
        // h[5]: data type, raw bytes (0); h[6..8]: status.
        h[6..8].copy_from_slice(&self.status.to_be_bytes());
        // A body past u32 cannot occur: values are limited by `-I`.
        h[8..12].copy_from_slice(&(body as u32).to_be_bytes());
        h[12..16].copy_from_slice(&self.opaque);
        h[16..24].copy_from_slice(&self.cas.to_be_bytes());
        let mut l = Line::new();
        l.push(out, &h);
        l.push(out, self.extras);
        l.push(out, self.key);
        l.flush(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let raw: [u8; 24] = [
            0x80, 0x01, 0x00, 0x03, 0x08, 0x00, 0x00, 0x07, 0x00, 0x00, 0x01, 0x10, 1, 2, 3, 4, 0,
            0, 0, 1, 0, 0, 0, 2,
        ];
        let h = Header::parse(&raw);
        assert_eq!(h.magic, REQUEST_MAGIC);
        assert_eq!(h.opcode, 1);
        assert_eq!(h.key_len, 3);
        assert_eq!(h.extras_len, 8);
        assert_eq!(h.vbucket, 7);
        assert_eq!(h.body_len, 0x110);
        assert_eq!(h.opaque, [1, 2, 3, 4]);
        assert_eq!(h.cas, (1 << 32) | 2);
        assert_eq!(h.fixed_len(), 24 + 8 + 3);

        let mut out = Vec::new();
        Response {
            opcode: 0x0c,
            status: 1,
            opaque: [9, 8, 7, 6],
            cas: 0x0102,
            extras: &[0, 0, 0, 5],
            key: b"key",
            value_len: 10,
        }
        .write(&mut out);
        assert_eq!(out.len(), 24 + 4 + 3);
        assert_eq!(&out[..8], &[0x81, 0x0c, 0, 3, 4, 0, 0, 1]);
        assert_eq!(&out[8..12], &17u32.to_be_bytes());
        assert_eq!(&out[12..16], &[9, 8, 7, 6]);
        assert_eq!(&out[16..24], &0x0102u64.to_be_bytes());
        assert_eq!(&out[24..], b"\0\0\0\x05key");
    }
}
