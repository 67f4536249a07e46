//! Periodic watchers: wall-clock schedules, and what they do when the wall
//! clock is stepped backwards or forwards. All under a [`ManualClock`], on
//! every backend.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{for_each_backend, manual_loop_at};
use evloop::{Backend, Error, Events, Loop, ManualClock, RunMode, Schedule};

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

/// The wall times (as seen by the callback) at which a periodic fired.
type Fires = Vec<SystemTime>;

fn record(lp: &mut Loop<Fires>, schedule: Schedule) -> Result<evloop::PeriodicId, evloop::Error> {
    lp.periodic(schedule, |ctx, fires: &mut Fires, _id, ev| {
        assert_eq!(ev, Events::PERIODIC);
        fires.push(ctx.now_wall());
    })
}

#[test]
fn at_fires_at_the_wall_time_not_before() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let at = w0() + Duration::from_secs(5);
        let p = record(&mut lp, Schedule::At(at)).unwrap();
        assert_eq!(lp.periodic_at(p).unwrap(), None, "not started yet");
        lp.start(p).unwrap();
        assert_eq!(lp.periodic_at(p).unwrap(), Some(at));
        let mut fires = Fires::new();
        clock.advance(Duration::from_secs(5) - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired 1 ns before its time");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [at]);
        assert!(!lp.is_active(p), "an At periodic is one-shot");
        assert_eq!(lp.periodic_at(p).unwrap(), None);
        assert_eq!(lp.refs(), 0);
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
        lp.start(p).unwrap();
        let mut fires = Fires::new();
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [w0()]);
        assert!(!lp.is_active(p));
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
        lp.start(p).unwrap();
        // Grid: 7 s past each minute. After 1_700_000_000.12: ...047.
        let first = epoch_secs(1_700_000_047);
        assert_eq!(lp.periodic_at(p).unwrap(), Some(first));
        let mut fires = Fires::new();
        clock.advance(first.duration_since(w0()).unwrap() - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired before the grid time");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [first]);
        assert!(lp.is_active(p), "Every keeps going");
        let second = first + Duration::from_secs(60);
        assert_eq!(lp.periodic_at(p).unwrap(), Some(second));
        clock.advance(Duration::from_secs(60));
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [first, second]);
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
        lp.start(p).unwrap();
        assert_eq!(lp.periodic_at(p).unwrap(), Some(epoch_secs(1_700_000_047)));
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
        lp.start(p).unwrap();
        let mut fires = Fires::new();
        // Ten minutes without an iteration (monotonic time moves too: no
        // jump), then one iteration: one call, next on the grid after now.
        clock.advance(Duration::from_secs(600));
        nowait(&mut lp, &mut fires);
        assert_eq!(fires.len(), 1, "missed periods fired in a burst");
        nowait(&mut lp, &mut fires);
        assert_eq!(fires.len(), 1);
        let now = w0() + Duration::from_secs(600); // ...600.123
        assert_eq!(lp.periodic_at(p).unwrap(), Some(epoch_secs(1_700_000_610)));
        clock.advance(epoch_secs(1_700_000_610).duration_since(now).unwrap());
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
        lp.start(p).unwrap();
        let a1 = epoch_secs(1_700_000_040);
        assert_eq!(lp.periodic_at(p).unwrap(), Some(a1));
        let mut fires = Fires::new();
        clock.set_wall(w0() - HOUR);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        // Rescheduled onto the grid after the new now, not kept at a1.
        let new_next = a1 - HOUR;
        assert_eq!(lp.periodic_at(p).unwrap(), Some(new_next));
        let wait = new_next.duration_since(w0() - HOUR).unwrap(); // 39.88 s
        clock.advance(wait - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "fired before the aligned time");
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(
            fires,
            [new_next],
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
        lp.start(p).unwrap();
        let mut fires = Fires::new();
        clock.set_wall(w0() - HOUR);
        nowait(&mut lp, &mut fires);
        assert_eq!(lp.periodic_at(p).unwrap(), Some(at), "At keeps its time");
        // 10 s of real time: a monotonic timer would fire now; At must not.
        clock.advance(Duration::from_secs(10));
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "At fired by elapsed time, not wall time");
        clock.advance(HOUR - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [at]);
    });
}

#[test]
fn wall_clock_set_forward_at_fires_at_once() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let at = w0() + HOUR;
        let p = record(&mut lp, Schedule::At(at)).unwrap();
        lp.start(p).unwrap();
        let mut fires = Fires::new();
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        clock.set_wall(w0() + 2 * HOUR);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [w0() + 2 * HOUR]);
        assert!(!lp.is_active(p));
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
        lp.start(p).unwrap();
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
        assert_eq!(lp.periodic_at(p).unwrap(), Some(next));
        clock.advance(next.duration_since(jumped).unwrap() - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [next]);
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
        lp.start(p).unwrap();
        let mut fires = Fires::new();
        clock.set_wall(w0() + Duration::from_millis(500));
        nowait(&mut lp, &mut fires);
        clock.set_wall(w0());
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        assert_eq!(*calls.borrow(), [w0()], "drift was taken for a jump");
        assert_eq!(
            lp.periodic_at(p).unwrap(),
            Some(w0() + Duration::from_secs(60))
        );
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
        lp.start(p).unwrap();
        assert_eq!(*calls.borrow(), [w0()], "asked with the loop's wall time");
        assert_eq!(
            lp.periodic_at(p).unwrap(),
            Some(w0() + Duration::from_secs(10))
        );
        let mut fires = Fires::new();
        clock.advance(Duration::from_secs(10) - NS);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        clock.advance(NS);
        nowait(&mut lp, &mut fires);
        let t10 = w0() + Duration::from_secs(10);
        assert_eq!(fires, [t10]);
        assert_eq!(*calls.borrow(), [w0(), t10]);
        assert!(lp.is_active(p));
        // Late by 2 s: the closure is asked with the loop's wall time (t22),
        // not with the time the periodic was due.
        clock.advance(Duration::from_secs(12));
        nowait(&mut lp, &mut fires);
        let t22 = t10 + Duration::from_secs(12);
        // The closure said None when asked at t22: it fired, then stopped.
        assert_eq!(fires, [t10, t22]);
        assert_eq!(*calls.borrow(), [w0(), t10, t22]);
        assert!(!lp.is_active(p), "None must stop the periodic");
        assert_eq!(lp.refs(), 0);
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
        assert!(matches!(lp.start(p), Err(Error::InvalidArgument(_))));
        assert!(!lp.is_active(p));
        assert_eq!(lp.refs(), 0);
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
        lp.start(p).unwrap();
        let mut fires = Fires::new();
        clock.set_wall(w0() - HOUR);
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty());
        assert_eq!(*calls.borrow(), [w0(), w0() - HOUR]);
        assert_eq!(
            lp.periodic_at(p).unwrap(),
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
        assert_eq!(lp.periodic_at(p).unwrap(), None);
        lp.start(p).unwrap();
        assert_eq!(lp.periodic_at(p).unwrap(), Some(epoch_secs(1_700_002_800)));
        lp.stop(p).unwrap();
        assert_eq!(lp.periodic_at(p).unwrap(), None);
        lp.remove(p).unwrap();
        assert!(matches!(lp.periodic_at(p), Err(Error::StaleHandle)));
    });
}

#[test]
fn set_periodic_on_active_is_an_error_and_works_when_stopped() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Fires>(b);
        let at = w0() + Duration::from_secs(5);
        let p = record(&mut lp, Schedule::At(at)).unwrap();
        lp.start(p).unwrap();
        assert!(matches!(
            lp.set_periodic(p, Schedule::At(w0() + HOUR)),
            Err(Error::Active)
        ));
        assert_eq!(lp.periodic_at(p).unwrap(), Some(at), "unchanged");
        lp.stop(p).unwrap();
        let later = w0() + Duration::from_secs(20);
        lp.set_periodic(p, Schedule::At(later)).unwrap();
        lp.start(p).unwrap();
        assert_eq!(lp.periodic_at(p).unwrap(), Some(later));
        let mut fires = Fires::new();
        clock.advance(Duration::from_secs(10));
        nowait(&mut lp, &mut fires);
        assert!(fires.is_empty(), "the old schedule fired");
        clock.advance(Duration::from_secs(10));
        nowait(&mut lp, &mut fires);
        assert_eq!(fires, [later]);
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
            lp.set_periodic(p, zero()),
            Err(Error::InvalidArgument(_))
        ));
        // The failed set left the old schedule in place.
        lp.start(p).unwrap();
        assert_eq!(lp.periodic_at(p).unwrap(), Some(w0() + HOUR));
    });
}

#[test]
fn periodics_due_together_fire_in_time_order() {
    for_each_backend(|b| {
        let (mut lp, clock) = manual_loop::<Vec<u32>>(b);
        for (n, secs) in [(3u32, 30u64), (1, 10), (4, 40), (2, 20)] {
            let p = lp
                .periodic(
                    Schedule::At(w0() + Duration::from_secs(secs)),
                    move |_c, log: &mut Vec<u32>, _id, _ev| log.push(n),
                )
                .unwrap();
            lp.start(p).unwrap();
        }
        let mut log = Vec::new();
        clock.advance(Duration::from_secs(60));
        nowait(&mut lp, &mut log);
        assert_eq!(log, [1, 2, 3, 4]);
    });
}
