//! The header rewriting of a proxy (RFC 9110 7.6): hop-by-hop fields
//! removed both ways (7.6.1), `Via` added both ways (7.6.3),
//! `X-Forwarded-For`/`-Proto`/`-Host` added to requests.

use std::net::IpAddr;

use http::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, EXPECT, HOST, PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE, VIA,
};
use http::{HeaderMap, Version};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The text of the last client address seen, as a header value: most
/// requests come from the address of the one before (keep-alive), and
/// formatting an address costs more than the rest of the rewriting.
#[derive(Debug, Default)]
pub struct PeerText {
    last: Option<(IpAddr, HeaderValue)>,
}

impl PeerText {
    fn get(&mut self, ip: IpAddr) -> Option<HeaderValue> {
        let ip = ip.to_canonical();
        match &self.last {
            Some((last, v)) if *last == ip => Some(v.clone()),
            _ => {
                let v = HeaderValue::from_str(&ip.to_string()).ok()?;
                self.last = Some((ip, v.clone()));
                Some(v)
            }
        }
    }
}

/// Rewrites a request's fields for the upstream, in place: `version` is
/// the version the client used, `peer` its address. Returns the `Upgrade`
/// field when the request asks for an upgrade (see [`upgrade_asked`]):
/// it is removed with the other hop-by-hop fields, and is the one to be
/// passed on if the caller wants to.
///
/// `Expect` goes too: the proxy's server side answers `100 Continue`
/// itself when it starts reading the body, and the body is then sent on
/// without waiting for the upstream's.
pub fn to_upstream(
    h: &mut HeaderMap,
    version: Version,
    peer: Option<IpAddr>,
    peer_text: &mut PeerText,
) -> Option<HeaderValue> {
    let f = Fields::scan(h, true);
    let upgrade = f.upgrade_asked();
    f.remove_hop_by_hop(h);
    if f.expect {
        h.remove(EXPECT);
    }
    // Room for the four fields added below at once: a map that grows
    // on the way rehashes every field each time.
    h.reserve(4);
    if let Some(ip) = peer.and_then(|ip| peer_text.get(ip)) {
        if !f.xff || f.named(&X_FORWARDED_FOR) {
            h.insert(X_FORWARDED_FOR.clone(), ip);
        } else {
            // One field, earlier hops first (what most applications
            // read).
            let mut xff = String::new();
            for v in h.get_all(&X_FORWARDED_FOR) {
                if let Ok(s) = v.to_str() {
                    let s = s.trim();
                    if !s.is_empty() {
                        xff.push_str(s);
                        xff.push_str(", ");
                    }
                }
            }
            xff.push_str(ip.to_str().unwrap_or_default());
            if let Ok(v) = HeaderValue::from_str(&xff) {
                h.insert(X_FORWARDED_FOR.clone(), v);
            }
        }
    }
    h.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    if let Some(host) = &f.host {
        if !f.named(&HOST) {
            h.insert(X_FORWARDED_HOST.clone(), host.clone());
        }
    }
    add_via(h, version);
    upgrade
}

/// The `Upgrade` field of a request that asks for an upgrade (with
/// `Connection: upgrade`, RFC 9110 7.8), to be passed on.
#[cfg(test)]
pub fn upgrade_asked(h: &HeaderMap) -> Option<HeaderValue> {
    Fields::scan(h, false).upgrade_asked()
}

/// Rewrites a response's fields for the client, in place: `version` is
/// the version the upstream answered with. Returns the response's
/// `Content-Length`, if it has a valid one.
pub fn to_client(h: &mut HeaderMap, version: Version) -> Option<u64> {
    let f = Fields::scan(h, false);
    f.remove_hop_by_hop(h);
    add_via(h, version);
    if f.named(&CONTENT_LENGTH) {
        return None;
    }
    f.length
}

/// The fields that are hop-by-hop by definition (RFC 9110 7.6.1, and the
/// obsolete `Keep-Alive` and `Proxy-Connection` that clients still send),
/// in the order of the bits of [`Fields::hop`].
static HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// What one pass over a message's fields finds: what the rewriting needs
/// to know, so that it looks up (hashes) only what is there.
#[derive(Default)]
struct Fields {
    /// Bit `i`: a field named `HOP_BY_HOP[i]` is there.
    hop: u16,
    /// The fields `Connection` names (RFC 9110 7.6.1).
    named: Vec<HeaderName>,
    /// `Connection` holds the `upgrade` option.
    upgrade_option: bool,
    /// The first `Upgrade` field.
    upgrade: Option<HeaderValue>,
    expect: bool,
    xff: bool,
    /// The first `Host` field (requests only).
    host: Option<HeaderValue>,
    /// The first `Content-Length` field was seen (responses only).
    length_seen: bool,
    /// Its value, if it is a number.
    length: Option<u64>,
}

impl Fields {
    fn scan(h: &HeaderMap, request: bool) -> Fields {
        let mut f = Fields::default();
        for (name, value) in h {
            // By text: one length switch and a compare, where comparing
            // names one by one costs one compare each.
            let bit = match name.as_str() {
                "connection" => {
                    f.connection(value);
                    0
                }
                "te" => 1,
                "trailer" => 2,
                "transfer-encoding" => 3,
                "upgrade" => {
                    if f.upgrade.is_none() {
                        f.upgrade = Some(value.clone());
                    }
                    4
                }
                "proxy-authenticate" => 5,
                "proxy-authorization" => 6,
                "keep-alive" => 7,
                "proxy-connection" => 8,
                "expect" => {
                    f.expect = true;
                    continue;
                }
                "x-forwarded-for" => {
                    f.xff = true;
                    continue;
                }
                "host" if request && f.host.is_none() => {
                    f.host = Some(value.clone());
                    continue;
                }
                "content-length" if !request && !f.length_seen => {
                    f.length_seen = true;
                    f.length = value.to_str().ok().and_then(|s| s.parse().ok());
                    continue;
                }
                _ => continue,
            };
            f.hop |= 1 << bit;
        }
        f
    }

    /// The options of a `Connection` field.
    fn connection(&mut self, value: &HeaderValue) {
        let v = value.as_bytes();
        // The usual whole values, which name no field (the exact bytes
        // first: a compare without case folding).
        if v == b"keep-alive"
            || v == b"close"
            || v.eq_ignore_ascii_case(b"keep-alive")
            || v.eq_ignore_ascii_case(b"close")
        {
            return;
        }
        for token in v.split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade_option = true;
            }
            // Its own options name no field (and keep-alive goes anyway).
            if token.is_empty()
                || token.eq_ignore_ascii_case(b"close")
                || token.eq_ignore_ascii_case(b"keep-alive")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token) {
                self.named.push(name);
            }
        }
    }

    fn upgrade_asked(&self) -> Option<HeaderValue> {
        self.upgrade.clone().filter(|_| self.upgrade_option)
    }

    /// Whether `Connection` names `name` (it is removed then).
    fn named(&self, name: &HeaderName) -> bool {
        self.named.iter().any(|n| n == name)
    }

    /// RFC 9110 7.6.1: removes the fields `Connection` names, and the ones
    /// that are hop-by-hop by definition.
    fn remove_hop_by_hop(&self, h: &mut HeaderMap) {
        if self.hop == 0 {
            return;
        }
        for name in &self.named {
            h.remove(name);
        }
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            if self.hop & (1 << i) != 0 {
                h.remove(name);
            }
        }
    }
}

fn add_via(h: &mut HeaderMap, version: Version) {
    let v = if version == Version::HTTP_10 {
        const { HeaderValue::from_static("1.0 evloop-proxy") }
    } else {
        const { HeaderValue::from_static("1.1 evloop-proxy") }
    };
    h.append(VIA, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(fields: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in fields {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn all(h: &HeaderMap, name: &str) -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn hop_by_hop_fields_and_those_connection_names_are_removed() {
        let mut h = map(&[
            ("host", "example.com"),
            ("connection", "keep-alive, X-Secret"),
            ("connection", "x-other"),
            ("x-secret", "1"),
            ("x-other", "2"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic eA=="),
            ("proxy-authenticate", "Basic"),
            ("expect", "100-continue"),
            ("content-length", "5"),
            ("authorization", "Bearer t"),
            ("x-kept", "yes"),
        ]);
        to_upstream(&mut h, Version::HTTP_11, None, &mut PeerText::default());
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "authorization",
                "content-length",
                "host",
                "via",
                "x-forwarded-host",
                "x-forwarded-proto",
                "x-kept"
            ]
        );
    }

    #[test]
    fn the_client_is_appended_to_x_forwarded_for() {
        let mut h = map(&[("host", "site:8080")]);
        to_upstream(
            &mut h,
            Version::HTTP_11,
            Some("10.0.0.7".parse().unwrap()),
            &mut PeerText::default(),
        );
        assert_eq!(all(&h, "x-forwarded-for"), ["10.0.0.7"]);
        assert_eq!(all(&h, "x-forwarded-proto"), ["http"]);
        assert_eq!(all(&h, "x-forwarded-host"), ["site:8080"]);
        assert_eq!(all(&h, "via"), ["1.1 evloop-proxy"]);

        let mut h = map(&[
            ("x-forwarded-for", "203.0.113.1, 198.51.100.2"),
            ("x-forwarded-for", "192.0.2.3"),
            ("x-forwarded-proto", "https"),
            ("via", "1.1 edge"),
        ]);
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let mut text = PeerText::default();
        to_upstream(&mut h, Version::HTTP_10, Some(mapped), &mut text);
        assert_eq!(
            all(&h, "x-forwarded-for"),
            ["203.0.113.1, 198.51.100.2, 192.0.2.3, 127.0.0.1"]
        );
        // Set by the proxy the client talked to: this one.
        assert_eq!(all(&h, "x-forwarded-proto"), ["http"]);
        assert!(h.get("x-forwarded-host").is_none());
        assert_eq!(all(&h, "via"), ["1.1 edge", "1.0 evloop-proxy"]);

        // The address text is remembered, and replaced for another one.
        for (ip, want) in [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::1", "::1")] {
            let mut h = HeaderMap::new();
            to_upstream(
                &mut h,
                Version::HTTP_11,
                Some(ip.parse().unwrap()),
                &mut text,
            );
            assert_eq!(all(&h, "x-forwarded-for"), [want]);
        }
    }

    #[test]
    fn an_upgrade_is_asked_for_with_both_fields() {
        let asked = map(&[
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
        ]);
        assert_eq!(upgrade_asked(&asked).unwrap(), "websocket");
        assert!(upgrade_asked(&map(&[("upgrade", "websocket")])).is_none());
        assert!(upgrade_asked(&map(&[("connection", "upgrade")])).is_none());
    }

    #[test]
    fn a_responses_length_is_its_first_content_length() {
        let length = |fields: &[(&str, &str)]| to_client(&mut map(fields), Version::HTTP_11);
        assert_eq!(length(&[("content-length", "5")]), Some(5));
        assert_eq!(
            length(&[("content-length", "5"), ("content-length", "6")]),
            Some(5)
        );
        assert_eq!(length(&[("content-length", "x")]), None);
        assert_eq!(length(&[]), None);
        let named = [("connection", "Content-Length"), ("content-length", "5")];
        assert_eq!(length(&named), None);
        let mut h = map(&[("connection", "Keep-Alive"), ("x-a", "1")]);
        to_client(&mut h, Version::HTTP_11);
        assert!(h.get("connection").is_none() && h.get("x-a").is_some());
    }

    #[test]
    fn responses_lose_hop_by_hop_fields_and_gain_via() {
        let mut h = map(&[
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("content-type", "text/plain"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ]);
        to_client(&mut h, Version::HTTP_11);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "set-cookie", "via"]);
        assert_eq!(all(&h, "set-cookie"), ["a=1", "b=2"]);
        assert_eq!(all(&h, "via"), ["1.1 evloop-proxy"]);
    }
}
