//! Framing and line parsing.

use super::*;

const MAX: usize = 1 << 20;

fn one(input: &[u8]) -> Parsed<'_> {
    Parser::new(MAX).parse(input)
}

fn err(reply: &'static str, consumed: usize) -> Parsed<'static> {
    Parsed::Error {
        reply: Some(reply),
        consumed,
        close: false,
    }
}

#[test]
fn retrieval_lines() {
    assert_eq!(
        one(b"get a bb  ccc\r\n"),
        Parsed::Command(
            Command::Get {
                keys: b" a bb  ccc",
                cas: false,
                touch: None
            },
            15
        )
    );
    assert_eq!(
        one(b"gats -5 k\n"),
        Parsed::Command(
            Command::Get {
                keys: b" k",
                cas: true,
                touch: Some(-5)
            },
            10
        )
    );
    assert_eq!(one(b"get\r\n"), err("ERROR\r\n", 5));
    assert_eq!(
        one(b"gat x k\r\n"),
        err("CLIENT_ERROR invalid exptime argument\r\n", 9)
    );
    let long = format!("get a {}\r\n", "k".repeat(251));
    assert_eq!(
        one(long.as_bytes()),
        err("CLIENT_ERROR bad command line format\r\n", long.len())
    );
}

#[test]
fn storage_line_and_data() {
    let input = b"set k 5 100 3 noreply\r\nabc\r\nrest";
    assert_eq!(
        one(input),
        Parsed::Command(
            Command::Store {
                mode: Mode::Set,
                key: b"k",
                flags: 5,
                exptime: 100,
                cas: 0,
                data: b"abc",
                noreply: true
            },
            input.len() - 4
        )
    );
    let cas = b"cas k 0 0 1 77\r\nx\r\n";
    assert!(matches!(
        one(cas),
        Parsed::Command(
            Command::Store {
                mode: Mode::Cas,
                cas: 77,
                ..
            },
            19
        )
    ));
    // binary-safe data: CRLF and "END" inside
    let bin = b"set k 0 0 11\r\na\r\nEND\r\nb\r\n\r\n";
    assert!(matches!(
        one(bin),
        Parsed::Command(
            Command::Store {
                data: b"a\r\nEND\r\nb\r\n",
                ..
            },
            27
        )
    ));
}

#[test]
fn other_lines() {
    let cases: Vec<(&[u8], Command<'_>)> = vec![
        (
            b"delete k\r\n",
            Command::Delete {
                key: b"k",
                noreply: false,
            },
        ),
        (
            b"delete k 0 noreply\r\n",
            Command::Delete {
                key: b"k",
                noreply: true,
            },
        ),
        (
            b"incr k 18446744073709551615\r\n",
            Command::Delta {
                key: b"k",
                incr: true,
                delta: u64::MAX,
                noreply: false,
            },
        ),
        (
            b"touch k 10 noreply\r\n",
            Command::Touch {
                key: b"k",
                exptime: 10,
                noreply: true,
            },
        ),
        (
            b"flush_all\r\n",
            Command::FlushAll {
                delay: Some(0),
                noreply: false,
            },
        ),
        (
            b"flush_all 30 noreply\r\n",
            Command::FlushAll {
                delay: Some(30),
                noreply: true,
            },
        ),
        (
            b"flush_all noreply\r\n",
            Command::FlushAll {
                delay: Some(0),
                noreply: true,
            },
        ),
        (b"version\r\n", Command::Version),
        (b"quit\r\n", Command::Quit),
        (
            b"verbosity 1\r\n",
            Command::Verbosity {
                level: 1,
                noreply: false,
            },
        ),
        (b"stats\r\n", Command::Stats { sub: None }),
        (
            b"stats items\r\n",
            Command::Stats {
                sub: Some(b"items"),
            },
        ),
        (
            b"cache_memlimit 100\r\n",
            Command::MemLimit {
                mb: 100,
                noreply: false,
            },
        ),
    ];
    for (line, want) in cases {
        assert_eq!(
            one(line),
            Parsed::Command(want, line.len()),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn errors_with_memcached_replies() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"foo\r\n", "ERROR\r\n"),
        (b"\r\n", "ERROR\r\n"),
        (b"x\r\n", "ERROR\r\n"),
        (b"GET a\r\n", "ERROR\r\n"),
        (b"set a 5 0\r\n", "ERROR\r\n"),
        (b"decr n\r\n", "ERROR\r\n"),
        (
            b"incr n -1\r\n",
            "CLIENT_ERROR invalid numeric delta argument\r\n",
        ),
        (
            b"touch a abc\r\n",
            "CLIENT_ERROR invalid exptime argument\r\n",
        ),
        (b"flush_all 0 0 0\r\n", "ERROR\r\n"),
        (b"verbosity\r\n", "ERROR\r\n"),
        (
            b"verbosity x\r\n",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        (
            b"delete a 5\r\n",
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
        ),
        (b"delete\r\n", "ERROR\r\n"),
        (b"cache_memlimit x\r\n", "ERROR\r\n"),
        (b"lru_crawler\r\n", "ERROR\r\n"),
        (b"lru_crawler bogus 1\r\n", "ERROR\r\n"),
        (
            b"lru_crawler sleep 2000000\r\n",
            "CLIENT_ERROR sleep must be one second or less\r\n",
        ),
    ];
    for (line, reply) in cases {
        assert_eq!(
            one(line),
            err(reply, line.len()),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    // cachedump's bad arguments are the executor's to answer: under `-X`
    // memcached refuses the command before it looks at them.
    for (line, reply) in [
        (
            &b"stats cachedump 1\r\n"[..],
            "CLIENT_ERROR bad command line\r\n",
        ),
        (
            b"stats cachedump x 1\r\n",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        (
            b"stats cachedump 64 1\r\n",
            "CLIENT_ERROR Illegal slab id\r\n",
        ),
    ] {
        assert_eq!(
            one(line),
            Parsed::Command(Command::CacheDump { args: Err(reply) }, line.len())
        );
    }
    assert_eq!(
        one(b"stats cachedump 1 5\r\n"),
        Parsed::Command(Command::CacheDump { args: Ok((1, 5)) }, 21)
    );
    // noreply silences errors after the token count was checked
    assert_eq!(
        one(b"delete a 5 noreply\r\n"),
        Parsed::Error {
            reply: None,
            consumed: 20,
            close: false
        },
        "5 is not 0, and noreply silences the complaint"
    );
    assert_eq!(
        one(b"incr a x noreply\r\n"),
        Parsed::Error {
            reply: None,
            consumed: 18,
            close: false
        }
    );
}

#[test]
fn malformed_storage_line_leaves_its_data_to_be_read() {
    // memcached reads the data block of a refused line as commands.
    let mut p = Parser::new(MAX);
    let input = b"set a x 0 3\r\nget\r\nget a\r\n";
    assert_eq!(
        p.parse(input),
        err("CLIENT_ERROR bad command line format\r\n", 13)
    );
    assert_eq!(p.parse(&input[13..]), err("ERROR\r\n", 5));
    assert!(matches!(
        p.parse(&input[18..]),
        Parsed::Command(Command::Get { .. }, 7)
    ));
    // key too long, too many tokens, a bad length: the same
    let key = "k".repeat(251);
    let long_key = format!("set {key} 0 0 1\r\nx\r\n");
    let mut p = Parser::new(MAX);
    let line = long_key.len() - 3;
    assert_eq!(
        p.parse(long_key.as_bytes()),
        err("CLIENT_ERROR bad command line format\r\n", line)
    );
    assert_eq!(p.parse(&long_key.as_bytes()[line..]), err("ERROR\r\n", 3));
    let mut p = Parser::new(MAX);
    assert_eq!(p.parse(b"set a 0 0 1 x y\r\n"), err("ERROR\r\n", 17));
    assert_eq!(p.parse(b"z\r\n"), err("ERROR\r\n", 3));
    let mut p = Parser::new(MAX);
    assert_eq!(
        p.parse(b"set a 0 0 -1\r\n"),
        err("CLIENT_ERROR bad command line format\r\n", 14)
    );
    assert!(matches!(
        p.parse(b"version\r\n"),
        Parsed::Command(Command::Version, 9)
    ));
    // ms refused before its length is read: the same
    let mut p = Parser::new(MAX);
    let long_ms = format!("ms {key} 1\r\nx\r\n");
    assert_eq!(
        p.parse(long_ms.as_bytes()),
        err(
            "CLIENT_ERROR bad command line format\r\n",
            long_ms.len() - 3
        )
    );
    assert_eq!(p.parse(b"x\r\n"), err("ERROR\r\n", 3));
}

#[test]
fn numbers_read_as_memcached_reads_them() {
    // 32-bit fields are cut from 64-bit strtol/strtoul results; whitespace
    // ends a number.
    let mut p = Parser::new(MAX);
    let input = b"set k 4294967297 4294967296 4294967297\r\nx\r\n";
    match p.parse(input) {
        Parsed::Command(
            Command::Store {
                flags,
                exptime,
                data,
                ..
            },
            n,
        ) => {
            assert_eq!((flags, exptime, data, n), (1, 0, &b"x"[..], input.len()));
        }
        other => panic!("{other:?}"),
    }
    let mut p = Parser::new(MAX);
    match p.parse(b"set k 5\tjunk -0 1\r\r\nx\r\n") {
        Parsed::Command(Command::Store { flags, data, .. }, _) => {
            assert_eq!((flags, data), (5, &b"x"[..]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn http_request_lines_close_silently() {
    for line in [
        &b"GET / HTTP/1.0\r\n"[..],
        b"PUT /asdf/asd/fasdfasdf/sadf HTTP/1.1\r\n",
        b"DELETE HTTP/1.1\r\n",
    ] {
        assert_eq!(
            Parser::new(MAX).parse(line),
            Parsed::Error {
                reply: None,
                consumed: line.len(),
                close: true
            }
        );
    }
    // Names memcached dispatches on by first letter answer ERROR instead.
    for line in [
        &b"gett / HTTP/1.0\r\n"[..],
        b"sett / HTTP/1.1\r\n",
        b"x HTTP/1.1\r\n",
    ] {
        assert_eq!(Parser::new(MAX).parse(line), err("ERROR\r\n", line.len()));
    }
}

#[test]
fn too_large_is_refused_before_the_data_arrives() {
    let mut p = Parser::new(1024);
    assert_eq!(
        p.parse(b"set a 0 0 5000\r\n"),
        Parsed::Command(
            Command::TooLarge {
                key: b"a",
                binary: false,
                meta: false,
                unlink: true,
                noreply: false
            },
            16
        )
    );
    assert_eq!(p.parse(&[b'x'; 3000]), Parsed::Skipped(3000));
    assert_eq!(p.parse(b"xxxx"), Parsed::Skipped(4));
    let mut rest = vec![b'x'; 1996];
    rest.extend_from_slice(b"\r\nversion\r\n");
    assert_eq!(p.parse(&rest), Parsed::Skipped(1998));
    assert!(matches!(
        p.parse(&rest[1998..]),
        Parsed::Command(Command::Version, 9)
    ));
    // add does not drop the old value
    assert!(matches!(
        Parser::new(1024).parse(b"add a 0 0 5000 noreply\r\n"),
        Parsed::Command(
            Command::TooLarge {
                unlink: false,
                noreply: true,
                ..
            },
            _
        )
    ));
}

#[test]
fn bad_data_chunk() {
    // memcached reads exactly <bytes> + 2 and checks they end in \r\n; what
    // follows is parsed as the next line
    let input = b"set a 0 0 3\r\nabcd\r\n";
    let mut p = Parser::new(MAX);
    assert_eq!(p.parse(input), err("CLIENT_ERROR bad data chunk\r\n", 18));
    assert_eq!(p.parse(&input[18..]), err("ERROR\r\n", 1));
    let quiet = b"set a 0 0 3 noreply\r\nabcde";
    assert_eq!(
        one(quiet),
        Parsed::Error {
            reply: None,
            consumed: 26,
            close: false
        }
    );
    assert_eq!(
        one(b"ms a 3 q\r\nabcde"),
        err("CLIENT_ERROR bad data chunk\r\n", 15)
    );
}

#[test]
fn line_too_long_closes() {
    let mut p = Parser::new(MAX);
    let junk = vec![b'x'; MAX_LINE];
    assert_eq!(p.parse(&junk), Parsed::NeedMore);
    let mut more = junk.clone();
    more.push(b'x');
    assert_eq!(
        p.parse(&more),
        Parsed::Error {
            reply: None,
            consumed: more.len(),
            close: true
        }
    );
    // a multi-get may be longer
    let mut p = Parser::new(MAX);
    let mut get = b"get ".to_vec();
    while get.len() < 3 * MAX_LINE {
        get.extend_from_slice(b"key ");
    }
    assert_eq!(p.parse(&get), Parsed::NeedMore);
    get.extend_from_slice(b"\r\n");
    assert!(matches!(p.parse(&get), Parsed::Command(Command::Get { .. }, n) if n == get.len()));
    // a long line that arrives whole is parsed, as memcached does
    let mut line = vec![b'x'; 3000];
    line.extend_from_slice(b"\r\n");
    assert_eq!(one(&line), err("ERROR\r\n", 3002));
}

#[test]
fn pipelined_commands_in_one_slice() {
    let mut input = Vec::new();
    for i in 0..100 {
        input.extend_from_slice(
            format!("set k{i} {i} 0 2\r\nv{}\r\nget k{i}\r\n", i % 10).as_bytes(),
        );
    }
    input.extend_from_slice(b"get par");
    let mut p = Parser::new(MAX);
    let mut pos = 0;
    let mut n = 0;
    while let Parsed::Command(cmd, used) = p.parse(&input[pos..]) {
        match (n % 2, cmd) {
            (
                0,
                Command::Store {
                    key, flags, data, ..
                },
            ) => {
                assert_eq!(key, format!("k{}", n / 2).as_bytes());
                assert_eq!(flags, n / 2);
                assert_eq!(data, format!("v{}", (n / 2) % 10).as_bytes());
            }
            (1, Command::Get { keys, .. }) => assert_eq!(keys, format!(" k{}", n / 2).as_bytes()),
            other => panic!("{other:?}"),
        }
        pos += used;
        n += 1;
    }
    assert_eq!(n, 200);
    assert_eq!(&input[pos..], b"get par");
    assert_eq!(p.parse(&input[pos..]), Parsed::NeedMore);
}

#[test]
fn megabyte_value_in_small_pieces_without_rescanning() {
    let len = 1 << 20;
    let mut input = format!("set big 0 0 {len}\r\n").into_bytes();
    let header = input.len();
    input.extend((0..len).map(|i| (i % 251) as u8));
    input.extend_from_slice(b"\r\n");
    let mut p = Parser::new(2 << 20);
    // the line arrives a byte at a time: each call scans only the new byte
    for end in 1..header {
        assert_eq!(p.parse(&input[..end]), Parsed::NeedMore);
        assert_eq!(p.scanned, end);
    }
    // then the data, 1000 bytes at a time
    let mut end = header;
    let mut calls = 0;
    loop {
        end = (end + 1000).min(input.len());
        match p.parse(&input[..end]) {
            Parsed::NeedMore => {
                // known total; the newline is remembered, not searched
                assert_eq!(p.pending, input.len());
                assert_eq!(p.wanted(), input.len());
                assert_eq!(p.scanned, header - 1);
                calls += 1;
            }
            Parsed::Command(Command::Store { key, data, .. }, used) => {
                assert_eq!(key, b"big");
                assert_eq!(data.len(), len);
                assert_eq!(data, &input[header..header + len]);
                assert_eq!(used, input.len());
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(calls > 1000);
    assert_eq!((p.pending, p.scanned), (0, 0));
}

#[test]
fn tokens() {
    let t = Tokens::split(b"  a  bb c noreply ");
    assert_eq!(t.len(), 4);
    assert_eq!(
        (t.get(0), t.get(1), t.get(3), t.get(9)),
        (&b"a"[..], &b"bb"[..], &b"noreply"[..], &b""[..])
    );
    assert!(t.noreply());
    let many = "x ".repeat(40);
    assert_eq!(Tokens::split(many.as_bytes()).len(), MAX_TOKENS);
    assert_eq!(next_token(b"   "), None);
}

#[test]
fn meta_lines() {
    let Parsed::Command(Command::Meta(m), 25) = one(b"mg key v t Oab T30 N10 q\n") else {
        panic!()
    };
    assert_eq!(m.kind, MetaKind::Get);
    assert_eq!(m.key, b"key");
    assert_eq!(m.flags, b" v t Oab T30 N10 q");
    assert!(m.opts.value && m.opts.quiet);
    assert_eq!((m.opts.ttl, m.opts.vivify), (Some(30), Some(10)));
    let Parsed::Command(Command::Meta(m), 25) = one(b"ms key 2 F7 C9 MA I\r\nhi\r\n") else {
        panic!()
    };
    assert_eq!(
        (m.kind, m.data, m.opts.flags, m.opts.cas, m.opts.mode),
        (MetaKind::Set, &b"hi"[..], 7, Some(9), b'A')
    );
    assert!(m.opts.invalidate);
    let Parsed::Command(Command::Meta(m), _) = one(b"ma k D5 J3 N0 MD\r\n") else {
        panic!()
    };
    assert_eq!((m.opts.delta, m.opts.initial, m.opts.mode), (5, 3, b'D'));
    assert!(matches!(
        one(b"mn\r\n"),
        Parsed::Command(
            Command::Meta(Meta {
                kind: MetaKind::Noop,
                ..
            }),
            4
        )
    ));
    let cases: Vec<(&[u8], &str)> = vec![
        (b"mg\r\n", "ERROR\r\n"),
        (b"mz k\r\n", "ERROR\r\n"),
        (b"mg k zz\r\n", "CLIENT_ERROR invalid flag\r\n"),
        (b"mg k v v\r\n", "CLIENT_ERROR duplicate flag\r\n"),
        (
            b"mg k T\r\n",
            "CLIENT_ERROR bad token in command line format\r\n",
        ),
        (
            b"mg k Mxx\r\n",
            "CLIENT_ERROR incorrect length for M token\r\n",
        ),
        (b"md k Dx\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"),
        (b"ma k Jx\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"),
        (
            b"ma k MX\r\n",
            "CLIENT_ERROR invalid mode for ma M token\r\n",
        ),
        (b"ms k\r\n", "CLIENT_ERROR bad command line format\r\n"),
        (b"ms k x\r\n", "CLIENT_ERROR bad command line format\r\n"),
        (b"ms k -1\r\n", "CLIENT_ERROR bad command line format\r\n"),
        (b"mg !!!! b\r\n", "CLIENT_ERROR error decoding key\r\n"),
        (b"me\r\n", "CLIENT_ERROR bad command line format\r\n"),
    ];
    for (line, reply) in cases {
        assert_eq!(
            one(line),
            err(reply, line.len()),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    let opaque = format!("mg k O{}\r\n", "o".repeat(32));
    assert_eq!(
        one(opaque.as_bytes()),
        err("CLIENT_ERROR opaque token too long\r\n", opaque.len())
    );
    let flags = format!(
        "mg k {}\r\n",
        "abcdefghijklmnopqrstu"
            .chars()
            .map(|c| format!("{c} "))
            .collect::<String>()
    );
    assert_eq!(
        one(flags.as_bytes()),
        err("CLIENT_ERROR options flags are too long\r\n", flags.len())
    );
    // ms refusals swallow the data block
    let mut p = Parser::new(MAX);
    assert_eq!(
        p.parse(b"ms k 2 MX\r\n"),
        err("CLIENT_ERROR invalid mode for ms M token\r\n", 11)
    );
    assert_eq!(p.parse(b"zz\r\n"), Parsed::Skipped(4));
    let mut p = Parser::new(MAX);
    assert_eq!(
        p.parse(b"ms k 2 Fx\r\n"),
        err("CLIENT_ERROR bad command line format\r\n", 11)
    );
    assert_eq!(p.parse(b"zz\r\n"), Parsed::Skipped(4));
}
