//! Real clients nobody here wrote, against the server: python3's
//! http.client and curl (keep-alive, chunked upload, HEAD, 100-continue).
//! A missing tool prints a SKIP line and the test returns.

mod conformance_common;

use std::io::Write;
use std::process::{Command, Stdio};

use conformance_common::*;

/// Whether `tool --version` runs; prints a SKIP line if not.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIP: {tool} is not installed");
    }
    ok
}

/// Runs `program` with `args`, `stdin` on its standard input; returns
/// (stdout, stderr), panicking if it fails.
fn run(program: &str, args: &[&str], stdin: &[u8]) -> (String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {stdout}\n{stderr}"
    );
    (stdout, stderr)
}

const PYTHON_CLIENT: &str = r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
# Keep-alive: three requests on one connection.
for path in ("/one", "/two?x=1"):
    c.request("GET", path)
    r = c.getresponse()
    print(r.status, r.getheader("Content-Type"), r.read().decode().splitlines()[0])
sock = c.sock
# A chunked upload from an iterable.
c.request("POST", "/up", body=iter([b"abc", b"defg", b""]), encode_chunked=True,
          headers={"Transfer-Encoding": "chunked"})
r = c.getresponse()
print(r.status, r.read().decode().splitlines()[1])
# HEAD: no body, the connection stays usable.
c.request("HEAD", "/h")
r = c.getresponse()
print(r.status, repr(r.read()))
c.request("PUT", "/p", body=b"0123456789")
r = c.getresponse()
print(r.status, r.read().decode().splitlines()[1])
print("same socket", c.sock is sock)
"#;

#[test]
fn python_http_client() {
    if !have("python3") {
        return;
    }
    let s = TestServer::start();
    let port = s.addr.port().to_string();
    let (out, _) = run("python3", &["-c", PYTHON_CLIENT, &port], b"");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "200 text/plain; charset=utf-8 GET /one HTTP/1.1",
            "200 text/plain; charset=utf-8 GET /two?x=1 HTTP/1.1",
            "200 body=7:abcdefg",
            "200 b''",
            "200 body=10:0123456789",
            "same socket True",
        ],
        "{out}"
    );
}

#[test]
fn curl_keep_alive() {
    if !have("curl") {
        return;
    }
    let s = TestServer::start();
    let a = format!("http://{}/a", s.addr);
    let b = format!("http://{}/b", s.addr);
    let (out, err) = run("curl", &["-sv", "--max-time", "10", &a, &b], b"");
    assert!(
        out.contains("GET /a HTTP/1.1") && out.contains("GET /b HTTP/1.1"),
        "{out}"
    );
    assert!(err.contains("Re-using existing connection"), "{err}");
    assert!(err.contains("left intact"), "{err}");
}

#[test]
fn curl_chunked_upload_from_stdin() {
    if !have("curl") {
        return;
    }
    let s = TestServer::start();
    let url = format!("http://{}/upload", s.addr);
    let data: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (out, err) = run("curl", &["-sv", "--max-time", "10", "-T", "-", &url], &data);
    assert!(err.contains("Transfer-Encoding: chunked"), "{err}");
    assert!(
        out.starts_with("PUT /upload HTTP/1.1\nbody=100000:abcdefghijklmnopqrstuvwxyzabc"),
        "{}",
        &out[..80.min(out.len())]
    );
}

#[test]
fn curl_head() {
    if !have("curl") {
        return;
    }
    let s = TestServer::start();
    let url = format!("http://{}/h", s.addr);
    let (out, _) = run("curl", &["-sI", "--max-time", "10", &url], b"");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("content-length:"),
        "{out}"
    );
    assert!(
        out.ends_with("\r\n\r\n"),
        "a HEAD response has no body: {out:?}"
    );
}

#[test]
fn curl_expect_100_continue() {
    if !have("curl") {
        return;
    }
    let s = TestServer::start();
    let url = format!("http://{}/c", s.addr);
    let (out, err) = run(
        "curl",
        &[
            "-sv",
            "--max-time",
            "10",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            "@-",
            &url,
        ],
        b"payload",
    );
    assert!(err.contains("HTTP/1.1 100 Continue"), "{err}");
    assert!(out.contains("body=7:payload"), "{out}");
}
