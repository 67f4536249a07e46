//! hosts(5) files: `address name [aliases...]`, `#` comments.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::Path;

/// A parsed hosts file: addresses by name (case-insensitive, in file
/// order) and the first name of each address (for reverse lookups).
///
/// ```
/// use evloop_dns::config::Hosts;
///
/// let hosts = Hosts::parse("127.0.0.1 localhost\n::1 localhost ip6-localhost # comment\n10.1.2.3 Box.Example box\n");
/// assert_eq!(hosts.lookup("LOCALHOST").len(), 2);
/// assert_eq!(hosts.lookup("box.example.")[0].to_string(), "10.1.2.3");
/// assert_eq!(hosts.name_of("10.1.2.3".parse().unwrap()), Some("box.example"));
/// assert!(hosts.lookup("nothere").is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    by_name: HashMap<String, Vec<IpAddr>>,
    by_addr: HashMap<IpAddr, String>,
}

impl Hosts {
    /// Parses hosts-file text. Lines whose address does not parse are
    /// skipped.
    pub fn parse(text: &str) -> Hosts {
        let mut h = Hosts::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
                continue;
            };
            for name in words {
                let key = normalize(name);
                if key.is_empty() {
                    continue;
                }
                h.by_addr.entry(ip).or_insert_with(|| key.clone());
                let list = h.by_name.entry(key).or_default();
                if !list.contains(&ip) {
                    list.push(ip);
                }
            }
        }
        h
    }

    /// Reads and parses a file.
    ///
    /// # Errors
    ///
    /// If the file cannot be read.
    pub fn from_file(path: impl AsRef<Path>) -> io::Result<Hosts> {
        Ok(Hosts::parse(&std::fs::read_to_string(path)?))
    }

    /// Adds an entry in code.
    pub fn insert(&mut self, name: &str, ip: IpAddr) {
        let key = normalize(name);
        self.by_addr.entry(ip).or_insert_with(|| key.clone());
        let list = self.by_name.entry(key).or_default();
        if !list.contains(&ip) {
            list.push(ip);
        }
    }

    /// The addresses of `name` (case-insensitive, a trailing dot ignored),
    /// in file order; empty if none.
    pub fn lookup(&self, name: &str) -> &[IpAddr] {
        // Every lookup asks here first, mostly in lower case already: no
        // copy for those.
        let name = name.trim_end_matches('.');
        let found = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_name.get(&name.to_ascii_lowercase())
        } else {
            self.by_name.get(name)
        };
        found.map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first name given for `ip`, lower-case without a trailing dot.
    pub fn name_of(&self, ip: IpAddr) -> Option<&str> {
        self.by_addr.get(&ip).map(String::as_str)
    }

    /// How many names the file holds.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether it holds no name.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
