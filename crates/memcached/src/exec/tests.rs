//! Requests in, reply bytes out, through [`Session::process`] as a server
//! would drive it.

use bytes::Bytes;
use proptest::prelude::*;

use super::transcripts::TRANSCRIPTS;
use super::*;
use crate::clock::Clock;

/// Unix time the test clock starts at.
const T0: i64 = 1_700_000_000;

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
            store: Store::new(memory, item_max, Clock::starting_at(T0)),
            stats: Stats::new(1024),
            session: Session::new(item_max),
        }
    }

    /// Processes `input` as one read; returns the replies and the progress.
    fn feed(&mut self, input: &[u8]) -> (Vec<u8>, Progress) {
        let mut out = Vec::new();
        let p = self
            .session
            .process(input, &mut self.store, &mut self.stats, &mut out);
        (out, p)
    }

    /// Sends complete requests and checks the replies are `want`.
    #[track_caller]
    fn expect(&mut self, input: &[u8], want: &str) {
        assert_eq!(self.send(input), want);
    }

    /// Processes complete requests; returns the replies as text.
    fn send(&mut self, input: &[u8]) -> String {
        let (out, p) = self.feed(input);
        assert_eq!(
            p.consumed,
            input.len(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        String::from_utf8(out).unwrap()
    }
}

#[test]
fn matches_memcached_transcripts() {
    for (input, want) in TRANSCRIPTS {
        let mut s = Server::new();
        let (out, p) = s.feed(input);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(want),
            "for {:?}",
            String::from_utf8_lossy(input)
        );
        // a transcript either is consumed whole or ends with quit
        assert!(p.consumed == input.len() || p.close);
    }
}

#[test]
fn storage_commands() {
    let mut s = Server::new();
    s.expect(b"set k 42 0 5\r\nhello\r\n", "STORED\r\n");
    s.expect(b"get k\r\n", "VALUE k 42 5\r\nhello\r\nEND\r\n");
    s.expect(b"add k 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    s.expect(b"add k2 0 0 3\r\ntwo\r\n", "STORED\r\n");
    s.expect(b"replace k3 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    s.expect(b"replace k2 1 0 3\r\nTWO\r\n", "STORED\r\n");
    s.expect(b"append k 0 0 4\r\n-app\r\n", "STORED\r\n");
    s.expect(b"prepend k 0 0 4\r\npre-\r\n", "STORED\r\n");
    s.expect(b"append nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    s.expect(b"prepend nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    s.expect(
        b"get k k2 nope\r\n",
        "VALUE k 42 13\r\npre-hello-app\r\nVALUE k2 1 3\r\nTWO\r\nEND\r\n",
    );
    // binary-safe values, flags up to 2^32-1, empty values
    s.expect(b"set b 4294967295 0 9\r\na\r\nEND\r\nb\r\n", "STORED\r\n");
    s.expect(
        b"get b\r\n",
        "VALUE b 4294967295 9\r\na\r\nEND\r\nb\r\nEND\r\n",
    );
    s.expect(
        b"set e 0 0 0\r\n\r\nget e\r\n",
        "STORED\r\nVALUE e 0 0\r\n\r\nEND\r\n",
    );
}

#[test]
fn gets_and_cas() {
    let mut s = Server::new();
    s.send(b"set k 0 0 1\r\na\r\n");
    let reply = s.send(b"gets k\r\n");
    let cas: u64 = reply.split_whitespace().nth(4).unwrap().parse().unwrap();
    s.expect(
        format!("cas k 0 0 1 {cas}\r\nb\r\n").as_bytes(),
        "STORED\r\n",
    );
    s.expect(
        format!("cas k 0 0 1 {cas}\r\nc\r\n").as_bytes(),
        "EXISTS\r\n",
    );
    s.expect(b"cas nope 0 0 1 1\r\nc\r\n", "NOT_FOUND\r\n");
    let after: u64 = s
        .send(b"gets k\r\n")
        .split_whitespace()
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(cas, after);
    s.expect(b"get k\r\n", "VALUE k 0 1\r\nb\r\nEND\r\n");
    assert_eq!(
        (s.stats.cas_hits, s.stats.cas_badval, s.stats.cas_misses),
        (1, 1, 1)
    );
}

#[test]
fn noreply_everywhere() {
    let mut s = Server::new();
    let quiet =
        b"set a 0 0 1 noreply\r\n1\r\nadd b 0 0 1 noreply\r\n2\r\nreplace a 0 0 1 noreply\r\n3\r\n\
append a 0 0 1 noreply\r\n4\r\nprepend a 0 0 1 noreply\r\n5\r\ncas a 0 0 1 999 noreply\r\n6\r\n\
incr b 5 noreply\r\ndecr b 1 noreply\r\ntouch a 100 noreply\r\ndelete nope noreply\r\n\
flush_all 1000 noreply\r\nverbosity 1 noreply\r\nset c 0 0 1 noreply\r\nxy\r\nincr a x noreply\r\n";
    assert_eq!(
        s.send(quiet),
        "ERROR\r\n",
        "only the bad chunk's leftover line answers"
    );
    s.expect(
        b"get a b\r\n",
        "VALUE a 0 3\r\n534\r\nVALUE b 0 1\r\n6\r\nEND\r\n",
    );
}

#[test]
fn delete_touch_gat() {
    let mut s = Server::new();
    s.send(b"set k 3 0 1\r\nv\r\n");
    s.expect(b"touch k 10\r\n", "TOUCHED\r\n");
    s.expect(b"touch nope 10\r\n", "NOT_FOUND\r\n");
    s.expect(b"gat 100 k nope\r\n", "VALUE k 3 1\r\nv\r\nEND\r\n");
    s.store.advance(99);
    assert!(s.send(b"gats 5 k\r\n").starts_with("VALUE k 3 1 "));
    s.store.advance(5);
    assert_eq!(s.send(b"get k\r\n"), "END\r\n", "gats set a 5 s expiry");
    s.send(b"set k 0 0 1\r\nv\r\n");
    s.expect(b"delete k\r\n", "DELETED\r\n");
    s.expect(b"delete k\r\n", "NOT_FOUND\r\n");
    s.expect(b"get k\r\n", "END\r\n");
    assert_eq!((s.stats.delete_hits, s.stats.delete_misses), (1, 1));
    assert_eq!(
        (s.stats.touch_hits, s.stats.touch_misses, s.stats.cmd_touch),
        (3, 2, 5)
    );
}

#[test]
fn incr_decr() {
    let mut s = Server::new();
    s.send(b"set n 5 0 2\r\n10\r\n");
    s.expect(b"incr n 5\r\n", "15\r\n");
    s.expect(b"decr n 3\r\n", "12\r\n");
    s.expect(b"decr n 100\r\n", "0\r\n");
    assert_eq!(
        s.send(b"get n\r\n"),
        "VALUE n 5 2\r\n0 \r\nEND\r\n",
        "padded with a space to the old length as memcached does, flags kept"
    );
    s.expect(b"incr n 100\r\n", "100\r\n");
    assert_eq!(
        s.send(b"get n\r\n"),
        "VALUE n 5 3\r\n100\r\nEND\r\n",
        "a longer number grows the value"
    );
    s.send(b"set w 0 0 20\r\n18446744073709551615\r\n");
    s.expect(b"incr w 1\r\n", "0\r\n");
    s.expect(b"incr nope 1\r\n", "NOT_FOUND\r\n");
    s.send(b"set t 0 0 3\r\nabc\r\n");
    s.expect(
        b"incr t 1\r\n",
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    );
    s.expect(
        b"incr n abc\r\n",
        "CLIENT_ERROR invalid numeric delta argument\r\n",
    );
    s.send(b"set n 0 0 1\r\n9\r\n");
    s.expect(
        b"incr n 1\r\nget n\r\n",
        "10\r\nVALUE n 0 2\r\n10\r\nEND\r\n",
    );
}

#[test]
fn expiry_through_commands() {
    let mut s = Server::new();
    let abs = T0 + 3600;
    s.send(format!("set abs 0 {abs} 1\r\na\r\n").as_bytes());
    s.send(b"set rel 0 2 1\r\nr\r\nset neg 0 -1 1\r\nn\r\nset old 0 2592001 1\r\no\r\n");
    s.expect(b"get neg old\r\n", "END\r\n");
    s.expect(b"get rel\r\n", "VALUE rel 0 1\r\nr\r\nEND\r\n");
    s.store.advance(2);
    s.expect(b"get rel\r\n", "END\r\n");
    s.expect(b"mg abs t\r\n", "HD t3598\r\n");
    s.store.advance(3598);
    s.expect(b"get abs\r\n", "END\r\n");
}

#[test]
fn flush_all_with_delay() {
    let mut s = Server::new();
    s.send(b"set a 0 0 1\r\n1\r\n");
    // memcached flushes what was stored up to the second before the time
    // named: 9 seconds on.
    s.expect(b"flush_all 10\r\n", "OK\r\n");
    s.store.advance(8);
    s.expect(b"get a\r\n", "VALUE a 0 1\r\n1\r\nEND\r\n");
    s.store.advance(1);
    s.expect(b"get a\r\n", "END\r\n");
    s.send(b"set a 0 0 1\r\n2\r\n");
    s.expect(b"get a\r\n", "VALUE a 0 1\r\n2\r\nEND\r\n");
    s.expect(b"flush_all\r\nget a\r\n", "OK\r\nEND\r\n");
    assert_eq!(s.stats.cmd_flush, 2);
}

#[test]
fn eviction_with_a_small_memory_limit() {
    let mut s = Server::with_limits(200 * 1024, 64 * 1024);
    let value = vec![b'v'; 1000];
    for i in 0..500 {
        let mut req = format!("set key{i} 0 0 1000\r\n").into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        s.expect(&req, "STORED\r\n");
        if i == 100 {
            // keep key0 recently used
            assert!(s.send(b"get key0\r\n").starts_with("VALUE"));
        }
    }
    assert!(s.store.bytes() <= 200 * 1024);
    let evictions = s.store.counters().evictions;
    assert!(evictions > 250, "{evictions}");
    assert_eq!(
        s.send(b"get key1\r\n"),
        "END\r\n",
        "least recently used: gone"
    );
    assert!(s.send(b"get key499\r\n").starts_with("VALUE"));
    let stats = s.send(b"stats\r\n");
    assert!(stats.contains(&format!("STAT evictions {evictions}\r\n")));
    assert!(stats.contains(&format!("STAT limit_maxbytes {}\r\n", 200 * 1024)));
}

#[test]
fn stats_general_counters() {
    let mut s = Server::new();
    s.stats.curr_connections = 3;
    s.stats.total_connections = 7;
    s.send(b"set a 0 0 1\r\n1\r\nset b 0 0 2\r\n22\r\nget a b c\r\nget d\r\n");
    s.store.advance(5);
    let out = s.send(b"stats\r\n");
    assert!(out.ends_with("END\r\n"));
    let stat = |name: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("STAT {name} ")))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_string()
    };
    assert_eq!(stat("pid"), std::process::id().to_string());
    assert_eq!(stat("uptime"), "5");
    assert_eq!(stat("time"), (T0 + 5).to_string());
    assert_eq!(stat("version"), crate::stats::VERSION);
    assert_eq!(stat("curr_connections"), "3");
    assert_eq!(stat("total_connections"), "7");
    assert_eq!(stat("max_connections"), "1024");
    assert_eq!(stat("cmd_get"), "4");
    assert_eq!(stat("cmd_set"), "2");
    assert_eq!(stat("get_hits"), "2");
    assert_eq!(stat("get_misses"), "2");
    assert_eq!(stat("curr_items"), "2");
    assert_eq!(stat("total_items"), "2");
    assert_eq!(stat("bytes"), (59 * 2 + 2 + 3).to_string());
    assert_eq!(stat("evictions"), "0");
    assert_eq!(stat("limit_maxbytes"), (64 << 20).to_string());
    for name in [
        "rusage_user",
        "rusage_system",
        "threads",
        "cmd_flush",
        "cmd_touch",
        "reclaimed",
    ] {
        stat(name);
    }
    s.expect(b"stats reset\r\n", "RESET\r\n");
    assert!(s.send(b"stats\r\n").contains("STAT cmd_get 0\r\n"));
    let settings = s.send(b"stats settings\r\n");
    assert!(settings.contains("STAT item_size_max 1048576\r\n") && settings.ends_with("END\r\n"));
    assert!(s
        .send(b"stats items\r\n")
        .contains("STAT items:1:number 2\r\n"));
    assert_eq!(
        s.send(b"version\r\n"),
        format!("VERSION {}\r\n", crate::stats::VERSION)
    );
}

#[test]
fn pipelined_batch_answered_in_order_in_one_output() {
    let mut s = Server::new();
    let mut batch = Vec::new();
    let mut want = String::new();
    for i in 0..16 {
        batch.extend_from_slice(format!("set k{i} {i} 0 3\r\nv{i:02}\r\nget k{i}\r\n").as_bytes());
        want.push_str(&format!("STORED\r\nVALUE k{i} {i} 3\r\nv{i:02}\r\nEND\r\n"));
    }
    batch.extend_from_slice(b"mn\r\n");
    want.push_str("MN\r\n");
    assert_eq!(s.send(&batch), want);
}

#[test]
fn megabyte_value_in_small_reads() {
    let mut s = Server::new();
    let len = 1_048_000;
    let mut input = format!("set big 7 0 {len}\r\n").into_bytes();
    input.extend((0..len).map(|i| (i * 7 % 256) as u8));
    input.extend_from_slice(b"\r\nget big\r\n");
    // the connection's buffer: bytes arrive 1,500 at a time
    let mut buffered: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in input.chunks(1500) {
        buffered.extend_from_slice(piece);
        if buffered.len() < s.session.wanted() {
            continue;
        }
        let (o, p) = s.feed(&buffered);
        out.extend_from_slice(&o);
        buffered.drain(..p.consumed);
    }
    assert!(buffered.is_empty());
    let header = format!("STORED\r\nVALUE big 7 {len}\r\n");
    assert_eq!(&out[..header.len()], header.as_bytes());
    let start = format!("set big 7 0 {len}\r\n").len();
    assert!(out[header.len()..header.len() + len] == input[start..start + len]);
    assert!(out.ends_with(b"\r\nEND\r\n"));
}

#[test]
fn malformed_storage_data_is_read_as_commands() {
    let mut s = Server::new();
    s.send(b"set keep 0 0 1\r\nk\r\n");
    // As memcached: a storage line refused for its syntax leaves its data
    // block to be read as the next command lines.
    s.expect(
        b"set a bad 0 11\r\nversion\r\n\r\nset a 0 0 11 1 2\r\nget keep\r\n\r\n",
        "CLIENT_ERROR bad command line format\r\nVERSION 1.6.18-evloop\r\nERROR\r\n\
         ERROR\r\nVALUE keep 0 1\r\nk\r\nEND\r\nERROR\r\n",
    );
    // cas with a missing field (memcached's t/cas.t): ERROR, then ERROR
    // again for the data line.
    s.expect(b"cas foo 0 0 6 \r\nbarva2\r\n", "ERROR\r\nERROR\r\n");
    // noreply silences the refusal, not the data line's own reply.
    s.expect(b"set a 0 x 1 noreply\r\nx\r\n", "ERROR\r\n");
    // A value refused for its size is skipped, as memcached skips it.
    s.expect(b"get keep\r\n", "VALUE keep 0 1\r\nk\r\nEND\r\n");
    s.expect(b"bogus\r\n", "ERROR\r\n");
    s.expect(
        b"set a 0 0 1\r\nxy\r\n",
        "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
    );
}

#[test]
fn too_large_value_refused_and_swallowed() {
    let mut s = Server::with_limits(64 << 20, 1024);
    s.send(b"set k 0 0 1\r\nx\r\n");
    let (out, p) = s.feed(b"set k 0 0 5000\r\nxxxx");
    assert_eq!(out, b"SERVER_ERROR object too large for cache\r\n");
    assert_eq!(p.consumed, 20);
    let mut rest = vec![b'x'; 4996];
    rest.extend_from_slice(b"\r\nget k\r\n");
    assert_eq!(
        s.send(&rest),
        "END\r\n",
        "the old value is gone, the data skipped"
    );
    assert_eq!(s.stats.store_too_large, 1);
}

#[test]
fn line_too_long_closes() {
    let mut s = Server::new();
    let (out, p) = s.feed(&[b'x'; 2049]);
    assert!(out.is_empty(), "memcached closes without a word");
    assert!(p.close);
    let (out, p) = Server::new().feed(&[b'x'; 2048]);
    assert!(out.is_empty() && !p.close && p.consumed == 0);
}

#[test]
fn quit_stops_and_closes() {
    let mut s = Server::new();
    let input = b"set a 0 0 1\r\n1\r\nquit\r\nget a\r\n";
    let (out, p) = s.feed(input);
    assert_eq!(out, b"STORED\r\n");
    assert_eq!(
        p,
        Progress {
            consumed: 22,
            close: true,
            ..Progress::default()
        }
    );
}

#[test]
fn requests_per_turn_stop_a_batch_and_the_next_turn_goes_on() {
    let mut s = Server::new();
    s.session = Session::with_limits(1 << 20, Protocol::Auto, 2);
    let input = b"set a 0 0 1\r\n1\r\nget a\r\nget b\r\nmn\r\n";
    let (out, p) = s.feed(input);
    assert_eq!(out, b"STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n");
    assert_eq!((p.consumed, p.yielded, p.close), (23, true, false));
    let (out, p) = s.feed(&input[23..]);
    assert_eq!(out, b"END\r\nMN\r\n");
    assert_eq!((p.consumed, p.yielded), (input.len() - 23, false));
    // Exactly the turn's worth of requests: no yield, nothing is left.
    let (_, p) = s.feed(b"mn\r\nmn\r\n");
    assert_eq!((p.consumed, p.yielded), (8, false));
}

#[test]
fn a_bound_protocol_ignores_the_first_byte() {
    // -B ascii: 0x80 starts a text line (an unknown command).
    let mut s = Server::new();
    s.session = Session::with_limits(1 << 20, Protocol::Ascii, usize::MAX);
    let (out, _) = s.feed(b"\x80foo\r\nmn\r\n");
    assert_eq!(out, b"ERROR\r\nMN\r\n");
    // -B binary: text waits for a whole binary header, then is a bad
    // magic byte, and the connection closes.
    let mut s = Server::new();
    s.session = Session::with_limits(1 << 20, Protocol::Binary, usize::MAX);
    let (out, p) = s.feed(b"version\r\n");
    assert!(out.is_empty() && !p.close && p.consumed == 0);
    let (out, p) = s.feed(b"version\r\nversion\r\nversion\r\n");
    assert!(out.is_empty());
    assert!(p.close);
}

#[test]
fn meta_commands() {
    let mut s = Server::new();
    s.expect(b"ms k 2 F9 T60 c\r\nhi\r\n", "HD c1\r\n");
    s.expect(
        b"mg k v f t c s k O123\r\n",
        "VA 2 f9 t60 c1 s2 kk O123\r\nhi\r\n",
    );
    s.expect(b"mg k T10 t\r\n", "HD t10\r\n");
    s.expect(b"mg nope v\r\nmg nope v q\r\nmn\r\n", "EN\r\nMN\r\n");
    s.expect(b"ms k 1 q\r\nx\r\nms k 1 ME q\r\nx\r\n", "NS\r\n");
    s.expect(
        b"ms k 1 MA\r\ny\r\nms k 1 MP\r\nw\r\nmg k v\r\n",
        "HD\r\nHD\r\nVA 3\r\nwxy\r\n",
    );
    s.expect(b"ms k 1 C999\r\nz\r\n", "EX\r\n");
    s.expect(b"ms new 1 MR\r\nz\r\n", "NS\r\n");
    s.expect(b"ms new 1 C5\r\nz\r\n", "NF\r\n");
    s.expect(b"md k q\r\nmd k\r\nmd k q Oo\r\n", "NF\r\nNF Oo\r\n");
    s.expect(
        b"ma n N0 J41\r\nma n v\r\nma n MD D50 v\r\n",
        "HD\r\nVA 2\r\n42\r\nVA 1\r\n0\r\n",
    );
    s.expect(b"ma none\r\n", "NF\r\n");
    s.expect(
        b"me n\r\n",
        "ME n exp=-1 la=0 cas=7 fetch=no cls=1 size=62\r\n",
    );
    assert_eq!(s.stats.cmd_meta, 22);
}

/// A sink that keeps the value chunks it was handed.
#[derive(Default)]
struct Chunks {
    copied: Vec<u8>,
    shared: Vec<Bytes>,
}

impl ReplySink for Chunks {
    fn put(&mut self, bytes: &[u8]) {
        self.copied.extend_from_slice(bytes);
    }

    fn put_bytes(&mut self, bytes: Bytes) {
        self.shared.push(bytes);
    }
}

#[test]
fn values_are_sent_without_copying() {
    let mut s = Server::new();
    s.send(b"set k 0 0 5\r\nhello\r\n");
    let mut sink = Chunks::default();
    s.session.process(
        b"get k\r\nmg k v\r\n",
        &mut s.store,
        &mut s.stats,
        &mut sink,
    );
    assert_eq!(sink.copied, b"VALUE k 0 5\r\nEND\r\nVA 5\r\n");
    assert_eq!(sink.shared.len(), 2);
    let id = s.store.find(b"k").unwrap();
    let value = s.store.item(id).value_crlf();
    for b in &sink.shared {
        assert_eq!(&b[..], b"hello\r\n");
        assert_eq!(
            b.as_ptr(),
            value.as_ptr(),
            "the reply shares the item's memory"
        );
    }
}

/// A sink that counts as full past a few bytes, as the server's output
/// does past its limit.
struct Small(Vec<u8>);

impl ReplySink for Small {
    fn put(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn put_bytes(&mut self, bytes: Bytes) {
        self.0.extend_from_slice(&bytes);
    }

    fn is_full(&self) -> bool {
        self.0.len() >= 30
    }
}

#[test]
fn a_full_sink_stops_the_batch_between_requests() {
    let mut s = Server::new();
    s.send(b"set k 0 0 2\r\nhi\r\n");
    let input = b"get k\r\nget k\r\nget k\r\n";
    let mut sink = Small(Vec::new());
    let p = s
        .session
        .process(input, &mut s.store, &mut s.stats, &mut sink);
    // The first reply (22 bytes) leaves room, the second fills the sink.
    assert_eq!(p.consumed, 14);
    assert!(!p.close);
    assert_eq!(sink.0, b"VALUE k 0 2\r\nhi\r\nEND\r\n".repeat(2));
    assert_eq!(s.stats.cmd_get, 2);
    // Once drained, the rest goes on from where it stopped.
    let mut sink = Small(Vec::new());
    let p = s
        .session
        .process(&input[14..], &mut s.store, &mut s.stats, &mut sink);
    assert_eq!(p.consumed, 7);
    assert_eq!(sink.0, b"VALUE k 0 2\r\nhi\r\nEND\r\n");
}

#[test]
fn never_panics_on_junk() {
    // a deterministic stream of hostile fragments, cut at odd places
    let pieces: &[&[u8]] = &[
        b"set",
        b" a 0 0 3\r\nab",
        b"c\r\n",
        b"get \xff\x00\r\n",
        b"ms \r\n",
        b"mg k O\r\n",
        b"ma k D99999999999999999999\r\n",
        b"incr\r\n",
        // (memcached cuts 99999999999 to 32 bits: a 1.2 GB value to skip)
        b"set a 0 0 99999999999999999999\r\n",
        b"gat -99999999999999999999 a\r\n",
        b"md k C\r\n",
        b"ms k 0 b\r\n\r\n",
        b"mg a b\r\n",
        b"\n\n\r\r\n",
        b"cas a 0 0 1 -5\r\nx\r\n",
        b"flush_all -99999999999\r\n",
        b"touch a 99999999999999\r\n",
        b"me a b\r\n",
        b"mg k N-5 v\r\n",
        b"ma k N1 J18446744073709551615 v\r\n",
        b"ma k v\r\n",
    ];
    let mut s = Server::new();
    let mut buffered = Vec::new();
    for round in 0..3 {
        for p in pieces {
            for b in p.chunks(round + 1) {
                buffered.extend_from_slice(b);
                let (_, prog) = s.feed(&buffered);
                buffered.drain(..prog.consumed);
                assert!(!prog.close);
            }
        }
    }
    // The 20-digit number wrapped to 0, padded in place.
    assert_eq!(s.send(b"mg k v\r\n"), format!("VA 20\r\n{:<20}\r\n", 0));
}

/// A stream of valid requests of every kind, with data blocks.
const STREAM: &[u8] = b"set a 1 0 3\r\nabc\r\nget a b\r\nappend a 0 0 2\r\n\r\n\r\ngets a\r\n\
incr n 1\r\nset n 0 0 1\r\n5\r\nincr n 10\r\ndecr n 3\r\ntouch a 100\r\ngat 10 a n\r\n\
ms m 4 T0 F3\r\nm\r\nn\r\nmg m v f k\r\nma n v\r\nmd a q\r\nmn\r\ndelete n\r\nversion\r\n\
set big 0 0 300\r\n";

/// [`STREAM`] completed with a 300-byte value and a final get.
fn stream() -> Vec<u8> {
    let mut v = STREAM.to_vec();
    v.extend((0..300).map(|i| b"\r\n xyz"[i % 6]));
    v.extend_from_slice(b"\r\nget big m\r\n");
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// However the bytes are cut into reads, the replies are the same.
    #[test]
    fn replies_do_not_depend_on_read_sizes(cuts in proptest::collection::vec(1usize..40, 1..200)) {
        let input = stream();
        let want = Server::new().send(&input);
        let mut s = Server::new();
        let mut buffered = Vec::new();
        let mut out = Vec::new();
        let mut at = 0;
        let mut cut = cuts.iter().cycle();
        while at < input.len() {
            let end = (at + cut.next().unwrap()).min(input.len());
            buffered.extend_from_slice(&input[at..end]);
            at = end;
            let (o, p) = s.feed(&buffered);
            out.extend_from_slice(&o);
            buffered.drain(..p.consumed);
        }
        prop_assert!(buffered.is_empty());
        prop_assert_eq!(String::from_utf8_lossy(&out), want);
    }

    /// Arbitrary bytes, in arbitrary reads, never panic and never claim
    /// more input than given.
    #[test]
    fn arbitrary_input_never_panics(
        chunks in proptest::collection::vec(proptest::collection::vec(
            prop_oneof![Just(b' '), Just(b'\r'), Just(b'\n'), Just(b'0'), Just(b'-'), any::<u8>(),
                        Just(b'g'), Just(b's'), Just(b'm')], 0..64), 0..32),
        prefix in prop_oneof![Just(&b"set k 0 0 5\r\n"[..]), Just(&b"mg k v N5 "[..]),
                              Just(&b"ms k 3 "[..]), Just(&b"get "[..]), Just(&b"ma k N0 "[..]), Just(&b""[..])],
    ) {
        let mut s = Server::with_limits(1 << 16, 4096);
        let mut buffered = prefix.to_vec();
        for c in chunks {
            buffered.extend_from_slice(&c);
            let (_, p) = s.feed(&buffered);
            prop_assert!(p.consumed <= buffered.len());
            buffered.drain(..p.consumed);
            if p.close {
                break;
            }
        }
    }
}

/// A sink that reports itself full at `.1` bytes, as a stream's output
/// does at its high watermark.
struct Capped(Vec<u8>, usize);

impl ReplySink for Capped {
    fn put(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn put_bytes(&mut self, bytes: Bytes) {
        self.0.extend_from_slice(&bytes);
    }

    fn is_full(&self) -> bool {
        self.0.len() >= self.1
    }
}

/// Requests whose replies come in steps when the output fills: long
/// multi-gets (gets, gat, misses between hits) and a metadump, between
/// ordinary requests.
fn stepped_stream() -> Vec<u8> {
    let mut v = Vec::new();
    for k in 0..20 {
        v.extend_from_slice(
            format!("set key{k} {k} 0 {}\r\n{}\r\n", k + 1, "v".repeat(k + 1)).as_bytes(),
        );
    }
    v.extend_from_slice(b"get");
    for i in 0..200 {
        v.extend_from_slice(format!(" key{} none{i}", i % 23).as_bytes());
    }
    v.extend_from_slice(b"\r\nversion\r\ngets key1 key2   key3\r\ngat 100");
    for i in 0..50 {
        v.extend_from_slice(format!(" key{}", i % 20).as_bytes());
    }
    v.extend_from_slice(b"\r\nlru_crawler metadump all\r\ndelete key5\r\nget key5 key6\r\n");
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// However small the output limit and however the input is cut, a
    /// request answered in steps gives the same bytes as at once, and
    /// the requests after it follow in order.
    #[test]
    fn replies_do_not_depend_on_the_output_limit(
        cap in 1usize..300,
        cuts in proptest::collection::vec(1usize..500, 1..20),
    ) {
        let input = stepped_stream();
        let want = Server::new().send(&input);
        let mut s = Server::new();
        let mut buffered = Vec::new();
        let mut out = Vec::new();
        let mut at = 0;
        let mut cut = cuts.iter().cycle();
        loop {
            // Drain the output and go on until no progress without input.
            loop {
                let mut sink = Capped(Vec::new(), cap);
                let p = s.session.process(&buffered, &mut s.store, &mut s.stats, &mut sink);
                buffered.drain(..p.consumed);
                let progress = p.consumed > 0 || !sink.0.is_empty();
                out.extend_from_slice(&sink.0);
                prop_assert!(!p.close);
                if !progress {
                    break;
                }
            }
            if at == input.len() {
                break;
            }
            let end = (at + cut.next().unwrap()).min(input.len());
            buffered.extend_from_slice(&input[at..end]);
            at = end;
        }
        prop_assert!(buffered.is_empty());
        prop_assert!(!s.session.busy());
        prop_assert_eq!(String::from_utf8_lossy(&out), want);
    }
}

#[test]
fn stats_detail_counts_by_prefix() {
    let mut s = Server::new();
    s.expect(b"stats detail dump\r\n", "END\r\n");
    s.send(b"set early:1 0 0 1\r\nx\r\n");
    s.expect(b"stats detail on\r\n", "OK\r\n");
    s.send(b"set foo:123 0 0 6\r\nfooval\r\nget foo:123 foo:124 nodelim\r\n");
    s.send(b"delete foo:125\r\n");
    assert_eq!(
        s.send(b"stats detail dump\r\n"),
        "PREFIX foo get 2 hit 1 set 1 del 1\r\nEND\r\n",
        "keys without a ':' and requests before 'on' are not counted"
    );
    s.expect(b"stats reset\r\n", "RESET\r\n");
    s.expect(b"stats detail dump\r\n", "END\r\n");
    s.send(b"get foo:123\r\n");
    s.expect(b"stats detail off\r\n", "OK\r\n");
    s.send(b"get foo:123\r\n");
    assert_eq!(
        s.send(b"stats detail dump\r\n"),
        "PREFIX foo get 1 hit 1 set 0 del 0\r\nEND\r\n",
        "still on after the reset, off after 'off'"
    );
    assert!(s
        .send(b"stats settings\r\n")
        .contains("STAT detail_enabled no\r\n"));
}

#[test]
fn metadump_refused_after_unsent_replies() {
    let mut s = Server::new();
    s.send(b"set a 0 0 1\r\nx\r\n");
    // As memcached's t/lru-crawler.t: an mg's reply waits in the batch.
    s.expect(
        b"mg foo v\r\nlru_crawler metadump all\r\n",
        "EN\r\nERROR cannot pipeline other commands before metadump\r\n",
    );
    // A get or mn sends what waits (memcached flushes there).
    let dumped = s.send(b"get a\r\nlru_crawler metadump hash\r\n");
    assert!(
        dumped.starts_with("VALUE a 0 1\r\nx\r\nEND\r\nkey=a exp=-1 ")
            && dumped.ends_with("END\r\n"),
        "{dumped:?}"
    );
    let dumped = s.send(b"mn\r\nlru_crawler metadump all\r\n");
    assert!(dumped.starts_with("MN\r\nkey=a "), "{dumped:?}");
    s.expect(
        b"mn\r\nmn noreply\r\nlru_crawler metadump 2\r\n",
        "MN\r\nMN\r\nEND\r\n",
    );
    // Each batch starts with nothing waiting.
    assert!(s
        .send(b"lru_crawler metadump all\r\n")
        .starts_with("key=a "));
}

#[test]
fn crawler_counts_what_it_checks_and_frees() {
    let mut s = Server::new();
    s.send(b"set gone 0 -1 1\r\nx\r\nset kept 0 0 1\r\ny\r\n");
    s.expect(b"lru_crawler crawl 1\r\n", "OK\r\n");
    let items = s.send(b"stats items\r\n");
    assert!(
        items.contains("STAT items:1:crawler_reclaimed 1\r\n")
            && items.contains("STAT items:1:crawler_items_checked 2\r\n")
            && items.contains("STAT items:1:number 1\r\n"),
        "{items}"
    );
    let general = s.send(b"stats\r\n");
    assert!(
        general.contains("STAT crawler_reclaimed 1\r\n"),
        "{general}"
    );
}

#[test]
fn crawler_disable_and_enable() {
    let mut s = Server::new();
    assert_eq!(
        s.send(b"lru_crawler enable\r\n"),
        "ERROR failed to start lru crawler thread\r\n",
        "it runs from the start"
    );
    s.expect(b"lru_crawler disable\r\n", "OK\r\n");
    s.expect(b"lru_crawler disable\r\n", "OK\r\n");
    assert!(s
        .send(b"stats settings\r\n")
        .contains("STAT lru_crawler no\r\n"));
    s.expect(
        b"lru_crawler crawl 1\r\nlru_crawler metadump all\r\n",
        "CLIENT_ERROR lru crawler disabled\r\nCLIENT_ERROR lru crawler disabled\r\n",
    );
    s.expect(b"lru_crawler enable\r\n", "OK\r\n");
    assert!(s
        .send(b"stats settings\r\n")
        .contains("STAT lru_crawler yes\r\n"));
    s.expect(b"lru_crawler metadump all\r\n", "END\r\n");
}

#[test]
fn flush_all_bad_delay() {
    let mut s = Server::new();
    s.expect(
        b"flush_all abc\r\nflush_all abc noreply\r\n",
        "CLIENT_ERROR invalid exptime argument\r\n",
    );
}

#[test]
fn flush_all_refused_under_dash_f() {
    let mut s = Server::new();
    s.stats.settings.flush_disabled = true;
    s.send(b"set a 0 0 1\r\nx\r\n");
    s.expect(
        b"flush_all\r\nflush_all noreply\r\nflush_all x\r\nget a\r\n",
        "CLIENT_ERROR flush_all not allowed\r\nCLIENT_ERROR flush_all not allowed\r\n\
         VALUE a 0 1\r\nx\r\nEND\r\n",
    );
    assert_eq!(s.stats.cmd_flush, 3, "counted, as memcached counts them");
    assert!(s
        .send(b"stats settings\r\n")
        .contains("STAT flush_enabled no\r\n"));
}

#[test]
fn decr_of_an_item_a_pending_reply_holds_is_not_padded() {
    let mut s = Server::new();
    // memcached rewrites in place (padded) only an item no unsent reply
    // holds: an mg's reply in the same batch holds it, a get's is sent.
    s.expect(
        b"ms n 2\r\n10\r\nmg n\r\ndecr n 1\r\nmg n v\r\n",
        "HD\r\nHD\r\n9\r\nVA 1\r\n9\r\n",
    );
    s.expect(
        b"set n 0 0 2\r\n10\r\nget n\r\ndecr n 1\r\nget n\r\n",
        "STORED\r\nVALUE n 0 2\r\n10\r\nEND\r\n9\r\nVALUE n 0 2\r\n9 \r\nEND\r\n",
    );
    // A new batch starts with nothing held.
    s.send(b"ms n 2\r\n10\r\nmg n\r\n");
    s.expect(b"decr n 1\r\nmg n v\r\n", "9\r\nVA 2\r\n9 \r\n");
}

#[test]
fn append_past_the_item_limit_is_not_stored() {
    let mut s = Server::with_limits(64 << 20, 2048);
    let v = "x".repeat(1500);
    s.send(format!("set a 0 0 1500\r\n{v}\r\n").as_bytes());
    let more = "y".repeat(1000);
    s.expect(
        format!("append a 0 0 1000\r\n{more}\r\nprepend a 0 0 1000\r\n{more}\r\n").as_bytes(),
        "NOT_STORED\r\nNOT_STORED\r\n",
    );
    s.expect(
        format!("ms a 1000 MA\r\n{more}\r\nmg a s\r\n").as_bytes(),
        "NS\r\nHD s1500\r\n",
    );
    assert_eq!(s.stats.store_too_large, 0);
}

#[test]
fn without_cas_uniques() {
    let mut s = Server::new();
    s.store.disable_cas();
    s.send(b"set a 0 0 1\r\n1\r\n");
    // Every unique is 0, and a cas never matches (memcached -C).
    s.expect(
        b"gets a\r\ncas a 0 0 1 0\r\n2\r\nmg a c\r\n",
        "VALUE a 0 1 0\r\n1\r\nEND\r\nEXISTS\r\nHD c0\r\n",
    );
    // flush_all goes by time: an item stored in the flush's second goes
    // too, one stored a second later stays.
    s.expect(
        b"flush_all\r\nset b 0 0 1\r\n1\r\nget b\r\n",
        "OK\r\nSTORED\r\nEND\r\n",
    );
    s.store.advance(1);
    s.expect(
        b"set b 0 0 1\r\n1\r\nget b\r\n",
        "STORED\r\nVALUE b 0 1\r\n1\r\nEND\r\n",
    );
    assert!(s
        .send(b"stats settings\r\n")
        .contains("STAT cas_enabled no\r\n"));
}
