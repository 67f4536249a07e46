//! The tail's spare capacity: growing it, and writing into it directly.

use std::mem::MaybeUninit;

use bytes::BytesMut;

use super::chunk::Chunk;
use super::Buffer;

/// Smallest allocation for a fresh tail, so that a run of tiny `add`s does
/// not allocate per call (libevent's minimum chain size is 1 KiB; 4 KiB makes
/// one page).
const MIN_TAIL: usize = 4096;

/// When the tail runs out of room and already holds at least this much, it
/// is sealed into a chunk and a new tail starts, instead of being moved into
/// a bigger allocation: growing by copying stays cheap only while the copy is
/// small.
const SEAL_AT: usize = 4096;

/// Largest tail that sealing grows to (a size malloc still serves from its
/// heap rather than with mmap).
const MAX_TAIL: usize = 64 * 1024;

impl Buffer {
    /// Spare capacity at the end of the tail, at least `n` bytes: write
    /// into it, then [`commit`](Buffer::commit) what was written.
    ///
    /// Any other change to the buffer between the two calls may move the
    /// tail; reserve again after one.
    pub fn reserve(&mut self, n: usize) -> &mut [MaybeUninit<u8>] {
        self.grow_tail(n);
        self.tail.spare_capacity_mut()
    }

    /// Appends the first `n` bytes of the spare capacity returned by the
    /// last [`reserve`](Buffer::reserve).
    ///
    /// [`fill_with`](Buffer::fill_with) is the safe alternative.
    ///
    /// # Safety
    ///
    /// Those `n` bytes must have been initialized (written) since that
    /// `reserve`, and no other `&mut self` method may have run in between.
    ///
    /// # Panics
    ///
    /// If `n` exceeds the spare capacity.
    pub unsafe fn commit(&mut self, n: usize) {
        let len = self.tail.len();
        assert!(
            n <= self.tail.capacity() - len,
            "commit({n}) past the reserved space"
        );
        // SAFETY: n is within the tail's capacity (checked above) and the
        // caller guarantees those bytes were initialized after `reserve`.
        unsafe { self.tail.set_len(len + n) };
        self.len += n;
    }

    /// Lends `f` up to `max` zeroed bytes at the end and appends the first
    /// `k` of them, where `k` is `f`'s result (capped at `max`); returns
    /// the number appended.
    ///
    /// The safe form of [`reserve`](Buffer::reserve) +
    /// [`commit`](Buffer::commit): the zeroing is the price of not trusting
    /// `f`'s count.
    ///
    /// ```
    /// let mut buf = evloop_buffer::Buffer::new();
    /// let n = buf.fill_with(8, |space| {
    ///     space[..3].copy_from_slice(b"abc");
    ///     3
    /// });
    /// assert_eq!((n, buf.len()), (3, 3));
    /// ```
    pub fn fill_with(&mut self, max: usize, f: impl FnOnce(&mut [u8]) -> usize) -> usize {
        self.grow_tail(max);
        let start = self.tail.len();
        self.tail.resize(start + max, 0);
        let k = f(&mut self.tail[start..]).min(max);
        self.tail.truncate(start + k);
        self.len += k;
        k
    }

    /// Turns the tail's bytes into a chunk so that something can be queued
    /// after them; the tail keeps its spare capacity.
    pub(super) fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks
                .push_back(Chunk::Mem(self.tail.split().freeze()));
        }
    }

    /// Ensures the tail has room for `n` more bytes.
    pub(super) fn grow_tail(&mut self, n: usize) {
        if self.tail.capacity() - self.tail.len() >= n {
            return;
        }
        if self.tail.is_empty() {
            // An empty tail whose earlier bytes were all consumed can take
            // its whole allocation back; otherwise start afresh rather than
            // let BytesMut carry the consumed prefix into a bigger one.
            if !self.tail.try_reclaim(n) {
                self.tail = BytesMut::with_capacity(n.max(MIN_TAIL));
            }
        } else if self.tail.len() >= SEAL_AT {
            // A buffer that keeps filling tails gets bigger ones, so that a
            // steady stream of small adds allocates rarely.
            let next = (2 * self.tail.len()).clamp(MIN_TAIL, MAX_TAIL).max(n);
            self.seal_tail();
            self.tail = BytesMut::with_capacity(next);
        } else {
            self.tail.reserve(n.max(MIN_TAIL));
        }
    }
}
