//! The resolver's wire module (and the random numbers it uses for 0x20),
//! compiled from the crate's own source files, with one entry point for
//! the fuzz target: the resolver's modules are private to evloop-dns.

#![allow(dead_code)]

// Siblings at the root, as in the resolver (`wire` uses `super::rng`).
#[path = "../../src/resolver/rng.rs"]
mod rng;
#[path = "../../src/resolver/wire.rs"]
mod wire;

use hickory_proto::rr::{Name, RecordType};
use wire::Match;

const TYPES: [RecordType; 8] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::TXT,
    RecordType::SRV,
    RecordType::PTR,
    RecordType::SOA,
];

/// What the resolver does with a datagram that arrives for a query: the
/// raw checks, then (for a reply that passes them) the decoding and the
/// walk to an outcome, and the full decoding a FORMERR gets. `data[0]`
/// picks the query's type; with `data[1]` odd, the reply is the query's
/// header and question followed by the rest of `data` (so that most
/// inputs get past the checks and into the decoding), else `data[2..]`
/// as it is. Nothing may panic.
pub fn reply(data: &[u8]) {
    let (Some(&pick), Some(&mode)) = (data.first(), data.get(1)) else {
        return;
    };
    let qtype = TYPES[usize::from(pick) % TYPES.len()];
    let name = Name::from_ascii("www.Example.com.").expect("a valid name");
    let mut query = Vec::new();
    let qend = wire::encode_query(&mut query, 0x1234, &name, qtype, Some(1232), None);
    let rest = &data[2..];
    let reply = if mode & 1 == 1 {
        // Header from the query with QR set, counts and flags from the
        // input's first bytes, then the question, then the input.
        let mut r = query[..qend].to_vec();
        r[2] = 0x81 | (rest.first().copied().unwrap_or(0) & 0x06);
        r[3] = rest.get(1).copied().unwrap_or(0) & 0x8f;
        for (i, b) in rest.iter().skip(2).take(6).enumerate() {
            r[6 + i] = *b & 0x03;
        }
        r.extend_from_slice(rest.get(8..).unwrap_or(&[]));
        r
    } else {
        rest.to_vec()
    };
    let _ = wire::id_of(&reply);
    let _ = wire::is_truncated(&reply);
    let _ = wire::rcode_of(&reply);
    let _ = wire::decode_full(&reply);
    for exact in [false, true] {
        if wire::check_reply(&reply, &query, qend, exact) == Match::No {
            return;
        }
    }
    if let Ok(decoded) = wire::decode(&reply, qend, &name, qtype) {
        let mut outcome = wire::resolve(decoded, &name, qtype);
        wire::unrandomize(&mut outcome, &name);
        let _ = outcome.cache_ttl();
    }
}
