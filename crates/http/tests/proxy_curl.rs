//! curl through the proxy to servers nobody here wrote (nginx) and to
//! this crate's own (the hello_server example). Each test prints SKIP and
//! passes when curl or nginx is missing (CI installs them).

mod proxy_util;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use proxy_util::{example, free_port, listening_addr, listening_line, tool, Proxy};

fn curl(curl: &Path, args: &[&str]) -> Output {
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A child process stopped when dropped: SIGTERM first (an nginx master
/// stops its workers then; SIGKILL would leave them running), SIGKILL if
/// it is still there after 5 s.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..500 {
            if self.0.try_wait().is_ok_and(|s| s.is_some()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn curl_through_the_proxy_to_the_crates_own_server() {
    let Some(curl_bin) = tool("curl", "--version") else {
        return;
    };
    let mut hello = Kid(Command::new(example("hello_server"))
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap());
    let addr = listening_addr(&listening_line(&mut hello.0));
    let proxy = Proxy::start(&[&addr], &[]);
    let url = format!("http://{}/", proxy.addr);

    let out = curl(&curl_bin, &["-i", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("\r\nvia: 1.1 evloop-proxy\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nHello, World!"), "{text}");

    // An upload (POST / reads the body, then answers) and a 404.
    let out = curl(&curl_bin, &["-d", "some=data", &url]);
    assert_eq!(out.stdout, b"Hello, World!");
    let out = curl(
        &curl_bin,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{url}nope"),
        ],
    );
    assert_eq!(out.stdout, b"404");
}

#[test]
fn curl_through_the_proxy_to_the_crates_own_server_on_a_unix_socket() {
    let Some(curl_bin) = tool("curl", "--version") else {
        return;
    };
    let path = std::env::temp_dir().join(format!("evloop-proxy-up-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix = format!("unix:{}", path.display());
    let mut hello = Kid(Command::new(example("hello_server"))
        .args(["--addr", &unix])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap());
    listening_line(&mut hello.0);
    let proxy = Proxy::start(&[&unix], &[]);
    let out = curl(&curl_bin, &["-i", &format!("http://{}/", proxy.addr)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nHello, World!"), "{text}");
    drop(proxy);
    drop(hello);
    let _ = std::fs::remove_file(&path);
}

/// nginx serving `dir` on a free port, from a prefix inside `dir`.
fn nginx(nginx: &Path, dir: &Path) -> (Kid, String) {
    let port = free_port();
    let root = dir.join("www");
    let conf = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {d}/tmp;\n\
         if_modified_since before;\n\
         server {{ listen 127.0.0.1:{port}; root {r}; }} }}\n",
        d = dir.display(),
        r = root.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let kid = Kid(Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .args(["-g", "daemon off;"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..200 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return (kid, addr);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("nginx did not start (see {}/error.log)", dir.display());
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("evloop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("www")).unwrap();
    std::fs::create_dir_all(d.join("tmp")).unwrap();
    d
}

#[test]
fn curl_through_the_proxy_to_nginx() {
    let (Some(curl_bin), Some(nginx_bin)) = (tool("curl", "--version"), tool("nginx", "-v")) else {
        return;
    };
    let dir = temp_dir("proxy-nginx");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join("www/data.bin"), &data).unwrap();
    std::fs::write(dir.join("www/index.html"), "<p>hi</p>\n").unwrap();
    let (_nginx, addr) = nginx(&nginx_bin, &dir);
    let proxy = Proxy::start(&[&addr], &[]);
    let base = format!("http://{}", proxy.addr);

    // A 1 MB file, byte-exact.
    let out = curl(&curl_bin, &[&format!("{base}/data.bin")]);
    assert!(
        out.stdout == data,
        "the body differs ({} bytes)",
        out.stdout.len()
    );

    // A range: nginx's 206 and Content-Range come through.
    let out = curl(
        &curl_bin,
        &["-i", "-r", "1000-1099", &format!("{base}/data.bin")],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with("HTTP/1.1 206"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-range: bytes 1000-1099/1000000"),
        "{text}"
    );
    assert!(out.stdout.ends_with(&data[1000..1100]));

    // HEAD keeps the length of what GET would send.
    let out = curl(&curl_bin, &["-I", &format!("{base}/data.bin")]);
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(text.contains("content-length: 1000000"), "{text}");

    // Two requests on one connection, and nginx's 404 passed on.
    let out = Command::new(&curl_bin)
        .args([
            "-sv",
            "--max-time",
            "20",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
        ])
        .arg(format!("{base}/index.html"))
        .arg(format!("{base}/missing"))
        .args(["-w", "%{http_code} "])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 404 ");
    assert!(err.contains("Re-using existing connection"), "{err}");

    // A conditional request: nginx's 304 comes back without a body.
    let out = curl(
        &curl_bin,
        &[
            "-i",
            "-H",
            "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT",
            &format!("{base}/index.html"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 304"), "{text}");
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}
