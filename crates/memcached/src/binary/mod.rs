//! memcached's binary protocol (deprecated since memcached 1.6 but still
//! served by it, and spoken by libmemcached clients): framing of request
//! packets, their execution against the [`Store`], and the reply packets.
//!
//! A connection speaks it when its first byte is the request magic 0x80
//! ([`Session`](crate::exec::Session) decides); every later request must
//! then be binary too. As in memcached 1.6 built without SASL:
//!
//! * a header with another magic closes the connection without a reply;
//!   so does a request whose key and extras exceed its body ("Unknown
//!   command" first), a key over 250 bytes or extras, key and body lengths
//!   a command does not take ("Invalid arguments" first);
//! * quiet commands say nothing on success (a hit of GetQ/GetKQ/GATQ/GATKQ
//!   is sent, a miss is not), errors are always sent;
//! * opcodes memcached does not serve, verbosity (0x1b) and the SASL
//!   commands included, get "Unknown command" and their body is skipped.
//!
//! Requests are answered in order into the same [`ReplySink`] as text
//! replies, so a pipelined batch leaves in one write and the output limit
//! holds the connection back exactly as it does for the text protocol.

mod commands;
mod header;
mod opcode;

pub use header::REQUEST_MAGIC;

use header::{Header, HEADER_LEN};
use opcode::{decode, Op};

use crate::item::{item_total, KEY_MAX};
use crate::reply::ReplySink;
use crate::stats::Stats;
use crate::store::Store;

/// What one request did to the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The request is incomplete: the input must hold this many bytes
    /// from the request's first.
    NeedMore(usize),
    /// Done: `consumed` bytes taken, `swallow` more to discard as they
    /// arrive, and whether to close after the replies.
    Done {
        /// Bytes taken from the input.
        consumed: usize,
        /// Bytes of a refused value still to come.
        swallow: usize,
        /// Close the connection.
        close: bool,
    },
}

/// The binary protocol state of one connection.
#[derive(Debug, Clone)]
pub struct BinarySession {
    /// Bytes of a refused request's body still to discard.
    swallow: usize,
    /// Input bytes needed before [`process`](Self::process) can go on.
    wanted: usize,
}

impl Default for BinarySession {
    fn default() -> Self {
        Self::new()
    }
}

impl BinarySession {
    /// A binary connection's state.
    pub fn new() -> Self {
        BinarySession {
            swallow: 0,
            wanted: 0,
        }
    }

    /// Input length below which [`process`](Self::process) cannot make
    /// progress: the rest of a header, of a key or of a value.
    pub fn wanted(&self) -> usize {
        self.wanted
    }

    /// Runs every complete request at the start of `input` (the
    /// connection's unconsumed bytes), appending the replies to `out`;
    /// stops when `out` [is full](ReplySink::is_full), at Quit, at a
    /// request that closes the connection, or after `per_turn` requests
    /// with more input left. Returns the input bytes used (drop them
    /// before the next call), whether to close the connection once the
    /// replies are sent, and whether it stopped for `per_turn`.
    pub fn process(
        &mut self,
        input: &[u8],
        store: &mut Store,
        stats: &mut Stats,
        out: &mut impl ReplySink,
        per_turn: usize,
    ) -> (usize, bool, bool) {
        // What earlier batches replied has gone out (or will before any
        // reply of this one).
        store.release_held();
        let mut pos = 0;
        let mut turn = 0;
        self.wanted = 0;
        while !out.is_full() {
            let rest = &input[pos..];
            if turn == per_turn && self.swallow == 0 && !rest.is_empty() {
                return (pos, false, true);
            }
            if self.swallow > 0 {
                if rest.is_empty() {
                    self.wanted = 1;
                    break;
                }
                let n = self.swallow.min(rest.len());
                self.swallow -= n;
                pos += n;
                continue;
            }
            if rest.len() < HEADER_LEN {
                self.wanted = HEADER_LEN;
                break;
            }
            match step(rest, store, stats, out) {
                Step::NeedMore(n) => {
                    self.wanted = n;
                    break;
                }
                Step::Done {
                    consumed,
                    swallow,
                    close,
                } => {
                    pos += consumed;
                    self.swallow = swallow;
                    turn += 1;
                    if close {
                        return (pos, true, false);
                    }
                }
            }
        }
        (pos, false, false)
    }
}

/// Frames and runs the request at the start of `input` (which holds at
/// least a header).
fn step(input: &[u8], store: &mut Store, stats: &mut Stats, out: &mut impl ReplySink) -> Step {
    let h = Header::parse(input);
    if h.magic != REQUEST_MAGIC {
        return Step::Done {
            consumed: input.len(),
            swallow: 0,
            close: true,
        };
    }
    // Like memcached, look at a request once its extras and key are in;
    // a value is waited for only if the request is going to be run.
    let fixed = h.fixed_len();
    if input.len() < fixed {
        return Step::NeedMore(fixed);
    }
    let (extras_len, key_len) = (h.extras_len as usize, h.key_len as usize);
    let body = h.body_len as usize;
    let fail = |status: u16, out: &mut _| {
        commands::error(&h, status, out);
        Step::Done {
            consumed: fixed,
            swallow: 0,
            close: true,
        }
    };
    if key_len + extras_len > body {
        return fail(opcode::UNKNOWN_COMMAND, out);
    }
    if key_len > KEY_MAX {
        return fail(opcode::EINVAL, out);
    }
    let value_len = body - extras_len - key_len;
    let unknown = |out: &mut _| {
        // The body is skipped: the next request starts after it.
        commands::error(&h, opcode::UNKNOWN_COMMAND, out);
        Step::Done {
            consumed: fixed,
            swallow: value_len,
            close: false,
        }
    };
    let Some((op, quiet)) = decode(h.opcode) else {
        return unknown(out);
    };
    if !op.shape_ok(extras_len, key_len, body) {
        return fail(opcode::EINVAL, out);
    }
    if matches!(op, Op::SaslList | Op::SaslAuth) {
        // Checked as memcached checks them, then unknown without SASL.
        return unknown(out);
    }
    let extras = &input[HEADER_LEN..HEADER_LEN + extras_len];
    let key = &input[HEADER_LEN + extras_len..fixed];
    let req = commands::Request {
        header: &h,
        op,
        quiet,
        extras,
        key,
        value: &[],
    };
    if !op.has_value() {
        let close = commands::run(&req, store, stats, out);
        return Step::Done {
            consumed: fixed,
            swallow: 0,
            close,
        };
    }
    // Refuse an item that cannot be stored before its value arrives (it is
    // skipped as it comes), as memcached does when allocating it.
    let flags = if extras.len() >= 4 {
        u32::from_be_bytes([extras[0], extras[1], extras[2], extras[3]])
    } else {
        0
    };
    // (A body near 4 GiB is refused before any sum that could overflow.)
    let too_large =
        value_len > store.item_max() || item_total(key_len, value_len, flags) > store.item_max();
    if too_large || item_total(key_len, value_len, flags) > store.limit() {
        commands::refuse(&req, too_large, store, stats, out);
        return Step::Done {
            consumed: fixed,
            swallow: value_len,
            close: false,
        };
    }
    if input.len() < fixed + value_len {
        return Step::NeedMore(fixed + value_len);
    }
    let req = commands::Request {
        value: &input[fixed..fixed + value_len],
        ..req
    };
    commands::run(&req, store, stats, out);
    Step::Done {
        consumed: fixed + value_len,
        swallow: 0,
        close: false,
    }
}

#[cfg(test)]
mod harness;
#[cfg(test)]
mod tests;
