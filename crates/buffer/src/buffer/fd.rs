//! Moving bytes between a buffer and file descriptors: `read(v)`, `write(v)`,
//! `sendfile` and file segments (the system calls themselves, and their
//! socket variants, are in `calls.rs`).

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::BytesMut;

use super::calls::{read_into, retry, write_from, write_gathered, Calls, IOV_MAX};
use super::chunk::{Chunk, FileChunk};
use super::Buffer;

/// Chains shorter than this are gathered for `writev` on the stack.
const STACK_IOV: usize = 16;

/// The common short chain (a head, a body and the tail) gets a smaller
/// array, cheaper to set up.
const SMALL_IOV: usize = 4;

/// Bytes moved per call when a file segment goes through `pread` + `write`
/// because `sendfile` is not allowed.
const FALLBACK_CHUNK: usize = 64 * 1024;

/// Linux transfers at most this much in one `sendfile` (and read/write).
const SENDFILE_MAX: usize = 0x7fff_f000;

impl Buffer {
    /// What [`read_from`](Buffer::read_from) takes in one call unless
    /// [`set_max_read`](Buffer::set_max_read) says otherwise: 128 KiB.
    ///
    /// libevent's 4 KiB default costs one system call per 4 KiB on a busy
    /// connection; 128 KiB empties a typical socket receive queue in one
    /// call while keeping the memory a short read leaves unused in bounds.
    pub const DEFAULT_MAX_READ: usize = 128 * 1024;

    /// The per-call cap of [`read_from`](Buffer::read_from).
    pub fn max_read(&self) -> usize {
        self.max_read
    }

    /// Largest value [`set_max_read`](Buffer::set_max_read) accepts: 16 MiB.
    /// The space for a read is allocated before the read, so the cap bounds
    /// an allocation, not only a transfer.
    pub const MAX_READ_LIMIT: usize = 16 * 1024 * 1024;

    /// Sets the per-call cap of [`read_from`](Buffer::read_from)
    /// (`evbuffer_set_max_read`), clamped to
    /// `1..=`[`MAX_READ_LIMIT`](Buffer::MAX_READ_LIMIT).
    pub fn set_max_read(&mut self, n: usize) {
        self.max_read = n.clamp(1, Buffer::MAX_READ_LIMIT);
    }

    /// Reads up to `min(max, max_read())` bytes from `fd` with one `readv`
    /// (a plain `read` when the tail has room for all of it) and appends
    /// them (`evbuffer_read`).
    ///
    /// The data goes into the tail's spare capacity and, when that is
    /// smaller than the amount asked for, into a second, fresh block in the
    /// same call, so nothing already buffered is copied to make room.
    ///
    /// Returns the number of bytes read; `Ok(0)` means end of file, or
    /// `max == 0` (no system call is made then, as with `Read::read` on an
    /// empty slice). `EINTR` is retried; other errors, `WouldBlock`
    /// included, are returned unchanged with the buffer untouched.
    pub fn read_from(&mut self, fd: BorrowedFd<'_>, max: usize) -> io::Result<usize> {
        self.read_via(fd, max, Calls::File)
    }

    /// [`read_from`](Buffer::read_from) with the given family of system
    /// calls (`recv` on a stream's socket).
    #[inline]
    pub(crate) fn read_via(
        &mut self,
        fd: BorrowedFd<'_>,
        max: usize,
        calls: Calls,
    ) -> io::Result<usize> {
        let want = max.min(self.max_read);
        if want == 0 {
            return Ok(0);
        }
        if self.tail.is_empty() {
            // Nothing to keep in place, so one block can take the whole read.
            self.grow_tail(want);
        }
        let spare = (self.tail.capacity() - self.tail.len()).min(want);
        let mut extra = if spare < want {
            BytesMut::with_capacity(want - spare)
        } else {
            BytesMut::new()
        };
        let n = read_into(
            fd,
            calls,
            &mut self.tail.spare_capacity_mut()[..spare],
            &mut extra.spare_capacity_mut()[..want - spare],
        )?;
        let in_tail = n.min(spare);
        // SAFETY: readv initialized the first n bytes of the two regions,
        // in_tail of them in the tail's spare capacity.
        unsafe { self.tail.set_len(self.tail.len() + in_tail) };
        if n > in_tail {
            // SAFETY: the rest of the n bytes went to the start of `extra`'s
            // spare capacity, which is at least want - spare >= n - in_tail.
            unsafe { extra.set_len(n - in_tail) };
            self.seal_tail();
            self.tail = extra;
        }
        self.len += n;
        Ok(n)
    }

    /// Writes up to `max` bytes from the front to `fd` with one system call
    /// and drains what was written (`evbuffer_write_atmost`).
    ///
    /// Memory chunks go out together with `writev` (up to `IOV_MAX` of
    /// them). A file segment at the front goes out alone with `sendfile`;
    /// where the kernel refuses that (`EINVAL`, e.g. an `O_APPEND` file, or
    /// `ENOSYS`) it is sent with `pread` + `write` of at most 64 KiB.
    /// Call again while bytes remain: a partial write leaves the rest queued.
    ///
    /// Returns the number of bytes written; `Ok(0)` without a system call
    /// when the buffer is empty or `max == 0`. `EINTR` is retried; other
    /// errors (`WouldBlock`, `EPIPE`, ...) are returned with nothing
    /// drained. A file that shrank below a queued segment gives
    /// `UnexpectedEof`. Writing to a socket whose peer has gone raises
    /// `SIGPIPE`, which Rust programs ignore by default.
    pub fn write_to(&mut self, fd: BorrowedFd<'_>, max: usize) -> io::Result<usize> {
        self.write_via(fd, max, Calls::File)
    }

    /// [`write_to`](Buffer::write_to) with the given family of system
    /// calls (`send` with `MSG_NOSIGNAL` on a stream's socket).
    #[inline]
    pub(crate) fn write_via(
        &mut self,
        fd: BorrowedFd<'_>,
        max: usize,
        calls: Calls,
    ) -> io::Result<usize> {
        if max == 0 || self.len == 0 {
            return Ok(0);
        }
        let n = match self.chunks.front() {
            // Everything is in the tail (a reply formatted into the
            // output): one plain `write`, no iovec to build.
            None => {
                let bytes = &self.tail[..self.tail.len().min(max)];
                write_from(fd, calls, bytes)?
            }
            Some(Chunk::File(f)) if f.loaded().is_none() => write_file(fd, calls, f, max)?,
            // The usual write has a handful of chunks: gather them on the
            // stack, and only a long chain pays for a heap vector.
            _ if self.chunks.len() < SMALL_IOV => {
                let mut iov = [IoSlice::new(&[]); SMALL_IOV];
                let n = self.gather_iov(max, &mut iov);
                write_gathered(fd, calls, &iov[..n])?
            }
            _ if self.chunks.len() < STACK_IOV => {
                let mut iov = [IoSlice::new(&[]); STACK_IOV];
                let n = self.gather_iov(max, &mut iov);
                write_gathered(fd, calls, &iov[..n])?
            }
            _ => {
                let mut iov = vec![IoSlice::new(&[]); (self.chunks.len() + 1).min(IOV_MAX)];
                let n = self.gather_iov(max, &mut iov);
                write_gathered(fd, calls, &iov[..n])?
            }
        };
        self.drain(n);
        Ok(n)
    }

    /// Fills `iov` with up to `max` bytes from the front: memory chunks up
    /// to the first unread file segment, then the tail if every chunk fit.
    /// Returns how many entries it used.
    fn gather_iov<'a>(&'a self, max: usize, iov: &mut [IoSlice<'a>]) -> usize {
        let mut used = 0;
        let mut total = 0;
        for c in &self.chunks {
            if c.is_unread_file() || total == max || used == iov.len() {
                break;
            }
            let b = c.bytes();
            let take = b.len().min(max - total);
            iov[used] = IoSlice::new(&b[..take]);
            used += 1;
            total += take;
        }
        let all_chunks = used == self.chunks.len();
        if all_chunks && total < max && used < iov.len() && !self.tail.is_empty() {
            let take = self.tail.len().min(max - total);
            iov[used] = IoSlice::new(&self.tail[..take]);
            used += 1;
        }
        used
    }

    /// Reads every file segment into memory now, so that later byte
    /// accesses cannot fail (see [File segments](Buffer#file-segments)).
    ///
    /// # Errors
    ///
    /// The first read that fails; segments before it stay loaded and the
    /// buffer keeps all its bytes either way.
    pub fn load_files(&mut self) -> std::io::Result<()> {
        for c in &mut self.chunks {
            if let Chunk::File(f) = c {
                let data = match f.loaded() {
                    Some(b) => b.clone(),
                    None => f.read()?,
                };
                *c = Chunk::Mem(data);
            }
        }
        Ok(())
    }

    /// Queues `len` bytes of `file` starting at `offset` without reading
    /// them (`evbuffer_add_file_segment`); see
    /// [File segments](Buffer#file-segments).
    ///
    /// The same `Arc<File>` may back any number of segments and buffers; it
    /// is closed when the last one is gone. `len == 0` adds nothing.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `file` is not a regular file or the range does not
    /// lie inside it; the error of `fstat`.
    pub fn add_file(&mut self, file: Arc<File>, offset: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(invalid("add_file: not a regular file"));
        }
        // The end must also fit off_t, which sendfile's offset is.
        let fits = offset
            .checked_add(len)
            .is_some_and(|end| end <= meta.len() && i64::try_from(end).is_ok());
        if !fits {
            return Err(invalid("add_file: range past the end of the file"));
        }
        let len = usize::try_from(len).map_err(|_| invalid("add_file: segment too large"))?;
        self.seal_tail();
        self.len += len;
        self.chunks
            .push_back(Chunk::File(FileChunk::new(file, offset, len)));
        Ok(())
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Sends up to `max` bytes of the front of segment `f` to `out`.
///
/// With `sendfile`, unless `calls` rules it out; where it is ruled out or
/// refused, by reading at most 64 KiB and writing those.
fn write_file(out: BorrowedFd<'_>, calls: Calls, f: &FileChunk, max: usize) -> io::Result<usize> {
    let count = f.len.min(max).min(SENDFILE_MAX);
    let sent = if calls == (Calls::Socket { sendfile: false }) {
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    } else {
        // add_file checked that offset + len fits off_t.
        let mut off = f.offset as libc::off_t;
        retry(|| {
            // SAFETY: both descriptors are open for the duration of the call
            // (`out` is borrowed, `f.file` is kept alive by the chunk) and
            // `off` is a live local the kernel updates; no user memory is
            // passed.
            unsafe { libc::sendfile(out.as_raw_fd(), f.file.as_raw_fd(), &mut off, count) }
        })
    };
    let n = match sent {
        Ok(n) => n,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
            let mut data = vec![0; count.min(FALLBACK_CHUNK)];
            let got = f.file.read_at(&mut data, f.offset)?;
            if got == 0 {
                0
            } else {
                write_from(out, calls, &data[..got])?
            }
        }
        Err(e) => return Err(e),
    };
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file segment extends past the end of its file (was the file truncated?)",
        ));
    }
    Ok(n)
}
