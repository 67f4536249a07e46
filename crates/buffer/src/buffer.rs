//! A chain of `Bytes` chunks plus a growable tail.

/// A byte queue made of reference-counted chunks (libevent's evbuffer).
#[derive(Debug, Default)]
pub struct Buffer {}
