//! Two streams connected to each other (libevent's bufferevent pair).

use std::io;
use std::os::unix::net::UnixStream;

use evloop::Ctx;

use super::{driver, settle, StreamId};

/// A Unix socketpair, both ends as streams. Unlike libevent's pair, the
/// bytes really go through the kernel, so the two ends behave exactly like
/// a connected socket (partial writes, EOF, `EPIPE`), which is what tests
/// of socket code want.
pub(super) fn pair<T: 'static>(ctx: &mut Ctx<'_, T>) -> io::Result<(StreamId, StreamId)> {
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    let a = driver::open(ctx, a.into(), false)?;
    match driver::open(ctx, b.into(), false) {
        Ok(b) => Ok((a, b)),
        Err(e) => {
            settle::close(ctx, a);
            Err(e)
        }
    }
}
