//! Opcodes and status codes of the binary protocol, as memcached 1.6
//! numbers them, and which request shapes each command accepts.

/// A command, with its quiet variant folded in (see [`decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Get (0x00), GetQ (0x09).
    Get,
    /// GetK (0x0c), GetKQ (0x0d): the reply carries the key.
    GetK,
    /// Set (0x01), SetQ (0x11).
    Set,
    /// Add (0x02), AddQ (0x12).
    Add,
    /// Replace (0x03), ReplaceQ (0x13).
    Replace,
    /// Delete (0x04), DeleteQ (0x14).
    Delete,
    /// Increment (0x05), IncrementQ (0x15).
    Incr,
    /// Decrement (0x06), DecrementQ (0x16).
    Decr,
    /// Quit (0x07), QuitQ (0x17).
    Quit,
    /// Flush (0x08), FlushQ (0x18).
    Flush,
    /// Noop (0x0a).
    Noop,
    /// Version (0x0b).
    Version,
    /// Append (0x0e), AppendQ (0x19).
    Append,
    /// Prepend (0x0f), PrependQ (0x1a).
    Prepend,
    /// Stat (0x10).
    Stat,
    /// Touch (0x1c): new expiry, flags back, no value.
    Touch,
    /// GAT (0x1d), GATQ (0x1e): get and touch.
    Gat,
    /// GATK (0x23), GATKQ (0x24): get and touch, the reply carries the key.
    GatK,
    /// SASL list mechanisms (0x20): a build without SASL does not know it.
    SaslList,
    /// SASL auth (0x21) and step (0x22): likewise unknown.
    SaslAuth,
}

/// The command and whether it is the quiet variant, or `None` for an
/// opcode memcached 1.6 answers with "Unknown command" (verbosity 0x1b
/// included: memcached's binary dispatcher has no case for it).
pub fn decode(opcode: u8) -> Option<(Op, bool)> {
    let op = match opcode {
        0x00 => (Op::Get, false),
        0x01 => (Op::Set, false),
        0x02 => (Op::Add, false),
        0x03 => (Op::Replace, false),
        0x04 => (Op::Delete, false),
        0x05 => (Op::Incr, false),
        0x06 => (Op::Decr, false),
        0x07 => (Op::Quit, false),
        0x08 => (Op::Flush, false),
        0x09 => (Op::Get, true),
        0x0a => (Op::Noop, false),
        0x0b => (Op::Version, false),
        0x0c => (Op::GetK, false),
        0x0d => (Op::GetK, true),
        0x0e => (Op::Append, false),
        0x0f => (Op::Prepend, false),
        0x10 => (Op::Stat, false),
        0x11 => (Op::Set, true),
        0x12 => (Op::Add, true),
        0x13 => (Op::Replace, true),
        0x14 => (Op::Delete, true),
        0x15 => (Op::Incr, true),
        0x16 => (Op::Decr, true),
        0x17 => (Op::Quit, true),
        0x18 => (Op::Flush, true),
        0x19 => (Op::Append, true),
        0x1a => (Op::Prepend, true),
        0x1c => (Op::Touch, false),
        0x1d => (Op::Gat, false),
        0x1e => (Op::Gat, true),
        0x20 => (Op::SaslList, false),
        0x21 | 0x22 => (Op::SaslAuth, false),
        0x23 => (Op::GatK, false),
        0x24 => (Op::GatK, true),
        _ => return None,
    };
    Some(op)
}

impl Op {
    /// Whether a request of this command may have these extras, key and
    /// body lengths (memcached's checks; anything else is "Invalid
    /// arguments" and the connection is closed).
    pub fn shape_ok(self, extras: usize, key: usize, body: usize) -> bool {
        match self {
            Op::Version | Op::Noop | Op::Quit | Op::SaslList => {
                extras == 0 && key == 0 && body == 0
            }
            Op::Flush => key == 0 && body == extras && (extras == 0 || extras == 4),
            Op::Set | Op::Add | Op::Replace => extras == 8 && key != 0 && body >= key + 8,
            Op::Get | Op::GetK | Op::Delete => extras == 0 && key != 0 && body == key,
            Op::Incr | Op::Decr => extras == 20 && key != 0 && body == key + extras,
            Op::Append | Op::Prepend | Op::SaslAuth => extras == 0 && key != 0,
            Op::Stat => extras == 0,
            Op::Touch | Op::Gat | Op::GatK => extras == 4 && key != 0,
        }
    }

    /// Whether the request's value (the body after extras and key) belongs
    /// to it. For the other commands memcached reads only extras and key,
    /// and takes any further body bytes as the next request.
    pub fn has_value(self) -> bool {
        matches!(
            self,
            Op::Set | Op::Add | Op::Replace | Op::Append | Op::Prepend
        )
    }
}

/// Success.
pub const SUCCESS: u16 = 0x0000;
/// No item under the key.
pub const KEY_ENOENT: u16 = 0x0001;
/// The item exists (add) or has another CAS unique.
pub const KEY_EEXISTS: u16 = 0x0002;
/// The value is larger than `-I`.
pub const E2BIG: u16 = 0x0003;
/// Malformed request.
pub const EINVAL: u16 = 0x0004;
/// Append/prepend to a missing item, and other refused writes.
pub const NOT_STORED: u16 = 0x0005;
/// incr/decr of a value that is not a number.
pub const DELTA_BADVAL: u16 = 0x0006;
/// Not allowed (Flush under `-F`).
pub const AUTH_ERROR: u16 = 0x0020;
/// An opcode this server does not serve.
pub const UNKNOWN_COMMAND: u16 = 0x0081;
/// The item cannot fit in memory at all.
pub const ENOMEM: u16 = 0x0082;

/// The text an error response carries (memcached's words).
pub fn message(status: u16) -> &'static [u8] {
    match status {
        KEY_ENOENT => b"Not found",
        KEY_EEXISTS => b"Data exists for key.",
        E2BIG => b"Too large.",
        EINVAL => b"Invalid arguments",
        NOT_STORED => b"Not stored.",
        DELTA_BADVAL => b"Non-numeric server-side value for incr or decr",
        AUTH_ERROR => b"Auth failure.",
        UNKNOWN_COMMAND => b"Unknown command",
        ENOMEM => b"Out of memory",
        _ => b"",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_decodes_as_memcached_numbers_it() {
        let known: Vec<u8> = (0..=255u8).filter(|&o| decode(o).is_some()).collect();
        let mut want: Vec<u8> = (0x00..=0x1a).collect();
        want.extend([0x1c, 0x1d, 0x1e, 0x20, 0x21, 0x22, 0x23, 0x24]);
        assert_eq!(known, want);
        // quiet variants fold onto their command
        assert_eq!(decode(0x09), Some((Op::Get, true)));
        assert_eq!(decode(0x0d), Some((Op::GetK, true)));
        assert_eq!(decode(0x1e), Some((Op::Gat, true)));
        assert_eq!(decode(0x24), Some((Op::GatK, true)));
        assert_eq!(decode(0x1b), None, "verbosity is unknown to memcached 1.6");
    }

    #[test]
    fn shapes() {
        assert!(Op::Set.shape_ok(8, 1, 9));
        assert!(!Op::Set.shape_ok(8, 1, 8));
        assert!(!Op::Set.shape_ok(0, 1, 9));
        assert!(Op::Get.shape_ok(0, 3, 3));
        assert!(!Op::Get.shape_ok(0, 3, 4));
        assert!(!Op::Get.shape_ok(0, 0, 0));
        assert!(Op::Flush.shape_ok(4, 0, 4));
        assert!(!Op::Flush.shape_ok(4, 0, 5));
        assert!(Op::Incr.shape_ok(20, 1, 21));
        assert!(!Op::Incr.shape_ok(8, 1, 9));
        assert!(Op::Stat.shape_ok(0, 0, 0));
        assert!(Op::Touch.shape_ok(4, 1, 5));
        assert!(!Op::Noop.shape_ok(0, 0, 1));
        assert_eq!(message(EINVAL), b"Invalid arguments");
    }
}
