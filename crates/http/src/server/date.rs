//! The `Date` header (RFC 9110 section 5.6.7, IMF-fixdate), formatted at
//! most once per second. Written here rather than with a crate: it is
//! thirty lines of calendar arithmetic.

use std::time::{SystemTime, UNIX_EPOCH};

/// The whole header line, `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`.
pub(crate) struct DateCache {
    secs: u64,
    line: [u8; 37],
}

impl Default for DateCache {
    fn default() -> Self {
        let mut d = DateCache {
            secs: u64::MAX,
            line: [0; 37],
        };
        d.line[..6].copy_from_slice(b"Date: ");
        d.line[35..].copy_from_slice(b"\r\n");
        d
    }
}

impl DateCache {
    /// The second (since the epoch) of the line last given.
    pub(crate) fn secs(&self) -> u64 {
        self.secs
    }

    /// The header line for `now`, re-formatted only when the second changed.
    pub(crate) fn line(&mut self, now: SystemTime) -> &[u8] {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.secs {
            self.secs = secs;
            let mut out = [0u8; 29];
            imf_fixdate(secs, &mut out);
            self.line[6..35].copy_from_slice(&out);
        }
        &self.line
    }
}

/// Formats seconds since the epoch as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn imf_fixdate(secs: u64, out: &mut [u8; 29]) {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let two = |n: u64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    out[5..7].copy_from_slice(&two(day));
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    let y = year as u64 % 10_000;
    out[12..14].copy_from_slice(&two(y / 100));
    out[14..16].copy_from_slice(&two(y % 100));
    out[16] = b' ';
    out[17..19].copy_from_slice(&two(rem / 3600));
    out[19] = b':';
    out[20..22].copy_from_slice(&two(rem / 60 % 60));
    out[22] = b':';
    out[23..25].copy_from_slice(&two(rem % 60));
    out[25..29].copy_from_slice(b" GMT");
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01, by
/// the proleptic Gregorian calendar (eras of 400 years).
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(secs: u64) -> String {
        let mut out = [0; 29];
        imf_fixdate(secs, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn formats_the_rfc_example_and_leap_days() {
        assert_eq!(fmt(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(fmt(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(fmt(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
    }

    #[test]
    fn the_cached_line_changes_with_the_second() {
        let mut d = DateCache::default();
        let t = UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(d.line(t), b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
        let t2 = t + std::time::Duration::from_millis(1500);
        assert_eq!(d.line(t2), b"Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n");
    }
}
