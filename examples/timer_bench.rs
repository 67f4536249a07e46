//! The timer benchmark: evloop's side of `bench/core`'s `timer_run.sh`.
//!
//! ```text
//! timer_bench --timers N --rounds K --mode again|startstop|fire --runs R
//! ```
//!
//! N timer watchers exist for the whole process; R runs follow, each timed
//! and printed as
//!
//! ```text
//! timers=N mode=MODE rounds=K ops=OPS us=X fired=F
//! ```
//!
//! * `again`: untimed, every timer is started once with a timeout in
//!   [10 s, 11 s) and the loop iterates once without blocking. A run is K
//!   rounds; a round re-arms timers 0..N-1 with [`Watcher::again_with`]
//!   (evloop's `w->repeat = t; ev_timer_again`) and a new timeout, then makes
//!   one [`RunMode::NoWait`] iteration. ops = N * K, no timer fires.
//! * `startstop`: the same, but each timer is stopped, given its new timeout
//!   with [`Watcher::set`] and started again. ops = N * K.
//! * `fire`: each run refreshes the loop time (untimed), then starts every
//!   timer one-shot with a timeout in [0, 2 ms) and runs the loop until the
//!   callbacks have counted N. The window ends inside the callback that
//!   counts the N-th, which then breaks the loop. ops = N.
//!
//! Timeouts come from one xorshift64 (shifts 13, 7, 17) seeded once with
//! `0x9E3779B97F4A7C15`, one draw per start or re-arm in program order, in
//! whole microseconds (evloop's resolution is ns, so they are used as is).
//!
//! [`Watcher::again_with`]: evloop::Watcher::again_with
//! [`Watcher::set`]: evloop::Watcher::set

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use evloop::{Break, Loop, RunMode, TimerId};

/// The contract's PRNG: xorshift64, shifts 13/7/17, never reseeded.
struct Rng(u64);

impl Rng {
    const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

    #[inline]
    fn next(&mut self) -> u64 {
        let mut s = self.0;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        self.0 = s;
        s
    }

    /// again, startstop: [10 s, 11 s) in µs.
    #[inline]
    fn long(&mut self) -> Duration {
        Duration::from_micros(10_000_000 + self.next() % 1_000_000)
    }

    /// fire: [0, 2 ms) in µs.
    #[inline]
    fn fire(&mut self) -> Duration {
        Duration::from_micros(self.next() % 2_000)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Again,
    StartStop,
    Fire,
}

/// The application state the callbacks get.
struct State {
    n: u64,
    /// Timer callbacks in this run.
    fired: u64,
    /// Fire mode: when the callback that made `fired == n` ran.
    t_end: Option<Instant>,
}

fn usage() -> ExitCode {
    eprintln!("usage: timer_bench --timers N --rounds K --mode again|startstop|fire --runs R");
    ExitCode::from(2)
}

fn parse_args() -> Option<(u64, u64, String, u64)> {
    fn num(v: Option<String>) -> Option<u64> {
        v?.parse::<u64>()
            .ok()
            .filter(|v| (1..=100_000_000).contains(v))
    }
    let (mut n, mut k, mut mode, mut runs) = (None, None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--timers" => n = Some(num(it.next())?),
            "--rounds" => k = Some(num(it.next())?),
            "--runs" => runs = Some(num(it.next())?),
            "--mode" => mode = Some(it.next()?),
            _ => return None,
        }
    }
    Some((n?, k?, mode?, runs?))
}

fn main() -> ExitCode {
    let Some((n, k, mode_s, runs)) = parse_args() else {
        return usage();
    };
    let mode = match mode_s.as_str() {
        "again" => Mode::Again,
        "startstop" => Mode::StartStop,
        "fire" => Mode::Fire,
        _ => return usage(),
    };
    match bench(n, k, mode, &mode_s, runs) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("timer_bench: wrong number of timer callbacks (see fired=)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("timer_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Makes the runs; `Ok(false)` if some run's `fired` was wrong.
fn bench(n: u64, k: u64, mode: Mode, mode_s: &str, runs: u64) -> Result<bool, evloop::Error> {
    let mut lp = Loop::builder().ignore_env(true).build::<State>()?;
    let mut ids: Vec<TimerId> = Vec::with_capacity(n as usize);
    for _ in 0..n {
        ids.push(lp.ctx().new_timer(
            Duration::ZERO,
            Duration::ZERO,
            |ctx, st: &mut State, _id, _ev| {
                st.fired += 1;
                if st.fired == st.n {
                    st.t_end = Some(Instant::now());
                    ctx.break_loop(Break::All);
                }
            },
        )?);
    }
    let mut st = State {
        n,
        fired: 0,
        t_end: None,
    };

    let mut rng = Rng(Rng::SEED);
    if mode != Mode::Fire {
        // Untimed, once per process: start every timer.
        let mut ctx = lp.ctx();
        ctx.now_update();
        for &id in &ids {
            let mut t = ctx.timer(id)?;
            t.set(rng.long(), Duration::ZERO)?;
            t.start()?;
        }
        lp.run(&mut st, RunMode::NoWait)?;
    }

    let mut ok = true;
    for _ in 0..runs {
        st.fired = 0;
        st.t_end = None;
        let (us, ops) = match mode {
            Mode::Fire => {
                let mut ctx = lp.ctx();
                ctx.now_update(); // untimed: timeouts count from now
                let t0 = Instant::now();
                for &id in &ids {
                    let mut t = ctx.timer(id)?;
                    t.set(rng.fire(), Duration::ZERO)?;
                    t.start()?;
                }
                lp.run(&mut st, RunMode::Default)?;
                let mut t1 = Instant::now();
                if st.fired == n {
                    // The last callback, not the loop's exit.
                    t1 = st.t_end.unwrap_or(t1);
                }
                (t1 - t0, n)
            }
            Mode::Again => {
                let t0 = Instant::now();
                for _ in 0..k {
                    let mut ctx = lp.ctx();
                    for &id in &ids {
                        ctx.timer(id)?.again_with(rng.long())?;
                    }
                    lp.run(&mut st, RunMode::NoWait)?;
                }
                (t0.elapsed(), n * k)
            }
            Mode::StartStop => {
                let t0 = Instant::now();
                for _ in 0..k {
                    let mut ctx = lp.ctx();
                    for &id in &ids {
                        let mut t = ctx.timer(id)?;
                        t.stop();
                        t.set(rng.long(), Duration::ZERO)?;
                        t.start()?;
                    }
                    lp.run(&mut st, RunMode::NoWait)?;
                }
                (t0.elapsed(), n * k)
            }
        };
        if st.fired != if mode == Mode::Fire { n } else { 0 } {
            ok = false;
        }
        println!(
            "timers={n} mode={mode_s} rounds={k} ops={ops} us={:.1} fired={}",
            us.as_secs_f64() * 1e6,
            st.fired
        );
    }
    io::stdout().flush().map_err(evloop::Error::Io)?;
    Ok(ok)
}
