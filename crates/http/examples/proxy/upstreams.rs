//! The upstream servers: round robin, an upstream whose connect failed
//! skipped until its fail timeout has passed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use http::uri::Authority;

/// Where an upstream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// `host:port` (an IP address or a name the client resolves).
    Tcp(Authority),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl Upstream {
    /// `IP:PORT`, `[IPv6]:PORT`, `HOST:PORT` or `unix:PATH`.
    pub fn parse(s: &str) -> Result<Upstream, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("--upstream unix: needs a path".into());
            }
            return Ok(Upstream::Unix(PathBuf::from(path)));
        }
        let s = s.strip_prefix("http://").unwrap_or(s);
        let s = s.strip_suffix('/').unwrap_or(s);
        let bad =
            || format!("--upstream {s:?}: expected HOST:PORT, IP:PORT, [IPv6]:PORT or unix:PATH");
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let ok_host = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        };
        if !ok_host || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad());
        }
        // Parsed once here, so that each request's URI is put together
        // from checked parts.
        let authority = s.parse::<Authority>().map_err(|_| bad())?;
        Ok(Upstream::Tcp(authority))
    }

    /// The authority of the URIs sent to it (`localhost` for a Unix socket).
    pub fn authority(&self) -> Authority {
        match self {
            Upstream::Tcp(a) => a.clone(),
            Upstream::Unix(_) => Authority::from_static("localhost"),
        }
    }
}

impl Upstream {
    /// The socket path of a Unix upstream.
    pub fn unix_path(&self) -> Option<&std::path::Path> {
        match self {
            Upstream::Tcp(_) => None,
            Upstream::Unix(p) => Some(p),
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Upstream::Tcp(a) => f.write_str(a.as_str()),
            Upstream::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The upstreams and whose turn it is.
#[derive(Debug)]
pub struct Upstreams {
    list: Vec<(Upstream, Option<Instant>)>,
    next: usize,
    fail_timeout: Duration,
}

impl Upstreams {
    pub fn new(list: Vec<Upstream>, fail_timeout: Duration) -> Upstreams {
        Upstreams {
            list: list.into_iter().map(|u| (u, None)).collect(),
            next: 0,
            fail_timeout,
        }
    }

    pub fn get(&self, i: usize) -> &Upstream {
        &self.list[i].0
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The next upstream in turn that is not marked failed at `now`, or,
    /// when all are, the one whose mark ends first: with every upstream
    /// down a request still tries one (so a proxy with one upstream
    /// recovers as soon as it is back, as nginx does). `skip` lists those
    /// this request tried already; `None` once every one is in it.
    pub fn pick(&mut self, now: Instant, skip: &[usize]) -> Option<usize> {
        let n = self.list.len();
        let mut soonest: Option<(usize, Instant)> = None;
        for k in 0..n {
            let i = (self.next + k) % n;
            if skip.contains(&i) {
                continue;
            }
            match self.list[i].1 {
                Some(until) if until > now => {
                    if soonest.is_none_or(|(_, s)| until < s) {
                        soonest = Some((i, until));
                    }
                }
                _ => {
                    self.next = (i + 1) % n;
                    return Some(i);
                }
            }
        }
        let (i, _) = soonest?;
        self.next = (i + 1) % n;
        Some(i)
    }

    /// Upstream `i` could not be connected to: skip it for the fail timeout.
    pub fn failed(&mut self, i: usize, now: Instant) {
        self.list[i].1 = Some(now + self.fail_timeout);
    }

    /// Upstream `i` answered: it is up.
    pub fn succeeded(&mut self, i: usize) {
        self.list[i].1 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Upstreams {
        let list = ["a:1", "b:2", "c:3"]
            .iter()
            .map(|s| Upstream::parse(s).unwrap())
            .collect();
        Upstreams::new(list, Duration::from_secs(5))
    }

    #[test]
    fn parses_the_address_forms() {
        assert_eq!(
            Upstream::parse("127.0.0.1:80").unwrap().authority(),
            "127.0.0.1:80"
        );
        assert_eq!(
            Upstream::parse("[::1]:8080").unwrap().authority(),
            "[::1]:8080"
        );
        let named = Upstream::parse("http://backend-1.example:80/").unwrap();
        assert_eq!(named.to_string(), "backend-1.example:80");
        assert_eq!(
            Upstream::parse("unix:/run/app.sock").unwrap(),
            Upstream::Unix("/run/app.sock".into())
        );
        for bad in [
            "",
            "host",
            "host:",
            ":80",
            "host:0",
            "host:99999",
            "a b:1",
            "[::1:80",
            "unix:",
        ] {
            assert!(Upstream::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_robin_skips_a_failed_upstream_until_its_time_is_up() {
        let mut u = three();
        let t0 = Instant::now();
        assert_eq!(u.pick(t0, &[]), Some(0));
        assert_eq!(u.pick(t0, &[]), Some(1));
        assert_eq!(u.pick(t0, &[]), Some(2));
        u.failed(1, t0);
        let picks: Vec<_> = (0..4).map(|_| u.pick(t0, &[]).unwrap()).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
        let later = t0 + Duration::from_secs(5);
        let picks: Vec<_> = (0..3).map(|_| u.pick(later, &[]).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2]);
    }

    #[test]
    fn with_all_down_the_first_to_recover_is_tried() {
        let mut u = three();
        let t0 = Instant::now();
        u.failed(0, t0 + Duration::from_secs(2));
        u.failed(1, t0);
        u.failed(2, t0 + Duration::from_secs(1));
        assert_eq!(u.pick(t0, &[]), Some(1));
        u.succeeded(1);
        assert_eq!(u.pick(t0, &[]), Some(1));
    }

    #[test]
    fn a_retry_skips_the_upstreams_tried() {
        let mut u = three();
        let t0 = Instant::now();
        assert_eq!(u.pick(t0, &[0]), Some(1));
        assert_eq!(u.pick(t0, &[0, 1]), Some(2));
        assert_eq!(u.pick(t0, &[0, 1, 2]), None);
    }
}
