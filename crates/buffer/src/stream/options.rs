//! Watermarks and per-call sizes.

/// How many bytes one read asks the socket for, by default: large enough
/// that a fast sender is drained in few system calls (libevent's 4 KiB to
/// 16 KiB costs many more), small enough that one connection cannot hold
/// up the loop for long, and that the space an idle connection's input
/// keeps stays moderate. Change it with
/// [`set_read_size`](crate::BufferedStream::set_read_size); `Buffer`'s own
/// per-call cap (128 KiB by default) bounds it too.
pub const DEFAULT_READ_SIZE: usize = 64 * 1024;

/// How many bytes one writable event sends at most, by default (the
/// socket usually takes less): bounds the time one connection holds the
/// loop. Change it with
/// [`set_write_size`](crate::BufferedStream::set_write_size).
pub const DEFAULT_WRITE_SIZE: usize = 1024 * 1024;

/// The three watermarks of a stream, with libevent's meaning (see the
/// [module docs](crate::stream#watermarks-libevents-semantics)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Watermarks {
    /// The read callback runs only while input holds at least this many
    /// bytes. 0 (the default): on every read. A value above `read_high`
    /// counts as `read_high` (reading stops there, so more never comes).
    pub read_low: usize,
    /// Reading pauses while input holds this many bytes or more. `None`
    /// (the default): no limit. `Some(0)` is treated as `None`.
    pub read_high: Option<usize>,
    /// After a write, the write callback runs if output holds at most this
    /// many bytes. 0 (the default): once output is empty.
    pub write_low: usize,
}

impl Watermarks {
    /// The high watermark, if one is in force.
    #[inline]
    pub(crate) fn high(&self) -> Option<usize> {
        self.read_high.filter(|&h| h > 0)
    }
}
