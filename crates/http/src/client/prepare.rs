//! A request checked and turned into the bytes of its head: target,
//! `Host`, `User-Agent`, body framing, `Expect`.

use std::borrow::Cow;
use std::path::PathBuf;

use http::header::{
    CONNECTION, CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING, UPGRADE, USER_AGENT,
};
use http::{HeaderMap, HeaderValue, Method, Uri, Version};

use super::state::PoolKey;
use super::{ClientError, ClientOptions, RequestBody};

/// A request ready to go on a connection.
pub(crate) struct Prepared {
    pub(crate) key: PoolKey,
    /// For a streamed body: chunked, or the declared length.
    pub(crate) chunked: bool,
    pub(crate) declared: Option<u64>,
    pub(crate) expect: bool,
    pub(crate) close: bool,
    pub(crate) upgrade: bool,
}

/// What a request is made of, borrowed.
pub(crate) struct Ask<'a> {
    pub(crate) method: &'a Method,
    pub(crate) url: &'a Uri,
    pub(crate) version: Version,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a RequestBody,
    pub(crate) unix: Option<&'a PathBuf>,
    pub(crate) connect_to: Option<&'a (String, u16)>,
    pub(crate) expect_continue: bool,
}

/// What the request's own fields say about its framing and connection,
/// read in one pass over them.
#[derive(Default)]
struct Fields<'a> {
    /// The first Content-Length value, and how many there are.
    length: Option<&'a HeaderValue>,
    lengths: usize,
    host: Option<&'a HeaderValue>,
    user_agent: bool,
    /// The first Expect value.
    expect: Option<&'a HeaderValue>,
    upgrade: bool,
    /// Tokens of Connection.
    close: bool,
    keep_alive: bool,
    conn_upgrade: bool,
}

impl<'a> Fields<'a> {
    fn read(headers: &'a HeaderMap) -> Self {
        let mut f = Fields::default();
        for (name, value) in headers {
            if name == CONTENT_LENGTH {
                f.lengths += 1;
                f.length = f.length.or(Some(value));
                continue;
            } else if name == HOST {
                f.host = f.host.or(Some(value));
                continue;
            } else if name == TRANSFER_ENCODING {
                continue;
            }
            if name == USER_AGENT {
                f.user_agent = true;
            } else if name == EXPECT {
                f.expect = f.expect.or(Some(value));
            } else if name == UPGRADE {
                f.upgrade = true;
            } else if name == CONNECTION {
                let Ok(v) = value.to_str() else { continue };
                for t in v.split(',') {
                    let t = t.trim();
                    f.close |= t.eq_ignore_ascii_case("close");
                    f.keep_alive |= t.eq_ignore_ascii_case("keep-alive");
                    f.conn_upgrade |= t.eq_ignore_ascii_case("upgrade");
                }
            }
        }
        f
    }
}

/// What a request needs of its URL's authority, read in one pass over
/// its bytes: the same as `Uri::host`, `Uri::port_u16` and the text after
/// any userinfo, each of which walks the authority again (with `char`
/// searches) every time it is asked.
#[derive(Clone, Copy)]
struct AuthorityParts<'a> {
    /// `host[:port]`: the authority without userinfo.
    host_port: &'a str,
    /// The host, IPv6 literals with their brackets.
    host: &'a str,
    /// The port after the authority's last `:`, if that parses.
    port: Option<u16>,
}

impl<'a> AuthorityParts<'a> {
    fn of(auth: &'a str) -> Self {
        let b = auth.as_bytes();
        let host_port = match b.iter().rposition(|&c| c == b'@') {
            Some(at) => &auth[at + 1..],
            None => auth,
        };
        let hp = host_port.as_bytes();
        let host = if hp.first() == Some(&b'[') {
            match hp.iter().position(|&c| c == b']') {
                Some(end) => &host_port[..=end],
                None => host_port,
            }
        } else {
            match hp.iter().position(|&c| c == b':') {
                Some(colon) => &host_port[..colon],
                None => host_port,
            }
        };
        let port = b
            .iter()
            .rposition(|&c| c == b':')
            .and_then(|colon| auth[colon + 1..].parse().ok());
        AuthorityParts {
            host_port,
            host,
            port,
        }
    }
}

/// The pool key for `host` (bare, any case) and `port`: `last`'s when it
/// names the same place, without an allocation.
fn tcp_key(host: &str, port: u16, last: Option<&PoolKey>) -> PoolKey {
    if let Some(PoolKey::Tcp { host: h, port: p }) = last {
        // The same text (the usual case) is found without case folding.
        if *p == port && (**h == *host || h.eq_ignore_ascii_case(host)) {
            return PoolKey::Tcp {
                host: h.clone(),
                port,
            };
        }
    }
    PoolKey::Tcp {
        host: host.to_ascii_lowercase().into(),
        port,
    }
}

/// Checks the request and writes its head into `h` (emptied first; a
/// vector of an earlier request's head serves without an allocation).
/// `last` is the key of the client's previous request (shared when this
/// one goes to the same pool).
pub(crate) fn prepare(
    ask: Ask<'_>,
    opts: &ClientOptions,
    last: Option<&PoolKey>,
    h: &mut Vec<u8>,
) -> Result<Prepared, ClientError> {
    let Ask {
        method,
        url,
        version,
        headers,
        body,
        unix,
        connect_to,
        expect_continue,
    } = ask;
    let connect = method == Method::CONNECT;
    match url.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => {}
        Some(s) => return Err(ClientError::UnsupportedScheme(s.to_string())),
        None if connect || unix.is_some() || connect_to.is_some() => {}
        None => return Err(ClientError::InvalidRequest("the URL has no scheme")),
    }
    if version != Version::HTTP_11 && version != Version::HTTP_10 {
        return Err(ClientError::InvalidRequest(
            "only HTTP/1.0 and HTTP/1.1 are spoken",
        ));
    }
    let parts = url.authority().map(|a| AuthorityParts::of(a.as_str()));
    let host = parts.map(|p| p.host).filter(|h| !h.is_empty());
    let port = parts.and_then(|p| p.port).unwrap_or(80);
    let host = connect_to.map(|(h, _)| h.as_str()).or(host);
    let port = connect_to.map_or(port, |(_, p)| *p);
    let key = match (unix, host) {
        (Some(p), _) => PoolKey::Unix(p.clone()),
        (None, Some(h)) => {
            let bare = h
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(h);
            tcp_key(bare, port, last)
        }
        (None, None) => return Err(ClientError::InvalidRequest("the URL has no host")),
    };
    // The Host field: authority without userinfo.
    let authority: Option<&str> = parts.map(|p| p.host_port).filter(|a| !a.is_empty());
    let target: &str = if connect {
        match (authority, url.port_u16()) {
            (Some(a), Some(_)) => a,
            _ => return Err(ClientError::InvalidRequest("CONNECT needs host:port")),
        }
    } else {
        match url.path_and_query().map(|p| p.as_str()) {
            None | Some("") => "/",
            Some(p) => p,
        }
    };

    let fields = Fields::read(headers);
    let (mut chunked, mut declared) = (false, None);
    let user_length = fields
        .length
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(ClientError::InvalidRequest("invalid Content-Length"))
        })
        .transpose()?;
    if fields.lengths > 1 {
        return Err(ClientError::InvalidRequest("more than one Content-Length"));
    }
    let length = match body {
        RequestBody::Empty => {
            if user_length.is_some_and(|n| n != 0) {
                return Err(ClientError::InvalidRequest(
                    "Content-Length does not match the body",
                ));
            }
            let wants = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
            (wants || user_length.is_some()).then_some(0)
        }
        RequestBody::Bytes(b) => Some(b.len() as u64),
        RequestBody::File { len, .. } => Some(*len),
        RequestBody::Stream => {
            if let Some(n) = user_length {
                declared = Some(n);
                Some(n)
            } else if version == Version::HTTP_10 {
                return Err(ClientError::InvalidRequest(
                    "a streamed HTTP/1.0 body needs a Content-Length",
                ));
            } else {
                chunked = true;
                None
            }
        }
    };
    if let (Some(user), Some(n)) = (user_length, length) {
        if user != n {
            return Err(ClientError::InvalidRequest(
                "Content-Length does not match the body",
            ));
        }
    }
    let has_body = match body {
        RequestBody::Empty => false,
        RequestBody::Bytes(b) => !b.is_empty(),
        RequestBody::File { len, .. } => *len > 0,
        RequestBody::Stream => declared != Some(0),
    };
    let user_expect = fields
        .expect
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let expect = has_body && (expect_continue || user_expect) && version == Version::HTTP_11;
    let upgrade = fields.upgrade || connect;
    let close = fields.close || (version == Version::HTTP_10 && !fields.keep_alive);

    let host: Cow<'_, [u8]> = match fields.host {
        Some(v) => Cow::Borrowed(v.as_bytes()),
        None => match (authority, connect_to) {
            (Some(a), _) => Cow::Borrowed(a.as_bytes()),
            // A target without authority (`*`, a path over a Unix socket):
            // the host connected to.
            (None, Some((h, p))) => Cow::Owned(format!("{h}:{p}").into_bytes()),
            (None, None) => Cow::Borrowed(b"localhost"),
        },
    };
    let user_agent = opts.user_agent.as_ref().filter(|_| !fields.user_agent);
    let mut digits = [0u8; 20];
    let length = length.map(|n| crate::proto::decimal(n, &mut digits));
    h.clear();
    h.reserve(128 + host.len() + headers.len() * 32);
    h.extend_from_slice(method.as_str().as_bytes());
    h.push(b' ');
    h.extend_from_slice(target.as_bytes());
    h.extend_from_slice(if version == Version::HTTP_10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    put_field(h, b"host", &host);
    if let Some(ua) = user_agent {
        put_field(h, b"user-agent", ua.as_bytes());
    }
    for (name, value) in headers {
        if name == HOST || name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        put_field(h, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(n) = length {
        put_field(h, b"content-length", n);
    }
    if chunked {
        put_field(h, b"transfer-encoding", b"chunked");
    }
    if expect && !user_expect {
        put_field(h, b"expect", b"100-continue");
    }
    if upgrade && !connect && !fields.conn_upgrade {
        put_field(h, b"connection", b"upgrade");
    }
    h.extend_from_slice(b"\r\n");
    Ok(Prepared {
        key,
        chunked,
        declared,
        expect,
        close,
        upgrade,
    })
}

#[inline(always)]
fn put_field(h: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    h.extend_from_slice(name);
    h.extend_from_slice(b": ");
    h.extend_from_slice(value);
    h.extend_from_slice(b"\r\n");
}

/// Methods a request may be sent twice with (RFC 9110 9.2.2).
pub(crate) fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

#[cfg(test)]
mod tests {
    use super::AuthorityParts;

    #[test]
    fn authority_parts_agree_with_http() {
        for url in [
            "http://example.com/",
            "http://Example.COM:8080/x",
            "http://127.0.0.1:18080/",
            "http://[::1]/",
            "http://[::1]:81/",
            "http://user@host:82/",
            "http://user:pw@host/",
            "http://user:pw@[fe80::1]:83/",
            "http://host:/",
            "http://host:99999/",
        ] {
            let uri: http::Uri = url.parse().unwrap();
            let a = uri.authority().unwrap();
            let p = AuthorityParts::of(a.as_str());
            assert_eq!(p.host, uri.host().unwrap(), "{url}");
            assert_eq!(p.port, uri.port_u16(), "{url}");
            assert_eq!(p.host_port, a.as_str().rsplit('@').next().unwrap(), "{url}");
        }
    }
}
