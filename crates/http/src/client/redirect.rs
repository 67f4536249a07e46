//! [`next_request`]: the request a redirect leads to (RFC 9110 section
//! 15.4), with the `Location` resolved against the current URL (RFC 3986
//! section 5.2). A pure function: the engine sends what it returns.

use http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LENGTH, CONTENT_LOCATION,
    CONTENT_TYPE, COOKIE, EXPECT, HOST, PROXY_AUTHORIZATION, TRAILER, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use super::ClientError;

/// Whether the next request carries the current request's body again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeepBody {
    /// Send the same body again (307, 308, and 301/302 for methods other
    /// than POST).
    Keep,
    /// Send no body (the method became GET, or it was HEAD).
    Drop,
}

/// The request that follows a `status` response with `location` to the
/// request `method url headers`: `Ok(None)` when it is not to be followed
/// (not a redirect, 300/304/305/306, a CONNECT, or a body that must be
/// sent again but cannot be: `body_replayable` false), the error when the
/// Location is unusable.
///
/// - 301 and 302 turn POST into GET, as every user agent does (RFC 9110
///   15.4.2 and 15.4.3 allow it); other methods are kept with their body.
/// - 303 turns every method but HEAD into GET.
/// - 307 and 308 keep the method and the body.
/// - A body dropped takes its fields with it (Content-*, Transfer-Encoding,
///   Trailer, Expect).
/// - Authorization, Proxy-Authorization and Cookie are dropped when the
///   origin (scheme, host, port) changes, and a Host field is then
///   rewritten to the new authority (within the origin it is kept).
/// - A Location with another scheme than `http` is
///   [`ClientError::UnsupportedScheme`]; one that is not a URI reference,
///   [`ClientError::Protocol`]. Its fragment is dropped, its userinfo too
///   (credentials are not taken from a server), and bytes a URI may not
///   hold (spaces, non-ASCII, which servers do send) are percent-encoded.
pub(crate) fn next_request(
    method: &Method,
    url: &Uri,
    headers: &HeaderMap,
    body_replayable: bool,
    status: StatusCode,
    location: &HeaderValue,
) -> Result<Option<(Method, Uri, HeaderMap, KeepBody)>, ClientError> {
    if *method == Method::CONNECT {
        return Ok(None);
    }
    let (next_method, keep) = match status.as_u16() {
        301 | 302 if *method == Method::POST => (Method::GET, KeepBody::Drop),
        301 | 302 | 307 | 308 => (method.clone(), KeepBody::Keep),
        303 if *method == Method::HEAD => (Method::HEAD, KeepBody::Drop),
        303 => (Method::GET, KeepBody::Drop),
        _ => return Ok(None),
    };
    if keep == KeepBody::Keep && !body_replayable {
        return Ok(None);
    }
    let target = resolve(url, location.as_bytes())?;
    let mut next = headers.clone();
    if keep == KeepBody::Drop {
        for name in [
            CONTENT_LENGTH,
            CONTENT_TYPE,
            CONTENT_ENCODING,
            CONTENT_LANGUAGE,
            CONTENT_LOCATION,
            TRANSFER_ENCODING,
            TRAILER,
            EXPECT,
        ] {
            next.remove(name);
        }
        // Other content fields (Content-Disposition, Content-MD5, ...).
        let content: Vec<_> = next
            .keys()
            .filter(|k| k.as_str().starts_with("content-"))
            .cloned()
            .collect();
        for name in content {
            next.remove(name);
        }
    }
    if origin(url) != origin(&target) {
        next.remove(AUTHORIZATION);
        next.remove(PROXY_AUTHORIZATION);
        next.remove(COOKIE);
        // A Host the caller set names the old origin: the new one's
        // authority replaces it. Within the origin it is kept (a virtual
        // host reached by address stays that host).
        if next.contains_key(HOST) {
            match target.authority() {
                Some(a) => {
                    let host = HeaderValue::from_str(a.as_str())
                        .map_err(|_| ClientError::Protocol("invalid Location host".into()))?;
                    next.insert(HOST, host);
                }
                None => {
                    next.remove(HOST);
                }
            }
        }
    }
    Ok(Some((next_method, target, next, keep)))
}

/// (scheme, lowercase host, port) of `url`; `None` for a URL without an
/// authority (a request over a Unix socket).
fn origin(url: &Uri) -> Option<(String, String, u16)> {
    let scheme = url.scheme_str().unwrap_or("http").to_ascii_lowercase();
    let host = url.host()?.to_ascii_lowercase();
    let port = url
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some((scheme, host, port))
}

/// The parts of a URI reference (RFC 3986 appendix B): scheme, authority,
/// path, query; the fragment is dropped.
struct Reference<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

fn split_reference(r: &str) -> Reference<'_> {
    let r = r.split_once('#').map_or(r, |(before, _)| before);
    let (scheme, rest) = match r.find([':', '/', '?']) {
        Some(i) if r.as_bytes()[i] == b':' && valid_scheme(&r[..i]) => (Some(&r[..i]), &r[i + 1..]),
        _ => (None, r),
    };
    let (authority, rest) = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find(['/', '?']).unwrap_or(after.len());
            (Some(&after[..end]), &after[end..])
        }
        None => (None, rest),
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    Reference {
        scheme,
        authority,
        path,
        query,
    }
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn valid_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// `location` resolved against `base` (RFC 3986 section 5.2.2), as an
/// absolute `http` URI (or origin-form when `base` has no authority and
/// the reference none either).
fn resolve(base: &Uri, location: &[u8]) -> Result<Uri, ClientError> {
    let invalid = || ClientError::Protocol("invalid Location".into());
    let trimmed = location.trim_ascii();
    let encoded = percent_encode(trimmed);
    let r = split_reference(&encoded);
    let base_path = base.path();
    let base_query = base.query();
    // "http:g" is relative for a URL with that scheme (RFC 3986 5.2.2's
    // backward-compatible reading: it cannot be requested otherwise).
    let own_scheme = r
        .scheme
        .filter(|s| !(r.authority.is_none() && s.eq_ignore_ascii_case(&base_scheme(base))));
    let (scheme, authority, path, query) = match (own_scheme, r.authority) {
        (Some(s), a) => (
            s.to_ascii_lowercase(),
            a.map(str::to_string),
            remove_dot_segments(r.path),
            r.query,
        ),
        (None, Some(a)) => (
            base_scheme(base),
            Some(a.to_string()),
            remove_dot_segments(r.path),
            r.query,
        ),
        (None, None) => {
            let authority = base.authority().map(|a| a.as_str().to_string());
            let (path, query) = if r.path.is_empty() {
                (base_path.to_string(), r.query.or(base_query))
            } else if r.path.starts_with('/') {
                (remove_dot_segments(r.path), r.query)
            } else {
                let merged = match base_path.rfind('/') {
                    Some(i) => format!("{}{}", &base_path[..=i], r.path),
                    None => format!("/{}", r.path),
                };
                (remove_dot_segments(&merged), r.query)
            };
            (base_scheme(base), authority, path, query)
        }
    };
    if scheme != "http" {
        return Err(ClientError::UnsupportedScheme(scheme));
    }
    // Credentials are never taken from a Location.
    let authority = authority.map(|a| match a.rfind('@') {
        Some(i) => a[i + 1..].to_string(),
        None => a,
    });
    let mut s = String::new();
    if let Some(a) = &authority {
        if a.is_empty() {
            return Err(invalid());
        }
        s.push_str("http://");
        s.push_str(a);
    }
    if !path.starts_with('/') {
        s.push('/');
    }
    s.push_str(&path);
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    let uri = Uri::try_from(s).map_err(|_| invalid())?;
    if authority.is_some() && (uri.host().is_none_or(str::is_empty) || !valid_port(&uri)) {
        return Err(invalid());
    }
    Ok(uri)
}

/// The authority's port, if any, is a number that fits 16 bits (`Uri`
/// takes any digits).
fn valid_port(uri: &Uri) -> bool {
    let Some(a) = uri.authority() else {
        return true;
    };
    let after_host = a.as_str().rsplit(']').next().unwrap_or("");
    match after_host.rsplit_once(':') {
        Some((_, port)) => port.is_empty() || port.parse::<u16>().is_ok(),
        None => true,
    }
}

fn base_scheme(base: &Uri) -> String {
    base.scheme_str().unwrap_or("http").to_ascii_lowercase()
}

/// RFC 3986 section 5.2.4: `.` and `..` segments removed from `path`.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut out = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") || input == "/.." {
            input = if input == "/.." { "/" } else { &input[3..] };
            let cut = out.rfind('/').unwrap_or(0);
            out.truncate(cut);
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            out.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    out
}

/// `location` with every byte a URI may not hold percent-encoded (`%`
/// itself is kept: the reference is taken to be encoded already).
fn percent_encode(location: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(location.len());
    for &b in location {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'?'
                    | b'#'
                    | b'['
                    | b']'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            );
        if keep {
            s.push(char::from(b));
        } else {
            s.push('%');
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    fn go(
        method: Method,
        url: &str,
        status: u16,
        location: &str,
    ) -> Option<(Method, Uri, HeaderMap, KeepBody)> {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, hv("a.example"));
        headers.insert(CONTENT_TYPE, hv("text/plain"));
        headers.insert(CONTENT_LENGTH, hv("3"));
        headers.insert("x-keep", hv("1"));
        next_request(
            &method,
            &url.parse().unwrap(),
            &headers,
            true,
            StatusCode::from_u16(status).unwrap(),
            &hv(location),
        )
        .unwrap()
    }

    fn target(base: &str, location: &str) -> String {
        go(Method::GET, base, 302, location).unwrap().1.to_string()
    }

    #[test]
    fn post_becomes_get_on_301_302_303() {
        for status in [301, 302, 303] {
            let (m, u, h, keep) =
                go(Method::POST, "http://a.example/form", status, "/done").unwrap();
            assert_eq!(m, Method::GET, "{status}");
            assert_eq!(u, "http://a.example/done");
            assert_eq!(keep, KeepBody::Drop);
            assert!(!h.contains_key(CONTENT_TYPE) && !h.contains_key(CONTENT_LENGTH));
            assert_eq!(h["x-keep"], "1");
        }
    }

    #[test]
    fn other_methods_keep_method_and_body_on_301_302() {
        for status in [301, 302] {
            let (m, _, h, keep) = go(Method::PUT, "http://a.example/x", status, "/y").unwrap();
            assert_eq!((m, keep), (Method::PUT, KeepBody::Keep));
            assert_eq!(h[CONTENT_LENGTH], "3");
            let (m, _, _, _) = go(Method::GET, "http://a.example/x", status, "/y").unwrap();
            assert_eq!(m, Method::GET);
        }
    }

    #[test]
    fn see_other_makes_get_except_for_head() {
        let (m, _, h, keep) = go(Method::PUT, "http://a.example/", 303, "/r").unwrap();
        assert_eq!((m, keep), (Method::GET, KeepBody::Drop));
        assert!(!h.contains_key(CONTENT_TYPE));
        let (m, _, _, keep) = go(Method::HEAD, "http://a.example/", 303, "/r").unwrap();
        assert_eq!((m, keep), (Method::HEAD, KeepBody::Drop));
        let (m, ..) = go(Method::DELETE, "http://a.example/", 303, "/r").unwrap();
        assert_eq!(m, Method::GET);
    }

    #[test]
    fn temporary_and_permanent_keep_method_and_body() {
        for status in [307, 308] {
            let (m, _, h, keep) = go(Method::POST, "http://a.example/", status, "/r").unwrap();
            assert_eq!((m, keep), (Method::POST, KeepBody::Keep));
            assert_eq!(h[CONTENT_TYPE], "text/plain");
        }
    }

    #[test]
    fn a_body_that_cannot_be_replayed_stops_a_redirect_that_keeps_it() {
        let url: Uri = "http://a.example/".parse().unwrap();
        let h = HeaderMap::new();
        let loc = hv("/r");
        for status in [307u16, 308] {
            let s = StatusCode::from_u16(status).unwrap();
            assert!(next_request(&Method::POST, &url, &h, false, s, &loc)
                .unwrap()
                .is_none());
        }
        // A redirect that drops the body does not need it.
        let (m, ..) = next_request(&Method::POST, &url, &h, false, StatusCode::FOUND, &loc)
            .unwrap()
            .unwrap();
        assert_eq!(m, Method::GET);
        let put = next_request(&Method::PUT, &url, &h, false, StatusCode::FOUND, &loc).unwrap();
        assert!(put.is_none());
    }

    #[test]
    fn statuses_not_followed() {
        for status in [200, 204, 300, 304, 305, 306, 399, 404] {
            assert!(
                go(Method::GET, "http://a.example/", status, "/x").is_none(),
                "{status}"
            );
        }
        assert!(go(Method::CONNECT, "http://a.example:443/", 302, "/x").is_none());
    }

    #[test]
    fn rfc3986_normal_examples() {
        // RFC 3986 section 5.4.1, base http://a/b/c/d;p?q.
        let base = "http://a/b/c/d;p?q";
        for (r, want) in [
            ("g:h", "unsupported"),
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            ("g?y#s", "http://a/b/c/g?y"),
            (";x", "http://a/b/c/;x"),
            ("g;x", "http://a/b/c/g;x"),
            ("g;x?y#s", "http://a/b/c/g;x?y"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../", "http://a/"),
            ("../../g", "http://a/g"),
        ] {
            if want == "unsupported" {
                let url: Uri = base.parse().unwrap();
                let e = next_request(
                    &Method::GET,
                    &url,
                    &HeaderMap::new(),
                    true,
                    StatusCode::FOUND,
                    &hv(r),
                )
                .unwrap_err();
                assert!(matches!(e, ClientError::UnsupportedScheme(s) if s == "g"));
                continue;
            }
            assert_eq!(target(base, r), want, "{r:?}");
        }
    }

    #[test]
    fn rfc3986_abnormal_examples() {
        // RFC 3986 section 5.4.2.
        let base = "http://a/b/c/d;p?q";
        for (r, want) in [
            ("../../../g", "http://a/g"),
            ("../../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            (".g", "http://a/b/c/.g"),
            ("g..", "http://a/b/c/g.."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
            ("g?y/../x", "http://a/b/c/g?y/../x"),
            ("g#s/./x", "http://a/b/c/g"),
            ("g#s/../x", "http://a/b/c/g"),
            ("http:g", "http://a/b/c/g"),
        ] {
            // "http:g": the backward-compatible reading (RFC 3986 5.4.2).
            assert_eq!(target(base, r), want, "{r:?}");
        }
    }

    #[test]
    fn absolute_locations_and_origin_changes() {
        let url: Uri = "http://a.example/x".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(HOST, hv("a.example"));
        h.insert(AUTHORIZATION, hv("Basic eDp5"));
        h.insert(COOKIE, hv("s=1"));
        h.insert(PROXY_AUTHORIZATION, hv("Basic eDp5"));
        let follow = |loc: &str| {
            next_request(&Method::GET, &url, &h, true, StatusCode::FOUND, &hv(loc))
                .unwrap()
                .unwrap()
        };
        // Same origin (case of scheme and host, explicit default port).
        for same in [
            "/y",
            "http://a.example/y",
            "HTTP://A.EXAMPLE/y",
            "http://a.example:80/y",
        ] {
            let (_, u, nh, _) = follow(same);
            assert_eq!(u.path(), "/y");
            assert_eq!(nh[HOST], "a.example");
            assert!(nh.contains_key(AUTHORIZATION), "{same}");
            assert!(nh.contains_key(COOKIE) && nh.contains_key(PROXY_AUTHORIZATION));
        }
        // Another host or port: credentials dropped, Host rewritten.
        for (other, host) in [
            ("http://b.example/y", "b.example"),
            ("http://a.example:8080/y", "a.example:8080"),
            ("//b.example/y", "b.example"),
            ("http://[::1]:81/", "[::1]:81"),
        ] {
            let (_, u, nh, _) = follow(other);
            assert!(!nh.contains_key(AUTHORIZATION), "{other}");
            assert!(!nh.contains_key(COOKIE) && !nh.contains_key(PROXY_AUTHORIZATION));
            assert_eq!(nh[HOST], host);
            assert_eq!(u.authority().unwrap().as_str(), host);
        }
    }

    #[test]
    fn a_virtual_host_is_kept_within_the_origin() {
        let url: Uri = "http://127.0.0.1:8080/a".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(HOST, hv("site.example"));
        let follow = |loc: &str| {
            next_request(&Method::GET, &url, &h, true, StatusCode::FOUND, &hv(loc))
                .unwrap()
                .unwrap()
                .2
        };
        assert_eq!(follow("/b")[HOST], "site.example");
        assert_eq!(follow("http://127.0.0.1:8080/b")[HOST], "site.example");
        assert_eq!(follow("http://other.example/b")[HOST], "other.example");
    }

    #[test]
    fn other_schemes_are_refused() {
        let url: Uri = "http://a.example/".parse().unwrap();
        for (loc, scheme) in [
            ("https://a.example/", "https"),
            ("ftp://a.example/f", "ftp"),
            ("javascript:alert(1)", "javascript"),
            ("FILE:///etc/passwd", "file"),
        ] {
            let e = next_request(
                &Method::GET,
                &url,
                &HeaderMap::new(),
                true,
                StatusCode::FOUND,
                &hv(loc),
            )
            .unwrap_err();
            assert!(
                matches!(&e, ClientError::UnsupportedScheme(s) if s == scheme),
                "{loc}: {e:?}"
            );
        }
    }

    #[test]
    fn unusual_locations() {
        let base = "http://a.example/dir/page?q=1";
        // Spaces and non-ASCII are percent-encoded; existing escapes kept.
        assert_eq!(target(base, "/a b"), "http://a.example/a%20b");
        let raw = HeaderValue::from_bytes(b"/caf\xc3\xa9?x=\xff").unwrap();
        let (_, u, ..) = next_request(
            &Method::GET,
            &base.parse().unwrap(),
            &HeaderMap::new(),
            true,
            StatusCode::FOUND,
            &raw,
        )
        .unwrap()
        .unwrap();
        assert_eq!(u, "http://a.example/caf%C3%A9?x=%FF");
        assert_eq!(target(base, "/x%2Fy"), "http://a.example/x%2Fy");
        // Userinfo is never taken.
        assert_eq!(target(base, "http://u:p@b.example/z"), "http://b.example/z");
        // Surrounding whitespace ignored.
        assert_eq!(target(base, " next "), "http://a.example/dir/next");
        // A query-only reference keeps the path.
        assert_eq!(target(base, "?q=2"), "http://a.example/dir/page?q=2");
        // No authority in the base (a Unix socket): origin-form results.
        assert_eq!(target("/dir/page", "other"), "/dir/other");
        assert_eq!(target("/dir/page", "/top"), "/top");
    }

    #[test]
    fn invalid_locations_are_protocol_errors() {
        let url: Uri = "http://a.example/".parse().unwrap();
        for loc in ["http://", "http:///x", "http://a.example:99999/", "//"] {
            let r = next_request(
                &Method::GET,
                &url,
                &HeaderMap::new(),
                true,
                StatusCode::FOUND,
                &hv(loc),
            );
            assert!(matches!(r, Err(ClientError::Protocol(_))), "{loc}: {r:?}");
        }
    }

    #[test]
    fn dot_segments() {
        for (p, want) in [
            ("/a/b/c/./../../g", "/a/g"),
            ("mid/content=5/../6", "mid/6"),
            ("/..", "/"),
            ("/.", "/"),
            ("/a/..", "/"),
            ("/a/.", "/a/"),
            ("", ""),
            ("/", "/"),
            ("/a//../b", "/a/b"),
        ] {
            assert_eq!(remove_dot_segments(p), want, "{p}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// Any Location a header can hold: no panic, and a followed
            /// redirect always leads to an http URL with a host and a path
            /// free of dot segments.
            #[test]
            fn any_location_is_resolved_or_refused(
                loc in proptest::collection::vec(
                    prop_oneof![
                        proptest::sample::select(&[
                            "/", "//", ".", "..", "?", "#", "@", ":", "%", "%2e", "http:", "HTTP://",
                            "https:", "a", "b.example", ":80", ":99999", "[::1]", " ", "\\",
                        ][..]).prop_map(|s| s.as_bytes().to_vec()),
                        any::<u8>().prop_map(|b| vec![b]),
                    ],
                    0..12,
                ),
                status in proptest::sample::select(&[301u16, 302, 303, 307, 308][..]),
                replayable in any::<bool>(),
            ) {
                let loc: Vec<u8> = loc.concat();
                let Ok(value) = HeaderValue::from_bytes(&loc) else {
                    return Ok(());
                };
                let url: Uri = "http://a.example/x/y?q".parse().unwrap();
                let r = next_request(
                    &Method::POST,
                    &url,
                    &HeaderMap::new(),
                    replayable,
                    StatusCode::from_u16(status).unwrap(),
                    &value,
                );
                if let Ok(Some((_, u, _, _))) = r {
                    prop_assert_eq!(u.scheme_str(), Some("http"));
                    prop_assert!(u.host().is_some_and(|h| !h.is_empty()), "{}", u);
                    let path = u.path();
                    prop_assert!(path.starts_with('/'), "{}", u);
                    prop_assert!(
                        !path.split('/').any(|seg| seg == "." || seg == ".."),
                        "{}",
                        u
                    );
                }
            }
        }
    }
}
