//! Number parsing with memcached's rules (its `safe_strto*` helpers), on
//! byte slices, without allocation.

/// What C's `strtoull`/`strtoll` read at the start of `s`: leading
/// whitespace, an optional sign, at least one digit. Returns the
/// magnitude, whether it was negated, and how many bytes were read;
/// `None` when no digits were found or the magnitude exceeds 64 bits
/// (`ERANGE`).
fn strto(s: &[u8]) -> Option<(u64, bool, usize)> {
    let mut i = s.iter().take_while(|&&b| is_space(b)).count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in &s[i..i + digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((n, neg, i + digits))
}

/// memcached's check after the number: the end of the token or a
/// whitespace byte (whatever follows it is ignored).
fn ends_ok(s: &[u8], end: usize) -> bool {
    s.get(end).is_none_or(|&b| is_space(b))
}

/// memcached's `safe_strtoull`: `strtoull`, refusing a result with the
/// top bit set when the text holds a minus sign (so `-1` fails, `-0` is 0).
fn strtoull(s: &[u8]) -> Option<u64> {
    let (n, neg, end) = strto(s)?;
    if !ends_ok(s, end) {
        return None;
    }
    let v = if neg { n.wrapping_neg() } else { n };
    if (v as i64) < 0 && s.contains(&b'-') {
        return None;
    }
    Some(v)
}

/// A token holding a 64-bit unsigned number (CAS unique, incr/decr delta,
/// meta `C`, `D`, `J`), as memcached's `safe_strtoull` reads it.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    strtoull(s)
}

/// A token holding 32-bit unsigned client flags, as memcached's
/// `safe_strtoul` reads it: a 64-bit `strtoul` whose result is cut to 32
/// bits (`4294967297` is 1).
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    strtoull(s).map(|v| v as u32)
}

/// A token holding a signed 32-bit number (exptime, byte count, delay), as
/// memcached's `safe_strtol` reads it: a 64-bit `strtol` whose result is
/// cut to 32 bits (`4294967297` is 1, a unix time after 2038 negative).
pub fn parse_i32(s: &[u8]) -> Option<i32> {
    let (n, neg, end) = strto(s)?;
    if !ends_ok(s, end) {
        return None;
    }
    let v = if neg {
        if n > 1 << 63 {
            return None;
        }
        (n as i64).wrapping_neg()
    } else {
        i64::try_from(n).ok()?
    };
    Some(v as i32)
}

/// A token holding an exptime: read as memcached does ([`parse_i32`]),
/// widened for the clock.
pub fn parse_exptime(s: &[u8]) -> Option<i64> {
    parse_i32(s).map(i64::from)
}

/// An item's value read as a number for incr/decr, as memcached reads it
/// (`safe_strtoull` on the value and its `\r\n`): leading whitespace, an
/// optional sign, digits, then whitespace or the end.
pub fn parse_value_u64(v: &[u8]) -> Option<u64> {
    strtoull(v)
}

/// A decimal fraction token (`slabs automove ratio`), as memcached's
/// `safe_strtod` reads it: leading whitespace, then a number up to the end
/// or a whitespace byte.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let start = s.iter().take_while(|&&b| is_space(b)).count();
    let s = &s[start..];
    let end = s.iter().position(|&b| is_space(b)).unwrap_or(s.len());
    std::str::from_utf8(&s[..end]).ok()?.parse().ok()
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
        assert_eq!(parse_u64(b"-0"), Some(0));
        // strtoull negates in 64 bits: -(2^64-1) is 1.
        assert_eq!(parse_u64(b"-18446744073709551615"), Some(1));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"+"), None);
        assert_eq!(parse_u64(b"1x"), None);
        // Whitespace before, and anything after a whitespace byte.
        assert_eq!(parse_u64(b"\x0b7"), Some(7));
        assert_eq!(parse_u64(b"\t7\tjunk"), Some(7));
        assert_eq!(parse_u64(b"7\r"), Some(7));
    }

    #[test]
    fn u32s_cut_to_32_bits() {
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), Some(0));
        assert_eq!(parse_u32(b"4294967297"), Some(1));
        assert_eq!(parse_u32(b"-1"), None);
        assert_eq!(parse_u32(b"x"), None);
    }

    #[test]
    fn i32s_cut_to_32_bits() {
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"2147483647"), Some(i32::MAX));
        assert_eq!(parse_i32(b"2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"4294967297"), Some(1));
        assert_eq!(parse_i32(b"-2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"-9223372036854775808"), Some(0));
        assert_eq!(parse_i32(b"9223372036854775808"), None);
        assert_eq!(parse_i32(b"-9223372036854775809"), None);
        assert_eq!(parse_i32(b"-"), None);
        assert_eq!(parse_i32(b"-+1"), None);
        assert_eq!(parse_i32(b"abc"), None);
        assert_eq!(parse_exptime(b"4102444800"), Some(-192522496));
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
