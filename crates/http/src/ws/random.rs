//! Unpredictable values for masking keys and handshake nonces, without a
//! dependency: std's `RandomState` is seeded from the operating system's
//! random source, and SipHash of a counter under such a key cannot be
//! guessed by a peer that does not know the key (RFC 6455 section 10.3
//! asks masking keys to be unpredictable, not cryptographically strong
//! for other uses).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static COUNTER: Cell<u64> = const { Cell::new(0) };
}

/// 64 unpredictable bits.
pub(crate) fn random_u64() -> u64 {
    let n = COUNTER.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n
    });
    let mut h = RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish()
}

/// A fresh masking key.
pub(crate) fn mask_key() -> [u8; 4] {
    let v = random_u64().to_le_bytes();
    [v[0], v[1], v[2], v[3]]
}

/// 16 fresh bytes (a `Sec-WebSocket-Key` nonce).
pub(crate) fn nonce() -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&random_u64().to_le_bytes());
    out[8..].copy_from_slice(&random_u64().to_le_bytes());
    out
}
