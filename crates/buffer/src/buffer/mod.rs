//! [`Buffer`]: a queue of bytes made of shared chunks plus a growable tail
//! (libevent's evbuffer).

mod calls;
mod chunk;
mod fd;
mod search;
mod slices;
mod space;
mod take;
mod traits;

use std::collections::VecDeque;
use std::fmt;

use bytes::{Bytes, BytesMut};

use chunk::Chunk;
use slices::Slices;

pub(crate) use calls::Calls;
pub use search::Eol;

/// A byte queue made of reference-counted chunks (libevent's evbuffer).
///
/// Data is a chain of [`Bytes`] chunks and file segments, followed by a
/// growable [`BytesMut`] tail that [`add`](Buffer::add) and
/// [`read_from`](Buffer::read_from) fill. Moving data between buffers
/// ([`append_buffer`](Buffer::append_buffer),
/// [`split_to_buffer`](Buffer::split_to_buffer)) and taking it out as
/// [`Bytes`] ([`split_to`](Buffer::split_to), [`read_line`](Buffer::read_line))
/// relinks or slices chunks rather than copying whenever the bytes already
/// lie in one chunk. The length is kept, so [`len`](Buffer::len) is O(1).
///
/// The chain never contains empty chunks: adding empty data is a no-op and
/// every removal drops a chunk as soon as it is used up.
///
/// Counts larger than the buffer are clamped (`drain(usize::MAX)` empties
/// it), as with libevent; only the [`bytes::Buf`] methods panic on them, as
/// that trait asks.
///
/// # File segments
///
/// [`add_file`](Buffer::add_file) queues a range of a file without reading
/// it. [`write_to`](Buffer::write_to) sends such a segment with `sendfile`
/// (or `pread` + `write` where the target does not allow `sendfile`). Every
/// method that has to look at the bytes themselves (`find*`, `read_line`,
/// `pullup`, `remove`, `copy_out_at`, `split_to`, `peek` and the `Buf`
/// methods) first reads the segments it touches into memory with `pread`;
/// the data is then kept and later written from memory. Such a read that
/// fails (the file shrank, an I/O error) **panics**, because those methods
/// have no error to return: call [`load_files`](Buffer::load_files) first
/// to get an `io::Error` instead. Moving, draining and splitting between
/// buffers never read the file.
///
/// # Example
///
/// ```
/// use evloop_buffer::{Buffer, Eol};
///
/// let mut buf = Buffer::new();
/// buf.add(b"GET / HTTP/1.1\r\nHost: ex");
/// buf.add_bytes(bytes::Bytes::from_static(b"ample.org\r\n\r\n"));
/// assert_eq!(buf.read_line(Eol::CrlfStrict).unwrap(), "GET / HTTP/1.1");
/// assert_eq!(buf.read_line(Eol::CrlfStrict).unwrap(), "Host: example.org");
/// assert_eq!(buf.read_line(Eol::CrlfStrict).unwrap(), "");
/// assert!(buf.is_empty());
/// ```
#[derive(Clone)]
pub struct Buffer {
    /// Everything before the tail, oldest first; never an empty chunk.
    chunks: VecDeque<Chunk>,
    /// The newest bytes, with spare capacity that `add` and `read_from`
    /// write into.
    tail: BytesMut,
    /// Sum of the chunk lengths and the tail's length.
    len: usize,
    /// Upper bound for one `read_from` call.
    max_read: usize,
}

impl Default for Buffer {
    fn default() -> Self {
        Buffer::new()
    }
}

impl Buffer {
    /// An empty buffer; allocates nothing until data arrives.
    pub fn new() -> Self {
        Buffer {
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            len: 0,
            max_read: Buffer::DEFAULT_MAX_READ,
        }
    }

    /// An empty buffer whose tail can take `capacity` bytes without
    /// allocating.
    pub fn with_capacity(capacity: usize) -> Self {
        Buffer {
            tail: BytesMut::with_capacity(capacity),
            ..Buffer::new()
        }
    }

    /// Number of bytes in the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the next bytes to go out are a file segment not read yet
    /// (`write_to` sends it with `sendfile`).
    pub(crate) fn starts_with_unread_file(&self) -> bool {
        self.chunks.front().is_some_and(Chunk::is_unread_file)
    }

    /// True when the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pieces the data is stored in: the slices
    /// [`peek`](Buffer::peek) would return, so a caller can size its array.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len() + usize::from(!self.tail.is_empty())
    }

    /// The bytes as slices in order, none empty (reads file segments, see
    /// [File segments](Buffer#file-segments)).
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + Clone + '_ {
        self.slices(0, self.len).map(|(_, s)| s)
    }

    /// Removes everything, keeping the tail's allocation for reuse.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
        self.len = 0;
    }

    /// Appends a copy of `data` to the end.
    pub fn add(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.grow_tail(data.len());
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    /// Appends `b` to the end without copying it.
    ///
    /// Many small `Bytes` make many chunks, which costs in `writev` and in
    /// searches; for small data [`add`](Buffer::add) is usually better.
    pub fn add_bytes(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        self.seal_tail();
        self.len += b.len();
        self.chunks.push_back(Chunk::Mem(b));
    }

    /// Appends formatted text, as `write!` would (`add_printf`).
    ///
    /// ```
    /// let mut buf = evloop_buffer::Buffer::new();
    /// buf.add_fmt(format_args!("{} {}\r\n", 200, "OK"));
    /// assert_eq!(buf.split_to(usize::MAX), "200 OK\r\n");
    /// ```
    pub fn add_fmt(&mut self, args: fmt::Arguments<'_>) {
        match args.as_str() {
            Some(s) => self.add(s.as_bytes()),
            // Writing into a Buffer cannot fail, so neither can this.
            None => fmt::Write::write_fmt(self, args).expect("Buffer's fmt::Write never fails"),
        }
    }

    /// Puts a copy of `data` in front of the current contents.
    pub fn prepend(&mut self, data: &[u8]) {
        self.prepend_bytes(Bytes::copy_from_slice(data));
    }

    /// Puts `b` in front of the current contents without copying it.
    pub fn prepend_bytes(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        self.len += b.len();
        self.chunks.push_front(Chunk::Mem(b));
    }

    /// Moves all of `other` to the end of `self`, leaving `other` empty.
    ///
    /// No data is copied: chunks are relinked and both tails' filled parts
    /// become chunks (each buffer keeps its tail's spare capacity).
    pub fn append_buffer(&mut self, other: &mut Buffer) {
        if other.is_empty() {
            return;
        }
        self.seal_tail();
        other.seal_tail();
        self.len += other.len;
        other.len = 0;
        self.chunks.append(&mut other.chunks);
    }

    /// Moves all of `other` to the front of `self`, leaving `other` empty,
    /// without copying data.
    pub fn prepend_buffer(&mut self, other: &mut Buffer) {
        if self.is_empty() {
            // Taking `other`'s tail whole keeps its allocation in use: a
            // caller that took a stream's input out (`mem::take`), consumed
            // some of it and puts the rest back would otherwise leave the
            // stream a tail-less buffer, and its next read would allocate
            // afresh instead of reclaiming the space the consumed bytes
            // had. Without data to move, the larger spare space stays here.
            if !other.is_empty() || other.tail.capacity() > self.tail.capacity() {
                std::mem::swap(&mut self.chunks, &mut other.chunks);
                std::mem::swap(&mut self.tail, &mut other.tail);
                self.len = std::mem::take(&mut other.len);
            }
            return;
        }
        if other.is_empty() {
            return;
        }
        other.seal_tail();
        self.len += other.len;
        other.len = 0;
        while let Some(c) = other.chunks.pop_back() {
            self.chunks.push_front(c);
        }
    }

    /// Removes the first `min(n, len)` bytes into a new buffer
    /// (`evbuffer_remove_buffer`).
    ///
    /// Whole chunks are moved and a chunk straddling the cut is split, so no
    /// data is copied and no file segment is read.
    pub fn split_to_buffer(&mut self, n: usize) -> Buffer {
        let mut n = n.min(self.len);
        let mut out = Buffer::new();
        out.len = n;
        self.len -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) if c.len() <= n => {
                    n -= c.len();
                    out.chunks.extend(self.chunks.pop_front());
                }
                Some(c) => {
                    out.chunks.push_back(c.split_to(n));
                    n = 0;
                }
                None => {
                    out.chunks
                        .push_back(Chunk::Mem(self.tail.split_to(n).freeze()));
                    n = 0;
                }
            }
        }
        out
    }

    /// The pieces overlapping `[start, end)`, clipped to it.
    fn slices(&self, start: usize, end: usize) -> Slices<'_> {
        Slices::new(self.chunks.iter(), &self.tail, start, end.min(self.len))
    }
}
