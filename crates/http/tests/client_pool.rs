//! The pool: keep-alive race retries, caps and the queue, idle
//! connections the server closes, cancel, shutdown, host names, Unix
//! sockets.

mod client_util;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client_util::{client_loop, put, read_head, run_for, run_until, scripted, setup};
use evloop::Loop;
use evloop_buffer::ListenAddr;
use evloop_http::client::{
    ClientError, ClientExt, ClientId, ClientOptions, RequestBody, RequestId, RequestOptions,
    Response,
};
use evloop_http::server::{Body, Reply, Router, ServerExt, ServerOptions};
use http::{Method, Request};

#[derive(Default)]
struct St {
    done: Vec<Result<Response, ClientError>>,
    peers: Vec<SocketAddr>,
    max_conns: usize,
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Sends `request` on `client`; its result goes to `St::done`.
fn send(lp: &mut Loop<St>, client: ClientId, request: Request<RequestBody>) -> RequestId {
    lp.ctx()
        .client(client)
        .unwrap()
        .send(request, |_, st: &mut St, r| st.done.push(r))
        .unwrap()
}

fn req(method: Method, addr: SocketAddr, body: RequestBody) -> Request<RequestBody> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}/"))
        .body(body)
        .unwrap()
}

/// The first connection answers one request, then reads the next one and
/// closes without answering (the server dropped an idle connection just as
/// the request came); later connections answer.
fn racing_server(conns: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let (addr, _server) = scripted(conns, move |i, mut c| {
        seen.fetch_add(1, Ordering::SeqCst);
        read_head(&mut c);
        put(&mut c, OK);
        if i == 0 {
            read_head(&mut c);
            // Closed without a byte of an answer.
        } else {
            let _ = read_head(&mut c);
        }
    });
    (addr, count)
}

#[test]
fn keep_alive_race_retries_an_idempotent_request_once() {
    let (addr, conns) = racing_server(2);
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    let mut st = St::default();
    for i in 0..2 {
        send(&mut lp, client, req(Method::GET, addr, RequestBody::Empty));
        run_until(&mut lp, &mut st, |s| s.done.len() == i + 1);
    }
    for r in &st.done {
        assert_eq!(r.as_ref().unwrap().body(), "ok");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    // The retry went on a connection made for it.
    let info = st.done[1].as_ref().unwrap().connection();
    assert!(!info.is_reused());
    assert!(info.connect_time().is_some());
}

#[test]
fn keep_alive_race_does_not_retry_a_post() {
    let (addr, conns) = racing_server(2);
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    let mut st = St::default();
    send(&mut lp, client, req(Method::GET, addr, RequestBody::Empty));
    run_until(&mut lp, &mut st, |s| s.done.len() == 1);
    send(&mut lp, client, req(Method::POST, addr, "data".into()));
    run_until(&mut lp, &mut st, |s| s.done.len() == 2);
    // A close or a reset (the server dropped the unread body), never an answer.
    assert!(
        matches!(st.done[1], Err(ClientError::Closed | ClientError::Io(_))),
        "{:?}",
        st.done[1]
    );
    run_for(&mut lp, &mut st, Duration::from_millis(50));
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[test]
fn a_fresh_connection_that_closes_is_not_retried() {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let (addr, _server) = scripted(2, move |_, mut c| {
        seen.fetch_add(1, Ordering::SeqCst);
        read_head(&mut c);
    });
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    send(&mut lp, client, req(Method::GET, addr, RequestBody::Empty));
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    assert!(matches!(st.done[0], Err(ClientError::Closed)));
    run_for(&mut lp, &mut st, Duration::from_millis(50));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

fn slow_router() -> Router<St> {
    let mut r: Router<St> = Router::new();
    r.exact("/", &[Method::GET], |ctx, st, req| {
        st.peers.extend(req.peer_addr());
        let r = req.responder();
        ctx.once_timer(Duration::from_millis(20), move |ctx, _, _| {
            let _ = r.respond(ctx, http::Response::new(Body::from("late")));
        })
        .unwrap();
        Reply::Later
    });
    r
}

#[test]
fn pool_caps_queue_requests() {
    let (mut lp, _, addr, client) = setup(slow_router(), ClientOptions::new().max_per_host(2));
    let mut ctx = lp.ctx();
    let mut c = ctx.client(client).unwrap();
    for _ in 0..5 {
        c.send(
            req(Method::GET, addr, RequestBody::Empty),
            |ctx, st: &mut St, r| {
                st.done.push(r);
                let _ = ctx;
            },
        )
        .unwrap();
    }
    assert_eq!(c.connection_count(), 2);
    assert_eq!(c.pending_count(), 5);
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.done.len() == 5);
    assert!(st.done.iter().all(|r| r.as_ref().unwrap().body() == "late"));
    let mut peers = st.peers.clone();
    peers.sort();
    peers.dedup();
    assert_eq!(peers.len(), 2, "{:?}", st.peers);
    assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 2);
}

#[test]
fn max_total_is_shared_between_hosts() {
    let (mut lp, _, addr, client) = setup(slow_router(), ClientOptions::new().max_total(1));
    // The same server under two names: two pools.
    let other: SocketAddr = format!("127.0.0.2:{}", addr.port()).parse().unwrap();
    let mut ctx = lp.ctx();
    let s2 = ctx.new_server(slow_router(), ServerOptions::new()).unwrap();
    let ListenAddr::Tcp(addr2) = ctx.server(s2).unwrap().listen(other).unwrap() else {
        unreachable!()
    };
    let mut c = ctx.client(client).unwrap();
    for a in [addr, addr2, addr] {
        c.send(
            req(Method::GET, a, RequestBody::Empty),
            |_, st: &mut St, r| st.done.push(r),
        )
        .unwrap();
    }
    assert_eq!(c.connection_count(), 1);
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.done.len() == 3);
    assert!(st.done.iter().all(|r| r.is_ok()));
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 1);
}

#[test]
fn idle_connection_closed_by_the_server_leaves_the_pool() {
    let (addr, _server) = scripted(1, |_, mut c| {
        read_head(&mut c);
        put(&mut c, OK);
        // Then the server closes the idle connection.
    });
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    send(&mut lp, client, req(Method::GET, addr, RequestBody::Empty));
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    let mut n = 1;
    for _ in 0..100 {
        n = lp.ctx().client(client).unwrap().connection_count();
        if n == 0 {
            break;
        }
        run_for(&mut lp, &mut st, Duration::from_millis(10));
    }
    assert_eq!(n, 0);
}

#[test]
fn cancel_drops_the_callback_and_the_connection() {
    let closed = Arc::new(AtomicUsize::new(0));
    let seen = closed.clone();
    let (addr, _server) = scripted(1, move |_, mut c| {
        read_head(&mut c);
        // Never answers; sees the client close.
        let mut b = [0u8; 16];
        if matches!(std::io::Read::read(&mut c, &mut b), Ok(0)) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    let id = lp
        .ctx()
        .client(client)
        .unwrap()
        .send(
            req(Method::GET, addr, RequestBody::Empty),
            |_, st: &mut St, r| st.done.push(r),
        )
        .unwrap();
    let mut st = St::default();
    run_for(&mut lp, &mut st, Duration::from_millis(50));
    assert!(id.is_pending(&mut lp.ctx()));
    assert!(id.cancel(&mut lp.ctx()));
    assert!(!id.cancel(&mut lp.ctx()));
    run_for(&mut lp, &mut st, Duration::from_millis(50));
    assert!(st.done.is_empty());
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 0);
    for _ in 0..100 {
        if closed.load(Ordering::SeqCst) == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}

#[test]
fn shutdown_ends_pending_requests() {
    let (addr, _server) = scripted(1, |_, mut c| {
        read_head(&mut c);
        std::thread::sleep(Duration::from_millis(300));
    });
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    send(&mut lp, client, req(Method::GET, addr, RequestBody::Empty));
    let mut st = St::default();
    run_for(&mut lp, &mut st, Duration::from_millis(30));
    lp.ctx().client(client).unwrap().shutdown();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    assert!(matches!(st.done[0], Err(ClientError::Shutdown)));
    let err = lp
        .ctx()
        .client(client)
        .unwrap()
        .send(req(Method::GET, addr, RequestBody::Empty), |_, _, _| {})
        .unwrap_err();
    assert!(matches!(err, ClientError::Shutdown));
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 0);
}

fn hello() -> Router<St> {
    let mut r: Router<St> = Router::new();
    r.exact("/", &[Method::GET], |_, _, req| {
        let host = req.headers()["host"].to_str().unwrap().to_string();
        http::Response::new(Body::from(host))
    });
    r
}

#[test]
fn host_names_go_through_the_resolver() {
    let (mut lp, _, addr, client) = setup(hello(), ClientOptions::new());
    let url = format!("http://localhost:{}/", addr.port());
    lp.ctx()
        .client(client)
        .unwrap()
        .send(
            Request::get(url).body(RequestBody::Empty).unwrap(),
            |_, st: &mut St, r| st.done.push(r),
        )
        .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    let r = st.done[0].as_ref().unwrap();
    assert_eq!(r.body(), format!("localhost:{}", addr.port()).as_str());
    // The address happy eyeballs connected to, and the lookup's time in
    // the connect time.
    assert_eq!(r.connection().peer_addr(), Some(addr));
    assert!(r.connection().connect_time().is_some());
}

#[test]
fn unix_socket() {
    let path = std::env::temp_dir().join(format!("evloop-client-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut lp: Loop<St> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let server = ctx.new_server(hello(), ServerOptions::new()).unwrap();
    ctx.server(server)
        .unwrap()
        .listen(format!("unix:{}", path.display()).as_str())
        .unwrap();
    let client = ctx.new_client(ClientOptions::new()).unwrap();
    send_unix(&mut lp, client, &path);
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    let _ = std::fs::remove_file(&path);
    let r = st.done[0].as_ref().unwrap();
    assert_eq!(r.body(), "app.local");
    let info = r.connection();
    assert_eq!((info.peer_addr(), info.local_addr()), (None, None));
    assert!(!info.is_reused());
    assert!(info.connect_time().is_some());
}

/// Sends a GET for `http://app.local/` over the Unix socket at `path`;
/// its result goes to `St::done`.
fn send_unix(lp: &mut Loop<St>, client: ClientId, path: &std::path::Path) {
    let opts = evloop_http::client::RequestOptions::new().unix_socket(path);
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(
            Request::get("http://app.local/")
                .body(RequestBody::Empty)
                .unwrap(),
            opts,
            |_, st: &mut St, r| st.done.push(r),
        )
        .unwrap();
}

#[test]
fn a_unix_listener_with_a_full_backlog_fails_the_request_instead_of_blocking() {
    use evloop_buffer::{ListenerExt, ListenerOptions};
    let path = std::env::temp_dir().join(format!("evloop-client-full-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    // A listener whose loop never runs: nothing is accepted, and its
    // backlog of one fills after a couple of connections.
    let mut server: Loop<()> = Loop::new().unwrap();
    server
        .ctx()
        .listen(
            path.clone(),
            &ListenerOptions::new().backlog(1),
            |_, _, _, _| {},
        )
        .unwrap();
    let (mut lp, client) = client_loop::<St>(ClientOptions::new().max_per_host(8));
    for _ in 0..6 {
        send_unix(&mut lp, client, &path);
    }
    let mut st = St::default();
    // A blocking connect would hang in here, on the third request.
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    drop(server);
    let _ = std::fs::remove_file(&path);
    match &st.done[0] {
        Err(ClientError::Connect(e)) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
        other => panic!(
            "expected a connect error, got {:?}",
            other.as_ref().map(|r| r.status())
        ),
    }
}

#[test]
fn refused_connect_and_bad_urls() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    let mut ctx = lp.ctx();
    let mut c = ctx.client(client).unwrap();
    c.send(
        req(Method::GET, free, RequestBody::Empty),
        |_, st: &mut St, r| st.done.push(r),
    )
    .unwrap();
    let https = Request::get("https://example.org/")
        .body(RequestBody::Empty)
        .unwrap();
    assert!(matches!(
        c.send(https, |_, _, _| {}),
        Err(ClientError::UnsupportedScheme(s)) if s == "https"
    ));
    let relative = Request::get("/just/a/path")
        .body(RequestBody::Empty)
        .unwrap();
    assert!(matches!(
        c.send(relative, |_, _, _| {}),
        Err(ClientError::InvalidRequest(_))
    ));
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    assert!(
        matches!(st.done[0], Err(ClientError::Connect(_))),
        "{:?}",
        st.done[0]
    );
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 0);
    let _ = st.max_conns;
}

#[test]
fn idle_timeout_closes_pooled_connections() {
    let (mut lp, _, addr, client) = setup(
        hello(),
        ClientOptions::new().idle_timeout(Some(Duration::from_millis(100))),
    );
    send(&mut lp, client, req(Method::GET, addr, RequestBody::Empty));
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 1);
    run_for(&mut lp, &mut st, Duration::from_millis(50));
    assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 1);
    run_for(&mut lp, &mut st, Duration::from_millis(150));
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 0);
}

#[test]
fn http10_and_connection_close_are_not_reused() {
    let (mut lp, _, addr, client) = setup(hello(), ClientOptions::new());
    let mut ctx = lp.ctx();
    let mut c = ctx.client(client).unwrap();
    let close = Request::get(format!("http://{addr}/"))
        .header("connection", "close")
        .body(RequestBody::Empty)
        .unwrap();
    c.send(close, |_, st: &mut St, r| st.done.push(r)).unwrap();
    let old = Request::get(format!("http://{addr}/"))
        .version(http::Version::HTTP_10)
        .body(RequestBody::Empty)
        .unwrap();
    c.send(old, |_, st: &mut St, r| st.done.push(r)).unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.done.len() == 2);
    assert!(st.done.iter().all(|r| r.is_ok()));
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 0);
}

#[test]
fn cancel_a_queued_request() {
    let (mut lp, _, addr, client) = setup(slow_router(), ClientOptions::new().max_per_host(1));
    let mut ctx = lp.ctx();
    let mut c = ctx.client(client).unwrap();
    c.send(
        req(Method::GET, addr, RequestBody::Empty),
        |_, st: &mut St, r| st.done.push(r),
    )
    .unwrap();
    let queued = c
        .send(
            req(Method::GET, addr, RequestBody::Empty),
            |_, _: &mut St, _| panic!("a cancelled request's callback ran"),
        )
        .unwrap();
    assert_eq!(c.pending_count(), 2);
    assert!(queued.cancel(&mut ctx));
    assert_eq!(ctx.client(client).unwrap().pending_count(), 1);
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    run_for(&mut lp, &mut st, Duration::from_millis(50));
    assert_eq!(st.done.len(), 1);
    // The first request's connection was kept: its response was complete.
    assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 1);
}

#[test]
fn cancel_mid_body_closes_the_connection() {
    let (addr, _server) = scripted(1, |_, mut c| {
        read_head(&mut c);
        put(
            &mut c,
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part",
        );
        std::thread::sleep(Duration::from_millis(300));
        put(&mut c, &[b'x'; 90]);
    });
    let (mut lp, client) = client_loop::<St>(ClientOptions::new());
    let opts = evloop_http::client::RequestOptions::new().stream_response(true);
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(
            req(Method::GET, addr, RequestBody::Empty),
            opts,
            |ctx, st: &mut St, r| {
                let id = r.as_ref().unwrap().request_id();
                st.done.push(r);
                id.read_body(ctx, |ctx, st: &mut St, id, chunk| {
                    assert!(matches!(chunk, evloop_http::client::ResponseChunk::Data(_)));
                    st.max_conns += 1;
                    assert!(id.cancel(ctx));
                })
                .unwrap();
            },
        )
        .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.max_conns == 1);
    run_for(&mut lp, &mut st, Duration::from_millis(50));
    assert_eq!(st.max_conns, 1);
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 0);
}

/// An idle connection does not keep the loop running, but once it carries
/// a request again the loop runs until the response, even for a request
/// without any deadline (nothing else holds the loop then).
#[test]
fn a_reused_connection_holds_the_loop_until_its_response() {
    let (addr, server) = scripted(1, |_, mut c| {
        read_head(&mut c);
        put(&mut c, OK);
        read_head(&mut c);
        std::thread::sleep(Duration::from_millis(200));
        put(&mut c, OK);
        read_head(&mut c);
    });
    let opts = ClientOptions::new()
        .head_timeout(None)
        .body_timeout(None)
        .idle_timeout(None);
    let (mut lp, client) = client_loop::<St>(opts);
    let mut st = St::default();
    for n in 1..=2 {
        send(&mut lp, client, req(Method::GET, addr, RequestBody::Empty));
        // Returns once nothing but the idle connection is left.
        lp.run(&mut st, evloop::RunMode::Default).unwrap();
        assert_eq!(st.done.len(), n);
        assert_eq!(st.done[n - 1].as_ref().unwrap().body().as_ref(), b"ok");
        assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 1);
    }
    lp.ctx().client(client).unwrap().close_idle();
    server.join().unwrap();
}

/// Request records are kept for later requests: each later request is
/// its own (method, URL, fields, body), and what a finished request's
/// callbacks held is dropped when it ends, not when its record is reused.
#[test]
fn requests_after_requests_are_their_own() {
    let mut r: Router<St> = Router::new();
    r.prefix("/", &[Method::GET, Method::POST], |_, _, mut req| {
        let body = req.take_body();
        let text = format!("{} {} {}", req.method(), req.uri().path(), body.len());
        http::Response::new(Body::from(text))
    });
    let (mut lp, _, addr, client) = setup(r, ClientOptions::new());
    let mut st = St::default();
    let held = std::rc::Rc::new(());
    for i in 0..6 {
        let (method, body) = if i % 2 == 0 {
            (Method::GET, RequestBody::Empty)
        } else {
            (Method::POST, RequestBody::Bytes(vec![b'x'; i].into()))
        };
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}/{i}"))
            .body(body)
            .unwrap();
        let mine = held.clone();
        lp.ctx()
            .client(client)
            .unwrap()
            .send(request, move |_, st: &mut St, r| {
                let _ = &mine;
                st.done.push(r);
            })
            .unwrap();
        run_until(&mut lp, &mut st, |s| s.done.len() == i + 1);
        assert_eq!(std::rc::Rc::strong_count(&held), 1, "request {i}");
        let r = st.done[i].as_ref().unwrap();
        let want = if i % 2 == 0 {
            format!("GET /{i} 0")
        } else {
            format!("POST /{i} {i}")
        };
        assert_eq!(r.body(), want.as_str());
        assert_eq!(r.url().path(), format!("/{i}"));
    }
}

#[test]
fn responses_tell_the_connection_they_came_on() {
    let mut router: Router<St> = Router::new();
    router.exact("/", &[Method::GET], |_, st, req| {
        st.peers.extend(req.peer_addr());
        http::Response::new(Body::from("ok"))
    });
    let (mut lp, _, addr, client) = setup(router, ClientOptions::new());
    let mut st = St::default();
    send(&mut lp, client, req(Method::GET, addr, RequestBody::Empty));
    run_until(&mut lp, &mut st, |s| s.done.len() == 1);
    // The second on the same keep-alive connection, streamed: its head
    // carries the connection too.
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(
            req(Method::GET, addr, RequestBody::Empty),
            RequestOptions::new().stream_response(true),
            |_, st: &mut St, r| st.done.push(r),
        )
        .unwrap();
    run_until(&mut lp, &mut st, |s| s.done.len() == 2);
    assert_eq!(st.peers.len(), 2);
    assert_eq!(st.peers[0], st.peers[1], "one connection for both");

    let first = *st.done[0].as_ref().unwrap().connection();
    assert!(!first.is_reused());
    assert_eq!(first.peer_addr(), Some(addr));
    // The server's view of the client's end.
    assert_eq!(first.local_addr(), Some(st.peers[0]));
    let took = first
        .connect_time()
        .expect("a connect time for a new connection");
    assert!(took < Duration::from_secs(10), "{took:?}");

    let second = st.done[1].as_ref().unwrap();
    assert!(second.is_streaming());
    let second = second.connection();
    assert!(second.is_reused());
    assert_eq!(second.peer_addr(), Some(addr));
    assert_eq!(second.local_addr(), Some(st.peers[0]));
    assert_eq!(second.connect_time(), None);
}
