//! A static file server:
//!
//! ```text
//! static_files --root DIR [--addr IP:PORT|unix:PATH] [--limit-rate BYTES]
//! ```
//!
//! `--addr` defaults to 127.0.0.1:8080. `--limit-rate` caps each
//! connection's responses at BYTES a second (a `k` or `m` suffix for
//! KiB and MiB), as nginx's `limit_rate` and curl's `--limit-rate`.
//!
//! * `GET` and `HEAD` of the files under `DIR`; other methods get 405.
//!   Bodies are sent with `sendfile` (the server's file bodies).
//! * `Content-Type` by extension, `Last-Modified`, `ETag`
//!   (`"SIZE-MTIME"` in hex), `Accept-Ranges: bytes`.
//! * Conditional requests: `If-None-Match` (it wins when present), else
//!   `If-Modified-Since`: `304 Not Modified` when the file did not change.
//! * `Range`: one range, `bytes=a-b`, `bytes=a-` or `bytes=-n`, gets
//!   `206` with `Content-Range`; a range past the end gets `416` with
//!   `Content-Range: bytes */LEN`; **several ranges get the whole file
//!   (`200`)**, not multipart/byteranges. `If-Range` (an ETag or the
//!   exact `Last-Modified` date) is honoured.
//! * Directories are never listed: `/dir` redirects (301) to `/dir/`,
//!   which serves `/dir/index.html` if there is one and is `403`
//!   otherwise.
//! * Paths that try to leave `DIR` are refused: a `..` segment, plain or
//!   percent-encoded (`%2e%2e`), `403`; an encoded `/` or `\` (`%2f`,
//!   `%5c`), a NUL (`%00`) or broken percent-encoding, `400`; a path
//!   whose canonical form (symlinks resolved) is not under `DIR`, `403`.
//!
//! It prints `static_files: listening on ADDR` and runs until SIGINT or
//! SIGTERM, then exits with status 0. Try `curl -i
//! http://127.0.0.1:8080/`, `curl -r 0-99`, `curl -z FILE`, `curl -I`.

mod mime;
mod path;
mod range;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use evloop::{signum, Break, Loop, RunMode};
use evloop_buffer::RateLimit;
use evloop_http::server::{Body, Request, Router, ServerExt, ServerOptions};
use http::header::{
    ACCEPT_RANGES, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE,
    LAST_MODIFIED, LOCATION, RANGE,
};
use http::{HeaderValue, Method, Response, StatusCode};

use path::Refusal;
use range::Ranged;

const USAGE: &str =
    "usage: static_files --root DIR [--addr IP:PORT|unix:PATH] [--limit-rate BYTES[k|m]]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut root = None;
    let mut addr = "127.0.0.1:8080".to_string();
    let mut limit = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--limit-rate" => {
                let Some(v) = args.next() else {
                    return usage("--limit-rate needs a value");
                };
                match rate_limit(&v) {
                    Some(l) => limit = Some(l),
                    None => return usage(&format!("bad --limit-rate {v:?}")),
                }
            }
            "--root" | "--addr" => {
                let Some(v) = args.next() else {
                    return usage(&format!("{arg} needs a value"));
                };
                if arg == "--root" {
                    root = Some(PathBuf::from(v));
                } else {
                    addr = v;
                }
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let Some(root) = root else {
        return usage("--root is required");
    };
    let root = match root.canonicalize() {
        Ok(r) if r.is_dir() => r,
        Ok(r) => return usage(&format!("{} is not a directory", r.display())),
        Err(e) => return usage(&format!("{}: {e}", root.display())),
    };
    match serve(root, &addr, limit) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("static_files: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("static_files: {msg}\n{USAGE}");
    ExitCode::from(2)
}

/// `BYTES[k|m]` a second as a rate limit on responses.
fn rate_limit(text: &str) -> Option<RateLimit> {
    let (digits, unit) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 1024),
        (i, 'm' | 'M') => (&text[..i], 1024 * 1024),
        _ => (text, 1),
    };
    let per_second = digits.parse::<u64>().ok()?.checked_mul(unit)?;
    if per_second == 0 {
        return None;
    }
    Some(RateLimit::per_second(None, Some(per_second)))
}

fn serve(
    root: PathBuf,
    addr: &str,
    limit: Option<RateLimit>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut router: Router<()> = Router::new();
    router.prefix("/", &[Method::GET, Method::HEAD], move |_, _, req| {
        answer(&root, &req)
    });
    let mut lp: Loop<()> = Loop::new()?;
    let mut ctx = lp.ctx();
    let server = ctx.new_server(router, ServerOptions::new().rate_limit(limit))?;
    let local = ctx
        .server(server)?
        .listen(addr)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    for signal in [signum::SIGINT, signum::SIGTERM] {
        let sid = ctx.new_signal(signal, |ctx, _, _, _| ctx.break_loop(Break::All))?;
        let mut w = ctx.signal(sid)?;
        w.set_keepalive(false);
        w.start()?;
    }
    println!("static_files: listening on {local}");
    lp.run(&mut (), RunMode::Default)?;
    if let evloop_buffer::ListenAddr::Unix(path) = local {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn status(code: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("{text}\n")));
    *r.status_mut() = code;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn answer(root: &Path, req: &Request) -> Response<Body> {
    let file_path = match path::resolve(root, req.path()) {
        Ok(p) => p,
        Err(Refusal::BadRequest(why)) => return status(StatusCode::BAD_REQUEST, why),
        Err(Refusal::Forbidden(why)) => return status(StatusCode::FORBIDDEN, why),
        Err(Refusal::NotFound) => return status(StatusCode::NOT_FOUND, "not found"),
    };
    let file_path = if file_path.is_dir() {
        if !req.path().ends_with('/') {
            let mut r = status(StatusCode::MOVED_PERMANENTLY, "a directory");
            if let Ok(loc) = HeaderValue::from_str(&format!("{}/", req.path())) {
                r.headers_mut().insert(LOCATION, loc);
            }
            return r;
        }
        // index.html may itself be a symlink: resolve it the same way.
        match path::resolve(root, &format!("{}index.html", req.path())) {
            Ok(p) if p.is_file() => p,
            _ => return status(StatusCode::FORBIDDEN, "directory listing is off"),
        }
    } else {
        file_path
    };
    match send_file(&file_path, req) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            status(StatusCode::NOT_FOUND, "not found")
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            status(StatusCode::FORBIDDEN, "permission denied")
        }
        Err(e) => status(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC
/// 9110 section 13.1.2 asks for GET and HEAD).
fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

fn send_file(file_path: &Path, req: &Request) -> std::io::Result<Response<Body>> {
    // Metadata of the file opened, not of the path, so both agree.
    let file = File::open(file_path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(status(StatusCode::FORBIDDEN, "not a regular file"));
    }
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let modified = UNIX_EPOCH + Duration::from_secs(mtime);
    let last_modified = httpdate::fmt_http_date(modified);
    let etag = format!("\"{len:x}-{mtime:x}\"");

    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        headers.insert(LAST_MODIFIED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, v);
    }
    let not_modified = match (header(IF_NONE_MATCH), header(IF_MODIFIED_SINCE)) {
        (Some(list), _) => etag_matches(list, &etag),
        (None, Some(date)) => {
            httpdate::parse_http_date(date).is_ok_and(|since: SystemTime| modified <= since)
        }
        (None, None) => false,
    };
    if not_modified {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        *r.headers_mut() = headers;
        return Ok(r);
    }
    let content_type = HeaderValue::from_static(mime::content_type(file_path));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // If-Range: the range only if the file is still the one the client
    // has (a strong ETag, or exactly its Last-Modified date).
    let range_ok = header(IF_RANGE).is_none_or(|v| v == etag || v == last_modified);
    let ranged = match header(RANGE) {
        Some(v) if range_ok => range::parse(v, len),
        _ => Ranged::Full,
    };
    let file = Arc::new(file);
    let (code, body) = match ranged {
        Ranged::Full => {
            headers.insert(CONTENT_TYPE, content_type);
            (StatusCode::OK, file_body(file, 0, len))
        }
        Ranged::Partial { start, end } => {
            headers.insert(CONTENT_TYPE, content_type);
            let content_range = format!("bytes {start}-{end}/{len}");
            if let Ok(v) = HeaderValue::from_str(&content_range) {
                headers.insert(CONTENT_RANGE, v);
            }
            (
                StatusCode::PARTIAL_CONTENT,
                file_body(file, start, end - start + 1),
            )
        }
        Ranged::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                headers.insert(CONTENT_RANGE, v);
            }
            (StatusCode::RANGE_NOT_SATISFIABLE, Body::Empty)
        }
    };
    let mut r = Response::new(body);
    *r.status_mut() = code;
    *r.headers_mut() = headers;
    Ok(r)
}

fn file_body(file: Arc<File>, offset: u64, len: u64) -> Body {
    if len == 0 {
        Body::Empty
    } else {
        Body::File { file, offset, len }
    }
}
