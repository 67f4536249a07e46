//! The UDP side: one socket, read until it would block.

use std::io;
use std::net::UdpSocket;
use std::rc::Rc;

use evloop::{Ctx, Events, IoId};

use super::dispatch;
use super::request::Via;
use super::ServerId;

/// Datagrams handled per wake-up at most, so that TCP clients and timers
/// get their turn under a flood.
const BATCH: usize = 64;

/// The io watcher (stopped) that reads queries from `sock`.
pub(crate) fn watch<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    sock: Rc<UdpSocket>,
    server: ServerId,
) -> Result<IoId<Rc<UdpSocket>>, evloop::Error> {
    // Large enough for any datagram; kept by the watcher's closure.
    let mut buf = vec![0u8; 65536];
    ctx.new_io(sock, Events::READ, move |ctx, data, io, _ev| {
        for _ in 0..BATCH {
            let got = match ctx.io(io) {
                Ok(w) => w.source().recv_from(&mut buf),
                Err(_) => return,
            };
            match got {
                Ok((n, peer)) => dispatch::packet(ctx, data, server, &buf[..n], peer, Via::Udp),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP errors from earlier answers (ECONNREFUSED) and the
                // like concern one peer, not the server: go on.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {}
            }
        }
    })
}
