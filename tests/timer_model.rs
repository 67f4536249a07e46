//! Model-based test of timers through the public API: random sequences of
//! start, stop, again, remove, fed events and clock steps, checked against
//! a plain model of libev's timer semantics. This is what exercises the
//! timer heap's lazy paths (re-arms that move a deadline later, stops that
//! leave the entry behind) together with the heap itself.
//!
//! The model follows libev: a timer fires once its deadline has *passed*
//! (`deadline < now`; the old model fired at `deadline <= now`), and
//! `again`, `stop` and `remove` drop an event the timer has pending.

use std::time::{Duration, SystemTime};

use evloop::{Backend, Events, Loop, ManualClock, Priority, RunMode, TimerId};
use proptest::prelude::*;

const TIMERS: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Start(usize, u64),
    Stop(usize),
    Again(usize, u64),
    Remove(usize),
    /// Feeds the timer an event (CUSTOM), making it pending outside `run`.
    Feed(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TIMERS, 0u64..50).prop_map(|(i, a)| Op::Start(i, a)),
        2 => (0..TIMERS).prop_map(Op::Stop),
        3 => (0..TIMERS, 0u64..40).prop_map(|(i, r)| Op::Again(i, r)),
        1 => (0..TIMERS).prop_map(Op::Remove),
        2 => (0..TIMERS).prop_map(Op::Feed),
        4 => (0u64..60).prop_map(Op::Advance),
    ]
}

/// One timer as the model sees it; times in ms since the loop started.
#[derive(Debug, Clone, Copy, Default)]
struct Model {
    active: bool,
    deadline: u64,
    repeat: u64,
    /// A fed event is pending.
    fed: bool,
}

/// (timer index, events) per callback, in callback order.
type Fired = Vec<(usize, Events)>;

/// Timer `i` has priority `prio(i)`: -1, 0 or 1, so that the default
/// priority and the others (queued by different paths) are both covered.
fn prio(i: usize) -> i8 {
    (i % 3) as i8 - 1
}

fn make_timer(lp: &mut Loop<Fired>, i: usize) -> TimerId {
    let mut ctx = lp.ctx();
    let id = ctx
        .new_timer(
            Duration::ZERO,
            Duration::ZERO,
            move |_c, fired: &mut Fired, _id, ev| fired.push((i, ev)),
        )
        .unwrap();
    ctx.timer(id)
        .unwrap()
        .set_priority(Priority::new(prio(i)).unwrap());
    id
}

fn check(backend: Backend, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
    let mut lp: Loop<Fired> = Loop::builder()
        .backend(backend)
        .ignore_env(true)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut ids: Vec<TimerId> = (0..TIMERS).map(|i| make_timer(&mut lp, i)).collect();
    let mut model = [Model::default(); TIMERS];
    let mut now = 0u64;
    for op in ops {
        match *op {
            Op::Start(i, after) => {
                let mut ctx = lp.ctx();
                let mut w = ctx.timer(ids[i]).unwrap();
                if !model[i].active {
                    w.set(
                        Duration::from_millis(after),
                        Duration::from_millis(model[i].repeat),
                    )
                    .unwrap();
                    w.start().unwrap();
                    model[i].active = true;
                    model[i].deadline = now + after;
                } else {
                    prop_assert!(w.set(Duration::ZERO, Duration::ZERO).is_err());
                }
            }
            Op::Stop(i) => {
                lp.ctx().stop(ids[i]).unwrap();
                model[i].active = false;
                model[i].fed = false;
            }
            Op::Again(i, repeat) => {
                lp.ctx()
                    .timer(ids[i])
                    .unwrap()
                    .again_with(Duration::from_millis(repeat))
                    .unwrap();
                model[i].repeat = repeat;
                model[i].fed = false;
                if repeat > 0 {
                    model[i].active = true;
                    model[i].deadline = now + repeat;
                } else {
                    model[i].active = false;
                }
            }
            Op::Remove(i) => {
                lp.ctx().remove(ids[i]).unwrap();
                prop_assert!(lp.ctx().start(ids[i]).is_err());
                ids[i] = make_timer(&mut lp, i);
                model[i] = Model::default();
            }
            Op::Feed(i) => {
                lp.ctx()
                    .timer(ids[i])
                    .unwrap()
                    .feed(Events::CUSTOM)
                    .unwrap();
                model[i].fed = true;
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(ms));
                now += ms;
                let mut fired = Vec::new();
                lp.run(&mut fired, RunMode::NoWait).unwrap();
                // Fed events run first (they were pending before the
                // iteration began), once per fed timer.
                let n_fed = fired.iter().take_while(|f| f.1 == Events::CUSTOM).count();
                let mut got_fed: Vec<usize> = fired[..n_fed].iter().map(|f| f.0).collect();
                got_fed.sort();
                let want_fed: Vec<usize> = (0..TIMERS).filter(|&i| model[i].fed).collect();
                prop_assert_eq!(&got_fed, &want_fed, "fed events run at now={}", now);
                for m in model.iter_mut() {
                    m.fed = false;
                }
                let fired: Vec<usize> = fired[n_fed..]
                    .iter()
                    .map(|&(i, ev)| {
                        assert_eq!(ev, Events::TIMER, "timer {i}");
                        i
                    })
                    .collect();
                let mut expect: Vec<(u64, usize)> = (0..TIMERS)
                    .filter(|&i| model[i].active && model[i].deadline < now)
                    .map(|i| (model[i].deadline, i))
                    .collect();
                expect.sort();
                // Same set, in nondecreasing deadline order.
                let mut got_sorted = fired.clone();
                got_sorted.sort();
                let mut want_ids: Vec<usize> = expect.iter().map(|e| e.1).collect();
                want_ids.sort();
                prop_assert_eq!(&got_sorted, &want_ids, "fired set at now={}", now);
                // Highest priority first; within one, earliest deadline first.
                let order: Vec<(i8, u64)> = fired
                    .iter()
                    .map(|&i| (-prio(i), model[i].deadline))
                    .collect();
                prop_assert!(order.windows(2).all(|w| w[0] <= w[1]), "order {:?}", order);
                for &(_, i) in &expect {
                    let m = &mut model[i];
                    if m.repeat > 0 {
                        // No catch-up: a timer that fell more than a period
                        // behind continues one period after now.
                        let mut next = m.deadline + m.repeat;
                        if next < now {
                            next = now + m.repeat;
                        }
                        m.deadline = next;
                    } else {
                        m.active = false;
                    }
                }
            }
        }
        for i in 0..TIMERS {
            let mut ctx = lp.ctx();
            let w = ctx.timer(ids[i]).unwrap();
            prop_assert_eq!(w.is_active(), model[i].active, "timer {} active", i);
            prop_assert_eq!(w.is_pending(), model[i].fed, "timer {} pending", i);
            let remaining = w.remaining();
            let want = model[i]
                .active
                .then(|| Duration::from_millis(model[i].deadline.saturating_sub(now)));
            prop_assert_eq!(remaining, want, "timer {} remaining", i);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn timers_follow_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        for backend in evloop::supported_backends().iter_best_first() {
            check(backend, &ops)?;
        }
    }
}
