//! Header maps kept for reuse on the loop's thread: a map emptied once
//! its message is done with (a request dropped, a response head written)
//! holds the fields of a later message (two allocations and two frees
//! less per map, as hyper does with its cached header map). A few are
//! kept: a proxy parses a request and a response for each response it
//! writes.

use std::cell::RefCell;

use http::HeaderMap;

/// Maps grown larger than this (a message with many fields) are freed
/// rather than kept.
const MAX_CAPACITY: usize = 64;

/// How many maps are kept at most.
const KEPT: usize = 4;

/// Room made in a new map beyond the fields it is made for: a handler
/// or a proxy adding a few fields then does not grow it (growing rehashes
/// every field into a new table).
const HEADROOM: usize = 4;

thread_local! {
    static SPARE: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map with room for `n` fields.
pub(crate) fn take(n: usize) -> HeaderMap {
    let kept = SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten();
    match kept {
        Some(mut m) => {
            if m.capacity() < n {
                m.reserve(n);
            }
            m
        }
        None => HeaderMap::with_capacity(n + HEADROOM),
    }
}

/// Keeps `map`, emptied, for a later [`take`].
pub(crate) fn give_back(mut map: HeaderMap) {
    let cap = map.capacity();
    if cap == 0 || cap > MAX_CAPACITY {
        return;
    }
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < KEPT {
                map.clear();
                s.push(map);
            }
        }
    });
}
