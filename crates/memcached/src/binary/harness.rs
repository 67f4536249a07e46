//! A connection's bytes fed to a [`Session`] in the pieces they arrived
//! in, as the server does: the replies must not depend on how the input
//! was split. Shared by the split-invariance property test and the
//! cargo-fuzz target (crates/memcached/fuzz), which includes this file.

use crate::clock::Clock;
use crate::exec::Session;
use crate::stats::Stats;
use crate::store::Store;

/// Unix time the store's clock shows, fixed so that runs compare.
const T0: i64 = 1_700_000_000;

/// `-I` of the harness's server: small, so that refused values (skipped
/// as they arrive) are cheap to produce.
pub const ITEM_MAX: usize = 4096;

/// The replies a fresh server sends to a client whose bytes arrive in
/// `chunks`, and whether the server closed the connection. Everything
/// after a close is ignored, as a server would.
pub fn replies<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<u8>, bool) {
    let mut store = Store::new(1 << 20, ITEM_MAX, Clock::starting_at(T0));
    let mut stats = Stats::new(1024);
    let mut session = Session::new(ITEM_MAX);
    let mut input = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        input.extend_from_slice(chunk);
        // A sink that is never full lets one call take everything
        // complete; a second call must find nothing more to do.
        for _ in 0..2 {
            if input.len() < session.wanted() {
                break;
            }
            let p = session.process(&input, &mut store, &mut stats, &mut out);
            input.drain(..p.consumed);
            if p.close {
                return (out, true);
            }
        }
    }
    (out, false)
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
