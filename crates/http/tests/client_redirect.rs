//! Redirects: off by default, followed when asked with RFC 9110's method
//! rules, loops cut by the limit.

mod client_util;

use client_util::{run_until, setup};
use evloop_http::client::{
    ClientError, ClientExt, ClientOptions, RequestBody, RequestOptions, Response, ResponseChunk,
};
use evloop_http::server::{Body, Router};
use http::{Method, Request, StatusCode};

#[derive(Default)]
struct St {
    done: Vec<Result<Response, ClientError>>,
    streamed: Vec<u8>,
    ended: bool,
}

fn redirect(status: u16, to: &str) -> http::Response<Body> {
    http::Response::builder()
        .status(status)
        .header("location", to)
        .body(Body::from("moved"))
        .unwrap()
}

fn router() -> Router<St> {
    let mut r: Router<St> = Router::new();
    r.prefix("/hop/", &[Method::GET], |_, _, req| {
        let n: u32 = req.path()["/hop/".len()..].parse().unwrap();
        if n == 0 {
            http::Response::new(Body::from("arrived"))
        } else {
            redirect(302, &format!("/hop/{}", n - 1))
        }
    });
    r.exact("/loop", &[Method::GET], |_, _, _| redirect(302, "loop"));
    r.exact("/see-other", &[Method::POST], |_, _, _| {
        redirect(303, "/what")
    });
    r.exact("/temporary", &[Method::POST], |_, _, _| {
        redirect(307, "/what")
    });
    r.exact("/what", &[Method::GET, Method::POST], |_, _, mut req| {
        let body = req.take_body();
        http::Response::new(Body::from(format!("{} {}", req.method(), body.len())))
    });
    r.exact("/tls", &[Method::GET], |_, _, _| {
        redirect(301, "https://example.org/")
    });
    r
}

fn send(
    lp: &mut evloop::Loop<St>,
    client: evloop_http::client::ClientId,
    req: Request<RequestBody>,
    opts: RequestOptions,
) -> Result<Response, ClientError> {
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(req, opts, |_, st: &mut St, r| st.done.push(r))
        .unwrap();
    let mut st = St::default();
    run_until(lp, &mut st, |s| !s.done.is_empty());
    st.done.pop().unwrap()
}

#[test]
fn not_followed_by_default() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let req = Request::get(format!("http://{addr}/hop/2"))
        .body(RequestBody::Empty)
        .unwrap();
    let r = send(&mut lp, client, req, RequestOptions::new()).unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["location"], "/hop/1");
    assert_eq!(r.body(), "moved");
    assert_eq!(r.redirects(), 0);
}

#[test]
fn followed_when_asked_on_one_connection() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new().follow_redirects(5));
    let req = Request::get(format!("http://{addr}/hop/3"))
        .body(RequestBody::Empty)
        .unwrap();
    let r = send(&mut lp, client, req, RequestOptions::new()).unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body(), "arrived");
    assert_eq!(r.redirects(), 3);
    assert_eq!(r.url().path(), "/hop/0");
    // Each redirect's body was read, so one connection did it all.
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 1);
}

#[test]
fn redirect_loop_is_cut() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let req = Request::get(format!("http://{addr}/loop"))
        .body(RequestBody::Empty)
        .unwrap();
    let r = send(
        &mut lp,
        client,
        req,
        RequestOptions::new().follow_redirects(4),
    );
    assert!(matches!(r, Err(ClientError::TooManyRedirects)), "{r:?}");
}

#[test]
fn method_rules() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new().follow_redirects(3));
    let post = |path: &str| {
        Request::post(format!("http://{addr}{path}"))
            .body(RequestBody::from("12345"))
            .unwrap()
    };
    let r = send(&mut lp, client, post("/see-other"), RequestOptions::new()).unwrap();
    assert_eq!(r.body(), "GET 0");
    let r = send(&mut lp, client, post("/temporary"), RequestOptions::new()).unwrap();
    assert_eq!(r.body(), "POST 5");
}

#[test]
fn redirect_to_another_scheme_is_an_error() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new().follow_redirects(3));
    let req = Request::get(format!("http://{addr}/tls"))
        .body(RequestBody::Empty)
        .unwrap();
    let r = send(&mut lp, client, req, RequestOptions::new());
    assert!(matches!(r, Err(ClientError::UnsupportedScheme(_))), "{r:?}");
}

#[test]
fn streamed_response_after_redirects() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let req = Request::get(format!("http://{addr}/hop/2"))
        .body(RequestBody::Empty)
        .unwrap();
    let opts = RequestOptions::new()
        .stream_response(true)
        .follow_redirects(2);
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(req, opts, |ctx, _, r| {
            let r = r.unwrap();
            assert_eq!(r.redirects(), 2);
            r.request_id()
                .read_body(ctx, |_, st: &mut St, _, chunk| match chunk {
                    ResponseChunk::Data(b) => st.streamed.extend_from_slice(&b),
                    ResponseChunk::End(_) => st.ended = true,
                    ResponseChunk::Error(e) => panic!("{e}"),
                })
                .unwrap();
        })
        .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.ended);
    assert_eq!(st.streamed, b"arrived");
}
