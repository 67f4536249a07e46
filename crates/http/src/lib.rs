//! HTTP/1.1 for [evloop], on [evloop_buffer]'s streams.
#![forbid(unsafe_code)]

pub mod proto;
pub mod server;
pub mod ws;
