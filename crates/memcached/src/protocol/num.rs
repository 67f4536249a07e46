//! Number parsing with memcached's rules (its `safe_strto*` helpers), on
//! byte slices, without allocation.

/// Digits of `s` after an optional `+`, as a u64; `None` for anything else,
/// an empty number or overflow.
fn unsigned(s: &[u8]) -> Option<u64> {
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    Some(n)
}

/// A token holding a 64-bit unsigned number (CAS unique, incr/decr delta,
/// meta `C`, `D`, `J`).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    unsigned(s)
}

/// A token holding 32-bit unsigned client flags.
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    unsigned(s).and_then(|n| u32::try_from(n).ok())
}

/// A token holding a signed 32-bit number (exptime, byte count).
pub fn parse_i32(s: &[u8]) -> Option<i32> {
    match s.strip_prefix(b"-") {
        Some(rest) => {
            if rest.starts_with(b"+") {
                return None;
            }
            let n = unsigned(rest)?;
            if n > 1 << 31 {
                None
            } else {
                Some((-(n as i64)) as i32)
            }
        }
        None => unsigned(s).and_then(|n| i32::try_from(n).ok()),
    }
}

/// A token holding an exptime: signed, 64-bit. memcached reads 32 bits and
/// wraps larger unix times into the past; a time after 2038 is kept here.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    match s.strip_prefix(b"-") {
        Some(rest) if !rest.starts_with(b"+") => {
            let n = unsigned(rest)?;
            if n > 1 << 63 {
                None
            } else {
                Some((n as i64).wrapping_neg())
            }
        }
        Some(_) => None,
        None => unsigned(s).and_then(|n| i64::try_from(n).ok()),
    }
}

/// An item's value read as a number for incr/decr, as `strtoull` would:
/// leading whitespace, an optional sign, digits, then whitespace or the
/// end. A minus sign is only accepted on zero.
pub fn parse_value_u64(v: &[u8]) -> Option<u64> {
    let start = v.iter().position(|b| !is_space(*b))?;
    let v = &v[start..];
    let (neg, v) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let end = v
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(v.len());
    if end == 0 || !v[end..].first().is_none_or(|b| is_space(*b)) {
        return None;
    }
    let n = unsigned(&v[..end])?;
    if neg && n != 0 {
        return None;
    }
    Some(n)
}

/// C's `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64s() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"+5"), Some(5));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"+"), None);
        assert_eq!(parse_u64(b"1x"), None);
    }

    #[test]
    fn u32s() {
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32(b"x"), None);
    }

    #[test]
    fn i32s() {
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse_i32(b"2147483648"), None);
        assert_eq!(parse_i32(b"-2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"-2147483649"), None);
        assert_eq!(parse_i32(b"-"), None);
        assert_eq!(parse_i32(b"-+1"), None);
        assert_eq!(parse_i32(b"abc"), None);
    }

    #[test]
    fn i64s() {
        assert_eq!(parse_i64(b"4102444800"), Some(4_102_444_800));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-+1"), None);
        assert_eq!(parse_i64(b"x"), None);
    }

    #[test]
    fn values_like_strtoull() {
        assert_eq!(parse_value_u64(b"12"), Some(12));
        assert_eq!(parse_value_u64(b" 1"), Some(1));
        assert_eq!(parse_value_u64(b"1 "), Some(1));
        assert_eq!(parse_value_u64(b"2    "), Some(2));
        assert_eq!(parse_value_u64(b"1 2"), Some(1));
        assert_eq!(parse_value_u64(b"-0"), Some(0));
        assert_eq!(parse_value_u64(b"-12"), None);
        assert_eq!(parse_value_u64(b"abc"), None);
        assert_eq!(parse_value_u64(b"12abc"), None);
        assert_eq!(parse_value_u64(b""), None);
        assert_eq!(parse_value_u64(b"   "), None);
        assert_eq!(parse_value_u64(b"18446744073709551616"), None);
    }
}
