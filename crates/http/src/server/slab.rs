//! A generational slab: the server's tables of servers and connections.
//! A key names one occupant; once it is removed, the slot's generation
//! moves on and the old key finds nothing (so a `Responder` kept after its
//! connection closed is refused instead of reaching a newer connection).

/// Names one occupant of a [`Slab`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    idx: u32,
    gen: u32,
}

pub(crate) struct Slab<V> {
    slots: Vec<Slot<V>>,
    free: Vec<u32>,
    len: usize,
}

struct Slot<V> {
    gen: u32,
    value: Option<V>,
}

impl<V> Default for Slab<V> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<V> Slab<V> {
    pub(crate) fn insert(&mut self, value: V) -> Key {
        self.len += 1;
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            slot.value = Some(value);
            return Key { idx, gen: slot.gen };
        }
        let idx = u32::try_from(self.slots.len()).expect("fewer than 2^32 entries");
        self.slots.push(Slot {
            gen: 0,
            value: Some(value),
        });
        Key { idx, gen: 0 }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut V> {
        let slot = self.slots.get_mut(key.idx as usize)?;
        if slot.gen != key.gen {
            return None;
        }
        slot.value.as_mut()
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<V> {
        let slot = self.slots.get_mut(key.idx as usize)?;
        if slot.gen != key.gen {
            return None;
        }
        let v = slot.value.take()?;
        slot.gen = slot.gen.wrapping_add(1);
        self.free.push(key.idx);
        self.len -= 1;
        Some(v)
    }

    /// The keys of every occupant, for a walk that may remove some.
    pub(crate) fn keys(&self) -> Vec<Key> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.value.is_some())
            .map(|(i, s)| Key {
                idx: i as u32,
                gen: s.gen,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_key_finds_nothing_even_when_its_slot_is_reused() {
        let mut s = Slab::default();
        let a = s.insert(1);
        assert_eq!(s.remove(a), Some(1));
        let b = s.insert(2);
        assert_eq!(s.get_mut(a), None);
        assert_eq!(s.get_mut(b), Some(&mut 2));
        assert_eq!(s.keys(), vec![b]);
    }
}
