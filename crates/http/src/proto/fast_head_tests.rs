//! The one-pass parser agrees with the scanner and the full parser on
//! every head it takes, and takes the common ones.

use evloop_buffer::Buffer;
use proptest::prelude::*;

use super::super::head::parse_request_head_shared;
use super::super::prop_pick::pick;
use super::super::HeadScanner;
use super::*;

/// The full path's answer for `bytes` as a connection's first input:
/// the head's length and the parse, as text.
fn full(bytes: &[u8], limits: &Limits) -> Option<(usize, String)> {
    let mut input = Buffer::new();
    input.add(bytes);
    let n = HeadScanner::new().scan(&input, limits).ok()??;
    let head = Bytes::copy_from_slice(&bytes[..n]);
    let parsed = parse_request_head_shared(&head, limits, None).map(|h| {
        assert!(h.headers.is_some());
        h.into_public(&head)
    });
    Some((n, format!("{parsed:?}")))
}

/// The fast path's answer as text, its map made from the head if it
/// left it out.
fn fast_parse(fast: &FastHead, shared: &Bytes, cache: Option<&mut HeadCache>) -> String {
    let parsed = fast.parse(shared, cache).map(|h| h.into_public(shared));
    format!("{parsed:?}")
}

/// Checks the fast path against the full one for `bytes`; whether it took
/// the head.
fn agree(bytes: &[u8], limits: &Limits) -> bool {
    let mut fast = FastHead::default();
    if !scan_fast(bytes, limits, &mut fast) {
        return false;
    }
    let n = fast.len();
    let shared = Bytes::copy_from_slice(&bytes[..n]);
    let got = fast_parse(&fast, &shared, None);
    assert_eq!(
        full(bytes, limits),
        Some((n, got.clone())),
        "{:?}",
        String::from_utf8_lossy(bytes)
    );
    // With a connection's cache, twice: the same answer each time.
    let mut cache = HeadCache::default();
    for _ in 0..2 {
        assert_eq!(fast_parse(&fast, &shared, Some(&mut cache)), got);
    }
    true
}

#[test]
fn the_map_is_left_out_only_when_no_check_needs_it() {
    let l = Limits::default();
    for (head, lazy) in [
        (
            &b"GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"[..],
            true,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, Upgrade\r\nUpgrade: x\r\n\r\n",
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            false,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nEXPECT: 100-continue\r\n\r\n",
            false,
        ),
    ] {
        let mut fast = FastHead::default();
        assert!(scan_fast(head, &l, &mut fast));
        let shared = Bytes::copy_from_slice(&head[..fast.len()]);
        assert_eq!(fast.parse(&shared, None).unwrap().headers.is_none(), lazy);
        assert!(agree(head, &l));
    }
}

#[test]
fn common_heads_are_taken() {
    let l = Limits::default();
    for head in [
        &b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"[..],
        b"GET /a/b?c=d&e HTTP/1.1\r\nHost: ex.org\r\nAccept: */*\r\nUser-Agent: x/1.0\r\n\r\n",
        b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        b"PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: a\r\nX:\r\nY: \t v \t \r\n\r\n",
        b"DELETE /x HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
        b"OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"PATCH /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n",
        // Refused by the checks after tokenising, as by the full path.
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET /a<b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nExpect: nothing\r\n\r\n",
    ] {
        assert!(agree(head, &l), "{:?}", String::from_utf8_lossy(head));
    }
}

#[test]
fn others_go_the_full_way() {
    let l = Limits::default();
    for head in [
        &b"GET / HTTP/1.1\r\nHost: a\r\n"[..],
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"PURGE / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n",
        b"GET / HTTP/1.1\r\n: a\r\n\r\n",
    ] {
        assert!(
            !scan_fast(head, &l, &mut FastHead::default()),
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn limits_are_the_full_paths() {
    let head = b"GET /abc HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n";
    let line = "GET /abc HTTP/1.1".len();
    let base = Limits::default;
    for (l, taken) in [
        (base().with_max_request_line(line), true),
        (base().with_max_request_line(line - 1), false),
        (base().with_max_head(head.len()), true),
        (base().with_max_head(head.len() - 1), false),
        (base().with_max_headers(2), true),
        (base().with_max_headers(1), false),
    ] {
        assert_eq!(agree(head, &l), taken, "{l:?}");
    }
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..=FAST_FIELDS {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert!(!scan_fast(&many, &base(), &mut FastHead::default()));
    assert!(full(&many, &base()).is_some());
}

/// Heads made of pieces near the fast path's edges: mostly ones it
/// takes, with methods, targets and field lines it refuses mixed in.
fn heads() -> impl Strategy<Value = Vec<u8>> {
    let method = pick(
        &["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"],
        &["TRACE", "CONNECT", "GETS", "get", "POS", ""],
    );
    let target = prop::collection::vec(
        pick(
            &["a", "?", "=", "/", "%20", "~", ":", "@", "{", "*"],
            &[
                "#", "%", "%2", " ", "\t", "<", "\u{e9}", "//", "http://x", "\x7f", "\x00",
            ],
        ),
        0..6,
    );
    let version = pick(
        &[" HTTP/1.1"],
        &[
            " HTTP/1.0",
            " HTTP/1.2",
            " HTTP/2.0",
            " http/1.1",
            "  HTTP/1.1",
            "",
        ],
    );
    let eol = || pick(&["\r\n"], &["\n", "\r", " \r\n"]);
    let name = pick(
        &[
            "Host",
            "host",
            "HOST",
            "Content-Length",
            "Transfer-Encoding",
            "Connection",
            "Expect",
            "Upgrade",
            "X-A",
            "x",
            "Accept",
        ],
        &["", "Ho st", "Host ", " Host", "A:B", "\u{e9}"],
    );
    let value = prop::collection::vec(
        pick(
            &[
                "a",
                "ex.org",
                "127.0.0.1:80",
                "[::1]",
                "5",
                "0",
                "chunked",
                "close",
                "keep-alive",
                "upgrade",
                "100-continue",
                " ",
                "\t",
                ",",
                "\u{e9}",
                ":",
            ],
            &["\x7f", "\x01", "\r", "\n", "\r\n ", "\x00"],
        ),
        0..5,
    );
    let colon = pick(&[":", ": ", ":\t"], &[" :", ""]);
    let field = (name, colon, value, eol());
    (
        method,
        pick(&["/"], &[""]),
        target,
        version,
        eol(),
        prop::collection::vec(field, 0..5),
        eol(),
        prop::sample::select(vec!["", "GET / HTTP/1.1\r\n", "xyz", "\r\n"]),
    )
        .prop_map(|(m, slash, t, v, e1, fields, e2, after)| {
            let mut h = format!("{m} {slash}{}{v}{e1}", t.concat());
            for (n, c, val, e) in fields {
                h.push_str(&format!("{n}{c}{}{e}", val.concat()));
            }
            h.push_str(e2);
            h.push_str(after);
            h.into_bytes()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn agrees_on_made_heads(head in heads(), cut in 0usize..80) {
        let limits = Limits::default();
        agree(&head, &limits);
        // And on any prefix (an incomplete head is never taken).
        let cut = cut.min(head.len());
        agree(&head[..cut], &limits);
        let small = Limits::default()
            .with_max_request_line(20)
            .with_max_head(48)
            .with_max_headers(2);
        agree(&head, &small);
    }

    #[test]
    fn agrees_on_mutated_heads(
        head in heads(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut head = head;
        if !head.is_empty() {
            let i = at.index(head.len());
            head[i] = byte;
        }
        agree(&head, &Limits::default());
    }

    #[test]
    fn agrees_on_arbitrary_bytes(
        prefix in prop::sample::select(vec!["GET / HTTP/1.1\r\n", "GET /", "POST /a HTTP/1.1\r\nHost: x\r\n"]),
        rest in prop::collection::vec(any::<u8>(), 0..60),
    ) {
        let mut head = prefix.as_bytes().to_vec();
        head.extend_from_slice(&rest);
        agree(&head, &Limits::default());
    }
}
