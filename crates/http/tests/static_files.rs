//! The `static_files` example end to end: curl for ranges (`-r`),
//! conditional requests (`-z`) and HEAD (`-I`); raw sockets for every way
//! of trying to leave the root. curl tests print SKIP without curl.

#[path = "ws_support/runner.rs"]
mod runner;
#[path = "ws_support/mod.rs"]
mod support;

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use runner::Example;
use support::{connect, read_response};

/// 2021-01-01T00:00:00Z, the mtime of the served files.
const MTIME: u64 = 1_609_459_200;
const MTIME_HTTP: &str = "Fri, 01 Jan 2021 00:00:00 GMT";
const SECRET: &str = "top secret, outside the root";

/// A root with files, a directory with an index, one without, symlinks
/// inside and out; and a secret next to the root.
struct Tree {
    base: PathBuf,
    nums: Vec<u8>,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let base = std::env::temp_dir().join(format!("evloop-static-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        let nums: Vec<u8> = (0..1000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let mtime = UNIX_EPOCH + Duration::from_secs(MTIME);
        for (name, data) in [
            ("nums.txt", &nums[..]),
            ("page.html", b"<h1>page</h1>"),
            ("blob.xyz", b"\x00\x01"),
            ("empty.txt", b""),
            ("sub/index.html", b"<p>index</p>"),
        ] {
            let path = root.join(name);
            fs::write(&path, data).unwrap();
            fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        }
        fs::write(base.join("secret.txt"), SECRET).unwrap();
        symlink(base.join("secret.txt"), root.join("escape.txt")).unwrap();
        symlink(&base, root.join("up")).unwrap();
        symlink("nums.txt", root.join("inner.txt")).unwrap();
        Tree { base, nums }
    }

    fn root(&self) -> PathBuf {
        self.base.join("root")
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

fn start(tree: &Tree) -> (Example, SocketAddr) {
    let root = tree.root();
    let ex = Example::start(
        "static_files",
        &["--root", root.to_str().unwrap(), "--addr", "127.0.0.1:0"],
    );
    let addr = ex.addr.parse().unwrap();
    (ex, addr)
}

/// One raw request; the response head (lowercased) and body.
fn raw(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut s = connect(addr);
    s.write_all(request.as_bytes()).unwrap();
    let (head, body) = read_response(&mut s);
    (head.to_ascii_lowercase(), body)
}

fn get(addr: SocketAddr, target: &str) -> (String, Vec<u8>) {
    raw(addr, &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

fn has_curl() -> bool {
    let ok = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIP: curl is not installed (apt-get install curl)");
    }
    ok
}

/// Runs curl with `args` against `url`; (head, body) as it printed them
/// (`-D` writes the head to a file of its own).
fn curl(dir: &Path, args: &[&str], url: &str) -> (String, Vec<u8>) {
    let head_file = dir.join(format!("head-{}", args.join("_").replace(['/', ' '], "")));
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "20", "-D"])
        .arg(&head_file)
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = fs::read_to_string(&head_file).unwrap().to_ascii_lowercase();
    (head, out.stdout)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        (n.trim() == name).then(|| v.trim())
    })
}

#[test]
fn whole_files_with_type_and_dates() {
    let tree = Tree::new("whole");
    let (mut ex, addr) = start(&tree);
    let (head, body) = get(addr, "/nums.txt");
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert_eq!(body, tree.nums);
    assert_eq!(
        header(&head, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        header(&head, "last-modified"),
        Some(MTIME_HTTP.to_ascii_lowercase().as_str())
    );
    assert_eq!(header(&head, "accept-ranges"), Some("bytes"));
    assert!(header(&head, "etag").is_some());
    assert_eq!(
        header(&get(addr, "/page.html").0, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        header(&get(addr, "/blob.xyz").0, "content-type"),
        Some("application/octet-stream")
    );
    let (head, body) = get(addr, "/empty.txt");
    assert!(
        head.starts_with("http/1.1 200 ") && body.is_empty(),
        "{head}"
    );
    // A symlink inside the root is followed; a query is ignored.
    assert_eq!(get(addr, "/inner.txt?x=1").1, tree.nums);
    assert!(get(addr, "/missing.txt").0.starts_with("http/1.1 404 "));
    // Only GET and HEAD.
    let (head, _) = raw(
        addr,
        "POST /nums.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(head.starts_with("http/1.1 405 "), "{head}");
    assert!(ex.stop_with("TERM").success());
}

#[test]
fn big_file_whole_and_a_range_in_the_middle() {
    let tree = Tree::new("big");
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(tree.root().join("big.bin"), &big).unwrap();
    let (mut ex, addr) = start(&tree);
    let (head, body) = get(addr, "/big.bin");
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert!(body == big, "5 MB sent whole");
    let (head, body) = raw(
        addr,
        "GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000000-3999999\r\n\r\n",
    );
    assert!(head.starts_with("http/1.1 206 "), "{head}");
    assert_eq!(
        header(&head, "content-range"),
        Some("bytes 1000000-3999999/5000000")
    );
    assert!(
        body == big[1_000_000..4_000_000],
        "the range, from its offset"
    );
    assert!(ex.stop_with("TERM").success());
}

#[test]
fn directories_are_never_listed() {
    let tree = Tree::new("dirs");
    let (mut ex, addr) = start(&tree);
    let (head, _) = get(addr, "/sub");
    assert!(head.starts_with("http/1.1 301 "), "{head}");
    assert_eq!(header(&head, "location"), Some("/sub/"));
    let (head, body) = get(addr, "/sub/");
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert_eq!(body, b"<p>index</p>");
    assert!(get(addr, "/empty/").0.starts_with("http/1.1 403 "));
    assert!(
        get(addr, "/").0.starts_with("http/1.1 403 "),
        "the root has no index"
    );
    assert!(ex.stop_with("INT").success());
}

#[test]
fn traversal_attempts_are_refused() {
    let tree = Tree::new("traversal");
    let (mut ex, addr) = start(&tree);
    let attempts: [(&str, u16); 14] = [
        ("/../secret.txt", 403),
        ("/sub/../../secret.txt", 403),
        ("/%2e%2e/secret.txt", 403),
        ("/%2E%2E/secret.txt", 403),
        ("/.%2e/secret.txt", 403),
        ("/sub/..%2f..%2fsecret.txt", 400),
        ("/..%2fsecret.txt", 400),
        ("/%2f%2e%2e%2fsecret.txt", 400),
        ("/..%5csecret.txt", 400),
        ("/nums.txt%00.html", 400),
        ("/%zz", 400),
        ("/escape.txt", 403),
        ("/up/secret.txt", 403),
        ("/sub/..", 403),
    ];
    for (target, code) in attempts {
        let (head, body) = get(addr, target);
        assert!(
            head.starts_with(&format!("http/1.1 {code} ")),
            "{target}: {head}"
        );
        assert!(!String::from_utf8_lossy(&body).contains(SECRET), "{target}");
    }
    // The absolute form too.
    let (head, body) = raw(
        addr,
        "GET http://x/../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(!head.starts_with("http/1.1 200"), "{head}");
    assert!(!String::from_utf8_lossy(&body).contains(SECRET));
    assert!(ex.stop_with("TERM").success());
}

#[test]
fn conditional_requests_raw() {
    let tree = Tree::new("cond");
    let (mut ex, addr) = start(&tree);
    let req = |extra: &str| {
        raw(
            addr,
            &format!("GET /nums.txt HTTP/1.1\r\nHost: x\r\n{extra}\r\n"),
        )
    };
    let etag = header(&req("").0, "etag").unwrap().to_string();
    let (head, body) = req(&format!("If-Modified-Since: {MTIME_HTTP}\r\n"));
    assert!(
        head.starts_with("http/1.1 304 ") && body.is_empty(),
        "{head}"
    );
    assert!(req("If-Modified-Since: Thu, 31 Dec 2020 23:59:59 GMT\r\n")
        .0
        .starts_with("http/1.1 200 "));
    // The obsolete date forms are accepted too (RFC 9110 section 5.6.7).
    assert!(req("If-Modified-Since: Friday, 01-Jan-21 00:00:00 GMT\r\n")
        .0
        .starts_with("http/1.1 304 "));
    assert!(req("If-Modified-Since: Fri Jan  1 00:00:00 2021\r\n")
        .0
        .starts_with("http/1.1 304 "));
    assert!(req("If-Modified-Since: not a date\r\n")
        .0
        .starts_with("http/1.1 200 "));
    assert!(req(&format!("If-None-Match: \"x\", {etag}\r\n"))
        .0
        .starts_with("http/1.1 304 "));
    // If-None-Match wins over If-Modified-Since.
    let both = format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {MTIME_HTTP}\r\n");
    assert!(req(&both).0.starts_with("http/1.1 200 "));
    // If-Range: the range only while the file is the same.
    let (head, body) = req(&format!("Range: bytes=0-1\r\nIf-Range: {etag}\r\n"));
    assert!(
        head.starts_with("http/1.1 206 ") && body == b"0\n",
        "{head}"
    );
    let (head, body) = req(&format!("Range: bytes=0-1\r\nIf-Range: {MTIME_HTTP}\r\n"));
    assert!(
        head.starts_with("http/1.1 206 ") && body == b"0\n",
        "{head}"
    );
    let (head, body) = req("Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n");
    assert!(
        head.starts_with("http/1.1 200 ") && body == tree.nums,
        "{head}"
    );
    assert!(ex.stop_with("TERM").success());
}

#[test]
fn curl_ranges() {
    if !has_curl() {
        return;
    }
    let tree = Tree::new("ranges");
    let (mut ex, addr) = start(&tree);
    let url = format!("http://{addr}/nums.txt");
    let len = tree.nums.len();
    for (spec, from, to) in [
        ("0-9", 0, 9),
        ("10-", 10, len - 1),
        ("-5", len - 5, len - 1),
        ("100-99999", 100, len - 1),
    ] {
        let (head, body) = curl(&tree.base, &["-r", spec], &url);
        assert!(head.starts_with("http/1.1 206 "), "{spec}: {head}");
        assert_eq!(
            header(&head, "content-range"),
            Some(format!("bytes {from}-{to}/{len}").as_str())
        );
        assert_eq!(body, &tree.nums[from..=to], "{spec}");
    }
    let (head, body) = curl(&tree.base, &["-r", "99999-"], &url);
    assert!(head.starts_with("http/1.1 416 "), "{head}");
    assert_eq!(
        header(&head, "content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    assert!(body.is_empty());
    // Several ranges: the whole file (no multipart).
    let (head, body) = curl(&tree.base, &["-r", "0-1,5-6"], &url);
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert_eq!(body, tree.nums);
    assert!(ex.stop_with("TERM").success());
}

#[test]
fn curl_if_modified_since_and_head() {
    if !has_curl() {
        return;
    }
    let tree = Tree::new("curlcond");
    let (mut ex, addr) = start(&tree);
    let url = format!("http://{addr}/nums.txt");
    // -z with the file itself: its mtime is the date sent.
    let local = tree.root().join("nums.txt");
    let (head, body) = curl(&tree.base, &["-z", local.to_str().unwrap()], &url);
    assert!(
        head.starts_with("http/1.1 304 ") && body.is_empty(),
        "{head}"
    );
    let (head, body) = curl(&tree.base, &["-z", "31 Dec 2020 12:00:00 GMT"], &url);
    assert!(
        head.starts_with("http/1.1 200 ") && body == tree.nums,
        "{head}"
    );
    let (head, body) = curl(&tree.base, &["-I"], &url);
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert_eq!(
        header(&head, "content-length"),
        Some(tree.nums.len().to_string().as_str())
    );
    assert!(
        !String::from_utf8_lossy(&body).contains("999\n"),
        "no body after the head"
    );
    // Keep-alive: two files over one connection.
    let out = Command::new("curl")
        .args([
            "-s",
            "-w",
            "%{num_connects}\\n",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
        ])
        .arg(&url)
        .arg(format!("http://{addr}/page.html"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1\n0\n",
        "the second request reuses the connection"
    );
    assert!(ex.stop_with("TERM").success());
}

#[test]
fn bad_usage() {
    let bin = runner::example_bin("static_files");
    let out = Command::new(&bin).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--root is required");
    let out = Command::new(&bin)
        .args(["--root", "/nonexistent/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn head_has_no_body_and_the_connection_goes_on() {
    let tree = Tree::new("head");
    let (mut ex, addr) = start(&tree);
    let mut s = connect(addr);
    s.write_all(
        b"HEAD /nums.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /page.html HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let head = support::read_head(&mut s).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 "), "{head}");
    assert_eq!(
        header(&head, "content-length"),
        Some(tree.nums.len().to_string().as_str())
    );
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(body, b"<h1>page</h1>", "the HEAD response carried no body");
    assert!(ex.stop_with("TERM").success());
}

#[test]
fn limit_rate_paces_a_download_and_refuses_bad_rates() {
    let tree = Tree::new("rate");
    let root = tree.root();
    // nums.txt is 3,890 bytes; at 10,000 bytes a second, in tenths of a
    // second of 1,000 bytes, it takes at least three refills.
    let mut ex = Example::start(
        "static_files",
        &[
            "--root",
            root.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--limit-rate",
            "10000",
        ],
    );
    let addr = ex.addr.parse().unwrap();
    let started = std::time::Instant::now();
    let (head, body) = get(addr, "/nums.txt");
    let took = started.elapsed();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, tree.nums);
    assert!(took >= Duration::from_millis(250), "took {took:?}");
    assert!(ex.stop_with("TERM").success());
    let bin = runner::example_bin("static_files");
    for bad in ["0", "12q", "k", "99999999999999999999"] {
        let out = Command::new(&bin)
            .args(["--root", root.to_str().unwrap(), "--limit-rate", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--limit-rate {bad}");
    }
}
