//! Walking a buffer's bytes in place, chunk by chunk.

use std::collections::vec_deque;

use super::chunk::Chunk;

/// The bytes of `[start, end)` of a buffer as `(offset, slice)` pairs in
/// order, never empty.
///
/// Chunks that lie wholly outside the range are stepped over by length, so a
/// file segment is only read when the range actually touches it. `Clone` lets
/// a search look ahead across a chunk boundary without disturbing its walk.
#[derive(Clone)]
pub(super) struct Slices<'a> {
    chunks: vec_deque::Iter<'a, Chunk>,
    tail: Option<&'a [u8]>,
    /// Offset of the next piece's first byte in the whole buffer.
    pos: usize,
    start: usize,
    end: usize,
}

impl<'a> Slices<'a> {
    pub(super) fn new(
        chunks: vec_deque::Iter<'a, Chunk>,
        tail: &'a [u8],
        start: usize,
        end: usize,
    ) -> Self {
        Slices {
            chunks,
            tail: Some(tail),
            pos: 0,
            start,
            end,
        }
    }
}

impl<'a> Iterator for Slices<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        while self.pos < self.end {
            let at = self.pos;
            let whole: &'a [u8] = if let Some(c) = self.chunks.next() {
                let len = c.len();
                self.pos += len;
                if at + len <= self.start {
                    continue;
                }
                c.bytes()
            } else if let Some(t) = self.tail.take() {
                self.pos += t.len();
                t
            } else {
                return None;
            };
            let lo = self.start.saturating_sub(at);
            let hi = whole.len().min(self.end - at);
            if lo < hi {
                return Some((at + lo, &whole[lo..hi]));
            }
        }
        None
    }
}
