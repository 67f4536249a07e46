//! What a lookup's callback gets.

use std::fmt;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RData, Record, RecordType};

/// How a lookup ended. Every outcome is distinct, as c-ares reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Records of the asked type were found (at least one).
    NoError,
    /// The name does not exist (every search candidate said so).
    NxDomain,
    /// The name exists but has no record of the asked type (also a
    /// NOERROR reply with no usable answer).
    NoData,
    /// Every server answered SERVFAIL.
    ServFail,
    /// Every server answered REFUSED.
    Refused,
    /// Every server answered NOTIMP.
    NotImp,
    /// Every server answered FORMERR (also without EDNS).
    FormErr,
    /// No answer within timeout × attempts × servers.
    Timeout,
    /// The resolver was shut down before the lookup ended.
    Shutdown,
    /// Anything else: a malformed reply seen and nothing better, a CNAME
    /// loop or overlong chain, a name that is not valid, no nameserver
    /// configured, a socket error. The text says which.
    Error(String),
}

impl Status {
    /// The upper-case name used by the `resolve_bench` example's output
    /// (`NOERROR`, `NXDOMAIN`, ..., `ERROR`).
    ///
    /// ```
    /// use evloop_dns::resolver::Status;
    /// assert_eq!(Status::NxDomain.name(), "NXDOMAIN");
    /// assert_eq!(Status::Error("x".into()).name(), "ERROR");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Status::NoError => "NOERROR",
            Status::NxDomain => "NXDOMAIN",
            Status::NoData => "NODATA",
            Status::ServFail => "SERVFAIL",
            Status::Refused => "REFUSED",
            Status::NotImp => "NOTIMP",
            Status::FormErr => "FORMERR",
            Status::Timeout => "TIMEOUT",
            Status::Shutdown => "SHUTDOWN",
            Status::Error(_) => "ERROR",
        }
    }

    /// Whether records were found.
    pub fn is_ok(&self) -> bool {
        *self == Status::NoError
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Error(reason) => write!(f, "ERROR ({reason})"),
            other => f.write_str(other.name()),
        }
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A DNS reply received for this lookup (or shared with an identical
    /// lookup in flight at the same time).
    Network,
    /// The resolver's cache.
    Cache,
    /// The configured hosts file.
    Hosts,
    /// The name was an IP address literal.
    Literal,
    /// No answer (errors, shutdown, timeout).
    None,
}

/// The result handed to a lookup's callback.
#[derive(Debug, Clone)]
pub struct LookupResult {
    /// How the lookup ended.
    pub status: Status,
    /// The type asked (`A` for an address lookup's combined result).
    pub record_type: RecordType,
    /// The fully qualified name that was answered (the search candidate
    /// that succeeded, or the last one tried).
    pub name: Option<Name>,
    /// The name at the end of the CNAME chain, if the answer had one or
    /// more CNAMEs.
    pub canonical: Option<Name>,
    /// The smallest TTL of the records returned (and of the CNAMEs leading
    /// to them), counting down while cached. For NXDOMAIN/NODATA, the
    /// negative TTL (RFC 2308) when the server sent an SOA.
    pub ttl: Option<u32>,
    /// The records of the asked type, in the order received (for an
    /// address lookup, the A and AAAA records; hosts-file and literal
    /// answers have none).
    pub records: Vec<Record>,
    /// The addresses of A/AAAA records (for an address lookup: of both
    /// families, sorted as RFC 6724 prescribes, see
    /// [`Resolver::lookup_addr`](super::Resolver::lookup_addr)).
    pub addrs: Vec<IpAddr>,
    /// Where the answer came from.
    pub source: Source,
    /// For an address lookup: how the A query and the AAAA query ended
    /// (a partial result has one NOERROR and one failure).
    pub families: Option<(Status, Status)>,
}

impl LookupResult {
    pub(crate) fn status_only(status: Status, record_type: RecordType) -> LookupResult {
        LookupResult {
            status,
            record_type,
            name: None,
            canonical: None,
            ttl: None,
            records: Vec::new(),
            addrs: Vec::new(),
            source: Source::None,
            families: None,
        }
    }

    /// The status, with `Error`'s reason.
    pub fn reason(&self) -> Option<&str> {
        match &self.status {
            Status::Error(r) => Some(r),
            _ => None,
        }
    }

    pub(crate) fn fill_addrs(&mut self) {
        self.addrs = self
            .records
            .iter()
            .filter_map(|r| match r.data() {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect();
    }
}
