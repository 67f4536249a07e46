//! `ServerOptions::rate_limit`: every connection's responses go out at
//! most one bucket a tick (nginx's `limit_rate`), whole and in order;
//! `total_rate_limit` holds all connections together to one bucket; a
//! limit that cannot work is refused when the server is made.

mod server_util;

use std::time::{Duration, Instant};

use evloop::Loop;
use evloop_buffer::RateLimit;
use evloop_http::server::{Body, Reply, Router, ServerExt, ServerOptions};
use http::{Method, Response};
use server_util::{spawn, Reader};

const TICK: Duration = Duration::from_millis(20);
const RATE: u64 = 16 * 1024;
const SIZE: usize = 96 * 1024;

fn body() -> Vec<u8> {
    (0..SIZE).map(|i| (i % 253) as u8).collect()
}

/// Two downloads of `/big` at once from a server with `opts`: both
/// bodies arrive whole with 200; returns how long they took together.
fn two_downloads(opts: ServerOptions) -> std::time::Duration {
    let srv = spawn(opts, (), |r| {
        r.exact("/big", &[Method::GET], |_, _, _| {
            Reply::Now(Response::new(Body::from(body())))
        });
    });
    let started = Instant::now();
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let mut c = srv.connect();
            std::thread::spawn(move || {
                use std::io::Write;
                c.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let resp = Reader::new(&mut c).response(false).unwrap();
                (resp.status, resp.body)
            })
        })
        .collect();
    for c in clients {
        let (status, got) = c.join().unwrap();
        assert_eq!(status, 200);
        assert!(got == body(), "the body changed on the way");
    }
    let took = started.elapsed();
    srv.stop();
    took
}

#[test]
fn responses_go_out_one_bucket_a_tick_whole_and_in_order() {
    let limit = RateLimit::new(TICK).write(RATE, RATE);
    // Two connections at once, each held to the limit.
    let took = two_downloads(ServerOptions::new().rate_limit(Some(limit)));
    // 96 KiB (plus the head) at 16 KiB a tick: the first bucket at once,
    // then at least five refills. Only a lower bound: a slow machine may
    // take longer, never less.
    assert!(took >= TICK * 5, "took {took:?}");
}

#[test]
fn a_total_limit_is_shared_by_all_connections() {
    let limit = RateLimit::new(TICK).write(RATE, RATE);
    let took = two_downloads(ServerOptions::new().total_rate_limit(Some(limit)));
    // Both bodies, 192 KiB, through one 16 KiB bucket a tick: at least
    // ten refills (one connection alone would need five).
    assert!(took >= TICK * 10, "took {took:?}");
}

#[test]
fn a_limit_that_cannot_work_is_refused_by_new_server() {
    let mut lp: Loop<()> = Loop::new().unwrap();
    let bad = RateLimit::new(TICK).write(RATE, RATE - 1);
    let opts = ServerOptions::new().rate_limit(Some(bad));
    let err = lp.ctx().new_server(Router::new(), opts).unwrap_err();
    assert!(matches!(err, evloop::Error::InvalidArgument(_)), "{err:?}");
    let opts = ServerOptions::new().total_rate_limit(Some(bad));
    let err = lp.ctx().new_server(Router::new(), opts).unwrap_err();
    assert!(matches!(err, evloop::Error::InvalidArgument(_)), "{err:?}");
}

#[test]
fn the_total_limits_group_goes_with_the_server() {
    let mut lp: Loop<bool> = Loop::new().unwrap();
    let before = lp.ctx().watcher_count().total;
    let opts = ServerOptions::new().total_rate_limit(Some(RateLimit::new(TICK).write(RATE, RATE)));
    let mut ctx = lp.ctx();
    let id = ctx.new_server(Router::new(), opts).unwrap();
    ctx.server(id).unwrap().listen("127.0.0.1:0").unwrap();
    assert!(ctx.watcher_count().total > before);
    ctx.server(id)
        .unwrap()
        .shutdown(|_, done: &mut bool| *done = true);
    let mut done = false;
    lp.run(&mut done, evloop::RunMode::Default).unwrap();
    assert!(done);
    assert_eq!(
        lp.ctx().watcher_count().total,
        before,
        "nothing left behind"
    );
}
