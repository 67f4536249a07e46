//! The loop-level WebSocket over a socket pair: a server WebSocket
//! against a peer that sends hand-written frames (and reads back what
//! the server sends), and our own client against our own server.

use std::time::Duration;

use bytes::Bytes;
use evloop::{Ctx, Loop, RunMode};
use evloop_buffer::{Buffer, StreamEvent, StreamExt, StreamId};
use evloop_http::ws::{
    encode_frame, CloseCode, CloseFrame, Closed, Config, Decoder, Message, OpCode, Role, SendError,
    WebSocketExt, WsId,
};

#[derive(Default)]
struct Log {
    /// What the server's message callback got.
    got: Vec<Message>,
    /// What its close callback got.
    closed: Option<Closed>,
    /// Every byte the raw peer read, and whether it saw EOF.
    peer_bytes: Vec<u8>,
    peer_eof: bool,
}

const KEY: Option<[u8; 4]> = Some([9, 8, 7, 6]);

fn frame(op: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Buffer::new();
    encode_frame(&mut out, op, fin, payload, KEY);
    out.split_to(usize::MAX).to_vec()
}

fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    frame(
        OpCode::Close,
        true,
        &[&code.to_be_bytes()[..], reason.as_bytes()].concat(),
    )
}

/// A raw peer: records what it reads, closes at EOF.
fn raw_peer(ctx: &mut Ctx<'_, Log>, peer: StreamId, wire: &[u8], hang_up: bool) {
    let mut s = ctx.stream(peer).unwrap();
    s.write(wire);
    s.on_read(|ctx, log, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        log.peer_bytes.extend_from_slice(&s.input().split_to(n));
    });
    s.on_event(|ctx, log, id, ev| {
        if matches!(ev, StreamEvent::Eof) {
            log.peer_eof = true;
        }
        if let Ok(s) = ctx.stream(id) {
            s.close();
        }
    });
    if hang_up {
        s.close_when_flushed();
    }
}

/// The server side: echoes text and binary, logs everything.
fn echo_server(ctx: &mut Ctx<'_, Log>, stream: StreamId, config: Config) -> WsId {
    let id = ctx.new_websocket(stream, Role::Server, config).unwrap();
    let mut ws = ctx.websocket(id).unwrap();
    ws.on_message(|ctx, log, id, msg| {
        let mut ws = ctx.websocket(id).unwrap();
        // After our close frame nothing more may be sent.
        let open = ws.is_open();
        match &msg {
            Message::Text(t) if open => ws.send_text(t).unwrap(),
            Message::Binary(b) if open => ws.send_binary(b.clone()).unwrap(),
            _ => {}
        }
        log.got.push(msg);
    });
    ws.on_close(|ctx, log, id, closed| {
        assert!(
            ctx.websocket(id).is_err(),
            "the handle is stale in on_close"
        );
        log.closed = Some(closed);
    });
    id
}

/// Runs an echo server against a raw peer that sends `wire`.
fn serve(wire: &[u8], config: Config, hang_up: bool) -> Log {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let (server, peer) = ctx.new_stream_pair().unwrap();
    echo_server(&mut ctx, server, config);
    raw_peer(&mut ctx, peer, wire, hang_up);
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    log
}

/// The frames the server sent to the peer.
fn server_frames(log: &Log) -> Vec<Message> {
    let mut dec = Decoder::new(Role::Client, 1 << 24);
    let mut input = Buffer::new();
    input.add(&log.peer_bytes);
    let mut out = Vec::new();
    while let Some(m) = dec
        .decode(&mut input)
        .expect("the server's frames are valid")
    {
        out.push(m);
    }
    assert!(input.is_empty(), "no partial frame left");
    out
}

fn close_msg(code: CloseCode, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

#[test]
fn echo_fragmented_with_ping_then_client_close() {
    let mut wire = frame(OpCode::Text, false, "frag".as_bytes());
    wire.extend(frame(OpCode::Ping, true, b"p1"));
    wire.extend(frame(OpCode::Continuation, true, "mented ✓".as_bytes()));
    wire.extend(frame(OpCode::Binary, true, &[0, 1, 2, 255]));
    wire.extend(close_frame(1000, "bye"));
    let log = serve(&wire, Config::default(), false);
    assert_eq!(
        log.got,
        [
            Message::Ping("p1".into()),
            Message::Text("fragmented ✓".into()),
            Message::Binary(Bytes::from_static(&[0, 1, 2, 255])),
            close_msg(CloseCode::NORMAL, "bye"),
        ]
    );
    assert_eq!(
        server_frames(&log),
        [
            Message::Pong("p1".into()),
            Message::Text("fragmented ✓".into()),
            Message::Binary(Bytes::from_static(&[0, 1, 2, 255])),
            close_msg(CloseCode::NORMAL, ""), // the code echoed
        ]
    );
    assert!(log.peer_eof, "the server closes the TCP connection");
    assert_eq!(
        log.closed,
        Some(Closed {
            code: CloseCode::NORMAL,
            reason: "bye".into(),
            clean: true
        })
    );
}

#[test]
fn empty_close_is_answered_with_an_empty_close() {
    let log = serve(&frame(OpCode::Close, true, b""), Config::default(), false);
    assert_eq!(server_frames(&log), [Message::Close(None)]);
    assert_eq!(
        log.closed,
        Some(Closed {
            code: CloseCode::NO_STATUS,
            reason: String::new(),
            clean: true
        })
    );
    assert!(log.peer_eof);
}

#[test]
fn nothing_after_the_close_frame_is_delivered() {
    let mut wire = close_frame(1001, "");
    wire.extend(frame(OpCode::Text, true, b"late"));
    let log = serve(&wire, Config::default(), false);
    assert_eq!(log.got, [close_msg(CloseCode::GOING_AWAY, "")]);
    assert_eq!(server_frames(&log), [close_msg(CloseCode::GOING_AWAY, "")]);
}

#[test]
fn protocol_violations_fail_with_their_close_code() {
    let mut too_big = frame(OpCode::Binary, true, &[0; 200]);
    too_big.truncate(4 + 4); // the header only: refused before the payload
    let mut not_utf8 = frame(OpCode::Text, false, b"ok\xed\xa0\x80"); // a surrogate, no FIN
    not_utf8.extend(frame(OpCode::Continuation, true, b"x"));
    let mut unmasked = Buffer::new();
    encode_frame(&mut unmasked, OpCode::Text, true, b"hi", None);
    let mut data_in_fragmented = frame(OpCode::Text, false, b"a");
    data_in_fragmented.extend(frame(OpCode::Text, true, b"b"));
    let mut rsv = frame(OpCode::Text, true, b"x");
    rsv[0] |= 0x40;
    let mut opcode = frame(OpCode::Text, true, b"x");
    opcode[0] = 0x83;
    let cases: Vec<(&str, Vec<u8>, CloseCode)> = vec![
        ("rsv bit", rsv, CloseCode::PROTOCOL_ERROR),
        ("reserved opcode", opcode, CloseCode::PROTOCOL_ERROR),
        (
            "unmasked",
            unmasked.split_to(usize::MAX).to_vec(),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "fragmented ping",
            frame(OpCode::Ping, false, b""),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "long ping",
            frame(OpCode::Ping, true, &[1; 126]),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "continuation first",
            frame(OpCode::Continuation, true, b"x"),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "new message in fragmented",
            data_in_fragmented,
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "close 1 byte",
            frame(OpCode::Close, true, b"\x03"),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "close code 1005",
            close_frame(1005, ""),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "close code 1006",
            close_frame(1006, ""),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "close code 999",
            close_frame(999, ""),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "close code 5000",
            close_frame(5000, ""),
            CloseCode::PROTOCOL_ERROR,
        ),
        (
            "close reason not utf-8",
            frame(OpCode::Close, true, b"\x03\xe8\xc0\xaf"),
            CloseCode::INVALID_PAYLOAD,
        ),
        ("text not utf-8", not_utf8, CloseCode::INVALID_PAYLOAD),
        ("too big", too_big, CloseCode::MESSAGE_TOO_BIG),
    ];
    let config = Config {
        max_message_size: 100,
        ..Config::default()
    };
    for (what, wire, code) in cases {
        let log = serve(&wire, config.clone(), false);
        let frames = server_frames(&log);
        assert_eq!(
            frames.len(),
            1,
            "{what}: one close frame and nothing else: {frames:?}"
        );
        assert!(
            matches!(&frames[0], Message::Close(Some(f)) if f.code == code),
            "{what}: {frames:?}"
        );
        assert!(log.peer_eof, "{what}: the connection is closed");
        let closed = log.closed.unwrap();
        assert_eq!((closed.code, closed.clean), (code, false), "{what}");
        assert!(
            log.got.is_empty(),
            "{what}: nothing delivered: {:?}",
            log.got
        );
    }
}

#[test]
fn peer_hanging_up_without_close_is_abnormal() {
    let log = serve(&frame(OpCode::Text, true, b"hi"), Config::default(), true);
    assert_eq!(log.got, [Message::Text("hi".into())]);
    assert_eq!(
        log.closed,
        Some(Closed {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
            clean: false
        })
    );
}

#[test]
fn server_initiated_close_waits_for_the_answer() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let (server, peer) = ctx.new_stream_pair().unwrap();
    let id = echo_server(&mut ctx, server, Config::default());
    let mut ws = ctx.websocket(id).unwrap();
    ws.send_text("last words").unwrap();
    ws.close(CloseCode(4000), "going").unwrap();
    assert!(!ws.is_open());
    assert_eq!(ws.send_text("more"), Err(SendError::Closed));
    assert_eq!(ws.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
    // The peer still sends a message, then answers the close.
    let mut wire = frame(OpCode::Text, true, b"in flight");
    wire.extend(close_frame(4000, ""));
    raw_peer(&mut ctx, peer, &wire, false);
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    assert_eq!(
        log.got,
        [
            Message::Text("in flight".into()),
            close_msg(CloseCode(4000), "")
        ]
    );
    assert_eq!(
        server_frames(&log),
        [
            Message::Text("last words".into()),
            close_msg(CloseCode(4000), "going")
        ],
        "no echo of the message received after our close, and no second close"
    );
    assert_eq!(
        log.closed,
        Some(Closed {
            code: CloseCode(4000),
            reason: String::new(),
            clean: true
        })
    );
    assert!(log.peer_eof);
}

#[test]
fn unanswered_close_times_out() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let (server, peer) = ctx.new_stream_pair().unwrap();
    let config = Config {
        close_timeout: Duration::from_millis(50),
        ..Config::default()
    };
    let id = echo_server(&mut ctx, server, config);
    ctx.websocket(id)
        .unwrap()
        .close(CloseCode::NORMAL, "")
        .unwrap();
    raw_peer(&mut ctx, peer, b"", false); // reads, never answers
    let start = std::time::Instant::now();
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(server_frames(&log), [close_msg(CloseCode::NORMAL, "")]);
    assert_eq!(
        log.closed,
        Some(Closed {
            code: CloseCode::ABNORMAL,
            reason: String::new(),
            clean: false
        })
    );
    assert!(log.peer_eof);
}

#[test]
fn bytes_read_before_the_websocket_was_made_are_not_lost() {
    // As after an HTTP upgrade: the first frames arrived with the
    // handshake and sit in the stream's input when the WebSocket is made.
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let (server, peer) = ctx.new_stream_pair().unwrap();
    ctx.stream(server).unwrap().on_read(|ctx, _, sid| {
        // Wait for all of it (both frames) so it is all in the input.
        if ctx.stream(sid).unwrap().input().len() < 2 * (6 + 5) {
            return;
        }
        echo_server(ctx, sid, Config::default());
    });
    let mut wire = frame(OpCode::Text, true, b"first");
    wire.extend(frame(OpCode::Text, true, b"other"));
    raw_peer(&mut ctx, peer, &wire, false);
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Once).unwrap();
    lp.run(&mut log, RunMode::NoWait).unwrap();
    assert_eq!(
        log.got,
        [Message::Text("first".into()), Message::Text("other".into())]
    );
}

#[test]
fn our_client_against_our_server_big_and_many() {
    #[derive(Default)]
    struct Both {
        client_got: Vec<Message>,
        client_closed: Option<Closed>,
        server_closed: Option<Closed>,
    }
    let mut lp: Loop<Both> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let (a, b) = ctx.new_stream_pair().unwrap();
    let server = ctx
        .new_websocket(a, Role::Server, Config::default())
        .unwrap();
    let mut ws = ctx.websocket(server).unwrap();
    ws.on_message(|ctx, _, id, msg| {
        let mut ws = ctx.websocket(id).unwrap();
        match msg {
            Message::Text(t) => ws.send_text(&t).unwrap(),
            Message::Binary(b) => ws.send_binary(b).unwrap(),
            _ => {}
        }
    });
    ws.on_close(|_, both, _, c| both.server_closed = Some(c));
    let client = ctx
        .new_websocket(b, Role::Client, Config::default())
        .unwrap();
    let mut ws = ctx.websocket(client).unwrap();
    assert_eq!(ws.role(), Role::Client);
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    ws.send_binary(big.clone()).unwrap();
    for i in 0..100 {
        ws.send_text(&format!("message {i}")).unwrap();
    }
    assert!(ws.buffered_amount() > 5_000_000);
    ws.on_message(|ctx, both, id, msg| {
        both.client_got.push(msg);
        if both.client_got.len() == 101 {
            ctx.websocket(id)
                .unwrap()
                .close(CloseCode::NORMAL, "enough")
                .unwrap();
        }
    });
    ws.on_close(|_, both, _, c| both.client_closed = Some(c));
    let mut both = Both::default();
    lp.run(&mut both, RunMode::Default).unwrap();
    assert_eq!(
        both.client_got.len(),
        102,
        "101 echoes and the close answer"
    );
    assert_eq!(both.client_got[0], Message::Binary(big.into()));
    for i in 0..100 {
        assert_eq!(
            both.client_got[i + 1],
            Message::Text(format!("message {i}"))
        );
    }
    assert_eq!(
        both.server_closed,
        Some(Closed {
            code: CloseCode::NORMAL,
            reason: "enough".into(),
            clean: true
        })
    );
    assert_eq!(
        both.client_closed,
        Some(Closed {
            code: CloseCode::NORMAL,
            reason: String::new(),
            clean: true
        })
    );
    assert!(matches!(
        lp.ctx().websocket(client),
        Err(evloop::Error::StaleHandle)
    ));
}

#[test]
fn send_refuses_what_cannot_be_sent() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let (a, _b) = ctx.new_stream_pair().unwrap();
    let id = ctx
        .new_websocket(a, Role::Server, Config::default())
        .unwrap();
    let mut ws = ctx.websocket(id).unwrap();
    assert_eq!(ws.ping(vec![0; 126]), Err(SendError::ControlTooLong(126)));
    assert_eq!(
        ws.close(CloseCode::ABNORMAL, ""),
        Err(SendError::InvalidCloseCode(CloseCode::ABNORMAL))
    );
    assert_eq!(
        ws.close(CloseCode::NORMAL, &"x".repeat(124)),
        Err(SendError::ReasonTooLong(124))
    );
    assert_eq!(ws.buffered_amount(), 0, "nothing queued by a refused send");
    assert!(ws.is_open(), "a refused close does not start closing");
}

#[test]
fn foreign_and_plain_stream_handles_are_refused() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let mut other: Loop<Log> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let (a, b) = ctx.new_stream_pair().unwrap();
    let id = ctx
        .new_websocket(a, Role::Server, Config::default())
        .unwrap();
    assert!(matches!(
        other.ctx().websocket(id),
        Err(evloop::Error::ForeignHandle)
    ));
    assert!(other
        .ctx()
        .new_websocket(b, Role::Server, Config::default())
        .is_err());
    assert_eq!(id.stream(), a);
}

#[test]
fn a_stream_closed_directly_makes_the_handle_stale() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let (a, _b) = ctx.new_stream_pair().unwrap();
    let id = ctx
        .new_websocket(a, Role::Server, Config::default())
        .unwrap();
    ctx.stream(a).unwrap().close();
    assert!(matches!(ctx.websocket(id), Err(evloop::Error::StaleHandle)));
    assert!(matches!(ctx.websocket(id), Err(evloop::Error::StaleHandle)));
}

#[test]
fn nothing_can_be_sent_once_the_peer_closed() {
    let mut lp: Loop<Log> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let (server, peer) = ctx.new_stream_pair().unwrap();
    let id = ctx
        .new_websocket(server, Role::Server, Config::default())
        .unwrap();
    ctx.websocket(id).unwrap().on_message(|ctx, log, id, msg| {
        let mut ws = ctx.websocket(id).unwrap();
        assert!(!ws.is_open());
        assert_eq!(ws.send_text("too late"), Err(SendError::Closed));
        assert_eq!(ws.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
        log.got.push(msg);
    });
    raw_peer(&mut ctx, peer, &close_frame(1000, ""), false);
    let mut log = Log::default();
    lp.run(&mut log, RunMode::Default).unwrap();
    assert_eq!(log.got, [close_msg(CloseCode::NORMAL, "")]);
    assert_eq!(server_frames(&log), [close_msg(CloseCode::NORMAL, "")]);
}
