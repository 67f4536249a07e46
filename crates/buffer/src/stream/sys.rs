//! The few socket calls std does not offer: a non-blocking `connect` (TCP
//! and Unix-domain),
//! `accept4` with both flags, `SO_REUSEPORT` before `bind`, `SO_ERROR`,
//! the `SIGPIPE` disposition, and `shutdown` on a bare fd. Every `unsafe`
//! block of the crate's stream and listener code lives here (the reads
//! and sends are the buffer's, in `buffer/calls.rs`).

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A socket address in the kernel's layout, kept in its own type so that
/// no cast of a `sockaddr_storage` is needed to build one.
enum RawAddr {
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
}

impl RawAddr {
    fn new(addr: &SocketAddr) -> RawAddr {
        match addr {
            SocketAddr::V4(a) => RawAddr::V4(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(a) => RawAddr::V6(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            }),
        }
    }

    fn as_ptr(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        match self {
            RawAddr::V4(a) => (
                (a as *const libc::sockaddr_in).cast(),
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ),
            RawAddr::V6(a) => (
                (a as *const libc::sockaddr_in6).cast(),
                mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            ),
        }
    }
}

fn family(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// A new non-blocking, close-on-exec TCP socket for `addr`'s family.
pub(crate) fn tcp_socket(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket() takes no pointers; a non-negative result is a new fd
    // that nothing else owns, so OwnedFd may take it.
    unsafe {
        let fd = cvt(libc::socket(family(addr), flags, 0))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// A Unix-domain socket address (a filesystem path) in the kernel's
/// layout.
pub(crate) struct UnixAddr {
    raw: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl UnixAddr {
    /// `InvalidInput` for a path with a NUL byte or too long for
    /// `sun_path` with its terminating NUL.
    pub(crate) fn new(path: &Path) -> io::Result<UnixAddr> {
        let bytes = path.as_os_str().as_bytes();
        // SAFETY: sockaddr_un is plain data; all zeroes is a valid value
        // (and gives the path its terminating NUL).
        let mut raw: libc::sockaddr_un = unsafe { mem::zeroed() };
        if bytes.is_empty() || bytes.contains(&0) || bytes.len() >= raw.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a Unix socket path: empty, with a NUL byte, or longer than 107 bytes",
            ));
        }
        raw.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, &src) in raw.sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let len = mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
        Ok(UnixAddr {
            raw,
            len: len as libc::socklen_t,
        })
    }
}

/// A new non-blocking, close-on-exec Unix stream socket.
pub(crate) fn unix_socket() -> io::Result<OwnedFd> {
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket() takes no pointers; a non-negative result is a new fd
    // that nothing else owns, so OwnedFd may take it.
    unsafe {
        let fd = cvt(libc::socket(libc::AF_UNIX, flags, 0))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Connects `fd` to `addr` without blocking. `EAGAIN` (the listener's
/// backlog is full) is returned as the error it is.
pub(crate) fn connect_unix(fd: BorrowedFd<'_>, addr: &UnixAddr) -> io::Result<()> {
    let ptr: *const libc::sockaddr = (&addr.raw as *const libc::sockaddr_un).cast();
    // A non-blocking Unix-domain connect never sleeps, so it is not
    // interrupted (EINTR) either: one call decides.
    // SAFETY: ptr/len describe `addr.raw`, alive for the call; the fd is
    // open.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), ptr, addr.len) })?;
    Ok(())
}

/// Sets an `int` socket option.
pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, which outlives the
    // call; the fd is borrowed, so it is open.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Binds `fd` to `addr`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<()> {
    let raw = RawAddr::new(addr);
    let (ptr, len) = raw.as_ptr();
    // SAFETY: ptr/len describe `raw`, alive for the call; the fd is open.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), ptr, len) })?;
    Ok(())
}

/// Makes `fd` listen (again: on Linux a second `listen` only changes the
/// backlog, which is how a std-bound Unix listener gets the caller's).
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: no pointers; the fd is open.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// Starts a non-blocking connect. `Ok(true)` if it completed at once (a
/// Unix-domain or loopback peer may), `Ok(false)` if it is in progress and
/// the socket reports the outcome by becoming writable.
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<bool> {
    let raw = RawAddr::new(addr);
    let (ptr, len) = raw.as_ptr();
    // SAFETY: ptr/len describe `raw`, alive for the call; the fd is open.
    match cvt(unsafe { libc::connect(fd.as_raw_fd(), ptr, len) }) {
        Ok(_) => Ok(true),
        // An interrupted connect goes on in the background, as if it had
        // returned EINPROGRESS.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads and clears the socket's pending error (`SO_ERROR`): the outcome of
/// a non-blocking connect.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the pointers describe `value` and `len`, alive for the call.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok((value != 0).then(|| io::Error::from_raw_os_error(value)))
}

/// Accepts one connection as a non-blocking, close-on-exec fd, with the
/// peer's address if it is an IP one.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, Option<SocketAddr>)> {
    // SAFETY: an all-zero sockaddr_storage is a valid value (plain data).
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: the pointers describe `storage` and `len`, alive for the
    // call; a non-negative result is a new fd that only we own.
    let conn = unsafe {
        let raw = cvt(libc::accept4(
            fd.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
            flags,
        ))?;
        OwnedFd::from_raw_fd(raw)
    };
    Ok((conn, ip_addr(&storage, len)))
}

/// The socket's own IP address (`getsockname`); `None` for a socket of
/// another family (Unix-domain).
pub(crate) fn local_ip_addr(fd: BorrowedFd<'_>) -> io::Result<Option<SocketAddr>> {
    // SAFETY: an all-zero sockaddr_storage is a valid value (plain data).
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the pointers describe `storage` and `len`, alive for the
    // call; the fd is borrowed, so it is open.
    cvt(unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    Ok(ip_addr(&storage, len))
}

/// The IP address the kernel wrote into `storage`, if it wrote one.
fn ip_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match storage.ss_family as libc::c_int {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the kernel wrote a whole sockaddr_in (family and length
            // say so); sockaddr_storage is larger and at least as aligned.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// `shutdown(SHUT_WR)`: sends FIN after what the kernel already holds.
pub(crate) fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no pointers; the fd is open.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) })?;
    Ok(())
}

/// Puts the fd in non-blocking mode (`FIONBIO`: one system call).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: FIONBIO reads one int through the pointer, which refers to
    // `on`, alive for the call; the fd is open.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONBIO, &on) })?;
    Ok(())
}

/// Whether `SIGPIPE` is ignored in this process right now (std ignores it
/// before `main` in every Rust binary; C hosts usually do not).
pub(crate) fn sigpipe_ignored() -> bool {
    // SAFETY: an all-zero sigaction is a valid value (plain data).
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: a null new action only queries; `old` is alive for the call.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
    rc == 0 && old.sa_sigaction == libc::SIG_IGN
}
