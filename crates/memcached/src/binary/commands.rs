//! Running one framed binary request against the store, and its reply
//! packets (memcached 1.6's `proto_bin.c` semantics).

use super::header::{Header, Response};
use super::opcode::{self, Op};
use crate::exec;
use crate::item::Item;
use crate::protocol::Command;
use crate::reply::ReplySink;
use crate::stats::{Stats, VERSION};
use crate::store::{Delta, Mode, Store, StoreOutcome, Write};

/// Values up to this size are copied into the output (as text replies
/// do: cheaper than an extra chunk per reply); larger ones are sent from
/// the item's memory.
const COPY_MAX: usize = 4096;

/// Incr/decr expiration that means "do not create a missing item".
const NO_CREATE: u32 = 0xffff_ffff;

/// A framed request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Its header.
    pub header: &'a Header,
    /// The command.
    pub op: Op,
    /// The quiet variant: no reply on success.
    pub quiet: bool,
    /// Extras, as long as [`Op::shape_ok`] allowed.
    pub extras: &'a [u8],
    /// The key.
    pub key: &'a [u8],
    /// The value (storage commands).
    pub value: &'a [u8],
}

impl Request<'_> {
    /// A reply to this request with no body, for `status`.
    fn reply(&self, status: u16, cas: u64) -> Response<'static> {
        Response {
            opcode: self.header.opcode,
            status,
            opaque: self.header.opaque,
            cas,
            extras: &[],
            key: &[],
            value_len: 0,
        }
    }

    /// A success reply with an empty body, unless the request is quiet.
    fn ok(&self, cas: u64, out: &mut impl ReplySink) {
        if !self.quiet {
            self.reply(opcode::SUCCESS, cas).write(out);
        }
    }

    /// The 32-bit big-endian number at `at` in the extras.
    fn extra_u32(&self, at: usize) -> u32 {
        let e = &self.extras[at..at + 4];
        u32::from_be_bytes([e[0], e[1], e[2], e[3]])
    }

    /// The 64-bit big-endian number at `at` in the extras.
    fn extra_u64(&self, at: usize) -> u64 {
        (u64::from(self.extra_u32(at)) << 32) | u64::from(self.extra_u32(at + 4))
    }
}

/// Writes an error reply: `status` and memcached's text for it (quiet
/// requests get their errors too).
pub fn error(h: &Header, status: u16, out: &mut impl ReplySink) {
    let msg = opcode::message(status);
    Response {
        opcode: h.opcode,
        status,
        opaque: h.opaque,
        cas: 0,
        extras: &[],
        key: &[],
        value_len: msg.len(),
    }
    .write(out);
    out.put(msg);
}

/// Runs a request; returns whether to close the connection (Quit).
pub fn run(
    req: &Request<'_>,
    store: &mut Store,
    stats: &mut Stats,
    out: &mut impl ReplySink,
) -> bool {
    let h = req.header;
    match req.op {
        Op::Get | Op::GetK | Op::Touch | Op::Gat | Op::GatK => get(req, store, stats, out),
        Op::Set | Op::Add | Op::Replace | Op::Append | Op::Prepend => write(req, store, stats, out),
        Op::Delete => delete(req, store, stats, out),
        Op::Incr | Op::Decr => delta(req, store, stats, out),
        Op::Quit => {
            req.ok(0, out);
            return true;
        }
        // As memcached under -F: refused, and not counted.
        Op::Flush if stats.settings.flush_disabled => error(req.header, opcode::AUTH_ERROR, out),
        Op::Flush => {
            let delay = if req.extras.len() == 4 {
                req.extra_u32(0)
            } else {
                0
            };
            stats.cmd_flush += 1;
            store.flush_all(i64::from(delay));
            req.ok(0, out);
        }
        Op::Noop => req.ok(0, out),
        Op::Version => {
            Response {
                value_len: VERSION.len(),
                ..req.reply(opcode::SUCCESS, 0)
            }
            .write(out);
            out.put(VERSION.as_bytes());
        }
        Op::Stat => stat(req, store, stats, out),
        // Without SASL, memcached knows none of its commands (the framing
        // answers them).
        Op::SaslList | Op::SaslAuth => error(h, opcode::UNKNOWN_COMMAND, out),
    }
    false
}

/// Replies to a storage request whose item cannot be stored at any size
/// limit (`too_large`: over `-I`, else over `-m`). A refused set drops the
/// key's old value, as memcached does.
pub fn refuse(
    req: &Request<'_>,
    too_large: bool,
    store: &mut Store,
    stats: &mut Stats,
    out: &mut impl ReplySink,
) {
    // memcached counts the request before it sizes the item.
    stats.detail_set(req.key);
    if req.op == Op::Set {
        store.remove_key(req.key);
    }
    if too_large {
        stats.store_too_large += 1;
        error(req.header, opcode::E2BIG, out);
    } else {
        stats.store_no_memory += 1;
        error(req.header, opcode::ENOMEM, out);
    }
}

/// Get, GetK, Touch, GAT, GATK and their quiet variants.
fn get(req: &Request<'_>, store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    let touch = matches!(req.op, Op::Touch | Op::Gat | Op::GatK);
    let found = store.find(req.key);
    stats.detail_get(req.key, found.is_some());
    stats.count_fetch(touch, found.is_some());
    let with_key = matches!(req.op, Op::GetK | Op::GatK);
    let Some(id) = found else {
        if req.quiet {
            return;
        }
        if with_key {
            // A miss of GetK says which key: the key, and no message.
            Response {
                key: req.key,
                ..req.reply(opcode::KEY_ENOENT, 0)
            }
            .write(out);
        } else {
            error(req.header, opcode::KEY_ENOENT, out);
        }
        return;
    };
    if touch {
        let exptime = store.clock().expiry(i64::from(req.extra_u32(0)));
        store.set_exptime(id, exptime);
    }
    store.bump(id);
    let it = store.item(id);
    let flags = it.flags().to_be_bytes();
    let with_value = req.op != Op::Touch;
    Response {
        extras: &flags,
        key: if with_key { req.key } else { &[] },
        value_len: if with_value { it.value_len() } else { 0 },
        ..req.reply(opcode::SUCCESS, it.cas())
    }
    .write(out);
    if with_value {
        put_value(it, out);
    }
    // The reply holds the item (memcached keeps a reference for any hit).
    store.hold(id);
}

/// Appends an item's value (without the `\r\n` the store keeps).
fn put_value(it: &Item, out: &mut impl ReplySink) {
    let n = it.value_len();
    if n <= COPY_MAX {
        out.put(it.value());
    } else {
        out.put_bytes(it.value_crlf().slice(..n));
    }
}

/// Set, Add, Replace (CAS when the header has one), Append, Prepend.
fn write(req: &Request<'_>, store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    let h = req.header;
    let (flags, exptime) = if req.extras.len() == 8 {
        (req.extra_u32(0), req.extra_u32(4))
    } else {
        (0, 0)
    };
    let mode = match req.op {
        Op::Append => Mode::Append,
        Op::Prepend => Mode::Prepend,
        _ if h.cas != 0 => Mode::Cas,
        Op::Add => Mode::Add,
        Op::Replace => Mode::Replace,
        _ => Mode::Set,
    };
    stats.cmd_set += 1;
    stats.detail_set(req.key);
    let w = Write {
        mode,
        key: req.key,
        flags,
        exptime: store.clock().expiry(i64::from(exptime)),
        value: req.value,
        cas: h.cas,
        stale_ok: false,
        key_binary: false,
    };
    let result = store.store(&w);
    stats.count_store(mode, result);
    let status = match result {
        StoreOutcome::Stored(cas) => return req.ok(cas, out),
        StoreOutcome::Exists => opcode::KEY_EEXISTS,
        StoreOutcome::NotFound => opcode::KEY_ENOENT,
        // Under -M a full cache refuses a set, add, replace or cas.
        StoreOutcome::NoMemory if !matches!(mode, Mode::Append | Mode::Prepend) => {
            stats.store_no_memory += 1;
            opcode::ENOMEM
        }
        StoreOutcome::NotStored | StoreOutcome::TooLarge | StoreOutcome::NoMemory => match mode {
            Mode::Add => opcode::KEY_EEXISTS,
            Mode::Replace => opcode::KEY_ENOENT,
            _ => opcode::NOT_STORED,
        },
    };
    error(h, status, out);
}

/// Delete: with a CAS in the header, only an item that still has it.
fn delete(req: &Request<'_>, store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    stats.detail_delete(req.key);
    let Some(id) = store.find(req.key) else {
        stats.delete_misses += 1;
        return error(req.header, opcode::KEY_ENOENT, out);
    };
    let cas = req.header.cas;
    if cas != 0 && cas != store.item(id).cas() {
        return error(req.header, opcode::KEY_EEXISTS, out);
    }
    store.remove(id);
    stats.delete_hits += 1;
    req.ok(0, out);
}

/// Increment/Decrement: extras are delta, initial value, expiration. A
/// missing item is created with the initial value unless the expiration
/// is 0xffffffff. The reply body is the new value, 64-bit big-endian.
fn delta(req: &Request<'_>, store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    let incr = req.op == Op::Incr;
    let (amount, initial, exptime) = (req.extra_u64(0), req.extra_u64(8), req.extra_u32(16));
    let (value, cas) = match store.delta(req.key, incr, amount, req.header.cas) {
        Delta::Done(n, id) => {
            stats.count_delta(incr, true);
            (n, store.item(id).cas())
        }
        Delta::NonNumeric => return error(req.header, opcode::DELTA_BADVAL, out),
        Delta::CasMismatch => return error(req.header, opcode::KEY_EEXISTS, out),
        Delta::NotFound if exptime == NO_CREATE => {
            stats.count_delta(incr, false);
            return error(req.header, opcode::KEY_ENOENT, out);
        }
        Delta::NotFound => {
            let mut digits = crate::store::itoa::Buf::new();
            let w = Write {
                mode: Mode::Add,
                flags: 0,
                exptime: store.clock().expiry(i64::from(exptime)),
                ..Write::set(req.key, digits.format(initial))
            };
            match store.store(&w) {
                StoreOutcome::Stored(cas) => (initial, cas),
                StoreOutcome::NoMemory => return error(req.header, opcode::ENOMEM, out),
                _ => return error(req.header, opcode::NOT_STORED, out),
            }
        }
    };
    if !req.quiet {
        let body = value.to_be_bytes();
        Response {
            value_len: body.len(),
            ..req.reply(opcode::SUCCESS, cas)
        }
        .write(out);
        out.put(&body);
    }
}

/// Stat: the key names the group (none: the general stats), each stat a
/// packet with its name as key and its value as value, then an empty
/// packet. The stats are the text protocol's `stats <group>` reply,
/// repackaged, so both protocols always show the same ones; the groups
/// are those memcached's binary protocol knows (`reset`, `settings` and
/// `detail` matched by prefix, as it does).
fn stat(req: &Request<'_>, store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) {
    let key = req.key;
    let group: &[u8] = if key.is_empty() {
        b""
    } else if key.starts_with(b"reset") {
        b"reset"
    } else if key.starts_with(b"settings") {
        b"settings"
    } else if key.starts_with(b"detail on") || key.starts_with(b"detail off") {
        stats.settings.detail_enabled = key.starts_with(b"detail on");
        return req.reply(opcode::SUCCESS, 0).write(out);
    } else if key.starts_with(b"detail dump") {
        let mut dump = Vec::new();
        stats.detail.dump(&mut dump);
        Response {
            key: b"detailed",
            value_len: dump.len(),
            ..req.reply(opcode::SUCCESS, 0)
        }
        .write(out);
        out.put(&dump);
        return req.reply(opcode::SUCCESS, 0).write(out);
    } else if matches!(
        key,
        b"items" | b"slabs" | b"sizes" | b"sizes_enable" | b"sizes_disable"
    ) {
        key
    } else {
        return error(req.header, opcode::KEY_ENOENT, out);
    };
    // The text protocol's `stats <group>` (no group here has a space or
    // names another stats command, so it is that command as parsed).
    let cmd = Command::Stats {
        sub: (!group.is_empty()).then_some(group),
    };
    let mut text = Vec::new();
    exec::execute(&cmd, store, stats, &mut text);
    // Only `STAT name value` lines and an end line make a group (`ERROR`,
    // `CLIENT_ERROR ...` or `stats cachedump`'s `ITEM` lines do not).
    let lines = || {
        text.split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.is_empty())
    };
    let is_end = |l: &[u8]| matches!(l, b"END" | b"RESET" | b"OK");
    if !lines().all(|l| l.starts_with(b"STAT ") || is_end(l)) {
        return error(req.header, opcode::KEY_ENOENT, out);
    }
    for l in lines().take_while(|l| !is_end(l)) {
        let rest = &l[5..];
        let sp = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let (name, value) = (&rest[..sp], rest.get(sp + 1..).unwrap_or(&[]));
        Response {
            key: name,
            value_len: value.len(),
            ..req.reply(opcode::SUCCESS, 0)
        }
        .write(out);
        out.put(value);
    }
    req.reply(opcode::SUCCESS, 0).write(out);
}
