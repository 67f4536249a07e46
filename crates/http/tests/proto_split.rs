//! The request parser and the chunked decoder give the same answer however
//! the input is split across reads, and never panic: arbitrary bytes,
//! HTTP-flavoured noise, and valid but randomised pipelined requests.

use bytes::Bytes;
use evloop_buffer::Buffer;
use evloop_http::proto::{
    parse_request_head, BodyKind, ChunkStep, ChunkedDecoder, HeadScanner, Limits,
};
use proptest::prelude::*;

/// Where a connection reading its input stands.
enum Phase {
    Head,
    Length(u64, Vec<u8>),
    Chunked(Box<ChunkedDecoder>, Buffer),
}

/// Reads pipelined requests from `bytes` delivered in the pieces `cuts`
/// delimit, moving at most `room` body bytes per decode call. Returns one
/// line per event (a head, a body, trailers, an error), then where it
/// stopped.
fn drive(bytes: &[u8], cuts: &[usize], room: usize, limits: &Limits) -> Vec<String> {
    let mut events = Vec::new();
    let mut input = Buffer::new();
    let mut scanner = HeadScanner::new();
    let mut phase = Phase::Head;
    let mut from = 0;
    for end in cuts.iter().copied().chain([bytes.len()]) {
        let end = end.clamp(from, bytes.len());
        // Each piece its own chunk: scans cross chunk boundaries.
        input.add_bytes(Bytes::copy_from_slice(&bytes[from..end]));
        from = end;
        loop {
            match &mut phase {
                Phase::Head => match scanner.scan(&input, limits) {
                    Err(e) => {
                        events.push(format!("scan error {e}"));
                        return events;
                    }
                    Ok(None) => break,
                    Ok(Some(n)) => {
                        let head = input.split_to(n);
                        match parse_request_head(&head, limits) {
                            Err(e) => {
                                events.push(format!("parse error {e}"));
                                return events;
                            }
                            Ok(h) => {
                                events.push(format!("head {h:?}"));
                                phase = match h.body {
                                    BodyKind::None => Phase::Head,
                                    BodyKind::Length(n) => Phase::Length(n, Vec::new()),
                                    BodyKind::Chunked => Phase::Chunked(
                                        Box::new(ChunkedDecoder::new(limits)),
                                        Buffer::new(),
                                    ),
                                };
                            }
                        }
                    }
                },
                Phase::Length(left, body) => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    body.extend_from_slice(&input.split_to(n));
                    *left -= n as u64;
                    if *left > 0 {
                        break;
                    }
                    events.push(format!("body {:?}", Bytes::from(std::mem::take(body))));
                    phase = Phase::Head;
                }
                Phase::Chunked(dec, body) => match dec.decode(&mut input, body, room) {
                    Err(e) => {
                        events.push(format!("chunk error {e}"));
                        return events;
                    }
                    Ok(ChunkStep::NeedMore) => break,
                    Ok(ChunkStep::Data(n)) => assert!(n > 0 && n <= room),
                    Ok(ChunkStep::Done { trailers }) => {
                        events.push(format!("body {:?}", body.split_to(usize::MAX)));
                        events.push(format!("trailers {trailers:?}"));
                        phase = Phase::Head;
                    }
                },
            }
        }
    }
    let at = match phase {
        Phase::Head => format!("in head, scanned {}", scanner.scanned()),
        Phase::Length(left, body) => format!("in body, {} read, {left} left", body.len()),
        Phase::Chunked(dec, _) => format!("in chunked body, {} decoded", dec.decoded()),
    };
    events.push(format!("{at}; {} bytes unread", input.len()));
    events
}

fn small_limits() -> Limits {
    Limits::new()
        .with_max_request_line(40)
        .with_max_head(120)
        .with_max_headers(4)
        .with_max_chunk_ext(12)
        .with_max_trailer(30)
}

/// Sorted cut points inside `len` bytes.
fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..=len, 0..12).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

/// Pieces that make the parsers take their deeper paths.
fn http_noise() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&str] = &[
        "GET ",
        "POST ",
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
    proptest::collection::vec(proptest::sample::select(PIECES), 0..60)
        .prop_map(|v| v.concat().into_bytes())
}

/// One valid request, its body (none without framing) and whether it is
/// chunked.
fn valid_request() -> impl Strategy<Value = (Vec<u8>, Option<Vec<u8>>, bool)> {
    let fields = proptest::collection::vec(("[a-z]{1,6}", "[ -~]{0,12}"), 0..4);
    let data = proptest::collection::vec(any::<u8>(), 0..200);
    let chunking = proptest::collection::vec(1usize..50, 1..8);
    let ext =
        proptest::option::of("( ?;[a-z]{1,3}(=([a-z0-9]{1,4}|\"([ a-z]|\\\\\"){0,4}\"))?){1,2}");
    let trailers = proptest::collection::vec(("t-[a-z]{1,4}", "[a-z0-9]{0,6}"), 0..3);
    (
        prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")],
        "/[a-z0-9/]{0,10}",
        fields,
        0u8..3,
        data,
        chunking,
        ext,
        trailers,
    )
        .prop_map(
            |(method, path, fields, framing, data, chunking, ext, trailers)| {
                let mut req = format!("{method} {path} HTTP/1.1\r\nHost: ex.org\r\n").into_bytes();
                for (name, value) in &fields {
                    req.extend_from_slice(format!("x-{name}: {value}\r\n").as_bytes());
                }
                match framing {
                    0 => req.extend_from_slice(b"\r\n"),
                    1 => {
                        let cl = format!("Content-Length: {}\r\n\r\n", data.len());
                        req.extend_from_slice(cl.as_bytes());
                        req.extend_from_slice(&data);
                    }
                    _ => {
                        req.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                        let ext = ext.as_deref().unwrap_or("");
                        let mut rest = &data[..];
                        for size in chunking.iter().cycle() {
                            if rest.is_empty() {
                                break;
                            }
                            let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                            req.extend_from_slice(format!("{:x}{ext}\r\n", chunk.len()).as_bytes());
                            req.extend_from_slice(chunk);
                            req.extend_from_slice(b"\r\n");
                            rest = tail;
                        }
                        req.extend_from_slice(b"0\r\n");
                        for (name, value) in &trailers {
                            req.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
                        }
                        req.extend_from_slice(b"\r\n");
                    }
                }
                let body = (framing != 0).then_some(data);
                (req, body, framing == 2)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_split_anywhere(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                      cuts in cuts(300), room in 1usize..64) {
        for limits in [Limits::default(), small_limits()] {
            let whole = drive(&bytes, &[], usize::MAX, &limits);
            prop_assert_eq!(&drive(&bytes, &cuts, room, &limits), &whole);
        }
    }

    #[test]
    fn http_noise_split_anywhere(bytes in http_noise(), cuts in cuts(400), room in 1usize..16) {
        for limits in [Limits::default(), small_limits()] {
            let whole = drive(&bytes, &[], usize::MAX, &limits);
            prop_assert_eq!(&drive(&bytes, &cuts, room, &limits), &whole);
            let bytewise: Vec<usize> = (1..bytes.len()).collect();
            prop_assert_eq!(&drive(&bytes, &bytewise, room, &limits), &whole);
        }
    }

    #[test]
    fn valid_pipelined_requests(reqs in proptest::collection::vec(valid_request(), 1..4),
                                cuts in cuts(2000), room in 1usize..300) {
        let bytes: Vec<u8> = reqs.iter().flat_map(|(r, _, _)| r.clone()).collect();
        let limits = Limits::default();
        let whole = drive(&bytes, &[], usize::MAX, &limits);
        let mut events = whole.iter();
        for (_, body, chunked) in &reqs {
            let head = events.next().unwrap();
            prop_assert!(head.starts_with("head "), "{}", head);
            if let Some(body) = body {
                let want = format!("body {:?}", Bytes::copy_from_slice(body));
                prop_assert_eq!(events.next().unwrap(), &want);
                if *chunked {
                    prop_assert!(events.next().unwrap().starts_with("trailers "));
                }
            }
        }
        prop_assert_eq!(events.next().unwrap(), "in head, scanned 0; 0 bytes unread");
        prop_assert_eq!(&drive(&bytes, &cuts, room, &limits), &whole);
        let bytewise: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(&drive(&bytes, &bytewise, room, &limits), &whole);
    }
}
