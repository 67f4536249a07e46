//! `Buffer` against a `Vec<u8>` model over random sequences of every
//! operation, with chains full of empty, shared, sliced and file-backed
//! pieces (libevent's "with_empty" regressions as a property).

use std::fs::File;
use std::io::{IoSlice, Write as _};
use std::sync::{Arc, OnceLock};

use bytes::{Buf, Bytes};
use evloop_buffer::{Buffer, Eol};
use proptest::prelude::*;

mod common;

/// Few distinct bytes, so that searches and line ends hit often.
const ALPHABET: &[u8] = b"ab\r\n\0";
const STYLES: [Eol; 4] = [Eol::CrlfStrict, Eol::CrlfOrLf, Eol::Lf, Eol::Nul];
const FILE_LEN: usize = 4096;

/// One shared, already unlinked file whose bytes come from `ALPHABET`.
fn data_file() -> &'static (Arc<File>, Vec<u8>) {
    static FILE: OnceLock<(Arc<File>, Vec<u8>)> = OnceLock::new();
    FILE.get_or_init(|| {
        let mut x = 0x2545_f491_u32;
        let data: Vec<u8> = (0..FILE_LEN)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                ALPHABET[(x >> 16) as usize % ALPHABET.len()]
            })
            .collect();
        (common::temp_file("model", &data), data)
    })
}

#[derive(Debug, Clone)]
enum Piece {
    Copy(Vec<u8>),
    /// `Bytes` of the vector sliced to `[a, b)` (clamped; often empty).
    Shared(Vec<u8>, usize, usize),
    File(usize, usize),
}

#[derive(Debug, Clone)]
enum Op {
    Add(Piece),
    Prepend(Vec<u8>),
    PrependBytes(Vec<u8>),
    AppendBuffer(Vec<Piece>),
    PrependBuffer(Vec<Piece>),
    SplitToBuffer(usize),
    Drain(usize),
    Remove(usize),
    CopyOutAt(usize, usize),
    Peek(usize),
    Pullup(usize),
    SplitTo(usize),
    Find(Vec<u8>),
    FindIn(Vec<u8>, usize, usize),
    /// Needle cut from the contents around chunk boundary `.0` (`.1` bytes
    /// before it, `.2` after), so that matches straddling chunks are common.
    FindSpanning(usize, usize, usize),
    FindEol(Eol, usize),
    /// `find_eol` starting exactly at the `.1`-th LF, where a CR before the
    /// start must not count.
    FindEolAtLf(Eol, usize),
    ReadLine(Eol),
    ReserveCommit(usize, usize, u8),
    FillWith(usize, usize, u8),
    BufAdvance(usize),
    BufChunk,
    CopyToBytes(usize),
    WriteFmt(u16),
    LoadFiles,
    Clear,
}

fn bytes_strategy(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 0..max)
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        bytes_strategy(24).prop_map(Piece::Copy),
        (bytes_strategy(24), 0..24usize, 0..24usize).prop_map(|(v, a, b)| Piece::Shared(v, a, b)),
        Just(Piece::Shared(Vec::new(), 0, 0)),
        (0..FILE_LEN, 0..40usize).prop_map(|(o, l)| Piece::File(o, l)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let n = || 0..72usize;
    let style = prop::sample::select(STYLES.to_vec());
    prop_oneof![
        6 => piece().prop_map(Op::Add),
        1 => bytes_strategy(16).prop_map(Op::Prepend),
        1 => bytes_strategy(16).prop_map(Op::PrependBytes),
        1 => prop::collection::vec(piece(), 0..5).prop_map(Op::AppendBuffer),
        1 => prop::collection::vec(piece(), 0..5).prop_map(Op::PrependBuffer),
        1 => n().prop_map(Op::SplitToBuffer),
        1 => n().prop_map(Op::Drain),
        1 => n().prop_map(Op::Remove),
        1 => (n(), n()).prop_map(|(o, l)| Op::CopyOutAt(o, l)),
        1 => (0..6usize).prop_map(Op::Peek),
        1 => n().prop_map(Op::Pullup),
        1 => n().prop_map(Op::SplitTo),
        1 => bytes_strategy(5).prop_map(Op::Find),
        1 => (bytes_strategy(4), n(), n()).prop_map(|(v, a, b)| Op::FindIn(v, a, b)),
        3 => (0..8usize, 0..20usize, 1..20usize).prop_map(|(k, a, b)| Op::FindSpanning(k, a, b)),
        1 => (style.clone(), n()).prop_map(|(s, a)| Op::FindEol(s, a)),
        1 => (style.clone(), 0..4usize).prop_map(|(s, k)| Op::FindEolAtLf(s, k)),
        2 => style.prop_map(Op::ReadLine),
        1 => (0..5000usize, 0..40usize, any::<u8>()).prop_map(|(r, c, b)| Op::ReserveCommit(r, c, b)),
        1 => (0..40usize, 0..50usize, any::<u8>()).prop_map(|(m, k, b)| Op::FillWith(m, k, b)),
        1 => n().prop_map(Op::BufAdvance),
        1 => Just(Op::BufChunk),
        1 => n().prop_map(Op::CopyToBytes),
        1 => any::<u16>().prop_map(Op::WriteFmt),
        1 => Just(Op::LoadFiles),
        1 => Just(Op::Clear),
    ]
}

/// Applies `p` to both the buffer and the model.
fn add_piece(buf: &mut Buffer, model: &mut Vec<u8>, p: &Piece) {
    match p {
        Piece::Copy(v) => {
            buf.add(v);
            model.extend_from_slice(v);
        }
        Piece::Shared(v, a, b) => {
            let b = (*b).min(v.len());
            let a = (*a).min(b);
            buf.add_bytes(Bytes::from(v.clone()).slice(a..b));
            model.extend_from_slice(&v[a..b]);
        }
        Piece::File(o, l) => {
            let (file, data) = data_file();
            let l = (*l).min(FILE_LEN - o);
            buf.add_file(Arc::clone(file), *o as u64, l as u64).unwrap();
            model.extend_from_slice(&data[*o..o + l]);
        }
    }
}

fn build(pieces: &[Piece]) -> (Buffer, Vec<u8>) {
    let (mut buf, mut model) = (Buffer::new(), Vec::new());
    for p in pieces {
        add_piece(&mut buf, &mut model, p);
    }
    (buf, model)
}

fn model_find(model: &[u8], needle: &[u8], start: usize, end: usize) -> Option<usize> {
    let end = end.min(model.len());
    if start > end || end - start < needle.len() {
        return None;
    }
    (start..=end - needle.len()).find(|&p| &model[p..p + needle.len()] == needle)
}

fn model_eol(model: &[u8], style: Eol, start: usize) -> Option<(usize, usize)> {
    let lf = |b: u8| (start..model.len()).find(|&p| model[p] == b);
    match style {
        Eol::Lf => lf(b'\n').map(|p| (p, 1)),
        Eol::Nul => lf(0).map(|p| (p, 1)),
        Eol::CrlfStrict => model_find(model, b"\r\n", start, model.len()).map(|p| (p, 2)),
        Eol::CrlfOrLf => lf(b'\n').map(|p| {
            if p > start && model[p - 1] == b'\r' {
                (p - 1, 2)
            } else {
                (p, 1)
            }
        }),
    }
}

/// Checks `buf` against `model` through several read paths, each on a clone
/// so that reading file segments does not change what later steps see.
fn check(buf: &Buffer, model: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(buf.len(), model.len());
    prop_assert_eq!(buf.is_empty(), model.is_empty());

    let copy = buf.clone();
    let mut all = vec![0; model.len() + 3];
    prop_assert_eq!(copy.copy_out_at(0, &mut all), model.len());
    prop_assert_eq!(&all[..model.len()], model);

    let copy = buf.clone();
    let mut slots = vec![IoSlice::new(&[]); copy.chunk_count() + 2];
    let used = copy.peek(&mut slots);
    prop_assert_eq!(used, copy.chunk_count());
    prop_assert!(slots[..used].iter().all(|s| !s.is_empty()), "empty slice");
    let joined: Vec<u8> = slots[..used]
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    prop_assert_eq!(&joined, model);

    let mut copy = buf.clone();
    let mut via_buf = Vec::new();
    while copy.has_remaining() {
        let c = copy.chunk();
        prop_assert!(
            !c.is_empty(),
            "Buf::chunk empty with {} remaining",
            copy.remaining()
        );
        via_buf.extend_from_slice(c);
        let n = c.len();
        copy.advance(n);
    }
    prop_assert_eq!(&via_buf, model);
    prop_assert!(copy.chunk().is_empty());
    Ok(())
}

fn run(ops: &[Op], start: &[Piece]) -> Result<(), TestCaseError> {
    let (mut buf, mut model) = build(start);
    check(&buf, &model)?;
    for op in ops {
        match op {
            Op::Add(p) => add_piece(&mut buf, &mut model, p),
            Op::Prepend(v) => {
                buf.prepend(v);
                model.splice(0..0, v.iter().copied());
            }
            Op::PrependBytes(v) => {
                buf.prepend_bytes(Bytes::from(v.clone()));
                model.splice(0..0, v.iter().copied());
            }
            Op::AppendBuffer(pieces) => {
                let (mut other, m) = build(pieces);
                buf.append_buffer(&mut other);
                model.extend_from_slice(&m);
                check(&other, &[])?;
                // The emptied buffer must still work.
                other.add(b"x");
                check(&other, b"x")?;
            }
            Op::PrependBuffer(pieces) => {
                let (mut other, m) = build(pieces);
                buf.prepend_buffer(&mut other);
                model.splice(0..0, m);
                check(&other, &[])?;
            }
            Op::SplitToBuffer(n) => {
                let front = buf.split_to_buffer(*n);
                let k = (*n).min(model.len());
                let m: Vec<u8> = model.drain(..k).collect();
                check(&front, &m)?;
            }
            Op::Drain(n) => {
                buf.drain(*n);
                model.drain(..(*n).min(model.len()));
            }
            Op::Remove(n) => {
                let mut out = vec![0xEE; *n];
                let k = buf.remove(&mut out);
                let m: Vec<u8> = model.drain(..(*n).min(model.len())).collect();
                prop_assert_eq!(&out[..k], &m[..]);
                prop_assert!(out[k..].iter().all(|&b| b == 0xEE));
            }
            Op::CopyOutAt(o, n) => {
                let mut out = vec![0xEE; *n];
                let k = buf.copy_out_at(*o, &mut out);
                let want = model.get(*o..).map_or(&[][..], |m| &m[..m.len().min(*n)]);
                prop_assert_eq!(&out[..k], want);
            }
            Op::Peek(slots) => {
                let mut out = vec![IoSlice::new(&[]); *slots];
                let k = buf.peek(&mut out);
                prop_assert_eq!(k, (*slots).min(buf.chunk_count()));
                let joined: Vec<u8> = out[..k].iter().flat_map(|s| s.iter().copied()).collect();
                prop_assert!(out[..k].iter().all(|s| !s.is_empty()));
                prop_assert_eq!(&joined[..], &model[..joined.len()]);
            }
            Op::Pullup(n) => {
                let k = (*n).min(model.len());
                prop_assert_eq!(buf.pullup(*n), &model[..k]);
                // Now contiguous: the first chunk holds at least k bytes.
                prop_assert!(buf.chunk().len() >= k);
            }
            Op::SplitTo(n) => {
                let b = buf.split_to(*n);
                let m: Vec<u8> = model.drain(..(*n).min(model.len())).collect();
                prop_assert_eq!(&b[..], &m[..]);
            }
            Op::Find(needle) => {
                prop_assert_eq!(buf.find(needle), model_find(&model, needle, 0, usize::MAX));
            }
            Op::FindIn(needle, a, b) => {
                prop_assert_eq!(
                    buf.find_in(needle, *a..*b),
                    model_find(&model, needle, *a, *b)
                );
            }
            Op::FindSpanning(k, before, after) => {
                let mut slots = vec![IoSlice::new(&[]); buf.chunk_count()];
                let snapshot = buf.clone();
                let used = snapshot.peek(&mut slots);
                let mut at = 0;
                let bounds: Vec<usize> = slots[..used]
                    .iter()
                    .map(|s| {
                        at += s.len();
                        at
                    })
                    .collect();
                if let Some(&b) = bounds.get(k % bounds.len().max(1)) {
                    let needle =
                        model[b.saturating_sub(*before)..(b + after).min(model.len())].to_vec();
                    prop_assert_eq!(
                        buf.find(&needle),
                        model_find(&model, &needle, 0, usize::MAX)
                    );
                    let lo = b.saturating_sub(*before + 1);
                    prop_assert_eq!(
                        buf.find_in(&needle, lo..b + after),
                        model_find(&model, &needle, lo, b + after)
                    );
                }
            }
            Op::FindEolAtLf(style, k) => {
                if let Some(start) = model
                    .iter()
                    .enumerate()
                    .filter(|(_, &b)| b == b'\n')
                    .map(|(i, _)| i)
                    .nth(*k)
                {
                    prop_assert_eq!(
                        buf.find_eol(*style, start),
                        model_eol(&model, *style, start)
                    );
                }
            }
            Op::FindEol(style, start) => {
                prop_assert_eq!(
                    buf.find_eol(*style, *start),
                    model_eol(&model, *style, *start)
                );
            }
            Op::ReadLine(style) => {
                let got = buf.read_line(*style);
                match model_eol(&model, *style, 0) {
                    Some((p, l)) => {
                        prop_assert_eq!(got.as_deref(), Some(&model[..p]));
                        model.drain(..p + l);
                    }
                    None => prop_assert_eq!(got, None),
                }
            }
            Op::ReserveCommit(r, c, byte) => {
                let spare = buf.reserve(*r);
                prop_assert!(spare.len() >= *r);
                let k = (*c).min(spare.len());
                for slot in &mut spare[..k] {
                    slot.write(*byte);
                }
                // SAFETY: the k bytes were just written, right after reserve.
                unsafe { buf.commit(k) };
                model.extend(std::iter::repeat_n(*byte, k));
            }
            Op::FillWith(max, k, byte) => {
                let n = buf.fill_with(*max, |space| {
                    assert_eq!(space.len(), *max);
                    assert!(space.iter().all(|&b| b == 0), "fill_with space not zeroed");
                    space.fill(*byte);
                    *k
                });
                prop_assert_eq!(n, (*k).min(*max));
                model.extend(std::iter::repeat_n(*byte, n));
            }
            Op::BufAdvance(n) => {
                let n = n % (model.len() + 1);
                buf.advance(n);
                model.drain(..n);
            }
            Op::BufChunk => {
                let c = buf.chunk();
                prop_assert!(!c.is_empty() || model.is_empty());
                prop_assert_eq!(c, &model[..c.len()]);
            }
            Op::CopyToBytes(n) => {
                let n = n % (model.len() + 1);
                let b = buf.copy_to_bytes(n);
                prop_assert_eq!(&b[..], &model[..n]);
                model.drain(..n);
            }
            Op::WriteFmt(x) => {
                if x % 2 == 0 {
                    std::fmt::Write::write_fmt(&mut buf, format_args!("<{x}>")).unwrap();
                } else {
                    buf.add_fmt(format_args!("<{x}>"));
                }
                write!(model, "<{x}>").unwrap();
            }
            Op::LoadFiles => buf.load_files().unwrap(),
            Op::Clear => {
                buf.clear();
                model.clear();
            }
        }
        check(&buf, &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 4 } else { 384 }, ..ProptestConfig::default() })]

    #[test]
    fn buffer_matches_vec_model(
        start in prop::collection::vec(piece(), 0..8),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(&ops, &start)?;
    }
}

#[test]
fn buffer_is_send_and_sync() {
    fn assert<T: Send + Sync + Default + std::fmt::Debug>() {}
    assert::<Buffer>();
}

#[test]
fn split_to_is_zero_copy_within_one_chunk() {
    let whole = Bytes::from_static(b"hello world");
    let mut buf = Buffer::new();
    buf.add_bytes(whole.clone());
    let hello = buf.split_to(5);
    assert_eq!(hello.as_ptr(), whole.as_ptr());
    assert_eq!(buf.chunk().as_ptr(), whole[5..].as_ptr());

    // From the tail too.
    let mut buf = Buffer::new();
    buf.add(b"abcdef");
    let tail_ptr = buf.chunk().as_ptr();
    assert_eq!(buf.split_to(3).as_ptr(), tail_ptr);
}

#[test]
fn pullup_joins_once_then_is_free() {
    let mut buf = Buffer::new();
    for part in [&b"ab"[..], b"", b"cd", b"", b"ef"] {
        buf.add_bytes(Bytes::copy_from_slice(part));
    }
    buf.add(b"gh");
    assert_eq!(buf.chunk_count(), 4);
    let p = buf.pullup(7).as_ptr();
    assert_eq!(buf.chunk_count(), 2);
    assert_eq!(buf.pullup(7).as_ptr(), p);
    assert_eq!(buf.pullup(100), b"abcdefgh");
}

#[test]
fn moving_between_buffers_does_not_copy() {
    let data = Bytes::from_static(b"0123456789");
    let mut a = Buffer::new();
    a.add_bytes(data.clone());
    let mut b = a.split_to_buffer(4);
    assert_eq!(b.chunk().as_ptr(), data.as_ptr());
    assert_eq!(a.chunk().as_ptr(), data[4..].as_ptr());
    b.append_buffer(&mut a);
    assert!(a.is_empty());
    assert_eq!(b.split_to(usize::MAX), "0123456789");
}

#[test]
fn debug_shows_shape_not_data() {
    let mut buf = Buffer::new();
    buf.add(b"secret");
    let s = format!("{buf:?}");
    assert!(s.contains("len: 6") && !s.contains("secret"), "{s}");
}

#[test]
fn load_files_reports_a_truncated_file() {
    let f = common::temp_file("trunc", &[7; 100]);
    let mut buf = Buffer::new();
    buf.add(b"head");
    buf.add_file(Arc::clone(&f), 10, 50).unwrap();
    assert!(
        buf.add_file(Arc::clone(&f), 60, 41).is_err(),
        "past the end"
    );
    f.set_len(20).unwrap();
    let err = buf.load_files().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    assert_eq!(buf.len(), 54, "nothing lost on error");
    assert_eq!(buf.split_to(4), "head");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| buf.find(b"x")));
    assert!(
        caught.is_err(),
        "byte access to an unreadable segment panics"
    );
}

#[test]
fn only_segments_in_range_are_read() {
    let f = common::temp_file("range", &[b'x'; 64]);
    let mut buf = Buffer::new();
    buf.add_bytes(Bytes::from_static(b"ab"));
    buf.add_file(Arc::clone(&f), 0, 50).unwrap();
    buf.add(b"cd\r\nef");
    // Reading the segment would now fail (and panic).
    f.set_len(0).unwrap();
    assert_eq!(buf.find_in(b"ef", 52..58), Some(56));
    assert_eq!(buf.find_in(b"ab", 0..2), Some(0));
    assert_eq!(buf.find_eol(Eol::CrlfStrict, 52), Some((54, 2)));
    let mut out = [0; 4];
    assert_eq!(buf.copy_out_at(52, &mut out), 4);
    assert_eq!(&out, b"cd\r\n");
    let mut front = buf.split_to_buffer(30);
    front.drain(2);
    assert_eq!((front.len(), buf.len()), (28, 28));
}
