//! `fetch`: a small curl on evloop-http's client.
//!
//! ```text
//! fetch URL [-X METHOD] [-H 'Name: value']... [-d DATA | -T FILE] [-o FILE]
//!           [-v] [-i] [-I] [-f] [-s] [-L] [--max-time SECONDS] [--max-redirs N]
//!           [--limit-rate SPEED] [--unix-socket PATH]
//! ```
//!
//! The response body is written to stdout (or `-o FILE`) as it arrives: the
//! request is sent with a streamed response
//! ([`RequestOptions::stream_response`]) and each piece
//! [`read_body`](evloop_http::client::RequestId::read_body) hands over is
//! written before the next is read, so a download of any size takes
//! little memory. `-T FILE` sends the file as a [`RequestBody::File`]
//! (from disk, with `sendfile`), never reading it whole; `-T -` sends
//! stdin as a [`RequestBody::Stream`], chunked, a read each time the
//! client asks for more ([`RequestId::on_drain`]), so a slow server holds
//! the reading back. `--limit-rate` gives the client's connections a
//! [`RateLimit`] both ways (`ClientOptions::rate_limit`). With `-v` the
//! request and response heads and the timings go to stderr, curl's way
//! (`> ` sent, `< ` received, `* ` notes), with the connection the
//! response came on (`* Connected to HOST (IP) port N`, or `* Re-using
//! existing connection to ...` after a redirect to the same server) and
//! its connect time. The client tells the connection with the response
//! ([`Response::connection`]), so that line comes just before the
//! response head, not before the request head as in curl: the request
//! head is written when the request is sent, so that a server that never
//! answers still shows what it was sent. Errors end the program with a
//! message and curl's exit status for them (6 resolve, 7 connect, 28
//! timeout, 8 bad response, 52 nothing received, 18 body cut short, 47
//! redirects, 22 a status of 400 or more with `-f`, 23 write, 26 read, 2
//! usage, 3 URL).

mod args;
mod report;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use evloop::{Ctx, Loop, RunMode};
use evloop_buffer::RateLimit;
use evloop_http::client::{
    ClientError, ClientExt, ClientOptions, RequestBody, RequestId, RequestOptions, Response,
    ResponseChunk,
};
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request};

use args::{ArgError, Args, Upload, USAGE};
use report::{Failure, Timings};

/// The program's state on the loop.
struct Fetch {
    verbose: bool,
    include: bool,
    fail: bool,
    output: Option<std::path::PathBuf>,
    /// `--unix-socket`, for the connection line.
    unix_socket: Option<PathBuf>,
    out: Option<Box<dyn Write>>,
    started: Instant,
    head_at: Option<Duration>,
    /// The connect time of a connection made for the response.
    connect: Option<Duration>,
    bytes: u64,
    /// Set once: the body ended (`Ok`) or something failed.
    outcome: Option<Result<(), Failure>>,
}

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(ArgError::Usage(m)) => {
            eprintln!("fetch: {m}\n{USAGE}");
            return ExitCode::from(2);
        }
        Err(ArgError::Url(m)) => {
            eprintln!("fetch: {m}");
            return ExitCode::from(3);
        }
    };
    let silent = args.silent;
    match fetch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !silent {
                eprintln!("fetch: {f}");
            }
            ExitCode::from(f.exit_code())
        }
    }
}

fn fetch(args: Args) -> Result<(), Failure> {
    let request = build_request(&args)?;
    let mut st = Fetch {
        verbose: args.verbose,
        include: args.include,
        fail: args.fail,
        output: args.output.clone(),
        unix_socket: args.unix_socket.clone(),
        out: None,
        started: Instant::now(),
        head_at: None,
        connect: None,
        bytes: 0,
        outcome: None,
    };
    if args.verbose {
        eprint!("{}", report::request_head(&request));
    }
    run(&args, request, &mut st)?;
    let outcome = st.outcome.take().unwrap_or(Ok(()));
    if st.verbose {
        report::timings(&Timings {
            connect: st.connect,
            head: st.head_at,
            total: st.started.elapsed(),
            bytes: st.bytes,
        });
    }
    outcome
}

/// Sends the request and runs the loop until the body ended or something
/// failed (`st.outcome`); an error here is a failure to set up.
fn run(args: &Args, request: Request<RequestBody>, st: &mut Fetch) -> Result<(), Failure> {
    let mut lp: Loop<Fetch> = Loop::new().map_err(|e| Failure::Setup(e.to_string()))?;
    // The request carries its own User-Agent (so that -v shows it).
    let limit = args
        .limit_rate
        .map(|n| RateLimit::per_second(Some(n), Some(n)));
    let opts = ClientOptions::new().user_agent(None).rate_limit(limit);
    let client = lp
        .ctx()
        .new_client(opts)
        .map_err(|e| Failure::Setup(e.to_string()))?;
    let mut ropts = RequestOptions::new()
        .stream_response(true)
        .timeout(args.max_time);
    if let Some(max) = args.follow {
        ropts = ropts.follow_redirects(max);
    }
    if let Some(path) = &args.unix_socket {
        ropts = ropts.unix_socket(path);
    }
    let rid = lp
        .ctx()
        .client(client)
        .map_err(|e| Failure::Setup(e.to_string()))?
        .send_with(request, ropts, on_head)
        .map_err(|e| Failure::Client(e, false))?;
    if matches!(args.upload, Upload::Stdin) {
        rid.on_drain(&mut lp.ctx(), pump_stdin)
            .map_err(|e| Failure::Client(e, false))?;
    }
    while st.outcome.is_none() {
        let alive = lp
            .run(st, RunMode::Once)
            .map_err(|e| Failure::Setup(e.to_string()))?;
        if !alive && st.outcome.is_none() {
            st.outcome = Some(Err(Failure::Setup("the loop ran dry".into())));
        }
    }
    if let Ok(mut c) = lp.ctx().client(client) {
        c.shutdown();
    }
    Ok(())
}

/// The request of the command line, with the fields curl would send
/// written out (so that `-v` shows what goes on the wire).
fn build_request(args: &Args) -> Result<Request<RequestBody>, Failure> {
    let mut headers = HeaderMap::new();
    if let Some(a) = args.url.authority() {
        let host = a.as_str().rsplit('@').next().unwrap_or_default();
        if let Ok(v) = HeaderValue::from_str(host) {
            headers.insert(HOST, v);
        }
    }
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static("fetch/0.1 evloop-http"),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    let body = match &args.upload {
        Upload::None => RequestBody::Empty,
        Upload::Data(d) => {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            RequestBody::Bytes(d.clone().into())
        }
        Upload::Stdin => {
            // The client writes this itself for a stream without a
            // Content-Length; here so that -v shows it.
            headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            RequestBody::Stream
        }
        Upload::File(path) => {
            let file = File::open(path)
                .map_err(|e| Failure::Read(format!("cannot open {}: {e}", path.display())))?;
            let len = file
                .metadata()
                .map_err(|e| Failure::Read(format!("cannot read {}: {e}", path.display())))?
                .len();
            RequestBody::File {
                file: Arc::new(file),
                offset: 0,
                len,
            }
        }
    };
    // The user's fields replace the defaults of the same name.
    let mut replaced = Vec::new();
    for (name, value) in &args.headers {
        if !replaced.contains(name) {
            headers.remove(name);
            replaced.push(name.clone());
        }
        headers.append(name.clone(), value.clone());
    }
    // The client sends `Content-Length: 0` for a bodiless POST, PUT and
    // PATCH itself; written here so that -v shows it.
    let length = match &body {
        RequestBody::Bytes(b) => Some(b.len() as u64),
        RequestBody::File { len, .. } => Some(*len),
        RequestBody::Empty if matches!(args.method, Method::POST | Method::PUT | Method::PATCH) => {
            Some(0)
        }
        _ => None,
    };
    if let (Some(n), false) = (length, headers.contains_key(CONTENT_LENGTH)) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    let mut req = Request::new(body);
    *req.method_mut() = args.method.clone();
    *req.uri_mut() = args.url.clone();
    *req.headers_mut() = headers;
    Ok(req)
}

/// Called when little of the streamed body waits to be sent: the next
/// read of stdin (blocking: this is a command-line tool, and nothing else
/// can go on before the body is sent), or the end of the body.
fn pump_stdin(ctx: &mut Ctx<'_, Fetch>, st: &mut Fetch, rid: RequestId) {
    let mut buf = vec![0; 64 * 1024];
    let sent = match io::Read::read(&mut io::stdin(), &mut buf) {
        Ok(0) => rid.finish_body(ctx, HeaderMap::new()),
        Ok(n) => {
            buf.truncate(n);
            rid.send_body(ctx, buf)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(e) => {
            rid.cancel(ctx);
            st.outcome = Some(Err(Failure::Read(format!("cannot read stdin: {e}"))));
            return;
        }
    };
    // An error here means the request already ended (its callback says
    // why), or the server answered without wanting the rest.
    let _ = sent;
}

/// The final response head (or the request's error).
fn on_head(ctx: &mut Ctx<'_, Fetch>, st: &mut Fetch, r: Result<Response, ClientError>) {
    let resp = match r {
        Ok(resp) => resp,
        Err(e) => {
            st.outcome = Some(Err(Failure::Client(e, false)));
            return;
        }
    };
    st.head_at = Some(st.started.elapsed());
    st.connect = resp.connection().connect_time();
    if st.verbose {
        // After redirects the connection is the last request's: its line
        // follows the redirect note.
        if resp.redirects() > 0 {
            report::followed(&resp);
        }
        eprintln!("{}", report::connection(&resp, st.unix_socket.as_deref()));
        report::response_head(&resp);
    }
    let rid = resp.request_id();
    if st.fail && resp.status().as_u16() >= 400 {
        rid.cancel(ctx);
        st.outcome = Some(Err(Failure::HttpStatus(resp.status())));
        return;
    }
    let out: io::Result<Box<dyn Write>> = match &st.output {
        Some(path) => File::create(path).map(|f| Box::new(BufWriter::new(f)) as Box<dyn Write>),
        None => Ok(Box::new(BufWriter::with_capacity(64 * 1024, io::stdout()))),
    };
    let written = out.and_then(|mut o| {
        if st.include {
            o.write_all(&report::head_text(&resp))?;
        }
        Ok(o)
    });
    match written {
        Ok(o) => st.out = Some(o),
        Err(e) => {
            rid.cancel(ctx);
            st.outcome = Some(Err(Failure::Write(e)));
            return;
        }
    }
    if let Err(e) = rid.read_body(ctx, on_body) {
        st.outcome = Some(Err(Failure::Client(e, true)));
    }
}

/// A piece of the body: written out before the next is read.
fn on_body(ctx: &mut Ctx<'_, Fetch>, st: &mut Fetch, rid: RequestId, chunk: ResponseChunk) {
    match chunk {
        ResponseChunk::Data(b) => {
            st.bytes += b.len() as u64;
            if let Some(Err(e)) = st.out.as_mut().map(|o| o.write_all(&b)) {
                rid.cancel(ctx);
                st.outcome = Some(Err(Failure::Write(e)));
            }
        }
        ResponseChunk::End(trailers) => {
            let flushed = st.out.as_mut().map_or(Ok(()), |o| o.flush());
            if st.verbose && !trailers.is_empty() {
                report::trailers(&trailers);
            }
            st.outcome = Some(flushed.map_err(Failure::Write));
        }
        ResponseChunk::Error(e) => {
            // What arrived is kept (as curl leaves a partial file).
            if let Some(o) = st.out.as_mut() {
                let _ = o.flush();
            }
            st.outcome = Some(Err(Failure::Client(e, true)));
        }
    }
}
