//! DNS for [evloop]: a stub resolver and a server side.
#![forbid(unsafe_code)]

pub mod config;
pub mod connect;
pub mod resolver;
pub mod server;
