//! Binary requests in, reply packets out, through the connection's
//! [`Session`](crate::exec::Session), as a server drives it; and the
//! split-invariance property over the text, meta and binary parsers.

use proptest::prelude::*;

use super::harness::{self, has_cpu_time, split};
use super::header::{Header, HEADER_LEN, RESPONSE_MAGIC};
use super::opcode::*;
use crate::clock::Clock;
use crate::exec::{Progress, Session};
use crate::stats::{Stats, VERSION};
use crate::store::Store;

/// Builds a request packet.
fn req(opcode: u8, key: &[u8], extras: &[u8], value: &[u8], cas: u64, opaque: u32) -> Vec<u8> {
    let mut p = vec![0x80, opcode];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.push(extras.len() as u8);
    p.extend_from_slice(&[0, 0, 0]);
    let body = (extras.len() + key.len() + value.len()) as u32;
    p.extend_from_slice(&body.to_be_bytes());
    p.extend_from_slice(&opaque.to_be_bytes());
    p.extend_from_slice(&cas.to_be_bytes());
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

/// Set-family extras: flags, exptime.
fn set_extras(flags: u32, exptime: u32) -> Vec<u8> {
    let mut e = flags.to_be_bytes().to_vec();
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

/// Incr/decr extras: delta, initial, expiration.
fn delta_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    let mut e = delta.to_be_bytes().to_vec();
    e.extend_from_slice(&initial.to_be_bytes());
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

/// A reply packet, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    opcode: u8,
    status: u16,
    opaque: u32,
    cas: u64,
    extras: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// Splits reply bytes into packets (all of them complete).
fn packets(mut b: &[u8]) -> Vec<Packet> {
    let mut v = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= HEADER_LEN, "truncated header {b:?}");
        assert_eq!(b[0], RESPONSE_MAGIC);
        let h = Header::parse(b);
        let (e, k) = (h.extras_len as usize, h.key_len as usize);
        let end = HEADER_LEN + h.body_len as usize;
        assert!(b.len() >= end, "truncated body");
        v.push(Packet {
            opcode: h.opcode,
            status: h.vbucket, // a response's status sits where a request's vbucket does
            opaque: u32::from_be_bytes(h.opaque),
            cas: h.cas,
            extras: b[HEADER_LEN..HEADER_LEN + e].to_vec(),
            key: b[HEADER_LEN + e..HEADER_LEN + e + k].to_vec(),
            value: b[HEADER_LEN + e + k..end].to_vec(),
        });
        b = &b[end..];
    }
    v
}

/// A store, counters and one connection.
struct Server {
    store: Store,
    stats: Stats,
    session: Session,
}

impl Server {
    fn new() -> Self {
        Self::with_limits(64 << 20, 1 << 20)
    }

    fn with_limits(memory: usize, item_max: usize) -> Self {
        Server {
            store: Store::new(memory, item_max, Clock::starting_at(1_700_000_000)),
            stats: Stats::new(1024),
            session: Session::new(item_max),
        }
    }

    /// Processes `input` as one read.
    fn feed(&mut self, input: &[u8]) -> (Vec<u8>, Progress) {
        let mut out = Vec::new();
        let p = self
            .session
            .process(input, &mut self.store, &mut self.stats, &mut out);
        (out, p)
    }

    /// Sends complete requests; returns the reply packets.
    fn send(&mut self, input: &[u8]) -> Vec<Packet> {
        let (out, p) = self.feed(input);
        assert_eq!(p.consumed, input.len());
        assert!(!p.close);
        packets(&out)
    }

    /// Sends one request; returns its only reply.
    fn one(&mut self, input: &[u8]) -> Packet {
        let mut v = self.send(input);
        assert_eq!(v.len(), 1, "{v:?}");
        v.pop().unwrap()
    }
}

fn set(key: &[u8], value: &[u8], flags: u32, cas: u64) -> Vec<u8> {
    req(0x01, key, &set_extras(flags, 0), value, cas, 0)
}

fn get(op: u8, key: &[u8]) -> Vec<u8> {
    req(op, key, &[], &[], 0, 0xabcd)
}

#[test]
fn set_then_get_family() {
    let mut s = Server::new();
    let miss = s.one(&get(0x00, b"k"));
    assert_eq!(miss.status, KEY_ENOENT);
    assert_eq!(miss.value, b"Not found");
    assert_eq!(miss.opaque, 0xabcd);
    let stored = s.one(&req(
        0x01,
        b"k",
        &set_extras(0xdead_beef, 0),
        b"hello",
        0,
        7,
    ));
    assert_eq!(
        (stored.opcode, stored.status, stored.opaque),
        (0x01, SUCCESS, 7)
    );
    assert!(stored.cas != 0);
    assert!(stored.value.is_empty() && stored.extras.is_empty());
    let hit = s.one(&get(0x00, b"k"));
    assert_eq!(hit.status, SUCCESS);
    assert_eq!(hit.extras, 0xdead_beefu32.to_be_bytes());
    assert!(hit.key.is_empty());
    assert_eq!(hit.value, b"hello");
    assert_eq!(hit.cas, stored.cas);
    let hitk = s.one(&get(0x0c, b"k"));
    assert_eq!((hitk.opcode, hitk.key.as_slice()), (0x0c, &b"k"[..]));
    assert_eq!(hitk.value, b"hello");
    // GetK's miss names the key, without a message.
    let missk = s.one(&get(0x0c, b"nope"));
    assert_eq!(
        (missk.status, missk.key.as_slice()),
        (KEY_ENOENT, &b"nope"[..])
    );
    assert!(missk.value.is_empty());
    // Quiet gets: hits are sent, misses are not.
    assert!(s.send(&get(0x09, b"nope")).is_empty());
    assert!(s.send(&get(0x0d, b"nope")).is_empty());
    assert_eq!(s.one(&get(0x09, b"k")).value, b"hello");
    assert_eq!(s.one(&get(0x0d, b"k")).key, b"k");
    assert_eq!(s.stats.get_hits, 4);
    assert_eq!(s.stats.get_misses, 4);
}

#[test]
fn binary_keys_may_hold_any_byte() {
    let mut s = Server::new();
    let key = b"a b\r\n\0\xff";
    assert_eq!(s.one(&set(key, b"v", 0, 0)).status, SUCCESS);
    assert_eq!(s.one(&get(0x0c, key)).key, key);
}

#[test]
fn add_replace_cas() {
    let mut s = Server::new();
    let add = |k: &[u8], cas| req(0x02, k, &set_extras(0, 0), b"a", cas, 0);
    let replace = |k: &[u8], cas| req(0x03, k, &set_extras(0, 0), b"r", cas, 0);
    assert_eq!(s.one(&replace(b"k", 0)).status, KEY_ENOENT);
    assert_eq!(s.one(&replace(b"k", 0)).value, b"Not found");
    let first = s.one(&add(b"k", 0));
    assert_eq!(first.status, SUCCESS);
    let again = s.one(&add(b"k", 0));
    assert_eq!(
        (again.status, again.value.as_slice()),
        (KEY_EEXISTS, &b"Data exists for key."[..])
    );
    assert_eq!(s.one(&replace(b"k", 0)).status, SUCCESS);
    // A CAS makes any of set/add/replace a compare-and-swap.
    let cas = s.one(&get(0x00, b"k")).cas;
    assert_eq!(s.one(&set(b"k", b"x", 0, cas + 100)).status, KEY_EEXISTS);
    assert_eq!(s.one(&set(b"missing", b"x", 0, 5)).status, KEY_ENOENT);
    let swapped = s.one(&set(b"k", b"new", 0, cas));
    assert_eq!(swapped.status, SUCCESS);
    assert!(swapped.cas > cas);
    assert_eq!(s.one(&add(b"k", swapped.cas)).status, SUCCESS);
    assert_eq!(s.one(&get(0x00, b"k")).value, b"a");
    assert_eq!(
        (s.stats.cas_hits, s.stats.cas_badval, s.stats.cas_misses),
        (2, 1, 1)
    );
    // Quiet: silent on success, errors still sent.
    let q = |op, k: &[u8]| req(op, k, &set_extras(0, 0), b"q", 0, 0);
    assert!(s.send(&q(0x11, b"k")).is_empty());
    assert!(s.send(&q(0x13, b"k")).is_empty());
    assert_eq!(s.one(&q(0x12, b"k")).status, KEY_EEXISTS);
    assert_eq!(s.one(&q(0x13, b"zz")).status, KEY_ENOENT);
    assert!(s.send(&q(0x12, b"zz")).is_empty());
}

#[test]
fn append_prepend() {
    let mut s = Server::new();
    let ap = |op, v: &[u8], cas| req(op, b"k", &[], v, cas, 0);
    let missing = s.one(&ap(0x0e, b"x", 0));
    assert_eq!(
        (missing.status, missing.value.as_slice()),
        (NOT_STORED, &b"Not stored."[..])
    );
    s.one(&req(0x01, b"k", &set_extras(3, 0), b"mid", 0, 0));
    assert_eq!(s.one(&ap(0x0e, b">", 0)).status, SUCCESS);
    assert!(s.send(&ap(0x1a, b"<", 0)).is_empty());
    let hit = s.one(&get(0x00, b"k"));
    assert_eq!(hit.value, b"<mid>");
    assert_eq!(hit.extras, 3u32.to_be_bytes());
    assert_eq!(s.one(&ap(0x0f, b"!", hit.cas + 1)).status, KEY_EEXISTS);
    assert_eq!(s.one(&ap(0x0f, b"!", hit.cas)).status, SUCCESS);
    assert_eq!(s.one(&get(0x00, b"k")).value, b"!<mid>");
}

#[test]
fn delete_with_and_without_cas() {
    let mut s = Server::new();
    let del = |op, cas| req(op, b"k", &[], &[], cas, 0);
    assert_eq!(s.one(&del(0x04, 0)).status, KEY_ENOENT);
    assert_eq!(
        s.one(&del(0x14, 0)).status,
        KEY_ENOENT,
        "errors are not quiet"
    );
    let cas = s.one(&set(b"k", b"v", 0, 0)).cas;
    assert_eq!(s.one(&del(0x04, cas + 1)).status, KEY_EEXISTS);
    let done = s.one(&del(0x04, cas));
    assert_eq!((done.status, done.cas), (SUCCESS, 0));
    s.one(&set(b"k", b"v", 0, 0));
    assert!(s.send(&del(0x14, 0)).is_empty());
    assert_eq!(s.one(&get(0x00, b"k")).status, KEY_ENOENT);
}

#[test]
fn incr_decr() {
    let mut s = Server::new();
    let value = |p: &Packet| u64::from_be_bytes(p.value.clone().try_into().unwrap());
    // Missing, created with the initial value...
    let created = s.one(&req(0x05, b"n", &delta_extras(5, 10, 0), &[], 0, 0));
    assert_eq!((created.status, value(&created)), (SUCCESS, 10));
    assert!(created.cas != 0);
    assert_eq!(s.one(&get(0x00, b"n")).value, b"10");
    // ...then changed by the delta.
    let up = s.one(&req(0x05, b"n", &delta_extras(5, 10, 0), &[], 0, 0));
    assert_eq!(value(&up), 15);
    assert!(up.cas > created.cas);
    let down = s.one(&req(0x06, b"n", &delta_extras(100, 0, 0), &[], 0, 0));
    assert_eq!(value(&down), 0, "decr stops at 0");
    let wrap = s.one(&req(0x05, b"n", &delta_extras(u64::MAX, 0, 0), &[], 0, 0));
    assert_eq!(value(&wrap), u64::MAX);
    let wrap = s.one(&req(0x05, b"n", &delta_extras(2, 0, 0), &[], 0, 0));
    assert_eq!(value(&wrap), 1, "incr wraps");
    // 0xffffffff: do not create.
    let missing = s.one(&req(
        0x06,
        b"m",
        &delta_extras(1, 0, 0xffff_ffff),
        &[],
        0,
        0,
    ));
    assert_eq!(missing.status, KEY_ENOENT);
    // Quiet.
    assert!(s
        .send(&req(0x15, b"n", &delta_extras(1, 0, 0), &[], 0, 0))
        .is_empty());
    assert!(s
        .send(&req(0x16, b"n", &delta_extras(1, 0, 0), &[], 0, 0))
        .is_empty());
    // The number shrank from 20 digits: memcached rewrites it in place,
    // padded with spaces.
    assert_eq!(
        s.one(&get(0x00, b"n")).value,
        format!("{:<20}", 1).as_bytes()
    );
    // CAS.
    let cas = s.one(&get(0x00, b"n")).cas;
    let bad = s.one(&req(0x05, b"n", &delta_extras(1, 0, 0), &[], cas + 1, 0));
    assert_eq!(bad.status, KEY_EEXISTS);
    let good = s.one(&req(0x05, b"n", &delta_extras(1, 0, 0), &[], cas, 0));
    assert_eq!(value(&good), 2);
    // Not a number.
    s.one(&set(b"t", b"text", 0, 0));
    let nan = s.one(&req(0x05, b"t", &delta_extras(1, 0, 0), &[], 0, 0));
    assert_eq!(nan.status, DELTA_BADVAL);
    assert_eq!(nan.value, b"Non-numeric server-side value for incr or decr");
}

#[test]
fn touch_and_gat() {
    let mut s = Server::new();
    let t = |op, key: &[u8], exptime: u32| req(op, key, &exptime.to_be_bytes(), &[], 0, 0);
    assert_eq!(s.one(&t(0x1c, b"k", 10)).status, KEY_ENOENT);
    assert!(s.send(&t(0x1e, b"k", 10)).is_empty());
    assert!(s.send(&t(0x24, b"k", 10)).is_empty());
    assert_eq!(s.one(&t(0x23, b"k", 10)).key, b"k");
    s.one(&req(0x01, b"k", &set_extras(9, 0), b"v", 0, 0));
    let touched = s.one(&t(0x1c, b"k", 100));
    assert_eq!(touched.status, SUCCESS);
    assert_eq!(
        touched.extras,
        9u32.to_be_bytes(),
        "touch returns the flags"
    );
    assert!(touched.value.is_empty());
    let gat = s.one(&t(0x1d, b"k", 100));
    assert_eq!((gat.value.as_slice(), gat.key.len()), (&b"v"[..], 0));
    let gatk = s.one(&t(0x23, b"k", 100));
    assert_eq!(
        (gatk.value.as_slice(), gatk.key.as_slice()),
        (&b"v"[..], &b"k"[..])
    );
    assert_eq!(s.one(&t(0x1e, b"k", 100)).value, b"v");
    assert_eq!(s.one(&t(0x24, b"k", 100)).key, b"k");
    // A touch to 1 s from now: alive now, gone 2 s later.
    s.one(&t(0x1c, b"k", 1));
    assert_eq!(s.one(&get(0x00, b"k")).status, SUCCESS);
    s.store.advance(2);
    assert_eq!(s.one(&get(0x00, b"k")).status, KEY_ENOENT);
    assert_eq!(s.stats.touch_hits, 6);
}

#[test]
fn flush_noop_version_verbosity_quit() {
    let mut s = Server::new();
    s.one(&set(b"k", b"v", 0, 0));
    assert_eq!(s.one(&req(0x08, b"", &[], &[], 0, 0)).status, SUCCESS);
    assert_eq!(s.one(&get(0x00, b"k")).status, KEY_ENOENT);
    s.one(&set(b"k", b"v", 0, 0));
    assert!(s.send(&req(0x18, b"", &[], &[], 0, 0)).is_empty());
    assert_eq!(s.one(&get(0x00, b"k")).status, KEY_ENOENT);
    // A delayed flush.
    s.one(&set(b"k", b"v", 0, 0));
    s.one(&req(0x08, b"", &2u32.to_be_bytes(), &[], 0, 0));
    assert_eq!(s.one(&get(0x00, b"k")).status, SUCCESS);
    s.store.advance(3);
    assert_eq!(s.one(&get(0x00, b"k")).status, KEY_ENOENT);
    // Under -F a Flush is refused as memcached refuses it.
    s.stats.settings.flush_disabled = true;
    s.one(&set(b"k", b"v", 0, 0));
    let refused = s.one(&req(0x08, b"", &[], &[], 0, 0));
    assert_eq!(
        (refused.status, &refused.value[..]),
        (0x20, &b"Auth failure."[..])
    );
    assert_eq!(s.one(&get(0x00, b"k")).status, SUCCESS);
    s.stats.settings.flush_disabled = false;
    let noop = s.one(&req(0x0a, b"", &[], &[], 0, 42));
    assert_eq!((noop.opcode, noop.status, noop.opaque), (0x0a, SUCCESS, 42));
    assert_eq!(
        s.one(&req(0x0b, b"", &[], &[], 0, 0)).value,
        VERSION.as_bytes()
    );
    // memcached 1.6 has no binary verbosity; nor SASL without SASL.
    for op in [0x1b, 0x20, 0x21, 0x22] {
        let key: &[u8] = if op >= 0x21 { b"PLAIN" } else { b"" };
        let value: &[u8] = if op >= 0x21 { b"\0user\0pass" } else { b"" };
        let extras: &[u8] = if op == 0x1b { &[0, 0, 0, 1] } else { &[] };
        let r = s.one(&req(op, key, extras, value, 0, 0));
        assert_eq!((r.opcode, r.status), (op, UNKNOWN_COMMAND));
        assert_eq!(r.value, b"Unknown command");
    }
    let (out, p) = s.feed(&req(0x07, b"", &[], &[], 0, 0));
    assert!(p.close);
    assert_eq!(packets(&out)[0].status, SUCCESS);
    let mut s = Server::new();
    let (out, p) = s.feed(&[req(0x17, b"", &[], &[], 0, 0), get(0x00, b"x")].concat());
    assert!(
        p.close && out.is_empty(),
        "QuitQ: silent, and nothing after it runs"
    );
}

#[test]
fn stats_groups() {
    let mut s = Server::new();
    let all = s.send(&req(0x10, b"", &[], &[], 0, 3));
    let last = all.last().unwrap();
    assert!(
        last.key.is_empty() && last.value.is_empty(),
        "ends with an empty stat"
    );
    assert!(all
        .iter()
        .all(|p| p.opcode == 0x10 && p.opaque == 3 && p.status == SUCCESS));
    let find = |v: &[Packet], k: &[u8]| v.iter().find(|p| p.key == k).map(|p| p.value.clone());
    assert_eq!(find(&all, b"version").unwrap(), VERSION.as_bytes());
    assert!(find(&all, b"pid").is_some());
    let settings = s.send(&req(0x10, b"settings", &[], &[], 0, 0));
    assert!(find(&settings, b"item_size_max").is_some());
    // reset: only the end packet.
    s.one(&get(0x00, b"x"));
    assert_eq!(s.send(&req(0x10, b"reset", &[], &[], 0, 0)).len(), 1);
    assert_eq!(s.stats.get_misses, 0);
    let bad = s.one(&req(0x10, b"nonsense", &[], &[], 0, 0));
    assert_eq!(
        (bad.status, bad.value.as_slice()),
        (KEY_ENOENT, &b"Not found"[..])
    );
    assert_eq!(
        s.one(&req(0x10, b"x\r\nflush_all", &[], &[], 0, 0)).status,
        KEY_ENOENT
    );
    // Groups memcached's binary protocol does not serve.
    for group in [&b"conns"[..], b"cachedump 1 1", b"items x", b"detail"] {
        assert_eq!(s.one(&req(0x10, group, &[], &[], 0, 0)).status, KEY_ENOENT);
    }
    // Prefixes, as memcached matches them.
    assert_eq!(s.send(&req(0x10, b"resetting", &[], &[], 0, 0)).len(), 1);
    assert!(find(
        &s.send(&req(0x10, b"settingsXYZ", &[], &[], 0, 0)),
        b"item_size_max"
    )
    .is_some());
    assert_eq!(s.send(&req(0x10, b"detail on", &[], &[], 0, 0)).len(), 1);
    let dump = s.send(&req(0x10, b"detail dump", &[], &[], 0, 0));
    assert_eq!(
        (dump[0].key.as_slice(), dump[0].value.as_slice()),
        (&b"detailed"[..], &b"END\r\n"[..])
    );
    assert!(s
        .send(&req(0x10, b"items", &[], &[], 0, 0))
        .last()
        .unwrap()
        .key
        .is_empty());
}

#[test]
fn unknown_opcodes_skip_their_body() {
    let mut s = Server::new();
    let input = [
        req(0x40, b"key", &[1, 2], b"some value", 0, 1),
        req(0x0a, b"", &[], &[], 0, 2),
    ]
    .concat();
    let r = s.send(&input);
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].opcode, r[0].status, r[0].opaque),
        (0x40, UNKNOWN_COMMAND, 1)
    );
    assert_eq!((r[1].opcode, r[1].status), (0x0a, SUCCESS));
}

#[test]
fn malformed_requests_close() {
    // Bad magic: closed without a word (a text line after binary, too).
    let mut s = Server::new();
    s.send(&req(0x0a, b"", &[], &[], 0, 0));
    let (out, p) = s.feed(b"get k\r\n..................");
    assert!(p.close && out.is_empty());
    // Key over 250 bytes.
    let mut s = Server::new();
    let (out, p) = s.feed(&get(0x00, &[b'k'; 251]));
    assert!(p.close);
    assert_eq!(packets(&out)[0].status, EINVAL);
    // Extras a command does not take.
    for bad in [
        req(0x00, b"k", &[0; 4], &[], 0, 0),
        req(0x01, b"k", &[0; 4], b"v", 0, 0),
        req(0x05, b"k", &[0; 8], &[], 0, 0),
        req(0x0a, b"k", &[], &[], 0, 0),
        req(0x1c, b"k", &[], &[], 0, 0),
        req(0x04, b"", &[], &[], 0, 0),
        req(0x08, b"", &[0; 8], &[], 0, 0),
    ] {
        let mut s = Server::new();
        let (out, p) = s.feed(&[bad.clone(), get(0x00, b"k")].concat());
        assert!(p.close, "{bad:?}");
        let r = packets(&out);
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].status, r[0].value.as_slice()),
            (EINVAL, &b"Invalid arguments"[..])
        );
    }
    // Key and extras longer than the body.
    let mut s = Server::new();
    let mut bad = get(0x00, b"key");
    bad[8..12].copy_from_slice(&1u32.to_be_bytes());
    let (out, p) = s.feed(&bad);
    assert!(p.close);
    assert_eq!(packets(&out)[0].status, UNKNOWN_COMMAND);
}

#[test]
fn too_large_values_are_refused_and_skipped() {
    let mut s = Server::with_limits(64 << 20, 1024);
    s.one(&set(b"k", b"old", 0, 0));
    let big = vec![b'x'; 2000];
    // The refusal comes as soon as the header is in; the value is skipped
    // as it arrives.
    let input = [set(b"k", &big, 0, 0), get(0x00, b"k")].concat();
    let (out, p) = s.feed(&input[..40]);
    assert_eq!(p.consumed, 40);
    assert_eq!(s.session.wanted(), 1, "skipping the value");
    let r = packets(&out);
    assert_eq!(
        (r[0].status, r[0].value.as_slice()),
        (E2BIG, &b"Too large."[..])
    );
    let rest = &input[p.consumed..];
    let (out, p) = s.feed(rest);
    assert_eq!(p.consumed, rest.len());
    // memcached drops the old value of a refused set.
    assert_eq!(packets(&out)[0].status, KEY_ENOENT);
    assert_eq!(s.stats.store_too_large, 1);
    // A body of almost 4 GiB is refused at once, its bytes skipped.
    let mut huge = set(b"k", b"", 0, 0);
    huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    let (out, p) = s.feed(&huge);
    assert_eq!((p.consumed, p.close), (huge.len(), false));
    assert_eq!(packets(&out)[0].status, E2BIG);
    assert_eq!(s.session.wanted(), 1);
    // Larger than the memory limit: out of memory.
    let mut s = Server::with_limits(1000, 4096);
    let r = s.one(&[set(b"k", &big, 0, 0), vec![]].concat());
    assert_eq!(
        (r.status, r.value.as_slice()),
        (ENOMEM, &b"Out of memory"[..])
    );
}

#[test]
fn waits_for_whole_requests() {
    let mut s = Server::new();
    let input = [set(b"key", b"value", 0, 0), get(0x00, b"key")].concat();
    let mut fed = 0;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for &b in &input {
        buf.push(b);
        fed += 1;
        if buf.len() < s.session.wanted() {
            continue;
        }
        let (o, p) = s.feed(&buf);
        buf.drain(..p.consumed);
        out.extend(o);
    }
    assert_eq!(fed, input.len());
    assert!(buf.is_empty());
    let r = packets(&out);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].value, b"value");
}

/// One request of any of the three protocols, from a small vocabulary of
/// keys and values so that requests meet the same items.
fn text_request() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec!["a", "b", "ccc"]);
    let val = prop::sample::select(vec!["", "1", "12", "hello", "x y"]);
    (0..14u8, key, val, 0..3u32).prop_map(|(kind, k, v, n)| {
        let s = match kind {
            0 => format!("set {k} {n} 0 {}\r\n{v}\r\n", v.len()),
            1 => format!("get {k} a b\r\n"),
            2 => format!("gets {k}\r\n"),
            3 => format!("incr {k} {n}\r\n"),
            4 => format!("append {k} 0 0 {}\r\n{v}\r\n", v.len()),
            5 => format!("delete {k}\r\n"),
            6 => format!("mg {k} v f c t\r\n"),
            7 => format!("ms {k} {} T0 F{n}\r\n{v}\r\n", v.len()),
            8 => format!("ma {k} N0 J{n}\r\n"),
            9 => format!("md {k} q\r\nmn\r\n"),
            10 => format!("set {k} 0 0 {}\r\n{v}XX\r\n", v.len()),
            11 => format!("bogus {k}\r\n"),
            12 => format!("touch {k} {n}\r\n"),
            _ => format!("cas {k} 0 0 {} {n}\r\n{v}\r\n", v.len()),
        };
        s.into_bytes()
    })
}

/// One binary request, valid or not.
fn binary_request() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec![&b"a"[..], b"b", b"k k"]);
    let opcode = prop::sample::select(vec![
        0x00u8, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x20, 0x23,
        0x24, 0x55,
    ]);
    let value = prop::collection::vec(prop::sample::select(vec![b'1', b'2', b'x']), 0..8);
    (opcode, key, value, 0..3u64, any::<bool>()).prop_map(|(op, k, v, cas, bad)| {
        let extras: Vec<u8> = match op {
            0x01..=0x03 | 0x11..=0x13 => set_extras(cas as u32, 0),
            0x05 | 0x06 | 0x15 | 0x16 => delta_extras(cas, 7, 0),
            0x1c..=0x1e | 0x23 | 0x24 => 100u32.to_be_bytes().to_vec(),
            _ => vec![],
        };
        let (k, v): (&[u8], &[u8]) = match op {
            0x08 | 0x0a | 0x0b | 0x18 | 0x20 => (b"", b""),
            0x00 | 0x04 | 0x05 | 0x06 | 0x09 | 0x0c | 0x0d | 0x14..=0x16 => (k, b""),
            0x1c..=0x1e | 0x23 | 0x24 => (k, b""),
            _ => (k, &v),
        };
        let mut p = req(op, k, &extras, v, cas, op as u32);
        if bad {
            // Sometimes a malformed one (which closes the connection).
            p[4] = p[4].wrapping_add(1);
        }
        p
    })
}

/// A client's whole byte stream: text and meta requests, or binary ones
/// (the first byte decides), perhaps with a too large value or junk.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let text = prop::collection::vec(text_request(), 1..12).prop_map(|v| v.concat());
    let binary = prop::collection::vec(
        prop_oneof![
            9 => binary_request(),
            1 => Just(set(b"big", &[b'z'; harness::ITEM_MAX + 10], 0, 0)),
        ],
        1..12,
    )
    .prop_map(|v| v.concat());
    let junk = prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![4 => text, 4 => binary, 1 => junk]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The cargo-fuzz targets' property, run in CI: the replies to a
    /// client's bytes do not depend on how they were split into reads, nor
    /// on when the output filled and held the session back.
    #[test]
    fn replies_do_not_depend_on_how_input_is_split(
        data in stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        limit in 1..256usize,
    ) {
        let whole = harness::replies([data.as_slice()], usize::MAX);
        let pieces = harness::replies(split(&data, &cuts), usize::MAX);
        let bytes = harness::replies(data.chunks(1), usize::MAX);
        let held = harness::replies(split(&data, &cuts), limit);
        if !has_cpu_time(&whole.0) {
            prop_assert_eq!(&whole, &pieces);
            prop_assert_eq!(&whole, &bytes);
            prop_assert_eq!(&whole, &held);
        }
    }
}

#[test]
fn the_harness_sees_the_replies() {
    // Guards the property above against comparing two empty outputs.
    let data = [set(b"k", b"v", 0, 0), get(0x00, b"k")].concat();
    let (out, closed) = harness::replies(split(&data, &[5, 30]), usize::MAX);
    assert!(!closed);
    assert_eq!(packets(&out).len(), 2);
    let text = b"set k 0 0 1\r\nv\r\nget k k k\r\n";
    let want =
        &b"STORED\r\nVALUE k 0 1\r\nv\r\nVALUE k 0 1\r\nv\r\nVALUE k 0 1\r\nv\r\nEND\r\n"[..];
    assert_eq!(harness::replies([&text[..]], usize::MAX).0, want);
    // An output full after every byte: the multi-get goes on key by key.
    assert_eq!(harness::replies([&text[..]], 1).0, want);
}
