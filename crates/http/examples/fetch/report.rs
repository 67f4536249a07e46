//! What `-v` writes to stderr, and how failures end the program.

use std::fmt::{self, Write as _};
use std::io;
use std::path::Path;
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
/// itself, Host and the framing, are already in `req`). Returned, not
/// written: it goes out once the connection line is known.
pub fn request_head(req: &Request<RequestBody>) -> String {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut t = format!("> {} {target} HTTP/1.1\n", req.method());
    for (name, value) in req.headers() {
        let _ = writeln!(t, "> {name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
    t.push_str(">\n");
    t
}

/// curl's `* Connected to HOST (IP) port N` for a connection made for the
/// response, `* Re-using existing connection to ...` for one from the
/// pool. HOST is the URL's (the last one, after redirects); for a Unix
/// socket the path stands where the address would.
pub fn connection(resp: &Response, unix_socket: Option<&Path>) -> String {
    let info = resp.connection();
    let url = resp.url();
    let host = url.host().unwrap_or_default();
    // The URL's IPv6 brackets are not part of the host curl names.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let (addr, port) = match (info.peer_addr(), unix_socket) {
        (Some(peer), _) => (peer.ip().to_string(), peer.port()),
        (None, Some(path)) => (path.display().to_string(), url.port_u16().unwrap_or(80)),
        (None, None) => ("?".to_string(), url.port_u16().unwrap_or(80)),
    };
    let what = if info.is_reused() {
        "Re-using existing connection to"
    } else {
        "Connected to"
    };
    format!("* {what} {host} ({addr}) port {port}")
}

/// The note that redirects were followed, and where to.
pub fn followed(resp: &Response) {
    eprintln!(
        "* followed {} redirect(s) to {}",
        resp.redirects(),
        resp.url()
    );
}

/// `< ` lines: the interim heads, then the final one.
pub fn response_head(resp: &Response) {
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
    /// Making the connection (`None`: reused, or none made).
    pub connect: Option<Duration>,
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
    let or_dash =
        |d: Option<Duration>| d.map_or_else(|| "-".to_string(), |d| format!("{:.3} ms", ms(d)));
    let (connect, head) = (or_dash(t.connect), or_dash(t.head));
    let rate = t.bytes as f64 / t.total.as_secs_f64().max(1e-9);
    eprintln!(
        "* time: connect {connect}, response head {head}, total {:.3} ms; {} body bytes ({:.0} bytes/s)",
        ms(t.total),
        t.bytes,
        rate
    );
}
