//! A vector of slots with generations: O(1) insert, lookup and removal,
//! and keys that go stale when their slot is reused.

pub(crate) struct Slab<V> {
    entries: Vec<Entry<V>>,
    free: Vec<u32>,
    len: usize,
}

struct Entry<V> {
    gen: u32,
    val: Option<V>,
}

/// Index and generation of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) idx: u32,
    pub(crate) gen: u32,
}

impl<V> Slab<V> {
    pub(crate) fn new() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, v: V) -> Key {
        self.len += 1;
        if let Some(idx) = self.free.pop() {
            let e = &mut self.entries[idx as usize];
            e.gen = e.gen.wrapping_add(1);
            e.val = Some(v);
            Key { idx, gen: e.gen }
        } else {
            let idx = self.entries.len() as u32;
            self.entries.push(Entry {
                gen: 0,
                val: Some(v),
            });
            Key { idx, gen: 0 }
        }
    }

    pub(crate) fn get(&self, k: Key) -> Option<&V> {
        match self.entries.get(k.idx as usize) {
            Some(e) if e.gen == k.gen => e.val.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, k: Key) -> Option<&mut V> {
        match self.entries.get_mut(k.idx as usize) {
            Some(e) if e.gen == k.gen => e.val.as_mut(),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, k: Key) -> Option<V> {
        let e = self.entries.get_mut(k.idx as usize)?;
        if e.gen != k.gen {
            return None;
        }
        let v = e.val.take()?;
        self.free.push(k.idx);
        self.len -= 1;
        Some(v)
    }

    /// Keys of every live entry (for rare whole-table walks: shutdown, a
    /// socket error).
    pub(crate) fn keys(&self) -> Vec<Key> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.val.is_some())
            .map(|(i, e)| Key {
                idx: i as u32,
                gen: e.gen,
            })
            .collect()
    }
}

impl<V> Slab<V> {
    /// The key of the live entry at `idx`.
    pub(crate) fn key_at(&self, idx: u32) -> Option<Key> {
        let e = self.entries.get(idx as usize)?;
        e.val.as_ref().map(|_| Key { idx, gen: e.gen })
    }
}
