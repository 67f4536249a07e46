//! Responses read in turn on one connection, through the field cache and
//! [`read_lines`], read exactly as httparse's path reads each alone.

use http::Method;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::super::prop_pick::pick;
use super::super::response::{parse_response_head, parse_response_head_shared};
use super::super::Lenient;
use super::*;

/// A response head from a small set of lines, so that the heads of one
/// connection repeat lines (at the same position or not), with lines
/// httparse refuses or reads differently mixed in.
fn head() -> impl Strategy<Value = Vec<u8>> {
    let status = pick(
        &[
            "HTTP/1.1 200 OK",
            "HTTP/1.1 204 No Content",
            "HTTP/1.0 200 OK",
        ],
        &[
            "HTTP/1.2 200 OK",
            "HTTP/1.1 200",
            "HTTP/1.1 99 X",
            "HTTP/2 200 OK",
        ],
    );
    let name = pick(
        &[
            "Server",
            "Date",
            "Content-Type",
            "Content-Length",
            "Connection",
            "Transfer-Encoding",
            "X-Id",
        ],
        &["", "Bad Name", "\u{e9}", "X@"],
    );
    let colon = pick(&[": ", ":"], &[":\t", " :", ""]);
    let value = pick(
        &[
            "nginx",
            "1",
            "2",
            "13",
            "keep-alive",
            "close",
            "chunked",
            "text/plain",
        ],
        &[
            "",
            " ",
            "a\tb",
            "x ",
            "\u{e9}",
            "\x7f",
            "\x01",
            "5, 5",
            "\r\n cont",
        ],
    );
    let eol = pick(&["\r\n"], &["\n", " \r\n", "\t\r\n"]);
    let field = (name, colon, value, eol);
    (status, prop::collection::vec(field, 0..7)).prop_map(|(status, fields)| {
        let mut h = format!("{status}\r\n");
        for (n, c, v, e) in fields {
            h.push_str(&format!("{n}{c}{v}{e}"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    })
}

fn lenients() -> impl Strategy<Value = Lenient> {
    (any::<bool>(), any::<bool>()).prop_map(|(content_length_list, http09)| Lenient {
        content_length_list,
        http09,
        ..Lenient::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_connections_heads_read_as_each_alone(
        heads in prop::collection::vec(head(), 1..6),
        lenient in lenients(),
        max_headers in prop::sample::select(vec![3usize, 100]),
    ) {
        let limits = Limits { max_headers, ..Limits::default() };
        let mut cache = FieldCache::default();
        for h in &heads {
            let alone = parse_response_head(h, &Method::GET, &limits, &lenient);
            let shared = Bytes::copy_from_slice(h);
            let cached =
                parse_response_head_shared(&shared, &Method::GET, &limits, &lenient, Some(&mut cache));
            prop_assert_eq!(format!("{:?}", cached), format!("{:?}", alone), "{:?}", String::from_utf8_lossy(h));
        }
    }
}

#[test]
fn most_generated_heads_are_read_without_httparse() {
    // The property above is only worth something if `read_lines` takes
    // most heads: count them.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(head(), 2..4);
    let (mut taken, mut total) = (0, 0);
    for _ in 0..300 {
        let heads = strategy.new_tree(&mut runner).unwrap().current();
        let mut cache = FieldCache::default();
        for h in &heads {
            let Some(lf) = h.iter().position(|&b| b == b'\n') else {
                continue;
            };
            total += 1;
            let shared = Bytes::copy_from_slice(h);
            if read_lines(&shared, h, lf + 1, &Limits::default(), &mut cache).is_some() {
                taken += 1;
            }
        }
    }
    assert!(taken * 2 > total, "{taken} of {total}");
}
