//! The client half of `scripts/proxy_bench.sh`: N small GETs over C
//! keep-alive connections with evloop-http's client, on one loop thread.
//!
//! ```text
//! client_bench --url http://127.0.0.1:PORT/ [--requests N] [--conns C]
//! ```
//!
//! C requests are kept in flight (each answer sends the next request), so
//! the pool holds C connections to the host. Prints one line:
//! `requests=N seconds=S rps=R errors=E cpu=S` (errors: failed requests
//! and non-2xx answers; cpu: this process's user + system seconds).

use std::process::ExitCode;
use std::time::Instant;

use evloop::{Ctx, Loop, RunMode};
use evloop_http::client::{ClientExt, ClientId, ClientOptions, RequestBody};
use http::Uri;

const USAGE: &str = "usage: client_bench --url URL [--requests N] [--conns C]";

struct Bench {
    client: ClientId,
    url: Uri,
    total: u64,
    sent: u64,
    done: u64,
    errors: u64,
}

fn main() -> ExitCode {
    let (url, total, conns) = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("client_bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(url, total, conns) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means `--help`.
fn parse_args() -> Result<Option<(Uri, u64, usize)>, String> {
    let (mut url, mut total, mut conns) = (None, 100_000u64, 64usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--url" => url = Some(value()?),
            "--requests" => total = value()?.parse().map_err(|e| format!("--requests: {e}"))?,
            "--conns" => {
                conns = value()?
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--conns needs a positive number")?
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let url = url.parse().map_err(|e| format!("--url {url:?}: {e}"))?;
    Ok(Some((url, total, conns)))
}

fn run(url: Uri, total: u64, conns: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut lp: Loop<Bench> = Loop::new()?;
    let mut ctx = lp.ctx();
    let client = ctx.new_client(ClientOptions::new().max_per_host(conns))?;
    let mut b = Bench {
        client,
        url,
        total,
        sent: 0,
        done: 0,
        errors: 0,
    };
    let t0 = Instant::now();
    for _ in 0..conns {
        next(&mut ctx, &mut b);
    }
    lp.run(&mut b, RunMode::Default)?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "requests={} seconds={secs:.3} rps={:.0} errors={} cpu={:.2}",
        b.done,
        b.done as f64 / secs,
        b.errors,
        cpu_seconds()
    );
    Ok(())
}

/// Sends the next request, if any is left; the last answer shuts the
/// client down, which ends the loop.
fn next(ctx: &mut Ctx<'_, Bench>, b: &mut Bench) {
    if b.sent == b.total {
        if b.done == b.total {
            if let Ok(mut c) = ctx.client(b.client) {
                c.shutdown();
            }
        }
        return;
    }
    b.sent += 1;
    let mut req = http::Request::new(RequestBody::Empty);
    *req.uri_mut() = b.url.clone();
    let sent = ctx
        .client(b.client)
        .map_err(|e| e.to_string())
        .and_then(|mut c| {
            c.send(req, |ctx, b: &mut Bench, res| {
                b.done += 1;
                if !res.is_ok_and(|r| r.status().is_success()) {
                    b.errors += 1;
                }
                next(ctx, b);
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        });
    if let Err(e) = sent {
        eprintln!("client_bench: {e}");
        b.done += 1;
        b.errors += 1;
    }
}

/// User + system CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The fields after "pid (comm) ": utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // In USER_HZ, which is 100 on every Linux ABI.
    ticks as f64 / 100.0
}
