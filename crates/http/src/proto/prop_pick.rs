//! The proptest strategy the parser tests share to build messages near a
//! fast path's edges.

use proptest::prelude::*;

/// One of `good` most of the time, else one of `odd` (a message of
/// several pieces is then mostly one the fast path takes, with pieces it
/// refuses mixed in).
pub(super) fn pick(good: &[&'static str], odd: &[&'static str]) -> BoxedStrategy<&'static str> {
    prop_oneof![
        30 => prop::sample::select(good.to_vec()),
        1 => prop::sample::select(odd.to_vec()),
    ]
    .boxed()
}
