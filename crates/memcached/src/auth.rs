//! ASCII authentication (`-Y FILE`), as memcached 1.6 has it: the file
//! holds `user:password` lines, and a text connection must first send a
//! `set` whose data is `user password` (key, flags and exptime are
//! ignored). Until it has, every request gets `CLIENT_ERROR
//! unauthenticated`; a wrong pair gets `CLIENT_ERROR authentication
//! failure`, a right one `STORED`, and the connection is then served as
//! usual. SIGHUP reads the file again (a file that no longer reads keeps
//! the pairs in force).
//!
//! It is a shared secret sent in the clear: meant for a network already
//! trusted, as memcached's documentation says.

/// The largest `user password` data a `set` may announce.
pub const MAX_TOKEN: usize = 16384;

/// Input without a newline after this much is junk: the connection goes.
const MAX_LINE: usize = 2048;

/// The shortest line an authentication `set` can have.
const MIN_LINE: usize = 6;

/// The pairs of an authentication file, and where it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFile {
    /// The file, for `stats settings` and SIGHUP.
    pub path: String,
    /// `(user, password)` pairs.
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl AuthFile {
    /// Reads `path`: one `user:password` per line (the password runs to
    /// the line's end; a `\r` before the newline is not part of it).
    ///
    /// # Errors
    ///
    /// If the file does not read, or a line has no `:`.
    pub fn load(path: &str) -> Result<AuthFile, String> {
        let text =
            std::fs::read(path).map_err(|e| format!("could not open the auth file {path}: {e}"))?;
        let mut pairs = Vec::new();
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(format!(
                    "the auth file {path} has a malformed entry on line {}: should be \
                     'user:password'",
                    n + 1
                ));
            };
            pairs.push((line[..colon].to_vec(), line[colon + 1..].to_vec()));
        }
        Ok(AuthFile {
            path: path.to_string(),
            pairs,
        })
    }

    /// Whether `user` and `pass` are one of the file's pairs. Every pair is
    /// compared in full, so the time taken does not tell how close a guess
    /// came.
    pub fn check(&self, user: &[u8], pass: &[u8]) -> bool {
        let mut ok = false;
        for (u, p) in &self.pairs {
            ok |= same(u, user) & same(p, pass);
        }
        ok
    }
}

/// Compares without stopping at the first difference (the lengths are
/// not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the start of an unauthenticated connection's input comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Not enough input yet.
    NeedMore,
    /// `consumed` bytes answered with `reply`.
    Reply {
        /// Input used.
        consumed: usize,
        /// The answer.
        reply: &'static [u8],
        /// It was a `user password` pair (counted in `auth_cmds`).
        attempt: bool,
        /// The pair was right: the connection is authenticated.
        authenticated: bool,
    },
    /// Junk (no line, or too short for one): close the connection.
    Close,
}

/// Looks at the start of `input` of a connection that has not
/// authenticated against `file`.
pub fn step(input: &[u8], file: &AuthFile) -> Step {
    let reply = |consumed, reply| Step::Reply {
        consumed,
        reply,
        attempt: false,
        authenticated: false,
    };
    // A binary request (its magic byte) cannot authenticate here, and
    // would otherwise wait for a newline that never comes.
    if input.first() == Some(&crate::binary::REQUEST_MAGIC) {
        return Step::Close;
    }
    if input.len() < 3 {
        return Step::NeedMore;
    }
    let Some(nl) = input.iter().position(|&b| b == b'\n') else {
        return if input.len() > MAX_LINE {
            Step::Close
        } else {
            Step::NeedMore
        };
    };
    if nl < MIN_LINE {
        return Step::Close;
    }
    let line = &input[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let tokens: Vec<&[u8]> = line
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .collect();
    let size = tokens
        .get(4)
        .and_then(|t| std::str::from_utf8(t).ok()?.parse::<u32>().ok());
    let Some(size) = size.filter(|_| tokens.len() >= 5 && tokens[0] == b"set") else {
        return reply(nl + 1, b"CLIENT_ERROR unauthenticated\r\n");
    };
    let size = size as usize;
    if size > MAX_TOKEN {
        return reply(nl + 1, b"CLIENT_ERROR auth token too long\r\n");
    }
    let end = nl + 1 + size + 2;
    let Some(data) = input.get(nl + 1..end) else {
        return Step::NeedMore;
    };
    if !data.ends_with(b"\r\n") {
        return reply(end, b"CLIENT_ERROR bad command line termination\r\n");
    }
    let token = &data[..size];
    let Some(space) = token.iter().position(|&b| b == b' ') else {
        return reply(end, b"CLIENT_ERROR bad authentication token format\r\n");
    };
    let ok = file.check(&token[..space], &token[space + 1..]);
    Step::Reply {
        consumed: end,
        reply: if ok {
            b"STORED\r\n"
        } else {
            b"CLIENT_ERROR authentication failure\r\n"
        },
        attempt: true,
        authenticated: ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> AuthFile {
        AuthFile {
            path: "f".into(),
            pairs: vec![
                (b"foo".to_vec(), b"bar".to_vec()),
                (b"baaaz".to_vec(), b"quux".to_vec()),
            ],
        }
    }

    fn answer(input: &[u8]) -> Step {
        step(input, &file())
    }

    #[test]
    fn the_file_holds_user_password_lines() {
        let dir = std::env::temp_dir().join(format!("evloop-mc-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("auth");
        std::fs::write(&path, "foo:bar\r\nbaaaz:quux\n\nempty:\nc:o:lon").unwrap();
        let f = AuthFile::load(path.to_str().unwrap()).unwrap();
        assert!(f.check(b"foo", b"bar") && f.check(b"baaaz", b"quux"));
        assert!(f.check(b"empty", b"") && f.check(b"c", b"o:lon"));
        assert!(!f.check(b"foo", b"ba") && !f.check(b"fo", b"bar") && !f.check(b"foo", b"quux"));
        std::fs::write(&path, "foo:bar\nnocolon\n").unwrap();
        let err = AuthFile::load(path.to_str().unwrap()).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(AuthFile::load(dir.join("none").to_str().unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_a_set_of_a_right_pair_authenticates() {
        let r = |consumed, reply: &'static [u8], attempt, authenticated| Step::Reply {
            consumed,
            reply,
            attempt,
            authenticated,
        };
        let ok = b"set foo 0 0 7\r\nfoo bar\r\n";
        assert_eq!(answer(ok), r(ok.len(), b"STORED\r\n", true, true));
        let bad = b"set x 0 0 7\r\nfoo bab\r\nget k\r\n";
        assert_eq!(
            answer(bad),
            r(22, b"CLIENT_ERROR authentication failure\r\n", true, false)
        );
        assert_eq!(
            answer(b"get foo\r\n"),
            r(9, b"CLIENT_ERROR unauthenticated\r\n", false, false)
        );
        assert_eq!(
            answer(b"set foo 0 0\r\n"),
            r(13, b"CLIENT_ERROR unauthenticated\r\n", false, false)
        );
        assert_eq!(
            answer(b"set foo 0 0 2\r\nhi\r\n"),
            r(
                19,
                b"CLIENT_ERROR bad authentication token format\r\n",
                false,
                false
            )
        );
        assert_eq!(
            answer(b"set foo 0 0 3\r\na bXY"),
            r(
                20,
                b"CLIENT_ERROR bad command line termination\r\n",
                false,
                false
            )
        );
        assert_eq!(
            answer(b"set foo 0 0 99999\r\n"),
            r(19, b"CLIENT_ERROR auth token too long\r\n", false, false)
        );
        // Waiting for the line, then for the data.
        assert_eq!(answer(b"se"), Step::NeedMore);
        assert_eq!(answer(b"set foo 0 0 7"), Step::NeedMore);
        assert_eq!(answer(b"set foo 0 0 7\r\nfoo b"), Step::NeedMore);
        // Junk.
        assert_eq!(answer(&[b'x'; 2049]), Step::Close);
        assert_eq!(answer(b"hi\r\n"), Step::Close);
        assert_eq!(answer(&[0x80, 0]), Step::Close);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Any input: no panic, never more consumed than there is, and a
        /// pair authenticates only when it is one of the file's.
        #[test]
        fn any_input_is_answered_within_itself(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            prefix in proptest::sample::select(vec![&b""[..], b"set k 0 0 7\r\n", b"set k 0 0 3\r\n"]),
        ) {
            let mut all = prefix.to_vec();
            all.extend_from_slice(&input);
            match answer(&all) {
                Step::Reply { consumed, authenticated, .. } => {
                    proptest::prop_assert!(consumed > 0 && consumed <= all.len());
                    if authenticated {
                        let data = &all[..consumed];
                        proptest::prop_assert!(
                            data.ends_with(b"foo bar\r\n") || data.ends_with(b"baaaz quux\r\n")
                        );
                    }
                }
                Step::NeedMore | Step::Close => {}
            }
        }
    }
}
