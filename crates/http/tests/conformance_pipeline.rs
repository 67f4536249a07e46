//! Pipelining and hostile timing over a real socket: a batch with a
//! framing error in the middle is answered up to the error and no further;
//! heads and chunked bodies arriving a byte at a time are answered as if
//! they had come at once.

mod conformance_common;

use std::io::Write;

use conformance_common::*;

#[test]
fn error_in_the_middle_of_a_batch() {
    let s = TestServer::start();
    let batch = [
        &b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok",
        b"POST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"0\r\n\r\n",
        b"GET /4 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /5 HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    .concat();
    let resps = s.exchange(&batch);
    let statuses: Vec<u16> = resps.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 400], "{resps:?}");
    assert!(resps[0].text().starts_with("GET /1 "));
    assert!(resps[1].text().starts_with("POST /2 ") && resps[1].text().contains("body=2:ok"));
    assert!(resps[2].closes());
}

#[test]
fn error_in_a_chunked_body_mid_batch() {
    let s = TestServer::start();
    let batch = [
        &b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"3\r\nabc\r\nzz\r\n",
        b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    .concat();
    let resps = s.exchange(&batch);
    let statuses: Vec<u16> = resps.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400], "{resps:?}");
}

#[test]
fn bytes_after_a_refused_head_are_never_parsed() {
    let s = TestServer::start();
    // The body of the refused request holds a complete request: it must
    // not be answered (a smuggling attempt through CL/TE disagreement).
    let batch =
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n\
                  0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let resps = s.exchange(batch);
    assert_eq!(resps.len(), 1, "{resps:?}");
    assert_eq!(resps[0].status, 400);
}

#[test]
fn pipelined_batch_answered_in_order() {
    let s = TestServer::start();
    let mut batch = Vec::new();
    for i in 0..40 {
        batch.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    batch.extend_from_slice(b"GET /end HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let resps = s.exchange(&batch);
    assert_eq!(resps.len(), 41);
    for (i, r) in resps.iter().take(40).enumerate() {
        assert!(
            r.text().starts_with(&format!("GET /{i} ")),
            "{i}: {}",
            r.text()
        );
    }
    assert!(resps[40].text().starts_with("GET /end "));
}

#[test]
fn head_a_byte_at_a_time() {
    let s = TestServer::start();
    let mut c = s.connect();
    let req = b"GET /slow?x=1 HTTP/1.1\r\nHost: ex.org\r\nX-Long: 0123456789abcdef\r\n\r\n";
    write_bytewise(&mut c, req);
    let r = read_response(&mut c, false);
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("GET /slow?x=1 HTTP/1.1"),
        "{}",
        r.text()
    );
    // And a refusal found a byte at a time is the same refusal.
    let mut c = s.connect();
    write_bytewise(&mut c, b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\n\r\n");
    let resps = read_until_close(&mut c);
    assert_eq!(resps.len(), 1);
    assert_eq!(resps[0].status, 400);
}

#[test]
fn chunked_body_a_byte_at_a_time() {
    let s = TestServer::start();
    let mut c = s.connect();
    let req = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                4;ext=\"v\"\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Check: ok\r\n\r\n";
    write_bytewise(&mut c, req);
    let r = read_response(&mut c, false);
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("body=23:Wikipedia in\r\n\r\nchunks."),
        "{}",
        r.text()
    );
    assert!(r.text().contains("trailers=x-check=ok;"), "{}", r.text());
    // The connection is still in step: a next request is answered.
    write_bytewise(&mut c, b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(read_response(&mut c, false)
        .text()
        .starts_with("GET /next "));
}

#[test]
fn content_length_body_a_byte_at_a_time() {
    let s = TestServer::start();
    let mut c = s.connect();
    write_bytewise(
        &mut c,
        b"PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789",
    );
    let r = read_response(&mut c, false);
    assert!(r.text().contains("body=10:0123456789"), "{}", r.text());
}

#[test]
fn head_requests_have_no_body() {
    let s = TestServer::start();
    let mut c = s.connect();
    c.write_all(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let head = read_response(&mut c, true);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    // Had the HEAD response carried a body, this would read it instead.
    let next = read_response(&mut c, false);
    assert!(next.text().starts_with("GET /after "), "{}", next.text());
}

#[test]
fn client_half_close_after_a_request_still_gets_the_answer() {
    let s = TestServer::start();
    let mut c = s.connect();
    c.write_all(b"GET /bye HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    finish(&c);
    let resps = read_until_close(&mut c);
    assert_eq!(resps.len(), 1);
    assert!(resps[0].text().starts_with("GET /bye "));
}

#[test]
fn incomplete_request_then_close_gets_no_answer() {
    let s = TestServer::start();
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    finish(&c);
    let resps = read_until_close(&mut c);
    // A 400 is allowed (RFC 9112 section 9.6 has no rule), a response
    // to the incomplete request as if complete is not.
    assert!(resps.iter().all(|r| r.status == 400), "{resps:?}");
}

#[test]
fn error_waits_for_the_answers_before_it() {
    use evloop_http::server::{Body, Reply, ServerOptions};
    use http::{Method, Response};
    use std::time::Duration;

    let s = TestServer::with_router(ServerOptions::new(), |router| {
        router.exact("/late", &[Method::GET], |ctx, _, req| {
            let r = req.responder();
            ctx.once_timer(Duration::from_millis(30), move |ctx, _, _| {
                let _ = r.respond(ctx, Response::new(Body::from("late answer")));
            })
            .unwrap();
            Reply::Later
        });
        router.fallback(|_, _, req| echo(&req));
    });
    let batch = [
        &b"GET /late HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /now HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"GET /never HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    .concat();
    let resps = s.exchange(&batch);
    let statuses: Vec<u16> = resps.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 400], "{resps:?}");
    assert_eq!(resps[0].text(), "late answer");
    assert!(resps[1].text().starts_with("GET /now "));
}

#[test]
fn empty_lines_between_pipelined_requests_are_skipped() {
    let s = TestServer::start();
    let batch = b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\n\
                  GET /2 HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\n\
                  GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let resps = s.exchange(batch);
    let firsts: Vec<String> = resps
        .iter()
        .map(|r| r.text().lines().next().unwrap().to_string())
        .collect();
    assert_eq!(
        firsts,
        ["POST /1 HTTP/1.1", "GET /2 HTTP/1.1", "GET /3 HTTP/1.1"]
    );
}

#[test]
fn deep_pipeline_beyond_the_read_ahead_limit() {
    let s = TestServer::with_options(evloop_http::server::ServerOptions::new().max_pipeline(4));
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    batch.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n");
    batch.extend_from_slice(b"GET /never HTTP/1.1\r\nHost: a\r\n\r\n");
    let resps = s.exchange(&batch);
    assert_eq!(resps.len(), 101);
    for (i, r) in resps.iter().take(100).enumerate() {
        assert!(
            r.text().starts_with(&format!("GET /{i} ")),
            "{i}: {}",
            r.text()
        );
    }
    assert_eq!(resps[100].status, 400);
}

#[test]
fn keep_alive_by_version_and_connection() {
    let s = TestServer::start();
    // 1.0 with keep-alive: kept open, and said so.
    let mut c = s.connect();
    c.write_all(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r = read_response(&mut c, false);
    assert!(
        r.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")),
        "{r:?}"
    );
    c.write_all(b"GET /b HTTP/1.0\r\n\r\n").unwrap();
    let rest = read_until_close(&mut c);
    assert_eq!(rest.len(), 1);
    assert!(rest[0].text().starts_with("GET /b "));
    // 1.1 with close: answered, then closed.
    let resps = s.exchange(b"GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(resps.len(), 1);
    assert!(resps[0].closes());
}

#[test]
fn streaming_handler_hears_of_a_framing_error() {
    use evloop_http::server::{Body, BodyChunk, Reply, ServerOptions};
    use http::{Method, Response};
    use std::sync::{Arc, Mutex};

    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let s = TestServer::with_router(ServerOptions::new(), move |router| {
        router
            .exact("/stream", &[Method::POST], move |ctx, _, req| {
                let log = log.clone();
                req.responder()
                    .read_body(ctx, move |ctx, _, r, chunk| {
                        let event = match &chunk {
                            BodyChunk::Data(b) => format!("data {}", String::from_utf8_lossy(b)),
                            BodyChunk::End(_) => "end".to_string(),
                            BodyChunk::Aborted => "aborted".to_string(),
                        };
                        log.lock().unwrap().push(event);
                        if matches!(chunk, BodyChunk::End(_)) {
                            let _ = r.respond(ctx, Response::new(Body::from("done")));
                        }
                    })
                    .unwrap();
                Reply::Later
            })
            .stream_body();
    });
    let batch = b"POST /stream HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                  3\r\nabc\r\n3\r\ndefX\r\n0\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n";
    let resps = s.exchange(batch);
    let statuses: Vec<u16> = resps.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400], "{resps:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last().map(String::as_str), Some("aborted"), "{seen:?}");
    assert!(!seen.contains(&"end".to_string()), "{seen:?}");
}

#[test]
fn an_unread_body_is_never_parsed_as_a_request() {
    use evloop_http::server::{Body, ServerOptions};
    use http::{Method, Response};

    let s = TestServer::with_router(ServerOptions::new(), |router| {
        // Answers at once and never reads the body.
        router
            .exact("/ignore", &[Method::POST], |_, _, _| {
                Response::new(Body::from("ignored"))
            })
            .stream_body();
        router.fallback(|_, _, req| echo(&req));
    });
    let inner = b"GET /inner HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut batch = format!(
        "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        inner.len()
    )
    .into_bytes();
    batch.extend_from_slice(inner);
    batch.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let resps = s.exchange(&batch);
    assert_eq!(resps[0].text(), "ignored");
    assert!(
        resps.iter().all(|r| !r.text().contains("/inner")),
        "{resps:?}"
    );
    // Either the body was skipped and the next request answered, or the
    // connection closed after the first answer.
    match resps.len() {
        1 => assert!(resps[0].closes()),
        2 => assert!(resps[1].text().starts_with("GET /after ")),
        _ => panic!("{resps:?}"),
    }
}

#[test]
fn odd_but_valid_chunk_lines() {
    let s = TestServer::start();
    let mut c = s.connect();
    c.write_all(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          0003\r\nabc\r\nA;a;b=\"c;d\";e=f\r\n0123456789\r\n000\r\n\r\n",
    )
    .unwrap();
    let r = read_response(&mut c, false);
    assert!(r.text().contains("body=13:abc0123456789"), "{}", r.text());
}
