//! The same binary-protocol requests to this server and to a real
//! memcached (when the `memcached` binary is installed; else SKIP): the
//! reply packets must be identical, CAS uniques compared by which replies
//! share one (the counters differ), and the connection closed by both or
//! by neither. `stats` contents and the version string are left out: they
//! describe the server, not the protocol.

mod binary_support;

use std::net::SocketAddr;

use binary_support::{connect, delta_extras, req, set_extras, Memcached, Packet, Server};

/// A set request with flags, exptime and CAS.
fn set(op: u8, key: &[u8], value: &[u8], flags: u32, exptime: u32, cas: u64) -> Vec<u8> {
    req(
        op,
        key,
        &set_extras(flags, exptime),
        value,
        cas,
        u32::from(op),
    )
}

/// A request with only a key.
fn keyed(op: u8, key: &[u8]) -> Vec<u8> {
    req(op, key, &[], &[], 0, u32::from(op) << 8)
}

/// Incr/decr.
fn delta(op: u8, key: &[u8], by: u64, initial: u64, exptime: u32, cas: u64) -> Vec<u8> {
    req(op, key, &delta_extras(by, initial, exptime), &[], cas, 77)
}

/// A request with a 4-byte expiry extra (touch, GAT, flush).
fn with_exp(op: u8, key: &[u8], exptime: u32) -> Vec<u8> {
    req(op, key, &exptime.to_be_bytes(), &[], 0, 5)
}

/// Each case runs on a fresh connection after a flush.
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let noop = |o| req(0x0a, b"", &[], &[], 0, o);
    let big = vec![b'v'; 1024 * 1024 + 10];
    vec![
        ("get miss", keyed(0x00, b"k")),
        ("getk miss", keyed(0x0c, b"k")),
        (
            "quiet misses",
            [keyed(0x09, b"k"), keyed(0x0d, b"k"), noop(1)].concat(),
        ),
        (
            "set get",
            [
                set(0x01, b"k", b"hello", 9, 0, 0),
                keyed(0x00, b"k"),
                keyed(0x0c, b"k"),
                keyed(0x09, b"k"),
                keyed(0x0d, b"k"),
            ]
            .concat(),
        ),
        (
            "setq",
            [set(0x11, b"k", b"v", 0, 0, 0), keyed(0x00, b"k")].concat(),
        ),
        (
            "binary key bytes",
            [
                set(0x01, b"a b\r\n\0", b"v", 0, 0, 0),
                keyed(0x0c, b"a b\r\n\0"),
            ]
            .concat(),
        ),
        (
            "add",
            [
                set(0x02, b"k", b"1", 0, 0, 0),
                set(0x02, b"k", b"2", 0, 0, 0),
                set(0x12, b"k", b"3", 0, 0, 0),
                set(0x12, b"n", b"3", 0, 0, 0),
                keyed(0x00, b"k"),
            ]
            .concat(),
        ),
        (
            "replace",
            [
                set(0x03, b"k", b"1", 0, 0, 0),
                set(0x13, b"k", b"1", 0, 0, 0),
                set(0x01, b"k", b"0", 0, 0, 0),
                set(0x03, b"k", b"2", 0, 0, 0),
                keyed(0x00, b"k"),
            ]
            .concat(),
        ),
        (
            "cas mismatch and missing",
            [
                set(0x01, b"k", b"1", 0, 0, 0),
                set(0x01, b"k", b"2", 0, 0, 999_999),
                set(0x02, b"k", b"2", 0, 0, 999_999),
                set(0x03, b"m", b"2", 0, 0, 5),
                keyed(0x00, b"k"),
            ]
            .concat(),
        ),
        (
            "append prepend",
            [
                req(0x0e, b"k", &[], b"x", 0, 1),
                set(0x01, b"k", b"mid", 3, 0, 0),
                req(0x0e, b"k", &[], b">", 0, 2),
                req(0x19, b"k", &[], b">", 0, 3),
                req(0x0f, b"k", &[], b"<", 0, 4),
                req(0x1a, b"k", &[], b"<", 0, 5),
                req(0x0e, b"k", &[], b"!", 999_999, 6),
                keyed(0x00, b"k"),
            ]
            .concat(),
        ),
        (
            "delete",
            [
                keyed(0x04, b"k"),
                keyed(0x14, b"k"),
                set(0x01, b"k", b"v", 0, 0, 0),
                req(0x04, b"k", &[], &[], 999_999, 9),
                keyed(0x14, b"k"),
                keyed(0x00, b"k"),
            ]
            .concat(),
        ),
        (
            "incr create",
            [
                delta(0x05, b"n", 5, 10, 0, 0),
                delta(0x05, b"n", 5, 10, 0, 0),
                delta(0x06, b"n", 3, 0, 0, 0),
                keyed(0x00, b"n"),
                // A decr to fewer digits: the value is rewritten in place,
                // padded with spaces ("0 ").
                delta(0x06, b"n", 100, 0, 0, 0),
                keyed(0x00, b"n"),
            ]
            .concat(),
        ),
        (
            "incr no create",
            [
                delta(0x05, b"n", 1, 0, 0xffff_ffff, 0),
                delta(0x16, b"n", 1, 0, 0xffff_ffff, 0),
                noop(2),
            ]
            .concat(),
        ),
        (
            "incrq decrq",
            [
                delta(0x15, b"n", 1, 7, 0, 0),
                delta(0x16, b"n", 3, 0, 0, 0),
                keyed(0x00, b"n"),
            ]
            .concat(),
        ),
        (
            "incr wrap and big",
            [
                set(0x01, b"n", b"18446744073709551615", 0, 0, 0),
                delta(0x05, b"n", 2, 0, 0, 0),
                set(0x01, b"m", b"18446744073709551616", 0, 0, 0),
                delta(0x05, b"m", 1, 0, 0, 0),
            ]
            .concat(),
        ),
        (
            "incr non-numeric",
            [
                set(0x01, b"t", b"text", 0, 0, 0),
                delta(0x05, b"t", 1, 0, 0, 0),
                set(0x01, b"e", b"", 0, 0, 0),
                delta(0x05, b"e", 1, 0, 0, 0),
                set(0x01, b"s", b"12 ", 0, 0, 0),
                delta(0x05, b"s", 1, 0, 0, 0),
            ]
            .concat(),
        ),
        (
            "incr cas",
            [
                delta(0x05, b"n", 1, 1, 0, 0),
                delta(0x05, b"n", 1, 1, 0, 999_999),
            ]
            .concat(),
        ),
        (
            "touch gat",
            [
                with_exp(0x1c, b"k", 10),
                with_exp(0x1d, b"k", 10),
                with_exp(0x23, b"k", 10),
                with_exp(0x1e, b"k", 10),
                with_exp(0x24, b"k", 10),
                set(0x01, b"k", b"v", 4, 0, 0),
                with_exp(0x1c, b"k", 100),
                with_exp(0x1d, b"k", 100),
                with_exp(0x1e, b"k", 100),
                with_exp(0x23, b"k", 100),
                with_exp(0x24, b"k", 100),
            ]
            .concat(),
        ),
        (
            "expired on set",
            [set(0x01, b"k", b"v", 0, 0xffff_ffff, 0), keyed(0x00, b"k")].concat(),
        ),
        (
            "flush",
            [
                set(0x01, b"k", b"v", 0, 0, 0),
                req(0x08, b"", &[], &[], 0, 1),
                keyed(0x00, b"k"),
                set(0x01, b"k", b"v", 0, 0, 0),
                req(0x18, b"", &[], &[], 0, 2),
                keyed(0x00, b"k"),
            ]
            .concat(),
        ),
        (
            "flush later",
            [
                set(0x01, b"k", b"v", 0, 0, 0),
                with_exp(0x08, b"", 100),
                keyed(0x00, b"k"),
            ]
            .concat(),
        ),
        ("noop", noop(42)),
        (
            "sasl unknown",
            [
                req(0x20, b"", &[], &[], 0, 1),
                req(0x21, b"PLAIN", &[], b"\0u\0p", 0, 2),
                req(0x22, b"PLAIN", &[], b"x", 0, 3),
                noop(4),
            ]
            .concat(),
        ),
        (
            "unknown opcodes, no body",
            [
                req(0x1b, b"", &[], &[], 0, 1),
                req(0x30, b"", &[], &[], 0, 2),
                req(0xff, b"", &[], &[], 0, 3),
                noop(4),
            ]
            .concat(),
        ),
        (
            "stat unknown group",
            [keyed(0x10, b"bogus"), keyed(0x10, b"conns")].concat(),
        ),
        ("stat reset", keyed(0x10, b"reset")),
        (
            "too large",
            [
                set(0x01, b"k", b"old", 0, 0, 0),
                set(0x01, b"k", &big, 0, 0, 0),
                keyed(0x00, b"k"),
                set(0x11, b"k", &big, 0, 0, 0),
                noop(1),
            ]
            .concat(),
        ),
        (
            "append past the limit",
            [
                set(0x01, b"k", &big[..1024 * 1024 - 200], 0, 0, 0),
                req(0x0e, b"k", &[], &[b'a'; 500], 0, 1),
                noop(2),
            ]
            .concat(),
        ),
        ("quit", [req(0x07, b"", &[], &[], 0, 1), noop(2)].concat()),
        ("quitq", [req(0x17, b"", &[], &[], 0, 1), noop(2)].concat()),
        (
            "bad magic",
            [noop(1), {
                let mut p = noop(2);
                p[0] = 0x81;
                p
            }]
            .concat(),
        ),
        ("get with extras", req(0x00, b"k", &[0; 4], &[], 0, 1)),
        ("get without key", keyed(0x00, b"")),
        ("set short extras", req(0x01, b"k", &[0; 4], b"v", 0, 1)),
        ("delete with extras", req(0x04, b"k", &[0; 4], &[], 0, 1)),
        ("incr short extras", req(0x05, b"k", &[0; 8], &[], 0, 1)),
        ("noop with body", req(0x0a, b"", &[], b"x", 0, 1)),
        ("version with key", keyed(0x0b, b"k")),
        ("quit with body", req(0x07, b"", &[], b"x", 0, 1)),
        ("flush with key", keyed(0x08, b"k")),
        ("touch without extras", keyed(0x1c, b"k")),
        ("key over 250", keyed(0x00, &[b'k'; 251])),
        (
            "key of 250",
            [
                set(0x01, &[b'k'; 250], b"v", 0, 0, 0),
                keyed(0x0c, &[b'k'; 250]),
            ]
            .concat(),
        ),
        ("key longer than body", {
            let mut p = keyed(0x00, b"key");
            p[8..12].copy_from_slice(&1u32.to_be_bytes());
            p
        }),
        (
            "text after binary",
            [noop(1), b"version\r\n".to_vec()].concat(),
        ),
    ]
}

/// A reply with its CAS replaced by the order in which the CAS was first
/// seen (0 stays 0).
type Normal = (u8, u8, u16, u32, usize, Vec<u8>, Vec<u8>, Vec<u8>);

/// Flushes, sends `case` on a new connection, then a Noop marked
/// 0xfeedface; returns the replies up to it (or to EOF), normalized, and
/// whether the server closed the connection.
fn run(addr: SocketAddr, case: &[u8]) -> (Vec<Normal>, bool) {
    let mut c = connect(addr);
    c.call(&req(0x08, b"", &[], &[], 0, 0));
    let mut c = connect(addr);
    c.send(case);
    c.send(&req(0x0a, b"", &[], &[], 0, 0xfeed_face));
    let mut seen: Vec<u64> = Vec::new();
    let mut out = Vec::new();
    loop {
        let Some(p) = c.try_recv() else {
            return (out, true);
        };
        if p.opcode == 0x0a && p.opaque == 0xfeed_face {
            return (out, false);
        }
        let Packet {
            magic,
            opcode,
            status,
            opaque,
            cas,
            extras,
            key,
            value,
        } = p;
        let cas_class = if cas == 0 {
            0
        } else {
            match seen.iter().position(|&c| c == cas) {
                Some(i) => i + 1,
                None => {
                    seen.push(cas);
                    seen.len()
                }
            }
        };
        out.push((magic, opcode, status, opaque, cas_class, extras, key, value));
    }
}

#[test]
fn binary_replies_match_memcached() {
    let Some(real) = Memcached::start() else {
        return;
    };
    let ours = Server::start(&[]);
    let mut diffs = Vec::new();
    for (name, case) in cases() {
        let a = run(ours.addr, &case);
        let b = run(real.addr, &case);
        if a != b {
            diffs.push(format!("{name}:\n  evloop:    {a:?}\n  memcached: {b:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} cases differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
