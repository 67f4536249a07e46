//! The proxy's header rewriting, seen from both ends: a scripted upstream
//! echoes the request head it got, and the client reads the response.

mod proxy_util;

use std::io::{BufReader, Write};

use proxy_util::{echo_head, read_head, read_response, Head, Proxy, Upstream};

/// The request head the upstream got, from its echo.
fn echoed(body: &[u8]) -> Head {
    read_head(&mut &body[..]).unwrap().unwrap()
}

#[test]
fn hop_by_hop_fields_go_and_forwarding_fields_come_both_ways() {
    let up = Upstream::start(
        0,
        echo_head(
            "Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n\
             Proxy-Authenticate: Basic\r\nUpgrade: h2c\r\nX-Kept: yes\r\nVia: 1.1 origin\r\n",
        ),
    );
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let mut c = proxy.connect();
    c.write_all(
        b"GET /path?q=1 HTTP/1.1\r\nHost: example.test\r\n\
          Connection: keep-alive, X-Private\r\nX-Private: 1\r\nKeep-Alive: 300\r\n\
          Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-Sum\r\n\
          Proxy-Authorization: Basic eDp5\r\nAuthorization: Bearer t\r\n\
          X-Forwarded-For: 203.0.113.9\r\nVia: 1.0 edge\r\nX-Custom: kept\r\n\r\n",
    )
    .unwrap();
    let mut rd = BufReader::new(c.try_clone().unwrap());
    let resp = read_response(&mut rd, "GET").unwrap();
    assert_eq!(resp.status(), 200);

    let got = echoed(&resp.body);
    assert_eq!(got.line, "GET /path?q=1 HTTP/1.1");
    assert_eq!(got.get("host"), Some("example.test"));
    assert_eq!(got.get("x-custom"), Some("kept"));
    assert_eq!(got.get("authorization"), Some("Bearer t"));
    assert_eq!(got.all("x-forwarded-for"), ["203.0.113.9, 127.0.0.1"]);
    assert_eq!(got.get("x-forwarded-proto"), Some("http"));
    assert_eq!(got.get("x-forwarded-host"), Some("example.test"));
    assert_eq!(got.all("via"), ["1.0 edge", "1.1 evloop-proxy"]);
    for gone in [
        "x-private",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "proxy-authorization",
        "upgrade",
    ] {
        assert_eq!(got.get(gone), None, "{gone} reached the upstream");
    }
    // The client may say how it treats its own connection, but not pass
    // the client's Connection field on.
    assert!(got
        .all("connection")
        .iter()
        .all(|v| !v.to_ascii_lowercase().contains("x-private")));

    let head = &resp.head;
    assert_eq!(head.get("x-kept"), Some("yes"));
    assert_eq!(head.all("via"), ["1.1 origin", "1.1 evloop-proxy"]);
    for gone in ["x-hop", "keep-alive", "proxy-authenticate", "upgrade"] {
        assert_eq!(head.get(gone), None, "{gone} reached the client");
    }
    assert_eq!(head.get("content-type"), Some("text/plain"));
    assert_eq!(
        head.get("content-length"),
        Some(resp.body.len().to_string().as_str())
    );

    // The connection stays usable (keep-alive both ways), and an HTTP/1.0
    // request shows in Via as such.
    c.write_all(b"GET /second HTTP/1.0\r\nHost: example.test\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut rd, "GET").unwrap();
    assert_eq!(resp.status(), 200);
    let got = echoed(&resp.body);
    assert_eq!(got.target(), "/second");
    assert_eq!(got.all("via"), ["1.0 evloop-proxy"]);
    assert_eq!(got.all("x-forwarded-for"), ["127.0.0.1"]);
}

#[test]
fn a_request_body_and_its_length_reach_the_upstream() {
    // The upstream echoes its head; the body was read by the handler.
    let up = Upstream::start(0, echo_head(""));
    let proxy = Proxy::start(&[&up.addr_str()], &[]);
    let mut c = proxy.connect();
    c.write_all(
        b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    )
    .unwrap();
    let resp = read_response(&mut BufReader::new(c), "POST").unwrap();
    assert_eq!(resp.status(), 200);
    let got = echoed(&resp.body);
    assert_eq!(got.method(), "POST");
    assert_eq!(got.get("content-length"), Some("5"));
    assert_eq!(got.get("content-type"), Some("text/plain"));
    assert_eq!(got.get("transfer-encoding"), None);
}
