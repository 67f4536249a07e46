//! End-to-end tests of the binary protocol: the server (`evloop-memcached`)
//! as a child process, raw binary packets over TCP, every opcode memcached
//! 1.6 answers, quiet variants, CAS, pipelining, back-pressure and the
//! connections it closes.

mod binary_support;

use std::io::{BufRead, BufReader, Write};
use std::thread;

use binary_support::{delta_extras, req, set_extras, Packet, Server};

const SUCCESS: u16 = 0x00;
const KEY_ENOENT: u16 = 0x01;
const KEY_EEXISTS: u16 = 0x02;
const E2BIG: u16 = 0x03;
const EINVAL: u16 = 0x04;
const NOT_STORED: u16 = 0x05;
const DELTA_BADVAL: u16 = 0x06;
const UNKNOWN_COMMAND: u16 = 0x81;

fn set(op: u8, key: &[u8], value: &[u8], flags: u32, cas: u64) -> Vec<u8> {
    req(op, key, &set_extras(flags, 0), value, cas, 0)
}

fn get(op: u8, key: &[u8]) -> Vec<u8> {
    req(op, key, &[], &[], 0, 0)
}

fn noop(opaque: u32) -> Vec<u8> {
    req(0x0a, b"", &[], &[], 0, opaque)
}

#[test]
fn storage_and_retrieval_opcodes() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let miss = c.call(&req(0x00, b"k", &[], &[], 0, 0x1234_5678));
    assert_eq!(miss.magic, 0x81);
    assert_eq!(
        (miss.opcode, miss.status, miss.opaque),
        (0x00, KEY_ENOENT, 0x1234_5678)
    );
    assert_eq!(miss.value, b"Not found");
    let stored = c.call(&set(0x01, b"k", b"value", 77, 0));
    assert_eq!(stored.status, SUCCESS);
    assert!(stored.cas != 0);
    let hit = c.call(&get(0x00, b"k"));
    assert_eq!((hit.status, hit.cas), (SUCCESS, stored.cas));
    assert_eq!(hit.extras, 77u32.to_be_bytes());
    assert_eq!((hit.key.len(), hit.value.as_slice()), (0, &b"value"[..]));
    let hitk = c.call(&get(0x0c, b"k"));
    assert_eq!(
        (hitk.key.as_slice(), hitk.value.as_slice()),
        (&b"k"[..], &b"value"[..])
    );
    let missk = c.call(&get(0x0c, b"zz"));
    assert_eq!(
        (missk.status, missk.key.as_slice()),
        (KEY_ENOENT, &b"zz"[..])
    );

    assert_eq!(c.call(&set(0x02, b"k", b"x", 0, 0)).status, KEY_EEXISTS);
    assert_eq!(c.call(&set(0x02, b"new", b"x", 0, 0)).status, SUCCESS);
    assert_eq!(c.call(&set(0x03, b"absent", b"x", 0, 0)).status, KEY_ENOENT);
    assert_eq!(c.call(&set(0x03, b"new", b"y", 0, 0)).status, SUCCESS);
    assert_eq!(c.call(&get(0x00, b"new")).value, b"y");

    assert_eq!(
        c.call(&req(0x0e, b"absent", &[], b"x", 0, 0)).status,
        NOT_STORED
    );
    assert_eq!(c.call(&req(0x0e, b"k", &[], b"-end", 0, 0)).status, SUCCESS);
    assert_eq!(
        c.call(&req(0x0f, b"k", &[], b"start-", 0, 0)).status,
        SUCCESS
    );
    let joined = c.call(&get(0x00, b"k"));
    assert_eq!(joined.value, b"start-value-end");
    assert_eq!(joined.extras, 77u32.to_be_bytes(), "append keeps the flags");

    assert_eq!(c.call(&get(0x04, b"k")).status, SUCCESS);
    assert_eq!(c.call(&get(0x04, b"k")).status, KEY_ENOENT);
    assert_eq!(c.call(&get(0x00, b"k")).status, KEY_ENOENT);
}

#[test]
fn cas_semantics() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let cas = c.call(&set(0x01, b"k", b"v1", 0, 0)).cas;
    let stale = c.call(&set(0x01, b"k", b"v2", 0, cas + 1));
    assert_eq!(
        (stale.status, stale.value.as_slice()),
        (KEY_EEXISTS, &b"Data exists for key."[..])
    );
    assert_eq!(
        c.call(&set(0x01, b"absent", b"v", 0, cas)).status,
        KEY_ENOENT
    );
    let swapped = c.call(&set(0x03, b"k", b"v2", 0, cas));
    assert_eq!(swapped.status, SUCCESS);
    assert!(swapped.cas > cas);
    assert_eq!(c.call(&get(0x00, b"k")).value, b"v2");
    // Delete, append and incr honour a CAS too.
    assert_eq!(
        c.call(&req(0x04, b"k", &[], &[], cas, 0)).status,
        KEY_EEXISTS
    );
    assert_eq!(
        c.call(&req(0x0e, b"k", &[], b"x", cas, 0)).status,
        KEY_EEXISTS
    );
    c.call(&set(0x01, b"n", b"5", 0, 0));
    let n = c.call(&get(0x00, b"n")).cas;
    assert_eq!(
        c.call(&req(0x05, b"n", &delta_extras(1, 0, 0), &[], n + 9, 0))
            .status,
        KEY_EEXISTS
    );
    assert_eq!(
        c.call(&req(0x05, b"n", &delta_extras(1, 0, 0), &[], n, 0))
            .number(),
        6
    );
    assert_eq!(
        c.call(&req(0x04, b"k", &[], &[], swapped.cas, 0)).status,
        SUCCESS
    );
}

#[test]
fn incr_decr_touch_gat_flush() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let made = c.call(&req(0x05, b"n", &delta_extras(3, 40, 0), &[], 0, 0));
    assert_eq!((made.status, made.number()), (SUCCESS, 40));
    assert_eq!(
        c.call(&req(0x05, b"n", &delta_extras(3, 40, 0), &[], 0, 0))
            .number(),
        43
    );
    assert_eq!(
        c.call(&req(0x06, b"n", &delta_extras(50, 0, 0), &[], 0, 0))
            .number(),
        0
    );
    let nope = c.call(&req(
        0x06,
        b"m",
        &delta_extras(1, 0, 0xffff_ffff),
        &[],
        0,
        0,
    ));
    assert_eq!(nope.status, KEY_ENOENT);
    c.call(&set(0x01, b"t", b"text", 0, 0));
    assert_eq!(
        c.call(&req(0x05, b"t", &delta_extras(1, 0, 0), &[], 0, 0))
            .status,
        DELTA_BADVAL
    );

    let exp = |s: u32| s.to_be_bytes().to_vec();
    c.call(&set(0x01, b"k", b"v", 5, 0));
    let touched = c.call(&req(0x1c, b"k", &exp(100), &[], 0, 0));
    assert_eq!(
        (touched.status, touched.extras.as_slice()),
        (SUCCESS, &5u32.to_be_bytes()[..])
    );
    assert!(touched.value.is_empty());
    assert_eq!(c.call(&req(0x1d, b"k", &exp(100), &[], 0, 0)).value, b"v");
    let gatk = c.call(&req(0x23, b"k", &exp(100), &[], 0, 0));
    assert_eq!(
        (gatk.key.as_slice(), gatk.value.as_slice()),
        (&b"k"[..], &b"v"[..])
    );
    assert_eq!(
        c.call(&req(0x1c, b"absent", &exp(1), &[], 0, 0)).status,
        KEY_ENOENT
    );
    // GATQ/GATKQ: a miss says nothing, a hit is sent.
    c.send(
        &[
            req(0x1e, b"absent", &exp(1), &[], 0, 1),
            req(0x24, b"k", &exp(100), &[], 0, 2),
            noop(3),
        ]
        .concat(),
    );
    let hit = c.recv();
    assert_eq!(
        (hit.opcode, hit.opaque, hit.key.as_slice()),
        (0x24, 2, &b"k"[..])
    );
    assert_eq!(c.recv().opcode, 0x0a);

    assert_eq!(c.call(&req(0x08, b"", &[], &[], 0, 0)).status, SUCCESS);
    assert_eq!(c.call(&get(0x00, b"k")).status, KEY_ENOENT);
    c.call(&set(0x01, b"k", b"v", 0, 0));
    c.send(&[req(0x18, b"", &exp(0), &[], 0, 0), get(0x00, b"k")].concat());
    assert_eq!(c.recv().status, KEY_ENOENT, "FlushQ is silent");
}

#[test]
fn noop_version_stat_quit_and_unknown_opcodes() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let n = c.call(&noop(99));
    assert_eq!((n.opcode, n.status, n.opaque), (0x0a, SUCCESS, 99));
    let v = c.call(&req(0x0b, b"", &[], &[], 0, 0));
    assert!(
        v.value.starts_with(b"1.6."),
        "{:?}",
        String::from_utf8_lossy(&v.value)
    );

    c.send(&req(0x10, b"", &[], &[], 0, 5));
    let mut stats = Vec::new();
    loop {
        let p = c.recv();
        assert_eq!((p.opcode, p.status, p.opaque), (0x10, SUCCESS, 5));
        if p.key.is_empty() {
            break;
        }
        stats.push((
            String::from_utf8(p.key).unwrap(),
            String::from_utf8(p.value).unwrap(),
        ));
    }
    let stat = |name: &str| {
        stats
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(stat("pid").unwrap(), server.pid().to_string());
    assert!(stat("curr_connections").is_some());
    c.send(&req(0x10, b"settings", &[], &[], 0, 0));
    let mut names = Vec::new();
    loop {
        let p = c.recv();
        if p.key.is_empty() {
            break;
        }
        names.push(p.key);
    }
    assert!(names.iter().any(|k| k == b"item_size_max"));
    assert_eq!(
        c.call(&req(0x10, b"bogus", &[], &[], 0, 0)).status,
        KEY_ENOENT
    );

    // Verbosity and SASL are unknown to a memcached without SASL; an
    // unknown opcode's body is skipped.
    for (op, key, extras, value) in [
        (0x1bu8, &b""[..], &[0u8, 0, 0, 1][..], &b""[..]),
        (0x20, b"", b"", b""),
        (0x21, b"PLAIN", b"", b"\0user\0secret"),
        (0x77, b"key", b"", b"ignored"),
    ] {
        let r = c.call(&req(op, key, extras, value, 0, 8));
        assert_eq!((r.opcode, r.status, r.opaque), (op, UNKNOWN_COMMAND, 8));
        assert_eq!(r.value, b"Unknown command");
    }
    assert_eq!(c.call(&noop(1)).status, SUCCESS);

    let q = c.call(&req(0x07, b"", &[], &[], 0, 4));
    assert_eq!((q.opcode, q.status), (0x07, SUCCESS));
    assert!(c.closed());
    let mut c = server.connect();
    c.send(&[req(0x17, b"", &[], &[], 0, 0), noop(1)].concat());
    assert!(c.closed(), "QuitQ closes without a reply");
}

#[test]
fn quiet_pipeline_ends_with_noop() {
    // The libmemcached multi-get: GetKQ per key, then Noop; only hits and
    // the Noop come back, in order, in the replies to one batch.
    let server = Server::start(&[]);
    let mut c = server.connect();
    let mut batch = Vec::new();
    for i in 0..50u32 {
        if i % 2 == 0 {
            batch.extend(req(
                0x11,
                format!("key{i}").as_bytes(),
                &set_extras(i, 0),
                format!("v{i}").as_bytes(),
                0,
                i,
            ));
        }
    }
    batch.extend(req(0x04, b"never-set", &[], &[], 0, 1000));
    for i in 0..50u32 {
        batch.extend(req(0x0d, format!("key{i}").as_bytes(), &[], &[], 0, i));
    }
    batch.extend(noop(9999));
    c.send(&batch);
    // The only error is the delete miss (quiet only silences success).
    let del = c.recv();
    assert_eq!(
        (del.opcode, del.status, del.opaque),
        (0x04, KEY_ENOENT, 1000)
    );
    let mut hits: Vec<Packet> = Vec::new();
    loop {
        let p = c.recv();
        if p.opcode == 0x0a {
            assert_eq!(p.opaque, 9999);
            break;
        }
        hits.push(p);
    }
    assert_eq!(hits.len(), 25);
    for (n, p) in hits.iter().enumerate() {
        let i = (n * 2) as u32;
        assert_eq!((p.opcode, p.status, p.opaque), (0x0d, SUCCESS, i));
        assert_eq!(p.key, format!("key{i}").as_bytes());
        assert_eq!(p.value, format!("v{i}").as_bytes());
        assert_eq!(p.extras, i.to_be_bytes());
    }
}

#[test]
fn request_split_into_single_bytes() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let batch = [set(0x01, b"slow", b"drip", 1, 0), get(0x0c, b"slow")].concat();
    for b in &batch {
        c.send(std::slice::from_ref(b));
    }
    assert_eq!(c.recv().status, SUCCESS);
    let r = c.recv();
    assert_eq!(
        (r.key.as_slice(), r.value.as_slice()),
        (&b"slow"[..], &b"drip"[..])
    );
}

#[test]
fn large_values_under_back_pressure_arrive_whole() {
    // 64 gets of a 300 KB value sent without reading: ~19 MB of replies,
    // far past the output limit; the server holds the client back, and
    // every reply arrives intact once it reads.
    let server = Server::start(&["-I", "1m"]);
    let mut c = server.connect();
    let value: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.call(&set(0x01, b"big", &value, 3, 0)).status, SUCCESS);
    let gets: Vec<u8> = (0..64)
        .flat_map(|i| req(0x00, b"big", &[], &[], 0, i))
        .collect();
    let mut writer = c.s.try_clone().unwrap();
    let sender = thread::spawn(move || writer.write_all(&gets).unwrap());
    // Meanwhile another client is served.
    let mut other = server.connect();
    assert_eq!(other.call(&noop(1)).status, SUCCESS);
    for i in 0..64 {
        let p = c.recv();
        assert_eq!((p.status, p.opaque), (SUCCESS, i));
        assert!(p.value == value, "value {i} corrupted");
    }
    sender.join().unwrap();
}

#[test]
fn too_large_value_is_refused_and_the_connection_goes_on() {
    let server = Server::start(&["-I", "1k"]);
    let mut c = server.connect();
    c.call(&set(0x01, b"k", b"old", 0, 0));
    let big = vec![b'x'; 5000];
    let r = c.call(&set(0x01, b"k", &big, 0, 0));
    assert_eq!((r.status, r.value.as_slice()), (E2BIG, &b"Too large."[..]));
    // The value was skipped: the next request is understood...
    assert_eq!(c.call(&noop(2)).opaque, 2);
    // ...and a refused set drops the old value, as memcached does.
    assert_eq!(c.call(&get(0x00, b"k")).status, KEY_ENOENT);
}

#[test]
fn malformed_headers_close_the_connection() {
    let server = Server::start(&[]);
    // Wrong magic after a good request: closed without a reply.
    let mut c = server.connect();
    assert_eq!(c.call(&noop(1)).status, SUCCESS);
    let mut bad = noop(2);
    bad[0] = 0x81;
    c.send(&bad);
    assert!(c.closed());
    // Extras a command does not take: Invalid arguments, then closed.
    let mut c = server.connect();
    c.send(&req(0x00, b"k", &[0; 4], &[], 0, 3));
    let r = c.recv();
    assert_eq!(
        (r.status, r.value.as_slice()),
        (EINVAL, &b"Invalid arguments"[..])
    );
    assert!(c.closed());
    // A key over 250 bytes.
    let mut c = server.connect();
    c.send(&get(0x00, &[b'k'; 251]));
    assert_eq!(c.recv().status, EINVAL);
    assert!(c.closed());
    // Key longer than the body.
    let mut c = server.connect();
    let mut bad = get(0x00, b"key");
    bad[8..12].copy_from_slice(&2u32.to_be_bytes());
    c.send(&bad);
    assert_eq!(c.recv().status, UNKNOWN_COMMAND);
    assert!(c.closed());
    // The server still serves.
    assert_eq!(server.connect().call(&noop(1)).status, SUCCESS);
}

#[test]
fn text_and_binary_clients_share_the_store() {
    let server = Server::start(&[]);
    let mut b = server.connect();
    b.call(&set(0x01, b"shared", b"from binary", 42, 0));
    let mut t = std::net::TcpStream::connect(server.addr).unwrap();
    t.write_all(b"get shared\r\nset other 7 0 4\r\ntext\r\n")
        .unwrap();
    let mut r = BufReader::new(t.try_clone().unwrap());
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        lines.push(l);
    }
    assert_eq!(
        lines,
        [
            "VALUE shared 42 11\r\n",
            "from binary\r\n",
            "END\r\n",
            "STORED\r\n"
        ]
    );
    let p = b.call(&get(0x00, b"other"));
    assert_eq!(
        (p.value.as_slice(), p.extras.as_slice()),
        (&b"text"[..], &7u32.to_be_bytes()[..])
    );
}

#[test]
fn binary_clients_on_several_loops_share_one_store() {
    // -t 2: connections are spread over two loops; what one client stores
    // (and increments), every other sees.
    let server = Server::start(&["-t", "2"]);
    let mut clients: Vec<_> = (0..8).map(|_| server.connect()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let key = format!("k{i}");
        assert_eq!(
            c.call(&set(0x01, key.as_bytes(), b"v", i as u32, 0)).status,
            SUCCESS
        );
        c.call(&req(0x05, b"counter", &delta_extras(1, 1, 0), &[], 0, 0));
    }
    for c in clients.iter_mut() {
        for i in 0..8u32 {
            let p = c.call(&get(0x0c, format!("k{i}").as_bytes()));
            assert_eq!(
                (p.status, p.extras.as_slice()),
                (SUCCESS, &i.to_be_bytes()[..])
            );
        }
        let n = c.call(&req(0x05, b"counter", &delta_extras(0, 0, 0), &[], 0, 0));
        assert_eq!(n.number(), 8, "one create and seven increments");
    }
}
