//! resolv.conf and hosts parsing, and configs built in code.

use std::net::SocketAddr;
use std::time::Duration;

use evloop_dns::config::{parse_nameserver, Config, Hosts, ResolvConf, DEFAULT_EDNS_PAYLOAD};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn nameservers_with_and_without_ports() {
    let rc = ResolvConf::parse(
        "nameserver 192.0.2.1\n\
         nameserver 192.0.2.2:5353\n\
         nameserver 2001:db8::1\n\
         nameserver [2001:db8::2]:5300\n\
         nameserver [2001:db8::3]\n\
         nameserver not-an-address\n\
         nameserver\n",
    );
    assert_eq!(
        rc.nameservers,
        [
            sa("192.0.2.1:53"),
            sa("192.0.2.2:5353"),
            sa("[2001:db8::1]:53"),
            sa("[2001:db8::2]:5300"),
            sa("[2001:db8::3]:53"),
        ]
    );
    assert_eq!(parse_nameserver("[::1]:bad"), None);
}

#[test]
fn last_of_search_and_domain_wins() {
    let names = |rc: &ResolvConf| rc.search.iter().map(|n| n.to_ascii()).collect::<Vec<_>>();
    let rc = ResolvConf::parse("search a.example b.example\ndomain c.example\n");
    assert_eq!(names(&rc), ["c.example."]);
    let rc = ResolvConf::parse("domain c.example\nsearch a.example b.example\n");
    assert_eq!(names(&rc), ["a.example.", "b.example."]);
    let rc = ResolvConf::parse("search a.example\nsearch\n");
    assert!(rc.search.is_empty(), "an empty search line clears the list");
}

#[test]
fn options_are_parsed_capped_and_unknown_ones_ignored() {
    let rc = ResolvConf::parse(
        "options ndots:3 timeout:7 attempts:4 rotate edns0 single-request inet6 ndots:x foo:bar\n\
         options attempts:99 timeout:0 ndots:40\n\
         sortlist 130.155.160.0/255.255.240.0\n\
         lookup file bind\n\
         garbage line here\n",
    );
    assert_eq!(rc.ndots, Some(15));
    assert_eq!(rc.timeout, Some(Duration::from_secs(1)));
    assert_eq!(rc.attempts, Some(5));
    assert!(rc.rotate);
    assert!(rc.edns0);
}

#[test]
fn comments_blank_lines_and_whitespace() {
    let rc = ResolvConf::parse("# comment\n; also a comment\n\n   \n\tnameserver\t192.0.2.9  \n");
    assert_eq!(rc.nameservers, [sa("192.0.2.9:53")]);
    assert_eq!(ResolvConf::parse(""), ResolvConf::default());
}

#[test]
fn config_from_resolv_conf_and_overrides() {
    let rc = ResolvConf::parse(
        "nameserver 192.0.2.1\nsearch x.example\noptions ndots:2 timeout:3 attempts:1 rotate\n",
    );
    let c = Config::from_resolv_conf(&rc);
    assert_eq!(c.nameservers, [sa("192.0.2.1:53")]);
    assert_eq!(
        (c.ndots, c.timeout, c.attempts, c.rotate),
        (2, Duration::from_secs(3), 1, true)
    );
    assert_eq!(c.edns, Some(DEFAULT_EDNS_PAYLOAD));
    // options only, servers kept
    let mut d = Config::default().with_nameserver(sa("127.0.0.1:5353"));
    d.apply_resolv_conf_options(&rc);
    assert_eq!(d.nameservers, [sa("127.0.0.1:5353")]);
    assert_eq!(d.search[0].to_ascii(), "x.example.");
}

#[test]
fn defaults_read_nothing_from_etc() {
    let c = Config::default();
    assert!(c.nameservers.is_empty());
    assert!(c.search.is_empty());
    assert!(c.hosts.is_none());
    assert_eq!(c.ndots, 1);
    assert!(c.cache);
}

#[test]
fn resolv_conf_file_errors_are_values() {
    assert!(ResolvConf::from_file("/nonexistent/resolv.conf").is_err());
    assert!(Hosts::from_file("/nonexistent/hosts").is_err());
    let dir = std::env::temp_dir().join(format!("evloop-dns-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("resolv.conf");
    std::fs::write(&p, "nameserver 192.0.2.44\n").unwrap();
    let c = Config::from_resolv_conf_file(&p).unwrap();
    assert_eq!(c.nameservers, [sa("192.0.2.44:53")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hosts_file_parsing() {
    let h = Hosts::parse(
        "127.0.0.1\tlocalhost\n\
         ::1 localhost ip6-localhost ip6-loopback\n\
         # 10.0.0.9 commented.out\n\
         10.0.0.1 Web.Example web # trailing comment\n\
         10.0.0.2 web.example\n\
         bogus-address name\n\
         fe80::1%eth0 linklocal\n\
         10.0.0.3\n",
    );
    let ips = |n: &str| {
        h.lookup(n)
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ips("localhost"), ["127.0.0.1", "::1"]);
    assert_eq!(ips("WEB.example."), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(ips("web"), ["10.0.0.1"]);
    assert!(ips("commented.out").is_empty());
    assert!(ips("name").is_empty());
    assert!(
        ips("linklocal").is_empty(),
        "zone ids are not addresses std parses"
    );
    assert_eq!(h.name_of("10.0.0.1".parse().unwrap()), Some("web.example"));
    assert_eq!(h.name_of("::1".parse().unwrap()), Some("localhost"));
    let mut h2 = Hosts::default();
    assert!(h2.is_empty());
    h2.insert("Box", "192.0.2.5".parse().unwrap());
    assert_eq!(h2.len(), 1);
    assert_eq!(h2.lookup("box").len(), 1);
}
