//! Text and meta protocol: the same replies however the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A meta no-op first makes the connection a text one whatever follows.
    evloop_memcached_fuzz::check(b"mn\r\n", data);
});
