//! Header maps kept for reuse on the loop's thread: a request's map,
//! emptied when the request is dropped, holds the next request's fields
//! (two allocations and two frees less per request, as hyper does with its
//! cached header map).

use std::cell::RefCell;

use http::HeaderMap;

/// How many emptied maps a thread keeps.
const KEEP: usize = 32;
/// Maps grown larger than this (a request with many fields) are freed
/// rather than kept.
const MAX_CAPACITY: usize = 64;

thread_local! {
    static SPARE: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map with room for `n` fields.
pub(crate) fn take(n: usize) -> HeaderMap {
    let spare = SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten();
    match spare {
        Some(mut m) => {
            m.reserve(n);
            m
        }
        None => HeaderMap::with_capacity(n),
    }
}

/// Keeps `map`, emptied, for a later [`take`].
pub(crate) fn give_back(mut map: HeaderMap) {
    let cap = map.capacity();
    if cap == 0 || cap > MAX_CAPACITY {
        return;
    }
    map.clear();
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < KEEP {
                s.push(map);
            }
        }
    });
}
