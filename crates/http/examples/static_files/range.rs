//! The `Range` header, single byte ranges (RFC 9110 section 14).

/// What to send for a `Range` header and a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// The whole file, 200: no usable range (absent, malformed, another
    /// unit, or several ranges: this server answers those with the whole
    /// file rather than multipart/byteranges, as RFC 9110 allows).
    Full,
    /// 206 with bytes `start..=end`.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// 416: the one range asked for lies past the end.
    Unsatisfiable,
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Decides what a `Range` header value asks of a file of `len` bytes:
/// `bytes=a-b` (b clamped to the end), `bytes=a-`, `bytes=-n` (the last n
/// bytes, the whole file if n >= len).
pub fn parse(value: &str, len: u64) -> Ranged {
    let Some((unit, set)) = value.split_once('=') else {
        return Ranged::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Full;
    }
    let specs: Vec<&str> = set
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let [spec] = specs.as_slice() else {
        return Ranged::Full;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Full;
    };
    match (first, last) {
        ("", suffix) => match number(suffix) {
            None => Ranged::Full,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        },
        (first, last) => {
            let Some(start) = number(first) else {
                return Ranged::Full;
            };
            let end = if last.is_empty() {
                u64::MAX
            } else {
                match number(last) {
                    Some(end) if end >= start => end,
                    _ => return Ranged::Full,
                }
            };
            if start >= len {
                Ranged::Unsatisfiable
            } else {
                Ranged::Partial {
                    start,
                    end: end.min(len - 1),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = |start, end| Ranged::Partial { start, end };
        assert_eq!(parse("bytes=0-9", 100), p(0, 9));
        assert_eq!(parse("bytes=90-200", 100), p(90, 99));
        assert_eq!(parse("bytes=10-", 100), p(10, 99));
        assert_eq!(parse("bytes=-10", 100), p(90, 99));
        assert_eq!(parse("bytes=-1000", 100), p(0, 99));
        assert_eq!(parse("Bytes = 5-5", 100), p(5, 5));
        assert_eq!(parse("bytes=100-", 100), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 100), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=0-1,5-6", 100), Ranged::Full);
        assert_eq!(parse("bytes=5-1", 100), Ranged::Full);
        assert_eq!(parse("bytes=a-b", 100), Ranged::Full);
        assert_eq!(parse("bytes=+1-2", 100), Ranged::Full);
        assert_eq!(parse("items=0-1", 100), Ranged::Full);
        assert_eq!(parse("bytes=18446744073709551616-", 100), Ranged::Full);
    }
}
