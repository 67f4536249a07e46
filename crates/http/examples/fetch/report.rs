//! What `-v` writes to stderr, and how failures end the program.

use std::fmt;
use std::io;
use std::time::Duration;

use evloop_http::client::{ClientError, RequestBody, Response, TimeoutKind};
use http::{HeaderMap, Request, StatusCode};

/// Why the program failed.
#[derive(Debug)]
pub enum Failure {
    /// The client's error; `true` once the response head had arrived.
    Client(ClientError, bool),
    /// Writing the body out failed.
    Write(io::Error),
    /// `-f` and a status of 400 or more.
    HttpStatus(StatusCode),
    /// Reading the file to upload failed.
    Read(String),
    /// The loop or the client could not be set up.
    Setup(String),
}

impl Failure {
    /// curl's exit status for the same failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Client(e, head) => match e {
                ClientError::UnsupportedScheme(_) => 1,
                ClientError::InvalidRequest(_) => 2,
                ClientError::Resolve(_) => 6,
                ClientError::Connect(_) => 7,
                ClientError::Timeout(_) => 28,
                ClientError::Protocol(_) => 8,
                ClientError::TooManyRedirects => 47,
                ClientError::BodyTooLarge => 63,
                ClientError::Closed if *head => 18,
                ClientError::Closed => 52,
                ClientError::Io(_) => 56,
                _ => 1,
            },
            Failure::HttpStatus(_) => 22,
            Failure::Write(_) => 23,
            Failure::Read(_) => 26,
            Failure::Setup(_) => 2,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Client(ClientError::Timeout(k), _) => {
                let what = match k {
                    TimeoutKind::Connect => "connecting",
                    TimeoutKind::Head => "waiting for the response head",
                    TimeoutKind::Body => "waiting for the body",
                    TimeoutKind::Request => "--max-time reached",
                };
                write!(f, "timeout: {what}")
            }
            Failure::Client(ClientError::Closed, true) => {
                f.write_str("the server closed the connection before the body was complete")
            }
            Failure::Client(ClientError::Closed, false) => {
                f.write_str("empty reply: the server closed the connection without a response")
            }
            Failure::Client(e, _) => write!(f, "{e}"),
            Failure::HttpStatus(s) => write!(f, "the server answered {s}"),
            Failure::Write(e) => write!(f, "cannot write the body: {e}"),
            Failure::Read(m) | Failure::Setup(m) => f.write_str(m),
        }
    }
}

/// `> ` lines: the request head as sent (the fields the client writes
/// itself, Host and the framing, are already in `req`).
pub fn request_head(req: &Request<RequestBody>) {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    eprintln!("> {} {target} HTTP/1.1", req.method());
    for (name, value) in req.headers() {
        eprintln!("> {name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
    eprintln!(">");
}

/// `< ` lines: the interim heads, then the final one.
pub fn response_head(resp: &Response) {
    if resp.redirects() > 0 {
        eprintln!(
            "* followed {} redirect(s) to {}",
            resp.redirects(),
            resp.url()
        );
    }
    for early in resp.informational() {
        eprintln!(
            "< {:?} {} {}",
            early.version,
            early.status.as_u16(),
            early.reason
        );
        fields(&early.headers);
        eprintln!("<");
    }
    eprintln!(
        "< {:?} {} {}",
        resp.version(),
        resp.status().as_u16(),
        resp.reason()
    );
    fields(resp.headers());
    eprintln!("<");
}

/// The final head as received (curl's `-i`): status line, fields, blank
/// line, with CRLF line ends.
pub fn head_text(resp: &Response) -> Vec<u8> {
    let mut t = format!(
        "{:?} {} {}\r\n",
        resp.version(),
        resp.status().as_u16(),
        resp.reason()
    )
    .into_bytes();
    for (name, value) in resp.headers() {
        t.extend_from_slice(name.as_str().as_bytes());
        t.extend_from_slice(b": ");
        t.extend_from_slice(value.as_bytes());
        t.extend_from_slice(b"\r\n");
    }
    t.extend_from_slice(b"\r\n");
    t
}

/// The trailer fields of a chunked body.
pub fn trailers(t: &HeaderMap) {
    eprintln!("* trailers:");
    fields(t);
}

fn fields(h: &HeaderMap) {
    for (name, value) in h {
        eprintln!("< {name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
}

/// What the timings line reports.
pub struct Timings {
    /// From sending to the final response head.
    pub head: Option<Duration>,
    /// From sending to the end.
    pub total: Duration,
    /// Body bytes received.
    pub bytes: u64,
}

/// `* ` line with the timings.
pub fn timings(t: &Timings) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let head = t
        .head
        .map_or_else(|| "-".to_string(), |d| format!("{:.3} ms", ms(d)));
    let rate = t.bytes as f64 / t.total.as_secs_f64().max(1e-9);
    eprintln!(
        "* time: response head {head}, total {:.3} ms; {} body bytes ({:.0} bytes/s)",
        ms(t.total),
        t.bytes,
        rate
    );
}
