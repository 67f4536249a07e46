//! Rate limits on a stream (libevent's `bufferevent_set_rate_limit`): a
//! token bucket per direction, refilled once per tick.
//!
//! A limited direction reads or sends at most what its bucket holds;
//! an empty bucket holds the direction back (it stops waiting on the
//! socket, as with the read high watermark) until the next tick refills
//! it. The refill is a timer of the stream's own that runs only while a
//! bucket is below its burst, so an unlimited stream pays nothing and a
//! limited one that keeps under its rate is never held back.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::TimerId;

use super::group::GroupKey;
use super::Direction;

/// How fast a stream may read and write: libevent's
/// `ev_token_bucket_cfg`.
///
/// Each limited direction has a bucket of tokens (bytes). A tick adds
/// `rate` tokens, up to `burst`; each byte read or sent takes one. When a
/// bucket is empty that direction waits for the next tick. A bucket
/// starts with one tick's worth (`rate`), as libevent's does. So over any
/// stretch of `n` whole ticks a direction moves at most `burst + n *
/// rate` bytes, and about `rate` per tick while the peer keeps up.
///
/// ```
/// use std::time::Duration;
/// use evloop_buffer::RateLimit;
///
/// // At most 64 KiB a second in, bursts up to 128 KiB; writes unlimited.
/// let limit = RateLimit::new(Duration::from_secs(1)).read(64 * 1024, 128 * 1024);
/// assert_eq!(limit.read_rate(), Some((64 * 1024, 128 * 1024)));
/// assert_eq!(limit.write_rate(), None);
/// ```
///
/// A shorter tick gives a smoother flow for the same rate per second (a
/// tenth of a second and a tenth of the rate), at the cost of a timer
/// event per tick while the stream is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    tick: Duration,
    read: Option<(u64, u64)>,
    write: Option<(u64, u64)>,
}

impl RateLimit {
    /// No limit yet in either direction, refilled every `tick`: add one
    /// with [`read`](Self::read) or [`write`](Self::write).
    pub fn new(tick: Duration) -> RateLimit {
        RateLimit {
            tick,
            read: None,
            write: None,
        }
    }

    /// At most `read` and `write` bytes a second (`None`: that direction
    /// unlimited; zero counts as the least possible, one byte a second),
    /// as curl's `--limit-rate` and nginx's `limit_rate` take it: a tenth
    /// every 100 ms, so that a transfer flows rather than comes in bursts
    /// a second apart, with no more saved up than that tenth (whole
    /// seconds when a rate is under 10 bytes a second, as a tenth of it
    /// would be no byte).
    ///
    /// ```
    /// use std::time::Duration;
    /// use evloop_buffer::RateLimit;
    ///
    /// let l = RateLimit::per_second(Some(100 * 1024), None);
    /// assert_eq!(l.tick(), Duration::from_millis(100));
    /// assert_eq!(l.read_rate(), Some((10 * 1024, 10 * 1024)));
    /// assert_eq!(RateLimit::per_second(None, Some(5)).tick(), Duration::from_secs(1));
    /// ```
    pub fn per_second(read: Option<u64>, write: Option<u64>) -> RateLimit {
        let (read, write) = (read.map(|r| r.max(1)), write.map(|w| w.max(1)));
        let slow = [read, write].into_iter().flatten().any(|r| r < 10);
        let (tick, parts) = if slow {
            (Duration::from_secs(1), 1)
        } else {
            (Duration::from_millis(100), 10)
        };
        let share = |r: u64| (r / parts, r / parts);
        RateLimit {
            tick,
            read: read.map(share),
            write: write.map(share),
        }
    }

    /// Limits reading to `rate` bytes a tick, with up to `burst` saved up.
    pub fn read(mut self, rate: u64, burst: u64) -> RateLimit {
        self.read = Some((rate, burst));
        self
    }

    /// Limits sending to `rate` bytes a tick, with up to `burst` saved up.
    pub fn write(mut self, rate: u64, burst: u64) -> RateLimit {
        self.write = Some((rate, burst));
        self
    }

    /// The tick.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// The read limit as `(rate, burst)`, `None` for unlimited.
    pub fn read_rate(&self) -> Option<(u64, u64)> {
        self.read
    }

    /// The write limit as `(rate, burst)`, `None` for unlimited.
    pub fn write_rate(&self) -> Option<(u64, u64)> {
        self.write
    }

    /// Checks the limit as [`set_rate_limit`](super::BufferedStream::set_rate_limit)
    /// does, for code that keeps a limit to apply later (a server's
    /// options): a zero tick (or one past what the loop's timers take), a
    /// zero rate, a burst below the rate (a tick's refill would not fit)
    /// or a burst past `i64::MAX` is refused.
    ///
    /// # Errors
    ///
    /// [`evloop::Error::InvalidArgument`], saying which.
    pub fn validate(&self) -> Result<(), evloop::Error> {
        if self.tick.is_zero() || self.tick > super::settle::MAX_TIMEOUT {
            return Err(evloop::Error::InvalidArgument(
                "rate limit tick must be above zero and at most about 292 years",
            ));
        }
        for (rate, burst) in [self.read, self.write].into_iter().flatten() {
            if rate == 0 {
                return Err(evloop::Error::InvalidArgument(
                    "rate limit rate must be above zero",
                ));
            }
            if burst < rate {
                return Err(evloop::Error::InvalidArgument(
                    "rate limit burst must be at least the rate",
                ));
            }
            if burst > i64::MAX as u64 {
                return Err(evloop::Error::InvalidArgument(
                    "rate limit burst must be at most i64::MAX",
                ));
            }
        }
        Ok(())
    }
}

/// One direction's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    rate: i64,
    burst: i64,
    /// Can go below zero through [`Buckets::charge`].
    tokens: i64,
}

impl Bucket {
    fn new((rate, burst): (u64, u64)) -> Bucket {
        // `check` bounded both by i64::MAX.
        let (rate, burst) = (rate as i64, burst as i64);
        Bucket {
            rate,
            burst,
            tokens: rate,
        }
    }

    fn refill(&mut self, ticks: u64) {
        let add = self.rate.saturating_mul(ticks.min(i64::MAX as u64) as i64);
        self.tokens = self.tokens.saturating_add(add).min(self.burst);
    }
}

/// A limited stream's (or a group's) buckets and their refill timer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buckets {
    pub limit: RateLimit,
    read: Option<Bucket>,
    write: Option<Bucket>,
    /// Ticks are counted from here, so refills fall on the same
    /// boundaries whenever the timer happens to start.
    epoch: Instant,
    /// The tick the buckets were last refilled for.
    seen: u64,
    pub timer: Option<TimerId>,
    pub timer_on: bool,
}

impl Buckets {
    pub fn new(limit: RateLimit, now: Instant, timer: Option<TimerId>) -> Buckets {
        Buckets {
            limit,
            read: limit.read.map(Bucket::new),
            write: limit.write.map(Bucket::new),
            epoch: now,
            seen: 0,
            timer,
            timer_on: false,
        }
    }

    /// A new limit on the same stream: the buckets keep what they hold,
    /// cut down to the new bursts (libevent does the same).
    pub fn replace(&mut self, limit: RateLimit, now: Instant) {
        let keep = |old: Option<Bucket>, new: Option<(u64, u64)>| {
            new.map(|cfg| {
                let mut b = Bucket::new(cfg);
                if let Some(old) = old {
                    b.tokens = old.tokens.min(b.burst);
                }
                b
            })
        };
        self.read = keep(self.read, limit.read);
        self.write = keep(self.write, limit.write);
        if limit.tick != self.limit.tick {
            // The old tick count means nothing with the new tick, which
            // counts from now.
            self.epoch = now;
            self.seen = 0;
        }
        self.limit = limit;
    }

    fn bucket(&self, dir: Direction) -> Option<&Bucket> {
        match dir {
            Direction::Read => self.read.as_ref(),
            Direction::Write => self.write.as_ref(),
        }
    }

    fn bucket_mut(&mut self, dir: Direction) -> Option<&mut Bucket> {
        match dir {
            Direction::Read => self.read.as_mut(),
            Direction::Write => self.write.as_mut(),
        }
    }

    /// The direction may move bytes now.
    #[inline]
    pub fn open(&self, dir: Direction) -> bool {
        self.bucket(dir).is_none_or(|b| b.tokens > 0)
    }

    /// How many bytes the direction may move now (`usize::MAX`:
    /// unlimited).
    #[inline]
    pub fn allowance(&self, dir: Direction) -> usize {
        match self.bucket(dir) {
            Some(b) => usize::try_from(b.tokens.max(0)).unwrap_or(usize::MAX),
            None => usize::MAX,
        }
    }

    /// The tokens left in a direction's bucket (negative after a large
    /// [`charge`](Self::charge)), `None` if it is unlimited.
    pub fn tokens(&self, dir: Direction) -> Option<i64> {
        self.bucket(dir).map(|b| b.tokens)
    }

    /// Takes `n` bytes' worth out of the direction's bucket.
    #[inline]
    pub fn spend(&mut self, dir: Direction, n: usize) {
        if let Some(b) = self.bucket_mut(dir) {
            b.tokens = b
                .tokens
                .saturating_sub(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Takes `n` tokens (gives them back if negative): libevent's
    /// `bufferevent_decrement_read_limit`.
    pub fn charge(&mut self, dir: Direction, n: i64) {
        if let Some(b) = self.bucket_mut(dir) {
            b.tokens = b.tokens.saturating_sub(n).min(b.burst);
        }
    }

    /// Some bucket is below its burst: the refill timer has work to do.
    pub fn refilling(&self) -> bool {
        [self.read, self.write]
            .into_iter()
            .flatten()
            .any(|b| b.tokens < b.burst)
    }

    fn tick_at(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.epoch).as_nanos();
        let tick = self.limit.tick.as_nanos().max(1);
        u64::try_from(since / tick).unwrap_or(u64::MAX)
    }

    /// Adds what the ticks since the last refill bring.
    pub fn refill(&mut self, now: Instant) {
        let tick = self.tick_at(now);
        if tick <= self.seen {
            return;
        }
        let ticks = tick - self.seen;
        self.seen = tick;
        for b in [self.read.as_mut(), self.write.as_mut()]
            .into_iter()
            .flatten()
        {
            b.refill(ticks);
        }
    }

    /// The refill timer starts again: the buckets were full until now,
    /// so the ticks since they last were refilled bring nothing.
    pub fn restart(&mut self, now: Instant) {
        self.seen = self.seen.max(self.tick_at(now));
    }

    /// How long from `now` to the next tick boundary.
    pub fn until_next_tick(&self, now: Instant) -> Duration {
        let tick = self.limit.tick;
        let since = now.saturating_duration_since(self.epoch);
        let into = Duration::from_nanos((since.as_nanos() % tick.as_nanos().max(1)) as u64);
        tick.saturating_sub(into).max(Duration::from_nanos(1))
    }
}

/// What limits one stream: buckets of its own, a group's, or both.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    pub own: Option<Buckets>,
    pub group: Option<Member>,
}

/// A stream's membership of a rate group.
#[derive(Debug)]
pub(crate) struct Member {
    pub key: GroupKey,
    pub cell: Rc<GroupCell>,
}

impl Limits {
    /// The direction may move bytes now.
    #[inline]
    pub fn open(&self, dir: Direction) -> bool {
        // The group by its share, the quantity a read or send asks for (not
        // by its held flag, which is set only once the member that emptied
        // the bucket settles): a direction that is open has something to
        // move.
        self.own.as_ref().is_none_or(|b| b.open(dir))
            && self.group.as_ref().is_none_or(|g| g.cell.share(dir) > 0)
    }

    /// How many bytes the direction may move now.
    #[inline]
    pub fn allowance(&self, dir: Direction) -> usize {
        let own = self.own.as_ref().map_or(usize::MAX, |b| b.allowance(dir));
        let group = self
            .group
            .as_ref()
            .map_or(usize::MAX, |g| g.cell.share(dir));
        own.min(group)
    }

    /// Takes `n` moved bytes out of the buckets.
    #[inline]
    pub fn spend(&mut self, dir: Direction, n: usize) {
        if let Some(b) = self.own.as_mut() {
            b.spend(dir, n);
        }
        if let Some(g) = &self.group {
            g.cell.spend(dir, n);
        }
    }

    /// Nothing limits the stream any more.
    pub fn is_empty(&self) -> bool {
        self.own.is_none() && self.group.is_none()
    }
}

/// What a rate group's members read on every read and send: its buckets
/// and whether it holds them back. Shared (`Rc`) by the group's table
/// entry and every member, so a member needs no lookup of the group; in
/// `Cell`s, as nothing borrows them across a call.
#[derive(Debug)]
pub(crate) struct GroupCell {
    pub buckets: Cell<Buckets>,
    pub members: Cell<usize>,
    pub min_share: Cell<usize>,
    held: [Cell<bool>; 2],
    totals: [Cell<u64>; 2],
}

fn index(dir: Direction) -> usize {
    match dir {
        Direction::Read => 0,
        Direction::Write => 1,
    }
}

impl GroupCell {
    pub fn new(buckets: Buckets, min_share: usize) -> GroupCell {
        GroupCell {
            buckets: Cell::new(buckets),
            members: Cell::new(0),
            min_share: Cell::new(min_share),
            held: [Cell::new(false), Cell::new(false)],
            totals: [Cell::new(0), Cell::new(0)],
        }
    }

    /// The group holds its members back in `dir` until a tick refills it.
    #[inline]
    pub fn held(&self, dir: Direction) -> bool {
        self.held[index(dir)].get()
    }

    pub fn set_held(&self, dir: Direction, on: bool) {
        self.held[index(dir)].set(on);
    }

    /// What one read or send of a member may move: nothing once the
    /// bucket is empty, else an equal share of the tokens among the
    /// members, at least the minimum share (libevent's rule, so that a
    /// large group still moves useful pieces; the bucket may go below zero
    /// by less than one share, and the ticks pay that back).
    #[inline]
    pub fn share(&self, dir: Direction) -> usize {
        match self.buckets.get().allowance(dir) {
            0 => 0,
            usize::MAX => usize::MAX,
            tokens => (tokens / self.members.get().max(1)).max(self.min_share.get()),
        }
    }

    /// Takes `n` bytes a member moved.
    #[inline]
    pub fn spend(&self, dir: Direction, n: usize) {
        let mut b = self.buckets.get();
        if b.tokens(dir).is_none() {
            return;
        }
        b.spend(dir, n);
        self.buckets.set(b);
        let t = &self.totals[index(dir)];
        t.set(t.get().saturating_add(n as u64));
    }

    /// The group must act: a bucket ran dry (hold the members) or is below
    /// its burst with the refill timer stopped (start it).
    pub fn needs_attention(&self) -> bool {
        let b = self.buckets.get();
        let dry = [Direction::Read, Direction::Write]
            .into_iter()
            .any(|d| !b.open(d) && !self.held(d));
        dry || (!b.timer_on && b.refilling())
    }

    /// Bytes read and sent by the members since the group was made or
    /// its totals were reset.
    pub fn totals(&self) -> (u64, u64) {
        (self.totals[0].get(), self.totals[1].get())
    }

    pub fn reset_totals(&self) {
        self.totals[0].set(0);
        self.totals[1].set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn buckets_start_with_one_tick_and_refill_up_to_the_burst() {
        let t0 = Instant::now();
        let limit = RateLimit::new(10 * MS).read(100, 250);
        let mut b = Buckets::new(limit, t0, None);
        assert_eq!(b.allowance(Direction::Read), 100);
        assert_eq!(b.allowance(Direction::Write), usize::MAX);
        b.spend(Direction::Read, 100);
        assert!(!b.open(Direction::Read));
        assert!(b.open(Direction::Write));
        // Within the same tick nothing comes back.
        b.refill(t0 + 9 * MS);
        assert_eq!(b.allowance(Direction::Read), 0);
        b.refill(t0 + 10 * MS);
        assert_eq!(b.allowance(Direction::Read), 100);
        // Ten idle ticks: capped at the burst.
        b.refill(t0 + 200 * MS);
        assert_eq!(b.allowance(Direction::Read), 250);
        assert!(!b.refilling());
    }

    #[test]
    fn a_charge_can_overdraw_and_is_paid_back_by_ticks() {
        let t0 = Instant::now();
        let mut b = Buckets::new(RateLimit::new(MS).write(10, 10), t0, None);
        b.charge(Direction::Write, 35);
        assert_eq!(b.tokens(Direction::Write), Some(-25));
        assert!(!b.open(Direction::Write));
        b.refill(t0 + 3 * MS);
        assert_eq!(b.tokens(Direction::Write), Some(5));
        b.charge(Direction::Write, -100);
        assert_eq!(
            b.tokens(Direction::Write),
            Some(10),
            "never above the burst"
        );
    }

    #[test]
    fn the_next_tick_is_on_the_epochs_boundaries() {
        let t0 = Instant::now();
        let b = Buckets::new(RateLimit::new(10 * MS).read(1, 1), t0, None);
        assert_eq!(b.until_next_tick(t0), 10 * MS);
        assert_eq!(b.until_next_tick(t0 + 13 * MS), 7 * MS);
    }

    #[test]
    fn a_group_shares_its_tokens_with_a_minimum_and_says_when_to_act() {
        let t0 = Instant::now();
        let mut b = Buckets::new(RateLimit::new(MS).read(1_000, 1_000), t0, None);
        b.timer_on = true;
        let g = GroupCell::new(b, 64);
        g.members.set(4);
        assert_eq!(g.share(Direction::Read), 250);
        assert_eq!(g.share(Direction::Write), usize::MAX);
        g.spend(Direction::Read, 900);
        assert!(!g.needs_attention(), "tokens left, timer on");
        assert_eq!(g.share(Direction::Read), 64, "the minimum share");
        g.spend(Direction::Read, 100);
        assert_eq!(g.share(Direction::Read), 0, "nothing once empty");
        assert!(g.needs_attention(), "dry: hold the members");
        g.set_held(Direction::Read, true);
        g.spend(Direction::Read, 64);
        assert!(!g.needs_attention(), "held already");
        g.spend(Direction::Write, 10);
        assert_eq!(g.totals(), (1_064, 0), "writes are not limited");
        let mut b = g.buckets.get();
        b.timer_on = false;
        g.buckets.set(b);
        assert!(g.needs_attention(), "timer stopped below the burst");
    }

    #[test]
    fn bad_limits_are_refused() {
        let ok = RateLimit::new(MS).read(1, 1).write(5, 9);
        assert!(ok.validate().is_ok());
        for bad in [
            RateLimit::new(Duration::ZERO).read(1, 1),
            RateLimit::new(MS).read(0, 1),
            RateLimit::new(MS).write(2, 1),
            RateLimit::new(MS).read(1, u64::MAX),
        ] {
            assert!(
                matches!(bad.validate(), Err(evloop::Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }
}
