//! Micro-benchmarks of the loop's own bookkeeping, through the public API
//! only (no system call is timed except the one non-blocking poll per
//! iteration where a benchmark says so).
//!
//! * `timers`: re-arming 10k active timers with `again_with`, and
//!   stop + `set` + start on them, each batch followed by one
//!   `RunMode::NoWait` iteration so that deferred heap work is counted (the
//!   same shape as `bench/core/timer_run.sh`'s `again` and `startstop`).
//! * `pending`: `feed` to N watchers, then `invoke_pending`.
//! * `idle_spin`: loop iterations per second with one idle watcher active
//!   (each iteration polls with a zero timeout and runs the idle callback).
//!
//! Throughput is in elements: timer operations, dispatched callbacks or
//! loop iterations. Quick to run:
//!
//! ```text
//! cargo bench --bench core              # about 20 s
//! cargo bench --bench core -- --quick   # a few seconds
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use evloop::{Break, Events, Loop, RunMode, TimerId};

/// The timer benchmark's PRNG (xorshift64, 13/7/17), for timeouts in
/// [10 s, 11 s): long enough that no timer fires during a benchmark.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        Rng(0x9E37_79B9_7F4A_7C15)
    }

    #[inline]
    fn long(&mut self) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_micros(10_000_000 + self.0 % 1_000_000)
    }
}

const TIMERS: usize = 10_000;

/// A loop with `TIMERS` active timers, started with random long timeouts.
fn timer_loop(rng: &mut Rng) -> (Loop<u64>, Vec<TimerId>) {
    let mut lp = Loop::builder()
        .ignore_env(true)
        .build::<u64>()
        .expect("loop");
    let mut ctx = lp.ctx();
    let ids: Vec<TimerId> = (0..TIMERS)
        .map(|_| {
            let id = ctx
                .new_timer(
                    Duration::ZERO,
                    Duration::ZERO,
                    |_c, fired: &mut u64, _id, _ev| {
                        *fired += 1;
                    },
                )
                .expect("timer");
            let mut w = ctx.timer(id).expect("view");
            w.set(rng.long(), Duration::ZERO).expect("set");
            w.start().expect("start");
            id
        })
        .collect();
    lp.run(&mut 0, RunMode::NoWait).expect("run");
    (lp, ids)
}

fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers");
    g.throughput(Throughput::Elements(TIMERS as u64));

    let mut rng = Rng::new();
    let (mut lp, ids) = timer_loop(&mut rng);
    let mut fired = 0u64;
    g.bench_function("again_10k", |b| {
        b.iter(|| {
            let mut ctx = lp.ctx();
            for &id in &ids {
                ctx.timer(id)
                    .expect("view")
                    .again_with(rng.long())
                    .expect("again");
            }
            lp.run(&mut fired, RunMode::NoWait).expect("run");
        })
    });

    g.bench_function("stop_start_10k", |b| {
        b.iter(|| {
            let mut ctx = lp.ctx();
            for &id in &ids {
                let mut w = ctx.timer(id).expect("view");
                w.stop();
                w.set(rng.long(), Duration::ZERO).expect("set");
                w.start().expect("start");
            }
            lp.run(&mut fired, RunMode::NoWait).expect("run");
        })
    });

    // Stop all, one non-blocking iteration, then start all again: ops = 2
    // per timer, reported per timer. Stopped timers leave their heap entry
    // behind (dropped only when it comes due), so each start reuses it.
    g.bench_function("stop_all_start_all_10k", |b| {
        b.iter(|| {
            let mut ctx = lp.ctx();
            for &id in &ids {
                ctx.stop(id).expect("stop");
            }
            lp.run(&mut fired, RunMode::NoWait).expect("run");
            let mut ctx = lp.ctx();
            for &id in &ids {
                let mut w = ctx.timer(id).expect("view");
                w.set(rng.long(), Duration::ZERO).expect("set");
                w.start().expect("start");
            }
            lp.run(&mut fired, RunMode::NoWait).expect("run");
        })
    });
    g.finish();
    assert_eq!(fired, 0, "no timer may fire in the timer benchmarks");
}

fn pending(c: &mut Criterion) {
    let mut g = c.benchmark_group("pending");
    for n in [100usize, 10_000] {
        let mut lp = Loop::builder()
            .ignore_env(true)
            .build::<u64>()
            .expect("loop");
        // Stopped timers: feed works on any watcher, active or not.
        let mut ctx = lp.ctx();
        let ids: Vec<TimerId> = (0..n)
            .map(|_| {
                ctx.new_timer(
                    Duration::ZERO,
                    Duration::ZERO,
                    |_c, calls: &mut u64, _id, ev| {
                        *calls += u64::from(ev.contains(Events::CUSTOM));
                    },
                )
                .expect("timer")
            })
            .collect();
        let mut calls = 0u64;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("feed_invoke", n), &n, |b, _| {
            b.iter(|| {
                let mut ctx = lp.ctx();
                for &id in &ids {
                    ctx.timer(id)
                        .expect("view")
                        .feed(Events::CUSTOM)
                        .expect("feed");
                }
                ctx.invoke_pending(&mut calls);
            })
        });
        assert!(calls >= n as u64);
        black_box(calls);
    }
    g.finish();
}

fn idle_spin(c: &mut Criterion) {
    /// Iterations per measured call.
    const ITERS: u64 = 1_000;
    let mut g = c.benchmark_group("idle_spin");
    g.throughput(Throughput::Elements(ITERS));
    let mut lp = Loop::builder()
        .ignore_env(true)
        .build::<u64>()
        .expect("loop");
    let mut ctx = lp.ctx();
    let idle = ctx
        .new_idle(|ctx, left: &mut u64, _id, _ev| {
            *left -= 1;
            if *left == 0 {
                ctx.break_loop(Break::All);
            }
        })
        .expect("idle");
    ctx.start(idle).expect("start");
    g.bench_function("iterations", |b| {
        b.iter(|| {
            let mut left = ITERS;
            lp.run(&mut left, RunMode::Default).expect("run");
            assert_eq!(left, 0);
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = core;
    config = config();
    targets = timers, pending, idle_spin
}
criterion_main!(core);
