//! HTTP-flavoured noise over real sockets: whatever arrives, the server
//! answers with well-formed responses (or nothing), closes, never panics,
//! and keeps serving other connections.

mod conformance_common;

use std::io::Write;

use conformance_common::*;
use proptest::prelude::*;

/// No HEAD: its answers carry a length but no body, which the response
/// reader could not tell from a truncated one here.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&str] = &[
        "GET ",
        "POST ",
        "HEAD ",
        "CONNECT ",
        "OPTIONS ",
        "/",
        "/a?b",
        "*",
        "http://h/",
        " HTTP/1.1",
        " HTTP/1.0",
        " HTTP/2",
        "\r\n",
        "\r\n\r\n",
        "\r",
        "\n",
        " ",
        "\t",
        "Host: a",
        "Host: ",
        "Content-Length: ",
        "Transfer-Encoding: ",
        "chunked",
        "gzip, ",
        "Expect: 100-continue",
        "Connection: close",
        "Connection: upgrade",
        "Upgrade: x",
        "0",
        "5",
        "a",
        "ff",
        ";",
        "=",
        "\"",
        "\\",
        ":",
        ",",
        "x",
        "hello",
        "\0",
        "\x7f",
        "\u{e9}",
    ];
    proptest::collection::vec(proptest::sample::select(PIECES), 0..80)
        .prop_map(|v| v.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn noise_gets_well_formed_answers(inputs in proptest::collection::vec(noise(), 8)) {
        let s = TestServer::start();
        for bytes in &inputs {
            let mut c = s.connect();
            let _ = c.write_all(bytes);
            finish(&c);
            // Parses every response (or panics); statuses are HTTP's.
            for r in read_until_close(&mut c) {
                prop_assert!((100..600).contains(&r.status), "{:?}", r);
            }
        }
        // Still serving.
        let mut c = s.connect();
        c.write_all(b"GET /alive HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        prop_assert_eq!(read_response(&mut c, false).status, 200);
    }
}
