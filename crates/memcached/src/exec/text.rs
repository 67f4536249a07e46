//! The classic text commands: their effect on the store and their replies.

use super::dump;
use crate::item::Item;
use crate::protocol::text::BAD_EXPTIME;
use crate::protocol::{base64, Command, Crawler};
use crate::reply::{Line, ReplySink};
use crate::stats::{self, Stats, CLASS_ID, VERSION};
use crate::store::{Delta, Store, StoreOutcome, Write};

/// Reply to a write refused as larger than `-I`.
pub const TOO_LARGE: &[u8] = b"SERVER_ERROR object too large for cache\r\n";
/// Reply to a write larger than the whole memory limit.
pub const NO_MEMORY: &[u8] = b"SERVER_ERROR out of memory storing object\r\n";
/// Reply to a crawl or metadump while the crawler is disabled.
pub const CRAWLER_DISABLED: &[u8] = b"CLIENT_ERROR lru crawler disabled\r\n";

/// A metadump under `-X`.
pub const METADUMP_NOT_ALLOWED: &[u8] = b"ERROR metadump not allowed\r\n";
/// Reply to incr/decr of a value that is not a number.
pub const NON_NUMERIC: &[u8] = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";

/// Runs a non-meta, non-quit command. A multi-get runs to the end here,
/// whatever the output holds ([`Session`](super::Session) runs it in
/// steps); a metadump too.
pub fn execute(cmd: &Command<'_>, store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    match *cmd {
        Command::Get { keys, cas, touch } => {
            let mut from = 0;
            while let Some(at) = get(&keys[from..], cas, touch, store, stats, &mut Unbounded(out)) {
                from += at;
            }
        }
        Command::LruCrawler(Crawler::Crawl(_) | Crawler::MetaDump(_))
            if stats.settings.crawler_disabled =>
        {
            out.put(CRAWLER_DISABLED)
        }
        Command::LruCrawler(Crawler::MetaDump(_)) if stats.settings.dump_disabled => {
            out.put(METADUMP_NOT_ALLOWED)
        }
        Command::LruCrawler(Crawler::MetaDump(ids)) => {
            if let Some(mut at) = metadump_start(ids, out) {
                while let Some(next) = dump::metadump(store, at, &mut Unbounded(out)) {
                    at = next;
                }
            }
        }
        // memcached walks its hash table only to dump it.
        Command::LruCrawler(Crawler::Crawl(b"hash")) => {
            out.put(b"ERROR an unknown error happened\r\n")
        }
        Command::LruCrawler(Crawler::Crawl(ids)) => {
            let reply: &[u8] = match class_ids(ids) {
                None => b"BADCLASS invalid class id\r\n",
                Some(ours) => {
                    if ours {
                        let slots = store.slot_count();
                        store.reclaim(slots);
                    }
                    b"OK\r\n"
                }
            };
            out.put(reply);
        }
        Command::LruCrawler(Crawler::Setting) => out.put(b"OK\r\n"),
        Command::LruCrawler(Crawler::Enable) => {
            let settings = &mut stats.settings;
            if settings.crawler_disabled {
                settings.crawler_disabled = false;
                out.put(b"OK\r\n");
            } else {
                out.put(b"ERROR failed to start lru crawler thread\r\n");
            }
        }
        Command::LruCrawler(Crawler::Disable) => {
            stats.settings.crawler_disabled = true;
            out.put(b"OK\r\n");
        }
        Command::StatsDetail { .. } if stats.settings.dump_disabled => {
            out.put(b"CLIENT_ERROR stats detail not allowed\r\n")
        }
        Command::StatsDetail { arg } => match arg {
            b"on" | b"off" => {
                stats.settings.detail_enabled = arg == b"on";
                out.put(b"OK\r\n");
            }
            b"dump" => stats.detail.dump(out),
            _ => out.put(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
        },
        Command::CacheDump { .. } if stats.settings.dump_disabled => {
            out.put(b"CLIENT_ERROR stats cachedump not allowed\r\n")
        }
        Command::CacheDump { args } => match args {
            Ok((class, limit)) => dump::cachedump(store, class, limit, out),
            Err(reply) => out.put(reply.as_bytes()),
        },
        // Reached only when `-W` refuses it (see `execute`).
        Command::Watch { .. } => out.put(b"CLIENT_ERROR watch commands not allowed\r\n"),
        Command::Shutdown { mode_ok } => {
            // Enabled shutdowns are the session's: they close and stop.
            if !stats.settings.shutdown_enabled {
                out.put(b"ERROR: shutdown not enabled\r\n");
            } else if !mode_ok {
                out.put(b"CLIENT_ERROR invalid shutdown mode\r\n");
            }
        }
        Command::Store {
            mode,
            key,
            flags,
            exptime,
            cas,
            data,
            noreply,
        } => {
            stats.cmd_set += 1;
            stats.detail_set(key);
            let w = Write {
                mode,
                key,
                flags,
                exptime: store.clock().expiry(exptime),
                value: data,
                cas,
                stale_ok: false,
                key_binary: false,
            };
            let result = store.store(&w);
            stats.count_store(mode, result);
            let reply: &[u8] = match result {
                StoreOutcome::Stored(_) => b"STORED\r\n",
                StoreOutcome::NotStored => b"NOT_STORED\r\n",
                StoreOutcome::Exists => b"EXISTS\r\n",
                StoreOutcome::NotFound => b"NOT_FOUND\r\n",
                StoreOutcome::TooLarge => {
                    stats.store_too_large += 1;
                    TOO_LARGE
                }
                StoreOutcome::NoMemory => {
                    stats.store_no_memory += 1;
                    NO_MEMORY
                }
            };
            say(out, noreply, reply);
        }
        Command::TooLarge {
            key,
            binary,
            meta,
            unlink,
            noreply,
        } => {
            stats.store_too_large += 1;
            if !meta {
                // memcached counts a storage request before it sizes the
                // item (an ms is not counted at all).
                stats.detail_set(key);
            }
            if unlink {
                let mut buf = [0u8; 256];
                let key = if binary {
                    base64::decode(key, &mut buf)
                        .map(|n| &buf[..n])
                        .unwrap_or(key)
                } else {
                    key
                };
                store.remove_key(key);
            }
            say(out, noreply, TOO_LARGE);
        }
        Command::Delete { key, noreply } => {
            stats.detail_delete(key);
            let reply: &[u8] = match store.find(key) {
                Some(id) => {
                    store.delete(id, "delete");
                    stats.delete_hits += 1;
                    b"DELETED\r\n"
                }
                None => {
                    stats.delete_misses += 1;
                    b"NOT_FOUND\r\n"
                }
            };
            say(out, noreply, reply);
        }
        Command::Delta {
            key,
            incr,
            delta,
            noreply,
        } => match store.delta(key, incr, delta, 0) {
            Delta::Done(n, _) => {
                stats.count_delta(incr, true);
                if !noreply {
                    let mut l = Line::new();
                    l.num(out, n);
                    l.push(out, b"\r\n");
                    l.flush(out);
                }
            }
            Delta::NotFound => {
                stats.count_delta(incr, false);
                say(out, noreply, b"NOT_FOUND\r\n");
            }
            Delta::NonNumeric | Delta::CasMismatch => say(out, noreply, NON_NUMERIC),
        },
        Command::Touch {
            key,
            exptime,
            noreply,
        } => {
            let exptime = store.clock().expiry(exptime);
            let found = store.find(key);
            stats.count_fetch(true, found.is_some());
            let reply: &[u8] = match found {
                Some(id) => {
                    store.set_exptime(id, exptime);
                    store.bump(id);
                    b"TOUCHED\r\n"
                }
                None => b"NOT_FOUND\r\n",
            };
            say(out, noreply, reply);
        }
        Command::FlushAll { delay, noreply } => {
            stats.cmd_flush += 1;
            if stats.settings.flush_disabled {
                return say(out, noreply, b"CLIENT_ERROR flush_all not allowed\r\n");
            }
            let Some(delay) = delay else {
                return say(out, noreply, BAD_EXPTIME.as_bytes());
            };
            store.flush_all(delay);
            say(out, noreply, b"OK\r\n");
        }
        Command::Version => {
            out.put(b"VERSION ");
            out.put(VERSION.as_bytes());
            out.put(b"\r\n");
        }
        Command::Verbosity { level, noreply } => {
            // memcached's MAX_VERBOSITY_LEVEL.
            stats.settings.verbosity = u64::from(level.min(2));
            say(out, noreply, b"OK\r\n");
        }
        Command::SlabsReassign { src, dst } => out.put(slabs_reassign(src, dst)),
        Command::SlabsAutomove {
            level,
            ratio,
            noreply,
        } => {
            let a = &mut stats.settings.automove;
            a.level = level.unwrap_or(a.level);
            a.ratio = ratio.unwrap_or(a.ratio);
            say(out, noreply, b"OK\r\n");
        }
        Command::Stats { sub } => match sub {
            None => stats::write_general(store, stats, out),
            Some(b"reset") => {
                stats.reset();
                store.reset_counters();
                out.put(b"RESET\r\n");
            }
            Some(b"settings") => stats::write_settings(store, stats, out),
            Some(b"items") => stats::write_items(store, out),
            Some(b"slabs") => stats::write_slabs(store, out),
            Some(b"conns") => stats::write_conns(store, stats, out),
            Some(b"sizes") => out.put(b"STAT sizes_status disabled\r\nEND\r\n"),
            Some(_) => out.put(b"ERROR\r\n"),
        },
        Command::MemLimit { mb, noreply } => {
            let reply: &[u8] = if mb < 8 {
                b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"
            } else if mb > 1_000_000_000 {
                b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n"
            } else {
                store.set_limit(mb as usize * 1024 * 1024);
                b"OK\r\n"
            };
            say(out, noreply, reply);
        }
        Command::Quit | Command::Meta(_) => {}
    }
}

/// memcached's answer to `slabs reassign` on a server with one item class
/// (1) and no slab pages: class 0 is memcached's global page pool, -1 a
/// source it picks, which finds no class with a spare page.
fn slabs_reassign(src: i32, dst: i32) -> &'static [u8] {
    let class = |c: i32| (0..=CLASS_ID as i32).contains(&c);
    if src == dst {
        b"SAME src and dst class are identical\r\n"
    } else if !class(src) || !class(dst) {
        b"BADCLASS invalid src or dst class id\r\n"
    } else {
        b"NOSPARE source class has no spare pages\r\n"
    }
}

/// Sends `reply` unless the request said `noreply`.
fn say(out: &mut impl ReplySink, noreply: bool, reply: &[u8]) {
    if !noreply {
        out.put(reply);
    }
}

/// A sink that never reports itself full: for callers that run a command
/// to its end at once.
struct Unbounded<'a, S>(&'a mut S);

impl<S: ReplySink> ReplySink for Unbounded<'_, S> {
    fn put(&mut self, bytes: &[u8]) {
        self.0.put(bytes);
    }

    fn put_bytes(&mut self, bytes: bytes::Bytes) {
        self.0.put_bytes(bytes);
    }

    fn put_value(&mut self, item: &Item) {
        self.0.put_value(item);
    }

    fn is_full(&self) -> bool {
        false
    }
}

/// Which classes `lru_crawler crawl|metadump <ids>` names: `None` for a
/// malformed list, else whether it includes this server's one class.
fn class_ids(ids: &[u8]) -> Option<bool> {
    // `hash` walks memcached's hash table: every item, as `all`.
    if ids == b"all" || ids == b"hash" {
        return Some(true);
    }
    let mut ours = false;
    // memcached's strtok skips empty items; class ids run from 1 to 63.
    for id in ids.split(|&b| b == b',').filter(|id| !id.is_empty()) {
        let id = crate::protocol::num::parse_u32(id).filter(|&i| (1..64).contains(&i))?;
        ours |= id == stats::CLASS_ID;
    }
    Some(ours)
}

/// Checks a metadump's class list: `Some(0)` to dump from slot 0, or
/// `None` after writing memcached's reply for a bad or empty selection.
pub fn metadump_start(ids: &[u8], out: &mut impl ReplySink) -> Option<u32> {
    match class_ids(ids) {
        None => {
            out.put(b"BADCLASS invalid class id\r\n");
            None
        }
        Some(true) => Some(0),
        // Classes without items: nothing to list.
        Some(false) => {
            out.put(b"END\r\n");
            None
        }
    }
}

/// get/gets/gat/gats: a `VALUE` line and the value for each key found,
/// then `END`. Stops between keys once `out` is full and returns the
/// offset in `keys` to go on from; `None` once `END` went out.
pub fn get(
    keys: &[u8],
    cas: bool,
    touch: Option<i64>,
    store: &mut Store,
    stats: &mut Stats,
    out: &mut impl ReplySink,
) -> Option<usize> {
    let exptime = touch.map(|t| store.clock().expiry(t));
    let mut pos = 0;
    while let Some(skip) = keys[pos..].iter().position(|&b| b != b' ') {
        if out.is_full() {
            return Some(pos);
        }
        let start = pos + skip;
        let end = keys[start..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(keys.len(), |n| start + n);
        pos = end;
        let key = &keys[start..end];
        let found = store.find(key);
        stats.detail_get(key, found.is_some());
        stats.count_fetch(exptime.is_some(), found.is_some());
        let Some(id) = found else { continue };
        if let Some(t) = exptime {
            store.set_exptime(id, t);
        }
        store.bump(id);
        value(store.item(id), cas, out);
    }
    out.put(b"END\r\n");
    None
}

/// `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n` for one item.
pub fn value(it: &Item, cas: bool, out: &mut impl ReplySink) {
    let mut l = Line::new();
    l.push(out, b"VALUE ");
    l.push(out, it.key());
    l.push(out, b" ");
    l.num(out, it.flags() as u64);
    l.push(out, b" ");
    l.num(out, it.value_len() as u64);
    if cas {
        l.push(out, b" ");
        l.num(out, it.cas());
    }
    l.push(out, b"\r\n");
    l.flush(out);
    out.put_value(it);
}
