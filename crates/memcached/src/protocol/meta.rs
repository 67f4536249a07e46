//! Meta command lines (`mg`, `ms`, `md`, `ma`, `mn`, `me`): key, flags and
//! their tokens, checked as memcached 1.6 does, with its error strings.

use super::num::{parse_exptime, parse_i32, parse_u32, parse_u64};
use super::text::{BAD_FORMAT, ERROR};
use super::{base64, next_token, Command, DataCmd, Line, Tokens};
use crate::item::{item_total, key_ok, KEY_MAX};

/// A bad numeric flag token.
const BAD_TOKEN: &str = "CLIENT_ERROR bad token in command line format\r\n";
/// Too many flags for md/ma/ms.
const TOO_MANY: &str = "CLIENT_ERROR options flags too long\r\n";

/// Which meta command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKind {
    /// `mg`.
    Get,
    /// `ms`.
    Set,
    /// `md`.
    Delete,
    /// `ma`.
    Arith,
    /// `mn`.
    Noop,
    /// `me`.
    Debug,
}

/// The flags of a meta request, as parsed; the executor also walks the
/// flag tokens again to answer in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaOpts {
    /// `b`: the key is base64.
    pub binary: bool,
    /// `v`: return the value.
    pub value: bool,
    /// `q`: quiet on the nominal reply.
    pub quiet: bool,
    /// `u`: no LRU bump.
    pub no_bump: bool,
    /// `N(ttl)`: create on miss.
    pub vivify: Option<i64>,
    /// `T(ttl)`: new TTL.
    pub ttl: Option<i64>,
    /// `R(ttl)`: win the recache if the TTL left is below this.
    pub recache: Option<i64>,
    /// `C(cas)`: compare CAS.
    pub cas: Option<u64>,
    /// `F(flags)`: client flags for ms.
    pub flags: u32,
    /// `M(mode)`: mode switch for ms/ma (0 if absent).
    pub mode: u8,
    /// `D(delta)` for ma (default 1).
    pub delta: u64,
    /// `J(initial)` for ma with `N`.
    pub initial: u64,
    /// `I`: invalidate (md) / allow stale CAS (ms).
    pub invalidate: bool,
}

impl Default for MetaOpts {
    fn default() -> Self {
        MetaOpts {
            binary: false,
            value: false,
            quiet: false,
            no_bump: false,
            vivify: None,
            ttl: None,
            recache: None,
            cas: None,
            flags: 0,
            mode: 0,
            delta: 1,
            initial: 0,
            invalidate: false,
        }
    }
}

/// One meta request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'a> {
    /// Which command.
    pub kind: MetaKind,
    /// The key token (base64 when `opts.binary`).
    pub key: &'a [u8],
    /// The flag tokens, space-separated, in request order.
    pub flags: &'a [u8],
    /// The flags, parsed.
    pub opts: MetaOpts,
    /// ms: the data block, without `\r\n`.
    pub data: &'a [u8],
}

/// Parses a meta line whose command is `m` followed by `c`.
pub(crate) fn parse(c: u8, line: &[u8], item_max: usize) -> Line<'_> {
    let kind = match c {
        b'g' => MetaKind::Get,
        b's' => MetaKind::Set,
        b'd' => MetaKind::Delete,
        b'a' => MetaKind::Arith,
        b'e' => MetaKind::Debug,
        b'n' => {
            return Line::Done(Command::Meta(Meta {
                kind: MetaKind::Noop,
                key: &[],
                flags: &[],
                opts: MetaOpts::default(),
                data: &[],
            }))
        }
        _ => return Line::Error(Some(ERROR), 0),
    };
    let t = Tokens::split(line);
    let key = t.get(1);
    if kind == MetaKind::Debug {
        return debug(&t, key);
    }
    if t.len() < 2 {
        return Line::Error(Some(ERROR), 0);
    }
    let is_set = kind == MetaKind::Set;
    // ms data blocks are swallowed after a refusal once memcached has read
    // their length.
    let swallow = if is_set {
        match parse_i32(t.get(2)) {
            Some(n) if n >= 0 => n as usize + 2,
            _ => 0,
        }
    } else {
        0
    };
    let fail = |reply| Line::Error(Some(reply), swallow);
    // Refused before memcached reads the length: the data block, if any,
    // is read as the next command.
    if key.len() > KEY_MAX || (is_set && t.len() == 2) {
        return Line::Error(Some(BAD_FORMAT), 0);
    }
    if t.len() > 19 {
        let reply = if kind == MetaKind::Get {
            "CLIENT_ERROR options flags are too long\r\n"
        } else {
            TOO_MANY
        };
        return Line::Error(Some(reply), 0);
    }
    if is_set && swallow == 0 {
        return Line::Error(Some(BAD_FORMAT), 0);
    }
    let flags = skip_tokens(line, if is_set { 3 } else { 2 });
    let mut key_buf = [0u8; KEY_MAX];
    let (opts, key_len) = match preparse(flags, key, &mut key_buf) {
        Ok(r) => r,
        Err(e) => {
            let generic = matches!(kind, MetaKind::Delete | MetaKind::Arith);
            return fail(if generic {
                "CLIENT_ERROR invalid or duplicate flag\r\n"
            } else {
                e
            });
        }
    };
    if !opts.binary && !key_ok(key) {
        return fail(BAD_FORMAT);
    }
    let mut toks = flags;
    while let Some((tok, rest)) = next_token(toks) {
        if tok[0] == b'O' && tok.len() > 32 {
            return fail("CLIENT_ERROR opaque token too long\r\n");
        }
        toks = rest;
    }
    match (kind, opts.mode) {
        (MetaKind::Set, 0 | b'E' | b'A' | b'P' | b'R' | b'S') => {}
        (MetaKind::Set, _) => return fail("CLIENT_ERROR invalid mode for ms M token\r\n"),
        (MetaKind::Arith, 0 | b'I' | b'+' | b'D' | b'-') => {}
        (MetaKind::Arith, _) => return fail("CLIENT_ERROR invalid mode for ma M token\r\n"),
        _ => {}
    }
    let meta = Meta {
        kind,
        key,
        flags,
        opts,
        data: &[],
    };
    if !is_set {
        return Line::Done(Command::Meta(meta));
    }
    let len = swallow - 2;
    if item_total(key_len, len, opts.flags) > item_max {
        let cmd = Command::TooLarge {
            key,
            binary: opts.binary,
            meta: true,
            unlink: true,
            noreply: false,
        };
        return Line::Refused(cmd, swallow);
    }
    Line::Data(DataCmd {
        len,
        quiet_errors: false,
        cmd: Command::Meta(meta),
    })
}

/// `me <key> [b]`: the meta debug command.
fn debug<'a>(t: &Tokens<'a>, key: &'a [u8]) -> Line<'a> {
    if t.len() < 2 || key.len() > KEY_MAX {
        return Line::Error(Some(BAD_FORMAT), 0);
    }
    let binary = t.len() >= 3 && t.get(2) == b"b";
    let mut buf = [0u8; KEY_MAX];
    if binary && base64::decode(key, &mut buf).is_none() {
        return Line::Error(Some(BAD_FORMAT), 0);
    }
    Line::Done(Command::Meta(Meta {
        kind: MetaKind::Debug,
        key,
        flags: &[],
        opts: MetaOpts {
            binary,
            ..MetaOpts::default()
        },
        data: &[],
    }))
}

/// `line` after its first `n` tokens.
fn skip_tokens(line: &[u8], n: usize) -> &[u8] {
    let mut rest = line;
    for _ in 0..n {
        match next_token(rest) {
            Some((_, r)) => rest = r,
            None => return &[],
        }
    }
    rest
}

/// Checks and reads the flag tokens as memcached's `_meta_flag_preparse`:
/// duplicate or unknown flags fail at once; bad flag values fail after the
/// whole list was read, with the last error's message. Also decodes a
/// base64 key into `key_buf`, returning the key's decoded length.
fn preparse(
    flags: &[u8],
    key: &[u8],
    key_buf: &mut [u8; KEY_MAX],
) -> Result<(MetaOpts, usize), &'static str> {
    let mut o = MetaOpts::default();
    let mut seen = [false; 128];
    let mut err: Option<&'static str> = None;
    let mut key_len = key.len();
    let mut rest = flags;
    while let Some((tok, r)) = next_token(rest) {
        rest = r;
        let f = tok[0];
        if f >= 127 || seen[f as usize] {
            return Err("CLIENT_ERROR duplicate flag\r\n");
        }
        seen[f as usize] = true;
        let arg = &tok[1..];
        match f {
            b'b' => {
                o.binary = true;
                match base64::decode(key, key_buf) {
                    Some(n) => key_len = n,
                    None => err = Some("CLIENT_ERROR error decoding key\r\n"),
                }
            }
            b'N' | b'T' | b'R' => match parse_exptime(arg) {
                Some(v) if f == b'N' => o.vivify = Some(v),
                Some(v) if f == b'T' => o.ttl = Some(v),
                Some(v) => o.recache = Some(v),
                None => err = Some(BAD_TOKEN),
            },
            b'l' | b'h' | b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' => {}
            b'v' => o.value = true,
            b'u' => o.no_bump = true,
            b'q' => o.quiet = true,
            b'I' => o.invalidate = true,
            b'F' => match parse_u32(arg) {
                Some(v) => o.flags = v,
                None => err = Some(err.unwrap_or(BAD_FORMAT)),
            },
            b'C' => match parse_u64(arg) {
                Some(v) => o.cas = Some(v),
                None => err = Some(BAD_TOKEN),
            },
            b'M' => {
                if tok.len() != 2 {
                    err = Some("CLIENT_ERROR incorrect length for M token\r\n");
                } else {
                    o.mode = tok[1];
                }
            }
            b'J' => match parse_u64(arg) {
                Some(v) => o.initial = v,
                None => err = Some("CLIENT_ERROR invalid numeric initial value\r\n"),
            },
            b'D' => match parse_u64(arg) {
                Some(v) => o.delta = v,
                None => err = Some("CLIENT_ERROR invalid numeric delta value\r\n"),
            },
            _ => return Err("CLIENT_ERROR invalid flag\r\n"),
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok((o, key_len)),
    }
}
