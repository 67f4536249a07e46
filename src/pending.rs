//! The pending queues: watchers with an event waiting for their callback.
//!
//! One stack per priority, as in libev. Entries are pushed as events are
//! collected and popped from the end, highest priority first; a watcher
//! appears at most once (a second event ORs its bits into the entry). Each
//! watcher remembers where its entry is, so clearing it (on stop or remove)
//! is O(1): the entry is blanked and skipped when popped. Nothing here
//! allocates once the stacks have grown to their working size.

use crate::handle::WatcherKey;
use crate::{Events, Priority};

#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingEntry {
    /// `None` once cleared.
    pub key: Option<WatcherKey>,
    pub events: Events,
}

#[derive(Debug, Default)]
pub(crate) struct PendingQueues {
    queues: [Vec<PendingEntry>; Priority::LEVELS],
    /// Live (not cleared) entries.
    count: usize,
    /// Live entries per priority.
    level_counts: [usize; Priority::LEVELS],
}

impl PendingQueues {
    /// Live entries over all priorities.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether priority level `index` (0 = lowest) has live entries.
    #[inline]
    pub fn has_level(&self, index: usize) -> bool {
        self.level_counts[index] != 0
    }

    /// Queues `events` for `key`, or merges them into its entry. `pending` is
    /// the watcher's own "1 + index, or 0" field.
    #[inline]
    pub fn queue(
        &mut self,
        pending: &mut u32,
        priority: Priority,
        key: WatcherKey,
        events: Events,
    ) {
        let q = &mut self.queues[priority.index()];
        if *pending != 0 {
            q[*pending as usize - 1].events |= events;
        } else {
            q.push(PendingEntry {
                key: Some(key),
                events,
            });
            *pending = q.len() as u32;
            self.count += 1;
            self.level_counts[priority.index()] += 1;
        }
    }

    /// Removes the watcher's entry, returning the events it had.
    #[inline]
    pub fn clear(&mut self, pending: &mut u32, priority: Priority) -> Events {
        if *pending == 0 {
            return Events::empty();
        }
        let e = &mut self.queues[priority.index()][*pending as usize - 1];
        let events = e.events;
        e.key = None;
        e.events = Events::empty();
        *pending = 0;
        self.count -= 1;
        self.level_counts[priority.index()] -= 1;
        events
    }

    /// Appends `n` blank entries to `priority`'s stack and returns the index
    /// of the first, for [`place`](Self::place) to fill in any order. Blank
    /// entries that stay blank are skipped like cleared ones.
    pub fn reserve(&mut self, priority: Priority, n: usize) -> usize {
        let q = &mut self.queues[priority.index()];
        let base = q.len();
        q.resize(
            base + n,
            PendingEntry {
                key: None,
                events: Events::empty(),
            },
        );
        base
    }

    /// Queues a watcher that is not pending into the reserved blank entry
    /// `at` of `priority`'s stack.
    #[inline]
    pub fn place(
        &mut self,
        pending: &mut u32,
        priority: Priority,
        at: usize,
        key: WatcherKey,
        events: Events,
    ) {
        debug_assert_eq!(*pending, 0);
        let e = &mut self.queues[priority.index()][at];
        debug_assert!(e.key.is_none());
        *e = PendingEntry {
            key: Some(key),
            events,
        };
        *pending = at as u32 + 1;
        self.count += 1;
        self.level_counts[priority.index()] += 1;
    }

    /// Takes the next entry to run: the most recently queued one of the
    /// highest priority that has any. The caller resets the watcher's
    /// `pending` field.
    #[inline]
    pub fn pop(&mut self) -> Option<(WatcherKey, Events)> {
        if self.count == 0 {
            // Drop blanked leftovers so indexes start from zero again.
            for q in &mut self.queues {
                q.clear();
            }
            return None;
        }
        for (level, q) in self.queues.iter_mut().enumerate().rev() {
            while let Some(e) = q.pop() {
                if let Some(key) = e.key {
                    self.count -= 1;
                    self.level_counts[level] -= 1;
                    return Some((key, e.events));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotmap::SlotMap;

    #[test]
    fn highest_priority_first_then_lifo() {
        let mut keys: SlotMap<WatcherKey, ()> = SlotMap::with_key();
        let (a, b, c) = (keys.insert(()), keys.insert(()), keys.insert(()));
        let mut q = PendingQueues::default();
        let (mut pa, mut pb, mut pc) = (0, 0, 0);
        q.queue(&mut pa, Priority::DEFAULT, a, Events::READ);
        q.queue(&mut pb, Priority::DEFAULT, b, Events::READ);
        q.queue(&mut pc, Priority::MIN, c, Events::TIMER);
        q.queue(&mut pa, Priority::DEFAULT, a, Events::WRITE);
        assert_eq!(q.count(), 3);
        assert_eq!(q.pop(), Some((b, Events::READ)));
        assert_eq!(q.pop(), Some((a, Events::READ | Events::WRITE)));
        assert_eq!(q.pop(), Some((c, Events::TIMER)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn cleared_entries_are_skipped() {
        let mut keys: SlotMap<WatcherKey, ()> = SlotMap::with_key();
        let (a, b) = (keys.insert(()), keys.insert(()));
        let mut q = PendingQueues::default();
        let (mut pa, mut pb) = (0, 0);
        q.queue(&mut pa, Priority::MAX, a, Events::READ);
        q.queue(&mut pb, Priority::MAX, b, Events::READ);
        assert_eq!(q.clear(&mut pb, Priority::MAX), Events::READ);
        assert_eq!(pb, 0);
        assert_eq!(q.clear(&mut pb, Priority::MAX), Events::empty());
        assert_eq!(q.count(), 1);
        assert_eq!(q.pop(), Some((a, Events::READ)));
        assert_eq!(q.pop(), None);
    }
}
