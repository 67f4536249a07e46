//! `stats detail`: per key prefix counts of gets, hits, sets and deletes,
//! collected while `stats detail on` is in force, as memcached keeps them.
//!
//! A key's prefix is what comes before its first delimiter (`:`, or `-D`'s
//! character); keys without one are not counted. `stats detail dump` lists the prefixes in memcached's
//! order: by their slot in its 256-slot table (MurmurHash3 of the prefix),
//! newest first within a slot, so the same history dumps the same bytes.

use std::collections::HashMap;

use crate::reply::{Line, ReplySink};

/// memcached's default prefix delimiter (`-D` sets another).
pub const DELIMITER: u8 = b':';

/// Slots of memcached's prefix table: the dump's major order.
const SLOTS: u32 = 256;

/// Counts for one prefix.
#[derive(Debug, Clone, Default)]
struct Counts {
    /// Keys looked up.
    gets: u64,
    /// Of which found.
    hits: u64,
    /// Storage requests.
    sets: u64,
    /// Delete requests.
    deletes: u64,
    /// Order of first use, for the dump's order within a slot.
    seq: u64,
}

/// The prefix table.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// Counts by prefix.
    prefixes: HashMap<Box<[u8]>, Counts>,
    /// Prefixes created so far.
    created: u64,
}

impl Detail {
    /// Counts a lookup of `key`, whose prefix ends at `delim`.
    pub fn get(&mut self, key: &[u8], hit: bool, delim: u8) {
        if let Some(c) = self.counts(key, delim) {
            c.gets += 1;
            c.hits += u64::from(hit);
        }
    }

    /// Counts a storage request for `key`.
    pub fn set(&mut self, key: &[u8], delim: u8) {
        if let Some(c) = self.counts(key, delim) {
            c.sets += 1;
        }
    }

    /// Counts a delete request for `key`.
    pub fn delete(&mut self, key: &[u8], delim: u8) {
        if let Some(c) = self.counts(key, delim) {
            c.deletes += 1;
        }
    }

    /// The counts of `key`'s prefix, created on first use; `None` for a
    /// key without a delimiter (memcached also stops at a NUL byte).
    fn counts(&mut self, key: &[u8], delim: u8) -> Option<&mut Counts> {
        let end = key.iter().position(|&b| b == delim || b == 0)?;
        if key[end] != delim {
            return None;
        }
        let prefix = &key[..end];
        if !self.prefixes.contains_key(prefix) {
            self.created += 1;
            let fresh = Counts {
                seq: self.created,
                ..Counts::default()
            };
            self.prefixes.insert(prefix.into(), fresh);
        }
        self.prefixes.get_mut(prefix)
    }

    /// `stats detail dump`: a `PREFIX` line per prefix, then `END`.
    pub fn dump(&self, out: &mut impl ReplySink) {
        let mut all: Vec<_> = self.prefixes.iter().collect();
        all.sort_by_key(|(p, c)| (murmur3_32(p) % SLOTS, std::cmp::Reverse(c.seq)));
        for (prefix, c) in all {
            let mut l = Line::new();
            l.push(out, b"PREFIX ");
            l.push(out, prefix);
            for (name, n) in [
                (&b" get "[..], c.gets),
                (b" hit ", c.hits),
                (b" set ", c.sets),
                (b" del ", c.deletes),
            ] {
                l.push(out, name);
                l.num(out, n);
            }
            l.push(out, b"\r\n");
            l.flush(out);
        }
        out.put(b"END\r\n");
    }
}

/// MurmurHash3 (x86, 32-bit) with seed 0: memcached's default hash, which
/// places prefixes in its table.
fn murmur3_32(data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let scramble = |k: u32| k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    let mut h: u32 = 0;
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        h ^= scramble(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, &b| (k << 8) | u32::from(b));
        h ^= scramble(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_known_values() {
        // Reference values of MurmurHash3_x86_32 with seed 0.
        assert_eq!(murmur3_32(b""), 0);
        assert_eq!(murmur3_32(b"hello"), 0x248b_fa47);
        assert_eq!(murmur3_32(b"Hello, world!"), 0xc036_3e43);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog"),
            0x2e4f_f723
        );
    }

    #[test]
    fn counts_by_prefix() {
        let mut d = Detail::default();
        d.set(b"foo:1", DELIMITER);
        d.get(b"foo:1", true, DELIMITER);
        d.get(b"foo:2", false, DELIMITER);
        d.delete(b"foo:3", DELIMITER);
        d.get(b"nodelimiter", true, DELIMITER);
        d.set(b"a\0b:c", DELIMITER);
        let mut out = Vec::new();
        d.dump(&mut out);
        assert_eq!(out, b"PREFIX foo get 2 hit 1 set 1 del 1\r\nEND\r\n");
        // Another delimiter (`-D`).
        let mut d = Detail::default();
        d.set(b"foo:1", b'/');
        d.set(b"user/1", b'/');
        let mut out = Vec::new();
        d.dump(&mut out);
        assert_eq!(out, b"PREFIX user get 0 hit 0 set 1 del 0\r\nEND\r\n");
    }
}
