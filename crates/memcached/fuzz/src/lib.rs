//! evloop-memcached's protocol core, for fuzzing: the server's own source
//! files (framing, execution, store, replies), included by path, so the
//! fuzz targets run exactly the code the server runs without the server
//! package having to be a library. The network side (conn, server,
//! output, config) is left out: the core does not depend on it.
//!
//! [`check`] is the property: however a client's bytes are split into
//! reads, the server's replies are the same, and nothing panics.

// The server uses parts of the core that the fuzz targets do not.
#![allow(dead_code, unused_imports)]

#[path = "../../src/binary/mod.rs"]
mod binary;
#[path = "../../src/clock.rs"]
mod clock;
#[path = "../../src/exec/mod.rs"]
mod exec;
#[path = "../../src/binary/harness.rs"]
mod harness;
#[path = "../../src/item.rs"]
mod item;
#[path = "../../src/lru.rs"]
mod lru;
#[path = "../../src/protocol/mod.rs"]
mod protocol;
#[path = "../../src/reply.rs"]
mod reply;
#[path = "../../src/stats.rs"]
mod stats;
#[path = "../../src/store.rs"]
mod store;

/// Feeds `prefix ++ stream` to a fresh server whole, cut where `data`'s
/// first bytes say, and one byte at a time, and checks that the replies
/// and whether the connection was closed are the same each time.
///
/// `data` is: a count byte `n` (taken modulo 16), then `n` two-byte cut
/// positions, then the client's bytes (after `prefix`, which picks the
/// protocol: the first byte decides).
///
/// # Panics
///
/// When the replies differ (or the server code panics): the fuzzer's
/// finding.
pub fn check(prefix: &[u8], data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = (n % 16) as usize;
    if rest.len() < 2 * n {
        return;
    }
    let (cut_bytes, stream) = rest.split_at(2 * n);
    let cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as usize)
        .collect();
    let input = [prefix, stream].concat();
    let whole = harness::replies([input.as_slice()]);
    let pieces = harness::replies(harness::split(&input, &cuts));
    let bytes = harness::replies(input.chunks(1));
    // `stats` shows CPU time, which moves between runs.
    if harness::has_cpu_time(&whole.0) {
        return;
    }
    assert_eq!(whole, pieces, "replies differ when the input is split");
    assert_eq!(whole, bytes, "replies differ when the input comes byte by byte");
}
