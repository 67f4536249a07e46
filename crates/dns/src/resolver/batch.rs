//! Many datagrams per system call (`recvmmsg`, `sendmmsg`): a busy socket
//! (100 queries in flight) often has a dozen replies waiting when it turns
//! readable, and the lookups their callbacks start send a dozen queries;
//! one call instead of a dozen each way is most of the system time a stub
//! resolver spends.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::socket::{
    recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};

/// Datagrams read per call.
pub(crate) const SLOTS: usize = 32;

/// What one datagram of a batch was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Datagram {
    pub(crate) len: usize,
    pub(crate) from: Option<SocketAddr>,
    /// Longer than the slot: cut, so not a usable reply.
    pub(crate) truncated: bool,
}

pub(crate) struct RecvBatch {
    headers: MultiHeaders<SockaddrStorage>,
    buf: Vec<u8>,
    slot: usize,
    got: Vec<Datagram>,
}

fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

impl RecvBatch {
    /// Slots of `slot` bytes (the largest reply the resolver asks for,
    /// with its EDNS payload size).
    pub(crate) fn new(slot: usize) -> RecvBatch {
        RecvBatch {
            headers: MultiHeaders::preallocate(SLOTS, None),
            buf: vec![0; slot * SLOTS],
            slot,
            got: Vec::with_capacity(SLOTS),
        }
    }

    /// Reads what is waiting (without blocking): the number of datagrams,
    /// 0 if none.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.got.clear();
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
            .buf
            .chunks_mut(self.slot)
            .map(|c| [IoSliceMut::new(c)])
            .collect();
        match recvmmsg(
            fd,
            &mut self.headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) {
            Ok(res) => {
                for m in res {
                    self.got.push(Datagram {
                        len: m.bytes,
                        from: m.address.as_ref().and_then(to_std),
                        truncated: m.flags.contains(MsgFlags::MSG_TRUNC),
                    });
                }
                Ok(self.got.len())
            }
            Err(Errno::EAGAIN) => Ok(0),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    /// Datagram `i` of the last batch and its bytes.
    pub(crate) fn get(&self, i: usize) -> (Datagram, &[u8]) {
        let d = self.got[i];
        let start = i * self.slot;
        (d, &self.buf[start..start + d.len.min(self.slot)])
    }
}

pub(crate) struct SendBatch {
    headers: MultiHeaders<SockaddrStorage>,
}

impl SendBatch {
    pub(crate) fn new() -> SendBatch {
        SendBatch {
            headers: MultiHeaders::preallocate(SLOTS, None),
        }
    }

    /// Sends up to [`SLOTS`] datagrams on a connected socket in one call.
    /// An error means the first was not sent. A short count is not
    /// reported (nix gives it only through an iterator that reads address
    /// slots a send never fills): a datagram not sent then is one lost on
    /// the way, retransmitted on its timeout. On a UDP socket that only
    /// happens when the send buffer is full.
    pub(crate) fn send(&mut self, fd: RawFd, msgs: &[&[u8]]) -> io::Result<()> {
        let iovs: Vec<[IoSlice<'_>; 1]> = msgs.iter().map(|m| [IoSlice::new(m)]).collect();
        let addrs: Vec<Option<SockaddrStorage>> = vec![None; msgs.len()];
        let none: [ControlMessage<'_>; 0] = [];
        sendmmsg(
            fd,
            &mut self.headers,
            &iovs,
            &addrs,
            none,
            MsgFlags::MSG_DONTWAIT,
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }
}
