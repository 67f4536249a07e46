//! The response head rules, one test per rule: each head is parsed whole
//! and also scanned a byte at a time, and both must agree.

use bytes::Bytes;
use evloop_buffer::Buffer;
use http::{Method, StatusCode, Version};

use super::*;

const STRICT: Lenient = Lenient {
    obs_fold: false,
    space_before_colon: false,
    http09: false,
    bare_lf: false,
    content_length_list: false,
};

/// Scans `bytes` whole and a byte at a time (the answers must agree),
/// then parses the head found.
fn parse_with(
    bytes: &[u8],
    method: &Method,
    limits: &Limits,
    lenient: &Lenient,
) -> Result<ResponseHead, HttpError> {
    let whole = {
        let mut s = ResponseScanner::new(lenient);
        s.scan(&Buffer::from(bytes), limits)
    };
    let mut s = ResponseScanner::new(lenient);
    let mut input = Buffer::new();
    let mut bytewise = Ok(None);
    for &b in bytes {
        input.add(&[b]);
        bytewise = s.scan(&input, limits);
        if !matches!(bytewise, Ok(None)) {
            break;
        }
    }
    assert_eq!(whole, bytewise, "split changed the scan of {bytes:?}");
    let n = whole?.expect("a complete head");
    let plain = parse_response_head(&bytes[..n], method, limits, lenient);
    // The same head read twice on a connection (the second time from the
    // field cache) reads the same.
    let mut cache = FieldCache::default();
    let shared = Bytes::copy_from_slice(&bytes[..n]);
    for _ in 0..3 {
        let cached = parse_response_head_shared(&shared, method, limits, lenient, Some(&mut cache));
        assert_eq!(
            format!("{cached:?}"),
            format!("{plain:?}"),
            "cache changed {bytes:?}"
        );
    }
    plain
}

/// Parses `heads` in turn with one field cache, and each without: the
/// answers agree.
fn cached_agrees(heads: &[&[u8]]) -> Vec<ResponseHead> {
    let mut cache = FieldCache::default();
    heads
        .iter()
        .map(|h| {
            let shared = Bytes::copy_from_slice(h);
            let (l, m) = (Limits::default(), Method::GET);
            let cached = parse_response_head_shared(&shared, &m, &l, &STRICT, Some(&mut cache));
            let plain = parse_response_head(h, &m, &l, &STRICT);
            assert_eq!(format!("{cached:?}"), format!("{plain:?}"), "{:?}", h);
            cached.unwrap()
        })
        .collect()
}

#[test]
fn a_connections_field_cache_reads_changed_and_moved_lines_anew() {
    let heads: [&[u8]; 9] = [
        b"HTTP/1.1 200 OK\r\nServer: x\r\nDate: 1\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nServer: x\r\nDate: 1\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nServer: x\r\nDate: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nServer: x\r\nDate: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
        // Lines moved: each is read anew.
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nServer: x\r\nContent-Length: 3\r\n\r\n",
        // Two Connection lines, both found in the cache the second time.
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        // Same name and value, other case or spacing: read anew.
        b"HTTP/1.1 200 OK\r\nconnection:keep-alive\r\nConnection: close\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\nX-Empty:\r\n\r\n",
    ];
    let r = cached_agrees(&heads);
    assert!(r[1].keep_alive && !r[2].keep_alive && !r[3].keep_alive);
    assert_eq!(r[3].body, ResponseBodyKind::Length(3));
    assert!(!r[6].keep_alive && r[8].keep_alive);
    assert_eq!(r[3].headers["date"], "2");
}

#[test]
fn a_value_that_changes_every_time_is_still_read_right() {
    let heads: Vec<Vec<u8>> = (0..6)
        .map(|i| {
            format!("HTTP/1.1 200 OK\r\nX-Id: {i}\r\nContent-Length: {i}\r\n\r\n").into_bytes()
        })
        .collect();
    let heads: Vec<&[u8]> = heads.iter().map(|h| &h[..]).collect();
    for (i, r) in cached_agrees(&heads).iter().enumerate() {
        assert_eq!(r.headers["x-id"], i.to_string().as_str());
        assert_eq!(r.body, ResponseBodyKind::Length(i as u64));
    }
}

#[test]
fn a_cached_value_does_not_hold_the_input() {
    let mut cache = FieldCache::default();
    let (l, m) = (Limits::default(), Method::GET);
    let head = Bytes::from(&b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 0\r\n\r\n"[..]);
    let r = parse_response_head_shared(&head, &m, &l, &STRICT, Some(&mut cache)).unwrap();
    let range = head.as_ptr() as usize..head.as_ptr() as usize + head.len();
    for v in r.headers.values() {
        assert!(!range.contains(&(v.as_bytes().as_ptr() as usize)));
    }
}

fn get(bytes: &[u8]) -> Result<ResponseHead, HttpError> {
    parse_with(bytes, &Method::GET, &Limits::default(), &STRICT)
}

fn lenient(bytes: &[u8], l: Lenient) -> Result<ResponseHead, HttpError> {
    parse_with(bytes, &Method::GET, &Limits::default(), &l)
}

fn err(r: Result<ResponseHead, HttpError>) -> &'static str {
    let e = r.expect_err("an error");
    assert_eq!(e.status, StatusCode::BAD_GATEWAY);
    e.reason
}

fn body(bytes: &[u8], method: Method) -> ResponseBodyKind {
    parse_with(bytes, &method, &Limits::default(), &STRICT)
        .unwrap()
        .body
}

#[test]
fn status_line_parts() {
    let h = get(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert_eq!(h.status, StatusCode::NOT_FOUND);
    assert_eq!(h.version, Version::HTTP_11);
    assert_eq!(h.reason, "Not Found");
    assert_eq!(h.headers["content-length"], "0");
    let h = get(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
    assert_eq!(h.version, Version::HTTP_10);
}

#[test]
fn reason_may_be_empty_with_or_without_its_space() {
    assert_eq!(get(b"HTTP/1.1 200 \r\n\r\n").unwrap().reason, "");
    assert_eq!(get(b"HTTP/1.1 200\r\n\r\n").unwrap().reason, "");
}

#[test]
fn reason_is_the_one_sent_even_when_close_to_the_canonical_one() {
    let h = get(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap();
    assert!(matches!(h.reason, std::borrow::Cow::Borrowed("Not Found")));
    assert_eq!(get(b"HTTP/1.1 200 Ok\r\n\r\n").unwrap().reason, "Ok");
    assert_eq!(get(b"HTTP/1.1 200 OK \r\n\r\n").unwrap().reason, "OK ");
    assert_eq!(get(b"HTTP/1.1 404 OK\r\n\r\n").unwrap().reason, "OK");
    assert_eq!(get(b"HTTP/1.1 599 OK\r\n\r\n").unwrap().reason, "OK");
}

#[test]
fn reason_keeps_spaces_tabs_and_opaque_bytes() {
    let h = get(b"HTTP/1.1 200 All  good\there \r\n\r\n").unwrap();
    assert_eq!(h.reason, "All  good\there ");
    let h = get(b"HTTP/1.1 200 d\xe9j\xe0 vu\r\n\r\n").unwrap();
    assert_eq!(h.reason, "d\u{fffd}j\u{fffd} vu");
    assert_eq!(
        err(get(b"HTTP/1.1 200 O\x00K\r\n\r\n")),
        "invalid reason phrase"
    );
    assert_eq!(
        err(get(b"HTTP/1.1 200 O\x7fK\r\n\r\n")),
        "invalid reason phrase"
    );
}

#[test]
fn status_code_is_three_digits_100_to_599() {
    for ok in [100u16, 199, 200, 418, 599] {
        let line = format!("HTTP/1.1 {ok} X\r\n\r\n");
        assert_eq!(get(line.as_bytes()).unwrap().status.as_u16(), ok);
    }
    for bad in [
        &b"HTTP/1.1 099 X\r\n\r\n"[..],
        b"HTTP/1.1 600 X\r\n\r\n",
        b"HTTP/1.1 999 X\r\n\r\n",
        b"HTTP/1.1 20 X\r\n\r\n",
        b"HTTP/1.1 2000 X\r\n\r\n",
        b"HTTP/1.1 +20 X\r\n\r\n",
        b"HTTP/1.1 2a0 X\r\n\r\n",
        b"HTTP/1.1  200 X\r\n\r\n",
        b"HTTP/1.1 200X\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 \r\n\r\n",
    ] {
        assert!(get(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn versions() {
    assert_eq!(
        get(b"HTTP/1.2 200 OK\r\n\r\n").unwrap().version,
        Version::HTTP_11
    );
    assert_eq!(
        get(b"HTTP/1.9 200 OK\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .body,
        ResponseBodyKind::Length(1)
    );
    for bad in [
        &b"HTTP/2.0 200 OK\r\n\r\n"[..],
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/0.9 200 OK\r\n\r\n",
        b"http/1.1 200 OK\r\n\r\n",
        b"HTTP/1.10 200 OK\r\n\r\n",
        b"HTTP/1 200 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
    ] {
        assert!(get(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn field_syntax_as_strict_as_a_request() {
    for bad in [
        &b"HTTP/1.1 200 OK\r\nName : v\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nName\t: v\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n A: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: x\x00y\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA(b): 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
    ] {
        assert!(get(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
    // OWS around the value is not part of it; obs-text is kept.
    let h = get(b"HTTP/1.1 200 OK\r\nA:  1 \t\r\nB:\r\nC: \xff\r\n\r\n").unwrap();
    assert_eq!(h.headers["a"], "1");
    assert_eq!(h.headers["b"], "");
    assert_eq!(h.headers["c"].as_bytes(), b"\xff");
}

#[test]
fn repeated_fields_are_kept_in_order() {
    let h = get(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n").unwrap();
    let v: Vec<_> = h.headers.get_all("set-cookie").iter().collect();
    assert_eq!(v, ["a=1", "b=2"]);
}

#[test]
fn line_ends_strict() {
    assert_eq!(
        err(get(b"HTTP/1.1 200 OK\nA: 1\r\n\r\n")),
        "bare LF line end"
    );
    assert_eq!(
        err(get(b"HTTP/1.1 200 OK\r\nA: 1\n\r\n")),
        "bare LF line end"
    );
    assert_eq!(
        err(get(b"HTTP/1.1 200 OK\r\nA: 1\r\n\n")),
        "bare LF line end"
    );
    // A bare CR is refused by the parser once the head is complete.
    assert_eq!(err(get(b"HTTP/1.1 200 OK\rA: 1\r\n\r\n")), "bare CR");
}

#[test]
fn leading_empty_lines_are_skipped_up_to_a_limit() {
    let h = get(b"\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n").unwrap();
    assert_eq!(h.status, StatusCode::NO_CONTENT);
    let mut many = b"\r\n".repeat(MAX_LEADING_EMPTY_LINES + 1);
    many.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
    assert!(get(&many).is_err());
}

#[test]
fn limits_apply_to_status_line_head_and_field_count() {
    let line = b"HTTP/1.1 200 OK\r\n\r\n";
    let exact = Limits::default().with_max_request_line(15);
    assert!(parse_with(line, &Method::GET, &exact, &STRICT).is_ok());
    let short = Limits::default().with_max_request_line(14);
    assert!(parse_with(line, &Method::GET, &short, &STRICT).is_err());
    // The same with a bare LF line end.
    let l = Lenient {
        bare_lf: true,
        ..STRICT
    };
    let line_lf = b"HTTP/1.1 200 OK\n\n";
    assert!(parse_with(line_lf, &Method::GET, &exact, &l).is_ok());
    assert!(parse_with(line_lf, &Method::GET, &short, &l).is_err());

    let head = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
    let fits = Limits::default().with_max_head(head.len());
    assert!(parse_with(head, &Method::GET, &fits, &STRICT).is_ok());
    let small = Limits::default().with_max_head(head.len() - 1);
    assert!(parse_with(head, &Method::GET, &small, &STRICT).is_err());
    let two = Limits::default().with_max_headers(2);
    assert!(parse_with(head, &Method::GET, &two, &STRICT).is_ok());
    let one = Limits::default().with_max_headers(1);
    assert!(parse_with(head, &Method::GET, &one, &STRICT).is_err());
    // The parser checks the limits itself too (a head not measured by
    // the scanner).
    assert!(parse_response_head(head, &Method::GET, &one, &STRICT).is_err());
    assert!(parse_response_head(head, &Method::GET, &small, &STRICT).is_err());
}

#[test]
fn incomplete_or_trailing_bytes_are_errors_for_the_parser() {
    let l = Limits::default();
    for bad in [
        &b""[..],
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nbody",
    ] {
        assert!(parse_response_head(bad, &Method::GET, &l, &STRICT).is_err());
    }
}

// Framing, RFC 9112 section 6.3, rule by rule.

#[test]
fn head_1xx_204_304_have_no_body_whatever_the_fields() {
    let cl = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    assert_eq!(body(cl, Method::HEAD), ResponseBodyKind::None);
    let te = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(body(te, Method::HEAD), ResponseBodyKind::None);
    for status in [
        "100 Continue",
        "103 Early Hints",
        "204 No Content",
        "304 Not Modified",
    ] {
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(body(head.as_bytes(), Method::GET), ResponseBodyKind::None);
        let head = format!("HTTP/1.1 {status}\r\n\r\n");
        let h = get(head.as_bytes()).unwrap();
        assert_eq!(h.body, ResponseBodyKind::None);
        assert!(h.keep_alive, "{status}");
    }
    assert!(get(b"HTTP/1.1 103 Early Hints\r\n\r\n")
        .unwrap()
        .is_informational());
    assert!(!get(b"HTTP/1.1 200 OK\r\n\r\n").unwrap().is_informational());
}

#[test]
fn switching_protocols_and_connect_2xx_are_tunnels() {
    let h = get(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .unwrap();
    assert_eq!(h.body, ResponseBodyKind::Tunnel);
    assert!(!h.keep_alive);
    assert!(!h.is_informational());
    let ok = b"HTTP/1.1 200 Connection established\r\n\r\n";
    assert_eq!(body(ok, Method::CONNECT), ResponseBodyKind::Tunnel);
    // Fields that would frame a body are ignored for the tunnel.
    let cl = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(body(cl, Method::CONNECT), ResponseBodyKind::Tunnel);
    // A refused CONNECT has an ordinary body.
    let no = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\n";
    assert_eq!(body(no, Method::CONNECT), ResponseBodyKind::Length(3));
    // 200 to anything else is not a tunnel.
    assert_eq!(body(ok, Method::GET), ResponseBodyKind::CloseDelimited);
}

#[test]
fn chunked_final_coding() {
    let h = get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    assert_eq!(h.body, ResponseBodyKind::Chunked);
    assert!(h.keep_alive);
    let h = get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n").unwrap();
    assert_eq!(h.body, ResponseBodyKind::Chunked);
    // Over several field lines, with empty list elements.
    let h = get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(h.unwrap().body, ResponseBodyKind::Chunked);
}

#[test]
fn other_transfer_codings_are_errors() {
    for te in [
        "gzip",
        "gzip, chunked",
        "chunked, gzip",
        "chunked, chunked",
        "chunked;q=1",
        "",
        ",",
        "chu nked",
        "\"chunked\"",
    ] {
        let head = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert!(get(head.as_bytes()).is_err(), "{te:?}");
    }
}

#[test]
fn transfer_encoding_with_content_length_is_an_error_even_lenient() {
    let both = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(err(get(both)), "both Transfer-Encoding and Content-Length");
    assert!(lenient(both, Lenient::all()).is_err());
}

#[test]
fn transfer_encoding_in_http_1_0_is_an_error() {
    let head = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(err(get(head)), "Transfer-Encoding in an HTTP/1.0 response");
}

#[test]
fn content_length() {
    let h = get(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert_eq!(h.body, ResponseBodyKind::Length(0));
    assert!(!h.has_body());
    let max = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", u64::MAX);
    assert_eq!(
        get(max.as_bytes()).unwrap().body,
        ResponseBodyKind::Length(u64::MAX)
    );
    for cl in [
        "",
        "-1",
        "+1",
        "0x10",
        "1 2",
        "18446744073709551616",
        "1.0",
        "5, 5",
        "5, 6",
    ] {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n");
        assert!(get(head.as_bytes()).is_err(), "{cl:?}");
    }
    let twice = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
    assert!(get(twice).is_err());
}

#[test]
fn lenient_content_length_list_of_equal_values() {
    let l = Lenient {
        content_length_list: true,
        ..STRICT
    };
    let list = b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n";
    assert_eq!(lenient(list, l).unwrap().body, ResponseBodyKind::Length(5));
    let twice = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n";
    assert_eq!(lenient(twice, l).unwrap().body, ResponseBodyKind::Length(5));
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, x\r\n\r\n",
    ] {
        assert!(
            lenient(bad, l).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // A single value is not affected.
    let one = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n";
    assert_eq!(lenient(one, l).unwrap().body, ResponseBodyKind::Length(7));
}

#[test]
fn no_framing_means_close_delimited() {
    for head in [&b"HTTP/1.1 200 OK\r\n\r\n"[..], b"HTTP/1.0 200 OK\r\n\r\n"] {
        let h = get(head).unwrap();
        assert_eq!(h.body, ResponseBodyKind::CloseDelimited);
        assert!(!h.keep_alive);
        assert!(h.has_body());
    }
    // Even with keep-alive asked for: the close ends the body.
    let ka = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n";
    assert!(!get(ka).unwrap().keep_alive);
}

#[test]
fn keep_alive_by_version_and_connection() {
    let cases: [(&[u8], bool); 7] = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
        (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n",
            false,
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            true,
        ),
        (
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
            true,
        ),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
            false,
        ),
    ];
    for (head, want) in cases {
        assert_eq!(
            get(head).unwrap().keep_alive,
            want,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

// The lenient switches, each alone.

#[test]
fn lenient_obs_fold_becomes_spaces() {
    let l = Lenient {
        obs_fold: true,
        ..STRICT
    };
    let head = b"HTTP/1.1 200 OK\r\nX-Long: one\r\n two\r\n\tthree\r\nContent-Length: 0\r\n\r\n";
    assert!(get(head).is_err());
    let h = lenient(head, l).unwrap();
    let v = h.headers["x-long"].to_str().unwrap();
    assert_eq!(
        v.split_whitespace().collect::<Vec<_>>(),
        ["one", "two", "three"]
    );
    assert!(!v.contains(['\r', '\n']));
    assert_eq!(h.body, ResponseBodyKind::Length(0));
    // The fields that frame and steer the connection are read unfolded.
    let close =
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n close\r\nContent-Length: 0\r\n\r\n";
    assert!(!lenient(close, l).unwrap().keep_alive);
    let length = b"HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n 5\r\n\r\n";
    assert!(lenient(length, l).is_err());
    let l = Lenient {
        content_length_list: true,
        ..l
    };
    assert_eq!(
        lenient(length, l).unwrap().body,
        ResponseBodyKind::Length(5)
    );
}

#[test]
fn lenient_space_before_colon_is_dropped() {
    let l = Lenient {
        space_before_colon: true,
        ..STRICT
    };
    let head = b"HTTP/1.1 200 OK\r\nContent-Length : 4\r\n\r\n";
    assert!(get(head).is_err());
    let h = lenient(head, l).unwrap();
    assert_eq!(h.body, ResponseBodyKind::Length(4));
    // Not a license for obs-fold.
    assert!(lenient(b"HTTP/1.1 200 OK\r\nA: 1\r\n b\r\n\r\n", l).is_err());
}

#[test]
fn lenient_bare_lf_line_ends() {
    let l = Lenient {
        bare_lf: true,
        ..STRICT
    };
    for head in [
        &b"HTTP/1.1 200 OK\nContent-Length: 2\n\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\n",
        b"\n\r\nHTTP/1.1 200 OK\nContent-Length: 2\n\n",
    ] {
        let h = lenient(head, l).unwrap();
        assert_eq!(h.body, ResponseBodyKind::Length(2), "{head:?}");
        assert_eq!(h.reason, "OK");
    }
    // The length measured stops at the blank line.
    let mut s = ResponseScanner::new(&l);
    let input = Buffer::from(&b"HTTP/1.1 200 OK\nA: 1\n\nbody"[..]);
    assert_eq!(s.scan(&input, &Limits::default()), Ok(Some(22)));
    // A bare CR is still refused.
    assert!(lenient(b"HTTP/1.1 200 OK\rA: 1\n\n", l).is_err());
    assert!(lenient(b"HTTP/1.1 200 OK\nA: 1\r\r\n\n", l).is_err());
}

#[test]
fn lenient_http09_is_all_body() {
    let l = Lenient {
        http09: true,
        ..STRICT
    };
    let limits = Limits::default();
    for input in [
        &b"<html>hello</html>"[..],
        b"X",
        b"HTTPX",
        b"\r\nhello",
        b"HTTP 1.1",
    ] {
        let mut s = ResponseScanner::new(&l);
        assert_eq!(
            s.scan(&Buffer::from(input), &limits),
            Ok(Some(0)),
            "{input:?}"
        );
        let h = parse_response_head(b"", &Method::GET, &limits, &l).unwrap();
        assert_eq!(h.version, Version::HTTP_09);
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.body, ResponseBodyKind::CloseDelimited);
        assert!(!h.keep_alive && h.headers.is_empty());
    }
    // A prefix of HTTP/ waits for more.
    let mut s = ResponseScanner::new(&l);
    assert_eq!(s.scan(&Buffer::from(&b"HTT"[..]), &limits), Ok(None));
    // A real status line is parsed as usual.
    let h = lenient(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", l).unwrap();
    assert_eq!(h.body, ResponseBodyKind::Length(1));
    // Strict: no status line is an error.
    let mut s = ResponseScanner::new(&STRICT);
    let r = s.scan(&Buffer::from(&b"<html>\r\n\r\n"[..]), &limits);
    let n = r.unwrap().unwrap();
    assert!(parse_response_head(&b"<html>\r\n\r\n"[..n], &Method::GET, &limits, &STRICT).is_err());
}

#[test]
fn lenient_all_still_refuses_smuggling_shapes() {
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\rContent-Length: 2\r\n\r\n",
    ] {
        assert!(
            lenient(bad, Lenient::all()).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn scanner_resets_for_the_next_response() {
    let limits = Limits::default();
    let mut s = ResponseScanner::new(&Lenient::all());
    let mut input = Buffer::from(&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"[..]);
    assert_eq!(s.scan(&input, &limits), Ok(Some(25)));
    input.drain(25);
    assert_eq!(s.scan(&input, &limits), Ok(Some(19)));
}
