//! One piece of a [`Buffer`](super::Buffer)'s chain: memory or a file range.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

/// A non-empty piece of the chain. The chain never holds empty chunks: every
/// operation that could make one drops it instead, which is what keeps
/// libevent's "with_empty" class of bugs out by construction.
#[derive(Clone)]
pub(super) enum Chunk {
    Mem(Bytes),
    File(FileChunk),
}

/// `len` bytes of `file` starting at `offset`.
///
/// The data stays in the file until something needs to see it as bytes;
/// `loaded` then caches it so that a `&self` method (`find`, `Buf::chunk`)
/// can hand out slices, which is why the cache is a `OnceLock` rather than a
/// replacement of the chunk.
#[derive(Clone)]
pub(super) struct FileChunk {
    pub(super) file: Arc<File>,
    pub(super) offset: u64,
    pub(super) len: usize,
    loaded: OnceLock<Bytes>,
}

impl FileChunk {
    pub(super) fn new(file: Arc<File>, offset: u64, len: usize) -> Self {
        FileChunk {
            file,
            offset,
            len,
            loaded: OnceLock::new(),
        }
    }

    /// Reads the whole range with `pread`; a file that shrank since
    /// `add_file` gives `UnexpectedEof` rather than short data.
    pub(super) fn read(&self) -> io::Result<Bytes> {
        let mut data = vec![0; self.len];
        self.file.read_exact_at(&mut data, self.offset)?;
        Ok(Bytes::from(data))
    }

    /// The cached data, if something already needed it.
    pub(super) fn loaded(&self) -> Option<&Bytes> {
        self.loaded.get()
    }

    /// The data, read on first use.
    ///
    /// Callers of `&self` byte APIs cannot receive an error, so a failing
    /// read panics; [`Buffer::load_files`](super::Buffer::load_files) is the
    /// fallible way to do the same ahead of time.
    pub(super) fn bytes(&self) -> &Bytes {
        self.loaded.get_or_init(|| {
            self.read().unwrap_or_else(|e| {
                panic!(
                    "evloop-buffer: reading a file segment ({} bytes at offset {}) failed: {e}; \
                     call Buffer::load_files first to handle this as an error",
                    self.len, self.offset
                )
            })
        })
    }

    /// Splits off and returns the first `n` bytes (`0 < n < len`), sharing
    /// the file and any cached data.
    fn split_to(&mut self, n: usize) -> FileChunk {
        debug_assert!(n > 0 && n < self.len);
        let front = FileChunk {
            file: Arc::clone(&self.file),
            offset: self.offset,
            len: n,
            loaded: match self.loaded.get() {
                Some(b) => OnceLock::from(b.slice(..n)),
                None => OnceLock::new(),
            },
        };
        self.advance(n);
        front
    }

    fn advance(&mut self, n: usize) {
        debug_assert!(n < self.len);
        self.offset += n as u64;
        self.len -= n;
        if let Some(b) = self.loaded.get_mut() {
            bytes::Buf::advance(b, n);
        }
    }
}

impl Chunk {
    pub(super) fn len(&self) -> usize {
        match self {
            Chunk::Mem(b) => b.len(),
            Chunk::File(f) => f.len,
        }
    }

    /// The chunk's bytes, reading a file segment first if needed (may panic,
    /// see [`FileChunk::bytes`]).
    pub(super) fn bytes(&self) -> &Bytes {
        match self {
            Chunk::Mem(b) => b,
            Chunk::File(f) => f.bytes(),
        }
    }

    /// True for a file segment whose data has not been read: `write_to`
    /// sends those with `sendfile` instead of `writev`.
    pub(super) fn is_unread_file(&self) -> bool {
        matches!(self, Chunk::File(f) if f.loaded().is_none())
    }

    /// Splits off the first `n` bytes, `0 < n < len`, without copying or
    /// reading file data.
    pub(super) fn split_to(&mut self, n: usize) -> Chunk {
        match self {
            Chunk::Mem(b) => Chunk::Mem(b.split_to(n)),
            Chunk::File(f) => Chunk::File(f.split_to(n)),
        }
    }

    /// Drops the first `n` bytes, `n < len`.
    pub(super) fn advance(&mut self, n: usize) {
        match self {
            Chunk::Mem(b) => bytes::Buf::advance(b, n),
            Chunk::File(f) => f.advance(n),
        }
    }

    /// The chunk as `Bytes`, reading a file segment if needed.
    pub(super) fn into_bytes(self) -> Bytes {
        match self {
            Chunk::Mem(b) => b,
            Chunk::File(f) => f.bytes().clone(),
        }
    }
}
