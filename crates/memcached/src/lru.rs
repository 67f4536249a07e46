//! Item slots in one `Vec`, threaded on an intrusive doubly linked LRU list
//! by index: O(1) insert, bump, unlink and eviction, no allocation per item
//! beyond the item's own data, and freed slots reused.

use bytes::Bytes;

use crate::item::Item;

/// "No neighbour" / "no slot".
pub const NIL: u32 = u32::MAX;

/// Index of an item's slot. Valid until that item is removed.
pub type ItemId = u32;

/// The slots and the LRU order (head = most recently used).
#[derive(Debug, Default)]
pub struct Lru {
    /// All slots, used and free.
    slots: Vec<Item>,
    /// First free slot, chained through `Item::next`.
    free: u32,
    /// Most recently used item.
    head: u32,
    /// Least recently used item: the next to evict.
    tail: u32,
    /// Items in the list.
    len: usize,
}

impl Lru {
    /// An empty list.
    pub fn new() -> Self {
        Lru {
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The item in slot `id`.
    pub fn get(&self, id: ItemId) -> &Item {
        &self.slots[id as usize]
    }

    /// The item in slot `id`, to change its metadata.
    pub fn get_mut(&mut self, id: ItemId) -> &mut Item {
        &mut self.slots[id as usize]
    }

    /// Number of slots, used and free: ids below it may be probed with
    /// [`slot`](Lru::slot).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The item in slot `id`, if the slot exists and is in use (a walk by
    /// slot index stays valid while items come and go, unlike a walk of
    /// the list).
    pub fn slot(&self, id: ItemId) -> Option<&Item> {
        self.slots.get(id as usize).filter(|it| it.key_len > 0)
    }

    /// The most recently used item, if any.
    pub fn head(&self) -> Option<ItemId> {
        (self.head != NIL).then_some(self.head)
    }

    /// The least recently used item, if any.
    pub fn tail(&self) -> Option<ItemId> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Stores `item` in a free slot at the head of the list.
    pub fn insert(&mut self, item: Item) -> ItemId {
        let id = if self.free != NIL {
            let id = self.free;
            self.free = self.slots[id as usize].next;
            self.slots[id as usize] = item;
            id
        } else {
            self.slots.push(item);
            (self.slots.len() - 1) as u32
        };
        self.link_front(id);
        self.len += 1;
        id
    }

    /// Takes the item out of its slot and the list; the slot is reused.
    pub fn remove(&mut self, id: ItemId) -> Item {
        self.unlink(id);
        self.len -= 1;
        let slot = &mut self.slots[id as usize];
        let empty = Item {
            data: Bytes::new(),
            hash: 0,
            cas: 0,
            flags: 0,
            exptime: 0,
            atime: 0,
            prev: NIL,
            next: self.free,
            key_len: 0,
            bits: 0,
        };
        self.free = id;
        std::mem::replace(slot, empty)
    }

    /// Makes `id` the most recently used item.
    pub fn bump(&mut self, id: ItemId) {
        if self.head != id {
            self.unlink(id);
            self.link_front(id);
        }
    }

    /// Puts `id` at the head.
    fn link_front(&mut self, id: ItemId) {
        let old = self.head;
        {
            let it = &mut self.slots[id as usize];
            it.prev = NIL;
            it.next = old;
        }
        if old != NIL {
            self.slots[old as usize].prev = id;
        } else {
            self.tail = id;
        }
        self.head = id;
    }

    /// Takes `id` out of the list, leaving its slot in place.
    fn unlink(&mut self, id: ItemId) {
        let (prev, next) = {
            let it = &self.slots[id as usize];
            (it.prev, it.next)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
    }

    /// Item ids from most to least recently used (tests and `stats`).
    #[cfg(test)]
    pub fn order(&self) -> Vec<ItemId> {
        let mut out = Vec::new();
        let mut at = self.head;
        while at != NIL {
            out.push(at);
            at = self.slots[at as usize].next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::item_data;

    fn item(key: &[u8]) -> Item {
        Item {
            data: item_data(key, &[b"v"]),
            hash: 0,
            cas: 0,
            flags: 0,
            exptime: 0,
            atime: 0,
            prev: NIL,
            next: NIL,
            key_len: key.len() as u8,
            bits: 0,
        }
    }

    #[test]
    fn insert_bump_remove_keep_order() {
        let mut l = Lru::new();
        let a = l.insert(item(b"a"));
        let b = l.insert(item(b"b"));
        let c = l.insert(item(b"c"));
        assert_eq!(l.order(), vec![c, b, a]);
        assert_eq!(l.tail(), Some(a));
        l.bump(a);
        assert_eq!(l.order(), vec![a, c, b]);
        assert_eq!(l.tail(), Some(b));
        assert_eq!(l.remove(c).key(), b"c");
        assert_eq!(l.order(), vec![a, b]);
        assert_eq!(l.len(), 2);
        // the freed slot is reused
        let d = l.insert(item(b"d"));
        assert_eq!(d, c);
        assert_eq!(l.order(), vec![d, a, b]);
        l.remove(b);
        l.remove(a);
        l.remove(d);
        assert_eq!(l.tail(), None);
        assert_eq!(l.len(), 0);
        assert!(l.order().is_empty());
    }
}
