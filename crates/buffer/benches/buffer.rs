//! `Buffer` against `Vec<u8>` and `bytes::BytesMut` doing the same job the
//! natural way for each.
//!
//! * `append_drain`: 1024 writes of 16..=512 bytes; whenever 16 KiB are
//!   queued, 8 KiB are consumed from the front (a writer and a slower
//!   socket). Vec drains by shifting, BytesMut advances.
//! * `read_line_crlf`: 2000 CRLF header lines (about 28 bytes) arriving in
//!   4 KiB reads; every whole line is taken out after each read. Buffer and
//!   BytesMut hand out owned `Bytes`; Vec lends slices and drains once per
//!   read. The baselines search with `memchr::memmem`.
//! * `find_4byte`: a 4-byte needle straddling the last chunk boundary of
//!   64 KiB held as 64 chunks of 1 KiB; the baselines hold the same bytes
//!   contiguously and use `memchr::memmem` (and, for reference, the
//!   `windows(4)` scan a Vec user might write). `chunks_memmem_floor`
//!   runs memmem over the 64 chunks separately, ignoring boundaries: what
//!   any chunked search costs at least.
//!
//! Throughput is in elements: writes, lines or searches.
//!
//! ```text
//! cargo bench -p evloop-buffer --bench buffer -- --quick
//! ```

use std::hint::black_box;

use bytes::{Buf, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evloop_buffer::{Buffer, Eol};
use memchr::memmem;

/// Deterministic sizes in 16..=512 (xorshift32).
fn sizes(n: usize) -> Vec<usize> {
    let mut x = 0x1234_5678_u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            16 + x as usize % 497
        })
        .collect()
}

const HIGH: usize = 16 * 1024;
const CONSUME: usize = 8 * 1024;

fn append_drain(c: &mut Criterion) {
    let sizes = sizes(1024);
    let data = vec![b'x'; 512];
    let mut g = c.benchmark_group("append_drain");
    g.throughput(Throughput::Elements(sizes.len() as u64));

    let mut buf = Buffer::new();
    g.bench_function("Buffer", |b| {
        b.iter(|| {
            for &n in &sizes {
                buf.add(&data[..n]);
                if buf.len() >= HIGH {
                    buf.drain(CONSUME);
                }
            }
            buf.drain(usize::MAX);
        })
    });

    let mut v: Vec<u8> = Vec::new();
    g.bench_function("Vec", |b| {
        b.iter(|| {
            for &n in &sizes {
                v.extend_from_slice(&data[..n]);
                if v.len() >= HIGH {
                    v.drain(..CONSUME);
                }
            }
            v.clear();
        })
    });

    let mut bm = BytesMut::new();
    g.bench_function("BytesMut", |b| {
        b.iter(|| {
            for &n in &sizes {
                bm.extend_from_slice(&data[..n]);
                if bm.len() >= HIGH {
                    bm.advance(CONSUME);
                }
            }
            bm.clear();
        })
    });
    g.finish();
}

fn header_lines() -> (usize, Vec<u8>) {
    let mut text = Vec::new();
    let n = 2000;
    for i in 0..n {
        text.extend_from_slice(format!("X-Header-{i}: value {}\r\n", i * 7).as_bytes());
    }
    (n, text)
}

fn read_line_crlf(c: &mut Criterion) {
    let (lines, text) = header_lines();
    let mut g = c.benchmark_group("read_line_crlf");
    g.throughput(Throughput::Elements(lines as u64));

    let mut buf = Buffer::new();
    g.bench_function("Buffer", |b| {
        b.iter(|| {
            let mut n = 0;
            for read in text.chunks(4096) {
                buf.add(read);
                while let Some(line) = buf.read_line(Eol::CrlfStrict) {
                    black_box(line);
                    n += 1;
                }
            }
            assert_eq!(n, lines);
        })
    });

    let mut v: Vec<u8> = Vec::new();
    g.bench_function("Vec", |b| {
        let finder = memmem::Finder::new(b"\r\n");
        b.iter(|| {
            let mut n = 0;
            for read in text.chunks(4096) {
                v.extend_from_slice(read);
                let mut pos = 0;
                while let Some(i) = finder.find(&v[pos..]) {
                    black_box(&v[pos..pos + i]);
                    pos += i + 2;
                    n += 1;
                }
                v.drain(..pos);
            }
            assert_eq!(n, lines);
        })
    });

    let mut bm = BytesMut::new();
    g.bench_function("BytesMut", |b| {
        let finder = memmem::Finder::new(b"\r\n");
        b.iter(|| {
            let mut n = 0;
            for read in text.chunks(4096) {
                bm.extend_from_slice(read);
                while let Some(i) = finder.find(&bm) {
                    let mut line = bm.split_to(i + 2).freeze();
                    line.truncate(i);
                    black_box(line);
                    n += 1;
                }
            }
            assert_eq!(n, lines);
        })
    });
    g.finish();
}

fn find_4byte(c: &mut Criterion) {
    const CHUNK: usize = 1024;
    const CHUNKS: usize = 64;
    let mut data: Vec<u8> = (0..CHUNK * CHUNKS).map(|i| b'a' + (i % 23) as u8).collect();
    let at = CHUNK * (CHUNKS - 1) - 2;
    data[at..at + 4].copy_from_slice(b"WXYZ");
    let needle = b"WXYZ";

    let mut buf = Buffer::new();
    for piece in data.chunks(CHUNK) {
        buf.add_bytes(Bytes::copy_from_slice(piece));
    }
    assert_eq!(buf.chunk_count(), CHUNKS);
    let v = data.clone();
    let bm = BytesMut::from(&data[..]);

    let mut g = c.benchmark_group("find_4byte");
    g.throughput(Throughput::Elements(1));
    g.bench_function("Buffer", |b| {
        b.iter(|| assert_eq!(black_box(&buf).find(needle), Some(at)))
    });
    g.bench_function("Vec", |b| {
        b.iter(|| assert_eq!(memmem::find(black_box(&v), needle), Some(at)))
    });
    g.bench_function("BytesMut", |b| {
        b.iter(|| assert_eq!(memmem::find(black_box(&bm), needle), Some(at)))
    });
    // Reference: memmem over the 64 chunks one by one, ignoring matches
    // across boundaries (so it misses this needle): the floor for any search
    // that keeps the chunks apart.
    let pieces: Vec<&[u8]> = data.chunks(CHUNK).collect();
    g.bench_function("chunks_memmem_floor", |b| {
        b.iter(|| {
            let f = memmem::Finder::new(needle);
            black_box(black_box(&pieces).iter().find_map(|p| f.find(p)))
        })
    });
    g.bench_function("Vec_windows", |b| {
        b.iter(|| {
            let p = black_box(&v).windows(4).position(|w| w == needle);
            assert_eq!(p, Some(at))
        })
    });
    g.finish();
}

criterion_group!(benches, append_drain, read_line_crlf, find_4byte);
criterion_main!(benches);
