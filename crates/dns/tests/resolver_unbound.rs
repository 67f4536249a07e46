//! The resolver against a real unbound on 127.0.0.1 (started by the test
//! with its own config, like the bench runner's). Prints SKIP when unbound
//! is not installed (`apt-get install -y unbound`).

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evloop::{Ctx, Loop, RunMode};
use evloop_dns::config::Config;
use evloop_dns::resolver::{LookupResult, ResolverExt, ResolverId, Source, Status};
use hickory_proto::rr::{RData, RecordType};

struct Unbound {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unbound_path() -> Option<PathBuf> {
    [
        "/usr/sbin/unbound",
        "/usr/bin/unbound",
        "/usr/local/sbin/unbound",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A port free for both UDP and TCP right now.
fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn start_unbound(tag: &str) -> Option<Unbound> {
    let Some(bin) = unbound_path() else {
        println!("SKIP: unbound is not installed (apt-get install -y unbound)");
        return None;
    };
    // The port is free when picked, but another process may take it before
    // unbound binds it (tests run side by side): then unbound exits, and
    // another port is tried.
    for attempt in 0..5 {
        let dir = std::env::temp_dir().join(format!(
            "evloop-dns-unbound-{}-{tag}-{attempt}",
            std::process::id()
        ));
        if let Some(ub) = try_start_unbound(&bin, dir) {
            return Some(ub);
        }
    }
    panic!("unbound did not come up on any of 5 ports");
}

/// Starts unbound on a free port in `dir`; `None` if it exited (its port
/// was taken meanwhile). Panics if it runs but does not answer in time.
fn try_start_unbound(bin: &std::path::Path, dir: PathBuf) -> Option<Unbound> {
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let big: String = (0..6)
        .map(|i| format!("\"{}\"", ((b'a' + i) as char).to_string().repeat(250)))
        .collect::<Vec<_>>()
        .join(" ");
    let conf = format!(
        r#"server:
    interface: 127.0.0.1
    port: {port}
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: ""
    use-syslog: no
    logfile: "{dir}/unbound.log"
    verbosity: 1
    num-threads: 1
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
    max-udp-size: 1232
    edns-buffer-size: 1232
    local-zone: "bench.test." static
    local-data: "bench.test. 3600 IN SOA ns.bench.test. admin.bench.test. 1 3600 600 86400 300"
    local-data: "n1.bench.test. 300 IN A 10.0.0.1"
    local-data: "v6.bench.test. 300 IN AAAA 2001:db8::1"
    local-data: "dual.bench.test. 300 IN A 10.255.0.1"
    local-data: "dual.bench.test. 300 IN AAAA 2001:db8::2"
    local-data: "alias.bench.test. 300 IN CNAME n1.bench.test."
    local-data: 'txt.bench.test. 300 IN TXT "hello from bench.test"'
    local-data: 'big.bench.test. 300 IN TXT {big}'
    local-zone: "ref.example." refuse
    local-zone: "drop.example." deny
remote-control:
    control-enable: no
"#,
        dir = dir.display()
    );
    let conf_path = dir.join("unbound.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-d")
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("unbound starts");
    let mut ub = Unbound {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    };
    // ready when it answers
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Ok(Some(_)) = ub.child.try_wait() {
            return None;
        }
        let r = lookups(
            &ub,
            Duration::from_millis(100),
            &[("n1.bench.test", RecordType::A)],
        );
        if r[0].status == Status::NoError {
            return Some(ub);
        }
    }
    panic!(
        "unbound did not come up (see its log in {})",
        ub.dir.display()
    );
}

type Out = Vec<LookupResult>;

fn lookups(ub: &Unbound, timeout: Duration, what: &[(&str, RecordType)]) -> Out {
    let cfg = Config::default()
        .with_nameserver(ub.addr)
        .with_timeout(timeout)
        .with_attempts(1);
    let mut lp: Loop<Out> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let rid: ResolverId = ctx.new_resolver(cfg).unwrap();
    let mut r = ctx.resolver(rid).unwrap();
    for (i, (name, t)) in what.iter().enumerate() {
        r.lookup(name, *t, move |_: &mut Ctx<'_, Out>, out: &mut Out, res| {
            out.resize_with(out.len().max(i + 1), || LookupResult::clone(&res));
            out[i] = res;
        });
    }
    let mut out = Vec::new();
    lp.run(&mut out, RunMode::Default).unwrap();
    out
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn against_unbound() {
    let Some(ub) = start_unbound("main") else {
        return;
    };
    let t = Duration::from_millis(500);
    let out = lookups(
        &ub,
        t,
        &[
            ("n1.bench.test", RecordType::A),
            ("v6.bench.test", RecordType::AAAA),
            ("txt.bench.test", RecordType::TXT),
            ("big.bench.test", RecordType::TXT),
            ("nope.bench.test", RecordType::A),
            ("v6.bench.test", RecordType::A),
            ("alias.bench.test", RecordType::A),
            ("ref.example", RecordType::A),
            ("x.drop.example", RecordType::A),
        ],
    );
    assert_eq!(
        (out[0].status.clone(), out[0].addrs.clone(), out[0].ttl),
        (Status::NoError, vec![ip("10.0.0.1")], Some(300))
    );
    assert_eq!(out[1].addrs, [ip("2001:db8::1")]);
    let RData::TXT(txt) = out[2].records[0].data() else {
        panic!()
    };
    assert_eq!(txt.to_string(), "hello from bench.test");
    // 1500 bytes of text: truncated over UDP, asked again over TCP
    let RData::TXT(txt) = out[3].records[0].data() else {
        panic!("{:?}", out[3].status)
    };
    let text: Vec<u8> = txt
        .txt_data()
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    assert_eq!(text.len(), 1500);
    assert!(text.starts_with(b"aaaa") && text.ends_with(b"ffff"));
    // NXDOMAIN and NODATA with the SOA's negative TTL (min(3600, 300))
    assert_eq!(
        (out[4].status.clone(), out[4].ttl),
        (Status::NxDomain, Some(300))
    );
    assert_eq!(
        (out[5].status.clone(), out[5].ttl),
        (Status::NoData, Some(300))
    );
    // a bare CNAME: chased with a second query
    assert_eq!(out[6].addrs, [ip("10.0.0.1")]);
    assert_eq!(
        out[6].canonical.as_ref().unwrap().to_ascii(),
        "n1.bench.test."
    );
    assert_eq!(out[7].status, Status::Refused);
    assert_eq!(out[8].status, Status::Timeout);
    assert_eq!(out[0].source, Source::Network);
}

#[test]
fn address_lookup_against_unbound() {
    let Some(ub) = start_unbound("addr") else {
        return;
    };
    let cfg = Config::default().with_nameserver(ub.addr);
    let mut lp: Loop<Out> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let rid = ctx.new_resolver(cfg).unwrap();
    ctx.resolver(rid)
        .unwrap()
        .lookup_addr("dual.bench.test", |_, out: &mut Out, r| out.push(r));
    let mut out = Vec::new();
    lp.run(&mut out, RunMode::Default).unwrap();
    let mut got = out[0].addrs.clone();
    got.sort();
    assert_eq!(got, [ip("10.255.0.1"), ip("2001:db8::2")]);
}
