//! Standard base64 (with padding) for meta commands' binary keys (`b`).

/// The standard alphabet.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Value of one base64 digit.
fn digit(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes `src` into `out`, returning the decoded length; `None` if `src`
/// is not padded base64, decodes to nothing, or does not fit.
pub fn decode(src: &[u8], out: &mut [u8]) -> Option<usize> {
    if src.is_empty() || src.len() % 4 != 0 {
        return None;
    }
    let mut n = 0;
    let quads = src.len() / 4;
    for (qi, quad) in src.chunks_exact(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && qi + 1 != quads) {
            return None;
        }
        let mut acc = 0u32;
        for &b in &quad[..4 - pad] {
            acc = (acc << 6) | digit(b)?;
        }
        acc <<= 6 * pad as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        let take = 3 - pad;
        out.get_mut(n..n + take)?.copy_from_slice(&bytes[..take]);
        n += take;
    }
    (n > 0).then_some(n)
}

/// Appends the padded base64 encoding of `src` to `out`.
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    for chunk in src.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let acc = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(acc >> (18 - 6 * i)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for src in [&b"f"[..], b"fo", b"foo", b"foob", b"\x00\xff\x10binary"] {
            let mut enc = Vec::new();
            encode(src, &mut enc);
            let mut dec = [0u8; 64];
            let n = decode(&enc, &mut dec).unwrap();
            assert_eq!(&dec[..n], src);
        }
        let mut enc = Vec::new();
        encode(b"foo", &mut enc);
        assert_eq!(enc, b"Zm9v");
    }

    #[test]
    fn rejects_bad_input() {
        let mut out = [0u8; 8];
        assert_eq!(decode(b"", &mut out), None);
        assert_eq!(decode(b"abc", &mut out), None);
        assert_eq!(decode(b"ab!d", &mut out), None);
        assert_eq!(decode(b"a===", &mut out), None);
        assert_eq!(decode(b"Zg==Zm9v", &mut out), None);
        assert_eq!(decode(b"Zm9vZm9vZm9v", &mut out), None); // 9 bytes > 8
    }
}
