//! The pipe benchmark: evloop's side of `bench/core` (libevent's `bench.c`
//! method, with libev's per-watcher timers added).
//!
//! ```text
//! pipe_bench --pipes N --active A --writes W --runs R [--timers] [--backend epoll|poll|select]
//! ```
//!
//! N non-blocking `AF_UNIX` socketpairs; pair i has an io watcher on its
//! read end. The read callback reads one byte, counts one event and, while
//! the global write budget lasts, writes one byte into pair (i + 1) mod N.
//! With `--timers` every pair also has a timer (timeout random in
//! [10 s, 11 s), also its repeat), restarted with the view's `again` in every io callback, so
//! each event also costs one timer update; no timer ever expires.
//!
//! Each of the R runs has two timed phases:
//!
//! * setup: stop and start every io watcher (and timer);
//! * events: write one byte into A pairs spaced N/A apart (untimed), then
//!   iterate the loop with [`RunMode::NoWait`] until all A + W bytes are read.
//!
//! and prints one line:
//!
//! ```text
//! pipes=N active=A writes=W timers=0|1 backend=NAME setup_us=X run_us=Y events=E
//! ```
//!
//! A backend evloop cannot open prints `unsupported ...` and exits 0; any
//! other failure exits non-zero with a message on stderr.
//!
//! The io watchers own the read ends (`UnixStream`, reached in the callback
//! with `ctx.io(id)?.source()`, typed by the handle), the write ends live in
//! the application state. This is the idiomatic form; a variant with
//! `new_io_raw` and `libc::read` on raw fds was no faster measurably (the
//! source lookup is a slot access plus a `TypeId` compare, a few ns against
//! the 6-8 µs of kernel work per event).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use evloop::{Backend, Error, Events, IoId, Loop, RunMode, TimerId};

/// The application state every callback gets.
struct Bench {
    /// Write end of every pair.
    writers: Vec<UnixStream>,
    /// Remaining write budget of this run.
    budget: u64,
    /// Bytes written in this run (the A initial ones included).
    fired: u64,
    /// Bytes read in this run.
    bytes: u64,
    /// Read callbacks that ran in this run.
    events: u64,
    /// Unexpected read or write results, over all runs.
    failures: u64,
    /// Timer callbacks, over all runs (must stay 0).
    timeouts: u64,
}

impl Bench {
    /// The read callback body of pair `idx`, after its byte has been read
    /// (`read` is what `read(2)` returned).
    #[inline]
    fn on_readable(&mut self, idx: usize, read: io::Result<usize>) {
        self.events += 1;
        match read {
            Ok(1) => self.bytes += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            _ => self.failures += 1,
        }
        if self.budget > 0 {
            let w = if idx + 1 == self.writers.len() {
                0
            } else {
                idx + 1
            };
            self.budget -= 1;
            match (&self.writers[w]).write(b"e") {
                Ok(1) => self.fired += 1,
                _ => self.failures += 1,
            }
        }
    }
}

struct Args {
    pipes: usize,
    active: usize,
    writes: u64,
    runs: u64,
    timers: bool,
    backend: Option<String>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: pipe_bench --pipes N --active A --writes W --runs R \
         [--timers] [--backend epoll|poll|select]"
    );
    ExitCode::from(2)
}

fn parse_args() -> Option<Args> {
    fn num(v: Option<String>) -> Option<u64> {
        v?.parse::<u64>().ok().filter(|&v| v <= 100_000_000)
    }
    let mut a = Args {
        pipes: 100,
        active: 1,
        writes: u64::MAX,
        runs: 1,
        timers: false,
        backend: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--timers" => a.timers = true,
            "--pipes" => a.pipes = num(it.next())? as usize,
            "--active" => a.active = num(it.next())? as usize,
            "--writes" => a.writes = num(it.next())?,
            "--runs" => a.runs = num(it.next())?,
            "--backend" => a.backend = Some(it.next()?),
            _ => return None,
        }
    }
    if a.writes == u64::MAX {
        a.writes = a.pipes as u64;
    }
    (a.pipes >= 1 && a.active >= 1 && a.active <= a.pipes && a.runs >= 1).then_some(a)
}

/// Raises the soft `RLIMIT_NOFILE` towards the hard limit if `need` fds do
/// not fit, and fails if they still do not.
fn raise_fd_limit(need: u64) -> Result<(), String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
    if soft >= need {
        return Ok(());
    }
    let want = if hard == RLIM_INFINITY || hard > need {
        need
    } else {
        hard
    };
    // Failing to raise is reported below, with the numbers.
    let _ = setrlimit(Resource::RLIMIT_NOFILE, want, hard);
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
    if soft < need {
        return Err(format!(
            "{} pipes need about {need} fds, RLIMIT_NOFILE is {soft} (hard {hard})",
            (need - 64) / 2
        ));
    }
    Ok(())
}

/// A small xorshift64 for the timer timeouts; any fixed sequence will do.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        return usage();
    };
    let backend = match args.backend.as_deref() {
        None => None,
        Some(name) => match name.parse::<Backend>() {
            Ok(b) => Some(b),
            Err(_) => {
                println!("unsupported evloop backend={name}");
                return ExitCode::SUCCESS;
            }
        },
    };
    let mut builder = Loop::builder().ignore_env(true);
    if let Some(b) = backend {
        builder = builder.backend(b);
    }
    let lp = match builder.build::<Bench>() {
        Ok(lp) => lp,
        Err(Error::BackendUnavailable(b, _)) => {
            println!("unsupported evloop backend={b}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pipe_bench: cannot create the loop: {e}");
            return ExitCode::FAILURE;
        }
    };
    match bench(lp, &args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("pipe_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sets up the pairs and watchers and makes the runs; `Ok(false)` if some
/// read or write went wrong or a timer fired.
fn bench(mut lp: Loop<Bench>, args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let n = args.pipes;
    raise_fd_limit(2 * n as u64 + 64)?;

    // Untimed: the pairs, one io watcher (and timer) per pair, all started.
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut writers = Vec::with_capacity(n);
    let mut ios: Vec<IoId<UnixStream>> = Vec::with_capacity(n);
    let mut timers: Vec<TimerId> = Vec::with_capacity(if args.timers { n } else { 0 });
    for idx in 0..n {
        let (r, w) = UnixStream::pair()?;
        r.set_nonblocking(true)?;
        w.set_nonblocking(true)?;
        writers.push(w);
        let timer = if args.timers {
            let repeat = Duration::from_micros(10_000_000 + rng.next() % 1_000_000);
            let t = lp
                .ctx()
                .new_timer(repeat, repeat, |_ctx, b: &mut Bench, _id, _ev| {
                    b.timeouts += 1;
                })?;
            timers.push(t);
            Some(t)
        } else {
            None
        };
        let io = lp
            .ctx()
            .new_io(r, Events::READ, move |ctx, b: &mut Bench, id, _ev| {
                let mut byte = [0u8; 1];
                let read = match ctx.io(id) {
                    Ok(w) => w.source().read(&mut byte),
                    Err(e) => Err(io::Error::other(e)),
                };
                b.on_readable(idx, read);
                if let Some(t) = timer {
                    // The again-style restart (repeat = the timeout, set when
                    // the timer was made): the timer update per event.
                    match ctx.timer(t) {
                        Ok(mut w) => w.again(),
                        Err(_) => b.failures += 1,
                    }
                }
            })?;
        ios.push(io);
    }
    let mut ctx = lp.ctx();
    for &io in &ios {
        ctx.start(io)?;
    }
    for &t in &timers {
        ctx.start(t)?;
    }

    let mut st = Bench {
        writers,
        budget: 0,
        fired: 0,
        bytes: 0,
        events: 0,
        failures: 0,
        timeouts: 0,
    };
    let space = n / args.active;
    let backend = lp.ctx().backend().name();
    for _ in 0..args.runs {
        // setup: stop and start every watcher (and timer)
        let t0 = Instant::now();
        let mut ctx = lp.ctx();
        for (i, &io) in ios.iter().enumerate() {
            ctx.stop(io)?;
            ctx.start(io)?;
            if let Some(&t) = timers.get(i) {
                ctx.stop(t)?;
                ctx.start(t)?;
            }
        }
        let t1 = Instant::now();

        // events: A bytes in (untimed), then iterate until all are read
        st.bytes = 0;
        st.events = 0;
        st.fired = 0;
        for i in 0..args.active {
            match (&st.writers[i * space]).write(b"e") {
                Ok(1) => st.fired += 1,
                _ => st.failures += 1,
            }
        }
        st.budget = args.writes;
        let t2 = Instant::now();
        loop {
            lp.run(&mut st, RunMode::NoWait)?;
            if st.bytes >= st.fired {
                break;
            }
        }
        let t3 = Instant::now();

        println!(
            "pipes={n} active={} writes={} timers={} backend={backend} setup_us={:.1} run_us={:.1} events={}",
            args.active,
            args.writes,
            u8::from(args.timers),
            us(t1 - t0),
            us(t3 - t2),
            st.events
        );
    }
    io::stdout().flush()?;
    if st.failures != 0 || st.timeouts != 0 {
        eprintln!(
            "pipe_bench: {} failed reads/writes, {} timer expiries",
            st.failures, st.timeouts
        );
        return Ok(false);
    }
    Ok(true)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
