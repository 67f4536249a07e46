//! Where replies go: a sink the server implements on its output buffer, so
//! the replies to a batch of pipelined requests leave in one write, and item
//! values go out by reference instead of by copy.

use bytes::Bytes;

use crate::item::Item;
use crate::store::itoa;

/// An output buffer for replies.
pub trait ReplySink {
    /// Appends a copy of `bytes`.
    fn put(&mut self, bytes: &[u8]);
    /// Appends `bytes` without copying them, if the sink can keep a
    /// reference (item values: `value ++ "\r\n"`).
    fn put_bytes(&mut self, bytes: Bytes);
    /// Appends an item's value and its `\r\n`: by reference by default; a
    /// sink may copy small ones instead.
    fn put_value(&mut self, item: &Item) {
        self.put_bytes(item.value_crlf());
    }
    /// Whether the sink holds as much as should wait for the client:
    /// [`Session::process`](crate::exec::Session::process) stops between
    /// requests then, so that a client pipelining requests without reading
    /// the replies cannot make the server buffer without bound. Never, by
    /// default.
    fn is_full(&self) -> bool {
        false
    }
}

impl ReplySink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn put_bytes(&mut self, bytes: Bytes) {
        self.extend_from_slice(&bytes);
    }
}

/// A reply line assembled on the stack, then handed to the sink in one
/// `put`. Large enough for any header line (a 250-byte key, numbers and
/// meta flags); past its capacity further pieces go straight to the sink.
#[derive(Debug)]
pub struct Line {
    /// The bytes so far.
    buf: [u8; 384],
    /// How many.
    len: usize,
}

impl Line {
    /// An empty line.
    pub fn new() -> Self {
        Line {
            buf: [0; 384],
            len: 0,
        }
    }

    /// Appends bytes (into the sink directly if they would not fit).
    pub fn push(&mut self, out: &mut impl ReplySink, b: &[u8]) {
        if self.len + b.len() > self.buf.len() {
            self.flush(out);
            out.put(b);
            return;
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    /// Appends a decimal number.
    pub fn num(&mut self, out: &mut impl ReplySink, n: u64) {
        let mut d = itoa::Buf::new();
        self.push(out, d.format(n));
    }

    /// Appends a signed decimal number.
    pub fn signed(&mut self, out: &mut impl ReplySink, n: i64) {
        if n < 0 {
            self.push(out, b"-");
        }
        self.num(out, n.unsigned_abs());
    }

    /// Hands the line to the sink and empties it.
    pub fn flush(&mut self, out: &mut impl ReplySink) {
        if self.len > 0 {
            out.put(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_assembles_and_overflows_to_the_sink() {
        let mut out = Vec::new();
        let mut l = Line::new();
        l.push(&mut out, b"VALUE k ");
        l.num(&mut out, 42);
        l.push(&mut out, b" ");
        l.signed(&mut out, -1);
        assert!(out.is_empty());
        l.flush(&mut out);
        assert_eq!(out, b"VALUE k 42 -1");
        let big = vec![b'x'; 2000];
        l.push(&mut out, b"a");
        l.push(&mut out, &big);
        l.flush(&mut out);
        assert_eq!(out.len(), 13 + 1 + 2000);
        let mut v = Vec::new();
        v.put_bytes(Bytes::from_static(b"zz"));
        assert_eq!(v, b"zz");
    }
}
