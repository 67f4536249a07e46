//! The client against a scripted server writing hand-made bytes: strict
//! framing errors, close-delimited bodies, interim responses, leniency.

mod client_util;

use std::time::Duration;

use client_util::{client_loop, put, read_head, run_until, scripted};
use evloop_http::client::{ClientError, ClientExt, ClientOptions, RequestBody, Response};
use evloop_http::proto::{Lenient, Limits};
use http::{Request, StatusCode};

type Done = Vec<Result<Response, ClientError>>;

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
    lp.ctx()
        .client(client)
        .unwrap()
        .send(req, |_, d: &mut Done, r| d.push(r))
        .unwrap();
    let mut done = Done::new();
    run_until(&mut lp, &mut done, |d| !d.is_empty());
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
