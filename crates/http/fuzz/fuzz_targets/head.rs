//! The head scanner and parser never panic, and give the same answer
//! whether the input arrives at once, in two pieces, or a byte at a time.
//!
//! `cargo +nightly fuzz run head` from crates/http.
#![no_main]

use evloop_buffer::Buffer;
use evloop_http::proto::{parse_request_head, HeadScanner, HttpError, Limits};
use libfuzzer_sys::fuzz_target;

/// Scans `data` delivered in pieces ending at `cuts`, then parses the head
/// if one was found; the answer as text.
fn run(data: &[u8], cuts: &[usize], limits: &Limits) -> String {
    let mut input = Buffer::new();
    let mut scanner = HeadScanner::new();
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
                return match parse_request_head(&head, limits) {
                    Ok(h) => format!("{n} {h:?}"),
                    Err(HttpError { status, reason }) => format!("parse {status} {reason}"),
                };
            }
        }
    }
    "incomplete".to_string()
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
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
    let whole = run(data, &[], &limits);
    let cut = usize::from(first >> 1) % (data.len() + 1);
    assert_eq!(run(data, &[cut], &limits), whole);
    if data.len() <= 512 {
        let bytewise: Vec<usize> = (1..data.len()).collect();
        assert_eq!(run(data, &bytewise, &limits), whole);
    }
});
