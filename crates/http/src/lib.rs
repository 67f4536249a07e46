//! HTTP/1.1 for [evloop], on [evloop_buffer]'s streams.
#![forbid(unsafe_code)]
