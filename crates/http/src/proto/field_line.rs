//! [`field_line`]: one common field line tokenised in one pass, for the
//! fast paths of request heads ([`scan_fast`](super::scan_fast)) and of
//! response heads on a connection (`response_lines`).
//!
//! It takes only lines on which it is certain to agree with httparse in
//! strict mode: a token name, a colon, a value without control characters
//! (HTAB aside), CRLF. Anything else is `None`, and the caller hands the
//! whole head to the full path, which finds the error if there is one.

/// Where the parts of a field line are, as offsets in the bytes given.
#[derive(Clone, Copy, Debug)]
pub(super) struct FieldLine {
    /// The name's first byte.
    pub(super) name: usize,
    /// The colon after the name (the name's end).
    pub(super) colon: usize,
    /// The value's first byte, after the colon's whitespace.
    pub(super) value: usize,
    /// The value's end, before its trailing whitespace.
    pub(super) end: usize,
    /// The byte after the line's CRLF.
    pub(super) next: usize,
}

/// The field line that starts at `at` in `p` (which must hold its CRLF).
// Inlined into both loops: a call per line costs the request fast path
// about 1 % of a pipelined request.
#[inline(always)]
pub(super) fn field_line(p: &[u8], at: usize) -> Option<FieldLine> {
    let name = at;
    let mut at = at;
    while TCHAR[usize::from(*p.get(at)?)] {
        at += 1;
    }
    if at == name || p[at] != b':' {
        return None;
    }
    let colon = at;
    at += 1;
    while matches!(*p.get(at)?, b' ' | b'\t') {
        at += 1;
    }
    let value = at;
    let cr = loop {
        let i = at + find_control(&p[at..])?;
        match p[i] {
            b'\t' => at = i + 1,
            b'\r' => break i,
            _ => return None,
        }
    };
    if *p.get(cr + 1)? != b'\n' {
        return None;
    }
    let mut end = cr;
    while end > value && matches!(p[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    Some(FieldLine {
        name,
        colon,
        value,
        end,
        next: cr + 2,
    })
}

/// The first byte below 0x20 or equal to 0x7F (a control: CR, HTAB, ...),
/// eight bytes per step. Bytes from 0x80 (obs-text) are not controls.
fn find_control(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = ONES * 0x80;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        // The has-less-than test (exact for the lowest byte below 0x20),
        // and the has-zero test on x ^ DEL (exact for the lowest DEL): the
        // lower of the two lowest marks is the first control.
        let below = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let d = x ^ (ONES * 0x7f);
        let del = d.wrapping_sub(ONES) & !d & HIGHS;
        let m = below | del;
        if m != 0 {
            return Some(at + (m.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = words.remainder();
    tail.iter()
        .position(|&b| b < 0x20 || b == 0x7f)
        .map(|i| at + i)
}

/// RFC 9110 `tchar`, as httparse's field-name check.
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let extra = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_control_agrees_with_a_plain_search() {
        for len in 0..40 {
            for at in 0..=len {
                for c in [0u8, b'\t', b'\r', b'\n', 0x1f, 0x7f] {
                    for other in [b'a', b' ', 0x80, 0xff, 0x7e, 0x20, 0x21] {
                        let mut v = vec![other; len];
                        if at < len {
                            v[at] = c;
                        }
                        let want = v.iter().position(|&b| b < 0x20 || b == 0x7f);
                        assert_eq!(find_control(&v), want, "{v:?}");
                    }
                }
            }
        }
    }
}
