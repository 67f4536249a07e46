//! A connection's bytes fed to a [`Session`] in the pieces they arrived
//! in, as the server does, with an output that holds the session back
//! like a client that reads slowly: the replies must not depend on how the
//! input was split nor on when the output filled. Shared by the
//! split-invariance property test and the cargo-fuzz targets
//! (crates/memcached/fuzz), which include this file.

use bytes::Bytes;

use crate::clock::Clock;
use crate::exec::{Protocol, Session};
use crate::reply::ReplySink;
use crate::stats::Stats;
use crate::store::Store;

/// Unix time the store's clock shows, fixed so that runs compare.
const T0: i64 = 1_700_000_000;

/// `-I` of the harness's server: small, so that refused values (skipped
/// as they arrive) are cheap to produce.
pub const ITEM_MAX: usize = 4096;

/// Calls to [`Session::process`] without input consumed, per read, after
/// which the session is taken to be stuck (a bug the caller reports).
const STUCK: usize = 1 << 16;

/// An output that reports itself full once `limit` bytes were added since
/// the server last "sent" them, as a stream's output does at its high
/// watermark.
struct Capped {
    /// Everything the server sent.
    out: Vec<u8>,
    /// Length of `out` at the last send.
    sent: usize,
    /// Bytes after which the output is full.
    limit: usize,
}

impl ReplySink for Capped {
    fn put(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn put_bytes(&mut self, bytes: Bytes) {
        self.out.extend_from_slice(&bytes);
    }

    fn is_full(&self) -> bool {
        self.out.len() - self.sent >= self.limit
    }
}

/// The replies a fresh server sends to a client whose bytes arrive in
/// `chunks`, its output full every `limit` bytes (`usize::MAX`: never),
/// and whether the server closed the connection. Everything after a close
/// is ignored, as a server would.
///
/// # Panics
///
/// If the session neither consumes input nor finishes a request it is
/// answering in steps, call after call.
pub fn replies<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, limit: usize) -> (Vec<u8>, bool) {
    let mut store = Store::new(1 << 20, ITEM_MAX, Clock::starting_at(T0));
    let mut stats = Stats::new(1024);
    let mut session = Session::with_limits(ITEM_MAX, Protocol::Auto, usize::MAX);
    let mut input = Vec::new();
    let mut out = Capped {
        out: Vec::new(),
        sent: 0,
        limit: limit.max(1),
    };
    for chunk in chunks {
        input.extend_from_slice(chunk);
        let mut idle = 0;
        // As the server: run what the input holds; when the output filled,
        // send it and go on (its write callback); stop when the session
        // needs more input.
        while input.len() >= session.wanted() || session.busy() {
            let p = session.process(&input, &mut store, &mut stats, &mut out);
            input.drain(..p.consumed);
            if p.close {
                return (out.out, true);
            }
            let full = out.is_full();
            out.sent = out.out.len();
            if p.consumed == 0 && !full && !session.busy() {
                break;
            }
            idle = if p.consumed == 0 { idle + 1 } else { 0 };
            assert!(idle < STUCK, "the session makes no progress");
        }
    }
    (out.out, false)
}

/// `data` cut at the given positions (taken modulo its length, in any
/// order, duplicates allowed).
pub fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&c| if data.is_empty() { 0 } else { c % data.len() })
        .collect();
    at.push(0);
    at.push(data.len());
    at.sort_unstable();
    at.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

/// Whether replies mention CPU time (`stats`), which differs from one run
/// to the next: such runs cannot be compared byte for byte.
pub fn has_cpu_time(replies: &[u8]) -> bool {
    replies.windows(11).any(|w| w == b"rusage_user")
}
