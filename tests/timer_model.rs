//! Model-based test of timers through the public API: random sequences of
//! start, stop, again and clock steps, checked against a plain model of
//! libev's timer semantics. This is what exercises the timer heap's lazy
//! paths (re-arms that move a deadline later, stops that leave the entry
//! behind) together with the heap itself.

use std::time::{Duration, SystemTime};

use evloop::{Backend, Loop, ManualClock, Priority, RunMode, TimerId};
use proptest::prelude::*;

const TIMERS: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Start(usize, u64),
    Stop(usize),
    Again(usize, u64),
    Remove(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TIMERS, 0u64..50).prop_map(|(i, a)| Op::Start(i, a)),
        2 => (0..TIMERS).prop_map(Op::Stop),
        3 => (0..TIMERS, 0u64..40).prop_map(|(i, r)| Op::Again(i, r)),
        1 => (0..TIMERS).prop_map(Op::Remove),
        4 => (0u64..60).prop_map(Op::Advance),
    ]
}

/// One timer as the model sees it; times in ms since the loop started.
#[derive(Debug, Clone, Copy, Default)]
struct Model {
    active: bool,
    deadline: u64,
    repeat: u64,
}

type Fired = Vec<usize>;

/// Timer `i` has priority `prio(i)`: -1, 0 or 1, so that the default
/// priority and the others (queued by different paths) are both covered.
fn prio(i: usize) -> i8 {
    (i % 3) as i8 - 1
}

fn make_timer(lp: &mut Loop<Fired>, i: usize) -> TimerId {
    let id = lp
        .timer(
            Duration::ZERO,
            Duration::ZERO,
            move |_c, fired: &mut Fired, _id, _ev| fired.push(i),
        )
        .unwrap();
    lp.set_priority(id, Priority::new(prio(i)).unwrap())
        .unwrap();
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
                if !model[i].active {
                    lp.set_timer(
                        ids[i],
                        Duration::from_millis(after),
                        Duration::from_millis(model[i].repeat),
                    )
                    .unwrap();
                    lp.start(ids[i]).unwrap();
                    model[i].active = true;
                    model[i].deadline = now + after;
                } else {
                    prop_assert!(lp
                        .set_timer(ids[i], Duration::ZERO, Duration::ZERO)
                        .is_err());
                }
            }
            Op::Stop(i) => {
                lp.stop(ids[i]).unwrap();
                model[i].active = false;
            }
            Op::Again(i, repeat) => {
                lp.timer_again_with(ids[i], Duration::from_millis(repeat))
                    .unwrap();
                model[i].repeat = repeat;
                if repeat > 0 {
                    model[i].active = true;
                    model[i].deadline = now + repeat;
                } else {
                    model[i].active = false;
                }
            }
            Op::Remove(i) => {
                lp.remove(ids[i]).unwrap();
                prop_assert!(lp.start(ids[i]).is_err());
                ids[i] = make_timer(&mut lp, i);
                model[i] = Model::default();
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(ms));
                now += ms;
                let mut fired = Vec::new();
                lp.run(&mut fired, RunMode::NoWait).unwrap();
                let mut expect: Vec<(u64, usize)> = (0..TIMERS)
                    .filter(|&i| model[i].active && model[i].deadline <= now)
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
                        let mut next = m.deadline + m.repeat;
                        if next <= now {
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
            prop_assert_eq!(lp.is_active(ids[i]), model[i].active, "timer {} active", i);
            let remaining = lp.timer_remaining(ids[i]).unwrap();
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
