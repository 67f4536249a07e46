//! Answering later: from a timer, from another thread, out of order with
//! pipelined requests (responses still go out in request order).

mod server_util;

use std::io::Write;
use std::time::{Duration, Instant};

use evloop_http::server::{Body, Reply, ServerOptions};
use http::{Method, Response};
use server_util::{spawn, Reader};

#[test]
fn a_responder_answers_from_a_timer() {
    let srv = spawn(ServerOptions::new(), (), |r| {
        r.exact("/later", &[Method::GET], |ctx, _, req| {
            let r = req.responder();
            ctx.once_timer(Duration::from_millis(50), move |ctx, _, _| {
                r.respond(ctx, Response::new(Body::from("from a timer")))
                    .unwrap();
                // Answered: the token is stale now.
                assert!(r.respond(ctx, Response::new(Body::empty())).is_err());
            })
            .unwrap();
            Reply::Later
        });
    });
    let t0 = Instant::now();
    let r = server_util::roundtrip(&srv, b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.text(), "from a timer");
    assert!(t0.elapsed() >= Duration::from_millis(50));
}

#[test]
fn a_remote_responder_answers_from_another_thread() {
    let srv = spawn(ServerOptions::new(), (), |r| {
        r.exact("/sum", &[Method::POST], |ctx, _, req| {
            let remote = req.responder().remote(ctx).unwrap();
            let body = req.body().clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let sum: u64 = body.iter().map(|&b| u64::from(b - b'0')).sum();
                remote
                    .respond(Response::new(Body::from(sum.to_string())))
                    .unwrap();
            });
            Reply::Later
        });
    });
    let mut c = srv.connect();
    // Two requests on one connection, both answered by threads.
    c.write_all(b"POST /sum HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n123")
        .unwrap();
    c.write_all(b"POST /sum HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n99")
        .unwrap();
    let mut rd = Reader::new(&mut c);
    assert_eq!(rd.response(false).unwrap().text(), "6");
    assert_eq!(rd.response(false).unwrap().text(), "18");
}

#[test]
fn responses_given_out_of_order_go_out_in_request_order() {
    // /slow/N answers after N ms: the later requests are answered first.
    let srv = spawn(ServerOptions::new(), (), |r| {
        r.prefix("/slow/", &[Method::GET], |ctx, _, req| {
            let ms: u64 = req.path()[6..].parse().unwrap();
            let r = req.responder();
            let text = format!("slept {ms}");
            ctx.once_timer(Duration::from_millis(ms), move |ctx, _, _| {
                r.respond(ctx, Response::new(Body::from(text))).unwrap();
            })
            .unwrap();
            Reply::Later
        });
        r.exact("/now", &[Method::GET], |_, _, _| {
            Response::new(Body::from("now"))
        });
    });
    let mut c = srv.connect();
    c.write_all(
        b"GET /slow/60 HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /slow/30 HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /now HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    let got: Vec<String> = (0..4).map(|_| rd.response(false).unwrap().text()).collect();
    assert_eq!(got, ["slept 60", "slept 30", "now", "slept 1"]);
}

#[test]
fn a_client_that_half_closes_still_gets_its_late_answer() {
    let srv = spawn(ServerOptions::new(), (), |r| {
        r.exact("/", &[Method::GET], |ctx, _, req| {
            let r = req.responder();
            ctx.once_timer(Duration::from_millis(30), move |ctx, _, _| {
                r.respond(ctx, Response::new(Body::from("late"))).unwrap();
            })
            .unwrap();
            Reply::Later
        });
    });
    let mut c = srv.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rd = Reader::new(&mut c);
    assert_eq!(rd.response(false).unwrap().text(), "late");
    // Then the server closes: the client will send nothing more.
    assert!(rd.rest().unwrap().is_empty());
}

#[test]
fn a_handler_answers_requests_waiting_on_other_connections() {
    // Long polling: /wait parks its responder in the loop's state; /post
    // answers every parked request with the posted body.
    let srv = spawn(
        ServerOptions::new(),
        Vec::<evloop_http::server::Responder>::new(),
        |r| {
            r.exact("/wait", &[Method::GET], |_, parked, req| {
                parked.push(req.responder());
                Reply::Later
            });
            r.exact("/parked", &[Method::GET], |_, parked, _| {
                Response::new(Body::from(parked.len().to_string()))
            });
            r.exact("/post", &[Method::POST], |ctx, parked, req| {
                let n = parked.len();
                for r in parked.drain(..) {
                    let body = Body::from(req.body().clone());
                    r.respond(ctx, Response::new(body)).unwrap();
                }
                Response::new(Body::from(format!("woke {n}")))
            });
        },
    );
    let mut waiters: Vec<_> = (0..3)
        .map(|_| {
            let mut c = srv.connect();
            c.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    // The post comes once the server holds the three waits.
    while server_util::roundtrip(&srv, b"GET /parked HTTP/1.1\r\nHost: x\r\n\r\n").text() != "3" {
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = server_util::roundtrip(
        &srv,
        b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nnews!",
    );
    assert_eq!(r.text(), "woke 3");
    for c in waiters.iter_mut() {
        assert_eq!(Reader::new(c).response(false).unwrap().text(), "news!");
    }
}
