//! The client against this crate's server: streamed bodies both ways with
//! back-pressure, file bodies, trailers, 100-continue, upgrade.

mod client_util;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use client_util::{run_until, setup};
use evloop::Loop;
use evloop_buffer::StreamExt;
use evloop_http::client::{
    ClientError, ClientExt, ClientId, ClientOptions, RequestBody, RequestOptions, Response,
    ResponseChunk,
};
use evloop_http::server::{Body, BodyChunk, Reply, Router};
use http::{HeaderMap, Method, Request, StatusCode};

#[derive(Default)]
struct St {
    done: Vec<Result<Response, ClientError>>,
    got: usize,
    ended: bool,
    trailers: HeaderMap,
    max_buffered: usize,
    sent: usize,
    paused: bool,
    data_while_paused: bool,
    pauses: usize,
    upgraded: Vec<u8>,
    produced: usize,
    head: Option<evloop_http::client::RequestId>,
}

const PIECE: usize = 16 * 1024;

/// Sends `req` with `opts` and runs the loop until it is done: the
/// result is `done[0]` of the state returned.
fn exchange(
    lp: &mut Loop<St>,
    client: ClientId,
    req: Request<RequestBody>,
    opts: RequestOptions,
) -> St {
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(req, opts, |_, st: &mut St, r| st.done.push(r))
        .unwrap();
    let mut st = St::default();
    run_until(lp, &mut st, |s| !s.done.is_empty());
    st
}

fn router() -> Router<St> {
    let mut r: Router<St> = Router::new();
    // Counts a streamed upload, and answers with its length and trailer.
    r.exact("/count", &[Method::POST, Method::PUT], |ctx, _, req| {
        let mut total = 0usize;
        req.responder()
            .read_body(ctx, move |ctx, _, r, chunk| match chunk {
                BodyChunk::Data(b) => total += b.len(),
                BodyChunk::End(trailers) => {
                    let sum = trailers
                        .get("x-sum")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    let resp = http::Response::builder()
                        .header("x-sum", sum)
                        .body(Body::from(total.to_string()))
                        .unwrap();
                    let _ = r.respond(ctx, resp);
                }
                BodyChunk::Aborted => {}
            })
            .unwrap();
        Reply::Later
    })
    .stream_body();
    // Streams `n` KiB, chunked, with a trailer.
    r.exact("/download", &[Method::GET], |ctx, _, req| {
        let n: usize = req.query().unwrap_or("1024").parse().unwrap();
        let r = req.responder();
        r.stream(ctx, http::Response::new(())).unwrap();
        let mut left = n;
        r.on_drain(ctx, move |ctx, st: &mut St, r| {
            while left > 0 && r.buffered(ctx) < 128 * 1024 {
                r.send(ctx, Bytes::from(vec![b'x'; 1024])).unwrap();
                left -= 1;
                st.produced += 1024;
            }
            if left == 0 {
                let mut t = HeaderMap::new();
                t.insert("x-sum", "done".parse().unwrap());
                let _ = r.finish_with_trailers(ctx, &t);
            }
        })
        .unwrap();
        Reply::Later
    });
    r.exact("/echo", &[Method::POST, Method::PUT], |_, _, mut req| {
        http::Response::new(Body::from(req.take_body()))
    })
    .max_body(Some(1024 * 1024));
    r.exact("/small", &[Method::POST], |_, _, mut req| {
        http::Response::new(Body::from(req.take_body()))
    })
    .max_body(Some(4));
    r.fallback(|ctx, _, req| {
        if req.method() != Method::CONNECT {
            return Reply::Now(
                http::Response::builder()
                    .status(404)
                    .body(Body::empty())
                    .unwrap(),
            );
        }
        assert_eq!(
            req.uri().authority().unwrap().as_str(),
            "tunnel.example:443"
        );
        let head = http::Response::builder().status(200).body(()).unwrap();
        let id = req.responder().upgrade(ctx, head).unwrap();
        ctx.stream(id).unwrap().on_read(|ctx, _, id| {
            let mut s = ctx.stream(id).unwrap();
            let b = s.input().split_to(usize::MAX);
            s.write_bytes(b);
        });
        Reply::Later
    });
    r.exact("/up", &[Method::GET], |ctx, _, req| {
        let head = http::Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("upgrade", "echo")
            .header("connection", "upgrade")
            .body(())
            .unwrap();
        let id = req.responder().upgrade(ctx, head).unwrap();
        let mut s = ctx.stream(id).unwrap();
        s.write(b"early");
        s.on_read(|ctx, _, id| {
            let mut s = ctx.stream(id).unwrap();
            let b = s.input().split_to(usize::MAX);
            s.write_bytes(b);
        });
        Reply::Later
    });
    r
}

#[test]
fn streamed_upload_with_back_pressure_and_trailers() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let mut ctx = lp.ctx();
    let req = Request::post(format!("http://{addr}/count"))
        .body(RequestBody::Stream)
        .unwrap();
    let id = ctx
        .client(client)
        .unwrap()
        .send(req, |_, st: &mut St, r| st.done.push(r))
        .unwrap();
    const TOTAL: usize = 4 * 1024 * 1024;
    id.on_drain(&mut ctx, |ctx, st: &mut St, id| {
        while st.sent < TOTAL && id.buffered(ctx) < 256 * 1024 {
            id.send_body(ctx, Bytes::from(vec![7u8; PIECE])).unwrap();
            st.sent += PIECE;
            st.max_buffered = st.max_buffered.max(id.buffered(ctx));
        }
        if st.sent == TOTAL {
            let mut t = HeaderMap::new();
            t.insert("x-sum", "4MiB".parse().unwrap());
            id.finish_body(ctx, t).unwrap();
        }
    })
    .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    let r = st.done.pop().unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body(), &Bytes::from(TOTAL.to_string()));
    assert_eq!(r.headers()["x-sum"], "4MiB");
    assert!(st.max_buffered <= 256 * 1024 + PIECE, "{}", st.max_buffered);
    assert!(!id.is_pending(&mut lp.ctx()));
    assert_eq!(
        id.send_body(&mut lp.ctx(), "late").unwrap_err().to_string(),
        ClientError::Stale.to_string()
    );
}

#[test]
fn streamed_upload_with_content_length() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let mut ctx = lp.ctx();
    let req = Request::put(format!("http://{addr}/count"))
        .header("content-length", "10")
        .body(RequestBody::Stream)
        .unwrap();
    let id = ctx
        .client(client)
        .unwrap()
        .send(req, |_, st: &mut St, r| st.done.push(r))
        .unwrap();
    id.send_body(&mut ctx, "hello").unwrap();
    assert!(matches!(
        id.send_body(&mut ctx, "too much!"),
        Err(ClientError::InvalidRequest(_))
    ));
    id.send_body(&mut ctx, "world").unwrap();
    id.finish_body(&mut ctx, HeaderMap::new()).unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| !s.done.is_empty());
    assert_eq!(st.done[0].as_ref().unwrap().body(), "10");
}

#[test]
fn streamed_download_with_pause_and_resume() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let req = Request::get(format!("http://{addr}/download?2048"))
        .body(RequestBody::Empty)
        .unwrap();
    let opts = RequestOptions::new().stream_response(true);
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(req, opts, |ctx, _, r| {
            let r = r.unwrap();
            assert!(r.is_streaming());
            assert!(r.body().is_empty());
            r.request_id()
                .read_body(ctx, |ctx, st: &mut St, id, chunk| match chunk {
                    ResponseChunk::Data(b) => {
                        if st.paused {
                            st.data_while_paused = true;
                        }
                        st.got += b.len();
                        // Pause every 512 KiB for 20 ms.
                        if st.got / (512 * 1024) > st.pauses {
                            st.pauses += 1;
                            st.paused = true;
                            id.pause_body(ctx).unwrap();
                            ctx.once_timer(
                                Duration::from_millis(20),
                                move |ctx, st: &mut St, _| {
                                    st.paused = false;
                                    id.resume_body(ctx).unwrap();
                                },
                            )
                            .unwrap();
                        }
                    }
                    ResponseChunk::End(t) => {
                        st.ended = true;
                        st.trailers = t;
                    }
                    ResponseChunk::Error(e) => panic!("{e}"),
                })
                .unwrap();
        })
        .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.ended);
    assert_eq!(st.got, 2048 * 1024);
    assert!(st.pauses >= 3);
    assert!(!st.data_while_paused);
    assert_eq!(st.trailers["x-sum"], "done");
    // The connection went back to the pool once the body was read.
    assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 1);
}

#[test]
fn buffered_download_keeps_trailers_and_limit() {
    let (mut lp, _, addr, client) = setup(
        router(),
        ClientOptions::new().limits(evloop_http::proto::Limits::new().with_max_body(100 * 1024)),
    );
    let mut ctx = lp.ctx();
    let mut c = ctx.client(client).unwrap();
    for q in ["64", "200"] {
        let req = Request::get(format!("http://{addr}/download?{q}"))
            .body(RequestBody::Empty)
            .unwrap();
        c.send(req, |_, st: &mut St, r| st.done.push(r)).unwrap();
    }
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.done.len() == 2);
    let (ok, big): (Vec<_>, Vec<_>) = st.done.into_iter().partition(|r| r.is_ok());
    let ok = ok[0].as_ref().unwrap();
    assert_eq!(ok.body().len(), 64 * 1024);
    assert_eq!(ok.trailers()["x-sum"], "done");
    assert!(matches!(big[0], Err(ClientError::BodyTooLarge)));
}

#[test]
fn file_body_is_sent() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let path = std::env::temp_dir().join(format!("evloop-client-file-{}", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    f.write_all(&content).unwrap();
    drop(f);
    let file = Arc::new(std::fs::File::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    let req = Request::post(format!("http://{addr}/echo"))
        .body(RequestBody::File {
            file,
            offset: 1000,
            len: 150_000,
        })
        .unwrap();
    let st = exchange(&mut lp, client, req, RequestOptions::new());
    let r = st.done[0].as_ref().unwrap();
    assert_eq!(r.body().as_ref(), &content[1000..151_000]);
}

#[test]
fn expect_continue_accepted() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let req = Request::post(format!("http://{addr}/echo"))
        .body(RequestBody::from("held until 100"))
        .unwrap();
    let st = exchange(
        &mut lp,
        client,
        req,
        RequestOptions::new().expect_continue(true),
    );
    let r = st.done[0].as_ref().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.body(), "held until 100");
    assert_eq!(r.informational().len(), 1);
    assert_eq!(r.informational()[0].status, StatusCode::CONTINUE);
}

#[test]
fn expect_continue_refused() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let req = Request::post(format!("http://{addr}/small"))
        .header("expect", "100-continue")
        .body(RequestBody::from("far too long for the route"))
        .unwrap();
    let st = exchange(&mut lp, client, req, RequestOptions::new());
    let r = st.done[0].as_ref().unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.informational().is_empty());
    // The body was never sent: the connection is not kept.
    assert_eq!(lp.ctx().client(client).unwrap().idle_count(), 0);
}

#[test]
fn upgrade_hands_over_the_stream() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    let req = Request::get(format!("http://{addr}/up"))
        .header("upgrade", "echo")
        .body(RequestBody::Empty)
        .unwrap();
    lp.ctx()
        .client(client)
        .unwrap()
        .send(req, |ctx, st: &mut St, r| {
            let mut r = r.unwrap();
            assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
            let sid = r.take_upgrade().unwrap();
            let mut s = ctx.stream(sid).unwrap();
            st.upgraded
                .extend_from_slice(&s.input().split_to(usize::MAX));
            s.write(b"+ping");
            s.on_read(|ctx, st: &mut St, sid| {
                let mut s = ctx.stream(sid).unwrap();
                st.upgraded
                    .extend_from_slice(&s.input().split_to(usize::MAX));
                if st.upgraded.ends_with(b"+ping") {
                    s.close();
                }
            });
        })
        .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.upgraded.ends_with(b"+ping"));
    assert_eq!(st.upgraded, b"early+ping");
    assert_eq!(lp.ctx().client(client).unwrap().connection_count(), 0);
}

#[test]
fn connect_opens_a_tunnel() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    // The server at `addr` plays a proxy: the tunnel's target is only named.
    let req = Request::connect("tunnel.example:443")
        .body(RequestBody::Empty)
        .unwrap();
    let opts = RequestOptions::new().connect_to(addr.ip().to_string(), addr.port());
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(req, opts, move |ctx, _, r| {
            let mut r = r.unwrap();
            assert_eq!(r.status(), 200);
            // The address connected to, not the tunnel's target.
            assert_eq!(r.connection().peer_addr(), Some(addr));
            let sid = r.take_upgrade().unwrap();
            let mut s = ctx.stream(sid).unwrap();
            s.write(b"through the tunnel");
            s.on_read(|ctx, st: &mut St, sid| {
                let mut s = ctx.stream(sid).unwrap();
                st.upgraded
                    .extend_from_slice(&s.input().split_to(usize::MAX));
            });
        })
        .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.upgraded.len() == 18);
    assert_eq!(st.upgraded, b"through the tunnel");
}

#[test]
fn an_unread_streamed_body_holds_the_server_back() {
    let (mut lp, _, addr, client) = setup(router(), ClientOptions::new());
    const KIB: usize = 32 * 1024;
    let req = Request::get(format!("http://{addr}/download?{KIB}"))
        .body(RequestBody::Empty)
        .unwrap();
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(
            req,
            RequestOptions::new().stream_response(true),
            |_, st: &mut St, r| {
                st.head = Some(r.unwrap().request_id());
            },
        )
        .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.head.is_some());
    client_util::run_for(&mut lp, &mut st, Duration::from_millis(200));
    // Socket buffers hold a few MiB at most: the producer was stopped.
    assert!(st.produced < KIB * 1024 / 2, "{}", st.produced);
    let id = st.head.unwrap();
    id.read_body(&mut lp.ctx(), |_, st: &mut St, _, chunk| match chunk {
        ResponseChunk::Data(b) => st.got += b.len(),
        ResponseChunk::End(_) => st.ended = true,
        ResponseChunk::Error(e) => panic!("{e}"),
    })
    .unwrap();
    run_until(&mut lp, &mut st, |s| s.ended);
    assert_eq!(st.got, KIB * 1024);
}
