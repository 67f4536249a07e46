//! The client peer of `scripts/proxy_bench.sh`: N small GETs over C
//! keep-alive connections with hyper 1.x's pooled client (hyper-util's
//! legacy `Client`, what reqwest is built on) on a tokio current_thread
//! runtime, so one OS thread does all the work, as the evloop client does.
//!
//! ```text
//! hyper-client-bench --url http://127.0.0.1:PORT/ [--requests N] [--conns C]
//! ```
//!
//! C tasks each send one request at a time until N were sent, so at most C
//! connections are open (the pool keeps them). Prints one line:
//! `requests=N seconds=S rps=R errors=E cpu=S` (cpu: this process's user +
//! system seconds, from /proc/self/stat).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

struct Args {
    url: Uri,
    requests: u64,
    conns: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut url = None;
    let (mut requests, mut conns) = (100_000u64, 64usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--url" => url = Some(value()?),
            "--requests" => requests = value()?.parse().map_err(|e| format!("--requests: {e}"))?,
            "--conns" => conns = value()?.parse().map_err(|e| format!("--conns: {e}"))?,
            "-h" | "--help" => {
                println!("usage: hyper-client-bench --url URL [--requests N] [--conns C]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let url = url.ok_or("--url is required")?;
    let url = url.parse().map_err(|e| format!("--url: {e}"))?;
    Ok(Args {
        url,
        requests,
        conns: conns.max(1),
    })
}

/// User + system CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after "pid (comm) ": utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // Linux reports these in USER_HZ, which is 100 on every Linux ABI.
    ticks as f64 / 100.0
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hyper-client-bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    let (done, errors, secs) = local.block_on(&rt, run(args));
    println!(
        "requests={done} seconds={secs:.3} rps={:.0} errors={errors} cpu={:.2}",
        done as f64 / secs,
        cpu_seconds()
    );
}

async fn run(args: Args) -> (u64, u64, f64) {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.conns)
        .build_http();
    let next = Rc::new(Cell::new(0u64));
    let errors = Rc::new(Cell::new(0u64));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.conns {
        let (client, url, next, errors) = (
            client.clone(),
            args.url.clone(),
            next.clone(),
            errors.clone(),
        );
        let total = args.requests;
        tasks.push(tokio::task::spawn_local(async move {
            while next.get() < total {
                next.set(next.get() + 1);
                let ok = match client.get(url.clone()).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        ok && resp.into_body().collect().await.is_ok()
                    }
                    Err(_) => false,
                };
                if !ok {
                    errors.set(errors.get() + 1);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (next.get(), errors.get(), t0.elapsed().as_secs_f64())
}
