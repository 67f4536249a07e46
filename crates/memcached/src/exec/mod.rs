//! Running requests against the store: [`execute`] for one parsed command,
//! [`Session::process`] for everything a connection's input holds.

mod meta;
mod text;

use crate::protocol::{Command, Parsed, Parser};
use crate::reply::ReplySink;
use crate::stats::Stats;
use crate::store::Store;

/// What the connection does after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the next request.
    Continue,
    /// Send the replies so far, then close (`quit`, line too long).
    Close,
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
        Command::Meta(m) => meta::execute(m, store, stats, out),
        _ => text::execute(cmd, store, stats, out),
    }
    Action::Continue
}

/// Result of [`Session::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used; drop them before the next call.
    pub consumed: usize,
    /// Close the connection once the replies are written.
    pub close: bool,
}

/// The protocol state of one connection.
#[derive(Debug, Clone)]
pub struct Session {
    /// Framing state between reads.
    parser: Parser,
}

impl Session {
    /// A new connection's state; `item_max` is `-I`.
    pub fn new(item_max: usize) -> Self {
        Session {
            parser: Parser::new(item_max),
        }
    }

    /// Runs every complete request at the start of `input` (the
    /// connection's unconsumed bytes), appending all their replies to
    /// `out`, so a pipelined batch is answered in one write. Stops early at
    /// `quit` or a fatal protocol error (`close`), and between requests
    /// once `out` [is full](ReplySink::is_full) (call again when it has
    /// drained).
    pub fn process(
        &mut self,
        input: &[u8],
        store: &mut Store,
        stats: &mut Stats,
        out: &mut impl ReplySink,
    ) -> Progress {
        let mut pos = 0;
        while !out.is_full() {
            match self.parser.parse(&input[pos..]) {
                Parsed::NeedMore => break,
                Parsed::Skipped(n) => pos += n,
                Parsed::Error {
                    reply,
                    consumed,
                    close,
                } => {
                    if let Some(r) = reply {
                        out.put(r.as_bytes());
                    }
                    pos += consumed;
                    if close {
                        return Progress {
                            consumed: pos,
                            close: true,
                        };
                    }
                }
                Parsed::Command(cmd, n) => {
                    pos += n;
                    if execute(&cmd, store, stats, out) == Action::Close {
                        return Progress {
                            consumed: pos,
                            close: true,
                        };
                    }
                }
            }
        }
        Progress {
            consumed: pos,
            close: false,
        }
    }

    /// Input length below which [`process`](Self::process) cannot make
    /// progress (for a server that wants to skip useless calls).
    pub fn wanted(&self) -> usize {
        self.parser.wanted()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod transcripts;
