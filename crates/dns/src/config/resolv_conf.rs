//! resolv.conf(5) parsing. Lines that do not parse are skipped, unknown
//! keywords and options ignored: a resolv.conf is never fatal.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::rr::Name;

/// The content of a resolv.conf file, as parsed. Options absent from the
/// file are `None` / `false`.
///
/// ```
/// use evloop_dns::config::ResolvConf;
///
/// let rc = ResolvConf::parse(
///     "# comment\n\
///      nameserver 192.0.2.1\n\
///      nameserver [2001:db8::1]:5353\n\
///      domain a.example\n\
///      search b.example c.example\n\
///      options ndots:3 timeout:1 attempts:2 rotate edns0 no-such-option\n",
/// );
/// assert_eq!(rc.nameservers.len(), 2);
/// assert_eq!(rc.nameservers[1].port(), 5353);
/// // the last of `domain` and `search` wins, as glibc does
/// assert_eq!(rc.search.len(), 2);
/// assert_eq!(rc.ndots, Some(3));
/// assert!(rc.rotate && rc.edns0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines, in order (port 53 unless given).
    pub nameservers: Vec<SocketAddr>,
    /// The search list: the last `search` or `domain` line.
    pub search: Vec<Name>,
    /// `options ndots:N` (capped at 15).
    pub ndots: Option<u8>,
    /// `options timeout:N` in seconds (capped at 30, as glibc).
    pub timeout: Option<Duration>,
    /// `options attempts:N` (1 to 5, as glibc).
    pub attempts: Option<u32>,
    /// `options rotate`.
    pub rotate: bool,
    /// `options edns0`.
    pub edns0: bool,
}

impl ResolvConf {
    /// Parses resolv.conf text. Never fails: bad lines are skipped.
    pub fn parse(text: &str) -> ResolvConf {
        let mut rc = ResolvConf::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut words = line.split_whitespace();
            let Some(key) = words.next() else { continue };
            match key {
                "nameserver" => {
                    if let Some(addr) = words.next().and_then(parse_nameserver) {
                        rc.nameservers.push(addr);
                    }
                }
                "domain" => {
                    rc.search = words.next().and_then(domain_name).into_iter().collect();
                }
                "search" => {
                    rc.search = words.filter_map(domain_name).collect();
                }
                "options" => {
                    for opt in words {
                        rc.option(opt);
                    }
                }
                _ => {}
            }
        }
        rc
    }

    /// Reads and parses a file.
    ///
    /// # Errors
    ///
    /// If the file cannot be read.
    pub fn from_file(path: impl AsRef<Path>) -> io::Result<ResolvConf> {
        Ok(ResolvConf::parse(&std::fs::read_to_string(path)?))
    }

    fn option(&mut self, opt: &str) {
        let (name, value) = match opt.split_once(':') {
            Some((n, v)) => (n, v.parse::<u32>().ok()),
            None => (opt, None),
        };
        match (name, value) {
            ("ndots", Some(n)) => self.ndots = Some(n.min(15) as u8),
            ("timeout", Some(n)) => self.timeout = Some(Duration::from_secs(n.clamp(1, 30).into())),
            ("attempts", Some(n)) => self.attempts = Some(n.clamp(1, 5)),
            ("rotate", None) => self.rotate = true,
            ("edns0", None) => self.edns0 = true,
            _ => {}
        }
    }
}

/// Parses a nameserver address as resolv.conf lines write it: `192.0.2.1`,
/// `2001:db8::1`, `192.0.2.1:5353`, `[2001:db8::1]:5353` or `[2001:db8::1]`.
/// The port is 53 unless given.
///
/// ```
/// use evloop_dns::config::parse_nameserver;
/// assert_eq!(parse_nameserver("::1").unwrap().port(), 53);
/// assert_eq!(parse_nameserver("[::1]:5353").unwrap().port(), 5353);
/// assert_eq!(parse_nameserver("127.0.0.1:5353").unwrap().port(), 5353);
/// assert!(parse_nameserver("not-an-ip").is_none());
/// ```
pub fn parse_nameserver(s: &str) -> Option<SocketAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa);
    }
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

/// A search domain, fully qualified; `None` if it does not parse or is the
/// root (which would make every search candidate the bare name again).
pub(crate) fn domain_name(s: &str) -> Option<Name> {
    let mut n = Name::from_ascii(s).ok()?;
    if n.is_root() || n.num_labels() == 0 {
        return None;
    }
    n.set_fqdn(true);
    Some(n)
}
