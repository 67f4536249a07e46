//! The request-target (RFC 9112 section 3.2) and the Host field
//! (RFC 9110 section 7.2).

use std::net::Ipv6Addr;

use bytes::Bytes;
use http::{Method, StatusCode, Uri};

use super::HttpError;

/// The longest target [`http::Uri`] can hold.
const URI_MAX: usize = u16::MAX as usize - 1;

/// Parses a request-target in the one form `method` allows: authority-form
/// (`host:port`) for CONNECT and only there, `*` for OPTIONS and only
/// there, otherwise origin-form (`/path?query`) or absolute-form
/// (`http://host/path`, also `https`). A userinfo part or a fragment is a
/// 400, as is an absolute-form or authority-form without a host.
///
/// The [`Uri`] keeps `target` without copying it.
pub(crate) fn parse_target(method: &Method, target: Bytes) -> Result<Uri, HttpError> {
    // Checked as bytes: a non-ASCII target fails in `Uri`'s own parse.
    let t: &[u8] = &target;
    if t.len() > URI_MAX {
        return Err(HttpError::new(
            StatusCode::URI_TOO_LONG,
            "request target too long",
        ));
    }
    if t.contains(&b'#') {
        return Err(HttpError::bad("fragment in request target"));
    }
    let bad_form = || HttpError::bad("request target form not allowed for the method");
    if *method == Method::CONNECT {
        if !valid_host(t, true) {
            return Err(HttpError::bad("CONNECT target must be host:port"));
        }
        return Uri::from_maybe_shared(target).map_err(|_| bad_form());
    }
    if t == b"*" {
        if *method != Method::OPTIONS {
            return Err(bad_form());
        }
        return Uri::from_maybe_shared(target)
            .map_err(|_| HttpError::bad("invalid request target"));
    }
    let origin_form = t.first() == Some(&b'/');
    let uri =
        Uri::from_maybe_shared(target).map_err(|_| HttpError::bad("invalid request target"))?;
    if origin_form {
        if uri.scheme().is_some() || uri.authority().is_some() {
            return Err(HttpError::bad("invalid request target"));
        }
        return Ok(uri);
    }
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(HttpError::bad("invalid request target"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(HttpError::bad("request target scheme not served"));
    }
    if !valid_host(authority.as_str().as_bytes(), false) {
        return Err(HttpError::bad("invalid authority in request target"));
    }
    Ok(uri)
}

/// `uri-host [ ":" port ]` with a non-empty host (RFC 9110 section 4.2.1
/// has an empty host rejected) and a port that fits 16 bits; with
/// `need_port` the port must be there (CONNECT). A userinfo part fails.
pub(crate) fn valid_host(v: &[u8], need_port: bool) -> bool {
    let (host, port) = if v.first() == Some(&b'[') {
        let Some(close) = v.iter().position(|&b| b == b']') else {
            return false;
        };
        if !valid_ip_literal(&v[1..close]) {
            return false;
        }
        match &v[close + 1..] {
            [] => (&v[..=close], None),
            [b':', port @ ..] => (&v[..=close], Some(port)),
            _ => return false,
        }
    } else {
        // A reg-name holds no colon: the host ends at the first byte it
        // cannot hold, which must then start the port.
        let end = reg_name_len(v);
        match &v[end..] {
            [] => (v, None),
            [b':', port @ ..] => (&v[..end], Some(port)),
            _ => return false,
        }
    };
    if host.is_empty() {
        return false;
    }
    match port {
        None | Some([]) => !need_port,
        Some(p) => valid_port(p),
    }
}

/// `1*5DIGIT` up to 65535, in one pass.
fn valid_port(p: &[u8]) -> bool {
    if p.len() > 5 {
        return false;
    }
    let mut n: u32 = 0;
    for &d in p {
        if !d.is_ascii_digit() {
            return false;
        }
        n = n * 10 + u32::from(d - b'0');
    }
    n <= u32::from(u16::MAX)
}

/// How many of the first bytes of `h` make a `reg-name` or
/// `IPv4address` (the second is a case of the first): unreserved,
/// sub-delims and percent-encoded octets.
fn reg_name_len(h: &[u8]) -> usize {
    let hex = |j: usize| h.get(j).is_some_and(u8::is_ascii_hexdigit);
    let mut i = 0;
    loop {
        i += h[i..]
            .iter()
            .position(|&b| !REG_NAME[usize::from(b)])
            .unwrap_or(h.len() - i);
        if h.get(i) == Some(&b'%') && hex(i + 1) && hex(i + 2) {
            i += 3;
        } else {
            return i;
        }
    }
}

/// The bytes a `reg-name` holds as themselves: unreserved and sub-delims
/// (a table: a host is checked on every request).
const REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let extra = b"-._~!$&'()*+,;=";
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric();
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
};

/// The inside of `[...]`: an IPv6 address or `IPvFuture`.
fn valid_ip_literal(s: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = s {
        let Some(dot) = rest.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (ver, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !ver.is_empty()
            && ver.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b":-._~!$&'()*+,;=".contains(&b));
    }
    std::str::from_utf8(s).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_per_method() {
        let parse = |m: Method, t: &str| parse_target(&m, Bytes::copy_from_slice(t.as_bytes()));
        let ok = |m: Method, t: &str| parse(m, t).unwrap();
        let bad = |m: Method, t: &str| parse(m, t).unwrap_err().status;
        assert_eq!(ok(Method::GET, "/a/b?c=d").path(), "/a/b");
        assert_eq!(
            ok(Method::GET, "http://ex.org:8080/x").host(),
            Some("ex.org")
        );
        assert_eq!(ok(Method::OPTIONS, "*").path(), "*");
        assert_eq!(ok(Method::CONNECT, "ex.org:443").port_u16(), Some(443));
        assert_eq!(bad(Method::GET, "*"), 400);
        assert_eq!(bad(Method::GET, "ex.org:443"), 400);
        assert_eq!(bad(Method::CONNECT, "/"), 400);
        assert_eq!(bad(Method::CONNECT, "ex.org"), 400);
        assert_eq!(bad(Method::CONNECT, "http://ex.org:80/"), 400);
        assert_eq!(bad(Method::GET, "/a#frag"), 400);
        assert_eq!(bad(Method::GET, "http://user@ex.org/"), 400);
        assert_eq!(bad(Method::GET, "http:///x"), 400);
        assert_eq!(bad(Method::GET, "ftp://ex.org/"), 400);
        assert_eq!(bad(Method::GET, "a/b"), 400);
        assert_eq!(bad(Method::GET, &"/a".repeat(40000)), 414);
    }

    #[test]
    fn hosts() {
        for h in [
            &b"ex.org"[..],
            b"ex.org:80",
            b"ex.org:",
            b"127.0.0.1:8080",
            b"[::1]",
            b"[::1]:443",
            b"[v1.x]",
            b"a%20b",
            b"xn--bcher-kva.example",
        ] {
            assert!(valid_host(h, false), "{h:?}");
        }
        for h in [
            &b""[..],
            b":80",
            b"user@ex.org",
            b"ex.org:8o",
            b"ex.org:65536",
            b"ex org",
            b"[::1",
            b"[::g]",
            b"[::1]x",
            b"a%2",
            b"ex.org/",
            b"a:1:2",
        ] {
            assert!(!valid_host(h, false), "{h:?}");
        }
        assert!(!valid_host(b"ex.org", true));
        assert!(valid_host(b"ex.org:1", true));
    }
}
