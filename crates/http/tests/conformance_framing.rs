//! Request framing over a real socket: every conflict and malformed length
//! or coding is answered with its status and a close, and nothing sent
//! after it is answered (RFC 9112 section 6); valid bodies are delimited
//! exactly, so the next request on the connection starts where they end.

mod conformance_common;

use std::io::Write;

use conformance_common::*;

/// A POST with `fields` (each line with its CRLF) and then `body`.
fn post(fields: &str, body: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n{body}").into_bytes()
}

#[test]
fn content_length_and_transfer_encoding_together() {
    let s = TestServer::start();
    refused(
        &s,
        &post(
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "0\r\n\r\n",
        ),
        400,
    );
    refused(
        &s,
        &post(
            "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
            "0\r\n\r\n",
        ),
        400,
    );
    refused(
        &s,
        &post(
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            "0\r\n\r\nabcde",
        ),
        400,
    );
}

#[test]
fn content_length_lists_and_repeats() {
    let s = TestServer::start();
    for fields in [
        "Content-Length: 5, 5\r\n",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 3\r\n",
        "Content-Length: 3,5\r\n",
    ] {
        refused(&s, &post(fields, "abcde"), 400);
    }
}

#[test]
fn malformed_content_length() {
    let s = TestServer::start();
    for cl in [
        "+5",
        "-5",
        "0x5",
        "5a",
        " ",
        "5 5",
        "1e2",
        "18446744073709551616",
        "٥",
    ] {
        refused(
            &s,
            &post(&format!("Content-Length: {cl}\r\n"), "abcde"),
            400,
        );
    }
}

#[test]
fn transfer_codings() {
    let s = TestServer::start();
    for (te, status) in [
        ("gzip", 400),
        ("chunked, gzip", 400),
        ("identity", 400),
        ("chunked, chunked", 400),
        ("chunked;x=1", 400),
        ("chunked\r\nTransfer-Encoding: chunked", 400),
        ("xchunked", 400),
        ("gzip, chunked", 501),
        ("deflate, chunked", 501),
        ("foo, chunked", 501),
    ] {
        refused(
            &s,
            &post(&format!("Transfer-Encoding: {te}\r\n"), "0\r\n\r\n"),
            status,
        );
    }
    let te10 = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    refused(&s, te10, 400);
    // Codings are case-insensitive and empty list elements are ignored.
    for te in ["CHUNKED", "Chunked", ", chunked"] {
        let mut c = s.connect();
        c.write_all(&post(
            &format!("Transfer-Encoding: {te}\r\n"),
            "3\r\nabc\r\n0\r\n\r\n",
        ))
        .unwrap();
        let r = read_response(&mut c, false);
        assert_eq!(r.status, 200, "{te}");
        assert!(r.text().contains("body=3:abc"), "{te}: {}", r.text());
    }
}

#[test]
fn malformed_chunk_sizes() {
    let s = TestServer::start();
    for body in [
        "x\r\n",
        "-3\r\nabc\r\n0\r\n\r\n",
        "+3\r\nabc\r\n0\r\n\r\n",
        "0x3\r\nabc\r\n0\r\n\r\n",
        " 3\r\nabc\r\n0\r\n\r\n",
        "3 \r\nabc\r\n0\r\n\r\n",
        "\r\nabc\r\n0\r\n\r\n",
        "10000000000000000\r\n",
        "fffffffffffffffff\r\n",
        "3\nabc\r\n0\r\n\r\n",
        "3\rabc\r\n0\r\n\r\n",
        "3\r\nabcd\r\n0\r\n\r\n",
        "3\r\nabc\n0\r\n\r\n",
        "3\r\nabc0\r\n\r\n",
        "3;\r\nabc\r\n0\r\n\r\n",
        "3;a=\r\nabc\r\n0\r\n\r\n",
        "3;a=\"x\r\nabc\r\n0\r\n\r\n",
        "3;a b\r\nabc\r\n0\r\n\r\n",
        "0\r\nX: 1\n\r\n",
        "0\r\n X: 1\r\n\r\n",
        "0\r\nX : 1\r\n\r\n",
    ] {
        refused(&s, &post("Transfer-Encoding: chunked\r\n", body), 400);
    }
}

#[test]
fn chunk_extension_and_trailer_limits() {
    let limits = evloop_http::proto::Limits::new()
        .with_max_chunk_ext(16)
        .with_max_trailer(32);
    let s = TestServer::with_options(evloop_http::server::ServerOptions::new().with_limits(limits));
    // At the limit: accepted.
    let ext = format!(";{}", "e".repeat(15));
    let ok = post(
        "Transfer-Encoding: chunked\r\n",
        &format!("3{ext}\r\nabc\r\n0\r\n\r\n"),
    );
    let mut c = s.connect();
    c.write_all(&ok).unwrap();
    assert_eq!(read_response(&mut c, false).status, 200);
    // One byte over: 400.
    let ext = format!(";{}", "e".repeat(16));
    refused(
        &s,
        &post(
            "Transfer-Encoding: chunked\r\n",
            &format!("3{ext}\r\nabc\r\n0\r\n\r\n"),
        ),
        400,
    );
    // Trailers: at the limit, then over it (431).
    let trailer = format!("X-T: {}\r\n\r\n", "v".repeat(32 - 9));
    let mut c = s.connect();
    c.write_all(&post(
        "Transfer-Encoding: chunked\r\n",
        &format!("0\r\n{trailer}"),
    ))
    .unwrap();
    let r = read_response(&mut c, false);
    assert_eq!(r.status, 200);
    assert!(
        r.text()
            .contains(&format!("trailers=x-t={};", "v".repeat(23))),
        "{}",
        r.text()
    );
    let trailer = format!("X-T: {}\r\n\r\n", "v".repeat(32 - 8));
    refused(
        &s,
        &post("Transfer-Encoding: chunked\r\n", &format!("0\r\n{trailer}")),
        431,
    );
}

#[test]
fn default_chunk_extension_limit() {
    let s = TestServer::start();
    let ext = format!(";{}", "e".repeat(2000));
    refused(
        &s,
        &post(
            "Transfer-Encoding: chunked\r\n",
            &format!("1{ext}\r\nx\r\n0\r\n\r\n"),
        ),
        400,
    );
}

#[test]
fn bodies_are_delimited_exactly() {
    let s = TestServer::start();
    let mut c = s.connect();
    let mut batch = post("Content-Length: 5\r\n", "abcde");
    batch.extend(post(
        "Transfer-Encoding: chunked\r\n",
        "2;name=\"quoted \\\" value\"\r\nfg\r\n1 ; a = b\r\nh\r\n0\r\nX-Sum: 3\r\nContent-Length: 99\r\n\r\n",
    ));
    // A body on GET is read as a body, never as a request.
    let inside = b"GET /inside-body HTTP/1.1\r\n\r\n\r\n";
    batch.extend_from_slice(
        format!(
            "GET /g HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            inside.len()
        )
        .as_bytes(),
    );
    batch.extend_from_slice(inside);
    batch.extend_from_slice(b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    c.write_all(&batch).unwrap();
    let resps = read_until_close(&mut c);
    let texts: Vec<String> = resps.iter().map(Resp::text).collect();
    assert_eq!(resps.len(), 4, "{texts:?}");
    assert!(resps.iter().all(|r| r.status == 200), "{resps:?}");
    assert!(texts[0].contains("body=5:abcde"), "{}", texts[0]);
    assert!(texts[1].contains("body=3:fgh"), "{}", texts[1]);
    // Trailers are passed on, but never a framing field.
    assert!(texts[1].contains("trailers=x-sum=3;\n"), "{}", texts[1]);
    assert!(
        texts[2].starts_with("GET /g ") && texts[2].contains("body=31:GET /inside-body"),
        "{}",
        texts[2]
    );
    assert!(texts[3].starts_with("GET /last "), "{}", texts[3]);
}

#[test]
fn trace_and_connect_with_a_body() {
    let s = TestServer::start();
    refused(
        &s,
        b"TRACE / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        400,
    );
    refused(
        &s,
        b"TRACE / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn body_over_the_limit() {
    let limits = evloop_http::proto::Limits::new().with_max_body(10);
    let s = TestServer::with_options(evloop_http::server::ServerOptions::new().with_limits(limits));
    let mut c = s.connect();
    c.write_all(&post("Content-Length: 10\r\n", "0123456789"))
        .unwrap();
    assert!(read_response(&mut c, false)
        .text()
        .contains("body=10:0123456789"));
    refused(&s, &post("Content-Length: 11\r\n", "0123456789a"), 413);
    // Chunked: known only once the chunks have added up past it.
    refused(
        &s,
        &post(
            "Transfer-Encoding: chunked\r\n",
            "6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n",
        ),
        413,
    );
    let mut c = s.connect();
    c.write_all(&post(
        "Transfer-Encoding: chunked\r\n",
        "6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n",
    ))
    .unwrap();
    assert!(read_response(&mut c, false)
        .text()
        .contains("body=10:0123456789"));
}

#[test]
fn huge_content_length_is_413_at_once() {
    let s = TestServer::start();
    let max = format!("Content-Length: {}\r\n", u64::MAX);
    refused(&s, &post(&max, "abc"), 413);
    refused(&s, &post("Content-Length: 8388609\r\n", "abc"), 413);
}
