//! One cached item: key, value, client flags, expiry, CAS unique, and its
//! links in the LRU list.

use bytes::Bytes;

/// Bytes memcached's item header takes (48) plus the CAS field (8) plus the
/// NUL after the key (1) plus the `\r\n` after the value (2): the per-item
/// overhead counted against `-I` and `-m`, so limits and the `bytes` stat
/// match memcached's for the same items.
pub const ITEM_OVERHEAD: usize = 59;

/// Longest key the protocol allows.
pub const KEY_MAX: usize = 250;

/// Size memcached accounts for an item (its `ITEM_ntotal`): overhead, key,
/// value, and 4 bytes of client flags when they are not zero.
pub fn item_total(key_len: usize, value_len: usize, flags: u32) -> usize {
    ITEM_OVERHEAD + key_len + value_len + if flags != 0 { 4 } else { 0 }
}

/// Whether `key` is a valid protocol key: 1 to 250 bytes. Any byte is
/// allowed, as memcached 1.6's text protocol allows it (its tokenizer
/// splits on spaces only, so a token never holds one; clients such as
/// memcaslap send keys starting with control bytes).
pub fn key_ok(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= KEY_MAX
}

/// Marks an item a get has returned (meta `h`, `expired_unfetched`).
pub const FETCHED: u8 = 1;
/// Marks an item whose recache token (meta `W`) went to a client.
pub const TOKEN_SENT: u8 = 2;
/// Marks an item invalidated by `md ... I` or a stale `ms ... I` (meta `X`).
pub const STALE: u8 = 4;
/// Marks an item whose key arrived base64-encoded (meta `b`), so `k`
/// returns it encoded again.
pub const KEY_BINARY: u8 = 8;

/// An item as the store keeps it. Key and value share one allocation,
/// `key ++ value ++ "\r\n"`, so storing costs one copy and a get reply
/// sends `value ++ "\r\n"` as one zero-copy slice.
#[derive(Debug, Clone)]
pub struct Item {
    /// `key ++ value ++ "\r\n"`.
    pub(crate) data: Bytes,
    /// The key's hash, kept so the table can grow without rehashing keys.
    pub(crate) hash: u64,
    /// CAS unique, fresh from the store's counter on every change.
    pub(crate) cas: u64,
    /// Opaque client flags.
    pub(crate) flags: u32,
    /// Expiry in server time (seconds since start); 0 = never.
    pub(crate) exptime: u32,
    /// Last access in server time (meta `l`).
    pub(crate) atime: u32,
    /// Newer neighbour in the LRU list (`NIL` at the head).
    pub(crate) prev: u32,
    /// Older neighbour in the LRU list (`NIL` at the tail); the free list's
    /// link while the slot is unused.
    pub(crate) next: u32,
    /// Length of the key at the start of `data`.
    pub(crate) key_len: u8,
    /// `FETCHED` | `TOKEN_SENT` | `STALE` | `KEY_BINARY`.
    pub(crate) bits: u8,
}

impl Item {
    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.data[..self.key_len as usize]
    }

    /// The value, without the trailing `\r\n`.
    pub fn value(&self) -> &[u8] {
        &self.data[self.key_len as usize..self.data.len() - 2]
    }

    /// The value followed by `\r\n`, sharing the item's memory: what a get
    /// reply sends after the `VALUE` line.
    pub fn value_crlf(&self) -> Bytes {
        self.data.slice(self.key_len as usize..)
    }

    /// The same bytes, borrowed: for a reply that copies them (small
    /// values), which so costs no reference count traffic, and leaves the
    /// item's buffer unshared (a first share allocates).
    pub fn value_crlf_ref(&self) -> &[u8] {
        &self.data[self.key_len as usize..]
    }

    /// Length of the value.
    pub fn value_len(&self) -> usize {
        self.data.len() - 2 - self.key_len as usize
    }

    /// Client flags.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// CAS unique.
    pub fn cas(&self) -> u64 {
        self.cas
    }

    /// Expiry in server time, 0 for never.
    pub fn exptime(&self) -> u32 {
        self.exptime
    }

    /// Last access in server time.
    pub fn atime(&self) -> u32 {
        self.atime
    }

    /// Whether any of `bit` (`FETCHED`, `STALE`, ...) is set.
    pub fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }

    /// Bytes accounted for this item against `-m`.
    pub fn total(&self) -> usize {
        item_total(self.key_len as usize, self.value_len(), self.flags)
    }
}

/// Builds the one buffer an item keeps: `key ++ parts... ++ "\r\n"`.
pub fn item_data(key: &[u8], parts: &[&[u8]]) -> Bytes {
    let len = key.len() + parts.iter().map(|p| p.len()).sum::<usize>() + 2;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(key);
    for p in parts {
        v.extend_from_slice(p);
    }
    v.extend_from_slice(b"\r\n");
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_matches_memcached_limits() {
        // memcached -I 1m takes a 1,048,516-byte value under a 1-byte key
        // and refuses one byte more (measured on memcached 1.6.18).
        assert_eq!(item_total(1, 1_048_516, 0), 1 << 20);
        assert_eq!(item_total(100, 1_048_417, 0), 1 << 20);
        assert_eq!(item_total(1, 10, 7), ITEM_OVERHEAD + 1 + 10 + 4);
    }

    #[test]
    fn keys() {
        assert!(key_ok(b"a"));
        assert!(key_ok(&[b'k'; 250]));
        assert!(!key_ok(&[b'k'; 251]));
        assert!(!key_ok(b""));
        // memcached takes control bytes in keys (memcaslap sends 0x10s).
        assert!(key_ok(b"a\tb"));
        assert!(key_ok(b"a\x7f"));
        assert!(key_ok(b"\x10\x10key"));
        assert!(key_ok("ключ".as_bytes()));
    }

    #[test]
    fn data_layout() {
        let it = Item {
            data: item_data(b"key", &[b"val", b"ue"]),
            hash: 0,
            cas: 1,
            flags: 0,
            exptime: 0,
            atime: 0,
            prev: 0,
            next: 0,
            key_len: 3,
            bits: 0,
        };
        assert_eq!(it.key(), b"key");
        assert_eq!(it.value(), b"value");
        assert_eq!(&it.value_crlf()[..], b"value\r\n");
        assert_eq!(it.value_crlf_ref(), b"value\r\n");
        assert_eq!(it.value_len(), 5);
    }
}
