//! The `watch` connections of every loop (see [`crate::watch`]): each
//! one's buffer of lines not yet written, the loops' wake-ups, and
//! memcached's counters of them.

use std::time::{SystemTime, UNIX_EPOCH};

use evloop::AsyncSender;

use crate::stats::LogCounters;
use crate::watch::{Event, MAX_WATCHERS};

/// A connection that watches; `K` names its stream.
#[derive(Debug)]
struct Watcher<K> {
    /// Its loop (an index into [`Watchers::wakers`]).
    loop_ix: usize,
    /// Its stream on that loop.
    stream: K,
    /// What it watches.
    flags: u16,
    /// Lines not yet handed to its stream.
    buf: Vec<u8>,
    /// Lines dropped since the last `skipped=` line.
    skipped: u64,
}

/// Every watcher of the server, and memcached's counters of them; `K`
/// names a watcher's stream on its loop.
#[derive(Debug)]
pub struct Watchers<K> {
    list: Vec<Watcher<K>>,
    /// Each loop's wake-up for writing its watchers' lines.
    wakers: Vec<Option<AsyncSender>>,
    /// The next line's global id.
    gid: u64,
    /// A watcher's buffer limit, bytes.
    pub logbuf: usize,
    /// Lines formatted (`log_worker_written`).
    pub written: u64,
    /// Lines dropped for a full watcher buffer (`log_watcher_skipped`).
    pub skipped: u64,
    /// Lines handed to watcher connections (`log_watcher_sent`).
    pub sent: u64,
}

impl<K: Copy + PartialEq> Watchers<K> {
    /// No watchers, buffers of `logbuf` bytes.
    pub fn new(logbuf: usize) -> Watchers<K> {
        Watchers {
            list: Vec::new(),
            wakers: Vec::new(),
            gid: 0,
            logbuf,
            written: 0,
            skipped: 0,
            sent: 0,
        }
    }

    /// The counters `stats` shows.
    pub fn counters(&self) -> LogCounters {
        LogCounters {
            written: self.written,
            skipped: self.skipped,
            sent: self.sent,
            watchers: self.list.len() as u64,
        }
    }

    /// The union of what they watch: the store's [`crate::watch::Log::mask`].
    pub fn mask(&self) -> u16 {
        self.list.iter().fold(0, |m, w| m | w.flags)
    }

    /// Loop `ix`'s wake-up.
    pub fn set_waker(&mut self, ix: usize, waker: AsyncSender) {
        if self.wakers.len() <= ix {
            self.wakers.resize_with(ix + 1, || None);
        }
        self.wakers[ix] = Some(waker);
    }

    /// Adds a watcher; `false` at the limit.
    pub fn add(&mut self, loop_ix: usize, stream: K, flags: u16) -> bool {
        if self.list.len() >= MAX_WATCHERS {
            return false;
        }
        self.list.push(Watcher {
            loop_ix,
            stream,
            flags,
            buf: Vec::new(),
            skipped: 0,
        });
        true
    }

    /// Removes a watcher (its connection closed); whether it was one.
    pub fn remove(&mut self, loop_ix: usize, stream: K) -> bool {
        let before = self.list.len();
        self.list
            .retain(|w| !(w.loop_ix == loop_ix && w.stream == stream));
        before != self.list.len()
    }

    /// Hands `events` to the watchers that want them and wakes their loops.
    pub fn publish(&mut self, events: impl IntoIterator<Item = Event>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut wake = 0u64;
        for ev in events {
            let flag = ev.flag();
            if !self.list.iter().any(|w| w.flags & flag != 0) {
                continue;
            }
            self.gid += 1;
            self.written += 1;
            let line = ev.line(now.as_secs(), now.subsec_micros(), self.gid);
            for w in self.list.iter_mut().filter(|w| w.flags & flag != 0) {
                if w.buf.len() + line.len() > self.logbuf {
                    w.skipped += 1;
                    self.skipped += 1;
                    continue;
                }
                w.buf.extend_from_slice(line.as_bytes());
                wake |= 1 << (w.loop_ix % 64);
            }
        }
        for (ix, waker) in self.wakers.iter().enumerate() {
            if wake & (1 << (ix % 64)) != 0 {
                if let Some(w) = waker {
                    w.send();
                }
            }
        }
    }

    /// Takes the lines of loop `loop_ix`'s watchers, each with its stream,
    /// for streams whose output holds less than a buffer's worth
    /// (`queued` says how much a stream holds; `None`: it is gone).
    pub fn take(
        &mut self,
        loop_ix: usize,
        mut queued: impl FnMut(K) -> Option<usize>,
    ) -> Vec<(K, Vec<u8>)> {
        let mut out = Vec::new();
        for w in self.list.iter_mut().filter(|w| w.loop_ix == loop_ix) {
            if w.buf.is_empty() && w.skipped == 0 {
                continue;
            }
            match queued(w.stream) {
                Some(n) if n < self.logbuf => {}
                _ => continue,
            }
            let mut lines = Vec::new();
            if w.skipped > 0 {
                lines.extend_from_slice(format!("skipped={}\n", w.skipped).as_bytes());
                w.skipped = 0;
            }
            lines.append(&mut w.buf);
            self.sent += 1;
            out.push((w.stream, lines));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::{Lookup, FETCHERS, MUTATIONS};

    #[test]
    fn a_full_buffer_skips_lines_and_says_how_many() {
        let mut ws = Watchers::new(200);
        let (a, b) = (1u32, 2u32);
        assert!(ws.add(0, a, FETCHERS));
        let get = |n: u8| Event::Get {
            key: vec![b'a' + n],
            found: Lookup::Found,
            size: 1,
            cfd: 1,
        };
        // Two lines fit in 200 bytes, the third is skipped.
        ws.publish((0..3).map(get));
        assert_eq!((ws.written, ws.skipped), (3, 1));
        // Not taken while the stream holds a buffer's worth.
        assert!(ws.take(0, |_| Some(200)).is_empty());
        let taken = ws.take(0, |_| Some(0));
        assert_eq!(taken.len(), 1);
        let text = String::from_utf8(taken[0].1.clone()).unwrap();
        assert!(text.starts_with("skipped=1\nts="), "{text}");
        assert_eq!(text.lines().count(), 3);
        // Another loop's watchers are not taken here.
        assert!(ws.add(1, b, FETCHERS | MUTATIONS));
        assert_eq!(ws.mask(), FETCHERS | MUTATIONS);
        ws.publish([get(4)]);
        assert_eq!(ws.take(0, |_| Some(0)).len(), 1);
        assert_eq!(ws.take(1, |_| Some(0)).len(), 1);
        assert!(ws.remove(0, a));
        assert_eq!(ws.counters().watchers, 1);
    }
}
