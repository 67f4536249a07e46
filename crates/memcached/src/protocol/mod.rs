//! The memcached text protocol, incremental: [`Parser::parse`] takes the
//! bytes received so far and returns one request (a [`Command`], with its
//! data block for storage commands), a protocol error with memcached's reply,
//! or `NeedMore`. It remembers how far it looked, so a 1 MiB value arriving
//! in small reads is not rescanned.

pub mod base64;
pub mod meta;
pub mod num;
pub mod text;

pub use meta::{Meta, MetaKind};

use crate::stats::Waiting;

/// Longest request line without a newline (memcached's limit); more and the
/// connection is closed without a reply, as memcached closes it.
pub const MAX_LINE: usize = 2048;

/// Longest `get`/`gets` line without a newline: multi-gets may be long (a
/// million short keys), but not unbounded as in memcached, which grows its
/// read buffer without limit.
pub const MAX_GET_LINE: usize = 16 << 20;

/// How a storage command treats an existing item.
pub use crate::store::Mode;

/// One parsed request. Slices borrow the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<'a> {
    /// `get`, `gets` (`cas`), `gat`, `gats` (`touch`: the exptime).
    Get {
        /// The keys, space-separated, all valid.
        keys: &'a [u8],
        /// Return CAS uniques.
        cas: bool,
        /// gat/gats: new exptime.
        touch: Option<i64>,
    },
    /// set/add/replace/append/prepend/cas with its data block.
    Store {
        /// Which command.
        mode: Mode,
        /// The key.
        key: &'a [u8],
        /// Client flags.
        flags: u32,
        /// Client exptime.
        exptime: i64,
        /// The CAS unique (`cas` command), else 0.
        cas: u64,
        /// The data, without `\r\n`.
        data: &'a [u8],
        /// `noreply` was given.
        noreply: bool,
    },
    /// A storage command whose data block exceeds `-I`: the parser swallows
    /// the data; the executor replies and drops the key's old value.
    TooLarge {
        /// The key (base64 when `binary`).
        key: &'a [u8],
        /// The key is base64 (`ms ... b`).
        binary: bool,
        /// An `ms` (not counted by `stats detail`, as in memcached).
        meta: bool,
        /// Drop the old value (memcached does for `set` and `ms`).
        unlink: bool,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `delete <key> [0] [noreply]`.
    Delete {
        /// The key.
        key: &'a [u8],
        /// `noreply` was given.
        noreply: bool,
    },
    /// `incr`/`decr <key> <delta> [noreply]`.
    Delta {
        /// The key.
        key: &'a [u8],
        /// incr (true) or decr.
        incr: bool,
        /// The amount.
        delta: u64,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `touch <key> <exptime> [noreply]`.
    Touch {
        /// The key.
        key: &'a [u8],
        /// Client exptime.
        exptime: i64,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `flush_all [delay] [noreply]`.
    FlushAll {
        /// Delay as an exptime; 0 for now; `None` when unreadable (an
        /// error, but memcached first says if flush_all is allowed).
        delay: Option<i64>,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `version`.
    Version,
    /// `verbosity <level> [noreply]`: shown by `stats settings` (this
    /// server logs nothing more for it).
    Verbosity {
        /// The level asked for.
        level: u32,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `slabs reassign <src> <dst>`: move a slab page between classes.
    SlabsReassign {
        /// Source class (-1: any).
        src: i32,
        /// Destination class.
        dst: i32,
    },
    /// `slabs automove <0|1|2>` or `slabs automove ratio <r>`: the page
    /// mover's setting.
    SlabsAutomove {
        /// The new level, if one was given.
        level: Option<u32>,
        /// The new ratio, if one was given.
        ratio: Option<f64>,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `quit`: close after the replies so far.
    Quit,
    /// `stats [sub [arg]]`.
    Stats {
        /// Sub-command (`reset`, `settings`, ...), if any.
        sub: Option<&'a [u8]>,
    },
    /// `cache_memlimit <MiB> [noreply]`.
    MemLimit {
        /// New limit in MiB.
        mb: u32,
        /// `noreply` was given.
        noreply: bool,
    },
    /// A meta command (`mg`, `ms`, `md`, `ma`, `mn`, `me`).
    Meta(Meta<'a>),
    /// `stats cachedump <class> <limit>`: keys of a class (0: no limit).
    CacheDump {
        /// The class id (this server has one: 1) and the most keys to
        /// list (0: all, within memcached's 2 MB cap); or the error reply
        /// for bad ones, which memcached gives only once dumps are allowed
        /// (`-X`).
        args: Result<(u32, u32), &'static str>,
    },
    /// `lru_crawler ...`.
    LruCrawler(Crawler<'a>),
    /// `stats detail <on|off|dump>` (or without an argument: empty).
    StatsDetail {
        /// The argument.
        arg: &'a [u8],
    },
    /// `watch [streams]`: make the connection a log watcher (see
    /// [`crate::watch`]).
    Watch {
        /// The streams asked for, as [`crate::watch`]'s bits.
        flags: u16,
    },
    /// `shutdown [graceful]`: stop the server, when enabled (`-A`).
    Shutdown {
        /// The mode was understood (none or `graceful`).
        mode_ok: bool,
    },
}

/// What `lru_crawler` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crawler<'a> {
    /// `lru_crawler crawl <ids|all>`: free dead items.
    Crawl(&'a [u8]),
    /// `lru_crawler metadump <ids|all>`: one line per live item.
    MetaDump(&'a [u8]),
    /// `tocrawl`, `sleep`: accepted, `OK`.
    Setting,
    /// `enable`: start the crawler.
    Enable,
    /// `disable`: stop the crawler.
    Disable,
}

/// What [`Parser::parse`] found at the start of its input.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed<'a> {
    /// No complete request yet: call again with the same bytes and more.
    NeedMore,
    /// A request, and how many input bytes it took (line and data block).
    Command(Command<'a>, usize),
    /// A request that gets an error reply without being executed.
    Error {
        /// The reply, with `\r\n`; `None` when `noreply` silences it.
        reply: Option<&'static str>,
        /// Input bytes taken.
        consumed: usize,
        /// Close the connection after the reply.
        close: bool,
    },
    /// Bytes of a refused request's data block, discarded.
    Skipped(usize),
}

/// Incremental request framing for one connection.
///
/// Each call gets the connection's unconsumed input, starting at the first
/// byte not yet taken by an earlier result. Between calls that returned
/// `NeedMore` the parser keeps how far it scanned for the newline and, for
/// a storage command, how many bytes the data block needs, so it does no
/// rescanning.
#[derive(Debug, Clone)]
pub struct Parser {
    /// Bytes of the current line already scanned for `\n`.
    scanned: usize,
    /// Bytes the pending storage request needs in all (0: none pending).
    pending: usize,
    /// Bytes of a refused data block still to discard.
    swallow: usize,
    /// `-I`: larger data blocks are refused before they arrive.
    item_max: usize,
}

/// What a command line asks of the framing layer.
#[derive(Debug)]
pub(crate) enum Line<'a> {
    /// A complete request without a data block.
    Done(Command<'a>),
    /// An error reply (`None`: silenced by noreply), then discard `swallow`
    /// bytes of data block.
    Error(Option<&'static str>, usize),
    /// The line announces a data block of `len` bytes (plus `\r\n`).
    Data(DataCmd<'a>),
    /// A refused storage request whose `swallow` data bytes must go.
    Refused(Command<'a>, usize),
    /// Close the connection without a reply (an HTTP request line).
    Close,
}

/// A storage request waiting for its data block.
#[derive(Debug)]
pub(crate) struct DataCmd<'a> {
    /// Data block length, without `\r\n`.
    pub len: usize,
    /// The reply for a bad terminator is silenced (text `noreply`).
    pub quiet_errors: bool,
    /// The request, without its data.
    pub cmd: Command<'a>,
}

impl Parser {
    /// A parser for a new connection, refusing items above `item_max`.
    pub fn new(item_max: usize) -> Self {
        Parser {
            scanned: 0,
            pending: 0,
            swallow: 0,
            item_max,
        }
    }

    /// Bytes the parser needs before it can make progress: more than the
    /// input had when it returned `NeedMore` (a data block's full length,
    /// or one more byte).
    pub fn wanted(&self) -> usize {
        self.pending.max(self.scanned + 1)
    }

    /// Parses the request at the start of `input`.
    pub fn parse<'a>(&mut self, input: &'a [u8]) -> Parsed<'a> {
        if self.swallow > 0 {
            if input.is_empty() {
                return Parsed::NeedMore;
            }
            let n = self.swallow.min(input.len());
            self.swallow -= n;
            return Parsed::Skipped(n);
        }
        if input.len() < self.pending {
            return Parsed::NeedMore;
        }
        // Input shorter than last time breaks the contract; rescan then.
        if self.scanned > input.len() {
            self.reset();
        }
        let Some(nl) = input[self.scanned..].iter().position(|&b| b == b'\n') else {
            return if self.no_line_yet(input.len(), input) {
                Parsed::Error {
                    reply: None,
                    consumed: input.len(),
                    close: true,
                }
            } else {
                Parsed::NeedMore
            };
        };
        let nl = self.scanned + nl;
        let line_end = nl + 1;
        let line = input[..nl].strip_suffix(b"\r").unwrap_or(&input[..nl]);
        match text::parse_line(line, self.item_max) {
            Line::Done(cmd) => {
                self.reset();
                Parsed::Command(cmd, line_end)
            }
            Line::Error(reply, swallow) => {
                self.reset();
                self.swallow = swallow;
                Parsed::Error {
                    reply,
                    consumed: line_end,
                    close: false,
                }
            }
            Line::Close => {
                self.reset();
                Parsed::Error {
                    reply: None,
                    consumed: line_end,
                    close: true,
                }
            }
            Line::Refused(cmd, swallow) => {
                self.reset();
                self.swallow = swallow;
                Parsed::Command(cmd, line_end)
            }
            Line::Data(d) => {
                let total = line_end + d.len + 2;
                if input.len() < total {
                    // Keep the newline's position: the next call finds it
                    // at once, and returns early until the block is in.
                    self.scanned = nl;
                    self.pending = total;
                    return Parsed::NeedMore;
                }
                self.reset();
                let block = &input[line_end..total];
                if !block.ends_with(b"\r\n") {
                    return Parsed::Error {
                        reply: (!d.quiet_errors).then_some("CLIENT_ERROR bad data chunk\r\n"),
                        consumed: total,
                        close: false,
                    };
                }
                let data = &block[..d.len];
                let cmd = match d.cmd {
                    Command::Store {
                        mode,
                        key,
                        flags,
                        exptime,
                        cas,
                        noreply,
                        ..
                    } => Command::Store {
                        mode,
                        key,
                        flags,
                        exptime,
                        cas,
                        data,
                        noreply,
                    },
                    Command::Meta(mut m) => {
                        m.data = data;
                        Command::Meta(m)
                    }
                    other => other,
                };
                Parsed::Command(cmd, total)
            }
        }
    }

    /// What the parser waits for.
    pub fn waiting_for(&self) -> Waiting {
        if self.swallow > 0 {
            Waiting::Swallow
        } else if self.pending > 0 {
            Waiting::Data
        } else {
            Waiting::Command
        }
    }

    /// Where the search for the end of the pending line goes on from, if
    /// the parser waits for a line (not for or through a data block).
    pub fn line_scan_from(&self) -> Option<usize> {
        (self.pending == 0 && self.swallow == 0).then_some(self.scanned)
    }

    /// Records that the `len` bytes of input (starting with `head`, of
    /// which the first [`MAX_LINE`] + 1 are enough) hold no newline. Returns
    /// whether the line is already too long: the connection is to close.
    pub fn no_line_yet(&mut self, len: usize, head: &[u8]) -> bool {
        self.scanned = len;
        if len > MAX_LINE && (!is_get_line(head) || len > MAX_GET_LINE) {
            self.reset();
            return true;
        }
        false
    }

    /// Forgets the per-request state once a request is done.
    fn reset(&mut self) {
        self.scanned = 0;
        self.pending = 0;
    }
}

/// Whether an unterminated line is a multi-get, which may exceed
/// [`MAX_LINE`] (memcached allows up to 100 leading spaces).
fn is_get_line(input: &[u8]) -> bool {
    let spaces = input.iter().take(102).take_while(|&&b| b == b' ').count();
    let rest = &input[spaces..];
    spaces <= 100 && (rest.starts_with(b"get ") || rest.starts_with(b"gets "))
}

/// Splits the first space-separated token off `s`: `(token, rest)`.
pub(crate) fn next_token(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = s.iter().position(|&b| b != b' ')?;
    let s = &s[start..];
    let end = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// Up to [`MAX_TOKENS`] tokens of a line, without allocation.
#[derive(Debug)]
pub(crate) struct Tokens<'a> {
    /// The tokens found.
    toks: [&'a [u8]; MAX_TOKENS],
    /// How many.
    n: usize,
}

/// Most tokens a non-get line is split into (memcached's tokenizer fills 24
/// slots, the last one the unsplit rest); a line with more counts as
/// having `MAX_TOKENS`.
pub(crate) const MAX_TOKENS: usize = 23;

impl<'a> Tokens<'a> {
    /// Splits `line` on spaces.
    pub fn split(line: &'a [u8]) -> Self {
        let mut t = Tokens {
            toks: [&[][..]; MAX_TOKENS],
            n: 0,
        };
        let mut rest = line;
        while let Some((tok, r)) = next_token(rest) {
            if t.n == MAX_TOKENS {
                break;
            }
            t.toks[t.n] = tok;
            t.n += 1;
            rest = r;
        }
        t
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Token `i`, or empty past the end.
    pub fn get(&self, i: usize) -> &'a [u8] {
        if i < self.n {
            self.toks[i]
        } else {
            &[]
        }
    }

    /// Whether the last token is `noreply`.
    pub fn noreply(&self) -> bool {
        self.n > 0 && self.toks[self.n - 1] == b"noreply"
    }
}

#[cfg(test)]
mod tests;
