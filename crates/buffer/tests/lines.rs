//! Line reading: line ends split across chunks and across reads, for every
//! `Eol` style.

use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use bytes::Bytes;
use evloop_buffer::{Buffer, Eol};

const STYLES: [Eol; 4] = [Eol::CrlfStrict, Eol::CrlfOrLf, Eol::Lf, Eol::Nul];

/// A non-blocking pipe: (read end, write end).
fn pipe() -> (OwnedFd, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two c_ints for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    unsafe {
        (
            OwnedFd::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

/// A non-blocking socketpair as (reader, writer).
fn socketpair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (a, b)
}

/// Reads from `fd` in calls of at most `max` bytes until it would block.
fn read_available(buf: &mut Buffer, fd: std::os::fd::BorrowedFd<'_>, max: usize) -> usize {
    let mut total = 0;
    loop {
        match buf.read_from(fd, max) {
            Ok(0) => panic!("unexpected EOF"),
            Ok(n) => {
                assert!(n <= max);
                total += n;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return total,
            Err(e) => panic!("read_from: {e}"),
        }
    }
}

fn all_lines(buf: &mut Buffer, style: Eol) -> Vec<String> {
    std::iter::from_fn(|| buf.read_line(style))
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect()
}

fn contents(buf: &Buffer) -> Vec<u8> {
    let mut out = vec![0; buf.len()];
    buf.copy_out_at(0, &mut out);
    out
}

const TEXT: &[u8] = b"one\r\ntwo\nthree\r\r\nfour\0five\r";

/// Expected lines of `TEXT` and what stays buffered, per style.
fn expected(style: Eol) -> (Vec<&'static str>, &'static [u8]) {
    match style {
        Eol::CrlfStrict => (vec!["one", "two\nthree\r"], b"four\0five\r"),
        Eol::CrlfOrLf => (vec!["one", "two", "three\r"], b"four\0five\r"),
        Eol::Lf => (vec!["one\r", "two", "three\r\r"], b"four\0five\r"),
        Eol::Nul => (vec!["one\r\ntwo\nthree\r\r\nfour"], b"five\r"),
    }
}

#[test]
fn every_style_on_one_contiguous_chunk() {
    for style in STYLES {
        let mut buf = Buffer::new();
        buf.add(TEXT);
        let (lines, rest) = expected(style);
        assert_eq!(all_lines(&mut buf, style), lines, "{style:?}");
        assert_eq!(contents(&buf), rest, "{style:?}");
    }
}

#[test]
fn line_ends_split_across_chunk_boundaries() {
    for style in STYLES {
        for piece in 1..=4 {
            // Every piece its own chunk, with empty chunks between them and
            // a tail at the end, so every CR|LF pair lands on a boundary for
            // some piece size.
            let mut buf = Buffer::new();
            let mut parts = TEXT.chunks(piece).peekable();
            while let Some(p) = parts.next() {
                if parts.peek().is_none() {
                    buf.add(p);
                } else {
                    buf.add_bytes(Bytes::copy_from_slice(p));
                    buf.add_bytes(Bytes::new());
                }
            }
            let (lines, rest) = expected(style);
            assert_eq!(all_lines(&mut buf, style), lines, "{style:?} piece {piece}");
            assert_eq!(contents(&buf), rest, "{style:?} piece {piece}");
        }
    }
}

#[test]
fn crlf_strict_does_not_accept_a_lone_lf() {
    let mut buf = Buffer::new();
    buf.add(b"a\nb\n");
    assert_eq!(buf.read_line(Eol::CrlfStrict), None);
    assert_eq!(buf.find_eol(Eol::CrlfStrict, 0), None);
    buf.add(b"c\r\n");
    assert_eq!(buf.read_line(Eol::CrlfStrict).unwrap(), "a\nb\nc");
    assert!(buf.is_empty());
}

#[test]
fn a_lone_cr_at_the_end_is_not_a_line_yet() {
    for style in [Eol::CrlfStrict, Eol::CrlfOrLf] {
        let mut buf = Buffer::new();
        buf.add(b"abc\r");
        assert_eq!(buf.read_line(style), None, "{style:?}");
        assert_eq!(buf.len(), 4, "nothing drained");
        buf.add(b"\n");
        assert_eq!(buf.read_line(style).unwrap(), "abc", "{style:?}");
        assert!(buf.is_empty());
    }
    // A CR inside a line is content for the lenient styles.
    let mut buf = Buffer::new();
    buf.add(b"a\rb\n");
    assert_eq!(buf.read_line(Eol::CrlfOrLf).unwrap(), "a\rb");
}

#[test]
fn find_eol_gives_position_and_length() {
    let mut buf = Buffer::new();
    buf.add(b"ab\r\ncd\n\0");
    assert_eq!(buf.find_eol(Eol::CrlfStrict, 0), Some((2, 2)));
    assert_eq!(buf.find_eol(Eol::CrlfStrict, 3), None);
    assert_eq!(buf.find_eol(Eol::CrlfOrLf, 0), Some((2, 2)));
    // Starting on the LF: the CR before the start does not count.
    assert_eq!(buf.find_eol(Eol::CrlfOrLf, 3), Some((3, 1)));
    assert_eq!(buf.find_eol(Eol::CrlfOrLf, 4), Some((6, 1)));
    assert_eq!(buf.find_eol(Eol::Lf, 0), Some((3, 1)));
    assert_eq!(buf.find_eol(Eol::Nul, 0), Some((7, 1)));
    assert_eq!(buf.find_eol(Eol::Nul, 8), None);
    assert_eq!(buf.find_eol(Eol::Lf, 100), None);
}

/// Sends "abc\r", reads, then "\n..." and reads again: the CR and the LF
/// arrive in different `read_from` calls.
fn cr_then_lf_across_reads(reader: std::os::fd::BorrowedFd<'_>, writer: &mut dyn Write) {
    for style in STYLES {
        let mut buf = Buffer::new();
        writer.write_all(b"abc\r").unwrap();
        assert_eq!(read_available(&mut buf, reader, usize::MAX), 4);
        assert_eq!(buf.read_line(style), None, "{style:?} before the LF");
        writer.write_all(b"\nnext\0").unwrap();
        assert_eq!(read_available(&mut buf, reader, usize::MAX), 6);
        let line = buf.read_line(style);
        let want: &[u8] = match style {
            Eol::CrlfStrict | Eol::CrlfOrLf => b"abc",
            Eol::Lf => b"abc\r",
            Eol::Nul => b"abc\r\nnext",
        };
        assert_eq!(line.as_deref(), Some(want), "{style:?}");
    }
}

#[test]
fn cr_and_lf_in_different_reads_over_a_socketpair() {
    let (reader, mut writer) = socketpair();
    cr_then_lf_across_reads(reader.as_fd(), &mut writer);
}

#[test]
fn cr_and_lf_in_different_reads_over_a_pipe() {
    let (reader, mut writer) = pipe();
    cr_then_lf_across_reads(reader.as_fd(), &mut writer);
}

/// Many lines, with the style's line end (CrlfOrLf alternates both forms).
fn many_lines(style: Eol) -> (Vec<String>, Vec<u8>) {
    let lines: Vec<String> = (0..200)
        .map(|i| format!("line {i} {}", "x".repeat(i % 13)))
        .collect();
    let mut text = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        text.extend_from_slice(l.as_bytes());
        text.extend_from_slice(match style {
            Eol::CrlfStrict => b"\r\n",
            Eol::CrlfOrLf if i % 2 == 0 => b"\r\n",
            Eol::CrlfOrLf | Eol::Lf => b"\n",
            Eol::Nul => b"\0",
        });
    }
    (lines, text)
}

#[test]
fn lines_fed_through_a_pipe_in_small_reads() {
    for style in STYLES {
        for max in [1, 2, 3, 7, 64] {
            let (lines, text) = many_lines(style);
            let (reader, mut writer) = pipe();
            writer.write_all(&text).unwrap();
            let mut buf = Buffer::new();
            let mut got = Vec::new();
            // One read_from at a time, taking lines whenever some are whole.
            loop {
                match buf.read_from(reader.as_fd(), max) {
                    Ok(n) => assert!(n > 0 && n <= max),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
                got.extend(all_lines(&mut buf, style));
            }
            assert_eq!(got, lines, "{style:?} max {max}");
            assert!(buf.is_empty());
            drop(writer);
            assert_eq!(buf.read_from(reader.as_fd(), max).unwrap(), 0, "EOF");
        }
    }
}

#[test]
fn lines_written_byte_by_byte_over_a_socketpair() {
    for style in STYLES {
        let (lines, text) = many_lines(style);
        let (reader, mut writer) = socketpair();
        let mut buf = Buffer::new();
        let mut got = Vec::new();
        for b in &text {
            writer.write_all(std::slice::from_ref(b)).unwrap();
            assert_eq!(read_available(&mut buf, reader.as_fd(), 4096), 1);
            got.extend(all_lines(&mut buf, style));
        }
        assert_eq!(got, lines, "{style:?}");
        assert!(buf.is_empty());
    }
}

#[test]
fn read_line_or_rest_gives_the_unterminated_rest_only_at_eof() {
    for style in STYLES {
        let mut buf = Buffer::new();
        buf.add(TEXT);
        let (mut lines, rest) = expected(style);
        let mut got = Vec::new();
        while let Some(l) = buf.read_line_or_rest(style, false) {
            got.push(String::from_utf8(l.to_vec()).unwrap());
        }
        assert_eq!(got, lines, "{style:?}: before EOF only complete lines");
        assert_eq!(contents(&buf), rest, "{style:?}");
        // At EOF the rest is the last line, partial line end and all.
        while let Some(l) = buf.read_line_or_rest(style, true) {
            got.push(String::from_utf8(l.to_vec()).unwrap());
        }
        lines.push(std::str::from_utf8(rest).unwrap());
        assert_eq!(got, lines, "{style:?}: at EOF");
        assert!(buf.is_empty());
        assert_eq!(
            buf.read_line_or_rest(style, true),
            None,
            "nothing after the end"
        );
    }
}

#[test]
fn read_line_or_rest_at_eof_prefers_complete_lines_across_chunks() {
    let mut buf = Buffer::new();
    buf.add_bytes(Bytes::from_static(b"a\r"));
    buf.add_bytes(Bytes::from_static(b"\nb"));
    buf.add(b"c");
    assert_eq!(buf.read_line_or_rest(Eol::CrlfStrict, true).unwrap(), "a");
    assert_eq!(buf.read_line_or_rest(Eol::CrlfStrict, true).unwrap(), "bc");
    assert_eq!(buf.read_line_or_rest(Eol::CrlfStrict, true), None);
}
