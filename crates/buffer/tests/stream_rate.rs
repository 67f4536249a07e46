//! Rate limits (libevent's `bufferevent_set_rate_limit`): on a manual
//! clock, a limited direction moves exactly one bucket per tick; on real
//! TCP and the real clock, a limited transfer takes at least its ticks
//! and loses nothing.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use common::watchers;
use evloop::{Loop, ManualClock, RunMode};
use evloop_buffer::{Direction, RateLimit, StreamEvent, StreamExt, StreamId, Watermarks};

const T: Duration = Duration::from_millis(100);
/// A refill timer fires once its time has passed, never at it.
const PAST: Duration = Duration::from_millis(1);

#[derive(Default)]
struct App {
    got: Vec<u8>,
    events: Vec<String>,
}

fn manual_loop() -> (Loop<App>, ManualClock) {
    let clock = ManualClock::new(SystemTime::now());
    let lp = Loop::builder().clock(clock.clone()).build().unwrap();
    (lp, clock)
}

/// A few non-blocking iterations: io settles, the clock stays.
fn settle(lp: &mut Loop<App>, app: &mut App) {
    for _ in 0..8 {
        lp.run(app, RunMode::NoWait).unwrap();
    }
}

/// `b` collects what it reads into `app.got` and logs its events.
fn collect(lp: &mut Loop<App>, b: StreamId) {
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(b).unwrap();
    s.on_read(|ctx, app, id| {
        let mut s = ctx.stream(id).unwrap();
        let input = s.input();
        let n = input.len();
        app.got.extend_from_slice(&input.split_to(n));
    });
    s.on_event(|_, app, _, ev| app.events.push(format!("{ev:?}")));
}

/// A pair on a manual clock whose `b` collects what it reads, under
/// `limit`.
fn limited_reader(limit: RateLimit) -> (Loop<App>, ManualClock, StreamId, StreamId) {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    collect(&mut lp, b);
    let mut ctx = lp.ctx();
    ctx.stream(b).unwrap().set_rate_limit(Some(limit)).unwrap();
    (lp, clock, a, b)
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_read_limit_reads_one_bucket_a_tick() {
    let limit = RateLimit::new(T).read(1_000, 1_000);
    let (mut lp, clock, a, b) = limited_reader(limit);
    assert_eq!(lp.ctx().stream(b).unwrap().rate_limit(), Some(limit));
    let sent = data(4_500);
    lp.ctx().stream(a).unwrap().write(&sent);
    let mut app = App::default();
    settle(&mut lp, &mut app);
    // The bucket starts with one tick's worth.
    assert_eq!(app.got.len(), 1_000);
    let mut ctx = lp.ctx();
    let s = ctx.stream(b).unwrap();
    assert_eq!(s.rate_allowance(Direction::Read), Some(0));
    assert_eq!(s.rate_allowance(Direction::Write), None);
    drop(s);
    clock.advance(T - PAST);
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), 1_000, "not before the tick");
    for want in [2_000, 3_000, 4_000, 4_500] {
        clock.advance(T);
        settle(&mut lp, &mut app);
        assert_eq!(app.got.len(), want);
    }
    assert_eq!(app.got, sent);
    assert!(app.events.is_empty(), "{:?}", app.events);
}

#[test]
fn a_write_limit_sends_one_bucket_a_tick() {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    collect(&mut lp, b);
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    s.set_rate_limit(Some(RateLimit::new(T).write(2_000, 2_000)))
        .unwrap();
    let sent = data(7_000);
    s.write(&sent);
    drop(s);
    let mut app = App::default();
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), 2_000);
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    assert_eq!(s.output().len(), 5_000, "the rest waits in the output");
    assert_eq!(s.rate_allowance(Direction::Write), Some(0));
    drop(s);
    clock.advance(PAST);
    for want in [4_000, 6_000, 7_000] {
        clock.advance(T);
        settle(&mut lp, &mut app);
        assert_eq!(app.got.len(), want);
    }
    assert_eq!(app.got, sent);
}

#[test]
fn idle_ticks_save_up_to_the_burst() {
    let limit = RateLimit::new(T).read(1_000, 2_500);
    let (mut lp, clock, a, b) = limited_reader(limit);
    let mut app = App::default();
    settle(&mut lp, &mut app);
    clock.advance(PAST);
    for _ in 0..5 {
        clock.advance(T);
        settle(&mut lp, &mut app);
    }
    assert_eq!(
        lp.ctx().stream(b).unwrap().rate_allowance(Direction::Read),
        Some(2_500),
        "capped at the burst"
    );
    lp.ctx().stream(a).unwrap().write(&data(6_000));
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), 2_500);
    clock.advance(T);
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), 3_500);
}

#[test]
fn lifting_the_limit_lets_the_rest_through_at_once() {
    let limit = RateLimit::new(T).read(1_000, 1_000);
    let (mut lp, _clock, a, b) = limited_reader(limit);
    let sent = data(10_000);
    lp.ctx().stream(a).unwrap().write(&sent);
    let mut app = App::default();
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), 1_000);
    let before = common::watchers(&mut lp);
    lp.ctx().stream(b).unwrap().set_rate_limit(None).unwrap();
    assert_eq!(
        common::watchers(&mut lp),
        before - 1,
        "the refill timer is gone"
    );
    settle(&mut lp, &mut app);
    assert_eq!(app.got, sent);
    assert_eq!(lp.ctx().stream(b).unwrap().rate_limit(), None);
}

#[test]
fn a_new_limit_keeps_the_tokens_cut_to_its_burst() {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    collect(&mut lp, b);
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(b).unwrap();
    s.set_rate_limit(Some(RateLimit::new(T).read(5_000, 5_000)))
        .unwrap();
    s.set_rate_limit(Some(RateLimit::new(T).read(1_000, 3_000)))
        .unwrap();
    assert_eq!(s.rate_allowance(Direction::Read), Some(3_000));
    drop(s);
    lp.ctx().stream(a).unwrap().write(&data(5_000));
    let mut app = App::default();
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), 3_000);
    clock.advance(T + PAST);
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), 4_000);
}

#[test]
fn a_charge_holds_the_direction_until_the_ticks_pay_it() {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    collect(&mut lp, b);
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(b).unwrap();
    s.set_rate_limit(Some(RateLimit::new(T).read(1_000, 1_000)))
        .unwrap();
    // Bytes the application moved some other way.
    s.charge_rate_limit(Direction::Read, 2_500);
    assert_eq!(s.rate_allowance(Direction::Read), Some(-1_500));
    // An unlimited direction is not charged.
    s.charge_rate_limit(Direction::Write, 10);
    assert_eq!(s.rate_allowance(Direction::Write), None);
    drop(s);
    lp.ctx().stream(a).unwrap().write(b"hello");
    let mut app = App::default();
    settle(&mut lp, &mut app);
    clock.advance(T + PAST);
    settle(&mut lp, &mut app);
    assert!(app.got.is_empty(), "still in debt");
    clock.advance(T);
    settle(&mut lp, &mut app);
    assert_eq!(app.got, b"hello");
}

#[test]
fn the_read_timeout_does_not_run_while_the_bucket_is_empty() {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    collect(&mut lp, b);
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(b).unwrap();
    // A tick longer than the read timeout: only the limit holds reading
    // back between ticks, so the timeout must not count that time.
    s.set_rate_limit(Some(RateLimit::new(T * 3).read(100, 100)))
        .unwrap();
    s.set_timeouts(Some(T), None).unwrap();
    drop(s);
    lp.ctx().stream(a).unwrap().write(&data(300));
    let mut app = App::default();
    settle(&mut lp, &mut app);
    for _ in 0..6 {
        clock.advance(T * 3 / 2);
        settle(&mut lp, &mut app);
    }
    assert_eq!(app.got.len(), 300);
    assert!(app.events.is_empty(), "{:?}", app.events);
    // The next tick fills the bucket; with nothing more to read, the
    // timeout runs again, from then.
    clock.advance(T * 3 / 2);
    settle(&mut lp, &mut app);
    assert!(app.events.is_empty(), "{:?}", app.events);
    clock.advance(T + PAST);
    settle(&mut lp, &mut app);
    assert_eq!(app.events, ["Timeout(Read)"]);
}

#[test]
fn limits_that_cannot_work_are_refused_and_change_nothing() {
    let mut lp: Loop<App> = Loop::new().unwrap();
    let (a, _b) = lp.ctx().new_stream_pair().unwrap();
    let good = RateLimit::new(T).write(10, 20);
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    s.set_rate_limit(Some(good)).unwrap();
    for bad in [
        RateLimit::new(Duration::ZERO).write(10, 10),
        RateLimit::new(T).read(0, 10),
        RateLimit::new(T).write(10, 9),
        RateLimit::new(T).read(1, u64::MAX),
    ] {
        let err = s.set_rate_limit(Some(bad)).unwrap_err();
        assert!(matches!(err, evloop::Error::InvalidArgument(_)), "{err:?}");
        assert_eq!(s.rate_limit(), Some(good));
    }
}

#[test]
fn closing_a_limited_stream_removes_its_refill_timer() {
    let mut lp: Loop<App> = Loop::new().unwrap();
    let start = common::watchers(&mut lp);
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    let limit = RateLimit::new(Duration::from_secs(3600)).write(10, 10);
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(a).unwrap();
    s.set_rate_limit(Some(limit)).unwrap();
    s.write(&[1; 100]);
    drop(s);
    let mut app = App::default();
    common::spin(&mut lp, &mut app, 5);
    lp.ctx().stream(a).unwrap().close();
    lp.ctx().stream(b).unwrap().close();
    assert_eq!(common::watchers(&mut lp), start);
    // Nothing is left to keep the run going (an hour's tick would).
    common::run_to_end(&mut lp, &mut app);
}

/// Over real TCP and the real clock, both ways at once: 48 KiB sent with
/// a write limit of 8 KiB a 20 ms tick, echoed back by a plain thread,
/// and read back with a read limit of 12 KiB a tick. Every byte arrives
/// in order, no read ever takes more than a bucket, and the transfer
/// takes at least the ticks it needs (a lower bound only: the machine may
/// be slow, never fast).
#[test]
fn limited_tcp_both_ways_loses_nothing_and_takes_its_ticks() {
    const TOTAL: usize = 48 << 10;
    const TICK: Duration = Duration::from_millis(20);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            conn.write_all(&buf[..n]).unwrap();
        }
    });
    let sock = TcpStream::connect(addr).unwrap();

    #[derive(Default)]
    struct Tcp {
        got: Vec<u8>,
        largest_read: usize,
    }
    let mut lp: Loop<Tcp> = Loop::new().unwrap();
    let id = lp.ctx().new_stream(sock).unwrap();
    let sent = data(TOTAL);
    let limit = RateLimit::new(TICK)
        .write(8 << 10, 8 << 10)
        .read(12 << 10, 12 << 10);
    let mut ctx = lp.ctx();
    let mut s = ctx.stream(id).unwrap();
    s.set_rate_limit(Some(limit)).unwrap();
    // Reads in pieces no larger than a bucket: what one read takes is
    // what arrived since the callback last ran, at most one bucket.
    s.set_watermarks(Watermarks::default());
    s.write(&sent);
    s.on_read(|ctx, app, id| {
        let mut s = ctx.stream(id).unwrap();
        let input = s.input();
        let n = input.len();
        app.largest_read = app.largest_read.max(n);
        app.got.extend_from_slice(&input.split_to(n));
        if app.got.len() == TOTAL {
            s.close();
        }
    });
    s.on_event(|_, _, _, ev| {
        if !matches!(ev, StreamEvent::Eof) {
            panic!("unexpected {ev:?}");
        }
    });
    drop(s);
    let started = Instant::now();
    let mut app = Tcp::default();
    common::run_to_end(&mut lp, &mut app);
    let took = started.elapsed();
    assert_eq!(app.got.len(), TOTAL);
    assert!(app.got == sent, "bytes changed on the way");
    assert!(
        app.largest_read <= 12 << 10,
        "a read took {} bytes",
        app.largest_read
    );
    // 48 KiB at 8 KiB a tick: the first bucket at once, five more ticks.
    assert!(took >= TICK * 4, "took {took:?}");
    drop(lp);
    echo.join().unwrap();
}

/// Two readers `b1`, `b2` fed by `a1`, `a2`, both in one group.
fn grouped(
    lp: &mut Loop<App>,
    limit: RateLimit,
) -> ([StreamId; 2], [StreamId; 2], evloop_buffer::RateGroupId) {
    let mut ctx = lp.ctx();
    let g = ctx.new_rate_group(limit).unwrap();
    let (a1, b1) = ctx.new_stream_pair().unwrap();
    let (a2, b2) = ctx.new_stream_pair().unwrap();
    for b in [b1, b2] {
        ctx.stream(b).unwrap().set_rate_group(Some(g)).unwrap();
        ctx.stream(b).unwrap().on_read(|ctx, app, id| {
            let mut s = ctx.stream(id).unwrap();
            let input = s.input();
            let n = input.len();
            app.got.extend_from_slice(&input.split_to(n));
        });
    }
    assert_eq!(ctx.rate_group(g).unwrap().member_count(), 2);
    ([a1, a2], [b1, b2], g)
}

#[test]
fn a_group_caps_what_its_members_read_together() {
    let (mut lp, clock) = manual_loop();
    let ([a1, a2], _, g) = grouped(&mut lp, RateLimit::new(T).read(1_000, 1_000));
    lp.ctx().stream(a1).unwrap().write(&[1; 3_000]);
    lp.ctx().stream(a2).unwrap().write(&[2; 3_000]);
    let mut app = App::default();
    settle(&mut lp, &mut app);
    // A tick's worth, and at most one minimum share past it (a read may
    // overdraw by that much; the ticks pay it back).
    let first = app.got.len();
    assert!(
        (1_000..1_000 + evloop_buffer::DEFAULT_MIN_SHARE).contains(&first),
        "{first}"
    );
    assert!(
        app.got.contains(&1) && app.got.contains(&2),
        "both were served"
    );
    let allowance = lp.ctx().rate_group(g).unwrap().allowance(Direction::Read);
    assert_eq!(allowance, Some(1_000 - first as i64));
    clock.advance(T - PAST);
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), first, "held until the tick");
    let mut ticks = 0;
    while app.got.len() < 6_000 {
        let before = app.got.len();
        clock.advance(T);
        settle(&mut lp, &mut app);
        assert!(app.got.len() - before <= 1_000 + 64, "one tick's worth");
        ticks += 1;
        assert!(ticks <= 6, "stuck at {} bytes", app.got.len());
    }
    assert!(ticks >= 5, "6,000 bytes at 1,000 a tick took {ticks} ticks");
    let mut grp = lp.ctx();
    let mut grp = grp.rate_group(g).unwrap();
    assert_eq!(grp.totals(), (6_000, 0));
    grp.reset_totals();
    assert_eq!(grp.totals(), (0, 0));
}

#[test]
fn a_member_is_held_by_the_tighter_of_its_own_limit_and_its_group() {
    let (mut lp, clock) = manual_loop();
    let (a, b) = lp.ctx().new_stream_pair().unwrap();
    collect(&mut lp, b);
    let mut ctx = lp.ctx();
    let g = ctx
        .new_rate_group(RateLimit::new(T).read(10_000, 10_000))
        .unwrap();
    let mut s = ctx.stream(b).unwrap();
    s.set_rate_group(Some(g)).unwrap();
    s.set_rate_limit(Some(RateLimit::new(T).read(700, 700)))
        .unwrap();
    assert_eq!(s.rate_group(), Some(g));
    drop(s);
    lp.ctx().stream(a).unwrap().write(&[0; 2_000]);
    let mut app = App::default();
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), 700, "its own limit is the tighter");
    // Out of the group, its own limit still holds.
    lp.ctx().stream(b).unwrap().set_rate_group(None).unwrap();
    assert_eq!(lp.ctx().rate_group(g).unwrap().member_count(), 0);
    clock.advance(T + PAST);
    settle(&mut lp, &mut app);
    assert_eq!(app.got.len(), 1_400);
    // The group's tighter limit, its own lifted.
    let mut ctx = lp.ctx();
    ctx.rate_group(g)
        .unwrap()
        .set_limit(RateLimit::new(T).read(100, 100))
        .unwrap();
    let mut s = ctx.stream(b).unwrap();
    s.set_rate_limit(None).unwrap();
    s.set_rate_group(Some(g)).unwrap();
    drop(s);
    settle(&mut lp, &mut app);
    assert!(app.got.len() <= 1_400 + 100, "{}", app.got.len());
}

#[test]
fn removing_a_group_or_closing_a_member_lets_go() {
    let (mut lp, _clock) = manual_loop();
    let ([a1, a2], [_, b2], g) = grouped(&mut lp, RateLimit::new(T).read(500, 500));
    lp.ctx().stream(a1).unwrap().write(&[1; 3_000]);
    lp.ctx().stream(a2).unwrap().write(&[2; 3_000]);
    let mut app = App::default();
    settle(&mut lp, &mut app);
    assert!(app.got.len() < 1_000);
    // A member that closes leaves.
    lp.ctx().stream(b2).unwrap().close();
    settle(&mut lp, &mut app);
    assert_eq!(lp.ctx().rate_group(g).unwrap().member_count(), 1);
    let before = watchers(&mut lp);
    lp.ctx().rate_group(g).unwrap().remove();
    assert_eq!(watchers(&mut lp), before - 1, "its refill timer is gone");
    assert!(matches!(
        lp.ctx().rate_group(g).map(|_| ()),
        Err(evloop::Error::StaleHandle)
    ));
    settle(&mut lp, &mut app);
    // Unlimited now: the rest of a1's bytes are read.
    let ones = app.got.iter().filter(|&&b| b == 1).count();
    assert_eq!(ones, 3_000);
    let mut ctx = lp.ctx();
    let (_, b) = ctx.new_stream_pair().unwrap();
    let err = ctx.stream(b).unwrap().set_rate_group(Some(g)).unwrap_err();
    assert!(matches!(err, evloop::Error::StaleHandle), "{err:?}");
}

#[test]
fn a_group_with_a_bad_limit_or_of_another_loop_is_refused() {
    let mut lp: Loop<App> = Loop::new().unwrap();
    let err = lp
        .ctx()
        .new_rate_group(RateLimit::new(T).write(0, 1))
        .unwrap_err();
    assert!(matches!(err, evloop::Error::InvalidArgument(_)), "{err:?}");
    let g = lp
        .ctx()
        .new_rate_group(RateLimit::new(T).write(5, 5))
        .unwrap();
    let mut ctx = lp.ctx();
    let mut grp = ctx.rate_group(g).unwrap();
    assert!(grp.set_limit(RateLimit::new(T).write(5, 4)).is_err());
    assert_eq!(grp.limit(), RateLimit::new(T).write(5, 5));
    let mut other: Loop<App> = Loop::new().unwrap();
    assert!(matches!(
        other.ctx().rate_group(g).map(|_| ()),
        Err(evloop::Error::ForeignHandle)
    ));
    // An idle group does not keep the run going.
    let mut app = App::default();
    common::run_to_end(&mut lp, &mut app);
}

#[test]
fn a_group_caps_what_its_members_send_together() {
    let (mut lp, clock) = manual_loop();
    let mut ctx = lp.ctx();
    let g = ctx
        .new_rate_group(RateLimit::new(T).write(3_000, 3_000))
        .unwrap();
    let mut readers = Vec::new();
    for i in 0..3u8 {
        let (a, b) = ctx.new_stream_pair().unwrap();
        let mut s = ctx.stream(a).unwrap();
        s.set_rate_group(Some(g)).unwrap();
        // One send may take the whole output: only the group stops it.
        s.write(&[i; 4_000]);
        readers.push(b);
    }
    for b in readers {
        collect(&mut lp, b);
    }
    let mut app = App::default();
    settle(&mut lp, &mut app);
    let first = app.got.len();
    assert!(
        (3_000..3_000 + evloop_buffer::DEFAULT_MIN_SHARE).contains(&first),
        "{first}"
    );
    clock.advance(PAST);
    for _ in 0..3 {
        clock.advance(T);
        settle(&mut lp, &mut app);
    }
    assert_eq!(app.got.len(), 12_000);
    for i in 0..3u8 {
        assert_eq!(app.got.iter().filter(|&&b| b == i).count(), 4_000);
    }
    assert_eq!(lp.ctx().rate_group(g).unwrap().totals(), (0, 12_000));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever is written when, and however the clock moves, a stream
    /// with a write limit never sends more than its first bucket plus one
    /// rate a tick boundary passed, and sends everything in the end, in
    /// order. The clock moves in steps shorter and longer than a tick.
    #[test]
    fn a_write_limit_is_never_exceeded_and_everything_arrives(
        rate in 1u64..3_000,
        extra in 0u64..3_000,
        steps in proptest::collection::vec((0usize..5_000, 0u64..250), 1..12),
    ) {
        let (mut lp, clock) = manual_loop();
        let (a, b) = lp.ctx().new_stream_pair().unwrap();
        collect(&mut lp, b);
        let limit = RateLimit::new(T).write(rate, rate + extra);
        lp.ctx().stream(a).unwrap().set_rate_limit(Some(limit)).unwrap();
        let mut app = App::default();
        let mut sent = Vec::new();
        let mut elapsed = Duration::ZERO;
        for (n, ms) in steps {
            let piece = data(sent.len() + n);
            sent.extend_from_slice(&piece[sent.len()..]);
            lp.ctx().stream(a).unwrap().write(&piece[piece.len() - n..]);
            settle(&mut lp, &mut app);
            clock.advance(Duration::from_millis(ms));
            elapsed += Duration::from_millis(ms);
            settle(&mut lp, &mut app);
            let boundaries = (elapsed.as_millis() / T.as_millis()) as u64;
            proptest::prop_assert!(
                app.got.len() as u64 <= rate * (1 + boundaries),
                "{} bytes after {} tick boundaries at {} a tick",
                app.got.len(), boundaries, rate
            );
        }
        // Enough ticks for the rest. A refill timer fires once its time
        // has passed, never at it: a clock stepping exactly onto tick
        // boundaries fires it every other step (and a tick missed that way
        // is lost to the burst), so steps go a little past each boundary.
        let left = (sent.len() - app.got.len()) as u64;
        for _ in 0..2 * (left.div_ceil(rate) + 1) {
            clock.advance(T + PAST);
            settle(&mut lp, &mut app);
        }
        proptest::prop_assert!(app.got == sent, "lost or reordered bytes");
    }
}
