//! DNS for [evloop]: a stub resolver and a server side.
#![forbid(unsafe_code)]
