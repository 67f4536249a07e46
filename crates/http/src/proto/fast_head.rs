//! [`scan_fast`]: the common request head found and tokenised in one
//! pass, instead of the scanner's pass, httparse's and the line-end check.
//!
//! It takes only heads on which it is certain to agree with the full
//! path ([`HeadScanner::scan`](super::HeadScanner::scan), then
//! [`parse_request_head`](super::parse_request_head)): a known method, an
//! origin-form target of visible ASCII, `HTTP/1.1`, field lines of token
//! names and values without control characters (HTAB aside), CRLF line
//! ends, every limit kept, all in the input's first piece. Anything else,
//! valid or not, is `None` and goes the full way, which then finds the
//! error if there is one. The checks after tokenising (target, Host,
//! framing, ...) are the full path's own ([`finish_lazy`]).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use super::field_line::field_line;
use super::head::{finish_lazy, sub, Head, HeadCache};
use super::names::field_name;
use super::scan::find_lf;
use super::token::trim_ows;
use super::{spare_maps, HttpError, Limits};

/// Most field lines a head taken here may have (more go the full way).
pub(crate) const FAST_FIELDS: usize = 32;

/// A head [`scan_fast`] found: where its parts are, as offsets from its
/// start (a head taken here is shorter than 64 KiB). One is kept and
/// refilled for each head (it is large to make or move).
#[derive(Debug)]
pub(crate) struct FastHead {
    len: usize,
    method: Method,
    target: (u16, u16),
    count: usize,
    /// Each field line's name (start, end) and value (start, end).
    fields: [[u16; 4]; FAST_FIELDS],
}

impl Default for FastHead {
    fn default() -> Self {
        FastHead {
            len: 0,
            method: Method::GET,
            target: (0, 0),
            count: 0,
            fields: [[0; 4]; FAST_FIELDS],
        }
    }
}

impl FastHead {
    /// The head's length: the bytes to split off the input, through the
    /// blank line.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The request head, `shared` being the `len()` bytes split off: the
    /// same result as [`parse_request_head`](super::parse_request_head)
    /// of those bytes, except that the field map may be left out, to be
    /// made by [`fields_map`] of `shared` if it is ever looked at (no
    /// check needed it).
    pub(crate) fn parse(
        &self,
        shared: &Bytes,
        cache: Option<&mut HeadCache>,
    ) -> Result<Head, HttpError> {
        let at = |a: u16, b: u16| &shared[usize::from(a)..usize::from(b)];
        let fields = self.fields[..self.count]
            .iter()
            .map(|f| (at(f[0], f[1]), at(f[2], f[3])));
        let target = at(self.target.0, self.target.1);
        finish_lazy(shared, self.method.clone(), target, fields, cache)
    }
}

/// The field map of `head`, a head [`FastHead::parse`] left its fields in:
/// what the full path would have made of them.
pub(crate) fn fields_map(head: &Bytes) -> HeaderMap {
    let h: &[u8] = head;
    // The head was checked: every line ends in CRLF, every field line is
    // `name:value` with a token name, the value without CR or LF. A kept
    // map has room for the usual head (no pass to count the lines).
    let mut map = spare_maps::take(0);
    let mut at = find_lf(h).map_or(h.len(), |lf| lf + 1);
    while let Some(colon) = h[at..].iter().position(|&b| b == b':').map(|i| at + i) {
        let Some(lf) = find_lf(&h[colon..]).map(|i| colon + i) else {
            break;
        };
        let end = lf.saturating_sub(1).max(colon + 1);
        let (name, value) = (&h[at..colon], trim_ows(&h[colon + 1..end]));
        at = lf + 1;
        let (Ok(name), Ok(value)) = (
            field_name(name),
            HeaderValue::from_maybe_shared(sub(head, value)),
        ) else {
            continue;
        };
        map.append(name, value);
    }
    map
}

/// Whether `piece` starts with a common head (see the module
/// documentation), then described in `head`. Looks at no byte past the
/// head, nor past `limits.max_head`.
pub(crate) fn scan_fast(piece: &[u8], limits: &Limits, head: &mut FastHead) -> bool {
    scan_into(piece, limits, head).is_some()
}

fn scan_into(piece: &[u8], limits: &Limits, head: &mut FastHead) -> Option<()> {
    let p = &piece[..piece.len().min(limits.max_head).min(usize::from(u16::MAX))];
    let (method, mut at) = known_method(p)?;
    let t0 = at;
    if p.get(at) != Some(&b'/') {
        return None;
    }
    while TARGET[usize::from(*p.get(at)?)] {
        at += 1;
    }
    let t1 = at;
    if p.get(at..at + 11)? != b" HTTP/1.1\r\n" {
        return None;
    }
    // The request line without its CRLF.
    if at + 9 > limits.max_request_line {
        return None;
    }
    at += 11;
    head.method = method;
    head.target = (t0 as u16, t1 as u16);
    head.count = 0;
    loop {
        if *p.get(at)? == b'\r' {
            if *p.get(at + 1)? != b'\n' {
                return None;
            }
            head.len = at + 2;
            return Some(());
        }
        if head.count == FAST_FIELDS || head.count == limits.max_headers {
            return None;
        }
        let f = field_line(p, at)?;
        // Every offset is below `p.len()`, which fits u16.
        head.fields[head.count] = [f.name as u16, f.colon as u16, f.value as u16, f.end as u16];
        head.count += 1;
        at = f.next;
    }
}

/// The method and the offset after its space, for the methods taken here.
fn known_method(p: &[u8]) -> Option<(Method, usize)> {
    Some(match p.get(..4)? {
        b"GET " => (Method::GET, 4),
        b"PUT " => (Method::PUT, 4),
        b"POST" if p.get(4) == Some(&b' ') => (Method::POST, 5),
        b"HEAD" if p.get(4) == Some(&b' ') => (Method::HEAD, 5),
        b"PATC" if p.get(4..6) == Some(b"H ") => (Method::PATCH, 6),
        b"DELE" if p.get(4..7) == Some(b"TE ") => (Method::DELETE, 7),
        b"OPTI" if p.get(4..8) == Some(b"ONS ") => (Method::OPTIONS, 8),
        _ => return None,
    })
}

/// Target bytes taken here: visible ASCII (httparse also takes bytes from
/// 0x80, which go the full way).
const TARGET: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0x21;
    while i < 0x7f {
        t[i] = true;
        i += 1;
    }
    t
};

#[cfg(test)]
#[path = "fast_head_tests.rs"]
mod tests;
