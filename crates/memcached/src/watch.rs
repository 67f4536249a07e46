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
}
