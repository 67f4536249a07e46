//! Running requests against the store: [`execute`] for one parsed command,
//! [`Session::process`] for everything a connection's input holds.

mod dump;
mod meta;
mod text;

use crate::binary::{self, BinarySession};
use crate::protocol::{Command, Crawler, Meta, MetaKind, Parsed, Parser};
use crate::reply::ReplySink;
use crate::stats::{Stats, Waiting};
use crate::store::Store;

/// Which protocols connections speak (`-B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Each connection's first byte decides, as in memcached: 0x80 is
    /// binary, anything else text.
    #[default]
    Auto,
    /// Text (and meta) only.
    Ascii,
    /// Binary only.
    Binary,
}

/// What the connection does after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the next request.
    Continue,
    /// Send the replies so far, then close (`quit`).
    Close,
    /// Close, and stop the server (`shutdown`, enabled by `-A`).
    Shutdown,
    /// Become a log watcher of these streams (`watch`).
    Watch(u16),
}

/// Runs `cmd`, appending its reply (if any) to `out`.
pub fn execute(
    cmd: &Command<'_>,
    store: &mut Store,
    stats: &mut Stats,
    out: &mut impl ReplySink,
) -> Action {
    match cmd {
        Command::Quit => return Action::Close,
        Command::Shutdown { mode_ok: true } if stats.settings.shutdown_enabled => {
            return Action::Shutdown
        }
        Command::Watch { flags } if !stats.settings.watch_disabled => return Action::Watch(*flags),
        Command::Meta(m) => meta::execute(m, store, stats, out),
        _ => text::execute(cmd, store, stats, out),
    }
    Action::Continue
}

/// Result of [`Session::process`] (the default: nothing done, go on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Input bytes used; drop them before the next call.
    pub consumed: usize,
    /// Close the connection once the replies are written.
    pub close: bool,
    /// Stop the server (`shutdown`): `close` is set too.
    pub shutdown: bool,
    /// It stopped after its requests-per-turn (`-R`) with input left:
    /// call again once other connections had their turn.
    pub yielded: bool,
    /// `watch` made the connection a log watcher of these streams (see
    /// [`crate::watch`]): its `OK` is the caller's to send, and the rest of
    /// its input is not requests.
    pub watch: Option<u16>,
    /// `close` is for a protocol error, not a `quit` (what a watcher of
    /// connection events is told).
    pub error: bool,
}

/// A request whose reply is produced in steps, as the output drains: a
/// multi-get (its line stays at the start of the input until it is done)
/// or a metadump.
#[derive(Debug, Clone, Copy)]
enum Resume {
    /// A get/gets/gat/gats whose keys `input[from..end]` are still to
    /// answer; the request line is `line` bytes long.
    Get {
        /// Length of the whole request line, newline included.
        line: usize,
        /// Offset of the first key not yet answered.
        from: usize,
        /// End of the key list.
        end: usize,
        /// gets/gats.
        cas: bool,
        /// gat/gats: the exptime.
        touch: Option<i64>,
    },
    /// A metadump going on from this slot (its line is consumed).
    MetaDump(u32),
}

/// The protocol state of one connection.
#[derive(Debug, Clone)]
pub struct Session {
    /// Framing state between reads.
    parser: Parser,
    /// A request answered in steps, in progress.
    resume: Option<Resume>,
    /// The connection's first byte has decided its protocol.
    decided: bool,
    /// It was the binary protocol's magic: the binary state.
    binary: Option<BinarySession>,
    /// The protocols it may speak (`-B`).
    protocol: Protocol,
    /// Requests per call of [`process`](Self::process) (`-R`).
    per_turn: usize,
    /// It has authenticated (or needs not: no `-Y`).
    authenticated: bool,
}

impl Session {
    /// A new connection's state; `item_max` is `-I`. Speaks either
    /// protocol and runs every request it has in one turn.
    #[cfg(test)]
    pub fn new(item_max: usize) -> Self {
        Session::with_limits(item_max, Protocol::Auto, usize::MAX)
    }

    /// A new connection's state that speaks `protocol` and runs at most
    /// `per_turn` requests (at least 1) per [`process`](Self::process).
    pub fn with_limits(item_max: usize, protocol: Protocol, per_turn: usize) -> Self {
        Session {
            parser: Parser::new(item_max),
            resume: None,
            decided: false,
            binary: None,
            protocol,
            per_turn: per_turn.max(1),
            authenticated: false,
        }
    }

    /// Whether its first byte chose the binary protocol.
    pub fn speaks_binary(&self) -> bool {
        self.binary.is_some()
    }

    /// Whether a request is half answered (a long multi-get or a
    /// metadump waiting for the output to drain): call
    /// [`process`](Self::process) again once it has, even without input.
    pub fn busy(&self) -> bool {
        self.resume.is_some()
    }

    /// Goes on with a request answered in steps. Returns the input bytes
    /// it finished with (0 if it is still going on), or `None` if it still
    /// is.
    fn resume(
        &mut self,
        input: &[u8],
        store: &mut Store,
        stats: &mut Stats,
        out: &mut impl ReplySink,
    ) -> Option<usize> {
        match self.resume.take()? {
            Resume::Get {
                line,
                from,
                end,
                cas,
                touch,
            } => {
                // The line stays in the input until the get is done.
                let keys = input.get(from..end)?;
                match text::get(keys, cas, touch, store, stats, out) {
                    Some(done) => {
                        self.resume = Some(Resume::Get {
                            line,
                            from: from + done,
                            end,
                            cas,
                            touch,
                        });
                        None
                    }
                    None => Some(line),
                }
            }
            Resume::MetaDump(at) => match dump::metadump(store, at, out) {
                Some(next) => {
                    self.resume = Some(Resume::MetaDump(next));
                    None
                }
                None => Some(0),
            },
        }
    }

    /// Runs every complete request at the start of `input` (the
    /// connection's unconsumed bytes), appending all their replies to
    /// `out`, so a pipelined batch is answered in one write. Stops early at
    /// `quit` or a fatal protocol error (`close`), between requests once
    /// `out` [is full](ReplySink::is_full) (call again when it has
    /// drained), and after its requests per turn (`yielded`: call again
    /// after the other connections' turns).
    pub fn process(
        &mut self,
        input: &[u8],
        store: &mut Store,
        stats: &mut Stats,
        out: &mut impl ReplySink,
    ) -> Progress {
        // As memcached, the first byte decides (0x80 is a binary request),
        // unless `-B` bound the protocol.
        if !self.decided && !input.is_empty() {
            self.decided = true;
            let binary = match self.protocol {
                Protocol::Auto => input[0] == binary::REQUEST_MAGIC,
                Protocol::Ascii => false,
                Protocol::Binary => true,
            };
            if binary {
                self.binary = Some(BinarySession::new());
            }
        }
        if let Some(b) = &mut self.binary {
            let (consumed, close, yielded) = b.process(input, store, stats, out, self.per_turn);
            return Progress {
                consumed,
                close,
                yielded,
                ..Progress::default()
            };
        }
        let mut pos = 0;
        let still = Progress::default();
        let mut turn = 0;
        if self.resume.is_some() {
            if out.is_full() {
                return still;
            }
            match self.resume(input, store, stats, out) {
                Some(done) => pos = done,
                None => return still,
            }
        }
        // Whether replies of earlier requests in this batch wait to be
        // sent: memcached sends them at a get or `mn` (or when the input
        // runs out), and refuses a metadump after unsent ones. The items
        // they hold are the store's `held` ones.
        let mut stacked = false;
        store.release_held();
        while !out.is_full() {
            if turn == self.per_turn {
                if pos < input.len() {
                    return Progress {
                        consumed: pos,
                        yielded: true,
                        ..Progress::default()
                    };
                }
                break;
            }
            let rest = &input[pos..];
            if !self.authenticated {
                let Some(file) = &stats.settings.auth else {
                    self.authenticated = true;
                    continue;
                };
                match crate::auth::step(rest, file) {
                    crate::auth::Step::NeedMore => break,
                    crate::auth::Step::Reply {
                        consumed,
                        reply,
                        attempt,
                        authenticated,
                    } => {
                        pos += consumed;
                        turn += 1;
                        out.put(reply);
                        stats.auth_cmds += u64::from(attempt);
                        stats.auth_errors += u64::from(attempt && !authenticated);
                        self.authenticated = authenticated;
                        continue;
                    }
                    crate::auth::Step::Close => {
                        return Progress {
                            consumed: input.len(),
                            close: true,
                            error: true,
                            ..Progress::default()
                        }
                    }
                }
            }
            let parsed = self.parser.parse(rest);
            if !matches!(parsed, Parsed::NeedMore | Parsed::Skipped(_)) {
                turn += 1;
            }
            match parsed {
                Parsed::NeedMore => break,
                Parsed::Skipped(n) => pos += n,
                Parsed::Error {
                    reply,
                    consumed,
                    close,
                } => {
                    stacked = true;
                    if let Some(r) = reply {
                        out.put(r.as_bytes());
                    }
                    pos += consumed;
                    if close {
                        return Progress {
                            consumed: pos,
                            close: true,
                            error: true,
                            ..Progress::default()
                        };
                    }
                }
                Parsed::Command(Command::Get { keys, cas, touch }, n) => {
                    stacked = false;
                    store.release_held();
                    let Some(left) = text::get(keys, cas, touch, store, stats, out) else {
                        pos += n;
                        continue;
                    };
                    // Where the keys lie in the line, to go on from there
                    // once the output has drained.
                    let from = keys.as_ptr() as usize - rest.as_ptr() as usize;
                    self.resume = Some(Resume::Get {
                        line: n,
                        from: from + left,
                        end: from + keys.len(),
                        cas,
                        touch,
                    });
                    break;
                }
                Parsed::Command(Command::LruCrawler(Crawler::MetaDump(_)), n)
                    if stacked
                        || stats.settings.crawler_disabled
                        || stats.settings.dump_disabled =>
                {
                    pos += n;
                    // memcached's order of the checks.
                    out.put(if stats.settings.crawler_disabled {
                        text::CRAWLER_DISABLED
                    } else if stats.settings.dump_disabled {
                        text::METADUMP_NOT_ALLOWED
                    } else {
                        b"ERROR cannot pipeline other commands before metadump\r\n"
                    });
                    stacked = true;
                }
                Parsed::Command(Command::LruCrawler(Crawler::MetaDump(ids)), n) => {
                    pos += n;
                    stacked = true;
                    if let Some(at) = text::metadump_start(ids, out) {
                        self.resume = Some(Resume::MetaDump(at));
                        if self.resume(&[], store, stats, out).is_none() {
                            break;
                        }
                    }
                }
                Parsed::Command(cmd, n) => {
                    pos += n;
                    let was_stacked = stacked;
                    let flush = matches!(
                        cmd,
                        Command::Meta(Meta {
                            kind: MetaKind::Noop,
                            ..
                        })
                    );
                    stacked = !flush;
                    if flush {
                        store.release_held();
                    }
                    if matches!(cmd, Command::Watch { .. }) && was_stacked {
                        out.put(b"ERROR cannot pipeline other commands before watch\r\n");
                        continue;
                    }
                    match execute(&cmd, store, stats, out) {
                        Action::Continue => {}
                        Action::Watch(flags) => {
                            return Progress {
                                consumed: pos,
                                watch: Some(flags),
                                ..Progress::default()
                            }
                        }
                        action => {
                            return Progress {
                                consumed: pos,
                                close: true,
                                shutdown: action == Action::Shutdown,
                                ..Progress::default()
                            }
                        }
                    }
                }
            }
        }
        Progress {
            consumed: pos,
            ..Progress::default()
        }
    }

    /// Input length below which [`process`](Self::process) cannot make
    /// progress (for a server that wants to skip useless calls); 0 while
    /// a request is half answered.
    pub fn wanted(&self) -> usize {
        if let Some(b) = &self.binary {
            b.wanted()
        } else if self.resume.is_some() {
            0
        } else {
            self.parser.wanted()
        }
    }

    /// What the connection waits for: a request, or the rest of a data
    /// block to store or to discard.
    pub fn waiting_for(&self) -> Waiting {
        if self.binary.is_some() || self.resume.is_some() {
            Waiting::Command
        } else {
            self.parser.waiting_for()
        }
    }

    /// Where the search for the end of the pending request line goes on
    /// from, when the session waits for a line (not for a data block):
    /// a server holding the input in pieces can look for the newline
    /// itself, from there, and call [`process`](Self::process) only once
    /// it has arrived, so a line sent a few bytes at a time costs linear
    /// time.
    pub fn line_scan_from(&self) -> Option<usize> {
        // Binary requests are not lines (nor may the first byte be one).
        if self.resume.is_some() || !self.decided || self.binary.is_some() {
            return None;
        }
        self.parser.line_scan_from()
    }

    /// Tells the session that the input, `len` bytes long and starting
    /// with `head`, still holds no newline after the
    /// [`line_scan_from`](Self::line_scan_from) position. Returns the
    /// progress to act on when the line is already too long (close without
    /// a reply, as memcached does), else `None`.
    pub fn no_line_yet(&mut self, len: usize, head: &[u8]) -> Option<Progress> {
        self.parser.no_line_yet(len, head).then_some(Progress {
            consumed: len,
            close: true,
            error: true,
            ..Progress::default()
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod transcripts;
