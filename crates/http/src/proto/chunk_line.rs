//! The line before each chunk's data: `chunk-size [ chunk-ext ] CRLF`
//! (RFC 9112 section 7.1), read a byte at a time so that a line split across
//! reads is never looked at twice.

use super::token::{is_qdtext, is_quoted_pair_char, is_tchar};
use super::HttpError;

/// Most hex digits a chunk size may have, leading zeros included.
const MAX_SIZE_DIGITS: usize = 32;

/// Where in the line the next byte falls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum At {
    /// In `chunk-size`.
    #[default]
    Size,
    /// After the size or a whole extension: `;`, whitespace or CR.
    AfterExt,
    /// Whitespace that must lead to `;`.
    WsBeforeSemi,
    /// After `;`, before the name.
    AfterSemi,
    /// In an extension name.
    Name,
    /// Whitespace after a name: `=` or `;` next.
    WsAfterName,
    /// After `=`, before the value.
    AfterEq,
    /// In a token value.
    Token,
    /// In a quoted-string value.
    Quoted,
    /// After a `\` in a quoted-string.
    Escape,
    /// After the line's CR.
    Lf,
}

/// A chunk line being read.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChunkLine {
    at: At,
    size: u64,
    digits: usize,
    ext_len: usize,
}

impl ChunkLine {
    /// Feeds `bytes`; returns how many were used and, once the line's LF
    /// is among them, the chunk size (the line is then reset).
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        max_ext: usize,
    ) -> Result<(usize, Option<u64>), HttpError> {
        for (i, &b) in bytes.iter().enumerate() {
            if self.at == At::Lf {
                if b != b'\n' {
                    return Err(HttpError::bad("bare CR in chunk line"));
                }
                let size = self.size;
                *self = ChunkLine::default();
                return Ok((i + 1, Some(size)));
            }
            self.step(b, max_ext)?;
        }
        Ok((bytes.len(), None))
    }

    fn step(&mut self, b: u8, max_ext: usize) -> Result<(), HttpError> {
        if self.at == At::Size {
            if let Some(d) = hex_value(b) {
                self.digits += 1;
                if self.digits > MAX_SIZE_DIGITS || self.size > u64::MAX >> 4 {
                    return Err(HttpError::bad("chunk size too large"));
                }
                self.size = self.size << 4 | u64::from(d);
                return Ok(());
            }
            if self.digits == 0 {
                return Err(HttpError::bad("invalid chunk size"));
            }
            self.at = At::AfterExt;
        }
        if b != b'\r' {
            self.ext_len += 1;
            if self.ext_len > max_ext {
                return Err(HttpError::bad("chunk extension too long"));
            }
        }
        let ws = b == b' ' || b == b'\t';
        self.at = match (self.at, b) {
            (At::AfterExt | At::Name | At::Token, b'\r') => At::Lf,
            (At::AfterExt | At::WsBeforeSemi, _) if ws => At::WsBeforeSemi,
            (At::AfterExt | At::WsBeforeSemi | At::Name | At::WsAfterName | At::Token, b';') => {
                At::AfterSemi
            }
            (At::AfterSemi, _) if ws => At::AfterSemi,
            (At::AfterSemi | At::Name, _) if is_tchar(b) => At::Name,
            (At::Name | At::WsAfterName, _) if ws => At::WsAfterName,
            (At::Name | At::WsAfterName, b'=') => At::AfterEq,
            (At::AfterEq, _) if ws => At::AfterEq,
            (At::AfterEq, b'"') => At::Quoted,
            (At::AfterEq | At::Token, _) if is_tchar(b) => At::Token,
            (At::Token, _) if ws => At::WsBeforeSemi,
            (At::Quoted, b'"') => At::AfterExt,
            (At::Quoted, b'\\') => At::Escape,
            (At::Quoted, _) if is_qdtext(b) => At::Quoted,
            (At::Escape, _) if is_quoted_pair_char(b) => At::Quoted,
            (_, b'\n') => return Err(HttpError::bad("bare LF in chunk line")),
            _ => return Err(HttpError::bad("malformed chunk extension")),
        };
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &[u8]) -> Result<u64, HttpError> {
        let mut l = ChunkLine::default();
        match l.feed(s, 1024)? {
            (n, Some(size)) if n == s.len() => Ok(size),
            other => panic!("line not complete: {other:?}"),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(line(b"0\r\n"), Ok(0));
        assert_eq!(line(b"1a\r\n"), Ok(26));
        assert_eq!(line(b"FfFf\r\n"), Ok(0xffff));
        assert_eq!(line(b"000000000000000000000005\r\n"), Ok(5));
        assert_eq!(line(b"ffffffffffffffff\r\n"), Ok(u64::MAX));
        for bad in [
            &b"\r\n"[..],
            b"10000000000000000\r\n",
            b"+5\r\n",
            b"-5\r\n",
            b"0x5\r\n",
            b" 5\r\n",
            b"5 \r\n",
            b"5\n",
            b"5\rx",
            b"g\r\n",
            &[b'0'; 33],
        ] {
            let mut l = ChunkLine::default();
            assert_eq!(l.feed(bad, 1024).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn extensions() {
        for ok in [
            &b"5;a\r\n"[..],
            b"5;a=b\r\n",
            b"5 ;a=b\r\n",
            b"5; a = b ;c\r\n",
            b"5;a=\"q \\\" x\";b=c\r\n",
            b"5;a=\"\"\r\n",
            b"5;a;b;c=d\r\n",
        ] {
            assert_eq!(line(ok), Ok(5), "{ok:?}");
        }
        for bad in [
            &b"5;\r\n"[..],
            b"5;=b\r\n",
            b"5;a=\r\n",
            b"5;a b\r\n",
            b"5;a=b c\r\n",
            b"5;a=\"x\r\n",
            b"5;a=\"x\" y\r\n",
            b"5;a=b \r\n",
            b"5;a\x01\r\n",
            b"5;a=\"\x7f\"\r\n",
            b"5;a\n",
        ] {
            let mut l = ChunkLine::default();
            assert_eq!(l.feed(bad, 1024).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn extension_limit() {
        let ext = b"5;abcdefgh\r\n"; // 9 extension bytes
        let mut l = ChunkLine::default();
        assert_eq!(l.feed(ext, 9).unwrap().1, Some(5));
        assert_eq!(l.feed(ext, 8).unwrap_err().status, 400);
    }

    #[test]
    fn byte_at_a_time() {
        let mut l = ChunkLine::default();
        for &b in b"a;x=\"y\"\r" {
            assert_eq!(l.feed(&[b], 1024).unwrap(), (1, None));
        }
        assert_eq!(l.feed(b"\nrest", 1024).unwrap(), (1, Some(10)));
    }
}
