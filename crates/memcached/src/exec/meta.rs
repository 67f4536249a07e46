//! The meta commands: `mg`, `ms`, `md`, `ma`, `mn`, `me`. Return flags come
//! back in the order the request gave them, as memcached does.

use super::text::{NON_NUMERIC, NO_MEMORY, TOO_LARGE};
use crate::item::{FETCHED, KEY_BINARY, STALE, TOKEN_SENT};
use crate::lru::ItemId;
use crate::protocol::{base64, Meta, MetaKind, Mode};
use crate::reply::{Line, ReplySink};
use crate::stats::Stats;
use crate::store::{itoa, Delta, Store, StoreOutcome, Write};

/// Runs a meta command.
pub fn execute(m: &Meta<'_>, store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    stats.cmd_meta += 1;
    let mut buf = [0u8; 256];
    let key = if m.opts.binary {
        // The parser checked that it decodes.
        base64::decode(m.key, &mut buf).map_or(m.key, |n| &buf[..n])
    } else {
        m.key
    };
    match m.kind {
        MetaKind::Noop => out.put(b"MN\r\n"),
        MetaKind::Get => get(m, key, store, stats, out),
        MetaKind::Set => set(m, key, store, stats, out),
        MetaKind::Delete => delete(m, key, store, stats, out),
        MetaKind::Arith => arith(m, key, store, stats, out),
        MetaKind::Debug => debug(key, store, out),
    }
}

/// The flag tokens of a request, in order.
fn tokens<'a>(m: &Meta<'a>) -> impl Iterator<Item = &'a [u8]> {
    m.flags.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

/// Appends ` k<key>`, base64-encoded with ` b` after it for binary keys.
fn key_flag(l: &mut Line, out: &mut impl ReplySink, key: &[u8], binary: bool) {
    l.push(out, b" k");
    if binary {
        let mut enc = Vec::with_capacity(key.len() * 4 / 3 + 4);
        base64::encode(key, &mut enc);
        l.push(out, &enc);
        l.push(out, b" b");
    } else {
        l.push(out, key);
    }
}

/// Writes `code` followed by the echoed `O` and `k` flags: the reply when
/// there is no item to describe.
fn bare(code: &[u8], m: &Meta<'_>, key: &[u8], out: &mut impl ReplySink) {
    let mut l = Line::new();
    l.push(out, code);
    for t in tokens(m) {
        match t[0] {
            b'O' => {
                l.push(out, b" ");
                l.push(out, t);
            }
            b'k' => key_flag(&mut l, out, key, m.opts.binary),
            _ => {}
        }
    }
    l.push(out, b"\r\n");
    l.flush(out);
}

/// Server time for a client TTL token.
fn expiry(store: &Store, ttl: Option<i64>) -> u32 {
    store.clock().expiry(ttl.unwrap_or(0))
}

/// Appends ` t<ttl left>` (-1 for no expiry).
fn ttl_flag(l: &mut Line, out: &mut impl ReplySink, store: &Store, id: ItemId) {
    let exptime = store.item(id).exptime();
    l.push(out, b" t");
    if exptime == 0 {
        l.push(out, b"-1");
    } else {
        l.signed(out, exptime as i64 - store.clock().now() as i64);
    }
}

/// `mg`: a value and/or metadata, `EN` on a miss (silent with `q`).
fn get(m: &Meta<'_>, key: &[u8], store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    let o = &m.opts;
    let mut found = store.find(key);
    let mut created = false;
    if found.is_none() && o.vivify.is_some() {
        let w = Write {
            key_binary: o.binary,
            ..Write::set(key, b"")
        };
        let w = Write {
            mode: Mode::Add,
            ..w
        };
        if let (StoreOutcome::Stored(_), Some(id)) = store.store_id(&w) {
            found = Some(id);
            created = true;
        }
    }
    let Some(id) = found else {
        stats.count_fetch(false, false);
        if !o.quiet {
            bare(b"EN", m, key, out);
        }
        return;
    };
    let now = store.clock().now();
    let (was_fetched, last_access) = {
        let it = store.item(id);
        (it.has(FETCHED), it.atime())
    };
    let mut l = Line::new();
    if o.value {
        l.push(out, b"VA ");
        l.num(out, store.item(id).value_len() as u64);
    } else {
        l.push(out, b"HD");
    }
    let mut won = false;
    for t in tokens(m) {
        match t[0] {
            b'T' => store.set_exptime(id, expiry(store, o.ttl)),
            b'N' if created => {
                store.set_exptime(id, expiry(store, o.vivify));
                won = true;
            }
            b'R' => {
                let it = store.item(id);
                let limit = expiry(store, o.recache);
                if !it.has(TOKEN_SENT) && !created && it.exptime() != 0 && it.exptime() < limit {
                    won = true;
                }
            }
            b's' => {
                l.push(out, b" s");
                l.num(out, store.item(id).value_len() as u64);
            }
            b't' => ttl_flag(&mut l, out, store, id),
            b'c' => {
                l.push(out, b" c");
                l.num(out, store.item(id).cas());
            }
            b'f' => {
                l.push(out, b" f");
                l.num(out, store.item(id).flags() as u64);
            }
            b'l' => {
                l.push(out, b" l");
                l.num(out, now.saturating_sub(last_access) as u64);
            }
            b'h' => l.push(out, if was_fetched { b" h1" } else { b" h0" }),
            b'O' => {
                l.push(out, b" ");
                l.push(out, t);
            }
            b'k' => {
                let it = store.item(id);
                key_flag(&mut l, out, it.key(), it.has(KEY_BINARY));
            }
            _ => {}
        }
    }
    let it = store.item(id);
    if it.has(TOKEN_SENT) {
        l.push(out, b" Z");
    }
    if it.has(STALE) {
        l.push(out, b" X");
        if !it.has(TOKEN_SENT) {
            won = true;
        }
    }
    if won {
        l.push(out, b" W");
        store.set_bits(id, TOKEN_SENT);
    }
    l.push(out, b"\r\n");
    l.flush(out);
    if o.value {
        out.put_value(store.item(id));
    }
    // The reply holds the item (memcached keeps a reference for any hit).
    store.hold(id);
    if !o.no_bump {
        store.bump(id);
    }
    stats.count_fetch(o.ttl.is_some(), true);
}

/// `ms`: a write in any storage mode; `HD` (silent with `q`), `NS`, `EX`
/// or `NF`.
fn set(m: &Meta<'_>, key: &[u8], store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    stats.cmd_set += 1;
    let o = &m.opts;
    let mut mode = match o.mode {
        b'E' => Mode::Add,
        b'A' => Mode::Append,
        b'P' => Mode::Prepend,
        b'R' => Mode::Replace,
        _ => Mode::Set,
    };
    if o.cas.is_some() && matches!(mode, Mode::Set | Mode::Replace) {
        mode = Mode::Cas;
    }
    let w = Write {
        mode,
        key,
        flags: o.flags,
        exptime: expiry(store, o.ttl),
        value: m.data,
        cas: o.cas.unwrap_or(0),
        stale_ok: o.invalidate && mode == Mode::Cas,
        key_binary: o.binary,
    };
    let result = store.store(&w);
    stats.count_store(mode, result);
    let (code, cas): (&[u8], u64) = match result {
        StoreOutcome::Stored(_) if o.quiet => return,
        StoreOutcome::Stored(cas) => (b"HD", cas),
        StoreOutcome::NotStored => (b"NS", 0),
        StoreOutcome::Exists => (b"EX", 0),
        StoreOutcome::NotFound => (b"NF", 0),
        StoreOutcome::TooLarge => {
            stats.store_too_large += 1;
            return out.put(TOO_LARGE);
        }
        StoreOutcome::NoMemory => {
            stats.store_no_memory += 1;
            return out.put(NO_MEMORY);
        }
    };
    let mut l = Line::new();
    l.push(out, code);
    for t in tokens(m) {
        match t[0] {
            b'O' => {
                l.push(out, b" ");
                l.push(out, t);
            }
            b'k' => key_flag(&mut l, out, key, o.binary),
            b'c' => {
                l.push(out, b" c");
                l.num(out, cas);
            }
            _ => {}
        }
    }
    l.push(out, b"\r\n");
    l.flush(out);
}

/// `md`: delete, or with `I` mark stale; `HD` (silent with `q`), `NF`,
/// `EX`.
fn delete(
    m: &Meta<'_>,
    key: &[u8],
    store: &mut Store,
    stats: &mut Stats,
    out: &mut impl ReplySink,
) {
    let o = &m.opts;
    let code: &[u8] = match store.find(key) {
        Some(id) if o.cas.is_some_and(|c| c != store.item(id).cas()) => {
            stats.delete_misses += 1;
            b"EX"
        }
        Some(id) => {
            if o.invalidate {
                if o.ttl.is_some() {
                    store.set_exptime(id, expiry(store, o.ttl));
                }
                store.set_bits(id, STALE);
                store.clear_bits(id, TOKEN_SENT);
                store.renew_cas(id);
            } else {
                store.delete(id, "md");
                stats.delete_hits += 1;
            }
            if o.quiet {
                return;
            }
            b"HD"
        }
        None => {
            stats.delete_misses += 1;
            b"NF"
        }
    };
    bare(code, m, key, out);
}

/// `ma`: incr/decr with optional create-on-miss; `HD` or `VA` (silent with
/// `q`), `NF`, `NS`, `EX`.
fn arith(m: &Meta<'_>, key: &[u8], store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    let o = &m.opts;
    let incr = !matches!(o.mode, b'D' | b'-');
    let mut created = false;
    let (id, value) = match store.delta(key, incr, o.delta, o.cas.unwrap_or(0)) {
        Delta::Done(n, id) => {
            stats.count_delta(incr, true);
            if o.quiet {
                return;
            }
            (id, n)
        }
        Delta::NonNumeric => return out.put(NON_NUMERIC),
        Delta::CasMismatch => return bare(b"EX", m, key, out),
        Delta::NotFound if o.vivify.is_some() => {
            let mut digits = itoa::Buf::new();
            let w = Write {
                mode: Mode::Add,
                key_binary: o.binary,
                ..Write::set(key, digits.format(o.initial))
            };
            match store.store_id(&w) {
                (StoreOutcome::Stored(_), Some(id)) => {
                    created = true;
                    (id, o.initial)
                }
                _ => return bare(b"NS", m, key, out),
            }
        }
        Delta::NotFound => {
            stats.count_delta(incr, false);
            return bare(b"NF", m, key, out);
        }
    };
    let mut digits = itoa::Buf::new();
    let digits = digits.format(value);
    let mut l = Line::new();
    if o.value {
        l.push(out, b"VA ");
        l.num(out, digits.len() as u64);
    } else {
        l.push(out, b"HD");
    }
    for t in tokens(m) {
        match t[0] {
            b'c' => {
                l.push(out, b" c");
                l.num(out, store.item(id).cas());
            }
            b't' => ttl_flag(&mut l, out, store, id),
            b'T' => store.set_exptime(id, expiry(store, o.ttl)),
            b'N' if created => store.set_exptime(id, expiry(store, o.vivify)),
            b'O' => {
                l.push(out, b" ");
                l.push(out, t);
            }
            b'k' => key_flag(&mut l, out, key, o.binary),
            _ => {}
        }
    }
    l.push(out, b"\r\n");
    if o.value {
        l.push(out, digits);
        l.push(out, b"\r\n");
    }
    l.flush(out);
}

/// `me`: a human-readable dump of an item's metadata.
fn debug(key: &[u8], store: &mut Store, out: &mut impl ReplySink) {
    let Some(id) = store.find(key) else {
        return out.put(b"EN\r\n");
    };
    let now = store.clock().now();
    let it = store.item(id);
    let mut l = Line::new();
    l.push(out, b"ME ");
    // As memcached: encoded when the item was stored with a base64 key,
    // whatever this request said.
    if it.has(KEY_BINARY) {
        let mut enc = Vec::new();
        base64::encode(it.key(), &mut enc);
        l.push(out, &enc);
    } else {
        l.push(out, key);
    }
    l.push(out, b" exp=");
    if it.exptime() == 0 {
        l.push(out, b"-1");
    } else {
        // memcached prints `now - exptime` (so a TTL of 30 shows as -30),
        // in 32 bits.
        l.signed(out, i64::from(now.wrapping_sub(it.exptime()) as i32));
    }
    l.push(out, b" la=");
    l.num(out, now.saturating_sub(it.atime()) as u64);
    l.push(out, b" cas=");
    l.num(out, it.cas());
    l.push(
        out,
        if it.has(FETCHED) {
            b" fetch=yes"
        } else {
            b" fetch=no"
        },
    );
    l.push(out, b" cls=1 size=");
    l.num(out, it.total() as u64);
    l.push(out, b"\r\n");
    l.flush(out);
}
