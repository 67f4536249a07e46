//! Routing, methods, the headers the server adds, bodiless responses and
//! keep-alive rules, over real sockets with hand-written requests.

mod server_util;

use std::io::Write;

use evloop_http::server::{Body, Reply, ServerOptions};
use http::{Method, Response, StatusCode};
use server_util::{closed, roundtrip, spawn, Reader, TestServer};

fn text(s: &'static str) -> Response<Body> {
    Response::new(Body::from(s))
}

fn status(code: u16) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::from_u16(code).unwrap();
    r
}

fn server() -> TestServer<()> {
    spawn(
        ServerOptions::new().server_header(Some("evloop-test")),
        (),
        |r| {
            r.exact("/", &[Method::GET, Method::POST], |_, _, _| text("root"));
            r.exact("/exact", &[], |_, _, req| {
                Response::new(Body::from(format!("exact {}", req.method())))
            });
            r.prefix("/files/", &[Method::GET], |_, _, req| {
                Response::new(Body::from(format!("file {}", req.path())))
            });
            r.prefix("/files/deep/", &[Method::GET], |_, _, _| text("deep"));
            r.exact(
                "/purge",
                &[Method::from_bytes(b"PURGE").unwrap()],
                |_, _, _| text("purged"),
            );
            r.exact("/204", &[Method::GET], |_, _, _| {
                let mut r = text("never sent");
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            });
            r.exact("/304", &[Method::GET], |_, _, _| {
                let mut r = text("never sent");
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                r
            });
            r.exact("/close", &[Method::GET], |_, _, _| {
                let mut r = text("bye");
                r.headers_mut()
                    .insert("connection", http::HeaderValue::from_static("close"));
                r
            });
            r.exact("/typed", &[Method::GET], |_, _, _| {
                let mut r = text("{}");
                r.headers_mut().insert(
                    "content-type",
                    http::HeaderValue::from_static("application/json"),
                );
                r
            });
            r.exact("/status", &[Method::GET], |_, _, req| {
                Reply::Now(status(
                    req.query().and_then(|q| q.parse().ok()).unwrap_or(500),
                ))
            });
        },
    )
}

#[test]
fn exact_prefix_longest_prefix_and_the_404_fallback() {
    let srv = server();
    let r = roundtrip(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "root"));
    let r = roundtrip(&srv, b"GET /files/a/b.txt?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.text(), "file /files/a/b.txt");
    let r = roundtrip(&srv, b"GET /files/deep/x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.text(), "deep");
    let r = roundtrip(&srv, b"DELETE /exact HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.text(), "exact DELETE");
    let r = roundtrip(&srv, b"GET /exact/more HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404);
    let r = roundtrip(&srv, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 404);
}

#[test]
fn a_known_method_a_route_does_not_take_gets_405_with_allow() {
    let srv = server();
    let r = roundtrip(&srv, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST, HEAD"));
    let r = roundtrip(
        &srv,
        b"PUT /files/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[test]
fn options_star_is_answered_for_the_server() {
    // RFC 9110 9.3.7: about the server in general, not a path.
    let srv = server();
    let r = roundtrip(&srv, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    // Every method a route takes: `/exact` takes any, so all of HTTP's,
    // and PURGE, which a route names.
    assert_eq!(
        r.header("allow"),
        Some("GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, PURGE")
    );
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(r.text(), "");
    // The asterisk is for OPTIONS only.
    let r = roundtrip(&srv, b"GET * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 400);
    // A path still goes to its route: `/` takes GET and POST.
    let r = roundtrip(&srv, b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST, HEAD"));

    // A server with narrower routes lists just theirs; one with a fallback
    // leaves `OPTIONS *` to it (a proxy forwards it there).
    let srv = spawn(ServerOptions::new(), (), |r| {
        r.exact("/", &[Method::GET], |_, _, _| text("root"));
        r.prefix("/up/", &[Method::PUT], |_, _, _| text("up"));
    });
    let r = roundtrip(&srv, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("allow"), Some("GET, HEAD, PUT, OPTIONS"));
    let srv = spawn(ServerOptions::new(), (), |r| {
        r.exact("/", &[Method::GET], |_, _, _| text("root"));
        r.fallback(|_, _, req| Response::new(Body::from(format!("fallback {}", req.path()))));
    });
    let r = roundtrip(&srv, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.text(), "fallback *");
}

#[test]
fn an_unknown_method_gets_501_and_a_method_a_route_names_is_known() {
    let srv = server();
    let r = roundtrip(&srv, b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 501);
    let r = roundtrip(&srv, b"PURGE /purge HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.text(), "purged");
    let r = roundtrip(&srv, b"PURGE / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405);
}

#[test]
fn date_server_content_type_and_length_are_added() {
    let srv = server();
    let r = roundtrip(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let date = r.header("date").unwrap();
    assert_eq!(date.len(), 29, "IMF-fixdate: {date}");
    assert!(date.ends_with(" GMT"));
    assert_eq!(r.header("server"), Some("evloop-test"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("4"));
    let r = roundtrip(&srv, b"GET /typed HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn head_keeps_content_length_and_sends_no_body() {
    let srv = server();
    let mut c = srv.connect();
    // A HEAD and a GET pipelined: if HEAD's body were sent, the GET's
    // response would be read wrong.
    c.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let h = rd.response(true).unwrap();
    assert_eq!((h.status, h.header("content-length")), (200, Some("4")));
    let g = rd.response(false).unwrap();
    assert_eq!(g.text(), "root");
}

#[test]
fn no_body_for_204_and_304() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(
        b"GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let a = rd.response(false).unwrap();
    assert_eq!(a.status, 204);
    assert_eq!(a.header("content-length"), None);
    let b = rd.response(false).unwrap();
    assert_eq!(b.status, 304);
    assert_eq!(rd.response(false).unwrap().text(), "root");
}

#[test]
fn http11_keeps_the_connection_unless_asked_to_close() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!(r.header("connection"), None);
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(rd.rest().unwrap().is_empty());
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!(r.text(), "root");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed(rd.s));
}

#[test]
fn a_handlers_connection_close_closes_after_the_response() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    let r = rd.response(false).unwrap();
    assert_eq!(
        (r.text().as_str(), r.header("connection")),
        ("bye", Some("close"))
    );
    // The pipelined request after it is not answered.
    assert!(rd.rest().unwrap().is_empty());
}

#[test]
fn a_malformed_request_gets_400_with_close_and_nothing_after_it_is_parsed() {
    let srv = server();
    let mut c = srv.connect();
    c.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\
          GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy\
          GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    assert_eq!(rd.response(false).unwrap().text(), "root");
    let bad = rd.response(false).unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("connection"), Some("close"));
    assert!(
        rd.rest().unwrap().is_empty(),
        "nothing after the bad request"
    );
}

#[test]
fn handler_statuses_pass_through() {
    let srv = server();
    for code in [200u16, 201, 400, 418, 503] {
        let req = format!("GET /status?{code} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(roundtrip(&srv, req.as_bytes()).status, code);
    }
}

#[test]
fn a_panicking_handler_propagates_out_of_run_and_the_server_still_works_after() {
    use evloop::{Loop, RunMode};
    use evloop_buffer::ListenAddr;
    use evloop_http::server::{Router, ServerExt};
    let mut router: Router<()> = Router::new();
    router.exact("/boom", &[Method::GET], |_, _, _| -> Response<Body> {
        panic!("boom")
    });
    router.exact("/", &[Method::GET], |_, _, _| text("fine"));
    let mut lp: Loop<()> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let id = ctx.new_server(router, ServerOptions::new()).unwrap();
    let ListenAddr::Tcp(addr) = ctx.server(id).unwrap().listen("127.0.0.1:0").unwrap() else {
        unreachable!()
    };
    let client = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let boom_closed = closed(&mut c);
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let r = Reader::new(&mut c).response(false).unwrap();
        (boom_closed, r.text())
    });
    let mut panics = 0;
    while !client.is_finished() {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lp.run(&mut (), RunMode::NoWait)
        }));
        if run.is_err() {
            panics += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let (boom_closed, text) = client.join().unwrap();
    assert_eq!(panics, 1);
    assert!(boom_closed, "the panicking request's connection is closed");
    assert_eq!(text, "fine");
}

#[test]
fn a_route_that_takes_any_method_gets_methods_http_does_not_define() {
    let srv = spawn(ServerOptions::new(), (), |r| {
        r.prefix("/dav/", &[Method::GET], |_, _, req| {
            let body = String::from_utf8_lossy(req.body()).into_owned();
            Response::new(Body::from(format!(
                "{} {} {body}",
                req.method(),
                req.path()
            )))
        })
        .any_method();
        r.prefix("/", &[Method::GET], |_, _, _| text("root"));
    });
    let r = roundtrip(
        &srv,
        b"PROPFIND /dav/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n<x/>",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "PROPFIND /dav/a <x/>");
    // A standard method outside its list too (no 405).
    let r = roundtrip(&srv, b"DELETE /dav/b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.text(), "DELETE /dav/b ");
    // Elsewhere the defaults hold: 501 for an unknown method, 405 for a
    // known one the route does not take.
    let r = roundtrip(&srv, b"PURGE /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 501);
    let r = roundtrip(&srv, b"DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405);
}
