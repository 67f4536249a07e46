//! Taking bytes from the front: drain, copy out, peek, pullup, split.

use std::io::IoSlice;

use bytes::{Bytes, BytesMut};

use super::chunk::Chunk;
use super::Buffer;

impl Buffer {
    /// Discards the first `min(n, len)` bytes; a larger `n` empties the
    /// buffer rather than panicking.
    pub fn drain(&mut self, n: usize) {
        let mut n = n.min(self.len);
        self.len -= n;
        if self.len == 0 {
            self.clear();
            return;
        }
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) if c.len() <= n => {
                    n -= c.len();
                    self.chunks.pop_front();
                }
                Some(c) => {
                    c.advance(n);
                    n = 0;
                }
                None => {
                    bytes::Buf::advance(&mut self.tail, n);
                    n = 0;
                }
            }
        }
    }

    /// Copies the first bytes into `out` and drains them; returns how many,
    /// `min(out.len(), len)`.
    pub fn remove(&mut self, out: &mut [u8]) -> usize {
        let n = self.copy_out_at(0, out);
        self.drain(n);
        n
    }

    /// Copies bytes starting at `offset` into `out` without draining;
    /// returns how many were copied (0 when `offset >= len`).
    pub fn copy_out_at(&self, offset: usize, out: &mut [u8]) -> usize {
        let end = offset.saturating_add(out.len()).min(self.len);
        let mut n = 0;
        for (_, s) in self.slices(offset, end) {
            out[n..n + s.len()].copy_from_slice(s);
            n += s.len();
        }
        n
    }

    /// Fills `out` with the buffer's pieces in order, without copying, and
    /// returns how many slots were used. Empty pieces are never returned;
    /// [`chunk_count`](Buffer::chunk_count) tells how many slots would take
    /// everything.
    pub fn peek<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, s) in out.iter_mut().zip(self.chunks()) {
            *slot = IoSlice::new(s);
            n += 1;
        }
        n
    }

    /// Makes the first `min(n, len)` bytes contiguous and returns them.
    ///
    /// Copies only when they span several chunks; they then become one
    /// chunk, so a second `pullup` of the same size is free.
    pub fn pullup(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.len);
        if n == 0 {
            return &[];
        }
        let first = self.chunks.front().map_or(self.tail.len(), Chunk::len);
        if first < n {
            let joined = self.gather(n);
            self.drain(n);
            self.prepend_bytes(joined.freeze());
        }
        match self.chunks.front() {
            Some(c) => &c.bytes()[..n],
            None => &self.tail[..n],
        }
    }

    /// Removes the first `min(n, len)` bytes as one `Bytes`.
    ///
    /// Zero-copy when they lie in one chunk (or in the tail), one copy
    /// otherwise.
    pub fn split_to(&mut self, n: usize) -> Bytes {
        let n = n.min(self.len);
        if n == 0 {
            return Bytes::new();
        }
        let out = match self.chunks.front_mut() {
            Some(c) if c.len() == n => self.chunks.pop_front().map(Chunk::into_bytes),
            Some(c) if c.len() > n => Some(c.split_to(n).into_bytes()),
            Some(_) => None,
            None => Some(self.tail.split_to(n).freeze()),
        };
        match out {
            Some(b) => {
                self.len -= n;
                if self.len == 0 {
                    self.clear();
                }
                b
            }
            None => {
                let b = self.gather(n).freeze();
                self.drain(n);
                b
            }
        }
    }

    /// A copy of the first `n <= len` bytes.
    fn gather(&self, n: usize) -> BytesMut {
        let mut out = BytesMut::with_capacity(n);
        for (_, s) in self.slices(0, n) {
            out.extend_from_slice(s);
        }
        out
    }
}
