//! Real clients nobody here wrote: curl (keep-alive with two URLs, chunked
//! upload from stdin, 100-continue, HEAD) and python3's http.client. Each
//! test prints SKIP and passes when its tool is missing.

mod server_util;

use std::io::Write;
use std::process::{Command, Stdio};

use evloop_http::server::{Body, BodyChunk, Reply, ServerOptions};
use http::{Method, Response};
use server_util::{have, spawn, TestServer};

fn server() -> TestServer<()> {
    spawn(ServerOptions::new(), (), |r| {
        r.exact("/", &[Method::GET], |_, _, _| {
            Response::new(Body::from("Hello, World!"))
        });
        r.exact("/two", &[Method::GET], |_, _, _| {
            Response::new(Body::from("second"))
        });
        r.exact("/upload", &[Method::PUT, Method::POST], |ctx, _, req| {
            if !req.has_body() {
                return Reply::Now(Response::new(Body::from("0")));
            }
            let mut n = 0usize;
            let mut sum = 0u64;
            req.responder()
                .read_body(ctx, move |ctx, _, r, chunk| match chunk {
                    BodyChunk::Data(b) => {
                        n += b.len();
                        sum += b.iter().map(|&x| u64::from(x)).sum::<u64>();
                    }
                    BodyChunk::End(_) => {
                        let text = format!("{n} {sum}");
                        r.respond(ctx, Response::new(Body::from(text))).unwrap();
                    }
                    BodyChunk::Aborted => {}
                })
                .unwrap();
            Reply::Later
        })
        .stream_body();
    })
}

fn curl(args: &[&str], stdin: Option<&[u8]>) -> (String, String) {
    let mut child = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        input.write_all(data).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_keeps_the_connection_alive_across_two_urls() {
    if !have("curl") {
        return;
    }
    let srv = server();
    let base = format!("http://{}", srv.addr);
    let (out, err) = curl(&["-v", &format!("{base}/"), &format!("{base}/two")], None);
    assert_eq!(out, "Hello, World!second");
    assert!(err.contains("Re-using existing connection"), "{err}");
    assert!(err.contains("left intact"));
}

#[test]
fn curl_uploads_chunked_from_stdin() {
    if !have("curl") {
        return;
    }
    let srv = server();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 200) as u8).collect();
    let sum: u64 = data.iter().map(|&x| u64::from(x)).sum();
    let url = format!("http://{}/upload", srv.addr);
    let (out, err) = curl(&["-v", "-T", "-", &url], Some(&data));
    assert!(
        err.to_lowercase().contains("transfer-encoding: chunked"),
        "{err}"
    );
    assert_eq!(out, format!("{} {sum}", data.len()));
}

#[test]
fn curl_waits_for_100_continue_and_gets_it() {
    if !have("curl") {
        return;
    }
    let srv = server();
    let data = vec![b'x'; 2_000_000];
    let path = std::env::temp_dir().join(format!("evloop-http-curl-{}", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let url = format!("http://{}/upload", srv.addr);
    // A long expect timeout: the upload must not start on curl's timer.
    let (out, err) = curl(
        &[
            "-v",
            "--expect100-timeout",
            "15",
            "--data-binary",
            &format!("@{}", path.display()),
            &url,
        ],
        None,
    );
    let _ = std::fs::remove_file(path);
    assert!(err.contains("HTTP/1.1 100 Continue"), "{err}");
    assert_eq!(out, format!("{} {}", data.len(), 120 * data.len()));
}

#[test]
fn curl_head_gets_the_length_and_no_body() {
    if !have("curl") {
        return;
    }
    let srv = server();
    let (out, _) = curl(&["-I", &format!("http://{}/", srv.addr)], None);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(
        out.to_lowercase().contains("content-length: 13\r\n"),
        "{out}"
    );
    assert!(!out.contains("Hello"));
}

#[test]
fn python_http_client_keep_alive_post_and_chunked() {
    if !have("python3") {
        return;
    }
    let srv = server();
    let script = format!(
        r#"
import http.client
c = http.client.HTTPConnection("127.0.0.1", {port}, timeout=10)
c.request("GET", "/")
r = c.getresponse(); assert r.status == 200, r.status; assert r.read() == b"Hello, World!"
c.request("POST", "/upload", body=b"abc")
r = c.getresponse(); body = r.read(); assert body == b"3 294", body
def gen():
    yield b"ab"
    yield b"cd"
c.request("PUT", "/upload", body=gen(), encode_chunked=True)
r = c.getresponse(); body = r.read(); assert body == b"4 394", body
c.request("HEAD", "/")
r = c.getresponse(); assert r.getheader("content-length") == "13"; assert r.read() == b""
c.request("GET", "/two")
r = c.getresponse(); assert r.read() == b"second"
print("ok")
"#,
        port = srv.addr.port()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
