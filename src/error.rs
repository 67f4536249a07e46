//! The crate's error type.

use std::fmt;
use std::io;

/// What can go wrong when calling the loop.
///
/// Misuse (a stale handle, a setting that needs a stopped watcher, an argument
/// out of range) is reported as a value: the loop never panics on it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The handle refers to a watcher that was removed.
    StaleHandle,
    /// The handle was made by another loop; it never reaches a watcher of
    /// this one.
    ForeignHandle,
    /// The operation needs a stopped watcher, and this one is active.
    Active,
    /// An argument is out of range; the text says which and why.
    InvalidArgument(&'static str),
    /// The name given in `EVLOOP_BACKEND` or to the builder is not a backend.
    UnknownBackend(String),
    /// The backend exists but cannot be used here (not compiled for this OS,
    /// or its creation failed).
    BackendUnavailable(crate::Backend, Option<io::Error>),
    /// A system call failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::StaleHandle => {
                f.write_str("the watcher handle is stale (the watcher was removed)")
            }
            Error::Active => f.write_str("the watcher is active; stop it first"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::ForeignHandle => f.write_str("the watcher handle belongs to another loop"),
            Error::UnknownBackend(name) => write!(
                f,
                "unknown backend {name:?} (expected one of: epoll, poll, select)"
            ),
            Error::BackendUnavailable(b, None) => {
                write!(f, "backend {b} is not available on this system")
            }
            Error::BackendUnavailable(b, Some(e)) => write!(f, "backend {b} is not available: {e}"),
            Error::Io(e) => write!(f, "system call failed: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::BackendUnavailable(_, Some(e)) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
