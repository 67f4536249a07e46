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
    recvmmsg, sendmmsg, sendmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};

/// Datagrams read per call.
pub(crate) const SLOTS: usize = 32;

/// Datagrams in one segmented send (the kernel's `UDP_MAX_SEGMENTS` is 64
/// on older kernels).
pub(crate) const GSO_SEGMENTS: usize = 64;

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
        // On the stack: a read per readiness (or coalescing period) is
        // too frequent for a heap vector each time.
        let mut slots = self.buf.chunks_mut(self.slot);
        let mut iovs: [[IoSliceMut<'_>; 1]; SLOTS] =
            std::array::from_fn(|_| [IoSliceMut::new(slots.next().unwrap_or_default())]);
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
    /// Segmented sends work here (cleared the first time the kernel or
    /// the route refuses one).
    gso: bool,
}

impl SendBatch {
    pub(crate) fn new() -> SendBatch {
        SendBatch {
            headers: MultiHeaders::preallocate(SLOTS, None),
            gso: true,
        }
    }

    /// Sends datagrams of `seg` bytes each (the last may be shorter) as
    /// one segmented send (UDP GSO, Linux 4.18+) on a connected socket:
    /// the kernel builds, routes and passes on one packet, and cuts it into
    /// datagrams only at the end, so most of its per-datagram send path is
    /// paid once per batch. All or nothing. `Ok(false)`: segmentation is
    /// not available (the caller sends another way; later calls do not try
    /// again).
    pub(crate) fn send_segmented(
        &mut self,
        fd: RawFd,
        msgs: &[&[u8]],
        seg: u16,
    ) -> io::Result<bool> {
        if !self.gso {
            return Ok(false);
        }
        let iovs: Vec<IoSlice<'_>> = msgs.iter().map(|m| IoSlice::new(m)).collect();
        let cmsg = [ControlMessage::UdpGsoSegments(&seg)];
        match sendmsg::<SockaddrStorage>(fd, &iovs, &cmsg, MsgFlags::MSG_DONTWAIT, None) {
            Ok(_) => Ok(true),
            // Not supported by this kernel, socket or route (no checksum
            // offload, IPsec).
            Err(Errno::EINVAL | Errno::EIO | Errno::ENOPROTOOPT | Errno::EOPNOTSUPP) => {
                self.gso = false;
                Ok(false)
            }
            Err(e) => Err(io::Error::from(e)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    /// One segmented send arrives as one datagram per query, the shorter
    /// last one included, in order.
    #[test]
    fn a_segmented_send_arrives_as_separate_datagrams() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        let msgs: [&[u8]; 3] = [b"first-msg!", b"second-msg", b"third"];
        let mut sender = SendBatch::new();
        let segmented = sender.send_segmented(tx.as_raw_fd(), &msgs, 10).unwrap();
        if !segmented {
            // A kernel without UDP GSO: the caller falls back.
            sender.send(tx.as_raw_fd(), &msgs).unwrap();
        }
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 64];
        for want in msgs {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], want);
        }
    }

    /// Datagrams waiting on a socket are read in one call, with their
    /// sender.
    #[test]
    fn a_batch_read_returns_every_waiting_datagram() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i; 20], rx.local_addr().unwrap()).unwrap();
        }
        let mut batch = RecvBatch::new(512);
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 5 && std::time::Instant::now() < deadline {
            let n = batch.recv(rx.as_raw_fd()).unwrap();
            for i in 0..n {
                let (d, bytes) = batch.get(i);
                assert_eq!(d.from, Some(tx.local_addr().unwrap()));
                got.push(bytes.to_vec());
            }
        }
        let want: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 20]).collect();
        assert_eq!(got, want);
    }
}
