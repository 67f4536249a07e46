//! End-to-end tests of the memcached server (`evloop-memcached`): each
//! test runs it as a child process on a port the kernel picks and talks the
//! text protocol to it over raw TCP.
//!
//! Timing: expiry is checked with 1–2 s lifetimes. memcached's clock counts
//! whole seconds, so an item given `exptime N` lives more than `N - 1` and
//! at most `N` seconds (plus the time a request takes). A request is
//! handled somewhere between its send and its reply, which on a loaded
//! machine may be seconds apart: a miss counts against the lower bound as
//! of its reply, a hit against the upper bound as of its send, so neither
//! fails for a slow request; upper bounds get [`SLACK`] on top.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use evloop::signum::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

/// Added to upper bounds on time: CI runs every test of the workspace at
/// once on two noisy cores, where a process can wait seconds for a CPU.
const SLACK: Duration = Duration::from_secs(5);

/// How long a server may take to exit after a signal before the test
/// gives up on it: generous, for the reason of [`SLACK`].
const EXIT_LIMIT: Duration = Duration::from_secs(30);

mod support;

use support::{bin, Server};

/// Bytes that differ from their neighbours, so a lost or reordered piece
/// shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 12) as u8 ^ seed)
        .collect()
}

#[test]
fn storage_commands() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.call(b"set a 1 0 3\r\nabc\r\n", b"STORED\r\n");
    c.call(b"add a 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    c.call(b"add b 2 0 2\r\nbb\r\n", b"STORED\r\n");
    c.call(b"replace c 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    c.call(b"replace a 3 0 3\r\nABC\r\n", b"STORED\r\n");
    c.call(b"append a 0 0 2\r\nde\r\n", b"STORED\r\n");
    c.call(b"prepend a 0 0 2\r\n<<\r\n", b"STORED\r\n");
    c.call(b"append nope 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    c.call(b"prepend nope 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    // append/prepend keep the item's flags; a multi-get answers in key
    // order and skips misses.
    c.call(
        b"get a nope b\r\n",
        b"VALUE a 3 7\r\n<<ABCde\r\nVALUE b 2 2\r\nbb\r\nEND\r\n",
    );
    // 32-bit flags and binary data round-trip.
    c.call(b"set bin 4294967295 0 4\r\n\0\r\n\xff\r\n", b"STORED\r\n");
    c.call(
        b"get bin\r\n",
        b"VALUE bin 4294967295 4\r\n\0\r\n\xff\r\nEND\r\n",
    );
    c.call(b"delete a\r\n", b"DELETED\r\n");
    c.call(b"delete a\r\n", b"NOT_FOUND\r\n");
    c.call(b"get a\r\n", b"END\r\n");
    c.call(b"touch b 100\r\n", b"TOUCHED\r\n");
    c.call(b"touch a 100\r\n", b"NOT_FOUND\r\n");
    c.call(b"verbosity 1\r\n", b"OK\r\n");
    c.send(b"version\r\n");
    let v = c.line();
    assert!(v.starts_with("VERSION 1.6"), "{v:?}");
}

#[test]
fn gets_cas_and_conflicts() {
    let server = Server::start(&[]);
    let mut a = server.connect();
    let mut b = server.connect();
    a.set("k", b"one");
    a.set("j", b"x");
    let ka = a.cas_unique("k");
    let kj = a.cas_unique("j");
    assert_ne!(ka, kj);
    // gets with several keys gives each its unique.
    a.call(
        b"gets k j\r\n",
        format!("VALUE k 0 3 {ka}\r\none\r\nVALUE j 0 1 {kj}\r\nx\r\nEND\r\n").as_bytes(),
    );
    // Both clients read the same unique; the first cas wins, the second
    // finds the item changed.
    assert_eq!(b.cas_unique("k"), ka);
    a.call(
        format!("cas k 0 0 3 {ka}\r\ntwo\r\n").as_bytes(),
        b"STORED\r\n",
    );
    b.call(
        format!("cas k 0 0 5 {ka}\r\nthree\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    assert_eq!(b.get("k").as_deref(), Some(&b"two"[..]));
    let fresh = b.cas_unique("k");
    assert_ne!(fresh, ka, "a cas must renew the unique");
    b.call(
        format!("cas k 0 0 5 {fresh}\r\nthree\r\n").as_bytes(),
        b"STORED\r\n",
    );
    a.call(b"cas nope 0 0 1 1\r\nx\r\n", b"NOT_FOUND\r\n");
    // A set renews the unique too.
    let before = a.cas_unique("j");
    a.set("j", b"y");
    a.call(
        format!("cas j 0 0 1 {before}\r\nz\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    let stats = a.stats();
    assert_eq!(stats["cas_hits"], 2);
    assert_eq!(stats["cas_badval"], 2);
    assert_eq!(stats["cas_misses"], 1);
}

#[test]
fn incr_decr() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.set("n", b"10");
    c.call(b"incr n 5\r\n", b"15\r\n");
    c.call(b"decr n 3\r\n", b"12\r\n");
    c.call(b"decr n 100\r\n", b"0\r\n");
    c.call(
        b"incr n 18446744073709551615\r\n",
        b"18446744073709551615\r\n",
    );
    c.call(b"incr n 1\r\n", b"0\r\n");
    c.call(b"incr nope 1\r\n", b"NOT_FOUND\r\n");
    c.call(b"decr nope 1\r\n", b"NOT_FOUND\r\n");
    c.set("s", b"abc");
    c.call(
        b"incr s 1\r\n",
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    );
    c.call(
        b"incr n x\r\n",
        b"CLIENT_ERROR invalid numeric delta argument\r\n",
    );
    let stats = c.stats();
    assert_eq!(stats["incr_hits"], 3);
    assert_eq!(stats["decr_hits"], 2);
    assert_eq!(stats["incr_misses"], 1);
    assert_eq!(stats["decr_misses"], 1);
}

#[test]
fn noreply_is_silent_but_executed() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.send(
        b"set a 0 0 1 noreply\r\nx\r\n\
          add a 0 0 1 noreply\r\ny\r\n\
          append a 0 0 1 noreply\r\nz\r\n\
          prepend a 0 0 1 noreply\r\nw\r\n\
          replace nope 0 0 1 noreply\r\nq\r\n\
          cas a 0 0 1 999999 noreply\r\nq\r\n\
          set n 0 0 1 noreply\r\n5\r\n\
          incr n 3 noreply\r\n\
          decr n 1 noreply\r\n\
          set d 0 0 1 noreply\r\nd\r\n\
          delete d noreply\r\n\
          delete nope noreply\r\n\
          touch a 1000 noreply\r\n\
          verbosity 1 noreply\r\n\
          get a n d\r\n",
    );
    c.expect(b"VALUE a 0 3\r\nwxz\r\nVALUE n 0 1\r\n7\r\nEND\r\n");
    c.call(b"flush_all noreply\r\nget a\r\n", b"END\r\n");
}

#[test]
fn expiry_touch_and_gat() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let start = Instant::now();
    c.set("e", b"expires"); // replaced at once, with exptime 2:
    c.set_exp("e", 2, b"expires");
    c.set("t", b"touched");
    c.call(b"touch t 2\r\n", b"TOUCHED\r\n");
    c.set("g", b"gat");
    c.call(b"gat 2 g nope\r\n", b"VALUE g 0 3\r\ngat\r\nEND\r\n");
    c.set("s", b"gats");
    let unique = c.cas_unique("s");
    c.call(
        b"gats 2 s\r\n",
        format!("VALUE s 0 4 {unique}\r\ngats\r\nEND\r\n").as_bytes(),
    );
    // All four got their 2 s lifetime by now.
    let stored = Instant::now();
    c.set("forever", b"stays");
    c.set_exp("past", -1, b"gone");
    assert_eq!(c.get("past"), None, "a negative exptime expires at once");

    // Poll until all four have expired; each must last more than 1 s (the
    // whole-second clock) and be gone within 2 s plus a margin (which also
    // ends the loop if one never expires).
    let mut alive = vec!["e", "t", "g", "s"];
    while !alive.is_empty() {
        thread::sleep(Duration::from_millis(50));
        let mut still = Vec::new();
        for key in alive {
            let sent = stored.elapsed();
            let found = c.get(key);
            let answered = start.elapsed();
            match found {
                Some(_) => {
                    assert!(
                        sent < Duration::from_secs(2) + SLACK,
                        "{key} still there {sent:?} after its 2 s lifetime began"
                    );
                    still.push(key);
                }
                None => assert!(
                    answered > Duration::from_secs(1),
                    "{key} expired within {answered:?}"
                ),
            }
        }
        alive = still;
    }
    assert_eq!(c.get("forever").as_deref(), Some(&b"stays"[..]));
    // A touch of an expired item does not bring it back.
    c.call(b"touch e 100\r\n", b"NOT_FOUND\r\n");
    let stats = c.stats();
    assert_eq!(stats["touch_hits"], 1 + 1 + 1, "touch, gat and gats hits");
    assert!(stats["cmd_touch"] >= 4);
}

#[test]
fn flush_all_now_and_delayed() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.set("a", b"1");
    c.call(b"flush_all\r\n", b"OK\r\n");
    assert_eq!(c.get("a"), None);
    c.set("b", b"2");
    let start = Instant::now();
    // As memcached: what was stored up to the second before the time named
    // goes, so from the second tick on (at least one second away).
    c.call(b"flush_all 3\r\n", b"OK\r\n");
    let asked = Instant::now();
    // The first look comes at once: a flush that is not delayed fails it
    // (unless the machine stalls for a second, and then it proves nothing).
    loop {
        let sent = asked.elapsed();
        let found = c.get("b");
        let answered = start.elapsed();
        if found.is_none() {
            assert!(
                answered > Duration::from_secs(1),
                "flushed within {answered:?}"
            );
            break;
        }
        assert!(
            sent < Duration::from_secs(3) + SLACK,
            "not flushed {sent:?} after flush_all 3"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // Items stored after the flush took effect stay.
    c.set("c", b"3");
    assert_eq!(c.get("c").as_deref(), Some(&b"3"[..]));
    assert_eq!(c.stats()["cmd_flush"], 2);
}

#[test]
fn stats_counters_and_connections() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let s = c.stats();
    assert_eq!(s["curr_connections"], 1, "this one");
    assert_eq!(s["total_connections"], 1, "this one");
    assert_eq!(s["max_connections"], 1024);
    let mut d = server.connect();
    d.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    let s = c.stats();
    assert_eq!(s["curr_connections"], 2);
    assert_eq!(s["total_connections"], 2);
    for name in [
        "cmd_get",
        "get_hits",
        "get_misses",
        "curr_items",
        "evictions",
    ] {
        assert_eq!(s[name], 0, "{name}");
    }
    c.set("a", b"x");
    c.set("b", b"y");
    c.call(
        b"get a b c\r\n",
        b"VALUE a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\nEND\r\n",
    );
    c.call(b"get c\r\n", b"END\r\n");
    c.call(b"delete b\r\n", b"DELETED\r\n");
    let s = c.stats();
    assert_eq!(s["cmd_get"], 4);
    assert_eq!(s["get_hits"], 2);
    assert_eq!(s["get_misses"], 2);
    assert_eq!(s["cmd_set"], 2);
    assert_eq!(s["curr_items"], 1);
    assert_eq!(s["total_items"], 2);
    assert_eq!(s["delete_hits"], 1);
    assert_eq!(s["evictions"], 0);
    assert!(s["bytes_read"] > 0 && s["bytes_written"] > 0);
    drop(d);
    c.wait_stat("curr_connections", 1);
    c.call(b"stats reset\r\n", b"RESET\r\n");
    let s = c.stats();
    assert_eq!(s["cmd_get"], 0);
    assert_eq!(s["curr_items"], 1, "reset keeps the items");
}

#[test]
fn quit_closes_after_earlier_replies() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.send(b"version\r\nquit\r\nversion\r\n");
    assert!(c.closed_after(b"VERSION 1.6.18-evloop\r\n"));
    // Half-closing the sending side still gets every reply, then EOF.
    let mut c = server.connect();
    c.send(b"set k 0 0 1\r\nv\r\nget k\r\n");
    c.w.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(c.closed_after(b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n"));
}

#[test]
fn eviction_under_a_small_memory_limit() {
    let server = Server::start(&["-m", "1", "-I", "512k"]);
    let mut c = server.connect();
    let value = vec![b'v'; 20_000];
    for i in 0..200 {
        c.set(&format!("key{i}"), &value);
    }
    let s = c.stats();
    assert_eq!(s["limit_maxbytes"], 1 << 20);
    assert!(s["bytes"] <= 1 << 20, "{} bytes held", s["bytes"]);
    assert!(s["evictions"] > 0, "nothing evicted");
    assert_eq!(s["curr_items"] + s["evictions"], 200);
    assert!(s["curr_items"] >= 40, "only {} items kept", s["curr_items"]);
    // The least recently used went first.
    assert_eq!(c.get("key0"), None);
    assert_eq!(c.get("key199").as_deref(), Some(&value[..]));
    // An item above -I is refused, and the connection goes on.
    let mut req = b"set big 0 0 600000\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'b', 600_000));
    req.extend_from_slice(b"\r\nversion\r\n");
    c.send(&req);
    c.expect(b"SERVER_ERROR object too large for cache\r\nVERSION 1.6.18-evloop\r\n");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    let mut req = Vec::new();
    let mut want = Vec::new();
    req.extend_from_slice(b"set counter 0 0 1\r\n0\r\n");
    want.extend_from_slice(b"STORED\r\n");
    for i in 0..300 {
        let v = format!("value-{i}");
        req.extend_from_slice(format!("set p{i} {i} 0 {}\r\n{v}\r\n", v.len()).as_bytes());
        want.extend_from_slice(b"STORED\r\n");
        req.extend_from_slice(format!("get p{i} p{}\r\n", i + 1).as_bytes());
        want.extend_from_slice(format!("VALUE p{i} {i} {}\r\n{v}\r\nEND\r\n", v.len()).as_bytes());
        req.extend_from_slice(b"incr counter 1\r\n");
        want.extend_from_slice(format!("{}\r\n", i + 1).as_bytes());
        if i % 3 == 0 {
            req.extend_from_slice(format!("delete p{i}\r\n").as_bytes());
            want.extend_from_slice(b"DELETED\r\n");
        }
    }
    // All of it in one write.
    c.send(&req);
    c.expect(&want);
    assert_eq!(c.stats()["cmd_get"], 600);
}

#[test]
fn a_1mib_value_in_small_pieces() {
    let server = Server::start(&["-I", "2m"]);
    let mut c = server.connect();
    let value = pattern(1 << 20, 7);
    c.send(format!("set big 5 0 {}\r\n", value.len()).as_bytes());
    for (i, piece) in value.chunks(1000).enumerate() {
        c.send(piece);
        if i % 64 == 63 {
            // Let the server see this much on its own.
            thread::sleep(Duration::from_millis(1));
        }
    }
    c.call(b"\r\n", b"STORED\r\n");
    assert!(
        c.get("big") == Some(value.clone()),
        "the 1 MiB value differs"
    );
    // And as one piece, pipelined with a get.
    let mut req = format!("set big2 0 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\nget nope\r\n");
    c.send(&req);
    c.expect(b"STORED\r\nEND\r\n");
    assert!(
        c.get("big2") == Some(value),
        "the second 1 MiB value differs"
    );
}

#[test]
fn bad_input() {
    let server = Server::start(&[]);
    let mut c = server.connect();
    c.call(b"bogus\r\n", b"ERROR\r\n");
    c.call(b"\r\n", b"ERROR\r\n");
    // A malformed storage command: as memcached, its data block is read
    // as the next command.
    c.set("d", b"kept");
    c.call(
        b"set k abc 0 8\r\ndelete d\r\nget d k\r\n",
        b"CLIENT_ERROR bad command line format\r\nDELETED\r\nEND\r\n",
    );
    c.set("d", b"kept");
    // A data block longer than announced: bad data chunk, nothing stored;
    // the rest of the line is read as the next request.
    c.call(
        b"set k 0 0 3\r\nabcde\r\nget k\r\n",
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n",
    );
    let long_key = "k".repeat(251);
    c.send(format!("get {long_key}\r\n").as_bytes());
    let l = c.line();
    assert!(l.starts_with("CLIENT_ERROR"), "{l:?}");
    c.call(b"incr\r\n", b"ERROR\r\n");
    // Garbage, with and without line ends, does not hurt the server.
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut g = server.connect();
    g.send(&garbage);
    drop(g);
    // A line over 2048 bytes without a newline: closed without a reply,
    // as memcached closes it.
    let mut l = server.connect();
    l.send(&[b'x'; 3000]);
    assert!(l.closed_after(b""));
    // The first connection and the server are fine.
    c.call(b"get d\r\n", b"VALUE d 0 4\r\nkept\r\nEND\r\n");
    let mut fresh = server.connect();
    fresh.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
}

/// A client that sends 50,000 gets of a 10 KB value without reading the
/// replies must not make the server buffer 500 MB: once its replies back
/// up, the server stops executing and reading its requests.
#[test]
fn unread_replies_hold_the_client_back() {
    const GETS: usize = 50_000;
    const KEYS: usize = 10;
    let server = Server::start(&[]);
    let mut c = server.connect();
    let values: Vec<Vec<u8>> = (0..KEYS).map(|k| pattern(10_000, k as u8)).collect();
    for (k, v) in values.iter().enumerate() {
        c.set(&format!("key{k}"), v);
    }
    let mut watcher = server.connect();
    let base_rss = server.status_bytes("VmRSS");

    let mut req = Vec::new();
    for i in 0..GETS {
        req.extend_from_slice(format!("get key{}\r\n", i % KEYS).as_bytes());
    }
    let mut w = c.w.try_clone().unwrap();
    let writer = thread::spawn(move || w.write_all(&req));

    // Wait until the server stops making progress: the socket buffers and
    // its output limit are full.
    let mut last = u64::MAX;
    let mut steady = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while steady < 5 {
        thread::sleep(Duration::from_millis(40));
        let now = watcher.stats()["cmd_get"];
        steady = if now == last { steady + 1 } else { 0 };
        last = now;
        assert!(Instant::now() < deadline, "cmd_get keeps moving: {now}");
    }
    let rss = server.status_bytes("VmRSS");
    assert!(
        last < GETS as u64 / 2,
        "the server ran {last} of {GETS} gets for a client that reads nothing"
    );
    assert!(
        rss < base_rss + (64 << 20),
        "RSS grew from {base_rss} to {rss} bytes"
    );

    // Now read everything: every reply, in order.
    for i in 0..GETS {
        let k = i % KEYS;
        c.expect(format!("VALUE key{k} 0 10000\r\n").as_bytes());
        c.expect(&values[k]);
        c.expect(b"\r\nEND\r\n");
    }
    writer.join().unwrap().expect("send the gets");
    let hwm = server.status_bytes("VmHWM");
    assert!(
        hwm < base_rss + (64 << 20),
        "peak RSS {hwm} bytes, from {base_rss}"
    );
    let s = watcher.stats();
    assert_eq!(s["cmd_get"], GETS as u64);
    assert_eq!(s["get_hits"], GETS as u64);
    c.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
}

/// A client that sends 64 MiB of requests without reading: once its
/// replies back up, the server stops reading from it too, so the requests
/// wait in the kernel's buffers (which hold well under 64 MiB: at most
/// `tcp_rmem` + `tcp_wmem`, 36 MiB here) and then block the client, instead
/// of piling up in the server.
#[test]
fn a_client_that_does_not_read_is_not_read_from() {
    const BLOCKS: usize = 64;
    const PER_BLOCK: usize = 4096;
    let server = Server::start(&[]);
    let mut c = server.connect();
    // Long keys make requests large and cheap: 256 bytes per get.
    let key = "k".repeat(250);
    c.set(&key, b"v");
    let mut watcher = server.connect();
    let base_rss = server.status_bytes("VmRSS");
    let block = format!("get {key}\r\n").repeat(PER_BLOCK);
    assert_eq!(block.len() * BLOCKS, 64 << 20);
    let mut w = c.w.try_clone().unwrap();
    let writer = thread::spawn(move || {
        for _ in 0..BLOCKS {
            w.write_all(block.as_bytes())?;
        }
        Ok::<(), std::io::Error>(())
    });
    let mut last = u64::MAX;
    let mut steady = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while steady < 5 {
        thread::sleep(Duration::from_millis(40));
        let now = watcher.stats()["cmd_get"];
        steady = if now == last { steady + 1 } else { 0 };
        last = now;
        assert!(Instant::now() < deadline, "cmd_get keeps moving: {now}");
    }
    assert!(
        !writer.is_finished(),
        "all 64 MiB of requests were taken from a client that reads nothing"
    );
    let rss = server.status_bytes("VmRSS");
    assert!(
        rss < base_rss + (32 << 20),
        "RSS grew from {base_rss} to {rss} bytes"
    );
    let reply = format!("VALUE {key} 0 1\r\nv\r\nEND\r\n").repeat(PER_BLOCK);
    for _ in 0..BLOCKS {
        c.expect(reply.as_bytes());
    }
    writer.join().unwrap().expect("send the gets");
    assert_eq!(watcher.stats()["cmd_get"], (BLOCKS * PER_BLOCK) as u64);
}

#[test]
fn connection_limit() {
    let server = Server::start(&["-c", "3"]);
    let mut a = server.connect();
    assert_eq!(a.stats()["curr_connections"], 1);
    let mut b = server.connect();
    b.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    let mut c = server.connect();
    c.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    // The fourth is told, as memcached does, and closed.
    let mut d = server.connect();
    assert!(d.closed_after(b"ERROR Too many open connections\r\n"));
    let s = a.stats();
    assert_eq!(s["curr_connections"], 3);
    assert_eq!(s["rejected_connections"], 1);
    // A slot frees up when a client leaves.
    drop(b);
    a.wait_stat("curr_connections", 2);
    let mut e = server.connect();
    e.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    c.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
}

#[test]
fn sigterm_and_sigint_exit_cleanly() {
    // SIGUSR1 is memcached's graceful stop; SIGHUP does not stop it.
    let mut server = Server::start(&[]);
    let mut c = server.connect();
    server.signal(SIGHUP);
    c.call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    let (status, _) = server.signal_and_wait(SIGUSR1, EXIT_LIMIT);
    assert_eq!(status.code(), Some(0), "SIGUSR1: {status:?}");
    for sig in [SIGTERM, SIGINT] {
        let mut server = Server::start(&[]);
        // An open, idle connection and one mid-request do not hold it up.
        let _idle = server.connect();
        let mut busy = server.connect();
        busy.send(b"set k 0 0 10\r\nabc");
        let (status, took) = server.signal_and_wait(sig, EXIT_LIMIT);
        assert_eq!(status.code(), Some(0), "signal {sig}: {status:?}");
        // Waiting for the connections would be waiting for ever; a slow
        // exit here is the scheduler's.
        assert!(took < SLACK, "signal {sig}: exit took {took:?}");
    }
}

/// With `--listen 127.0.0.1:0` the kernel picks the port; the server
/// prints the address it really listens on (which `Server::start` reads),
/// and serves there.
#[test]
fn prints_where_it_listens() {
    let mut server = Server::start(&[]);
    assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
    assert_ne!(server.addr().port(), 0, "the port the kernel chose");
    server
        .connect()
        .call(b"version\r\n", b"VERSION 1.6.18-evloop\r\n");
    let (status, _) = server.signal_and_wait(SIGTERM, EXIT_LIMIT);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn command_line_and_stdio() {
    let out = Command::new(bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in ["--listen", "-m", "-c", "-I", "--stdio", "--help"] {
        assert!(help.contains(opt), "--help does not mention {opt}: {help}");
    }
    for bad in [
        &["--bogus"][..],
        &["-m", "0"],
        &["-c", "x"],
        &["-I", "10"],
        &["--listen", "nowhere"],
    ] {
        let out = Command::new(bin()).args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty(), "{bad:?}: no message");
    }
    // An address in use: a message and a failure status.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(bin())
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));

    let mut child = Command::new(bin())
        .arg("--stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"set k 0 0 2\r\nhi\r\nget k\r\nquit\r\n")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n");
}
