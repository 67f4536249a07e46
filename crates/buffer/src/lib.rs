//! Buffered streams for [evloop]: [`Buffer`] (libevent's evbuffer),
//! [`BufferedStream`] (bufferevent) and [`Listener`] (evconnlistener), built
//! only on evloop's public API.

mod buffer;

pub use buffer::{Buffer, Eol};

mod listener;
pub mod stream;

pub use listener::{
    Accepted, ListenAddr, ListenSocket, Listener, ListenerEvent, ListenerExt, ListenerId,
    ListenerOptions,
};
pub use stream::{
    BufferedStream, Direction, StreamEvent, StreamExt, StreamId, Watermarks, DEFAULT_READ_SIZE,
    DEFAULT_WRITE_SIZE,
};
