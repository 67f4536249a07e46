//! After an upgrade (WebSocket, or any protocol a `101` switches to): the
//! client's connection and the upstream's spliced together, bytes copied
//! both ways as they come, each side paused while the other has
//! `HIGH_WATER` bytes waiting, an end of input passed on as a half close.

use evloop::Ctx;
use evloop_buffer::stream::{Direction, StreamEvent, Watermarks};
use evloop_buffer::{StreamExt, StreamId};

/// Bytes waiting to be sent on one side before the other is read no more.
const HIGH_WATER: usize = 256 * 1024;

/// Joins `a` and `b`: what one receives, the other sends.
pub fn splice<T: 'static>(ctx: &mut Ctx<'_, T>, a: StreamId, b: StreamId) {
    for (from, to) in [(a, b), (b, a)] {
        let Ok(mut s) = ctx.stream(from) else {
            close_both(ctx, a, b);
            return;
        };
        s.on_read(move |ctx, _, id| pass(ctx, id, to));
        // This side's output has drained: read the other again.
        s.on_write(move |ctx, _, _| {
            if let Ok(mut t) = ctx.stream(to) {
                t.enable(Direction::Read);
            }
        });
        s.on_event(move |ctx, _, id, ev| on_event(ctx, id, to, ev));
        s.set_watermarks(Watermarks {
            write_low: HIGH_WATER / 4,
            ..Watermarks::default()
        });
        // A tunnel may be quiet for long (a WebSocket between messages);
        // its ends decide when it is dead.
        let _ = s.set_timeouts(None, None);
        s.enable(Direction::Read);
    }
    // Bytes that came behind the heads are there already.
    pass(ctx, a, b);
    pass(ctx, b, a);
}

/// Moves what `from` has read to `to`'s output.
fn pass<T: 'static>(ctx: &mut Ctx<'_, T>, from: StreamId, to: StreamId) {
    let mut data = match ctx.stream(from) {
        Ok(mut s) => std::mem::take(s.input()),
        Err(_) => return,
    };
    if data.is_empty() {
        return;
    }
    let Ok(mut t) = ctx.stream(to) else {
        close_both(ctx, from, to);
        return;
    };
    t.write_buffer(&mut data);
    let waiting = t.output().len();
    drop(t);
    if waiting > HIGH_WATER {
        if let Ok(mut s) = ctx.stream(from) {
            s.disable(Direction::Read);
        }
    }
}

fn on_event<T: 'static>(ctx: &mut Ctx<'_, T>, id: StreamId, other: StreamId, ev: StreamEvent) {
    match ev {
        StreamEvent::Connected => {}
        StreamEvent::Eof => {
            // This peer sends no more: neither does the other side's
            // write half, once what it has is sent.
            let other_done = match ctx.stream(other) {
                Ok(mut t) => {
                    t.shutdown_when_flushed();
                    t.is_eof()
                }
                Err(_) => true,
            };
            if other_done {
                close_both(ctx, id, other);
            }
        }
        _ => close_both(ctx, id, other),
    }
}

/// Both ends closed, each once its output is sent.
fn close_both<T: 'static>(ctx: &mut Ctx<'_, T>, a: StreamId, b: StreamId) {
    for id in [a, b] {
        if let Ok(s) = ctx.stream(id) {
            if s.has_failed() {
                s.close();
            } else {
                s.close_when_flushed();
            }
        }
    }
}
