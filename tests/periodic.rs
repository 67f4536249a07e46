//! Periodic watchers: wall-clock schedules, and what they do when the wall
//! clock is stepped backwards or forwards. All under a [`ManualClock`], on
//! every backend.

mod common;

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{for_each_backend, manual_loop_at};
use evloop::{Backend, Error, Events, Loop, ManualClock, PeriodicId, RunMode, Schedule};

/// A manual-clock loop with its wall clock at [`w0`].
fn manual_loop<T>(b: Backend) -> (Loop<T>, ManualClock) {
    manual_loop_at(b, w0())
}

const HOUR: Duration = Duration::from_secs(3600);
const NS: Duration = Duration::from_nanos(1);

/// The wall time every test starts at: 1_700_000_000.123456789 s after the
/// epoch (deliberately not on any round grid).
fn w0() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789)
}

fn epoch_secs(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}
fn nowait<T>(lp: &mut Loop<T>, data: &mut T) {
    lp.run(data, RunMode::NoWait).unwrap();
}

/// `at()` of a periodic: when it fires next, `None` when stopped.
fn next_at<T>(lp: &mut Loop<T>, p: PeriodicId) -> Option<SystemTime> {
    lp.ctx().periodic(p).unwrap().at()
}

/// The wall times (as seen by the callback) at which a periodic fired.
type Fires = Vec<SystemTime>;

fn record(lp: &mut Loop<Fires>, schedule: Schedule) -> Result<PeriodicId, Error> {
    lp.ctx()
        .new_periodic(schedule, |ctx, fires: &mut Fires, _id, ev| {
            assert_eq!(ev, Events::PERIODIC);
            fires.push(ctx.now_wall());
        })
}

/// An `At` periodic fires once the wall clock is past its time: not 1 ns
/// before it, and not at it either (the old code fired at it; libev
/// compares with `<`).
#[test]
fn at_fires_just_past_the_wall_time_not_before() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let at = w0() + Duration::from_secs(5);
        let p = record(&mut lp, Schedule::At(at)).unwrap();
        assert_eq!(next_at(&mut lp, p), None, "not started yet");
        lp.ctx().start(p).unwrap();
        assert_eq!(next_at(&mut lp, p), Some(at));
        let mut fires = Fires::new();
        clock.advance(Duration::from_secs(5) - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired 1 ns before its time");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired at its time, not past it");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [at + NS]);
        assert!(!lp.ctx().is_active(p), "an At periodic is one-shot");
        assert_eq!(next_at(&mut lp, p), None);
        assert_eq!(lp.ctx().refs(), 0);
        clock.advance(HOUR);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires.len(), 1);
    });
}

#[test]
fn at_in_the_past_fires_in_the_next_iteration() {
    for_each_backend(|b| {
        let (mut lp, _clock) = manual_loop::<Fires>(b);
        let p = record(&mut lp, Schedule::At(w0() - HOUR)).unwrap();
        lp.ctx().start(p).unwrap();
        let mut fires = Fires::new();
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [w0()]);
        assert!(!lp.ctx().is_active(p));
    });
}

#[test]
fn every_is_aligned_to_the_grid() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let p = record(
            &mut lp,
            Schedule::Every {
                interval: Duration::from_secs(60),
                offset: Duration::from_secs(7),
            },
        )
        .unwrap();
        lp.ctx().start(p).unwrap();
        // Grid: 7 s past each minute. After 1_700_000_000.12: ...047.
        let first = epoch_secs(1_700_000_047);
        assert_eq!(next_at(&mut lp, p), Some(first));
        let mut fires = Fires::new();
        clock.advance(first.duration_since(w0()).unwrap() - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired before the grid time");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired at the grid time, not past it");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [first + NS]);
        assert!(lp.ctx().is_active(p), "Every keeps going");
        let second = first + Duration::from_secs(60);
        assert_eq!(next_at(&mut lp, p), Some(second));
        clock.advance(Duration::from_secs(60));
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [first + NS, second + NS]);
    });
}

#[test]
fn every_offset_larger_than_interval_is_taken_modulo() {
    for_each_backend(|b| {
        let (mut lp, _clock) = manual_loop::<Fires>(b);
        let p = record(
            &mut lp,
            Schedule::Every {
                interval: Duration::from_secs(60),
                offset: Duration::from_secs(60 * 5 + 7),
            },
        )
        .unwrap();
        lp.ctx().start(p).unwrap();
        assert_eq!(next_at(&mut lp, p), Some(epoch_secs(1_700_000_047)));
    });
}

#[test]
fn every_does_not_catch_up_when_the_loop_stalls() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let p = record(
            &mut lp,
            Schedule::Every {
                interval: Duration::from_secs(10),
                offset: Duration::ZERO,
            },
        )
        .unwrap();
        lp.ctx().start(p).unwrap();
        let mut fires = Fires::new();
        // Ten minutes without an iteration (monotonic time moves too: no
        // jump), then one iteration: one call, next on the grid after now.
        clock.advance(Duration::from_secs(600));
        nowait(&mut lp, &mut fires);
        assert_eq!(fires.len(), 1, "missed periods fired in a burst");
        nowait(&mut lp, &mut fires);
        assert_eq!(fires.len(), 1);
        let now = w0() + Duration::from_secs(600); // ...600.123
        assert_eq!(next_at(&mut lp, p), Some(epoch_secs(1_700_000_610)));
        clock.advance(epoch_secs(1_700_000_610).duration_since(now).unwrap());
        nowait(&mut lp, &mut fires);
        assert_eq!(fires.len(), 1, "at the grid time, not past it");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires.len(), 2);
    });
}

#[test]
fn wall_clock_set_back_every_follows_the_new_wall_time() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let p = record(
            &mut lp,
            Schedule::Every {
                interval: Duration::from_secs(60),
                offset: Duration::ZERO,
            },
        )
        .unwrap();
        lp.ctx().start(p).unwrap();
        let a1 = epoch_secs(1_700_000_040);
        assert_eq!(next_at(&mut lp, p), Some(a1));
        let mut fires = Fires::new();
        clock.set_wall(w0() - HOUR);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        // Rescheduled onto the grid after the new now, not kept at a1.
        let new_next = a1 - HOUR;
        assert_eq!(next_at(&mut lp, p), Some(new_next));
        let wait = new_next.duration_since(w0() - HOUR).unwrap(); // 39.88 s
        clock.advance(wait - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired before the aligned time");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired at the aligned time, not past it");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(
            fires,
            [new_next + NS],
            "an Every periodic must fire at the next aligned time of the new wall time, not an hour later"
        );
    });
}

#[test]
fn wall_clock_set_back_at_waits_for_its_absolute_time() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let at = w0() + Duration::from_secs(10);
        let p = record(&mut lp, Schedule::At(at)).unwrap();
        lp.ctx().start(p).unwrap();
        let mut fires = Fires::new();
        clock.set_wall(w0() - HOUR);
        nowait(&mut lp, &mut fires);
        assert_eq!(next_at(&mut lp, p), Some(at), "At keeps its time");
        // 10 s of real time: a monotonic timer would fire now; At must not.
        clock.advance(Duration::from_secs(10));
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "At fired by elapsed time, not wall time");
        clock.advance(HOUR - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        clock.advance(NS); // at its time: not past it yet
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [at + NS]);
    });
}

#[test]
fn wall_clock_set_forward_at_fires_at_once() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let at = w0() + HOUR;
        let p = record(&mut lp, Schedule::At(at)).unwrap();
        lp.ctx().start(p).unwrap();
        let mut fires = Fires::new();
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        clock.set_wall(w0() + 2 * HOUR);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [w0() + 2 * HOUR]);
        assert!(!lp.ctx().is_active(p));
    });
}

#[test]
fn wall_clock_set_forward_every_skips_missed_times() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let p = record(
            &mut lp,
            Schedule::Every {
                interval: Duration::from_secs(60),
                offset: Duration::ZERO,
            },
        )
        .unwrap();
        lp.ctx().start(p).unwrap();
        let mut fires = Fires::new();
        let jumped = w0() + HOUR + Duration::from_secs(30); // ...3630.123
        clock.set_wall(jumped);
        nowait(&mut lp, &mut fires);
        nowait(&mut lp, &mut fires);
        assert!(
            fires.is_empty(),
            "the {} grid times skipped by the jump must not fire: {fires:?}",
            fires.len()
        );
        let next = epoch_secs(1_700_003_640);
        assert_eq!(next_at(&mut lp, p), Some(next));
        clock.advance(next.duration_since(jumped).unwrap());
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired at the grid time, not past it");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [next + NS]);
    });
}

#[test]
fn small_wall_drift_is_not_a_jump() {
    // Below one second the wall clock's difference is drift: periodics are
    // not rescheduled (libev's MIN_TIMEJUMP). A custom schedule shows it: it
    // would be asked again on a jump.
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let calls: Rc<RefCell<Vec<SystemTime>>> = Rc::default();
        let c = calls.clone();
        let p = record(
            &mut lp,
            Schedule::Custom(Box::new(move |now| {
                c.borrow_mut().push(now);
                Some(now + Duration::from_secs(60))
            })),
        )
        .unwrap();
        lp.ctx().start(p).unwrap();
        let mut fires = Fires::new();
        clock.set_wall(w0() + Duration::from_millis(500));
        nowait(&mut lp, &mut fires);
        clock.set_wall(w0());
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        assert_eq!(*calls.borrow(), [w0()], "drift was taken for a jump");
        assert_eq!(next_at(&mut lp, p), Some(w0() + Duration::from_secs(60)));
        // One second is a jump.
        clock.set_wall(w0() + Duration::from_secs(1));
        nowait(&mut lp, &mut fires);
        assert_eq!(calls.borrow().len(), 2, "a 1 s step is a jump");
    });
}

#[test]
fn custom_schedule_gets_loop_wall_time_and_none_stops() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let calls: Rc<RefCell<Vec<SystemTime>>> = Rc::default();
        let c = calls.clone();
        let p = record(
            &mut lp,
            Schedule::Custom(Box::new(move |now| {
                c.borrow_mut().push(now);
                (c.borrow().len() < 3).then(|| now + Duration::from_secs(10))
            })),
        )
        .unwrap();
        assert!(calls.borrow().is_empty(), "not asked before start");
        lp.ctx().start(p).unwrap();
        assert_eq!(*calls.borrow(), [w0()], "asked with the loop's wall time");
        assert_eq!(next_at(&mut lp, p), Some(w0() + Duration::from_secs(10)));
        let mut fires = Fires::new();
        clock.advance(Duration::from_secs(10));
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired at its time, not past it");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        // It fired 1 ns past its time, and the closure was asked then.
        let t10 = w0() + Duration::from_secs(10) + NS;
        assert_eq!(fires, [t10]);
        assert_eq!(*calls.borrow(), [w0(), t10]);
        assert!(lp.ctx().is_active(p));
        // Late by 2 s: the closure is asked with the loop's wall time (t22),
        // not with the time the periodic was due.
        clock.advance(Duration::from_secs(12));
        nowait(&mut lp, &mut fires);
        let t22 = t10 + Duration::from_secs(12);
        // The closure said None when asked at t22: it fired, then stopped.
        assert_eq!(fires, [t10, t22]);
        assert_eq!(*calls.borrow(), [w0(), t10, t22]);
        assert!(!lp.ctx().is_active(p), "None must stop the periodic");
        assert_eq!(lp.ctx().refs(), 0);
        clock.advance(Duration::from_secs(60));
        nowait(&mut lp, &mut fires);
        assert_eq!(fires.len(), 2);
    });
}

#[test]
fn custom_schedule_none_at_start_is_an_error() {
    for_each_backend(|b| {
        let (mut lp, _clock) = manual_loop::<Fires>(b);
        let p = record(&mut lp, Schedule::Custom(Box::new(|_| None))).unwrap();
        assert!(matches!(lp.ctx().start(p), Err(Error::InvalidArgument(_))));
        assert!(!lp.ctx().is_active(p));
        assert_eq!(lp.ctx().refs(), 0);
    });
}

#[test]
fn custom_schedule_is_asked_again_after_a_jump() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let calls: Rc<RefCell<Vec<SystemTime>>> = Rc::default();
        let c = calls.clone();
        let p = record(
            &mut lp,
            Schedule::Custom(Box::new(move |now| {
                c.borrow_mut().push(now);
                Some(now + Duration::from_secs(30))
            })),
        )
        .unwrap();
        lp.ctx().start(p).unwrap();
        let mut fires = Fires::new();
        clock.set_wall(w0() - HOUR);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        assert_eq!(*calls.borrow(), [w0(), w0() - HOUR]);
        assert_eq!(
            next_at(&mut lp, p),
            Some(w0() - HOUR + Duration::from_secs(30))
        );
    });
}

#[test]
fn periodic_at_is_none_when_stopped() {
    for_each_backend(|b| {
        let (mut lp, _clock) = manual_loop::<Fires>(b);
        let p = record(
            &mut lp,
            Schedule::Every {
                interval: HOUR,
                offset: Duration::ZERO,
            },
        )
        .unwrap();
        assert_eq!(next_at(&mut lp, p), None);
        lp.ctx().start(p).unwrap();
        assert_eq!(next_at(&mut lp, p), Some(epoch_secs(1_700_002_800)));
        lp.ctx().stop(p).unwrap();
        assert_eq!(next_at(&mut lp, p), None);
        lp.ctx().remove(p).unwrap();
        assert!(matches!(lp.ctx().periodic(p), Err(Error::StaleHandle)));
    });
}

#[test]
fn set_schedule_on_active_is_an_error_and_works_when_stopped() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let at = w0() + Duration::from_secs(5);
        let p = record(&mut lp, Schedule::At(at)).unwrap();
        lp.ctx().start(p).unwrap();
        assert!(matches!(
            lp.ctx()
                .periodic(p)
                .unwrap()
                .set_schedule(Schedule::At(w0() + HOUR)),
            Err(Error::Active)
        ));
        assert_eq!(next_at(&mut lp, p), Some(at), "unchanged");
        lp.ctx().stop(p).unwrap();
        let later = w0() + Duration::from_secs(20);
        lp.ctx()
            .periodic(p)
            .unwrap()
            .set_schedule(Schedule::At(later))
            .unwrap();
        lp.ctx().start(p).unwrap();
        assert_eq!(next_at(&mut lp, p), Some(later));
        let mut fires = Fires::new();
        clock.advance(Duration::from_secs(10));
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "the old schedule fired");
        clock.advance(Duration::from_secs(10) + NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [later + NS]);
    });
}

#[test]
fn every_with_zero_interval_is_invalid() {
    for_each_backend(|b| {
        let (mut lp, _clock) = manual_loop::<Fires>(b);
        let zero = || Schedule::Every {
            interval: Duration::ZERO,
            offset: Duration::from_secs(1),
        };
        assert!(matches!(
            record(&mut lp, zero()),
            Err(Error::InvalidArgument(_))
        ));
        let p = record(&mut lp, Schedule::At(w0() + HOUR)).unwrap();
        assert!(matches!(
            lp.ctx().periodic(p).unwrap().set_schedule(zero()),
            Err(Error::InvalidArgument(_))
        ));
        // The failed set left the old schedule in place.
        lp.ctx().start(p).unwrap();
        assert_eq!(next_at(&mut lp, p), Some(w0() + HOUR));
    });
}

#[test]
fn periodics_due_together_fire_in_time_order() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<u32>>(b);
        for (n, secs) in [(3u32, 30u64), (1, 10), (4, 40), (2, 20)] {
            let p = lp
                .ctx()
                .new_periodic(
                    Schedule::At(w0() + Duration::from_secs(secs)),
                    move |_c, log: &mut Vec<u32>, _id, _ev| log.push(n),
                )
                .unwrap();
            lp.ctx().start(p).unwrap();
        }
        let mut log = Vec::new();
        clock.advance(Duration::from_secs(60));
        nowait(&mut lp, &mut log);
        assert_eq!(log, [1, 2, 3, 4]);
    });
}

// ------------------------------------------------------------ strictness

/// An `Every` periodic fires only once the wall clock is past each grid
/// point: at the grid point itself nothing happens, 1 ns later it fires,
/// for several periods in a row.
#[test]
fn every_fires_only_past_each_grid_point() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let p = record(
            &mut lp,
            Schedule::Every {
                interval: Duration::from_secs(10),
                offset: Duration::from_secs(3),
            },
        )
        .unwrap();
        lp.ctx().start(p).unwrap();
        let mut grid = epoch_secs(1_700_000_003);
        assert_eq!(next_at(&mut lp, p), Some(grid));
        let mut wall = w0();
        let mut fires = Fires::new();
        for k in 0..4 {
            clock.advance(grid.duration_since(wall).unwrap());
            wall = grid;
            nowait(&mut lp, &mut fires);
            assert_eq!(fires.len(), k, "fired at grid point #{k}, not past it");
            clock.advance(NS);
            wall += NS;
            nowait(&mut lp, &mut fires);
            assert_eq!(fires.len(), k + 1, "did not fire 1 ns past grid point #{k}");
            assert_eq!(fires[k], grid + NS);
            grid += Duration::from_secs(10);
            assert_eq!(next_at(&mut lp, p), Some(grid));
        }
    });
}

/// A wall-clock jump that lands exactly on an `At` periodic's time does
/// not fire it; the wall clock must be past it.
#[test]
fn at_is_not_fired_by_a_jump_onto_its_time() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let at = w0() + HOUR;
        let p = record(&mut lp, Schedule::At(at)).unwrap();
        lp.ctx().start(p).unwrap();
        let mut fires = Fires::new();
        clock.set_wall(at);
        nowait(&mut lp, &mut fires);
        assert!(
            fires.is_empty(),
            "fired when the wall clock was at its time"
        );
        assert!(lp.ctx().is_active(p));
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [at + NS]);
    });
}

// ------------------------------------------------------------ panicking schedules

/// (periodic name, wall time of the callback)
type Log = Vec<(&'static str, SystemTime)>;

fn named(lp: &mut Loop<Log>, name: &'static str, schedule: Schedule) -> PeriodicId {
    let mut ctx = lp.ctx();
    let p = ctx
        .new_periodic(schedule, move |ctx, log: &mut Log, _id, ev| {
            assert_eq!(ev, Events::PERIODIC);
            log.push((name, ctx.now_wall()));
        })
        .unwrap();
    ctx.start(p).unwrap();
    p
}

/// A custom schedule that says `before` when asked at start (at [`w0`]),
/// and after a jump back of the wall clock (asked earlier than `w0`)
/// says `after` until that has passed, then `None` (fire once, stop).
fn plan(before: SystemTime, after: SystemTime) -> Schedule {
    Schedule::Custom(Box::new(move |now| {
        if now >= w0() {
            Some(before)
        } else if now < after {
            Some(after)
        } else {
            None
        }
    }))
}

/// The message of a caught panic.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// A `Schedule::Custom` closure that panics while the loop reschedules all
/// periodics after a wall-clock jump: the panic comes out of `run`, the
/// panicking periodic is stopped, and the others, whose order changed with
/// the jump, still fire in time order at their new times: none early,
/// none lost (the heap was put in order before the panic went on).
#[test]
fn custom_panic_during_reschedule_propagates_and_leaves_the_heap_ordered() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let s = Duration::from_secs;
        let jump = w0() - HOUR; // where the wall clock is set back to
                                // Before the jump: at10 (10 s), c_a (20 s), every60 (39.9 s),
                                // c_b (40 s), bad (50 s). After it: c_b (J+5), c_a (J+30),
                                // every60 (J+39.9), at10 (J+3610); bad is gone.
        let at10 = named(&mut lp, "at10", Schedule::At(w0() + s(10)));
        let c_a = named(&mut lp, "c_a", plan(w0() + s(20), jump + s(30)));
        let every60 = named(
            &mut lp,
            "every60",
            Schedule::Every {
                interval: s(60),
                offset: Duration::ZERO,
            },
        );
        let c_b = named(&mut lp, "c_b", plan(w0() + s(40), jump + s(5)));
        let mut asked = 0;
        let bad = named(
            &mut lp,
            "bad",
            Schedule::Custom(Box::new(move |now| {
                asked += 1;
                if asked > 1 {
                    panic!("schedule exploded");
                }
                Some(now + s(50))
            })),
        );
        assert_eq!(next_at(&mut lp, at10), Some(w0() + s(10)));
        assert_eq!(next_at(&mut lp, bad), Some(w0() + s(50)));
        let mut log = Log::new();
        nowait(&mut lp, &mut log);
        assert!(log.is_empty());

        clock.set_wall(jump);
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| lp.run(&mut log, RunMode::NoWait)));
        let payload = r.expect_err("the schedule's panic must come out of run");
        assert_eq!(panic_message(&*payload), "schedule exploded");

        assert!(
            !lp.ctx().is_active(bad),
            "the panicking periodic is stopped"
        );
        assert_eq!(next_at(&mut lp, bad), None);
        assert_eq!(lp.ctx().refs(), 4, "the four others are still active");
        assert_eq!(next_at(&mut lp, c_b), Some(jump + s(5)));
        assert_eq!(next_at(&mut lp, c_a), Some(jump + s(30)));
        assert_eq!(next_at(&mut lp, every60), Some(epoch_secs(1_699_996_440)));
        assert_eq!(next_at(&mut lp, at10), Some(w0() + s(10)));

        // One second at a time: each fires at the first step past its time,
        // in time order.
        for _ in 0..45 {
            clock.advance(s(1));
            nowait(&mut lp, &mut log);
        }
        assert_eq!(
            log,
            [
                ("c_b", jump + s(6)),
                ("c_a", jump + s(31)),
                ("every60", jump + s(40)),
            ]
        );
        log.clear();
        // To at10's time exactly (no jump: monotonic time moves too), then
        // past it.
        clock.advance(s(3610 - 45));
        nowait(&mut lp, &mut log);
        assert_eq!(log, [("every60", w0() + s(10))], "at10 fired at its time");
        clock.advance(NS);
        nowait(&mut lp, &mut log);
        assert_eq!(
            log,
            [("every60", w0() + s(10)), ("at10", w0() + s(10) + NS)]
        );
    });
}

/// A `Schedule::Custom` closure that panics when the periodic is started:
/// the panic comes out of `start`, the periodic is not active and holds no
/// reference, and the loop goes on working (a Default run ends, other
/// periodics fire).
#[test]
fn custom_panic_at_start_leaves_the_loop_usable() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let mut ctx = lp.ctx();
        let bad = ctx
            .new_periodic(
                Schedule::Custom(Box::new(|_| panic!("no schedule"))),
                |_c, log: &mut Log, _id, _ev| log.push(("bad", UNIX_EPOCH)),
            )
            .unwrap();
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| ctx.start(bad)));
        let payload = r.expect_err("the schedule's panic must come out of start");
        assert_eq!(panic_message(&*payload), "no schedule");
        assert!(
            !ctx.is_active(bad),
            "a periodic whose start panicked is active"
        );
        assert_eq!(
            ctx.refs(),
            0,
            "a periodic whose start panicked holds a reference"
        );
        assert_eq!(ctx.periodic(bad).unwrap().at(), None);
        assert_eq!(ctx.watcher_count().active, 0);
        // Nothing is active: a Default run returns at once.
        let mut log = Log::new();
        assert!(!lp.run(&mut log, RunMode::Default).unwrap());
        // Others work.
        let ok = named(&mut lp, "ok", Schedule::At(w0() + Duration::from_secs(1)));
        clock.advance(Duration::from_secs(1) + NS);
        nowait(&mut lp, &mut log);
        assert_eq!(log, [("ok", w0() + Duration::from_secs(1) + NS)]);
        assert!(!lp.ctx().is_active(ok));
    });
}

/// A `Schedule::Custom` closure that panics when asked for its next time
/// after firing: the panic comes out of `run`; the periodic is stopped and
/// never fires again; the other periodics due in the same iteration are
/// not lost (they run in the next `run`, in time order) and later ones
/// fire on time.
#[test]
fn custom_panic_while_firing_leaves_the_loop_usable() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Log>(b);
        let s = Duration::from_secs;
        let x = named(&mut lp, "x", Schedule::At(w0() + s(8)));
        let mut asked = 0;
        let bad = named(
            &mut lp,
            "bad",
            Schedule::Custom(Box::new(move |now| {
                asked += 1;
                if asked > 1 {
                    panic!("next time exploded");
                }
                Some(now + s(10))
            })),
        );
        let y = named(&mut lp, "y", Schedule::At(w0() + s(12)));
        let z = named(&mut lp, "z", Schedule::At(w0() + s(30)));
        let mut log = Log::new();
        clock.advance(s(15)); // x, bad and y are due
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| lp.run(&mut log, RunMode::NoWait)));
        let payload = r.expect_err("the schedule's panic must come out of run");
        assert_eq!(panic_message(&*payload), "next time exploded");
        assert!(
            !lp.ctx().is_active(bad),
            "the panicking periodic is stopped"
        );
        assert_eq!(lp.ctx().refs(), 1, "only z is left active");
        // The events of x and y are still pending and run next time.
        nowait(&mut lp, &mut log);
        let others: Vec<_> = log.iter().filter(|e| e.0 != "bad").copied().collect();
        assert_eq!(others, [("x", w0() + s(15)), ("y", w0() + s(15))]);
        let bad_fires = log.len() - others.len();
        assert!(bad_fires <= 1, "bad fired {bad_fires} times");
        log.clear();
        clock.advance(s(15)); // z's time exactly
        nowait(&mut lp, &mut log);
        assert!(log.is_empty(), "{log:?}");
        clock.advance(NS);
        nowait(&mut lp, &mut log);
        assert_eq!(log, [("z", w0() + s(30) + NS)]);
        for p in [x, bad, y, z] {
            assert!(!lp.ctx().is_active(p));
        }
        assert!(!lp.run(&mut log, RunMode::Default).unwrap());
    });
}
