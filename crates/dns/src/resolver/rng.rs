//! Unpredictable numbers for query ids, 0x20 case bits and server probes,
//! without another dependency: std's `RandomState` is SipHash keyed from
//! the OS's random source, and SipHash of a counter under a secret key is
//! a keyed pseudo-random function (as `rand`'s thread_rng would be, but
//! built in).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

pub(crate) struct Rng {
    key: RandomState,
    counter: u64,
    pool: u64,
    pool_bits: u32,
}

impl Rng {
    pub(crate) fn new() -> Rng {
        Rng {
            key: RandomState::new(),
            counter: 0,
            pool: 0,
            pool_bits: 0,
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        self.key.hash_one(self.counter)
    }

    /// 16 random bits; one SipHash call serves four ids.
    pub(crate) fn next_u16(&mut self) -> u16 {
        if self.pool_bits < 16 {
            self.pool = self.next_u64();
            self.pool_bits = 64;
        }
        let v = self.pool as u16;
        self.pool >>= 16;
        self.pool_bits -= 16;
        v
    }
}
