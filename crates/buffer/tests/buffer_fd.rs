//! `read_from` / `write_to` / `add_file` over pipes, socketpairs and files.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use bytes::Bytes;
use evloop_buffer::Buffer;

mod common;
use common::{temp_file, temp_path};

/// Deterministic, position-dependent bytes, so misordering shows.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A non-blocking pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two c_ints for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// A socketpair with both ends non-blocking.
fn socketpair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn set_sockopt(s: &UnixStream, opt: libc::c_int, value: libc::c_int) {
    // SAFETY: the fd is an open socket and the option value points to a live
    // c_int whose size is passed alongside.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// Everything readable from a non-blocking `r` right now.
fn read_all_available(r: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = vec![0; 1 << 16];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Writes the whole buffer to `w`, reading the other end `r` whenever `w`
/// is full; returns what arrived and the sizes of the write_to calls.
fn pump(
    buf: &mut Buffer,
    w: std::os::fd::BorrowedFd<'_>,
    r: &mut impl Read,
) -> (Vec<u8>, Vec<usize>) {
    let (mut got, mut calls) = (Vec::new(), Vec::new());
    while !buf.is_empty() {
        let before = buf.len();
        match buf.write_to(w, usize::MAX) {
            Ok(n) => {
                assert!(n > 0);
                assert_eq!(buf.len(), before - n, "drains exactly what was written");
                calls.push(n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert_eq!(buf.len(), before, "nothing drained on WouldBlock");
                let more = read_all_available(r);
                assert!(!more.is_empty(), "WouldBlock with an empty pipe");
                got.extend(more);
            }
            Err(e) => panic!("write_to: {e}"),
        }
    }
    got.extend(read_all_available(r));
    (got, calls)
}

#[test]
fn writev_takes_up_to_iov_max_chunks_in_one_call() {
    let mut buf = Buffer::new();
    let mut expect = Vec::new();
    let mut lens = Vec::new();
    for i in 0..3000 {
        let piece = pattern(4 + i % 29, i as u32);
        expect.extend_from_slice(&piece);
        lens.push(piece.len());
        buf.add_bytes(Bytes::from(piece));
    }
    buf.add(b"tail");
    expect.extend_from_slice(b"tail");
    let (r, w) = pipe();
    let mut r = File::from(r);
    let (got, calls) = pump(&mut buf, w.as_fd(), &mut r);
    assert_eq!(got, expect);
    // The first call gathers exactly IOV_MAX (1024) chunks (about 18 KiB,
    // which a fresh pipe takes whole).
    assert_eq!(calls[0], lens[..1024].iter().sum::<usize>(), "{calls:?}");
    assert!(calls.len() <= 4, "{calls:?}");
}

#[test]
fn write_to_honours_max_mid_chunk() {
    let mut buf = Buffer::new();
    buf.add_bytes(Bytes::from_static(b"abcd"));
    buf.add_bytes(Bytes::from_static(b"efgh"));
    buf.add(b"ijkl");
    let (r, w) = pipe();
    let mut r = File::from(r);
    assert_eq!(buf.write_to(w.as_fd(), 6).unwrap(), 6);
    assert_eq!(buf.write_to(w.as_fd(), 5).unwrap(), 5);
    assert_eq!(buf.write_to(w.as_fd(), 0).unwrap(), 0);
    assert_eq!(read_all_available(&mut r), b"abcdefghijk");
    assert_eq!(buf.split_to(usize::MAX), "l");
    assert_eq!(buf.write_to(w.as_fd(), 100).unwrap(), 0, "empty buffer");
}

#[test]
fn read_from_regular_file_takes_more_than_64k_in_one_call() {
    let data = pattern(300 * 1024, 7);
    let file = temp_file("bigread", &data);
    (&*file).seek(SeekFrom::Start(0)).unwrap();
    let fd = file.as_fd();
    let mut buf = Buffer::new();
    // Some bytes already in the tail, so the read spans its spare capacity
    // and a second block.
    buf.add(b"0123456789");
    let n = buf.read_from(fd, usize::MAX).unwrap();
    assert_eq!(n, Buffer::DEFAULT_MAX_READ);
    assert!(n > 64 * 1024);
    let n2 = buf.read_from(fd, 1000).unwrap();
    assert_eq!(n2, 1000, "max caps the read");
    buf.set_max_read(5000);
    assert_eq!(buf.read_from(fd, usize::MAX).unwrap(), 5000);
    buf.set_max_read(usize::MAX);
    assert_eq!(buf.max_read(), Buffer::MAX_READ_LIMIT);
    let mut total = 10 + n + n2 + 5000;
    loop {
        match buf.read_from(fd, usize::MAX).unwrap() {
            0 => break,
            k => total += k,
        }
    }
    assert_eq!(total, 10 + data.len());
    assert_eq!(buf.split_to(10), "0123456789");

    // Into an empty buffer a read lands in one block.
    (&*file).seek(SeekFrom::Start(0)).unwrap();
    let mut fresh = Buffer::new();
    assert_eq!(
        fresh.read_from(fd, usize::MAX).unwrap(),
        Buffer::DEFAULT_MAX_READ
    );
    assert_eq!(fresh.chunk_count(), 1);
    let mut all = vec![0; buf.len()];
    assert_eq!(buf.remove(&mut all), data.len());
    assert!(all == data, "contents differ");
}

#[test]
fn read_from_socket_takes_more_than_64k_when_available() {
    let (r, mut w) = socketpair();
    set_sockopt(&w, libc::SO_SNDBUF, 1 << 20);
    set_sockopt(&r, libc::SO_RCVBUF, 1 << 20);
    let data = pattern(400 * 1024, 3);
    let mut sent = 0;
    while sent < data.len() {
        match w.write(&data[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(sent > 100 * 1024, "socket took only {sent} bytes");
    let mut buf = Buffer::new();
    let n = buf.read_from(r.as_fd(), usize::MAX).unwrap();
    assert!(n > 64 * 1024, "one read_from took only {n} of {sent} bytes");
    assert_eq!(n, sent.min(Buffer::DEFAULT_MAX_READ));
    let mut got = vec![0; n];
    buf.copy_out_at(0, &mut got);
    assert!(got == data[..n], "contents differ");
}

#[test]
fn would_block_and_eof_are_passed_through() {
    let (r, w) = socketpair();
    let mut buf = Buffer::new();
    buf.add(b"keep");
    let e = buf.read_from(r.as_fd(), 4096).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert_eq!(buf.split_to(usize::MAX), "keep");
    assert_eq!(
        buf.read_from(r.as_fd(), 0).unwrap(),
        0,
        "max 0 reads nothing"
    );

    // Fill the socket, then a write must report WouldBlock and keep data.
    set_sockopt(&w, libc::SO_SNDBUF, 4096);
    let big = pattern(1 << 20, 9);
    buf.add(&big);
    let mut written = 0;
    let e = loop {
        match buf.write_to(w.as_fd(), usize::MAX) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert_eq!(buf.len(), big.len() - written);
    assert!(written < big.len());

    drop(w);
    let mut buf = Buffer::new();
    let mut n = 0;
    loop {
        match buf.read_from(r.as_fd(), usize::MAX) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(n, written, "everything written arrives before EOF");
    assert_eq!(
        buf.read_from(r.as_fd(), usize::MAX).unwrap(),
        0,
        "EOF again"
    );
}

#[test]
fn file_segments_go_to_a_socket_with_sendfile_in_order() {
    let data = pattern(200_000, 11);
    let file = temp_file("sendfile", &data);
    let mut buf = Buffer::new();
    buf.add(b"head:");
    buf.add_file(Arc::clone(&file), 1000, 150_000).unwrap();
    buf.add_bytes(Bytes::from_static(b":middle:"));
    buf.add_file(Arc::clone(&file), 7, 10).unwrap();
    buf.add(b":end");
    let mut expect = b"head:".to_vec();
    expect.extend_from_slice(&data[1000..151_000]);
    expect.extend_from_slice(b":middle:");
    expect.extend_from_slice(&data[7..17]);
    expect.extend_from_slice(b":end");
    assert_eq!(buf.len(), expect.len());

    let (mut r, w) = socketpair();
    let (got, calls) = pump(&mut buf, w.as_fd(), &mut r);
    assert!(got == expect, "bytes differ or are out of order");
    // writev stops before the unread segment, which goes out on its own.
    assert_eq!(calls[0], 5, "{calls:?}");
    assert!(calls[1] <= 150_000, "{calls:?}");
}

#[test]
fn segment_falls_back_to_pread_write_where_sendfile_is_refused() {
    let data = pattern(100_000, 5);
    let file = temp_file("fallback-src", &data);
    let path = temp_path("fallback-dst");
    let out = File::options()
        .create_new(true)
        .append(true)
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();

    // The premise: Linux refuses sendfile into an O_APPEND file.
    let mut off: libc::off_t = 0;
    // SAFETY: both fds are open; off is a live local.
    let r = unsafe { libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut off, 10) };
    assert_eq!(r, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EINVAL)
    );

    let mut buf = Buffer::new();
    buf.add(b"<");
    buf.add_file(Arc::clone(&file), 333, 99_000).unwrap();
    buf.add(b">");
    let mut calls = Vec::new();
    while !buf.is_empty() {
        calls.push(buf.write_to(out.as_fd(), usize::MAX).unwrap());
    }
    let mut got = Vec::new();
    File::open(format!("/proc/self/fd/{}", out.as_raw_fd()))
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    let mut expect = b"<".to_vec();
    expect.extend_from_slice(&data[333..99_333]);
    expect.push(b'>');
    assert!(got == expect, "contents differ");
    assert!(calls.iter().all(|&n| n <= 64 * 1024), "{calls:?}");
}

#[test]
fn file_segment_to_a_pipe() {
    let data = pattern(150_000, 8);
    let file = temp_file("pipe-src", &data);
    let mut buf = Buffer::new();
    buf.add_file(Arc::clone(&file), 12_345, 120_000).unwrap();
    let (r, w) = pipe();
    let mut r = File::from(r);
    let (got, _) = pump(&mut buf, w.as_fd(), &mut r);
    assert!(got == data[12_345..132_345], "contents differ");
}

#[test]
fn partial_writes_keep_the_rest_in_order() {
    let data = pattern(300_000, 21);
    let file = temp_file("partial", &data);
    let (mut r, w) = socketpair();
    set_sockopt(&w, libc::SO_SNDBUF, 4096);
    let mut buf = Buffer::new();
    let mut expect = Vec::new();
    for i in 0..200u32 {
        let p = pattern(100 + i as usize * 7, i);
        expect.extend_from_slice(&p);
        if i % 3 == 0 {
            buf.add(&p);
        } else {
            buf.add_bytes(Bytes::from(p));
        }
        if i % 50 == 0 {
            let off = i as usize * 1000;
            buf.add_file(Arc::clone(&file), off as u64, 40_000).unwrap();
            expect.extend_from_slice(&data[off..off + 40_000]);
        }
    }
    let total = buf.len();
    assert_eq!(total, expect.len());
    let first = buf.write_to(w.as_fd(), usize::MAX).unwrap();
    assert!(first < total);
    assert_eq!(buf.len(), total - first);
    // pump also collects the bytes of that first write, still in the socket.
    let (got, calls) = pump(&mut buf, w.as_fd(), &mut r);
    assert!(
        calls.len() > 10,
        "small socket buffer forces many partial writes"
    );
    assert_eq!(got.len(), total);
    assert!(got == expect, "bytes lost or reordered");
}

#[test]
fn loaded_segments_are_written_from_memory_with_their_neighbours() {
    let data = pattern(5000, 4);
    let file = temp_file("loaded", &data);
    let mut buf = Buffer::new();
    buf.add_file(Arc::clone(&file), 100, 1000).unwrap();
    buf.add(b"after");
    let needle = data[500..504].to_vec();
    assert_eq!(buf.find(&needle).map(|p| p <= 400), Some(true));
    let (r, w) = pipe();
    let mut r = File::from(r);
    assert_eq!(
        buf.write_to(w.as_fd(), usize::MAX).unwrap(),
        1005,
        "one writev"
    );
    let got = read_all_available(&mut r);
    assert_eq!(&got[..1000], &data[100..1100]);
    assert_eq!(&got[1000..], b"after");
}

#[test]
fn add_file_checks_its_arguments() {
    let file = temp_file("args", &[1; 100]);
    let mut buf = Buffer::new();
    buf.add_file(Arc::clone(&file), 100, 0).unwrap();
    assert!(buf.is_empty(), "empty segment adds nothing");
    let e = buf.add_file(Arc::clone(&file), 50, 51).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = buf.add_file(Arc::clone(&file), u64::MAX, 2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let (r, _w) = pipe();
    let e = buf.add_file(Arc::new(File::from(r)), 0, 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "not a regular file");
    buf.add_file(file, 0, 100).unwrap();
    assert_eq!(buf.len(), 100);
}

#[test]
fn a_truncated_file_is_an_error_not_lost_bytes() {
    let data = pattern(10_000, 2);
    let file = temp_file("truncated", &data);
    let mut buf = Buffer::new();
    buf.add_file(Arc::clone(&file), 0, 10_000).unwrap();
    file.set_len(0).unwrap();
    let (_r, w) = pipe();
    let e = buf.write_to(w.as_fd(), usize::MAX).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
    assert_eq!(buf.len(), 10_000);
}
