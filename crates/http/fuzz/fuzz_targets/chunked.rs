//! The chunked decoder never panics, never moves more than it is allowed,
//! and gives the same body, trailers and leftover (or the same error)
//! however the input is split and whatever room it is given.
//!
//! `cargo +nightly fuzz run chunked` from crates/http.
#![no_main]

use evloop_buffer::Buffer;
use evloop_http::proto::{ChunkStep, ChunkedDecoder, Limits};
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8], step: usize, room: usize, limits: &Limits) -> String {
    let mut dec = ChunkedDecoder::new(limits);
    let (mut input, mut body) = (Buffer::new(), Buffer::new());
    let mut fed = 0;
    loop {
        match dec.decode(&mut input, &mut body, room) {
            Err(e) => return format!("error {e}"),
            Ok(ChunkStep::Data(n)) => assert!(n > 0 && n <= room),
            Ok(ChunkStep::Done { trailers }) => {
                let rest = [&input.split_to(usize::MAX)[..], &data[fed..]].concat();
                return format!(
                    "body {:?} trailers {trailers:?} rest {rest:?}",
                    body.split_to(usize::MAX)
                );
            }
            Ok(ChunkStep::NeedMore) => {
                if fed == data.len() {
                    return format!("incomplete {:?}", body.split_to(usize::MAX));
                }
                let end = (fed + step).min(data.len());
                input.add(&data[fed..end]);
                fed = end;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let limits = Limits::new().with_max_chunk_ext(16).with_max_trailer(64);
    let whole = run(data, data.len().max(1), usize::MAX, &limits);
    let step = usize::from(first & 15) + 1;
    let room = usize::from(first >> 4) + 1;
    assert_eq!(run(data, step, room, &limits), whole);
});
