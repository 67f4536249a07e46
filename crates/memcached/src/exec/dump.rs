//! Listing the cache's keys: `stats cachedump` (bounded, as memcached's) and
//! `lru_crawler metadump` (every live item, produced a slice of the store at
//! a time as the client reads, so a large cache does not make one large
//! reply).

use crate::item::{Item, KEY_BINARY};
use crate::reply::{Line, ReplySink};
use crate::stats::CLASS_ID;
use crate::store::Store;

/// Largest `stats cachedump` reply, `END` included (memcached's cap).
const CACHEDUMP_MAX: usize = 2 << 20;

/// `stats cachedump <class> <limit>`: `ITEM <key> [<bytes> b; <exp> s]`
/// lines from the most recently used item, then `END`. Binary keys are
/// skipped, as memcached skips them; so are expired and flushed items.
pub fn cachedump(store: &Store, class: u32, limit: u32, out: &mut impl ReplySink) {
    if class == CLASS_ID {
        let limit = if limit == 0 {
            usize::MAX
        } else {
            limit as usize
        };
        let mut size = 0;
        let mut shown = 0;
        let mut at = store.newest();
        while let Some(id) = at {
            at = store.older(id);
            if shown == limit {
                break;
            }
            // Dead (expired, flushed) items wait for the crawler in
            // memcached's LRU and show; here they do not.
            let Some(it) = store.live_slot(id) else {
                continue;
            };
            if it.has(KEY_BINARY) {
                continue;
            }
            let mut line = Vec::with_capacity(it.key().len() + 40);
            line.extend_from_slice(b"ITEM ");
            line.extend_from_slice(it.key());
            let exp = match it.exptime() {
                0 => 0,
                t => store.clock().unix_of(t),
            };
            line.extend_from_slice(format!(" [{} b; {exp} s]\r\n", it.value_len()).as_bytes());
            if size + line.len() + 5 > CACHEDUMP_MAX {
                break;
            }
            size += line.len();
            out.put(&line);
            shown += 1;
        }
    }
    out.put(b"END\r\n");
}

/// Slots looked at per step of a metadump, between checks of the output.
const SLOTS_PER_STEP: u32 = 256;

/// Runs a metadump from slot `from`: lines for live items until the
/// output is full. Returns the slot to go on from, or `None` once `END`
/// went out. Items stored or removed meanwhile may or may not be listed,
/// as with memcached's crawler.
pub fn metadump(store: &Store, mut from: u32, out: &mut impl ReplySink) -> Option<u32> {
    let end = u32::try_from(store.slot_count()).unwrap_or(u32::MAX);
    while from < end {
        if out.is_full() {
            return Some(from);
        }
        let stop = from.saturating_add(SLOTS_PER_STEP).min(end);
        for id in from..stop {
            if let Some(it) = store.live_slot(id) {
                metadump_line(store, it, out);
            }
        }
        from = stop;
    }
    out.put(b"END\r\n");
    None
}

/// `key=<uri-encoded> exp=<unix|-1> la=<unix> cas=<n> fetch=<yes|no> cls=1
/// size=<bytes>\n`, memcached 1.6's line (ending in a bare newline).
fn metadump_line(store: &Store, it: &Item, out: &mut impl ReplySink) {
    let clock = store.clock();
    let mut l = Line::new();
    l.push(out, b"key=");
    uri_encode(it.key(), &mut l, out);
    l.push(out, b" exp=");
    match it.exptime() {
        0 => l.push(out, b"-1"),
        t => l.signed(out, clock.unix_of(t)),
    }
    l.push(out, b" la=");
    l.signed(out, clock.unix_of(it.atime()));
    l.push(out, b" cas=");
    l.num(out, it.cas());
    let fetch: &[u8] = if it.has(crate::item::FETCHED) {
        b" fetch=yes"
    } else {
        b" fetch=no"
    };
    l.push(out, fetch);
    l.push(out, b" cls=");
    l.num(out, CLASS_ID as u64);
    l.push(out, b" size=");
    l.num(out, it.total() as u64);
    l.push(out, b"\n");
    l.flush(out);
}

/// Percent-encodes all but ASCII letters, digits and `-._~`, as
/// memcached's `uriencode`.
fn uri_encode(key: &[u8], l: &mut Line, out: &mut impl ReplySink) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            l.push(out, &[b]);
        } else {
            l.push(out, &[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}
