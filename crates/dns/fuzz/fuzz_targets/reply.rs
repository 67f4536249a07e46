//! A datagram for a pending query: checked, decoded and resolved as the
//! resolver does; see `evloop_dns_fuzz::reply`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    evloop_dns_fuzz::reply(data);
});
