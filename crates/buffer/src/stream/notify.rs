//! Calling the user's callbacks: take the callback out of the stream,
//! call it, put it back (see [`CallbackSlot`]).

use evloop::Ctx;

use super::callback::{self, CallbackSlot, Taken};
use super::driver::state;
use super::settle::{close, settle};
use super::state::{Closing, DataCb, State};
use super::{Direction, StreamEvent, StreamId};

fn data_slot<T>(st: &mut State<T>, dir: Direction) -> &mut CallbackSlot<DataCb<T>> {
    match dir {
        Direction::Read => &mut st.on_read,
        Direction::Write => &mut st.on_write,
    }
}

/// Runs the read or write callback (take, call, restore). What the
/// callback changed is applied by the caller: `on_io` settles the stream
/// once, after its read, the callback and the write that follows.
pub(super) fn call_data<T: 'static>(
    ctx: &mut Ctx<'_, T>,
    data: &mut T,
    id: StreamId,
    dir: Direction,
) {
    let Some(taken) = state(ctx, id).and_then(|st| data_slot(st, dir).take()) else {
        return;
    };
    run_taken(ctx, data, id, dir, taken);
}

/// Runs a read or write callback its caller took out of the stream, and
/// puts it back. Returns the stream's state if it is still open, for the
/// caller to go on with (one lookup fewer).
pub(super) fn run_taken<'c, T: 'static>(
    ctx: &'c mut Ctx<'_, T>,
    data: &mut T,
    id: StreamId,
    dir: Direction,
    mut taken: Taken<DataCb<T>>,
) -> Option<&'c mut State<T>> {
    let outcome = callback::catch(|| (taken.cb)(ctx, data, id));
    if let Err(panic) = outcome {
        if let Some(st) = state(ctx, id) {
            data_slot(st, dir).restore(taken);
        }
        settle(ctx, id);
        std::panic::resume_unwind(panic);
    }
    let st = state(ctx, id)?;
    data_slot(st, dir).restore(taken);
    Some(st)
}

/// Runs the event callback, or, without one, closes the stream (after
/// flushing, for EOF) so that it cannot linger unowned.
pub(super) fn emit<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, id: StreamId, ev: StreamEvent) {
    let Some(st) = state(ctx, id) else { return };
    if st.on_event.is_set() {
        // None when it is running further up the stack (a nested run): the
        // state already records what happened.
        if let Some(mut taken) = st.on_event.take() {
            let outcome = callback::catch(|| (taken.cb)(ctx, data, id, ev));
            if let Some(st) = state(ctx, id) {
                st.on_event.restore(taken);
            }
            if let Err(panic) = outcome {
                settle(ctx, id);
                std::panic::resume_unwind(panic);
            }
        }
    } else {
        match ev {
            StreamEvent::Connected => {}
            StreamEvent::Eof => st.closing = Some(Closing::Close),
            StreamEvent::Timeout(_) | StreamEvent::Error { .. } => {
                close(ctx, id);
                return;
            }
        }
    }
    settle(ctx, id);
}
