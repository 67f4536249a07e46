//! Buffered streams for [evloop]: [`Buffer`] (libevent's evbuffer),
//! `BufferedStream` (bufferevent) and `Listener` (evconnlistener), built
//! only on evloop's public API.

mod buffer;

pub use buffer::{Buffer, Eol};
