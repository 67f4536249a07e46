//! A 4-ary min-heap of deadlines in which every element knows its position.
//!
//! libev's "4-heap": a node's four children sit next to each other, so one
//! sift step compares a cache line's worth of deadlines, and the tree is half
//! as deep as a binary heap. The heap holds plain `(at, key)` pairs; whenever
//! an entry moves, the heap reports its new index through the `moved`
//! callback, so the owner can store it next to the watcher and later stop or
//! change that timer in O(log n) without a search. The heap makes no system
//! calls and knows nothing about watchers, so it can be tested against a
//! simple model.

/// Heap arity.
const D: usize = 4;

/// One heap element: a deadline and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry<K> {
    /// The deadline, in nanoseconds on the owner's time line.
    pub at: i64,
    /// The owner's handle for the element.
    pub key: K,
}

/// The heap. See the module docs.
///
/// Entries are 16 bytes, so a node's four children fill one 64-byte cache
/// line if the group starts on a line boundary. The root's children sit at
/// indexes 1..=4, so the storage starts with `pad` unused entries, chosen
/// after each allocation so that every child group is line-aligned (libev
/// gets the same effect by starting its heap at index 3). Outside this type
/// only logical indexes (root = 0) are seen.
#[derive(Debug)]
pub(crate) struct TimerHeap<K> {
    v: Vec<Entry<K>>,
    pad: usize,
}

impl<K: Copy> Default for TimerHeap<K> {
    fn default() -> Self {
        TimerHeap {
            v: Vec::new(),
            pad: 0,
        }
    }
}

impl<K: Copy> TimerHeap<K> {
    /// Number of entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.v.len() - self.pad
    }

    /// The earliest entry.
    #[inline]
    pub fn peek(&self) -> Option<&Entry<K>> {
        self.v.get(self.pad)
    }

    /// The entry at `idx` (as reported through `moved`).
    #[inline]
    pub fn get(&self, idx: u32) -> &Entry<K> {
        &self.v[self.pad + idx as usize]
    }

    /// Inserts an entry; `moved` learns the index of every entry that moved,
    /// the new one included.
    pub fn push(&mut self, at: i64, key: K, moved: &mut impl FnMut(K, u32)) {
        let e = Entry { at, key };
        if self.v.len() == self.v.capacity() {
            self.grow(e);
        }
        self.v.push(e);
        let h = &mut self.v[self.pad..];
        let i = h.len() - 1;
        sift_up(h, i, moved);
    }

    /// Doubles the storage and picks the padding for the new address;
    /// `filler` fills the unused entries.
    #[cold]
    fn grow(&mut self, filler: Entry<K>) {
        let live = self.v.len() - self.pad;
        let cap = (live * 2).max(64) + D;
        let mut v = Vec::with_capacity(cap);
        let size = std::mem::size_of::<Entry<K>>();
        let base = v.as_ptr() as usize;
        let pad = (0..D)
            .find(|p| size == 16 && (base + size * (p + 1)) % 64 == 0)
            .unwrap_or(0);
        v.extend(std::iter::repeat_n(filler, pad));
        v.extend_from_slice(&self.v[self.pad..]);
        self.v = v;
        self.pad = pad;
    }

    /// Removes the entry at `idx` and returns it.
    pub fn remove(&mut self, idx: u32, moved: &mut impl FnMut(K, u32)) -> Entry<K> {
        let idx = idx as usize;
        let h = &mut self.v[self.pad..];
        let last = h.len() - 1;
        h.swap(idx, last);
        let gone = self.v.pop().expect("index within the heap");
        let h = &mut self.v[self.pad..];
        if idx < h.len() {
            if idx > 0 && h[idx].at < h[(idx - 1) / D].at {
                sift_up(h, idx, moved);
            } else {
                sift_down(h, idx, moved);
            }
        }
        gone
    }

    /// Changes the deadline of the entry at `idx` and restores heap order.
    pub fn set_at(&mut self, idx: u32, at: i64, moved: &mut impl FnMut(K, u32)) {
        let idx = idx as usize;
        let h = &mut self.v[self.pad..];
        let old = h[idx].at;
        h[idx].at = at;
        if at < old {
            sift_up(h, idx, moved);
        } else {
            sift_down(h, idx, moved);
        }
    }

    /// How many entries are due, that is have `at < now` (strictly: a
    /// deadline is due once it has passed, as in libev). Only those entries
    /// and their children are read (a due entry's ancestors are all due), so
    /// this costs O(answer), nothing when the top is not due. `stack` is
    /// scratch space.
    pub fn count_due(&self, now: i64, stack: &mut Vec<u32>) -> usize {
        let h = self.entries();
        if h.first().is_none_or(|e| e.at >= now) {
            return 0;
        }
        stack.clear();
        stack.push(0);
        let mut n = 0;
        while let Some(i) = stack.pop() {
            n += 1;
            let first = D * i as usize + 1;
            for (c, e) in h.iter().enumerate().skip(first).take(D) {
                if e.at < now {
                    stack.push(c as u32);
                }
            }
        }
        n
    }

    /// Adds `delta` to every deadline (order is unchanged).
    pub fn shift_all(&mut self, delta: i64) {
        for e in &mut self.v[self.pad..] {
            e.at = e.at.saturating_add(delta);
        }
    }

    /// All entries, in heap (not deadline) order.
    pub fn entries(&self) -> &[Entry<K>] {
        &self.v[self.pad..]
    }

    /// Re-establishes heap order after arbitrary deadline changes made
    /// through `entries_mut`, reporting every index.
    pub fn rebuild(&mut self, moved: &mut impl FnMut(K, u32)) {
        let h = &mut self.v[self.pad..];
        for i in (0..h.len()).rev() {
            sift_down(h, i, moved);
        }
        for (i, e) in h.iter().enumerate() {
            moved(e.key, i as u32);
        }
    }

    /// Mutable access to the deadlines; call [`rebuild`](Self::rebuild) after.
    pub fn entries_mut(&mut self) -> &mut [Entry<K>] {
        &mut self.v[self.pad..]
    }
}

fn sift_up<K: Copy>(h: &mut [Entry<K>], mut i: usize, moved: &mut impl FnMut(K, u32)) {
    let e = h[i];
    while i > 0 {
        let p = (i - 1) / D;
        if h[p].at <= e.at {
            break;
        }
        h[i] = h[p];
        moved(h[i].key, i as u32);
        i = p;
    }
    h[i] = e;
    moved(e.key, i as u32);
}

fn sift_down<K: Copy>(h: &mut [Entry<K>], mut i: usize, moved: &mut impl FnMut(K, u32)) {
    let n = h.len();
    let e = h[i];
    loop {
        let first = D * i + 1;
        if first >= n {
            break;
        }
        let end = (first + D).min(n);
        let mut best = first;
        let mut best_at = h[first].at;
        for (c, child) in h.iter().enumerate().take(end).skip(first + 1) {
            if child.at < best_at {
                best = c;
                best_at = child.at;
            }
        }
        if best_at >= e.at {
            break;
        }
        h[i] = h[best];
        moved(h[i].key, i as u32);
        i = best;
    }
    h[i] = e;
    moved(e.key, i as u32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    #[derive(Debug, Clone)]
    enum Op {
        Push(i64),
        /// Remove the n-th live key (modulo the number of keys).
        Remove(usize),
        /// Change the deadline of the n-th live key.
        Set(usize, i64),
        PopMin,
        Shift(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (-1000i64..1000).prop_map(Op::Push),
            1 => any::<usize>().prop_map(Op::Remove),
            2 => (any::<usize>(), -1000i64..1000).prop_map(|(k, at)| Op::Set(k, at)),
            1 => Just(Op::PopMin),
            1 => (-50i64..50).prop_map(Op::Shift),
        ]
    }

    /// Checks heap order and that the index map agrees with the heap.
    fn check(h: &TimerHeap<u32>, idx: &HashMap<u32, u32>) {
        for (i, e) in h.entries().iter().enumerate() {
            if i > 0 {
                assert!(h.entries()[(i - 1) / D].at <= e.at, "heap order at {i}");
            }
            assert_eq!(idx[&e.key], i as u32, "index of key {}", e.key);
        }
        assert_eq!(idx.len(), h.len());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 512 }))]
        /// The heap agrees with a BTreeSet model on every operation sequence.
        #[test]
        fn matches_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut h = TimerHeap::<u32>::default();
            let mut idx: HashMap<u32, u32> = HashMap::new();
            let mut model: BTreeSet<(i64, u32)> = BTreeSet::new();
            let mut at_of: HashMap<u32, i64> = HashMap::new();
            let mut next_key = 0u32;
            for op in ops {
                let live: Vec<u32> = { let mut k: Vec<u32> = at_of.keys().copied().collect(); k.sort(); k };
                match op {
                    Op::Push(at) => {
                        let k = next_key; next_key += 1;
                        h.push(at, k, &mut |k, i| { idx.insert(k, i); });
                        model.insert((at, k)); at_of.insert(k, at);
                    }
                    Op::Remove(n) if !live.is_empty() => {
                        let k = live[n % live.len()];
                        let e = h.remove(idx[&k], &mut |k, i| { idx.insert(k, i); });
                        prop_assert_eq!(e.key, k);
                        idx.remove(&k);
                        model.remove(&(at_of[&k], k)); at_of.remove(&k);
                    }
                    Op::Set(n, at) if !live.is_empty() => {
                        let k = live[n % live.len()];
                        h.set_at(idx[&k], at, &mut |k, i| { idx.insert(k, i); });
                        model.remove(&(at_of[&k], k)); model.insert((at, k)); at_of.insert(k, at);
                    }
                    Op::PopMin if h.len() > 0 => {
                        let e = h.remove(0, &mut |k, i| { idx.insert(k, i); });
                        let min = *model.iter().next().unwrap();
                        prop_assert_eq!(e.at, min.0);
                        idx.remove(&e.key);
                        model.remove(&(e.at, e.key)); at_of.remove(&e.key);
                    }
                    Op::Shift(d) => {
                        h.shift_all(d);
                        model = model.into_iter().map(|(a, k)| (a + d, k)).collect();
                        for v in at_of.values_mut() { *v += d; }
                    }
                    _ => {}
                }
                                check(&h, &idx);
                prop_assert_eq!(h.peek().map(|e| e.at), model.iter().next().map(|m| m.0));
                for now in [-1000i64, -10, 0, 10, 500, 1000] {
                    let want = model.iter().filter(|m| m.0 < now).count();
                    prop_assert_eq!(h.count_due(now, &mut Vec::new()), want, "due at {}", now);
                }
            }
        }
    }

    #[test]
    fn pops_in_order() {
        let mut h = TimerHeap::<u32>::default();
        let mut sink = |_, _| {};
        for (k, at) in [5i64, 3, 9, 1, 7, 3, 0, 8].into_iter().enumerate() {
            h.push(at, k as u32, &mut sink);
        }
        let mut out = Vec::new();
        while h.len() > 0 {
            out.push(h.remove(0, &mut sink).at);
        }
        assert_eq!(out, vec![0, 1, 3, 3, 5, 7, 8, 9]);
    }
}
