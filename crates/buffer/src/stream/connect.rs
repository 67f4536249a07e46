//! Non-blocking TCP and Unix-domain connect.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::Path;

use evloop::Ctx;

use super::{driver, settle, sys, Direction, StreamId};

/// Creates the socket, starts connecting, and puts it under the loop in
/// the connecting phase. A connect that fails at once (refused by a local
/// peer, unreachable network) is reported through the event callback, like
/// one that fails later, so callers handle both in one place.
pub(super) fn connect<T: 'static>(ctx: &mut Ctx<'_, T>, addr: SocketAddr) -> io::Result<StreamId> {
    let fd = sys::tcp_socket(&addr)?;
    let started = sys::connect(fd.as_fd(), &addr);
    let id = driver::open(ctx, fd, true)?;
    if let Err(e) = started {
        settle::defer_error(ctx, id, e, Direction::Write);
    }
    Ok(id)
}

/// As [`connect`], to a Unix stream socket. The kernel decides a local
/// connect at once (done, refused, or `EAGAIN` for a full backlog, which
/// is final: no writable event would ever report it); the connecting
/// phase still reports the outcome as an event on the next iteration.
pub(super) fn connect_unix<T: 'static>(ctx: &mut Ctx<'_, T>, path: &Path) -> io::Result<StreamId> {
    let addr = sys::UnixAddr::new(path)?;
    let fd = sys::unix_socket()?;
    let started = sys::connect_unix(fd.as_fd(), &addr);
    let id = driver::open(ctx, fd, true)?;
    if let Err(e) = started {
        settle::defer_error(ctx, id, e, Direction::Write);
    }
    Ok(id)
}
