//! `watch`: memcached's log streams. A connection that sends
//! `watch [fetchers] [mutations] [evictions] [deletions] [connevents]`
//! (fetchers when it names none) gets `OK`, then one line per event of
//! those kinds, in memcached's format:
//!
//! ```text
//! ts=1733600000.52 gid=7 type=item_get key=foo status=found clsid=1 cfd=9 size=5
//! ```
//!
//! The store records events (a lookup, a store, an eviction) into its
//! [`Log`] only while some watcher wants that kind, so a server nobody
//! watches pays one test of a bit mask per lookup. After each batch of
//! requests the events become lines in each interested watcher's buffer,
//! and the watcher's loop is woken to write them. A watcher's buffer is
//! bounded (`-o watcher_logbuf_size`, KiB, 256 by default, as memcached's):
//! lines that find it full are skipped, and counted on a `skipped=N` line
//! once there is room again, so a slow watcher costs the server nothing
//! but those lines.
//!
//! memcached's other streams (rawcmds, sysevents, the proxy's) are refused
//! with `ERROR`: this server produces none of those events.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use evloop::AsyncSender;

use crate::stats::LogCounters;

/// Lookups: every get, and the lookup before every store, touch, delta
/// and delete, as memcached logs them.
pub const FETCHERS: u16 = 1 << 2;
/// Stores, with their outcome.
pub const MUTATIONS: u16 = 1 << 3;
/// Connections opened and closed.
pub const CONNEVENTS: u16 = 1 << 5;
/// Live items evicted for room.
pub const EVICTIONS: u16 = 1 << 6;
/// `delete` and `md`.
pub const DELETIONS: u16 = 1 << 13;

/// Most watchers at once, as memcached's limit.
pub const MAX_WATCHERS: usize = 20;

/// memcached's default watcher buffer: 256 KiB.
pub const DEFAULT_LOGBUF: usize = 256 << 10;

/// The streams a `watch` line names, or `None` for a name this server does
/// not produce.
pub fn parse_flags<'a>(names: impl Iterator<Item = &'a [u8]>) -> Option<u16> {
    let mut flags = 0;
    let mut any = false;
    for name in names {
        any = true;
        flags |= match name {
            b"fetchers" => FETCHERS,
            b"mutations" => MUTATIONS,
            b"evictions" => EVICTIONS,
            b"deletions" => DELETIONS,
            b"connevents" => CONNEVENTS,
            _ => return None,
        };
    }
    Some(if any { flags } else { FETCHERS })
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No item.
    NotFound,
    /// A live item.
    Found,
    /// An item `flush_all` made dead.
    Flushed,
    /// An expired item.
    Expired,
}

/// One event, as the store or the server records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A lookup (fetchers).
    Get {
        /// The key.
        key: Vec<u8>,
        /// What it found.
        found: Lookup,
        /// The value's length (0 when not found).
        size: usize,
        /// The requesting connection's descriptor.
        cfd: i32,
    },
    /// A store (mutations).
    Store {
        /// The key.
        key: Vec<u8>,
        /// memcached's word for the outcome: stored, not_stored, exists,
        /// not_found, too_large, no_memory.
        status: &'static str,
        /// The command: set, add, replace, append, prepend, cas.
        cmd: &'static str,
        /// Seconds left to live (0: no expiry).
        ttl: u32,
        /// The value's length.
        size: usize,
        /// The requesting connection's descriptor.
        cfd: i32,
    },
    /// A live item evicted (evictions).
    Evict {
        /// The key.
        key: Vec<u8>,
        /// It was read since it was stored.
        fetched: bool,
        /// Seconds it had left (-1: no expiry).
        ttl: i64,
        /// Seconds since it was last accessed.
        last_access: u32,
        /// The value's length.
        size: usize,
    },
    /// An item deleted by a request (deletions).
    Deleted {
        /// The key.
        key: Vec<u8>,
        /// `delete` or `md`.
        cmd: &'static str,
        /// The value's length.
        size: usize,
    },
    /// A connection accepted (connevents).
    ConnNew {
        /// The peer (none for a Unix socket).
        peer: Option<SocketAddr>,
        /// Its descriptor.
        cfd: i32,
    },
    /// A connection closed (connevents).
    ConnClose {
        /// The peer (none for a Unix socket).
        peer: Option<SocketAddr>,
        /// Why: normal (the client hung up or quit), error, idle_timeout,
        /// shutdown.
        reason: &'static str,
        /// Its descriptor.
        cfd: i32,
    },
}

impl Event {
    /// The stream it belongs to.
    pub fn flag(&self) -> u16 {
        match self {
            Event::Get { .. } => FETCHERS,
            Event::Store { .. } => MUTATIONS,
            Event::Evict { .. } => EVICTIONS,
            Event::Deleted { .. } => DELETIONS,
            Event::ConnNew { .. } | Event::ConnClose { .. } => CONNEVENTS,
        }
    }

    /// Its line, as memcached writes it (keys URI-encoded, so that a line
    /// holds no space or control byte).
    pub fn line(&self, sec: u64, usec: u32, gid: u64) -> String {
        let mut l = format!("ts={sec}.{usec} gid={gid} ");
        // `write!` to a String cannot fail.
        let _ = match self {
            Event::Get {
                key,
                found,
                size,
                cfd,
            } => {
                let status = match found {
                    Lookup::NotFound => "not_found",
                    Lookup::Found => "found",
                    Lookup::Flushed => "flushed",
                    Lookup::Expired => "expired",
                };
                writeln!(
                    l,
                    "type=item_get key={} status={status} clsid=1 cfd={cfd} size={size}",
                    uri(key)
                )
            }
            Event::Store {
                key,
                status,
                cmd,
                ttl,
                size,
                cfd,
            } => writeln!(
                l,
                "type=item_store key={} status={status} cmd={cmd} ttl={ttl} clsid=1 cfd={cfd} \
                 size={size}",
                uri(key)
            ),
            Event::Evict {
                key,
                fetched,
                ttl,
                last_access,
                size,
            } => writeln!(
                l,
                "type=eviction key={} fetch={} ttl={ttl} la={last_access} clsid=1 size={size}",
                uri(key),
                if *fetched { "yes" } else { "no" }
            ),
            Event::Deleted { key, cmd, size } => writeln!(
                l,
                "type=deleted key={} cmd={cmd} clsid=1 size={size}",
                uri(key)
            ),
            Event::ConnNew { peer, cfd } => {
                let (rip, rport, transport) = endpoint(*peer);
                writeln!(
                    l,
                    "type=conn_new rip={rip} rport={rport} transport={transport} cfd={cfd}"
                )
            }
            Event::ConnClose { peer, reason, cfd } => {
                let (rip, rport, transport) = endpoint(*peer);
                writeln!(
                    l,
                    "type=conn_close rip={rip} rport={rport} transport={transport} \
                     reason={reason} cfd={cfd}"
                )
            }
        };
        l
    }
}

/// A peer as memcached's connection events show it.
fn endpoint(peer: Option<SocketAddr>) -> (String, u16, &'static str) {
    match peer {
        Some(p) => (p.ip().to_string(), p.port(), "tcp"),
        None => ("unix".to_string(), 0, "local"),
    }
}

/// A key URI-encoded as memcached does: letters, digits and `-._~` stay,
/// every other byte becomes `%XX`.
fn uri(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// The store's event record: what happened during a batch, for the
/// watchers that want it.
#[derive(Debug, Default)]
pub struct Log {
    /// The streams some watcher wants; nothing is recorded outside them.
    pub mask: u16,
    /// The connection whose requests run now.
    pub cfd: i32,
    /// Recorded, not yet handed to the watchers.
    pub events: Vec<Event>,
}

impl Log {
    /// Whether events of `flag` are recorded.
    #[inline]
    pub fn wants(&self, flag: u16) -> bool {
        self.mask & flag != 0
    }
}

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

    /// The union of what they watch: the store's [`Log::mask`].
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

    #[test]
    fn watch_names_its_streams() {
        let names =
            |s: &str| parse_flags(s.split(' ').filter(|t| !t.is_empty()).map(str::as_bytes));
        assert_eq!(names(""), Some(FETCHERS));
        assert_eq!(names("mutations evictions"), Some(MUTATIONS | EVICTIONS));
        assert_eq!(
            names("fetchers deletions connevents"),
            Some(FETCHERS | DELETIONS | CONNEVENTS)
        );
        assert_eq!(names("rawcmds"), None);
        assert_eq!(names("fetchers bogus"), None);
    }

    #[test]
    fn lines_are_memcached_s() {
        let get = Event::Get {
            key: b"a b#".to_vec(),
            found: Lookup::NotFound,
            size: 0,
            cfd: 9,
        };
        assert_eq!(
            get.line(12, 5, 3),
            "ts=12.5 gid=3 type=item_get key=a%20b%23 status=not_found clsid=1 cfd=9 size=0\n"
        );
        let store = Event::Store {
            key: b"k".to_vec(),
            status: "stored",
            cmd: "set",
            ttl: 0,
            size: 4,
            cfd: 9,
        };
        assert_eq!(
            store.line(1, 0, 1),
            "ts=1.0 gid=1 type=item_store key=k status=stored cmd=set ttl=0 clsid=1 cfd=9 size=4\n"
        );
        let close = Event::ConnClose {
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            reason: "normal",
            cfd: 7,
        };
        assert_eq!(
            close.line(1, 2, 3),
            "ts=1.2 gid=3 type=conn_close rip=127.0.0.1 rport=5000 transport=tcp reason=normal \
             cfd=7\n"
        );
    }

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
