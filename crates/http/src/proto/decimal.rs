//! [`decimal`]: a length in ASCII digits without a `String` (a request's
//! or a response's Content-Length is written for every message).

/// `n` in decimal, written at the end of `buf`.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_agrees_with_to_string() {
        let mut buf = [0u8; 20];
        for n in [0, 7, 10, 99, 65_536, u64::MAX] {
            assert_eq!(super::decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
