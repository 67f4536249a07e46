//! Rate groups (libevent's `bufferevent_rate_limit_group`): one pair of
//! buckets shared by several streams, for a limit on their sum (all the
//! downloads of a server, say), on top of any limit each has of its own.
//!
//! Each read or send of a member takes at most an equal share of what the
//! group's bucket holds (at least the minimum share). When the bucket runs
//! dry, every member is held back in that direction until the group's
//! refill timer brings tokens again, then all are let go at once. The
//! table of groups is a loop extension slot of its own; each member holds
//! the group's shared cell, so that its reads and sends look nothing up.

use std::rc::Rc;

use evloop::{Ctx, LoopId, TimerId};
use slotmap::SlotMap;

use super::rate::{Buckets, GroupCell, Limits, Member, RateLimit};
use super::settle::settle;
use super::{driver::state, Direction, StreamId};

slotmap::new_key_type! {
    pub(crate) struct GroupKey;
}

/// A rate group's handle: `Copy`, carrying its loop's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateGroupId {
    pub(crate) key: GroupKey,
    pub(crate) lp: LoopId,
}

/// libevent's default minimum share: a read or send of a member may take
/// this much even when the group's tokens, split among its members, come
/// to less.
pub const DEFAULT_MIN_SHARE: usize = 64;

struct Group {
    cell: Rc<GroupCell>,
    members: Vec<StreamId>,
    timer: TimerId,
}

#[derive(Default)]
struct Groups {
    map: SlotMap<GroupKey, Group>,
}

fn group_mut<'c, T>(
    ctx: &'c mut Ctx<'_, T>,
    id: RateGroupId,
) -> Result<&'c mut Group, evloop::Error> {
    if id.lp != ctx.loop_id() {
        return Err(evloop::Error::ForeignHandle);
    }
    ctx.ext_mut::<Groups>()
        .and_then(|g| g.map.get_mut(id.key))
        .ok_or(evloop::Error::StaleHandle)
}

/// Makes a group with `limit` and no members.
pub(super) fn new_group<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    limit: RateLimit,
) -> Result<RateGroupId, evloop::Error> {
    limit.validate()?;
    let timer = ctx.new_timer(limit.tick(), limit.tick(), |_, _, _, _| {})?;
    // See `after_spend`: only held members keep the run going.
    ctx.timer(timer)?.set_keepalive(false);
    // The timer is the group's (`Group::timer`), not the buckets'.
    let buckets = Buckets::new(limit, ctx.now(), None);
    let cell = Rc::new(GroupCell::new(buckets, DEFAULT_MIN_SHARE));
    let key = ctx.ext_or_default::<Groups>().map.insert(Group {
        cell,
        members: Vec::new(),
        timer,
    });
    let id = RateGroupId {
        key,
        lp: ctx.loop_id(),
    };
    ctx.timer(timer)?
        .set_callback(move |ctx, _, _, _| on_refill(ctx, id));
    after_spend(ctx, id);
    Ok(id)
}

/// Removes a group: its members go on without it.
pub(super) fn remove_group<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    id: RateGroupId,
) -> Result<(), evloop::Error> {
    let g = group_mut(ctx, id)?;
    let (members, timer) = (std::mem::take(&mut g.members), g.timer);
    if let Some(groups) = ctx.ext_mut::<Groups>() {
        groups.map.remove(id.key);
    }
    let _ = ctx.remove(timer);
    for m in members {
        if let Some(st) = state(ctx, m) {
            if let Some(l) = st.rate.as_deref_mut() {
                l.group = None;
                if l.is_empty() {
                    st.rate = None;
                }
            }
        }
        settle(ctx, m);
    }
    Ok(())
}

/// Puts stream `sid` in group `gid` (out of the one it was in), or out of
/// any with `None`.
pub(super) fn set_stream_group<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    sid: StreamId,
    gid: Option<RateGroupId>,
) -> Result<(), evloop::Error> {
    let cell = match gid {
        Some(g) => Some(group_mut(ctx, g)?.cell.clone()),
        None => None,
    };
    let st = state(ctx, sid).ok_or(evloop::Error::StaleHandle)?;
    let old = st.rate.as_deref_mut().and_then(|l| l.group.take());
    if let Some(old) = &old {
        old.cell
            .members
            .set(old.cell.members.get().saturating_sub(1));
    }
    match (gid, cell) {
        (Some(g), Some(cell)) => {
            cell.members.set(cell.members.get() + 1);
            let l = st.rate.get_or_insert_with(|| Box::new(Limits::default()));
            l.group = Some(Member { key: g.key, cell });
        }
        _ => {
            if st.rate.as_deref().is_some_and(Limits::is_empty) {
                st.rate = None;
            }
        }
    }
    if let Some(groups) = ctx.ext_mut::<Groups>() {
        if let Some(old) = old.and_then(|o| groups.map.get_mut(o.key)) {
            old.members.retain(|&m| m != sid);
        }
        if let Some(g) = gid.and_then(|g| groups.map.get_mut(g.key)) {
            g.members.push(sid);
        }
    }
    settle(ctx, sid);
    Ok(())
}

/// A closing stream leaves its group.
pub(super) fn forget<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId, member: Member) {
    member
        .cell
        .members
        .set(member.cell.members.get().saturating_sub(1));
    if let Some(g) = ctx
        .ext_mut::<Groups>()
        .and_then(|g| g.map.get_mut(member.key))
    {
        g.members.retain(|&m| m != sid);
    }
}

/// The group of stream `sid`, if any.
pub(super) fn group_of<T: 'static>(ctx: &mut Ctx<'_, T>, sid: StreamId) -> Option<RateGroupId> {
    let key = state(ctx, sid)?.rate.as_deref()?.group.as_ref()?.key;
    Some(RateGroupId {
        key,
        lp: ctx.loop_id(),
    })
}

/// After a member moved bytes (or the limit changed): holds every member
/// back in a direction whose bucket ran dry, and keeps the refill timer
/// running while a bucket is below its burst.
pub(super) fn after_spend<T: 'static>(ctx: &mut Ctx<'_, T>, id: RateGroupId) {
    let now = ctx.now();
    let Ok(g) = group_mut(ctx, id) else { return };
    let (cell, timer) = (g.cell.clone(), g.timer);
    let mut b = cell.buckets.get();
    let mut hold = false;
    for dir in [Direction::Read, Direction::Write] {
        if !b.open(dir) && !cell.held(dir) {
            cell.set_held(dir, true);
            hold = true;
        }
    }
    let start = !b.timer_on && b.refilling();
    if start {
        b.restart(now);
        b.timer_on = true;
        cell.buckets.set(b);
        let (after, tick) = (b.until_next_tick(now), b.limit.tick());
        if let Ok(mut t) = ctx.timer(timer) {
            t.stop();
            let _ = t.set(after, tick);
            let _ = t.start();
        }
    }
    if hold {
        // Members held back wait on this timer alone: it keeps the run
        // going for them (it does not otherwise, so that an idle group
        // refilling does not hold the program up).
        if let Ok(mut t) = ctx.timer(timer) {
            t.set_keepalive(true);
        }
        settle_members(ctx, id);
    }
}

/// A tick of the group: the buckets get their tokens; members held back
/// in a direction that has tokens again go on.
fn on_refill<T: 'static>(ctx: &mut Ctx<'_, T>, id: RateGroupId) {
    let now = ctx.now();
    let Ok(g) = group_mut(ctx, id) else { return };
    let (cell, timer) = (g.cell.clone(), g.timer);
    let mut b = cell.buckets.get();
    b.refill(now);
    let mut release = false;
    for dir in [Direction::Read, Direction::Write] {
        if cell.held(dir) && b.open(dir) {
            cell.set_held(dir, false);
            release = true;
        }
    }
    if !b.refilling() {
        b.timer_on = false;
        if let Ok(mut t) = ctx.timer(timer) {
            t.stop();
        }
    }
    cell.buckets.set(b);
    if release {
        if !cell.held(Direction::Read) && !cell.held(Direction::Write) {
            if let Ok(mut t) = ctx.timer(timer) {
                t.set_keepalive(false);
            }
        }
        settle_members(ctx, id);
    }
}

fn settle_members<T: 'static>(ctx: &mut Ctx<'_, T>, id: RateGroupId) {
    let members = match group_mut(ctx, id) {
        Ok(g) => g.members.clone(),
        Err(_) => return,
    };
    for m in members {
        settle(ctx, m);
    }
}

/// A view of a rate group, from
/// [`ctx.rate_group(id)`](super::StreamExt::rate_group).
pub struct RateGroup<'a, T: 'static> {
    ctx: Ctx<'a, T>,
    id: RateGroupId,
}

impl<'a, T: 'static> RateGroup<'a, T> {
    pub(super) fn new(mut ctx: Ctx<'a, T>, id: RateGroupId) -> Result<Self, evloop::Error> {
        group_mut(&mut ctx, id)?;
        Ok(RateGroup { ctx, id })
    }

    fn cell(&mut self) -> Rc<GroupCell> {
        match group_mut(&mut self.ctx, self.id) {
            Ok(g) => g.cell.clone(),
            Err(_) => unreachable!("a RateGroup's group exists while it is borrowed"),
        }
    }

    /// Its handle.
    pub fn id(&self) -> RateGroupId {
        self.id
    }

    /// The group's limit.
    pub fn limit(&mut self) -> RateLimit {
        self.cell().buckets.get().limit
    }

    /// Changes the limit (libevent's
    /// `bufferevent_rate_limit_group_set_cfg`): the buckets keep what
    /// they hold, cut down to the new bursts.
    ///
    /// # Errors
    ///
    /// [`evloop::Error::InvalidArgument`] for a limit that cannot work;
    /// nothing changes then.
    pub fn set_limit(&mut self, limit: RateLimit) -> Result<(), evloop::Error> {
        limit.validate()?;
        let now = self.ctx.now();
        let cell = self.cell();
        let mut b = cell.buckets.get();
        let tick_changed = b.limit.tick() != limit.tick();
        b.replace(limit, now);
        if tick_changed {
            // Started again on the new tick's boundaries.
            b.timer_on = false;
        }
        cell.buckets.set(b);
        for dir in [Direction::Read, Direction::Write] {
            // A direction the new limit leaves unlimited is let go.
            if cell.held(dir) && b.open(dir) {
                cell.set_held(dir, false);
            }
        }
        after_spend(&mut self.ctx, self.id);
        settle_members(&mut self.ctx, self.id);
        Ok(())
    }

    /// The least a read or send of a member may take, however many
    /// members share the tokens (libevent's
    /// `bufferevent_rate_limit_group_set_min_share`; default
    /// [`DEFAULT_MIN_SHARE`]). At least 1.
    pub fn set_min_share(&mut self, n: usize) {
        self.cell().min_share.set(n.max(1));
    }

    /// How many streams are members.
    pub fn member_count(&mut self) -> usize {
        self.cell().members.get()
    }

    /// The bytes `dir` may still move before the group holds its members
    /// back, `None` if the group does not limit it.
    pub fn allowance(&mut self, dir: Direction) -> Option<i64> {
        self.cell().buckets.get().tokens(dir)
    }

    /// Bytes read and sent by members since the group was made or
    /// [`reset_totals`](Self::reset_totals) (libevent's
    /// `bufferevent_rate_limit_group_get_totals`).
    pub fn totals(&mut self) -> (u64, u64) {
        self.cell().totals()
    }

    /// Sets both totals back to zero.
    pub fn reset_totals(&mut self) {
        self.cell().reset_totals();
    }

    /// Removes the group (libevent's `bufferevent_rate_limit_group_free`):
    /// its members go on without it, with the limits of their own.
    pub fn remove(mut self) {
        let id = self.id;
        let _ = remove_group(&mut self.ctx, id);
    }
}
