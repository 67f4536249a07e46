//! The client against this crate's server: plain requests, keep-alive
//! reuse, bodies both ways, HEAD/204/304.

mod client_util;

use std::net::SocketAddr;

use bytes::Bytes;
use client_util::{run_until, setup};
use evloop_http::client::{ClientError, ClientExt, ClientOptions, RequestBody, Response};
use evloop_http::server::{Body, Router};
use http::{Method, Request, StatusCode};

#[derive(Default)]
struct St {
    done: Vec<Result<Response, ClientError>>,
    peers: Vec<SocketAddr>,
}

fn router() -> Router<St> {
    let mut r: Router<St> = Router::new();
    r.exact("/hello", &[Method::GET, Method::HEAD], |_, st, req| {
        st.peers.extend(req.peer_addr());
        http::Response::new(Body::from("Hello, World!"))
    });
    r.exact("/echo", &[Method::POST, Method::PUT], |_, _, mut req| {
        let body = req.take_body();
        let n = body.len();
        http::Response::builder()
            .header("x-len", n.to_string())
            .body(Body::from(body))
            .unwrap()
    });
    r.exact("/nothing", &[Method::GET], |_, _, _| {
        http::Response::builder()
            .status(204)
            .body(Body::empty())
            .unwrap()
    });
    r.exact("/same", &[Method::GET], |_, _, _| {
        http::Response::builder()
            .status(304)
            .header("etag", "\"x\"")
            .body(Body::empty())
            .unwrap()
    });
    r
}

fn get(addr: SocketAddr, path: &str) -> Request<RequestBody> {
    Request::get(format!("http://{addr}{path}"))
        .body(RequestBody::Empty)
        .unwrap()
}

#[test]
fn get_and_post() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let mut ctx = lp.ctx();
    let mut c = ctx.client(client).unwrap();
    c.send(get(addr, "/hello"), |_, st: &mut St, r| st.done.push(r))
        .unwrap();
    let post = Request::post(format!("http://{addr}/echo"))
        .body(RequestBody::from("some data"))
        .unwrap();
    c.send(post, |_, st: &mut St, r| st.done.push(r)).unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.done.len() == 2);
    for r in &st.done {
        let r = r.as_ref().unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        match r.headers().get("x-len") {
            Some(n) => {
                assert_eq!(n, "9");
                assert_eq!(r.body(), &Bytes::from_static(b"some data"));
            }
            None => assert_eq!(r.body(), &Bytes::from_static(b"Hello, World!")),
        }
    }
}

#[test]
fn keep_alive_reuses_one_connection() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let mut st = St::default();
    for i in 0..5 {
        lp.ctx()
            .client(client)
            .unwrap()
            .send(get(addr, "/hello"), |_, st: &mut St, r| st.done.push(r))
            .unwrap();
        run_until(&mut lp, &mut st, |s| s.done.len() == i + 1);
        assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 1);
    }
    assert!(st.done.iter().all(|r| r.as_ref().unwrap().status() == 200));
    assert_eq!(st.peers.len(), 5);
    assert!(st.peers.iter().all(|p| *p == st.peers[0]), "{:?}", st.peers);
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 1);
}

#[test]
fn head_204_304_have_no_body() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let mut ctx = lp.ctx();
    let mut c = ctx.client(client).unwrap();
    let head = Request::head(format!("http://{addr}/hello"))
        .body(RequestBody::Empty)
        .unwrap();
    c.send(head, |_, st: &mut St, r| st.done.push(r)).unwrap();
    c.send(get(addr, "/nothing"), |_, st: &mut St, r| st.done.push(r))
        .unwrap();
    c.send(get(addr, "/same"), |_, st: &mut St, r| st.done.push(r))
        .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.done.len() == 3);
    let mut statuses: Vec<u16> = st
        .done
        .iter()
        .map(|r| {
            let r = r.as_ref().unwrap();
            assert!(r.body().is_empty());
            r.status().as_u16()
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, [200, 204, 304]);
    // HEAD keeps the length of the body it would have had.
    let head = st
        .done
        .iter()
        .map(|r| r.as_ref().unwrap())
        .find(|r| r.status() == 200)
        .unwrap();
    assert_eq!(head.headers()["content-length"], "13");
}

#[test]
fn options_asterisk_form() {
    let mut r: Router<St> = Router::new();
    r.fallback(|_, _, req| {
        let line = format!(
            "{} {} {}",
            req.method(),
            req.uri(),
            req.headers()["host"].to_str().unwrap()
        );
        http::Response::new(Body::from(line))
    });
    let (mut lp, _, addr, client) = setup(r, ClientOptions::new());
    let req = Request::options("*").body(RequestBody::Empty).unwrap();
    let opts =
        evloop_http::client::RequestOptions::new().connect_to(addr.ip().to_string(), addr.port());
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(req, opts, |_, st: &mut St, r| st.done.push(r))
        .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    let body = st.done[0].as_ref().unwrap().body().clone();
    assert_eq!(body, format!("OPTIONS * {addr}").as_str());
}

#[test]
fn a_rate_limit_that_cannot_work_is_refused_by_new_client() {
    let mut lp: evloop::Loop<()> = evloop::Loop::new().unwrap();
    let bad = evloop_buffer::RateLimit::new(std::time::Duration::from_millis(10)).read(10, 9);
    let opts = evloop_http::client::ClientOptions::new().rate_limit(Some(bad));
    let err = lp.ctx().new_client(opts).unwrap_err();
    assert!(matches!(err, evloop::Error::InvalidArgument(_)), "{err:?}");
}
