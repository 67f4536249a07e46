//! `proxy`: a reverse proxy on one loop thread, evloop-http's server in
//! front and its client behind.
//!
//! ```text
//! proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000 [--upstream backend:80 ...]
//! ```
//!
//! Every request the server takes is sent on to an upstream, chosen
//! round robin; an upstream that cannot be connected to is skipped for
//! `--fail-timeout` seconds (a request without a body goes to the next
//! one meanwhile; with every upstream down the one that failed first is
//! tried again, so a single upstream is used again as soon as it is back).
//! Connections to the upstreams are kept alive in the client's pool.
//!
//! Bodies are streamed both ways with back-pressure: an upload goes to
//! the upstream as it arrives (the client is paused while the upstream
//! connection has 256 KiB waiting), and a response body goes to the
//! client as it comes (the upstream is paused while the client has 256
//! KiB waiting), so a slow reader or writer never makes the proxy hold a
//! whole body. Small responses (a `Content-Length` of at most 64 KiB) are
//! read whole and sent with their length; larger ones are streamed with
//! their length, and those without a length are sent chunked
//! (close-delimited to HTTP/1.0 clients). An upstream that fails in the
//! middle of a streamed body gets the client's connection closed before
//! the body's end (no last chunk, fewer bytes than the length): the client
//! sees the failure, never a truncated body that looks complete.
//!
//! Headers (RFC 9110 7.6): the hop-by-hop fields (`Connection` and the
//! fields it names, `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`,
//! `Transfer-Encoding`, `Upgrade`, `Proxy-Authenticate`,
//! `Proxy-Authorization`) are removed both ways, `Via: 1.1 evloop-proxy`
//! is added both ways; requests get the client's address appended to
//! `X-Forwarded-For` and `X-Forwarded-Proto`/`X-Forwarded-Host` set. The
//! client's `Host` is kept.
//!
//! Methods: every method is passed on, those HTTP does not define too
//! (WebDAV's `PROPFIND`, `MKCOL`, ..., caches' `PURGE`); a HEAD answer
//! keeps the upstream's `Content-Length`, or has none if it had none.
//! OPTIONS and TRACE count `Max-Forwards` down (RFC 9110 7.6.2): at 0 the
//! proxy answers them itself, as their final recipient (see `hops.rs`).
//!
//! Upgrades (WebSocket): a request asking for one keeps its `Upgrade`
//! field on the way to the upstream; if the upstream answers `101
//! Switching Protocols`, the client gets that answer and the two
//! connections are spliced, bytes passed both ways with the same
//! back-pressure, until both sides have closed.
//!
//! A client that leaves before its answer is complete (its connection
//! reset or closed, or its sending side shut while it waits, as nginx
//! takes it unless `--ignore-client-abort`) has its upstream request
//! cancelled and that upstream connection closed: a long poll or a slow
//! upstream does not go on working for nobody.
//!
//! Errors: an upstream that cannot be reached (connect refused, name not
//! resolved) or that sends a malformed response gives `502 Bad Gateway`;
//! one that times out (connect, response head, a gap in the body) gives
//! `504 Gateway Timeout`.
//!
//! SIGTERM or SIGINT: the proxy stops accepting, finishes the requests in
//! flight, and exits with status 0; a second signal exits at once.

mod args;
mod forward;
mod headers;
mod hops;
mod tunnel;
mod upstreams;

use std::process::ExitCode;
use std::time::Duration;

use evloop::{signum, Break, Ctx, Loop, RunMode};
use evloop_buffer::ListenAddr;
use evloop_http::client::{ClientExt, ClientId, ClientOptions};
use evloop_http::server::{Router, ServerExt, ServerId, ServerOptions};

use args::Args;
use upstreams::Upstreams;

/// The loop's state, which every callback gets.
pub struct Proxy {
    client: ClientId,
    server: Option<ServerId>,
    upstreams: Upstreams,
    peer_text: headers::PeerText,
    log_errors: bool,
    stopping: bool,
}

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("proxy: {msg}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut lp: Loop<Proxy> = Loop::new()?;
    let mut ctx = lp.ctx();
    let n = a.upstreams.len();
    let client = ctx.new_client(
        ClientOptions::new()
            .connect_timeout(Some(a.connect_timeout))
            .head_timeout(Some(a.read_timeout))
            .body_timeout(Some(a.read_timeout))
            // Shorter than the usual server keep-alive timeouts (nginx
            // 75 s, Apache 5 s is the exception), so that the pool rarely
            // picks a connection the upstream is closing.
            .idle_timeout(Some(Duration::from_secs(50)))
            .max_per_host(a.max_conns)
            .max_total(a.max_conns.saturating_mul(n))
            // The client's own User-Agent: the request's is passed on as is.
            .user_agent(None),
    )?;
    let mut router: Router<Proxy> = Router::new();
    router
        .prefix("/", &[], |ctx, p, req| forward::handle(ctx, p, req, true))
        .stream_body()
        // WebDAV's, caches' (PURGE) and any other method are passed on.
        .any_method();
    // Targets that are not paths (`OPTIONS *`): their body is read first.
    router.fallback(|ctx, p, req| forward::handle(ctx, p, req, false));
    let opts = ServerOptions::new()
        // A response keeps the upstream's Content-Type, or has none.
        .default_content_type(None)
        // A client that left (EOF while it waits) has its upstream request
        // cancelled, as nginx does (proxy_ignore_client_abort off).
        .client_eof_aborts(!a.ignore_client_abort)
        .log_errors(a.log_errors);
    let server = ctx.new_server(router, opts)?;
    let addr = ctx
        .server(server)?
        .listen(a.listen.as_str())
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    for signal in [signum::SIGTERM, signum::SIGINT] {
        let sid = ctx.new_signal(signal, |ctx, p: &mut Proxy, _, _| stop(ctx, p))?;
        let mut w = ctx.signal(sid)?;
        // The signal watchers alone must not keep the loop running.
        w.set_keepalive(false);
        w.start()?;
    }
    println!("listening on {addr}");
    let mut state = Proxy {
        client,
        server: Some(server),
        upstreams: Upstreams::new(a.upstreams, a.fail_timeout),
        peer_text: headers::PeerText::default(),
        log_errors: a.log_errors,
        stopping: false,
    };
    lp.run(&mut state, RunMode::Default)?;
    if let ListenAddr::Unix(path) = addr {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// The first signal: a graceful shutdown of the server (no new
/// connections, requests in flight finished), then of the client. A
/// second one: out at once.
fn stop(ctx: &mut Ctx<'_, Proxy>, p: &mut Proxy) {
    if p.stopping {
        ctx.break_loop(Break::All);
        return;
    }
    p.stopping = true;
    let Some(server) = p.server.take() else {
        return;
    };
    match ctx.server(server) {
        Ok(s) => s.shutdown(|ctx, p: &mut Proxy| {
            if let Ok(mut c) = ctx.client(p.client) {
                c.shutdown();
            }
            // The loop ends once the last responses are flushed (their
            // streams keep it going until then). Should anything else
            // hold it (a resolver's sockets), this ends it; the timer
            // itself does not keep the loop alive.
            if let Ok(t) = ctx.once_timer(Duration::from_secs(2), |ctx, _, _| {
                ctx.break_loop(Break::All)
            }) {
                let _ = ctx.set_once_keepalive(t, false);
            }
        }),
        Err(_) => ctx.break_loop(Break::All),
    }
}
