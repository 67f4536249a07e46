//! The benchmark's hello-world server (../shared/bench/http/README.md,
//! "Interface the project's binary must have"):
//!
//! ```text
//! hello_server [--addr IP:PORT|unix:PATH] [--header-timeout S] [--body-timeout S]
//!              [--keepalive-timeout S] [--log-errors]
//! ```
//!
//! `GET /` (and `HEAD /`) answer `200` with `text/plain` `Hello, World!`;
//! `POST /` and `PUT /` the same once the whole body is read; other paths
//! get 404. One thread, one loop; SIGINT or SIGTERM end it with status 0.

use std::process::ExitCode;
use std::time::Duration;

use evloop::{signum, Break, Loop, RunMode};
use evloop_http::server::{Body, Router, ServerExt, ServerOptions};
use http::{HeaderValue, Method, Response};

const USAGE: &str = "usage: hello_server [--addr IP:PORT|unix:PATH] [--header-timeout S] \
                     [--body-timeout S] [--keepalive-timeout S] [--log-errors]";

struct Options {
    addr: String,
    server: ServerOptions,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("hello_server: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hello_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        addr: "127.0.0.1:8080".to_string(),
        server: ServerOptions::new(),
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let secs = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|s| *s >= 0.0)
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or_else(|| format!("{name}: {v:?} is not a number of seconds"))
        };
        opts.server = match name.as_str() {
            "--help" | "-h" => return Ok(None),
            "--addr" => {
                opts.addr = value()?;
                continue;
            }
            "--header-timeout" => opts.server.header_timeout(secs(value()?)?),
            "--body-timeout" => opts.server.body_timeout(secs(value()?)?),
            "--keepalive-timeout" => opts.server.keepalive_timeout(secs(value()?)?),
            "--log-errors" => opts.server.log_errors(true),
            other => return Err(format!("unknown argument {other:?}")),
        };
    }
    Ok(Some(opts))
}

/// `Content-Type: text/plain` comes from the server's default (set in
/// `serve`), so the response has no header map of its own to fill.
fn hello() -> Response<Body> {
    Response::new(Body::from("Hello, World!"))
}

fn serve(opts: Options) -> Result<(), Box<dyn std::error::Error>> {
    let mut router: Router<()> = Router::new();
    router.exact("/", &[Method::GET, Method::POST, Method::PUT], |_, _, _| {
        hello()
    });
    let mut lp: Loop<()> = Loop::new()?;
    let mut ctx = lp.ctx();
    let server = opts
        .server
        .default_content_type(Some(HeaderValue::from_static("text/plain")));
    let id = ctx.new_server(router, server)?;
    let addr = ctx
        .server(id)?
        .listen(opts.addr.as_str())
        .map_err(|e| format!("cannot listen on {}: {e}", opts.addr))?;
    for signal in [signum::SIGINT, signum::SIGTERM] {
        let sid = ctx.new_signal(signal, |ctx, _, _, _| ctx.break_loop(Break::All))?;
        let mut w = ctx.signal(sid)?;
        w.set_keepalive(false);
        w.start()?;
    }
    println!("hello_server: listening on {addr}");
    lp.run(&mut (), RunMode::Default)?;
    if let evloop_buffer::ListenAddr::Unix(path) = addr {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
