//! Connection rules: pipelining order and limits, deadlines (slow head,
//! stalled body, idle keep-alive), the connection limit, graceful shutdown.

mod server_util;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use evloop::{Loop, RunMode};
use evloop_buffer::ListenAddr;
use evloop_http::server::{Body, Reply, Router, ServerExt, ServerOptions};
use http::{Method, Response};
use server_util::{closed, spawn, Reader};

fn echo_path() -> impl FnOnce(&mut Router<()>) + Send {
    |r| {
        r.prefix("/", &[Method::GET, Method::POST], |_, _, req| {
            Response::new(Body::from(req.path().to_string()))
        });
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let srv = spawn(ServerOptions::new().max_pipeline(4), (), echo_path());
    let mut c = srv.connect();
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    // More than the pipeline limit in one write: the rest waits in the
    // input and is read as the first ones are answered.
    c.write_all(&batch).unwrap();
    let mut rd = Reader::new(&mut c);
    for i in 0..100 {
        assert_eq!(rd.response(false).unwrap().text(), format!("/{i}"));
    }
}

#[test]
fn a_framing_error_in_a_pipelined_batch_answers_the_ones_before_it_then_closes() {
    let srv = spawn(ServerOptions::new(), (), echo_path());
    let mut c = srv.connect();
    c.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /b HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\
          GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut rd = Reader::new(&mut c);
    assert_eq!(rd.response(false).unwrap().text(), "/a");
    assert_eq!(rd.response(false).unwrap().text(), "/b");
    let bad = rd.response(false).unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(bad.header("connection"), Some("close"));
    assert!(rd.rest().unwrap().is_empty(), "/d is never parsed");
}

#[test]
fn a_slow_head_gets_408_after_the_header_deadline() {
    let deadline = Duration::from_millis(300);
    let srv = spawn(
        ServerOptions::new().header_timeout(deadline),
        (),
        echo_path(),
    );
    let mut c = srv.connect();
    let t0 = Instant::now();
    // A slowloris: a byte now and then, never the end of the head.
    c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let mut rd = Reader::new(&mut c);
    let writer = {
        let mut w = rd.s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..40 {
                std::thread::sleep(Duration::from_millis(50));
                if w.write_all(b"X").is_err() {
                    break;
                }
            }
        })
    };
    let r = rd.response(false).unwrap();
    let took = t0.elapsed();
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(took >= deadline, "not before the deadline: {took:?}");
    assert!(
        took < deadline * 10,
        "well before the trickle ends: {took:?}"
    );
    writer.join().unwrap();
}

#[test]
fn an_idle_keep_alive_connection_is_closed_silently() {
    let idle = Duration::from_millis(200);
    let srv = spawn(
        ServerOptions::new().keepalive_timeout(idle),
        (),
        echo_path(),
    );
    let mut c = srv.connect();
    c.write_all(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let t0 = Instant::now();
    let mut rd = Reader::new(&mut c);
    assert_eq!(rd.response(false).unwrap().text(), "/x");
    assert!(rd.rest().unwrap().is_empty(), "closed without a response");
    assert!(t0.elapsed() >= idle);
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_header_deadline() {
    let deadline = Duration::from_millis(200);
    let srv = spawn(
        ServerOptions::new().header_timeout(deadline),
        (),
        echo_path(),
    );
    let mut c = srv.connect();
    let t0 = Instant::now();
    let mut b = Vec::new();
    c.read_to_end(&mut b).unwrap();
    assert!(b.is_empty());
    assert!(t0.elapsed() >= deadline);
}

#[test]
fn a_stalled_body_gets_408_after_the_body_timeout() {
    let idle = Duration::from_millis(200);
    let srv = spawn(ServerOptions::new().body_timeout(idle), (), echo_path());
    let mut c = srv.connect();
    c.write_all(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let t0 = Instant::now();
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!(r.status, 408);
    assert!(t0.elapsed() >= idle);
}

#[test]
fn beyond_max_connections_new_clients_wait_until_one_closes() {
    let srv = spawn(ServerOptions::new().max_connections(2), (), echo_path());
    let mut a = srv.connect();
    let mut b = srv.connect();
    for c in [&mut a, &mut b] {
        c.write_all(b"GET /ab HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(Reader::new(c).response(false).unwrap().text(), "/ab");
    }
    // The third is accepted by the kernel (backlog) but not served.
    let mut third = srv.connect();
    third
        .write_all(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    let waited = third.read(&mut buf);
    assert!(
        matches!(&waited, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "not served while two are open: {waited:?}"
    );
    drop(a);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        Reader::new(&mut third).response(false).unwrap().text(),
        "/c"
    );
}

#[test]
fn graceful_shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
    // The loop runs here: the test drives it and shuts the server down
    // while one request waits for its (timer) answer.
    let mut router: Router<Vec<&'static str>> = Router::new();
    router.exact("/slow", &[Method::GET], |ctx, log, req| {
        log.push("slow");
        let r = req.responder();
        ctx.once_timer(Duration::from_millis(200), move |ctx, _, _| {
            r.respond(ctx, Response::new(Body::from("finished")))
                .unwrap();
        })
        .unwrap();
        Reply::Later
    });
    router.exact("/fast", &[Method::GET], |_, _, _| {
        Response::new(Body::from("fast"))
    });
    let mut lp: Loop<Vec<&'static str>> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let id = ctx.new_server(router, ServerOptions::new()).unwrap();
    let ListenAddr::Tcp(addr) = ctx.server(id).unwrap().listen("127.0.0.1:0").unwrap() else {
        unreachable!()
    };
    let client = std::thread::spawn(move || {
        let mut idle = std::net::TcpStream::connect(addr).unwrap();
        idle.write_all(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(
            Reader::new(&mut idle).response(false).unwrap().text(),
            "fast"
        );
        let mut busy = std::net::TcpStream::connect(addr).unwrap();
        busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // The server shuts down now (see below); the idle one is closed,
        // the busy one gets its answer with Connection: close.
        (idle, busy)
    });
    let mut log = Vec::new();
    while !client.is_finished() || log.is_empty() {
        lp.run(&mut log, RunMode::NoWait).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let (mut idle, mut busy) = client.join().unwrap();
    lp.ctx()
        .server(id)
        .unwrap()
        .shutdown(|_, log: &mut Vec<&'static str>| log.push("done"));
    let checker = std::thread::spawn(move || {
        idle.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        busy.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let idle_closed = closed(&mut idle);
        let mut rd = Reader::new(&mut busy);
        let r = rd.response(false).unwrap();
        let rest = rd.rest().unwrap();
        (idle_closed, r, rest)
    });
    // Returns once the server is gone: nothing else keeps the loop.
    lp.run(&mut log, RunMode::Default).unwrap();
    assert_eq!(log, ["slow", "done"]);
    assert!(lp.ctx().server(id).is_err(), "the handle is stale");
    let (idle_closed, r, rest) = checker.join().unwrap();
    assert!(idle_closed);
    assert_eq!(r.text(), "finished");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(rest.is_empty());
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
}

#[test]
fn one_server_listens_on_tcp_and_unix_sockets_at_once() {
    use std::os::unix::net::UnixStream;
    let path = std::env::temp_dir().join(format!("evloop-http-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut router: Router<()> = Router::new();
    router.exact("/", &[Method::GET], |_, _, req| {
        let via = if req.peer_addr().is_some() {
            "tcp"
        } else {
            "unix"
        };
        Response::new(Body::from(via))
    });
    let mut lp: Loop<()> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let id = ctx.new_server(router, ServerOptions::new()).unwrap();
    let mut srv = ctx.server(id).unwrap();
    let ListenAddr::Tcp(addr) = srv.listen("127.0.0.1:0").unwrap() else {
        unreachable!()
    };
    srv.listen(path.as_path()).unwrap();
    let p2 = path.clone();
    let client = std::thread::spawn(move || {
        let mut t = std::net::TcpStream::connect(addr).unwrap();
        t.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut a = String::new();
        t.read_to_string(&mut a).unwrap();
        let mut u = UnixStream::connect(&p2).unwrap();
        u.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut b = String::new();
        u.read_to_string(&mut b).unwrap();
        (a, b)
    });
    while !client.is_finished() {
        lp.run(&mut (), RunMode::NoWait).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let (a, b) = client.join().unwrap();
    assert!(a.ends_with("\r\n\r\ntcp"), "{a}");
    assert!(b.ends_with("\r\n\r\nunix"), "{b}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn the_body_timeout_does_not_count_while_the_handler_holds_the_body_back() {
    let idle = Duration::from_millis(150);
    let srv = spawn(ServerOptions::new().body_timeout(idle), (), move |r| {
        r.exact("/", &[Method::POST], move |ctx, _, req| {
            let r = req.responder();
            // Ask for the body only after twice the body timeout.
            ctx.once_timer(idle * 2, move |ctx, _, _| {
                let mut n = 0;
                r.read_body(ctx, move |ctx, _, r, chunk| match chunk {
                    evloop_http::server::BodyChunk::Data(b) => n += b.len(),
                    evloop_http::server::BodyChunk::End(_) => {
                        r.respond(ctx, Response::new(Body::from(n.to_string())))
                            .unwrap();
                    }
                    evloop_http::server::BodyChunk::Aborted => {}
                })
                .unwrap();
            })
            .unwrap();
            Reply::Later
        })
        .stream_body();
    });
    let mut c = srv.connect();
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let r = Reader::new(&mut c).response(false).unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "5"));
}

#[test]
fn a_client_that_sends_a_batch_and_its_eof_together_gets_every_answer() {
    // Answers come from timers, so the pipeline limit holds requests back
    // in the input while the EOF is already known.
    let srv = spawn(ServerOptions::new().max_pipeline(2), (), |r| {
        r.prefix("/", &[Method::GET], |ctx, _, req| {
            let (r, path) = (req.responder(), req.path().to_string());
            ctx.once_timer(Duration::from_millis(2), move |ctx, _, _| {
                r.respond(ctx, Response::new(Body::from(path))).unwrap();
            })
            .unwrap();
            Reply::Later
        });
    });
    let mut c = srv.connect();
    let mut batch = Vec::new();
    for i in 0..10 {
        batch.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    c.write_all(&batch).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rd = Reader::new(&mut c);
    for i in 0..10 {
        assert_eq!(rd.response(false).unwrap().text(), format!("/{i}"));
    }
    assert!(rd.rest().unwrap().is_empty());
}
