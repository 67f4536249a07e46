//! The WebSocket frame codec without sockets: every protocol rule gives
//! its close code, and however the input is split the same messages come
//! out.

use bytes::Bytes;
use evloop_buffer::Buffer;
use evloop_http::ws::{
    encode_frame, encode_message, CloseCode, CloseFrame, Decoder, Message, OpCode, ProtocolError,
    Role,
};
use proptest::prelude::*;

const KEY: Option<[u8; 4]> = Some([0x12, 0x34, 0x56, 0x78]);

/// Feeds `wire` in pieces cut at `cuts` (sorted offsets), collecting the
/// messages and the error that stopped decoding, if any.
fn decode_cut(
    role: Role,
    max: usize,
    wire: &[u8],
    cuts: &[usize],
) -> (Vec<Message>, Option<ProtocolError>) {
    let mut dec = Decoder::new(role, max);
    let mut input = Buffer::new();
    let mut out = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&wire.len())) {
        input.add(&wire[from..to]);
        from = to;
        loop {
            match dec.decode(&mut input) {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    assert!(input.is_empty(), "everything fed is taken in");
    (out, None)
}

fn decode_all(role: Role, wire: &[u8]) -> (Vec<Message>, Option<ProtocolError>) {
    decode_cut(role, 1 << 20, wire, &[])
}

/// A frame with a raw first byte (so RSV bits and reserved opcodes can be
/// set), masked with `KEY` as a client sends it.
fn raw_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Buffer::new();
    encode_frame(&mut out, OpCode::Text, true, payload, KEY);
    let mut v = out.split_to(usize::MAX).to_vec();
    v[0] = b0;
    v
}

fn frame(op: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Buffer::new();
    encode_frame(&mut out, op, fin, payload, KEY);
    out.split_to(usize::MAX).to_vec()
}

fn code_of(wire: &[u8]) -> Option<CloseCode> {
    decode_all(Role::Server, wire).1.map(|e| e.code)
}

#[test]
fn rfc_examples_decode() {
    // RFC 6455 section 5.7, as a client receives them (unmasked).
    let (msgs, err) = decode_all(
        Role::Client,
        b"\x81\x05Hello\x01\x03Hel\x80\x02lo\x89\x05Hello\x8a\x05Hello",
    );
    assert_eq!(err, None);
    assert_eq!(
        msgs,
        [
            Message::Text("Hello".into()),
            Message::Text("Hello".into()),
            Message::Ping("Hello".into()),
            Message::Pong("Hello".into()),
        ]
    );
    // The masked one, as a server receives it.
    let (msgs, _) = decode_all(
        Role::Server,
        b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    );
    assert_eq!(msgs, [Message::Text("Hello".into())]);
}

#[test]
fn lengths_7_16_and_64_bit() {
    for n in [0usize, 125, 126, 127, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let (msgs, err) = decode_all(Role::Server, &frame(OpCode::Binary, true, &payload));
        assert_eq!(err, None, "{n}");
        assert_eq!(msgs, [Message::Binary(payload.into())], "{n}");
    }
    // A non-minimal length encoding is allowed: 5 bytes in a 64-bit length.
    let wire = b"\x82\x7f\0\0\0\0\0\0\0\x05hello";
    assert_eq!(
        decode_all(Role::Client, wire).0,
        [Message::Binary("hello".into())]
    );
}

#[test]
fn reserved_bits_and_opcodes_are_1002() {
    for b0 in [0xC1, 0xA1, 0x91, 0xF1] {
        assert_eq!(
            code_of(&raw_frame(b0, b"x")),
            Some(CloseCode::PROTOCOL_ERROR),
            "{b0:#x}"
        );
    }
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            code_of(&raw_frame(0x80 | op, b"")),
            Some(CloseCode::PROTOCOL_ERROR),
            "{op:#x}"
        );
    }
}

#[test]
fn control_frame_rules_are_1002() {
    // Fragmented ping, ping over 125 bytes, close over 125 bytes.
    assert_eq!(
        code_of(&frame(OpCode::Ping, false, b"x")),
        Some(CloseCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        code_of(&frame(OpCode::Ping, true, &[0; 126])),
        Some(CloseCode::PROTOCOL_ERROR)
    );
    assert_eq!(
        code_of(&frame(OpCode::Close, true, &[3; 126])),
        Some(CloseCode::PROTOCOL_ERROR)
    );
    // 125 is fine.
    assert_eq!(
        decode_all(Role::Server, &frame(OpCode::Ping, true, &[0; 125])).1,
        None
    );
}

#[test]
fn masking_rules_are_1002() {
    let mut out = Buffer::new();
    encode_frame(&mut out, OpCode::Text, true, b"hi", None);
    let unmasked = out.split_to(usize::MAX);
    assert_eq!(
        decode_all(Role::Server, &unmasked).1.map(|e| e.code),
        Some(CloseCode::PROTOCOL_ERROR)
    );
    assert_eq!(decode_all(Role::Client, &unmasked).1, None);
    let masked = frame(OpCode::Text, true, b"hi");
    assert_eq!(
        decode_all(Role::Client, &masked).1.map(|e| e.code),
        Some(CloseCode::PROTOCOL_ERROR)
    );
}

#[test]
fn length_with_top_bit_is_1002() {
    let wire = b"\x82\xff\x80\0\0\0\0\0\0\x01\x01\x02\x03\x04";
    assert_eq!(code_of(wire), Some(CloseCode::PROTOCOL_ERROR));
}

#[test]
fn fragmentation_rules() {
    // Continuation without a message begun.
    assert_eq!(
        code_of(&frame(OpCode::Continuation, true, b"x")),
        Some(CloseCode::PROTOCOL_ERROR)
    );
    // A new data message before the fragmented one ended.
    let mut wire = frame(OpCode::Text, false, b"a");
    wire.extend(frame(OpCode::Binary, true, b"b"));
    assert_eq!(code_of(&wire), Some(CloseCode::PROTOCOL_ERROR));
    // Control frames between fragments, empty fragments: fine.
    let mut wire = frame(OpCode::Binary, false, b"");
    wire.extend(frame(OpCode::Ping, true, b"p"));
    wire.extend(frame(OpCode::Continuation, false, b"ab"));
    wire.extend(frame(OpCode::Pong, true, b""));
    wire.extend(frame(OpCode::Continuation, true, b""));
    let (msgs, err) = decode_all(Role::Server, &wire);
    assert_eq!(err, None);
    assert_eq!(
        msgs,
        [
            Message::Ping("p".into()),
            Message::Pong(Bytes::new()),
            Message::Binary("ab".into())
        ]
    );
}

#[test]
fn invalid_utf8_is_1007_and_fails_fast() {
    assert_eq!(
        code_of(&frame(OpCode::Text, true, b"\xff")),
        Some(CloseCode::INVALID_PAYLOAD)
    );
    // A sequence cut at the end of the message.
    assert_eq!(
        code_of(&frame(OpCode::Text, true, "κ".as_bytes()[..1].as_ref())),
        Some(CloseCode::INVALID_PAYLOAD)
    );
    // An invalid prefix in the first fragment fails before the message ends
    // (the first fragment alone, no FIN ever sent): U+D800 is a surrogate.
    let first = frame(OpCode::Text, false, b"\xce\xba\xe1\xbd\xb9\xed\xa0\x80");
    assert_eq!(code_of(&first), Some(CloseCode::INVALID_PAYLOAD));
    // Within one frame, found at the bad byte before the rest arrives.
    let whole = frame(
        OpCode::Text,
        true,
        b"ok\xf4\x90\x80\x80 and much more text after it",
    );
    let (_, err) = decode_cut(Role::Server, 1 << 20, &whole[..6 + 4], &[]);
    assert_eq!(err.map(|e| e.code), Some(CloseCode::INVALID_PAYLOAD));
    // A valid character split across fragments at every point is fine.
    let text = "κόσμε";
    for cut in 0..=text.len() {
        let mut wire = frame(OpCode::Text, false, &text.as_bytes()[..cut]);
        wire.extend(frame(OpCode::Continuation, true, &text.as_bytes()[cut..]));
        assert_eq!(
            decode_all(Role::Server, &wire),
            (vec![Message::Text(text.into())], None),
            "{cut}"
        );
    }
}

#[test]
fn size_limit_is_1009_from_the_header() {
    // Only the header of a frame over the limit: refused before any payload.
    let head = &frame(OpCode::Binary, true, &[0; 2000])[..8];
    let (_, err) = decode_cut(Role::Server, 1000, head, &[]);
    assert_eq!(err.map(|e| e.code), Some(CloseCode::MESSAGE_TOO_BIG));
    // Fragments that together exceed it.
    let mut wire = frame(OpCode::Text, false, &[b'a'; 600]);
    wire.extend(frame(OpCode::Continuation, true, &[b'a'; 600]));
    let (_, err) = decode_cut(Role::Server, 1000, &wire, &[]);
    assert_eq!(err.map(|e| e.code), Some(CloseCode::MESSAGE_TOO_BIG));
    // Exactly at the limit is fine.
    let (msgs, err) = decode_cut(
        Role::Server,
        1000,
        &frame(OpCode::Binary, true, &[1; 1000]),
        &[],
    );
    assert_eq!((msgs.len(), err), (1, None));
}

#[test]
fn close_frames() {
    let close = |payload: &[u8]| decode_all(Role::Server, &frame(OpCode::Close, true, payload));
    assert_eq!(close(b""), (vec![Message::Close(None)], None));
    assert_eq!(
        close(b"\x03").1.map(|e| e.code),
        Some(CloseCode::PROTOCOL_ERROR)
    );
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let (msgs, err) = close(&[&code.to_be_bytes()[..], b"bye"].concat());
        assert_eq!(err, None, "{code}");
        assert_eq!(
            msgs,
            [Message::Close(Some(CloseFrame {
                code: CloseCode(code),
                reason: "bye".into()
            }))]
        );
    }
    for code in [
        0u16, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        assert_eq!(
            close(&code.to_be_bytes()).1.map(|e| e.code),
            Some(CloseCode::PROTOCOL_ERROR),
            "{code}"
        );
    }
    assert_eq!(
        close(b"\x03\xe8\xff\xfe").1.map(|e| e.code),
        Some(CloseCode::INVALID_PAYLOAD)
    );
}

#[test]
fn an_error_is_for_good() {
    let mut dec = Decoder::new(Role::Server, 100);
    let mut input = Buffer::new();
    input.add(&frame(OpCode::Continuation, true, b"x"));
    let first = dec.decode(&mut input).unwrap_err();
    input.add(&frame(OpCode::Text, true, b"fine"));
    assert_eq!(dec.decode(&mut input).unwrap_err(), first);
}

#[test]
fn bytes_after_a_message_stay_in_the_input() {
    let mut dec = Decoder::new(Role::Server, 100);
    let mut input = Buffer::new();
    input.add(&frame(OpCode::Text, true, b"one"));
    input.add(&frame(OpCode::Text, true, b"two"));
    assert_eq!(
        dec.decode(&mut input).unwrap(),
        Some(Message::Text("one".into()))
    );
    assert_eq!(input.len(), 2 + 4 + 3);
    assert_eq!(
        dec.decode(&mut input).unwrap(),
        Some(Message::Text("two".into()))
    );
    assert_eq!(dec.decode(&mut input).unwrap(), None);
}

/// A conversation with every kind of frame, fragmentation and control
/// frames between fragments, as a client sends it.
fn conversation() -> (Vec<u8>, Vec<Message>) {
    let mut wire = Vec::new();
    let mut want = Vec::new();
    let text = "héllo wörld ✓ 𝄞 ".repeat(20);
    wire.extend(frame(OpCode::Text, true, text.as_bytes()));
    want.push(Message::Text(text.clone()));
    let (a, b) = text.as_bytes().split_at(7); // inside 'ö'
    wire.extend(frame(OpCode::Text, false, a));
    wire.extend(frame(OpCode::Ping, true, b"ping"));
    want.push(Message::Ping("ping".into()));
    wire.extend(frame(OpCode::Continuation, true, b));
    want.push(Message::Text(text.clone()));
    let bin: Vec<u8> = (0..70000u32).map(|i| (i * 7) as u8).collect();
    wire.extend(frame(OpCode::Binary, false, &bin[..300]));
    wire.extend(frame(OpCode::Continuation, false, &bin[300..66000]));
    wire.extend(frame(OpCode::Pong, true, b""));
    want.push(Message::Pong(Bytes::new()));
    wire.extend(frame(OpCode::Continuation, true, &bin[66000..]));
    want.push(Message::Binary(bin.into()));
    wire.extend(frame(OpCode::Close, true, b"\x03\xe8done"));
    want.push(Message::Close(Some(CloseFrame {
        code: CloseCode::NORMAL,
        reason: "done".into(),
    })));
    (wire, want)
}

#[test]
fn split_at_every_byte_gives_the_same_messages() {
    let (wire, want) = conversation();
    let every: Vec<usize> = (1..wire.len()).collect();
    assert_eq!(
        decode_cut(Role::Server, 1 << 20, &wire, &every),
        (want.clone(), None)
    );
    // And cut once at every point.
    for cut in (1..wire.len()).step_by(97).chain(1..40) {
        assert_eq!(
            decode_cut(Role::Server, 1 << 20, &wire, &[cut]),
            (want.clone(), None),
            "{cut}"
        );
    }
}

#[test]
fn a_message_trickling_in_byte_by_byte_is_decoded() {
    // 1 MiB arriving one byte per read: a decoder that rescanned from the
    // start on each read would take ~10^12 steps here.
    let text = "a".repeat(1 << 20);
    let wire = frame(OpCode::Text, true, text.as_bytes());
    let mut dec = Decoder::new(Role::Server, 2 << 20);
    let mut input = Buffer::new();
    let mut got = None;
    for b in &wire {
        input.add(std::slice::from_ref(b));
        if let Some(m) = dec.decode(&mut input).unwrap() {
            got = Some(m);
        }
    }
    assert_eq!(got, Some(Message::Text(text)));
}

#[test]
fn encoder_round_trips_both_roles() {
    let msgs = [
        Message::Text("t".into()),
        Message::Binary(vec![0u8; 5000].into()),
        Message::Ping("p".into()),
        Message::Pong("q".into()),
        Message::Close(Some(CloseFrame {
            code: CloseCode(4001),
            reason: "r".into(),
        })),
        Message::Close(None),
    ];
    for (sender, receiver) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
        let mut out = Buffer::new();
        for m in &msgs {
            encode_message(&mut out, m, sender).unwrap();
        }
        let wire = out.split_to(usize::MAX);
        assert_eq!(decode_all(receiver, &wire), (msgs.to_vec(), None));
    }
    let mut out = Buffer::new();
    let bad = Message::Close(Some(CloseFrame {
        code: CloseCode::ABNORMAL,
        reason: String::new(),
    }));
    assert!(encode_message(&mut out, &bad, Role::Server).is_err());
    let long = Message::Close(Some(CloseFrame {
        code: CloseCode::NORMAL,
        reason: "x".repeat(124),
    }));
    assert!(encode_message(&mut out, &long, Role::Server).is_err());
    assert!(out.is_empty(), "nothing written for a refused message");
}

/// One message of a generated conversation: its fragments' sizes and
/// whether a ping goes after each fragment.
#[derive(Debug, Clone)]
struct Planned {
    text: bool,
    data: Vec<u8>,
    cuts: Vec<usize>,
    pings: Vec<bool>,
}

fn planned() -> impl Strategy<Value = Planned> {
    (
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..3000),
        prop::collection::vec(0usize..3000, 0..4),
        prop::collection::vec(any::<bool>(), 0..5),
    )
        .prop_map(|(text, data, mut cuts, pings)| {
            let data = if text {
                // Valid UTF-8 with multi-byte characters, from the bytes.
                data.iter()
                    .map(|&b| char::from_u32(u32::from(b) * 37 + 0x80).unwrap_or('x'))
                    .collect::<String>()
                    .into_bytes()
            } else {
                data
            };
            cuts.iter_mut().for_each(|c| *c %= data.len() + 1);
            cuts.sort_unstable();
            Planned {
                text,
                data,
                cuts,
                pings,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_conversations_split_at_random_points(
        plan in prop::collection::vec(planned(), 1..6),
        splits in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for m in &plan {
            let mut bounds = vec![0];
            bounds.extend(&m.cuts);
            bounds.push(m.data.len());
            let n = bounds.len() - 1;
            for i in 0..n {
                let op = match (i, m.text) {
                    (0, true) => OpCode::Text,
                    (0, false) => OpCode::Binary,
                    _ => OpCode::Continuation,
                };
                wire.extend(frame(op, i + 1 == n, &m.data[bounds[i]..bounds[i + 1]]));
                if m.pings.get(i).copied().unwrap_or(false) && i + 1 < n {
                    wire.extend(frame(OpCode::Ping, true, &[i as u8; 3]));
                    want.push(Message::Ping(vec![i as u8; 3].into()));
                }
            }
            want.push(if m.text {
                Message::Text(String::from_utf8(m.data.clone()).unwrap())
            } else {
                Message::Binary(m.data.clone().into())
            });
        }
        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(decode_cut(Role::Server, 1 << 20, &wire, &cuts), (want, None));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_split_does_not_matter(
        wire in prop::collection::vec(any::<u8>(), 0..400),
        cut in any::<prop::sample::Index>(),
    ) {
        let whole = decode_cut(Role::Server, 200, &wire, &[]);
        let split = decode_cut(Role::Server, 200, &wire, &[cut.index(wire.len() + 1)]);
        prop_assert_eq!(whole, split);
    }
}

proptest! {
    #[test]
    fn mask_matches_the_bytewise_definition(
        data in prop::collection::vec(any::<u8>(), 0..100),
        key in any::<[u8; 4]>(),
        offset in 0usize..16,
    ) {
        let mut fast = data.clone();
        evloop_http::ws::apply_mask(&mut fast, key, offset);
        let slow: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ key[(offset + i) % 4]).collect();
        prop_assert_eq!(fast, slow);
    }
}
