//! [`FieldCache`]: the field lines of the previous response on a
//! connection, for the next response to reuse.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONNECTION};

use super::framing::ConnectionOptions;

/// Field lines remembered per connection at most: a head with more has
/// its later lines parsed as if there were no cache.
const MAX_SLOTS: usize = 32;

/// The field lines of the last response read on a connection, by their
/// position in the head.
///
/// A server answers a keep-alive connection with mostly the same fields:
/// the same `Server`, `Content-Type`, `Connection`, often the same
/// `Content-Length` and `ETag`, a `Date` that changes once a second. A
/// line whose bytes equal those of the line at the same position in the
/// previous head gives the same name and value, so the name lookup and the
/// byte-by-byte check of the value are skipped and the remembered
/// [`HeaderName`] and [`HeaderValue`] are cloned (a reference count).
///
/// Remembered values own their bytes: a connection's cache never holds
/// its read buffer (which a slice of it would keep allocated).
#[derive(Default)]
pub(crate) struct FieldCache {
    slots: Vec<Slot>,
}

struct Slot {
    /// The raw line, from the name to the value's end (`Name: value`).
    line: Box<[u8]>,
    name: HeaderName,
    value: HeaderValue,
    /// The options of a `Connection` line.
    options: ConnectionOptions,
    /// The line at this position differed from the remembered one last
    /// time: a value that changes every time (a request id) is then not
    /// copied again for every response.
    missed: bool,
}

impl Slot {
    /// This slot's line was found again: it is not one that changes.
    #[inline]
    fn found(&mut self) -> Hit<'_> {
        self.missed = false;
        let options = (self.name == CONNECTION).then_some(self.options);
        Hit {
            name: &self.name,
            value: &self.value,
            options,
        }
    }
}

/// A remembered line that matched.
pub(super) struct Hit<'a> {
    pub(super) name: &'a HeaderName,
    pub(super) value: &'a HeaderValue,
    /// For a `Connection` line: its options.
    pub(super) options: Option<ConnectionOptions>,
}

impl FieldCache {
    /// The remembered line at position `i`, if `line` is the same bytes.
    #[inline]
    pub(super) fn hit(&mut self, i: usize, line: &[u8]) -> Option<Hit<'_>> {
        let slot = self.slots.get_mut(i)?;
        if *slot.line != *line {
            return None;
        }
        Some(slot.found())
    }

    /// How many lines are remembered (the previous head's, up to the
    /// slots there are): the usual size of the next head.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The remembered line at position `i`, if `rest` starts with its
    /// bytes followed by CRLF; with the length of those bytes. Only a line
    /// whose value has no trailing whitespace is found this way (a
    /// remembered line ends with its value's last visible byte).
    #[inline]
    pub(super) fn hit_at(&mut self, i: usize, rest: &[u8]) -> Option<(Hit<'_>, usize)> {
        let slot = self.slots.get_mut(i)?;
        let n = slot.line.len();
        if rest.get(..n)? != &*slot.line || rest.get(n..n + 2)? != b"\r\n" {
            return None;
        }
        Some((slot.found(), n))
    }

    /// Whether line `i`, not found, is to be remembered: `false` beyond
    /// the slots, or when the line missed the previous time too (a value
    /// that changes every time is copied once, not for every response).
    pub(super) fn wants(&self, i: usize) -> bool {
        i < MAX_SLOTS && i <= self.slots.len() && self.slots.get(i).is_none_or(|s| !s.missed)
    }

    /// Remembers `value` (which must own its bytes) as line `i`, whose
    /// bytes are `line`; returns the value to put in the map.
    pub(super) fn remember(
        &mut self,
        i: usize,
        line: &[u8],
        name: &HeaderName,
        value: Bytes,
    ) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
        let value = HeaderValue::from_maybe_shared(value)?;
        let mut options = ConnectionOptions::default();
        if *name == CONNECTION {
            options.add(value.as_bytes());
        }
        let slot = Slot {
            line: line.into(),
            name: name.clone(),
            value: value.clone(),
            options,
            missed: i < self.slots.len(),
        };
        if i < self.slots.len() {
            self.slots[i] = slot;
        } else {
            self.slots.push(slot);
        }
        Ok(value)
    }

    /// Notes that line `i` was not found, and not remembered.
    pub(super) fn missed(&mut self, i: usize) {
        if let Some(s) = self.slots.get_mut(i) {
            s.missed = true;
        }
    }
}
