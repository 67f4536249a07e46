//! The item store: a hash table of item slots with LRU order, memory
//! accounting against `-m` with eviction, the `-I` item size limit, CAS
//! uniques, lazy expiry and `flush_all` (immediate or delayed).

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::clock::Clock;
use crate::item::{item_data, item_total, Item, FETCHED, KEY_BINARY, STALE, TOKEN_SENT};
use crate::lru::{ItemId, Lru};
use crate::protocol::num::parse_value_u64;
use crate::watch::{self, Event, Log, Lookup};

/// How a write treats an existing item (the storage commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Store unconditionally.
    Set,
    /// Store only if absent.
    Add,
    /// Store only if present.
    Replace,
    /// Add the data after the present value.
    Append,
    /// Add the data before the present value.
    Prepend,
    /// Store only if present with the given CAS unique.
    Cas,
}

/// One write request.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// What to do with an existing item.
    pub mode: Mode,
    /// The key (already validated).
    pub key: &'a [u8],
    /// Client flags (ignored by append/prepend, which keep the old ones).
    pub flags: u32,
    /// Expiry in server time (see [`Clock::expiry`]); ignored by
    /// append/prepend.
    pub exptime: u32,
    /// The data, without `\r\n`.
    pub value: &'a [u8],
    /// CAS unique to compare: `Cas` mode, and append/prepend when not 0.
    pub cas: u64,
    /// `ms ... I`: a CAS older than the item's still stores, marking the
    /// item stale.
    pub stale_ok: bool,
    /// The key came base64-encoded (`ms ... b`).
    pub key_binary: bool,
}

impl<'a> Write<'a> {
    /// A plain `set` of `value` under `key`.
    pub fn set(key: &'a [u8], value: &'a [u8]) -> Self {
        Write {
            mode: Mode::Set,
            key,
            flags: 0,
            exptime: 0,
            value,
            cas: 0,
            stale_ok: false,
            key_binary: false,
        }
    }
}

/// Result of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored, with the item's new CAS unique.
    Stored(u64),
    /// Add on a present key, replace/append/prepend on an absent one.
    NotStored,
    /// CAS mismatch.
    Exists,
    /// CAS on an absent key.
    NotFound,
    /// Larger than `-I`.
    TooLarge,
    /// Larger than the whole memory limit.
    NoMemory,
}

/// Result of incr/decr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// The new value, and the item now holding it.
    Done(u64, ItemId),
    /// No such item.
    NotFound,
    /// The value is not a decimal 64-bit unsigned number.
    NonNumeric,
    /// The CAS unique given did not match.
    CasMismatch,
}

/// Seconds within which a fetched item is not moved in the LRU again
/// (memcached's `ITEM_UPDATE_INTERVAL`).
pub const BUMP_INTERVAL: u32 = 60;

/// Counters the store keeps for `stats`.
#[derive(Debug, Default, Clone)]
pub struct StoreCounters {
    /// Items ever stored.
    pub total_items: u64,
    /// Live items removed to make room.
    pub evictions: u64,
    /// Dead (expired or flushed) items removed to make room.
    pub reclaimed: u64,
    /// Dead items freed by [`Store::reclaim`] (memcached's LRU crawler).
    pub crawler_reclaimed: u64,
    /// Items [`Store::reclaim`] looked at.
    pub crawler_items_checked: u64,
    /// Expired items that were never fetched.
    pub expired_unfetched: u64,
    /// Evicted items that were never fetched.
    pub evicted_unfetched: u64,
    /// Lookups that found an expired item.
    pub get_expired: u64,
    /// Lookups that found a flushed item.
    pub get_flushed: u64,
}

/// The cache.
#[derive(Debug)]
pub struct Store {
    /// Item ids by key hash.
    table: HashTable<ItemId>,
    /// Seeded hasher for keys.
    hasher: DefaultHashBuilder,
    /// Items and their LRU order.
    lru: Lru,
    /// Server time.
    clock: Clock,
    /// `-m` in bytes.
    limit: usize,
    /// `-I` in bytes.
    item_max: usize,
    /// Bytes accounted to the items held.
    used: usize,
    /// Next CAS unique to hand out.
    next_cas: u64,
    /// Items with a smaller CAS unique were flushed.
    oldest_cas: u64,
    /// Server time at which a delayed `flush_all` takes effect.
    flush_at: Option<u32>,
    /// Counters for `stats`.
    counters: StoreCounters,
    /// Events for `watch`, recorded only while someone watches.
    pub log: Log,
    /// An item was ever stored (`stats slabs` shows the item class from
    /// then on; `stats reset` does not change that).
    held_items: bool,
    /// Crawls of the LRU's old end (`reclaim` calls), as memcached's
    /// `lru_crawler_starts` (not reset by `stats reset` either).
    crawler_starts: u64,
    /// Items (and the CAS they had) whose values replies of the batch
    /// being run still hold: memcached keeps a reference until a reply is
    /// sent, and an incr/decr of a referenced item makes a new item rather
    /// than rewriting it in place (so without space padding).
    held: Vec<(ItemId, u64)>,
    /// `-M`: a write that needs a live item evicted fails instead.
    no_evict: bool,
    /// Every store first frees the dead items at the LRU's old end
    /// (`-o no_modern`).
    pull_tail: bool,
    /// CAS uniques are handed out (no `-C`).
    use_cas: bool,
    /// Without CAS uniques (`-C`), a `flush_all` marks the items last
    /// stored or bumped at or before this time dead once it has come, as
    /// memcached does (so an item stored in the flush's second goes too).
    flush_live: Option<u32>,
}

/// Most items [`Store::hold`] remembers per batch (memcached sends its
/// replies at least every 20 requests).
const HELD_MAX: usize = 64;

/// Dead items a store frees from the LRU's old end first, under
/// [`Store::set_pull_tail`] (memcached's `lru_pull_tail` tries 5).
const PULL_TAIL: usize = 5;

impl Store {
    /// A store holding at most `memory_limit` bytes of items (as memcached
    /// counts them), each at most `item_size_max` bytes.
    pub fn new(memory_limit: usize, item_size_max: usize, clock: Clock) -> Self {
        Store {
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            lru: Lru::new(),
            clock,
            limit: memory_limit,
            item_max: item_size_max,
            used: 0,
            next_cas: 1,
            oldest_cas: 0,
            flush_at: None,
            counters: StoreCounters::default(),
            log: Log::default(),
            held_items: false,
            crawler_starts: 0,
            held: Vec::new(),
            no_evict: false,
            pull_tail: false,
            use_cas: true,
            flush_live: None,
        }
    }

    /// `-C`: hand out no CAS uniques (every item's is 0), as memcached's
    /// `-C`; `flush_all` then goes by time.
    pub fn disable_cas(&mut self) {
        self.use_cas = false;
    }

    /// Whether CAS uniques are handed out (no `-C`).
    pub fn uses_cas(&self) -> bool {
        self.use_cas
    }

    /// Whether live items are evicted to make room (no `-M`).
    pub fn evicts(&self) -> bool {
        !self.no_evict
    }

    /// `-M`: refuse writes that would need a live item evicted (dead ones
    /// still make room), as memcached's `-M`.
    pub fn set_no_evict(&mut self, on: bool) {
        self.no_evict = on;
    }

    /// `-o no_modern`: before each store, free the dead (expired or
    /// flushed) items at the LRU's old end, up to [`PULL_TAIL`] of them
    /// and up to the first live one, counting them as `reclaimed`, as
    /// memcached does on every allocation when its LRU is not segmented
    /// (with segmented LRUs, its background maintainer does that work, as
    /// this server's crawler does).
    pub fn set_pull_tail(&mut self, on: bool) {
        self.pull_tail = on;
    }

    /// Notes that a reply not sent yet holds item `id`'s value.
    pub fn hold(&mut self, id: ItemId) {
        if self.held.len() < HELD_MAX {
            self.held.push((id, self.lru.get(id).cas));
        }
    }

    /// The replies so far count as sent: no item is held any more.
    pub fn release_held(&mut self) {
        self.held.clear();
    }

    /// Server time.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Moves server time to `unix_now` and applies a delayed `flush_all`
    /// that has come due. The server calls this on each loop iteration
    /// (or from a 1 s timer) with the system time.
    pub fn set_time(&mut self, unix_now: i64) {
        self.clock.set_unix(unix_now);
        self.apply_due_flush();
    }

    /// Moves server time `secs` forward (tests).
    #[cfg(test)]
    pub fn advance(&mut self, secs: u32) {
        self.clock.advance(secs);
        self.apply_due_flush();
    }

    /// Turns a delayed flush whose time has come into the CAS barrier.
    fn apply_due_flush(&mut self) {
        if let Some(at) = self.flush_at {
            if self.clock.now() >= at {
                self.oldest_cas = self.next_cas;
                self.flush_at = None;
            }
        }
    }

    /// Items held (`curr_items`).
    pub fn len(&self) -> usize {
        self.lru.len()
    }

    /// Bytes accounted to the items held (`bytes`).
    pub fn bytes(&self) -> usize {
        self.used
    }

    /// The memory limit (`limit_maxbytes`).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The item size limit (`-I`).
    pub fn item_max(&self) -> usize {
        self.item_max
    }

    /// Counters for `stats`.
    pub fn counters(&self) -> &StoreCounters {
        &self.counters
    }

    /// Buckets of the key table (a power of two, or 0 before the first
    /// item).
    pub fn hash_buckets(&self) -> usize {
        // hashbrown keeps 7/8 of its buckets usable once it has 8.
        match self.table.capacity() {
            0 => 0,
            c if c < 8 => (c + 1).next_power_of_two(),
            c => (c * 8 / 7).next_power_of_two(),
        }
    }

    /// The key table's memory: an item id and a control byte per bucket.
    pub fn hash_bytes(&self) -> usize {
        self.hash_buckets() * (std::mem::size_of::<ItemId>() + 1)
    }

    /// Crawls started so far.
    pub fn crawler_starts(&self) -> u64 {
        self.crawler_starts
    }

    /// Whether an item was ever stored.
    pub fn has_held_items(&self) -> bool {
        self.held_items
    }

    /// Zeroes the counters (`stats reset`).
    pub fn reset_counters(&mut self) {
        self.counters = StoreCounters::default();
    }

    /// Changes the memory limit (`cache_memlimit`), evicting down to it.
    pub fn set_limit(&mut self, bytes: usize) {
        self.limit = bytes;
        while self.used > self.limit {
            if !self.evict_tail() {
                break;
            }
        }
    }

    /// The hash of `key`, computed once per request.
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Slot of `key`'s item, dead or alive.
    fn lookup(&self, hash: u64, key: &[u8]) -> Option<ItemId> {
        let lru = &self.lru;
        self.table
            .find(hash, |&id| {
                let it = lru.get(id);
                it.hash == hash && it.key() == key
            })
            .copied()
    }

    /// Whether `id` is expired or flushed.
    fn is_dead(&self, id: ItemId) -> bool {
        let it = self.lru.get(id);
        let now = self.clock.now();
        (it.exptime != 0 && it.exptime <= now)
            || it.cas < self.oldest_cas
            || self.flush_live.is_some_and(|t| t <= now && it.atime <= t)
    }

    /// Slot of `key`'s live item; a dead one found on the way is removed
    /// (lazy expiry).
    fn lookup_live(&mut self, hash: u64, key: &[u8]) -> Option<ItemId> {
        let Some(id) = self.lookup(hash, key) else {
            if self.log.wants(watch::FETCHERS) {
                self.log_get(key, Lookup::NotFound, 0);
            }
            return None;
        };
        if !self.is_dead(id) {
            if self.log.wants(watch::FETCHERS) {
                let size = self.lru.get(id).value_len();
                self.log_get(key, Lookup::Found, size);
            }
            return Some(id);
        }
        let it = self.lru.get(id);
        let found = if it.cas < self.oldest_cas {
            self.counters.get_flushed += 1;
            Lookup::Flushed
        } else {
            self.counters.get_expired += 1;
            if !it.has(FETCHED) {
                self.counters.expired_unfetched += 1;
            }
            Lookup::Expired
        };
        if self.log.wants(watch::FETCHERS) {
            self.log_get(key, found, 0);
        }
        self.unlink(id);
        None
    }

    /// Records a lookup for `watch fetchers`.
    #[cold]
    fn log_get(&mut self, key: &[u8], found: Lookup, size: usize) {
        let cfd = self.log.cfd;
        self.log.events.push(Event::Get {
            key: key.to_vec(),
            found,
            size,
            cfd,
        });
    }

    /// Records a store for `watch mutations`.
    #[cold]
    fn log_store(&mut self, w: &Write<'_>, outcome: StoreOutcome) {
        let status = match outcome {
            StoreOutcome::Stored(_) => "stored",
            StoreOutcome::NotStored => "not_stored",
            StoreOutcome::Exists => "exists",
            StoreOutcome::NotFound => "not_found",
            StoreOutcome::TooLarge => "too_large",
            StoreOutcome::NoMemory => "no_memory",
        };
        let cmd = match w.mode {
            Mode::Set => "set",
            Mode::Add => "add",
            Mode::Replace => "replace",
            Mode::Append => "append",
            Mode::Prepend => "prepend",
            Mode::Cas => "cas",
        };
        let ttl = if w.exptime == 0 {
            0
        } else {
            w.exptime.saturating_sub(self.clock.now())
        };
        let cfd = self.log.cfd;
        self.log.events.push(Event::Store {
            key: w.key.to_vec(),
            status,
            cmd,
            ttl,
            size: w.value.len(),
            cfd,
        });
    }

    /// Records a live item's eviction for `watch evictions`.
    #[cold]
    fn log_evict(&mut self, id: ItemId) {
        let it = self.lru.get(id);
        let now = self.clock.now();
        let ev = Event::Evict {
            key: it.key().to_vec(),
            fetched: it.has(FETCHED),
            ttl: if it.exptime == 0 {
                -1
            } else {
                i64::from(it.exptime) - i64::from(now)
            },
            last_access: now.saturating_sub(it.atime),
            size: it.value_len(),
        };
        self.log.events.push(ev);
    }

    /// Removes an item a `delete` (or an `md`, `cmd`) asked to remove,
    /// recording it for `watch deletions`.
    pub fn delete(&mut self, id: ItemId, cmd: &'static str) {
        if self.log.wants(watch::DELETIONS) {
            let it = self.lru.get(id);
            let ev = Event::Deleted {
                key: it.key().to_vec(),
                cmd,
                size: it.value_len(),
            };
            self.log.events.push(ev);
        }
        self.unlink(id);
    }

    /// The live item under `key`, without touching its LRU position.
    pub fn find(&mut self, key: &[u8]) -> Option<ItemId> {
        let hash = self.hash(key);
        self.lookup_live(hash, key)
    }

    /// Slots to walk with [`live_slot`](Store::live_slot): dumps walk the
    /// store by slot, a few at a time, as memcached's crawler walks it.
    pub fn slot_count(&self) -> usize {
        self.lru.slot_count()
    }

    /// The live (not expired, not flushed) item in slot `id`, if any.
    pub fn live_slot(&self, id: ItemId) -> Option<&Item> {
        self.lru.slot(id).filter(|_| !self.is_dead(id))
    }

    /// Access time of the least recently used item (`stats items` age).
    pub fn oldest_atime(&self) -> Option<u32> {
        self.lru.tail().map(|id| self.lru.get(id).atime)
    }

    /// The most recently used item, to walk the LRU from with
    /// [`older`](Store::older) (`stats cachedump`).
    pub fn newest(&self) -> Option<ItemId> {
        self.lru.head()
    }

    /// The item used just before `id`.
    pub fn older(&self, id: ItemId) -> Option<ItemId> {
        let next = self.lru.get(id).next;
        (next != crate::lru::NIL).then_some(next)
    }

    /// The item in slot `id`.
    pub fn item(&self, id: ItemId) -> &Item {
        self.lru.get(id)
    }

    /// Records an access: most recently used, fetched, access time now.
    ///
    /// As memcached (`ITEM_UPDATE_INTERVAL`), an item fetched before and
    /// bumped less than [`BUMP_INTERVAL`] seconds ago stays where it is:
    /// moving it to the head touches three other items, which costs more
    /// than a whole small get, and an item that recent is far from the
    /// eviction end anyway. So the access time, like memcached's, is
    /// exact to that interval.
    pub fn bump(&mut self, id: ItemId) {
        let now = self.clock.now();
        let it = self.lru.get_mut(id);
        if it.bits & FETCHED != 0 && now.wrapping_sub(it.atime) < BUMP_INTERVAL {
            return;
        }
        it.bits |= FETCHED;
        it.atime = now;
        self.lru.bump(id);
    }

    /// Sets an item's expiry (server time).
    pub fn set_exptime(&mut self, id: ItemId, exptime: u32) {
        self.lru.get_mut(id).exptime = exptime;
    }

    /// Sets `bits` (`STALE`, `TOKEN_SENT`) on an item.
    pub fn set_bits(&mut self, id: ItemId, bits: u8) {
        self.lru.get_mut(id).bits |= bits;
    }

    /// Clears `bits` on an item.
    pub fn clear_bits(&mut self, id: ItemId, bits: u8) {
        self.lru.get_mut(id).bits &= !bits;
    }

    /// Gives an item a fresh CAS unique (`md ... I`).
    pub fn renew_cas(&mut self, id: ItemId) -> u64 {
        let cas = self.take_cas();
        self.lru.get_mut(id).cas = cas;
        cas
    }

    /// Next CAS unique.
    fn take_cas(&mut self) -> u64 {
        if !self.use_cas {
            return 0;
        }
        let cas = self.next_cas;
        self.next_cas += 1;
        cas
    }

    /// Removes an item (delete).
    pub fn remove(&mut self, id: ItemId) {
        self.unlink(id);
    }

    /// Removes `key`'s item if there is one (memcached drops the old value
    /// when a `set` is refused as too large).
    pub fn remove_key(&mut self, key: &[u8]) {
        let hash = self.hash(key);
        if let Some(id) = self.lookup(hash, key) {
            self.unlink(id);
        }
    }

    /// Takes `id` out of the table and the LRU, releasing its memory.
    fn unlink(&mut self, id: ItemId) {
        let hash = self.lru.get(id).hash;
        if let Ok(entry) = self.table.find_entry(hash, |&i| i == id) {
            entry.remove();
        }
        let it = self.lru.remove(id);
        self.used -= it.total();
    }

    /// Removes the least recently used item; false if there is none.
    fn evict_tail(&mut self) -> bool {
        let Some(id) = self.lru.tail() else {
            return false;
        };
        let fetched = self.lru.get(id).has(FETCHED);
        if self.is_dead(id) {
            self.counters.reclaimed += 1;
            if !fetched {
                self.counters.expired_unfetched += 1;
            }
        } else {
            self.counters.evictions += 1;
            if !fetched {
                self.counters.evicted_unfetched += 1;
            }
            if self.log.wants(watch::EVICTIONS) {
                self.log_evict(id);
            }
        }
        self.unlink(id);
        true
    }

    /// Removes up to `budget` dead items from the old end of the LRU and
    /// returns how many went: memcached's LRU crawler, for the server to
    /// call from a timer so flushed and expired items free their memory
    /// without being looked up.
    pub fn reclaim(&mut self, budget: usize) -> usize {
        self.crawler_starts += 1;
        let mut freed = 0;
        let mut at = self.lru.tail();
        for _ in 0..budget {
            let Some(id) = at else { break };
            let prev = self.lru.get(id).prev;
            self.counters.crawler_items_checked += 1;
            if self.is_dead(id) {
                self.counters.crawler_reclaimed += 1;
                self.unlink(id);
                freed += 1;
            }
            at = (prev != crate::lru::NIL).then_some(prev);
        }
        freed
    }

    /// Whether `total` bytes fit (in place of `old`) once dead items at the
    /// LRU tail are freed, without evicting a live one.
    fn room_without_evicting(&mut self, total: usize, old: Option<ItemId>) -> bool {
        let old_total = old.map_or(0, |id| self.lru.get(id).total());
        while self.used - old_total + total > self.limit {
            match self.lru.tail() {
                Some(tail) if self.is_dead(tail) => {
                    self.evict_tail();
                }
                _ => return false,
            }
        }
        true
    }

    /// Makes room for `total` more bytes by evicting from the LRU tail.
    /// The caller made sure `total <= limit`.
    fn make_room(&mut self, total: usize) {
        while self.used + total > self.limit {
            if !self.evict_tail() {
                break;
            }
        }
    }

    /// Links a new item built from its parts; returns its id and CAS.
    fn link(
        &mut self,
        hash: u64,
        key: &[u8],
        parts: &[&[u8]],
        meta: (u32, u32, u8),
    ) -> (ItemId, u64) {
        debug_assert!(key.len() <= crate::item::KEY_MAX);
        let (flags, exptime, bits) = meta;
        let cas = self.take_cas();
        let item = Item {
            data: item_data(key, parts),
            hash,
            cas,
            flags,
            exptime,
            atime: self.clock.now(),
            prev: 0,
            next: 0,
            key_len: key.len() as u8,
            bits,
        };
        self.used += item.total();
        self.counters.total_items += 1;
        self.held_items = true;
        let id = self.lru.insert(item);
        let lru = &self.lru;
        self.table.insert_unique(hash, id, |&i| lru.get(i).hash);
        (id, cas)
    }

    /// Stores per `w` (set, add, replace, append, prepend, cas).
    pub fn store(&mut self, w: &Write<'_>) -> StoreOutcome {
        self.store_id(w).0
    }

    /// Stores per `w`; also returns the id of the item stored.
    pub fn store_id(&mut self, w: &Write<'_>) -> (StoreOutcome, Option<ItemId>) {
        let done = self.write(w);
        if self.log.wants(watch::MUTATIONS) {
            self.log_store(w, done.0);
        }
        done
    }

    /// [`store_id`](Self::store_id) without the log.
    fn write(&mut self, w: &Write<'_>) -> (StoreOutcome, Option<ItemId>) {
        if self.pull_tail {
            for _ in 0..PULL_TAIL {
                match self.lru.tail() {
                    Some(tail) if self.is_dead(tail) => {
                        self.evict_tail();
                    }
                    _ => break,
                }
            }
        }
        let hash = self.hash(w.key);
        let old = self.lookup_live(hash, w.key);
        let key_bit = if w.key_binary { KEY_BINARY } else { 0 };
        // Decide, and shape the new item: flags, expiry, bits, value parts.
        let mut meta = (w.flags, w.exptime, key_bit);
        let mut prefix: &[u8] = &[];
        let mut suffix: &[u8] = &[];
        let old_data;
        match (w.mode, old) {
            (Mode::Add, Some(id)) => {
                self.lru.bump(id);
                return (StoreOutcome::NotStored, None);
            }
            (Mode::Replace | Mode::Append | Mode::Prepend, None) => {
                return (StoreOutcome::NotStored, None)
            }
            (Mode::Cas, None) => return (StoreOutcome::NotFound, None),
            (Mode::Cas, Some(id)) => {
                let it = self.lru.get(id);
                let stale = w.stale_ok && w.cas != 0 && w.cas < it.cas;
                if stale {
                    // Stored, but stale, keeping the old expiry.
                    meta.1 = it.exptime;
                    meta.2 |= STALE | (it.bits & TOKEN_SENT);
                } else if w.cas == 0 || w.cas != it.cas {
                    // memcached: a cas without a unique never matches.
                    return (StoreOutcome::Exists, None);
                }
            }
            (Mode::Append | Mode::Prepend, Some(id)) => {
                let it = self.lru.get(id);
                if w.cas != 0 && w.cas != it.cas {
                    return (StoreOutcome::Exists, None);
                }
                // memcached builds a new item that keeps the old flags and
                // expiry but none of its marks (stale, token sent, base64
                // key).
                meta = (it.flags, it.exptime, 0);
                old_data = it.value_crlf();
                let old_value = &old_data[..old_data.len() - 2];
                if w.mode == Mode::Append {
                    prefix = old_value;
                } else {
                    suffix = old_value;
                }
            }
            _ => {}
        }
        let total = item_total(
            w.key.len(),
            prefix.len() + w.value.len() + suffix.len(),
            meta.0,
        );
        // memcached cannot allocate the joined item of an append or prepend
        // that grows too large: not stored, the old value kept.
        let joins = matches!(w.mode, Mode::Append | Mode::Prepend);
        if joins && (total > self.item_max || total > self.limit) {
            return (StoreOutcome::NotStored, None);
        }
        if total > self.item_max || total > self.limit {
            if w.mode == Mode::Set {
                if let Some(id) = old {
                    self.unlink(id);
                }
            }
            let refused = if total > self.item_max {
                StoreOutcome::TooLarge
            } else {
                StoreOutcome::NoMemory
            };
            return (refused, None);
        }
        if self.no_evict && !self.room_without_evicting(total, old) {
            if joins {
                return (StoreOutcome::NotStored, None);
            }
            // memcached drops the old value of a set it cannot store.
            if let (Mode::Set, Some(id)) = (w.mode, old) {
                self.unlink(id);
            }
            return (StoreOutcome::NoMemory, None);
        }
        if let Some(id) = old {
            self.unlink(id);
        }
        self.make_room(total);
        let (id, cas) = self.link(hash, w.key, &[prefix, w.value, suffix], meta);
        (StoreOutcome::Stored(cas), Some(id))
    }

    /// incr (`incr` true) or decr by `delta`: 64-bit unsigned, incr wraps,
    /// decr stops at 0. `cas` 0 means no CAS check. A shorter result is
    /// padded with spaces to the old length, as memcached does; a longer
    /// one grows the value.
    pub fn delta(&mut self, key: &[u8], incr: bool, delta: u64, cas: u64) -> Delta {
        let hash = self.hash(key);
        let Some(id) = self.lookup_live(hash, key) else {
            return Delta::NotFound;
        };
        let it = self.lru.get(id);
        if it.value_len() == 0 {
            return Delta::NonNumeric;
        }
        if cas != 0 && cas != it.cas {
            return Delta::CasMismatch;
        }
        let Some(current) = parse_value_u64(it.value()) else {
            return Delta::NonNumeric;
        };
        let new = if incr {
            current.wrapping_add(delta)
        } else {
            current.saturating_sub(delta)
        };
        let mut buf = itoa::Buf::new();
        let digits = buf.format(new);
        // memcached rewrites a number that fits in place, padding it with
        // spaces to the old length ("10" decr 1 reads back "9 "); a longer
        // one, or one a reply not yet sent holds, gets a new item of its
        // own length.
        let key_len = it.key_len as usize;
        let held = self.held.contains(&(id, it.cas));
        let value_len = if held {
            digits.len()
        } else {
            it.value_len().max(digits.len())
        };
        let mut v = Vec::with_capacity(key_len + value_len + 2);
        v.extend_from_slice(it.key());
        v.extend_from_slice(digits);
        v.resize(key_len + value_len, b' ');
        v.extend_from_slice(b"\r\n");
        let new_data = bytes::Bytes::from(v);
        let old_total = it.total();
        let cas = self.take_cas();
        let it = self.lru.get_mut(id);
        it.data = new_data;
        it.cas = cas;
        let new_total = it.total();
        self.used = self.used - old_total + new_total;
        self.lru.bump(id);
        while self.used > self.limit && self.lru.tail() != Some(id) {
            // Under -M only dead items make room.
            if self.no_evict && self.lru.tail().is_some_and(|t| !self.is_dead(t)) {
                break;
            }
            self.evict_tail();
        }
        Delta::Done(new, id)
    }

    /// `flush_all [delay]`: items stored before now (delay <= 0) or before
    /// the time the delay names (relative or absolute, as exptimes) become
    /// invalid at that time. A later `flush_all` replaces a pending one.
    pub fn flush_all(&mut self, delay: i64) {
        if !self.use_cas {
            // memcached without CAS: by last store or bump time, from the
            // time named (now: this whole second).
            let at = if delay > 0 {
                self.clock.expiry(delay)
            } else {
                self.clock.now()
            };
            self.flush_live = Some(at);
            return;
        }
        // memcached flushes what was stored up to the second before the
        // time named (so `flush_all 1` flushes at once), and an immediate
        // flush takes a CAS unique of its own as the barrier.
        let at = if delay > 0 {
            self.clock.expiry(delay).saturating_sub(1)
        } else {
            self.clock.now()
        };
        if at <= self.clock.now() {
            self.oldest_cas = self.take_cas();
            self.flush_at = None;
        } else {
            self.flush_at = Some(at);
        }
    }
}

/// Decimal formatting without `fmt` machinery, for hot reply paths.
pub mod itoa {
    /// A stack buffer holding one formatted `u64`.
    #[derive(Debug, Default)]
    pub struct Buf {
        /// Digits, right-aligned.
        bytes: [u8; 20],
    }

    impl Buf {
        /// An empty buffer.
        pub fn new() -> Self {
            Buf { bytes: [0; 20] }
        }

        /// Formats `n`, returning its digits.
        pub fn format(&mut self, mut n: u64) -> &[u8] {
            let mut i = self.bytes.len();
            loop {
                i -= 1;
                self.bytes[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            &self.bytes[i..]
        }
    }
}

#[cfg(test)]
mod tests;
