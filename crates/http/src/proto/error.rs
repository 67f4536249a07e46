//! [`HttpError`]: a request the server must refuse, with the status to send.

use std::fmt;

use http::StatusCode;

/// A request that breaks a wire rule or a limit.
///
/// Every `HttpError` from this module means the same thing to a server:
/// answer with [`status`](HttpError::status) and close the connection once
/// the answer is sent. Nothing after the offending bytes can be trusted to
/// be the start of another request, so none of it may be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpError {
    /// The status to answer with: 400, 413, 414, 417, 431, 501 or 505 (for
    /// a request); 502 for a response a client refuses.
    pub status: StatusCode,
    /// A short, fixed description of the rule broken, fit for a log line
    /// or a response body (it never contains request bytes).
    pub reason: &'static str,
}

impl HttpError {
    /// An error with `status` and `reason`.
    pub const fn new(status: StatusCode, reason: &'static str) -> Self {
        HttpError { status, reason }
    }

    pub(crate) const fn bad(reason: &'static str) -> Self {
        HttpError::new(StatusCode::BAD_REQUEST, reason)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_status_and_reason() {
        let e = HttpError::bad("bare CR");
        assert_eq!(e.to_string(), "400 Bad Request: bare CR");
    }
}
