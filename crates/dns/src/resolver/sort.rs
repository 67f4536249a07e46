//! Destination address order for address lookups: a practical subset of
//! RFC 6724 section 6.
//!
//! * Rule 1 (avoid unusable destinations): a family the host cannot reach
//!   (no route: a UDP `connect` to a global address of that family fails,
//!   which sends no packet) goes last.
//! * Rule 2/8 (prefer matching scope, then smaller scope): loopback before
//!   link-local before everything else.
//! * Rule 6 (higher precedence first) with the default policy table:
//!   `::1` 50, `::/0` 40, IPv4 35, 6to4 30, Teredo 5, ULA 3, the rest 1.
//! * Otherwise the order received is kept (rule 10, a stable sort).
//!
//! Source-address rules (3, 4, 5, 7, 9) need the host's source addresses
//! per destination and are not applied.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};

/// Which families the host can route to, probed once per resolver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reach {
    pub(crate) v4: bool,
    pub(crate) v6: bool,
}

impl Reach {
    pub(crate) fn probe() -> Reach {
        fn can(bind: &str, to: SocketAddr) -> bool {
            UdpSocket::bind(bind).and_then(|s| s.connect(to)).is_ok()
        }
        Reach {
            v4: can("0.0.0.0:0", SocketAddr::from(([192, 0, 2, 1], 53))),
            v6: can(
                "[::]:0",
                SocketAddr::from((Ipv6Addr::new(0x2001, 0x4860, 0, 0, 0, 0, 0, 0x8888), 53)),
            ),
        }
    }
}

fn precedence(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 35,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_loopback() {
                50
            } else if v6.to_ipv4_mapped().is_some() {
                35
            } else if s[0] == 0x2002 {
                30
            } else if s[0] == 0x2001 && s[1] == 0 {
                5
            } else if s[0] & 0xfe00 == 0xfc00 {
                3
            } else if s[0] & 0xffc0 == 0xfec0 || s[0] == 0x3ffe || v6.segments()[..6] == [0; 6] {
                1
            } else {
                40
            }
        }
    }
}

/// 0 loopback, 1 link-local, 2 the rest (smaller scope first).
fn scope(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => 0,
        IpAddr::V4(v4) if v4.is_link_local() => 1,
        IpAddr::V6(v6) if v6.is_loopback() => 0,
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => 1,
        _ => 2,
    }
}

pub(crate) fn sort(addrs: &mut [IpAddr], reach: Reach) {
    addrs.sort_by_key(|ip| {
        let usable = match ip {
            IpAddr::V4(_) => reach.v4,
            IpAddr::V6(_) => reach.v6,
        } || scope(ip) == 0;
        (!usable, scope(ip), std::cmp::Reverse(precedence(ip)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_first_when_reachable_v4_first_when_not() {
        let mut a: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        sort(&mut a, Reach { v4: true, v6: true });
        assert!(a[0].is_ipv6());
        sort(
            &mut a,
            Reach {
                v4: true,
                v6: false,
            },
        );
        assert!(a[0].is_ipv4());
    }

    #[test]
    fn loopback_first_and_stable() {
        let mut a: Vec<IpAddr> = vec![
            "10.0.0.2".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
        ];
        sort(
            &mut a,
            Reach {
                v4: true,
                v6: false,
            },
        );
        assert_eq!(a[0].to_string(), "127.0.0.1");
        assert_eq!(a[1].to_string(), "10.0.0.2");
    }
}
