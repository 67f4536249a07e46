//! [`read_lines`]: the field lines of a response read on a connection
//! with a [`FieldCache`], without httparse.
//!
//! A line with the bytes of the line at the same position in the previous
//! response is taken from the cache as it is: those bytes were checked
//! then, and give the same name and value now. Any other line is
//! tokenised by [`field_line`], which takes only what httparse in strict
//! mode takes the same way. Anything else (a line [`field_line`] refuses,
//! too many lines) is `None`: the whole head then goes through httparse,
//! which finds the error if there is one.

use bytes::Bytes;
use http::HeaderMap;

use super::field_line::field_line;
use super::head::sub;
use super::names::field_name;
use super::response_cache::FieldCache;
use super::response_framing::FramingFields;
use super::{spare_maps, Limits};

/// The field lines of `head` (a slice of `shared` whose every line ends
/// in CRLF) from offset `at` to its blank line, which must end `head`.
pub(super) fn read_lines(
    shared: &Bytes,
    head: &[u8],
    mut at: usize,
    limits: &Limits,
    cache: &mut FieldCache,
) -> Option<(HeaderMap, FramingFields)> {
    let mut headers = spare_maps::take(cache.len());
    let mut seen = FramingFields::default();
    let mut i = 0;
    let done = loop {
        let rest = &head[at..];
        if rest.starts_with(b"\r\n") {
            break at + 2 == head.len();
        }
        if i == limits.max_headers {
            break false;
        }
        if let Some((hit, n)) = cache.hit_at(i, rest) {
            seen.note_known(hit.name, hit.value.as_bytes(), hit.options);
            headers.append(hit.name.clone(), hit.value.clone());
            at += n + 2;
            i += 1;
            continue;
        }
        let Some(f) = field_line(head, at) else {
            break false;
        };
        let Ok(name) = field_name(&head[f.name..f.colon]) else {
            break false;
        };
        let value = &head[f.value..f.end];
        let value = if !value.is_empty() && cache.wants(i) {
            // A copy: the cache must not hold the input's buffer.
            cache.remember(
                i,
                &head[f.name..f.end],
                &name,
                Bytes::copy_from_slice(value),
            )
        } else {
            cache.missed(i);
            http::HeaderValue::from_maybe_shared(sub(shared, value))
        };
        let Ok(value) = value else {
            break false;
        };
        seen.note(&name, value.as_bytes());
        headers.append(name, value);
        at = f.next;
        i += 1;
    };
    if !done {
        spare_maps::give_back(headers);
        return None;
    }
    Some((headers, seen))
}

#[cfg(test)]
#[path = "response_lines_tests.rs"]
mod tests;
