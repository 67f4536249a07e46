//! The opening handshake's checks (RFC 6455 section 4.2.1) and the
//! accept key.

use evloop_http::ws::{accept_key, check_request, HandshakeError};
use http::{HeaderMap, Method, StatusCode, Version};

fn good() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", "example.org".parse().unwrap());
    h.insert("upgrade", "websocket".parse().unwrap());
    h.insert("connection", "Upgrade".parse().unwrap());
    h.insert(
        "sec-websocket-key",
        "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
    );
    h.insert("sec-websocket-version", "13".parse().unwrap());
    h
}

fn check(h: &HeaderMap) -> Result<String, HandshakeError> {
    check_request(&Method::GET, Version::HTTP_11, h).map(|a| a.accept_value().to_owned())
}

#[test]
fn rfc_example_is_accepted() {
    assert_eq!(check(&good()).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    let headers = check_request(&Method::GET, Version::HTTP_11, &good())
        .unwrap()
        .response_headers();
    assert_eq!(headers["upgrade"], "websocket");
    assert_eq!(headers["connection"], "Upgrade");
    assert_eq!(
        headers["sec-websocket-accept"],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert!(headers.get("sec-websocket-protocol").is_none());
}

#[test]
fn tokens_in_any_case_and_in_lists() {
    let mut h = good();
    h.insert("upgrade", "WebSocket".parse().unwrap());
    h.insert("connection", "keep-alive, UPGRADE".parse().unwrap());
    assert!(check(&h).is_ok());
    // Connection split over two header lines.
    let mut h = good();
    h.remove("connection");
    h.append("connection", "keep-alive".parse().unwrap());
    h.append("connection", "upgrade".parse().unwrap());
    assert!(check(&h).is_ok());
}

#[test]
fn method_and_version() {
    assert_eq!(
        check_request(&Method::POST, Version::HTTP_11, &good()).unwrap_err(),
        HandshakeError::NotGet
    );
    assert_eq!(
        check_request(&Method::GET, Version::HTTP_10, &good()).unwrap_err(),
        HandshakeError::NotHttp11
    );
    assert_eq!(HandshakeError::NotGet.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn missing_upgrade_or_connection_is_400() {
    for (name, value, err) in [
        ("upgrade", None, HandshakeError::NoUpgrade),
        ("upgrade", Some("h2c"), HandshakeError::NoUpgrade),
        ("connection", None, HandshakeError::NoConnectionUpgrade),
        (
            "connection",
            Some("keep-alive"),
            HandshakeError::NoConnectionUpgrade,
        ),
        (
            "connection",
            Some("upgrades"),
            HandshakeError::NoConnectionUpgrade,
        ),
    ] {
        let mut h = good();
        h.remove(name);
        if let Some(v) = value {
            h.insert(name, v.parse().unwrap());
        }
        assert_eq!(check(&h), Err(err), "{name}: {value:?}");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}

#[test]
fn other_versions_are_426_with_the_version_we_speak() {
    for v in [None, Some("8"), Some("12"), Some("13, 8"), Some(" 13x")] {
        let mut h = good();
        h.remove("sec-websocket-version");
        if let Some(v) = v {
            h.insert("sec-websocket-version", v.parse().unwrap());
        }
        let err = check(&h).unwrap_err();
        assert_eq!(err, HandshakeError::UnsupportedVersion, "{v:?}");
        assert_eq!(err.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(err.headers()["sec-websocket-version"], "13");
    }
}

#[test]
fn bad_keys_are_400() {
    for key in [
        None,
        Some("dGhlIHNhbXBsZSBub25jZQ"),   // no padding
        Some("dGhlIHNhbXBsZSBub25jZQ=="), // (valid: checked below)
        Some("dGhlIHNhbXBsZSBub25j"),     // 15 bytes
        Some("dGhlIHNhbXBsZSBub25jZWVl"), // 18 bytes
        Some("dGhlIHNhbXBsZSBub25jZR=="), // nonzero padding bits
        Some("dGhlIHNhbXBsZSBub25jZ!=="), // not base64
        Some(""),
    ] {
        let mut h = good();
        h.remove("sec-websocket-key");
        if let Some(k) = key {
            h.insert("sec-websocket-key", k.parse().unwrap());
        }
        let r = check(&h);
        if key == Some("dGhlIHNhbXBsZSBub25jZQ==") {
            assert!(r.is_ok());
        } else {
            assert_eq!(r, Err(HandshakeError::BadKey), "{key:?}");
        }
    }
    let mut h = good();
    h.append(
        "sec-websocket-key",
        "AAAAAAAAAAAAAAAAAAAAAA==".parse().unwrap(),
    );
    assert_eq!(check(&h), Err(HandshakeError::BadKey), "two keys");
}

#[test]
fn subprotocols() {
    let mut h = good();
    h.append("sec-websocket-protocol", "chat, v2.chat".parse().unwrap());
    h.append("sec-websocket-protocol", "mqtt".parse().unwrap());
    let mut a = check_request(&Method::GET, Version::HTTP_11, &h).unwrap();
    assert_eq!(a.offered_protocols(), ["chat", "v2.chat", "mqtt"]);
    assert_eq!(a.select_protocol(&["xmpp"]), None);
    assert!(a.response_headers().get("sec-websocket-protocol").is_none());
    assert_eq!(a.select_protocol(&["mqtt", "chat"]), Some("mqtt"));
    assert_eq!(a.protocol(), Some("mqtt"));
    assert_eq!(a.response_headers()["sec-websocket-protocol"], "mqtt");
}

#[test]
fn accept_key_of_other_keys() {
    // Computed independently (python3: base64(sha1(key + GUID))).
    assert_eq!(
        accept_key(b"x3JJHMbDL1EzLkh9GBhXDw=="),
        "HSmrc0sMlYUkAGmm5OPpG2HaGWk="
    );
}
