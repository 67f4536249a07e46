//! The client against a scripted server writing hand-made bytes: strict
//! framing errors, close-delimited bodies, interim responses, leniency.

mod client_util;

use std::time::Duration;

use client_util::{client_loop, put, read_head, run_until, scripted};
use evloop_http::client::{ClientError, ClientExt, ClientOptions, RequestBody, Response};
use evloop_http::proto::{Lenient, Limits};
use http::{Request, StatusCode};

type Done = Vec<Result<Response, ClientError>>;

/// Sends `req` and runs the loop until its answer is in `done`.
fn send_and_wait(
    lp: &mut evloop::Loop<Done>,
    client: evloop_http::client::ClientId,
    req: Request<RequestBody>,
    done: &mut Done,
) {
    let n = done.len() + 1;
    lp.ctx()
        .client(client)
        .unwrap()
        .send(req, |_, d: &mut Done, r| d.push(r))
        .unwrap();
    run_until(lp, done, |d| d.len() == n);
}

/// One GET to a server that answers with `answer` and closes.
fn fetch(answer: &'static [u8], opts: ClientOptions) -> Result<Response, ClientError> {
    let (addr, server) = scripted(1, move |_, mut c| {
        read_head(&mut c);
        put(&mut c, answer);
        // Read until the client closes (or give up): the close is ours only
        // for close-delimited answers.
        std::thread::sleep(Duration::from_millis(50));
    });
    let (mut lp, client) = client_loop::<Done>(opts);
    let req = Request::get(format!("http://{addr}/"))
        .body(RequestBody::Empty)
        .unwrap();
    let mut done = Done::new();
    send_and_wait(&mut lp, client, req, &mut done);
    server.join().unwrap();
    done.pop().unwrap()
}

fn protocol_error(r: Result<Response, ClientError>) -> String {
    match r {
        Err(ClientError::Protocol(why)) => why,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn conflicting_lengths_are_an_error() {
    protocol_error(fetch(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ClientOptions::new(),
    ));
    protocol_error(fetch(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ClientOptions::new(),
    ));
}

#[test]
fn bad_chunk_size_is_an_error() {
    protocol_error(fetch(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        ClientOptions::new(),
    ));
    protocol_error(fetch(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        ClientOptions::new(),
    ));
}

#[test]
fn oversized_head_is_an_error() {
    let mut answer = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    answer.extend(std::iter::repeat_n(b'a', 4000));
    answer.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let answer: &'static [u8] = answer.leak();
    protocol_error(fetch(
        answer,
        ClientOptions::new().limits(Limits::new().with_max_head(1024)),
    ));
    // Within the default limits it is fine.
    assert_eq!(fetch(answer, ClientOptions::new()).unwrap().status(), 200);
}

#[test]
fn early_close_mid_body_is_an_error_not_a_short_body() {
    let r = fetch(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
        ClientOptions::new(),
    );
    assert!(matches!(r, Err(ClientError::Closed)), "{r:?}");
    let r = fetch(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ClientOptions::new(),
    );
    assert!(matches!(r, Err(ClientError::Closed)), "{r:?}");
    let r = fetch(b"HTTP/1.1 200 OK\r\nContent-Le", ClientOptions::new());
    assert!(matches!(r, Err(ClientError::Closed)), "{r:?}");
}

#[test]
fn close_delimited_body() {
    let r = fetch(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this, up to the close",
        ClientOptions::new(),
    )
    .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_10);
    assert_eq!(r.body(), "all of this, up to the close");
}

#[test]
fn interim_responses_are_kept_in_order() {
    let r = fetch(
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
          HTTP/1.1 100 Continue\r\n\r\n\
          HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ClientOptions::new(),
    )
    .unwrap();
    assert_eq!(r.body(), "ok");
    let statuses: Vec<u16> = r
        .informational()
        .iter()
        .map(|h| h.status.as_u16())
        .collect();
    assert_eq!(statuses, [103, 100]);
    assert_eq!(
        r.informational()[0].headers["link"],
        "</style.css>; rel=preload"
    );
}

#[test]
fn unrequested_switching_protocols_is_an_error() {
    protocol_error(fetch(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
        ClientOptions::new(),
    ));
}

#[test]
fn lenient_switches() {
    let folded: &'static [u8] =
        b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nContent-Length: 2\r\n\r\nok";
    protocol_error(fetch(folded, ClientOptions::new()));
    let lenient = Lenient {
        obs_fold: true,
        ..Lenient::default()
    };
    let r = fetch(folded, ClientOptions::new().lenient(lenient)).unwrap();
    assert_eq!(r.body(), "ok");

    let old: &'static [u8] = b"<html>no status line</html>";
    protocol_error(fetch(old, ClientOptions::new()));
    let r = fetch(old, ClientOptions::new().lenient(Lenient::all())).unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.version(), http::Version::HTTP_09);
    assert_eq!(r.body(), "<html>no status line</html>");
}

#[test]
fn a_response_split_anywhere_reads_the_same() {
    const ANSWER: &[u8] = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n\
        HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n\
        5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 12\r\n\r\n";
    for piece in [1, 3, 7] {
        let (addr, server) = scripted(1, move |_, mut c| {
            c.set_nodelay(true).unwrap();
            read_head(&mut c);
            for p in ANSWER.chunks(piece) {
                put(&mut c, p);
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(20));
        });
        let (mut lp, client) = client_loop::<Done>(ClientOptions::new());
        let req = Request::get(format!("http://{addr}/"))
            .body(RequestBody::Empty)
            .unwrap();
        let mut done = Done::new();
        send_and_wait(&mut lp, client, req, &mut done);
        server.join().unwrap();
        let r = done.pop().unwrap().unwrap();
        assert_eq!(r.body(), "hello, world", "pieces of {piece}");
        assert_eq!(r.trailers()["x-sum"], "12");
        assert_eq!(r.informational()[0].status, 103);
        // Read to its end: the connection was kept.
        assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 1);
    }
}

#[test]
fn mangled_responses_end_in_a_response_or_an_error() {
    const GOOD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello\
        HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let bytes: &[u8] = b"\r\n :;0aZ\t\x00\x7f-";
    let (addr, server) = scripted(60, {
        let mut cases = Vec::new();
        for _ in 0..60 {
            let mut v = GOOD.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % v.len();
                match next() % 3 {
                    0 => v[at] = bytes[(next() as usize) % bytes.len()],
                    1 => {
                        v.remove(at);
                    }
                    _ => v.insert(at, bytes[(next() as usize) % bytes.len()]),
                }
            }
            cases.push(v);
        }
        move |i, mut c| {
            read_head(&mut c);
            put(&mut c, &cases[i]);
        }
    });
    let (mut lp, client) = client_loop::<Done>(
        ClientOptions::new()
            .head_timeout(Some(Duration::from_secs(2)))
            .body_timeout(Some(Duration::from_secs(2))),
    );
    let mut done = Done::new();
    for _ in 0..60 {
        let req = Request::get(format!("http://{addr}/"))
            .header("connection", "close")
            .body(RequestBody::Empty)
            .unwrap();
        send_and_wait(&mut lp, client, req, &mut done);
    }
    server.join().unwrap();
    assert!(done.iter().any(|r| r.is_err()));
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 0);
}

/// Answers on one keep-alive connection whose heads repeat (the client
/// then reuses the last head it read): each answer is still read by its
/// own bytes and for its own request (a HEAD has no body, whatever the
/// repeated head says), heads split over writes, changed heads and
/// framing errors included.
#[test]
fn repeated_heads_on_a_connection_are_read_like_new_ones() {
    const A: &[u8] = b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 2\r\n\r\n";
    let answers: Vec<(http::Method, Vec<&'static [u8]>)> = vec![
        (http::Method::GET, vec![A, b"ab"]),
        (http::Method::GET, vec![A, b"cd"]),
        // The same head, answering HEAD: no body.
        (http::Method::HEAD, vec![A]),
        (http::Method::GET, vec![A, b"ef"]),
        // Split in the middle of the head, then the rest with the body.
        (http::Method::GET, vec![&A[..20], &A[20..], b"gh"]),
        // Another length.
        (
            http::Method::GET,
            vec![b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 3\r\n\r\nijk"],
        ),
        (http::Method::GET, vec![A, b"lm"]),
        // The head and the next one's start in one write.
        (
            http::Method::GET,
            vec![b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 2\r\n\r\nnoHTTP/1.1 2"],
        ),
        (
            http::Method::GET,
            vec![b"00 OK\r\nServer: s\r\nContent-Length: 2\r\n\r\npq"],
        ),
        // Lines known before, and one more that breaks the framing.
        (
            http::Method::GET,
            vec![b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"],
        ),
    ];
    let n = answers.len();
    let script: Vec<Vec<&'static [u8]>> = answers.iter().map(|(_, w)| w.clone()).collect();
    let (addr, server) = scripted(1, move |_, mut c| {
        for writes in &script {
            read_head(&mut c);
            for w in writes {
                put(&mut c, w);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    });
    let (mut lp, client) = client_loop::<Done>(ClientOptions::new());
    let mut done = Done::new();
    for (method, _) in &answers {
        let req = Request::builder()
            .method(method.clone())
            .uri(format!("http://{addr}/"))
            .body(RequestBody::Empty)
            .unwrap();
        send_and_wait(&mut lp, client, req, &mut done);
    }
    server.join().unwrap();
    let bodies: Vec<String> = done[..n - 1]
        .iter()
        .map(|r| {
            let r = r.as_ref().expect("a response");
            assert_eq!(r.headers()["server"], "s");
            String::from_utf8_lossy(r.body()).into_owned()
        })
        .collect();
    assert_eq!(
        bodies,
        ["ab", "cd", "", "ef", "gh", "ijk", "lm", "no", "pq"]
    );
    assert!(protocol_error(done.pop().unwrap()).contains("Content-Length"));
}
