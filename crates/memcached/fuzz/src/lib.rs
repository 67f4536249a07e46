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

#[path = "../../src/auth.rs"]
mod auth;
#[path = "../../src/binary/mod.rs"]
mod binary;
#[path = "../../src/clock.rs"]
mod clock;
#[path = "../../src/detail.rs"]
mod detail;
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
#[path = "../../src/watch.rs"]
mod watch;

/// Feeds `prefix ++ stream` to a fresh server whole, cut where `data`'s
/// first bytes say, one byte at a time, and cut with an output that fills
/// every few bytes (holding the session back, as a slow client does); the
/// replies and whether the connection was closed must be the same each
/// time.
///
/// `data` is: a count byte (modulo 16: the number of cuts; divided by 16:
/// the output limit less one), then the two-byte cut positions, then the
/// client's bytes (after `prefix`, which picks the protocol: the first
/// byte decides).
///
/// # Panics
///
/// When the replies differ (or the server code panics): the fuzzer's
/// finding.
pub fn check(prefix: &[u8], data: &[u8]) {
    let Some((&n_byte, rest)) = data.split_first() else {
        return;
    };
    let n = (n_byte % 16) as usize;
    if rest.len() < 2 * n {
        return;
    }
    let (cut_bytes, stream) = rest.split_at(2 * n);
    let cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as usize)
        .collect();
    let input = [prefix, stream].concat();
    let whole = harness::replies([input.as_slice()], usize::MAX);
    let pieces = harness::replies(harness::split(&input, &cuts), usize::MAX);
    let bytes = harness::replies(input.chunks(1), usize::MAX);
    // An output that fills every few bytes (the count byte picks how many).
    let held = harness::replies(harness::split(&input, &cuts), 1 + (n_byte as usize) / 16);
    // `stats` shows CPU time, which moves between runs.
    if harness::has_cpu_time(&whole.0) {
        return;
    }
    assert_eq!(whole, pieces, "replies differ when the input is split");
    assert_eq!(whole, bytes, "replies differ when the input comes byte by byte");
    assert_eq!(whole, held, "replies differ when the output fills");
}
