//! Command lines of the classic text protocol, checked in memcached's order
//! so that each malformed line gets memcached's reply.
//!
//! As in memcached, a storage command line refused for its syntax leaves
//! its data block unread: the block is read as the next command line (and
//! usually answered `ERROR`). Only a value refused for its size is skipped.

use super::num::{parse_exptime, parse_f64, parse_i32, parse_u32, parse_u64};
use super::{meta, next_token, Command, Crawler, DataCmd, Line, Mode, Tokens};
use crate::item::{item_total, key_ok};

/// `ERROR`: unknown command or wrong number of tokens.
pub const ERROR: &str = "ERROR\r\n";
/// Malformed arguments.
pub const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format\r\n";
/// Unparsable exptime in touch/gat/flush_all.
pub const BAD_EXPTIME: &str = "CLIENT_ERROR invalid exptime argument\r\n";
/// Unparsable incr/decr amount.
const BAD_DELTA: &str = "CLIENT_ERROR invalid numeric delta argument\r\n";
/// Extra arguments to delete.
const BAD_DELETE: &str = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";

/// Parses one request line (without `\r\n`), dispatching on the command
/// name in memcached's order (its first letter, then the whole name), so
/// that every name gets memcached's answer, down to which unknown lines
/// close the connection.
pub(crate) fn parse_line(line: &[u8], item_max: usize) -> Line<'_> {
    // memcached reads the line as a C string: a NUL byte ends it.
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let Some((name, rest)) = next_token(line) else {
        return Line::Error(Some(ERROR), 0);
    };
    if name.len() < 2 {
        return Line::Error(Some(ERROR), 0);
    }
    if name[0] == b'm' && name.len() == 2 {
        return meta::parse(name[1], line, item_max);
    }
    match name {
        b"get" => get(rest, false, false),
        b"gets" => get(rest, true, false),
        b"gat" => get(rest, false, true),
        b"gats" => get(rest, true, true),
        // memcached's long-undocumented synonym of get.
        b"bget" => get(rest, false, false),
        b"set" => storage(line, Mode::Set, item_max),
        b"add" => storage(line, Mode::Add, item_max),
        b"replace" => storage(line, Mode::Replace, item_max),
        b"append" => storage(line, Mode::Append, item_max),
        b"prepend" => storage(line, Mode::Prepend, item_max),
        b"cas" => storage(line, Mode::Cas, item_max),
        b"stats" | b"shutdown" | b"slabs" | b"cache_memlimit" | b"incr" | b"delete" | b"decr"
        | b"touch" | b"flush_all" | b"version" | b"quit" | b"lru_crawler" | b"verbosity" => {
            other(name, line)
        }
        // Names memcached knows whose features this server lacks, and
        // unknown names whose first letter memcached dispatches on.
        b"watch" => {
            let t = Tokens::split(line);
            match crate::watch::parse_flags((1..t.len()).map(|i| t.get(i))) {
                Some(flags) => Line::Done(Command::Watch { flags }),
                None => Line::Error(Some(ERROR), 0),
            }
        }
        b"lru" | b"extstore" => Line::Error(Some(ERROR), 0),
        [b'g' | b's' | b'a' | b'c' | b'i' | b'd' | b't', ..] => Line::Error(Some(ERROR), 0),
        _ => {
            // An HTTP request line (`GET / HTTP/1.0`): memcached closes
            // without a word. It looks at the last of at most 23 tokens.
            let t = Tokens::split(line);
            if t.get(t.len() - 1).starts_with(b"HTTP/") {
                Line::Close
            } else {
                Line::Error(Some(ERROR), 0)
            }
        }
    }
}

/// get/gets/gat/gats: every key is checked before any is looked up, as a
/// bad key makes memcached answer only the error.
fn get(rest: &[u8], cas: bool, touch: bool) -> Line<'_> {
    let Some((first, after_first)) = next_token(rest) else {
        return Line::Error(Some(ERROR), 0);
    };
    let (touch, keys) = if touch {
        match parse_exptime(first) {
            Some(t) => (Some(t), after_first),
            None => return Line::Error(Some(BAD_EXPTIME), 0),
        }
    } else {
        (None, rest)
    };
    if !keys
        .split(|&b| b == b' ')
        .filter(|k| !k.is_empty())
        .all(key_ok)
    {
        return Line::Error(Some(BAD_FORMAT), 0);
    }
    Line::Done(Command::Get { keys, cas, touch })
}

/// set/add/replace/append/prepend/cas.
fn storage(line: &[u8], mode: Mode, item_max: usize) -> Line<'_> {
    let t = Tokens::split(line);
    let want = if mode == Mode::Cas { 6 } else { 5 };
    if t.len() != want && t.len() != want + 1 {
        return Line::Error(Some(ERROR), 0);
    }
    let noreply = t.noreply();
    let fail = |reply| Line::Error((!noreply).then_some(reply), 0);
    let key = t.get(1);
    if !key_ok(key) {
        return fail(BAD_FORMAT);
    }
    let (Some(flags), Some(exptime), Some(len)) = (
        parse_u32(t.get(2)),
        parse_exptime(t.get(3)),
        parse_i32(t.get(4)),
    ) else {
        return fail(BAD_FORMAT);
    };
    let cas = if mode == Mode::Cas {
        match parse_u64(t.get(5)) {
            Some(c) => c,
            None => return fail(BAD_FORMAT),
        }
    } else {
        0
    };
    if !(0..=i32::MAX - 2).contains(&len) {
        return fail(BAD_FORMAT);
    }
    let len = len as usize;
    if item_total(key.len(), len, flags) > item_max {
        let cmd = Command::TooLarge {
            key,
            binary: false,
            meta: false,
            unlink: mode == Mode::Set,
            noreply,
        };
        return Line::Refused(cmd, len + 2);
    }
    Line::Data(DataCmd {
        len,
        quiet_errors: noreply,
        cmd: Command::Store {
            mode,
            key,
            flags,
            exptime,
            cas,
            data: &[],
            noreply,
        },
    })
}

/// The commands without a key list or data block.
fn other<'a>(name: &[u8], line: &'a [u8]) -> Line<'a> {
    let t = Tokens::split(line);
    let n = t.len();
    let noreply = t.noreply();
    let fail = |reply| Line::Error((!noreply).then_some(reply), 0);
    let done = Line::Done;
    match name {
        b"delete" => {
            if !(2..=4).contains(&n) {
                return Line::Error(Some(ERROR), 0);
            }
            // `delete noreply` deletes the key "noreply": memcached only
            // looks for the option after a key.
            let noreply = noreply && n > 2;
            let fail = |reply| Line::Error((!noreply).then_some(reply), 0);
            if n > 2 {
                let hold_zero = t.get(2) == b"0";
                let valid = (n == 3 && (hold_zero || noreply)) || (n == 4 && hold_zero && noreply);
                if !valid {
                    return fail(BAD_DELETE);
                }
            }
            let key = t.get(1);
            if !key_ok(key) {
                return fail(BAD_FORMAT);
            }
            done(Command::Delete { key, noreply })
        }
        b"incr" | b"decr" => {
            if n != 3 && n != 4 {
                return Line::Error(Some(ERROR), 0);
            }
            let key = t.get(1);
            if !key_ok(key) {
                return fail(BAD_FORMAT);
            }
            let Some(delta) = parse_u64(t.get(2)) else {
                return fail(BAD_DELTA);
            };
            done(Command::Delta {
                key,
                incr: name == b"incr",
                delta,
                noreply,
            })
        }
        b"touch" => {
            if n != 3 && n != 4 {
                return Line::Error(Some(ERROR), 0);
            }
            let key = t.get(1);
            if !key_ok(key) {
                return fail(BAD_FORMAT);
            }
            let Some(exptime) = parse_exptime(t.get(2)) else {
                return fail(BAD_EXPTIME);
            };
            done(Command::Touch {
                key,
                exptime,
                noreply,
            })
        }
        b"flush_all" => {
            if !(1..=3).contains(&n) {
                return Line::Error(Some(ERROR), 0);
            }
            let delay = if n != if noreply { 2 } else { 1 } {
                parse_exptime(t.get(1))
            } else {
                Some(0)
            };
            done(Command::FlushAll { delay, noreply })
        }
        b"version" => done(Command::Version),
        b"quit" => done(Command::Quit),
        b"verbosity" => {
            if n != 2 && n != 3 {
                return Line::Error(Some(ERROR), 0);
            }
            let Some(level) = parse_u32(t.get(1)) else {
                return fail(BAD_FORMAT);
            };
            done(Command::Verbosity { level, noreply })
        }
        b"stats" if t.get(1) == b"cachedump" => {
            let args = if n < 4 {
                Err("CLIENT_ERROR bad command line\r\n")
            } else {
                match (parse_u32(t.get(2)), parse_u32(t.get(3))) {
                    // memcached's MAX_NUMBER_OF_SLAB_CLASSES.
                    (Some(class), Some(_)) if class >= 64 => {
                        Err("CLIENT_ERROR Illegal slab id\r\n")
                    }
                    (Some(class), Some(limit)) => Ok((class, limit)),
                    _ => Err(BAD_FORMAT),
                }
            };
            done(Command::CacheDump { args })
        }
        b"stats" if t.get(1) == b"detail" => done(Command::StatsDetail { arg: t.get(2) }),
        b"stats" => done(Command::Stats {
            sub: (n > 1).then(|| t.get(1)),
        }),
        b"lru_crawler" => lru_crawler(&t),
        b"slabs" => slabs(&t),
        b"cache_memlimit" => {
            if n != 2 && n != 3 {
                return Line::Error(Some(ERROR), 0);
            }
            match parse_u32(t.get(1)) {
                Some(mb) => done(Command::MemLimit { mb, noreply }),
                None => fail(ERROR),
            }
        }
        b"shutdown" => done(Command::Shutdown {
            mode_ok: n == 1 || (n == 2 && t.get(1) == b"graceful"),
        }),
        _ => Line::Error(Some(ERROR), 0),
    }
}

/// `slabs reassign <src> <dst>`, `slabs automove <level>|ratio <r>`, with
/// memcached's checks in its order.
fn slabs<'a>(t: &Tokens<'a>) -> Line<'a> {
    let n = t.len();
    if n == 4 && t.get(1) == b"reassign" {
        return match (parse_i32(t.get(2)), parse_i32(t.get(3))) {
            (Some(src), Some(dst)) => Line::Done(Command::SlabsReassign { src, dst }),
            _ => Line::Error(Some(BAD_FORMAT), 0),
        };
    }
    if n < 3 || t.get(1) != b"automove" {
        return Line::Error(Some(ERROR), 0);
    }
    let noreply = t.noreply();
    let fail = |reply| Line::Error((!noreply).then_some(reply), 0);
    let (level, ratio) = if t.get(2) == b"ratio" {
        match parse_f64(t.get(3)) {
            Some(r) if n >= 4 => (None, Some(r)),
            _ => return fail(ERROR),
        }
    } else {
        match parse_u32(t.get(2)) {
            Some(l @ 0..=2) => (Some(l), None),
            Some(_) => return fail(ERROR),
            None => return fail(BAD_FORMAT),
        }
    };
    Line::Done(Command::SlabsAutomove {
        level,
        ratio,
        noreply,
    })
}

/// `lru_crawler <crawl|metadump|tocrawl|sleep> <arg>`, `lru_crawler
/// <enable|disable>`, with memcached's replies to malformed ones.
fn lru_crawler<'a>(t: &Tokens<'a>) -> Line<'a> {
    let (n, sub, arg) = (t.len(), t.get(1), t.get(2));
    match (n, sub) {
        (3, b"crawl") => Line::Done(Command::LruCrawler(Crawler::Crawl(arg))),
        (3, b"metadump") => Line::Done(Command::LruCrawler(Crawler::MetaDump(arg))),
        (3, b"tocrawl") => match parse_u32(arg) {
            Some(_) => Line::Done(Command::LruCrawler(Crawler::Setting)),
            None => Line::Error(Some(BAD_FORMAT), 0),
        },
        (3, b"sleep") => match parse_u32(arg) {
            Some(us) if us <= 1_000_000 => Line::Done(Command::LruCrawler(Crawler::Setting)),
            Some(_) => Line::Error(Some("CLIENT_ERROR sleep must be one second or less\r\n"), 0),
            None => Line::Error(Some(BAD_FORMAT), 0),
        },
        (2, b"enable") => Line::Done(Command::LruCrawler(Crawler::Enable)),
        (2, b"disable") => Line::Done(Command::LruCrawler(Crawler::Disable)),
        _ => Line::Error(Some(ERROR), 0),
    }
}
