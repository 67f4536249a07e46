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
#[derive(Debug)]
pub(crate) struct TimerHeap<K> {
    v: Vec<Entry<K>>,
}

impl<K: Copy> Default for TimerHeap<K> {
    fn default() -> Self {
        TimerHeap { v: Vec::new() }
    }
}

impl<K: Copy> TimerHeap<K> {
    /// Number of entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.v.len()
    }

    /// The earliest entry.
    #[inline]
    pub fn peek(&self) -> Option<&Entry<K>> {
        self.v.first()
    }

    /// The entry at `idx` (as reported through `moved`).
    #[inline]
    pub fn get(&self, idx: u32) -> &Entry<K> {
        &self.v[idx as usize]
    }

    /// Inserts an entry; `moved` learns the index of every entry that moved,
    /// the new one included.
    pub fn push(&mut self, at: i64, key: K, moved: &mut impl FnMut(K, u32)) {
        self.v.push(Entry { at, key });
        let i = self.v.len() - 1;
        self.sift_up(i, moved);
    }

    /// Removes the entry at `idx` and returns it.
    pub fn remove(&mut self, idx: u32, moved: &mut impl FnMut(K, u32)) -> Entry<K> {
        let idx = idx as usize;
        let last = self.v.len() - 1;
        self.v.swap(idx, last);
        let gone = self.v.pop().expect("index within the heap");
        if idx < self.v.len() {
            self.fix(idx, moved);
        }
        gone
    }

    /// Changes the deadline of the entry at `idx` and restores heap order.
    pub fn set_at(&mut self, idx: u32, at: i64, moved: &mut impl FnMut(K, u32)) {
        let idx = idx as usize;
        let old = self.v[idx].at;
        self.v[idx].at = at;
        if at < old {
            self.sift_up(idx, moved);
        } else {
            self.sift_down(idx, moved);
        }
    }

    /// Adds `delta` to every deadline (order is unchanged).
    pub fn shift_all(&mut self, delta: i64) {
        for e in &mut self.v {
            e.at = e.at.saturating_add(delta);
        }
    }

    /// All entries, in heap (not deadline) order.
    pub fn entries(&self) -> &[Entry<K>] {
        &self.v
    }

    /// Re-establishes heap order after arbitrary deadline changes made
    /// through `entries_mut`, reporting every index.
    pub fn rebuild(&mut self, moved: &mut impl FnMut(K, u32)) {
        for i in (0..self.v.len()).rev() {
            self.sift_down(i, moved);
        }
        for (i, e) in self.v.iter().enumerate() {
            moved(e.key, i as u32);
        }
    }

    /// Mutable access to the deadlines; call [`rebuild`](Self::rebuild) after.
    pub fn entries_mut(&mut self) -> &mut [Entry<K>] {
        &mut self.v
    }

    fn fix(&mut self, idx: usize, moved: &mut impl FnMut(K, u32)) {
        if idx > 0 && self.v[idx].at < self.v[(idx - 1) / D].at {
            self.sift_up(idx, moved);
        } else {
            self.sift_down(idx, moved);
        }
    }

    fn sift_up(&mut self, mut i: usize, moved: &mut impl FnMut(K, u32)) {
        let e = self.v[i];
        while i > 0 {
            let p = (i - 1) / D;
            if self.v[p].at <= e.at {
                break;
            }
            self.v[i] = self.v[p];
            moved(self.v[i].key, i as u32);
            i = p;
        }
        self.v[i] = e;
        moved(e.key, i as u32);
    }

    fn sift_down(&mut self, mut i: usize, moved: &mut impl FnMut(K, u32)) {
        let n = self.v.len();
        let e = self.v[i];
        loop {
            let first = D * i + 1;
            if first >= n {
                break;
            }
            let end = (first + D).min(n);
            let mut best = first;
            let mut best_at = self.v[first].at;
            for c in first + 1..end {
                let at = self.v[c].at;
                if at < best_at {
                    best = c;
                    best_at = at;
                }
            }
            if best_at >= e.at {
                break;
            }
            self.v[i] = self.v[best];
            moved(self.v[i].key, i as u32);
            i = best;
        }
        self.v[i] = e;
        moved(e.key, i as u32);
    }
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
        #![proptest_config(ProptestConfig::with_cases(512))]
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
