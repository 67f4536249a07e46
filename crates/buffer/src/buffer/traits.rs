//! Standard traits: `bytes::Buf`, `io::Write`, `fmt::Write`, `Debug`,
//! conversions.

use std::fmt;
use std::io::{self, IoSlice};

use bytes::{Buf, Bytes};

use super::chunk::Chunk;
use super::Buffer;

/// Reading through `Buf` consumes the buffer's front; file segments are read
/// into memory when reached (see [File segments](Buffer#file-segments)).
///
/// Unlike the inherent methods, `advance` and `copy_to_bytes` panic when
/// asked for more than [`remaining`](Buf::remaining), as `Buf` specifies.
impl Buf for Buffer {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        match self.chunks.front() {
            Some(c) => c.bytes(),
            None => &self.tail,
        }
    }

    fn advance(&mut self, cnt: usize) {
        assert!(
            cnt <= self.len,
            "advance({cnt}) past the end of a Buffer of {} bytes",
            self.len
        );
        self.drain(cnt);
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.peek(dst)
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        assert!(
            len <= self.len,
            "copy_to_bytes({len}) past the end of a Buffer of {} bytes",
            self.len
        );
        self.split_to(len)
    }
}

/// Appends; never fails and never writes short.
impl io::Write for Buffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.add(data);
        Ok(data.len())
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.add(data);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Appends UTF-8 text, so `write!(buf, ...)` works; never fails.
impl fmt::Write for Buffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.add(s.as_bytes());
        Ok(())
    }
}

/// Shows the shape, not the contents, which may be large or unread file data.
impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = self
            .chunks
            .iter()
            .filter(|c| matches!(c, Chunk::File(_)))
            .count();
        f.debug_struct("Buffer")
            .field("len", &self.len)
            .field("chunks", &self.chunk_count())
            .field("file_segments", &files)
            .field("tail_capacity", &self.tail.capacity())
            .finish()
    }
}

impl From<Bytes> for Buffer {
    fn from(b: Bytes) -> Self {
        let mut buf = Buffer::new();
        buf.add_bytes(b);
        buf
    }
}

impl From<Vec<u8>> for Buffer {
    fn from(v: Vec<u8>) -> Self {
        Buffer::from(Bytes::from(v))
    }
}

impl From<&[u8]> for Buffer {
    fn from(data: &[u8]) -> Self {
        let mut buf = Buffer::with_capacity(data.len());
        buf.add(data);
        buf
    }
}
