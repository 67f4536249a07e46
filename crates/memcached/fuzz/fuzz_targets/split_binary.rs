//! Binary protocol: the same replies however the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A Noop request: makes the connection a binary one.
const NOOP: [u8; 24] = [
    0x80, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fuzz_target!(|data: &[u8]| {
    evloop_memcached_fuzz::check(&NOOP, data);
});
