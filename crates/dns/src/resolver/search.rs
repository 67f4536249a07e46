//! The names a lookup tries, as resolv.conf(5) defines: a name ending in a
//! dot is tried alone; a name with at least `ndots` dots is tried as given
//! first, then with each search domain; a shorter one with each search
//! domain first, then as given.

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::config::Config;

/// Parses a name as the user typed it (ASCII kept as is, so 0x20 and the
/// reported name keep the user's case; other text through IDNA).
pub(crate) fn parse_name(s: &str) -> Result<Name, String> {
    // Plain host names (letters, digits, '-', '_', non-empty labels) need
    // no escape handling: written in wire form and decoded, which is much
    // cheaper than building the name label by label.
    let plain = s.strip_suffix('.').unwrap_or(s);
    let mut wire = [0u8; 256];
    let mut n = 0;
    let mut ok = !plain.is_empty() && plain.len() < 254;
    if ok {
        for label in plain.split('.') {
            let b = label.as_bytes();
            if b.is_empty()
                || b.len() > 63
                || !b
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
            {
                ok = false;
                break;
            }
            wire[n] = b.len() as u8;
            wire[n + 1..n + 1 + b.len()].copy_from_slice(b);
            n += 1 + b.len();
        }
    }
    if ok {
        if let Ok(mut name) = Name::read(&mut BinDecoder::new(&wire[..=n])) {
            name.set_fqdn(s.ends_with('.'));
            return Ok(name);
        }
    }
    let r = if s.is_ascii() {
        Name::from_ascii(s)
    } else {
        Name::from_utf8(s)
    };
    r.map_err(|e| format!("invalid name {s:?}: {e}"))
}

pub(crate) fn candidates(input: &str, cfg: &Config) -> Result<Vec<Name>, String> {
    let mut name = parse_name(input)?;
    let absolute = input.ends_with('.') || name.is_fqdn();
    name.set_fqdn(true);
    if absolute || cfg.search.is_empty() {
        return Ok(vec![name]);
    }
    let dots = input.bytes().filter(|&b| b == b'.').count();
    let mut relative = name.clone();
    relative.set_fqdn(false);
    let searched = cfg
        .search
        .iter()
        .filter_map(|d| relative.clone().append_domain(d).ok());
    let mut out = Vec::with_capacity(cfg.search.len() + 1);
    if dots >= usize::from(cfg.ndots) {
        out.push(name);
        out.extend(searched);
    } else {
        out.extend(searched);
        out.push(name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(input: &str, cfg: &Config) -> Vec<String> {
        candidates(input, cfg)
            .unwrap()
            .iter()
            .map(|n| n.to_ascii())
            .collect()
    }

    #[test]
    fn order_follows_ndots() {
        let cfg = Config::default()
            .with_search("a.example")
            .with_search("b.example");
        assert_eq!(
            names("www", &cfg),
            ["www.a.example.", "www.b.example.", "www."]
        );
        assert_eq!(
            names("www.x", &cfg),
            ["www.x.", "www.x.a.example.", "www.x.b.example."]
        );
        assert_eq!(names("www.", &cfg), ["www."]);
        let cfg = cfg.with_ndots(2);
        assert_eq!(names("www.x", &cfg)[0], "www.x.a.example.");
    }
}
