//! The kick: work for a connection that a response given outside the
//! engine's callbacks (a timer, another thread) makes possible, run from
//! the loop through a fed check watcher.

use evloop::Ctx;

use super::conn::run;
use super::slab::Key;
use super::state::{conn, server};

/// Has the engine look at the connection from the loop soon, unless it is
/// running for it now (then it looks anyway).
pub(crate) fn schedule<T: 'static>(ctx: &mut Ctx<'_, T>, key: Key) {
    let Some(c) = conn(ctx, key) else { return };
    if c.in_pump || c.dirty {
        return;
    }
    c.dirty = true;
    let skey = c.server;
    if let Some(s) = server(ctx, skey) {
        s.dirty.push(key);
    }
    kick_server(ctx, skey);
}

/// Feeds the server's kick watcher (once per iteration).
pub(crate) fn kick_server<T: 'static>(ctx: &mut Ctx<'_, T>, skey: Key) {
    let Some(s) = server(ctx, skey) else { return };
    if s.kick_fed {
        return;
    }
    s.kick_fed = true;
    let kick = s.kick;
    if let Ok(mut w) = ctx.check(kick) {
        let _ = w.feed(evloop::Events::CUSTOM);
    }
}

/// The kick watcher's callback: runs the engine for the connections that
/// asked, and ends a graceful shutdown once no connection is left.
pub(crate) fn on_kick<T: 'static>(ctx: &mut Ctx<'_, T>, data: &mut T, skey: Key) {
    let Some(s) = server(ctx, skey) else { return };
    s.kick_fed = false;
    let mut dirty = std::mem::take(&mut s.dirty);
    for key in dirty.drain(..) {
        if let Some(c) = conn(ctx, key) {
            c.dirty = false;
            run(ctx, data, key);
        }
    }
    // The list keeps its memory for the next kick (unless the runs asked
    // for another one meanwhile).
    if let Some(s) = server(ctx, skey) {
        if s.dirty.is_empty() {
            s.dirty = dirty;
        }
    }
    super::on_close::run_closed(ctx, data, skey);
    super::handle::maybe_finish_shutdown(ctx, data, skey);
}
