//! A pool of worker threads that report back to the loop thread through an
//! async watcher.
//!
//! ```text
//! cargo run --release --example worker_pool -- [--workers N] [--jobs N] [--chunk N]
//! ```
//!
//! Job `k` counts the primes in `[k * chunk, (k + 1) * chunk)`; together the
//! jobs count the primes below `jobs * chunk`.
//!
//! What it shows:
//!
//! * Data and wake-up travel separately: results go over a std `mpsc`
//!   channel, and an [`AsyncSender`] (one watcher for the whole pool, a
//!   clone per worker) only tells the loop "look at the channel". Sends
//!   coalesce, so the callback drains everything that arrived, and the
//!   summary shows how many results came per wake-up.
//! * The loop thread needs no locks and never blocks on the workers: it
//!   sleeps in the loop and could serve sockets or timers meanwhile.
//! * Ending without a "done" flag: the callback stops its watcher when the
//!   last result is in, nothing else keeps the loop alive, and `run`
//!   returns.
//! * Failing loudly instead of hanging: when the last sender is dropped
//!   (every worker is gone, even one that panicked), the async callback
//!   runs with [`Events::CLOSED`] and sees the results that are missing.
//! * Ctrl-C (SIGINT) stops it early, and cleanly: a signal watcher that
//!   does not keep the loop alive ([`Watcher::set_keepalive`]`(false)`)
//!   tells the workers to stop taking jobs; once they are gone the program
//!   prints how far it got and exits with status 0.
//!
//! [`Watcher::set_keepalive`]: evloop::Watcher::set_keepalive

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use evloop::{signum, AsyncId, AsyncSender, Ctx, Events, Loop, RunMode};

const USAGE: &str = "\
usage: worker_pool [--workers N] [--jobs N] [--chunk N]

Counts the primes below JOBS * CHUNK on a pool of threads, one job per
range of CHUNK numbers, and prints the total and how the work was spread.
Ctrl-C (SIGINT) stops it after the jobs being worked on; it then prints
how many jobs were done and exits with status 0.

options:
  --workers N   worker threads (default: the number of CPUs)
  --jobs N      number of jobs (default 200)
  --chunk N     numbers per job (default 10000)
  --help        print this and exit";

/// The largest `jobs * chunk` accepted: trial division stays quick per
/// number, and nothing overflows.
const MAX_LIMIT: u64 = 1 << 40;

/// The command line.
struct Options {
    workers: usize,
    jobs: u64,
    chunk: u64,
}

/// One finished job, sent from a worker to the loop thread.
struct Done {
    worker: usize,
    primes: u64,
}

/// What the loop thread collects (the state `run` lends to the callback).
struct Tally {
    jobs: u64,
    done: u64,
    primes: u64,
    /// Jobs done by each worker.
    per_worker: Vec<u64>,
    /// Async callbacks run: fewer than `done` when sends coalesced.
    wakeups: u64,
    /// Set by SIGINT: the workers take no more jobs.
    cancel: Arc<AtomicBool>,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("worker_pool: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run_pool(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("worker_pool: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        workers: thread::available_parallelism().map_or(4, |n| n.get()),
        jobs: 200,
        chunk: 10_000,
    };
    while let Some(arg) = args.next() {
        // Accept both `--opt VALUE` and `--opt=VALUE`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut positive = || -> Result<u64, String> {
            let v = inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a number"))?;
            v.parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{name}: {v:?} is not a positive whole number"))
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(None),
            "--workers" => {
                opts.workers = positive()?
                    .try_into()
                    .ok()
                    .filter(|&n| n <= 1024)
                    .ok_or("--workers: at most 1024")?;
            }
            "--jobs" => {
                // All jobs are queued up front; keep that queue small.
                opts.jobs = Some(positive()?)
                    .filter(|&n| n <= 1_000_000)
                    .ok_or("--jobs: at most 1000000")?;
            }
            "--chunk" => opts.chunk = positive()?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if opts
        .jobs
        .checked_mul(opts.chunk)
        .is_none_or(|n| n > MAX_LIMIT)
    {
        return Err(format!("--jobs times --chunk must not exceed {MAX_LIMIT}"));
    }
    Ok(Some(opts))
}

fn run_pool(opts: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let mut lp: Loop<Tally> = Loop::new()?;
    let mut ctx = lp.ctx();
    let (result_tx, result_rx) = mpsc::channel::<Done>();
    let (watcher, wake) =
        ctx.new_async(move |ctx, tally, id, ev| collect(ctx, tally, id, ev, &result_rx))?;
    ctx.start(watcher)?;
    // Ctrl-C: no more jobs. The watcher must not keep the loop alive
    // itself: when the work is done, `run` returns.
    let interrupt = ctx.new_signal(signum::SIGINT, |ctx, tally, id, _ev| {
        tally.cancel.store(true, Ordering::Relaxed);
        let _ = ctx.remove(id); // a second Ctrl-C kills at once
    })?;
    let mut w = ctx.signal(interrupt)?;
    w.set_keepalive(false);
    w.start()?;
    let cancel = Arc::new(AtomicBool::new(false));

    // The whole queue is filled up front; a worker takes the next job when
    // it is free. std's Receiver has one owner, so the workers share it
    // behind a mutex, held only while taking a job.
    let (job_tx, job_rx) = mpsc::channel::<u64>();
    for k in 0..opts.jobs {
        job_tx.send(k)?;
    }
    drop(job_tx); // an empty queue now means "no more work": workers exit
    let job_rx = Arc::new(Mutex::new(job_rx));

    let mut handles = Vec::with_capacity(opts.workers);
    for w in 0..opts.workers {
        let out = Results {
            worker: w,
            tx: result_tx.clone(),
            wake: wake.clone(),
        };
        let (jobs, chunk, cancel) = (job_rx.clone(), opts.chunk, cancel.clone());
        let handle = thread::Builder::new()
            .name(format!("worker-{w}"))
            .spawn(move || work(&jobs, chunk, &cancel, out))?;
        handles.push(handle);
    }
    // The workers hold the only senders now, of both kinds: the channel
    // disconnects, and the async watcher hears CLOSED, when the last of
    // them is gone.
    drop(result_tx);
    drop(wake);
    println!(
        "counting the primes below {}: {} jobs of {} numbers on {} workers (Ctrl-C stops)",
        opts.jobs * opts.chunk,
        opts.jobs,
        opts.chunk,
        opts.workers
    );

    let mut tally = Tally {
        jobs: opts.jobs,
        done: 0,
        primes: 0,
        per_worker: vec![0; opts.workers],
        wakeups: 0,
        cancel,
    };
    // Returns when `collect` has stopped the watcher, the only one that
    // keeps the loop alive.
    lp.run(&mut tally, RunMode::Default)?;
    let crashed = handles
        .into_iter()
        .map(thread::JoinHandle::join)
        .filter(Result::is_err)
        .count();

    let interrupted = tally.cancel.load(Ordering::Relaxed);
    if interrupted && tally.done < tally.jobs && crashed == 0 {
        println!(
            "interrupted: {} of {} jobs done, {} primes found in them",
            tally.done, tally.jobs, tally.primes
        );
        return Ok(());
    }
    if tally.done < tally.jobs {
        return Err(format!(
            "only {} of {} jobs finished ({crashed} workers crashed)",
            tally.done, tally.jobs
        )
        .into());
    }
    println!("primes below {}: {}", opts.jobs * opts.chunk, tally.primes);
    let spread: Vec<String> = tally.per_worker.iter().map(u64::to_string).collect();
    println!(
        "{} jobs on {} workers, jobs per worker: {}",
        tally.jobs,
        opts.workers,
        spread.join(" ")
    );
    println!(
        "{} results in {} async callbacks",
        tally.done, tally.wakeups
    );
    Ok(())
}

/// The async callback, in the loop thread: drain the result channel.
fn collect(
    ctx: &mut Ctx<'_, Tally>,
    tally: &mut Tally,
    id: AsyncId,
    ev: Events,
    results: &Receiver<Done>,
) {
    tally.wakeups += 1;
    while let Ok(done) = results.try_recv() {
        tally.done += 1;
        tally.primes += done.primes;
        tally.per_worker[done.worker] += 1;
    }
    // All done; or every worker is gone (CLOSED: the last sender was
    // dropped) and whatever is missing will not come.
    if tally.done == tally.jobs || ev.contains(Events::CLOSED) {
        let _ = ctx.stop(id);
    }
}

/// A worker's way back to the loop. Dropping it (a worker returning or
/// unwinding) closes its end of the channel and then, the fields being
/// dropped in order, drops its async sender: when the last worker is gone,
/// the loop hears CLOSED with every result already in the channel.
struct Results {
    worker: usize,
    tx: Sender<Done>,
    wake: AsyncSender,
}

impl Results {
    /// Sends one result; `false` if the loop thread is gone.
    fn send(&self, primes: u64) -> bool {
        let worker = self.worker;
        let sent = self.tx.send(Done { worker, primes }).is_ok();
        // Wake the loop after the result is in the channel, so that the
        // callback is sure to find it.
        self.wake.send();
        sent
    }
}

/// A worker thread: take jobs until the queue is empty or the loop thread
/// says stop.
fn work(jobs: &Mutex<Receiver<u64>>, chunk: u64, cancel: &AtomicBool, out: Results) {
    while !cancel.load(Ordering::Relaxed) {
        // The lock is released at the end of this statement, before the
        // work. A poisoned lock means another worker panicked while taking
        // a job; stop too rather than guess at the queue's state.
        let job = match jobs.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(k) = job else {
            return; // queue empty and closed
        };
        let primes = (k * chunk..(k + 1) * chunk)
            .filter(|&n| is_prime(n))
            .count();
        if !out.send(primes as u64) {
            return;
        }
    }
}

/// Trial division: slow on purpose, so that there is work to share.
fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n % 2 == 0 {
        return false;
    }
    let mut d = 3;
    while d <= n / d {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}
