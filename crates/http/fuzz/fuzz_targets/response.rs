//! The response scanner and parser never panic, and give the same answer
//! whether the input arrives at once, in two pieces, or a byte at a time,
//! under every combination of lenient switches and request methods.
//!
//! `cargo +nightly fuzz run response` from crates/http.
#![no_main]

use evloop_buffer::Buffer;
use evloop_http::proto::{parse_response_head, HttpError, Lenient, Limits, ResponseScanner};
use http::Method;
use libfuzzer_sys::fuzz_target;

/// Scans `data` delivered in pieces ending at `cuts`, then parses the head
/// if one was found; the answer as text.
fn run(data: &[u8], cuts: &[usize], method: &Method, limits: &Limits, l: &Lenient) -> String {
    let mut input = Buffer::new();
    let mut scanner = ResponseScanner::new(l);
    let mut from = 0;
    for end in cuts.iter().copied().chain([data.len()]) {
        let end = end.clamp(from, data.len());
        input.add(&data[from..end]);
        from = end;
        match scanner.scan(&input, limits) {
            Err(e) => return format!("scan {e}"),
            Ok(None) => {}
            Ok(Some(n)) => {
                let head = input.split_to(n);
                return match parse_response_head(&head, method, limits, l) {
                    Ok(h) => format!("{n} {h:?}"),
                    Err(HttpError { status, reason }) => format!("parse {status} {reason}"),
                };
            }
        }
    }
    "incomplete".to_string()
}

fuzz_target!(|data: &[u8]| {
    let Some((&[first, second], data)) = data.split_first_chunk::<2>() else {
        return;
    };
    let limits = if first & 1 == 0 {
        Limits::default()
    } else {
        Limits::new()
            .with_max_request_line(64)
            .with_max_head(256)
            .with_max_headers(4)
    };
    let lenient = Lenient {
        obs_fold: second & 1 != 0,
        space_before_colon: second & 2 != 0,
        http09: second & 4 != 0,
        bare_lf: second & 8 != 0,
        content_length_list: second & 16 != 0,
    };
    let method = [Method::GET, Method::HEAD, Method::CONNECT, Method::POST]
        [usize::from(second >> 5) % 4]
        .clone();
    let whole = run(data, &[], &method, &limits, &lenient);
    let cut = usize::from(first >> 1) % (data.len() + 1);
    assert_eq!(run(data, &[cut], &method, &limits, &lenient), whole);
    if data.len() <= 512 {
        let bytewise: Vec<usize> = (1..data.len()).collect();
        assert_eq!(run(data, &bytewise, &method, &limits, &lenient), whole);
    }
});
