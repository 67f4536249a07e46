//! The answer cache: one entry per (name, type) (class IN only), positive
//! answers for their TTL, negative ones for RFC 2308's negative TTL, at
//! most `cap` entries (the oldest stored go first, a FIFO with lazy
//! deletion: cheaper than an LRU's per-hit bookkeeping, and close to it for
//! a stub resolver, whose entries expire by TTL anyway).

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Instant;

use hickory_proto::rr::{Name, RecordType};

use super::wire::Outcome;

struct Entry {
    outcome: Rc<Outcome>,
    stored: Instant,
    ttl: u32,
    seq: u64,
}

pub(crate) struct Cache {
    map: HashMap<(Name, RecordType), Entry>,
    order: VecDeque<((Name, RecordType), u64)>,
    seq: u64,
    cap: usize,
    max_ttl: u32,
}

impl Cache {
    pub(crate) fn new(cap: usize, max_ttl: u32) -> Cache {
        Cache {
            map: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
            cap,
            max_ttl,
        }
    }

    /// A live entry and the TTL it has left.
    pub(crate) fn get(
        &mut self,
        name: &Name,
        qtype: RecordType,
        now: Instant,
    ) -> Option<(Rc<Outcome>, u32)> {
        let key = (name.clone(), qtype);
        let e = self.map.get(&key)?;
        let age = now.saturating_duration_since(e.stored).as_secs();
        if age >= u64::from(e.ttl) {
            self.map.remove(&key);
            return None;
        }
        Some((e.outcome.clone(), e.ttl - age as u32))
    }

    pub(crate) fn insert(
        &mut self,
        name: &Name,
        qtype: RecordType,
        outcome: Rc<Outcome>,
        now: Instant,
    ) {
        let Some(ttl) = outcome.cache_ttl() else {
            return;
        };
        let ttl = ttl.min(self.max_ttl);
        if ttl == 0 || self.cap == 0 {
            return;
        }
        self.seq += 1;
        let key = (name.clone(), qtype);
        self.order.push_back((key.clone(), self.seq));
        self.map.insert(
            key,
            Entry {
                outcome,
                stored: now,
                ttl,
                seq: self.seq,
            },
        );
        while self.map.len() > self.cap {
            let Some((k, seq)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&k).is_some_and(|e| e.seq == seq) {
                self.map.remove(&k);
            }
        }
        // Entries replaced or expired leave stale order items behind; keep
        // the queue from growing past twice the live entries.
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(k, seq)| map.get(k).is_some_and(|e| e.seq == *seq));
        }
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
