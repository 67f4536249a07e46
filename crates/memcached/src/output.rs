//! Replies into a stream's output buffer: how much a client may have
//! waiting for it, and which values are copied rather than referenced.

use bytes::Bytes;
use evloop_buffer::Buffer;

use crate::item::Item;
use crate::reply::ReplySink;

/// Replies waiting for a client beyond which the server stops executing
/// its requests and stops reading from it, so that a client that pipelines
/// without reading cannot make the server buffer without bound...
pub const OUTPUT_HIGH: usize = 1 << 20;

/// ...and the level the waiting replies must drain to before it goes on
/// (low enough that resuming is not a wake-up per few kilobytes sent).
pub const OUTPUT_LOW: usize = 256 << 10;

/// Values up to this size are copied into the output: a copy of a few
/// kilobytes costs less than an extra chunk (and iovec) per reply, and
/// keeps a batch of small replies in one contiguous piece. Larger values
/// are sent straight from the item's memory.
const COPY_MAX: usize = 4096;

/// A stream's output buffer as a [`ReplySink`].
pub struct Replies<'a>(pub &'a mut Buffer);

impl ReplySink for Replies<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.0.add(bytes);
    }

    fn put_bytes(&mut self, bytes: Bytes) {
        if bytes.len() <= COPY_MAX {
            self.0.add(&bytes);
        } else {
            self.0.add_bytes(bytes);
        }
    }

    fn put_value(&mut self, item: &Item) {
        let value = item.value_crlf_ref();
        if value.len() <= COPY_MAX {
            self.0.add(value);
        } else {
            self.0.add_bytes(item.value_crlf());
        }
    }

    fn is_full(&self) -> bool {
        self.0.len() >= OUTPUT_HIGH
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::store::{Store, Write};

    #[test]
    fn small_values_are_copied_large_ones_referenced() {
        let mut store = Store::new(64 << 20, 1 << 20, Clock::starting_at(1_700_000_000));
        let big = vec![b'x'; COPY_MAX];
        store.store(&Write::set(b"small", b"abc"));
        store.store(&Write::set(b"big", &big));
        let mut buf = Buffer::new();
        let mut out = Replies(&mut buf);
        out.put(b"VALUE small 0 3\r\n");
        let small = store.find(b"small").unwrap();
        out.put_value(store.item(small));
        out.put(b"END\r\n");
        assert!(!out.is_full());
        // One piece: the small value went in with the lines around it.
        assert_eq!(buf.chunk_count(), 1);
        assert_eq!(buf.len(), 17 + 5 + 5);
        // COPY_MAX value bytes and "\r\n" are past the limit: shared.
        let big = store.find(b"big").unwrap();
        Replies(&mut buf).put_value(store.item(big));
        assert_eq!(buf.chunk_count(), 2);
        let mut out = Replies(&mut buf);
        out.put_bytes(Bytes::from(vec![b'y'; COPY_MAX + 1]));
        assert_eq!(buf.chunk_count(), 3);
        let mut out = Replies(&mut buf);
        while !out.is_full() {
            out.put_value(store.item(big));
        }
        assert!(buf.len() >= OUTPUT_HIGH);
    }
}
