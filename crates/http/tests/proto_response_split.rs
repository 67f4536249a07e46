//! The response scanner and parser give the same answer however the input
//! is split across reads, whatever the lenient switches, and never panic:
//! arbitrary bytes, HTTP-flavoured noise, and valid randomised responses.
//! (The fuzz target `response` in crates/http/fuzz checks the same.)

use bytes::Bytes;
use evloop_buffer::Buffer;
use evloop_http::proto::{parse_response_head, Lenient, Limits, ResponseBodyKind, ResponseScanner};
use http::Method;
use proptest::prelude::*;

/// Scans `bytes` delivered in the pieces `cuts` delimit (each its own
/// chunk of the input), then parses the head found; the answer as text.
fn run(bytes: &[u8], cuts: &[usize], method: &Method, limits: &Limits, l: &Lenient) -> String {
    let mut input = Buffer::new();
    let mut scanner = ResponseScanner::new(l);
    let mut from = 0;
    for end in cuts.iter().copied().chain([bytes.len()]) {
        let end = end.clamp(from, bytes.len());
        input.add_bytes(Bytes::copy_from_slice(&bytes[from..end]));
        from = end;
        match scanner.scan(&input, limits) {
            Err(e) => return format!("scan error {e}"),
            Ok(None) => {}
            Ok(Some(n)) => {
                let head = input.split_to(n);
                return match parse_response_head(&head, method, limits, l) {
                    Ok(h) => format!("{n} {h:?}"),
                    Err(e) => format!("parse error {e}"),
                };
            }
        }
    }
    "incomplete".to_string()
}

fn lenient_from(bits: u8) -> Lenient {
    Lenient {
        obs_fold: bits & 1 != 0,
        space_before_colon: bits & 2 != 0,
        http09: bits & 4 != 0,
        bare_lf: bits & 8 != 0,
        content_length_list: bits & 16 != 0,
    }
}

fn method_from(n: u8) -> Method {
    [Method::GET, Method::HEAD, Method::CONNECT, Method::POST][usize::from(n % 4)].clone()
}

fn small_limits() -> Limits {
    Limits::new()
        .with_max_request_line(30)
        .with_max_head(120)
        .with_max_headers(4)
}

fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..=len, 0..12).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

fn http_noise() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&str] = &[
        "HTTP/1.1 ",
        "HTTP/1.0 ",
        "HTTP/1.2 ",
        "HTTP/2 ",
        "HTTP/",
        "HT",
        "200",
        "101",
        "204",
        "304",
        "100",
        "999",
        " OK",
        "\r\n",
        "\r\n\r\n",
        "\n\n",
        "\r",
        "\n",
        " ",
        "\t",
        "Content-Length: ",
        "Content-Length : ",
        "Transfer-Encoding: ",
        "Connection: close",
        "Connection: keep-alive",
        "chunked",
        "gzip, ",
        "0",
        "5",
        "5, 5",
        ":",
        ",",
        "x",
        "\0",
        "\x7f",
        "\u{e9}",
    ];
    proptest::collection::vec(proptest::sample::select(PIECES), 0..50)
        .prop_map(|v| v.concat().into_bytes())
}

/// A valid response head with random fields, its framing and the body
/// kind it should get for GET.
fn valid_head() -> impl Strategy<Value = (Vec<u8>, ResponseBodyKind)> {
    let fields = proptest::collection::vec(("[a-z]{1,6}", "[!-~]([ -~]{0,10}[!-~])?"), 0..5);
    (
        prop_oneof![Just("1.0"), Just("1.1")],
        prop_oneof![Just(200u16), Just(404), Just(500), Just(204), Just(304)],
        "[ -~]{0,12}",
        fields,
        0u8..3,
        0u64..100_000,
    )
        .prop_map(|(version, status, reason, fields, framing, len)| {
            let mut head = format!("HTTP/{version} {status} {reason}\r\n").into_bytes();
            for (name, value) in &fields {
                head.extend_from_slice(format!("x-{name}: {value}\r\n").as_bytes());
            }
            let no_body = status == 204 || status == 304;
            let kind = match framing {
                0 => ResponseBodyKind::CloseDelimited,
                1 => {
                    head.extend_from_slice(format!("Content-Length: {len}\r\n").as_bytes());
                    ResponseBodyKind::Length(len)
                }
                _ if version == "1.0" => ResponseBodyKind::CloseDelimited,
                _ => {
                    head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                    ResponseBodyKind::Chunked
                }
            };
            head.extend_from_slice(b"\r\n");
            (
                head,
                if no_body {
                    ResponseBodyKind::None
                } else {
                    kind
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_split_anywhere(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        bits in any::<u8>(),
        m in any::<u8>(),
        cut_seed in cuts(300),
    ) {
        let (l, method, limits) = (lenient_from(bits), method_from(m), small_limits());
        let whole = run(&bytes, &[], &method, &limits, &l);
        let cuts: Vec<usize> = cut_seed.into_iter().filter(|&c| c <= bytes.len()).collect();
        prop_assert_eq!(&run(&bytes, &cuts, &method, &limits, &l), &whole);
        let bytewise: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(&run(&bytes, &bytewise, &method, &limits, &l), &whole);
    }

    #[test]
    fn noise_split_anywhere(
        bytes in http_noise(),
        bits in any::<u8>(),
        m in any::<u8>(),
        cut_seed in cuts(400),
        small in any::<bool>(),
    ) {
        let (l, method) = (lenient_from(bits), method_from(m));
        let limits = if small { small_limits() } else { Limits::default() };
        let whole = run(&bytes, &[], &method, &limits, &l);
        let cuts: Vec<usize> = cut_seed.into_iter().filter(|&c| c <= bytes.len()).collect();
        prop_assert_eq!(&run(&bytes, &cuts, &method, &limits, &l), &whole);
        let bytewise: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(&run(&bytes, &bytewise, &method, &limits, &l), &whole);
    }

    #[test]
    fn valid_heads_parse_the_same_split_anywhere(
        (head, kind) in valid_head(),
        bits in any::<u8>(),
        cut_seed in cuts(200),
    ) {
        let l = lenient_from(bits);
        let limits = Limits::default();
        let mut input = head.clone();
        input.extend_from_slice(b"HTTP/1.1 200 next");
        let whole = run(&input, &[], &Method::GET, &limits, &l);
        prop_assert!(whole.starts_with(&format!("{} ", head.len())), "{}", whole);
        prop_assert!(whole.contains(&format!("body: {kind:?}")), "{} {:?}", whole, kind);
        let cuts: Vec<usize> = cut_seed.into_iter().filter(|&c| c <= input.len()).collect();
        prop_assert_eq!(&run(&input, &cuts, &Method::GET, &limits, &l), &whole);
    }

    #[test]
    fn the_parser_alone_never_panics(
        bytes in prop_oneof![http_noise(), proptest::collection::vec(any::<u8>(), 0..200)],
        bits in any::<u8>(),
        m in any::<u8>(),
    ) {
        // Heads no scanner measured: any bytes at all.
        let (l, method) = (lenient_from(bits), method_from(m));
        let r = parse_response_head(&bytes, &method, &small_limits(), &l);
        if let Ok(h) = r {
            prop_assert!((100..600).contains(&h.status.as_u16()));
            prop_assert!(!(h.keep_alive && h.body == ResponseBodyKind::CloseDelimited));
        }
    }
}
