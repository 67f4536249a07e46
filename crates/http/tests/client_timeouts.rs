//! Deadlines: response head, body stall, whole request, and the
//! `100 Continue` wait.

mod client_util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use client_util::{client_loop, put, read_head, run_until, scripted};
use evloop_http::client::{
    ClientError, ClientExt, ClientOptions, RequestBody, RequestOptions, Response, TimeoutKind,
};
use http::Request;

type Done = Vec<(Result<Response, ClientError>, Instant)>;

fn get(addr: SocketAddr) -> Request<RequestBody> {
    Request::get(format!("http://{addr}/"))
        .body(RequestBody::Empty)
        .unwrap()
}

fn run_one(
    opts: ClientOptions,
    ropts: RequestOptions,
    req: Request<RequestBody>,
) -> (Result<Response, ClientError>, Duration) {
    let (mut lp, client) = client_loop::<Done>(opts);
    let start = Instant::now();
    lp.ctx()
        .client(client)
        .unwrap()
        .send_with(req, ropts, |_, d: &mut Done, r| d.push((r, Instant::now())))
        .unwrap();
    let mut done = Done::new();
    run_until(&mut lp, &mut done, |d| !d.is_empty());
    let (r, at) = done.pop().unwrap();
    (r, at - start)
}

const T: Duration = Duration::from_millis(150);

#[test]
fn head_timeout() {
    let (addr, _s) = scripted(1, |_, mut c| {
        read_head(&mut c);
        std::thread::sleep(Duration::from_secs(2));
    });
    let (r, took) = run_one(
        ClientOptions::new().head_timeout(Some(T)),
        RequestOptions::new(),
        get(addr),
    );
    assert!(
        matches!(r, Err(ClientError::Timeout(TimeoutKind::Head))),
        "{r:?}"
    );
    assert!(took >= T && took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn body_timeout() {
    let (addr, _s) = scripted(1, |_, mut c| {
        read_head(&mut c);
        put(&mut c, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
        std::thread::sleep(Duration::from_millis(100));
        put(&mut c, b"cd");
        std::thread::sleep(Duration::from_secs(2));
    });
    let (r, took) = run_one(
        ClientOptions::new().body_timeout(Some(T)),
        RequestOptions::new(),
        get(addr),
    );
    assert!(
        matches!(r, Err(ClientError::Timeout(TimeoutKind::Body))),
        "{r:?}"
    );
    // The stall counts from the last byte.
    assert!(took >= T + Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn whole_request_timeout() {
    let (addr, _s) = scripted(1, |_, mut c| {
        read_head(&mut c);
        put(&mut c, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
        // A byte every 30 ms: never a stall, but too slow overall.
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(30));
            put(&mut c, b"x");
        }
    });
    let (r, took) = run_one(
        ClientOptions::new(),
        RequestOptions::new().timeout(Some(Duration::from_millis(300))),
        get(addr),
    );
    assert!(
        matches!(r, Err(ClientError::Timeout(TimeoutKind::Request))),
        "{r:?}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn expect_continue_wait_ends_and_the_body_goes() {
    // A server that never sends 100 but answers once the body is there.
    let (addr, _s) = scripted(1, |_, mut c| {
        let head = read_head(&mut c);
        assert!(head.to_ascii_lowercase().contains("expect: 100-continue"));
        let mut body = [0u8; 4];
        std::io::Read::read_exact(&mut c, &mut body).unwrap();
        assert_eq!(&body, b"data");
        put(&mut c, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    let req = Request::post(format!("http://{addr}/"))
        .body(RequestBody::from("data"))
        .unwrap();
    let (r, took) = run_one(
        ClientOptions::new().expect_continue_timeout(T),
        RequestOptions::new().expect_continue(true),
        req,
    );
    assert_eq!(r.unwrap().body(), "ok");
    assert!(took >= T, "{took:?}");
}

#[test]
fn connect_timeout() {
    // A listener that never accepts, its queue filled: further connects
    // get no answer (their SYNs are dropped).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut held = Vec::new();
    let full = (0..4096).any(|_| {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(20)) {
            Ok(s) => {
                held.push(s);
                false
            }
            Err(_) => true,
        }
    });
    if !full {
        println!("SKIP: the listen queue never filled up");
        return;
    }
    let (r, took) = run_one(
        ClientOptions::new().connect_timeout(Some(T)),
        RequestOptions::new(),
        get(addr),
    );
    assert!(
        matches!(r, Err(ClientError::Timeout(TimeoutKind::Connect))),
        "{r:?}"
    );
    assert!(took >= T && took < Duration::from_secs(5), "{took:?}");
    drop(l);
}
