//! Back-pressure: 100 MB from a fast writer to a slow reader that has a
//! read high watermark. Nothing may be lost, duplicated or reordered, and
//! neither side's memory may grow past its watermarks.

use std::time::Duration;

use evloop::{Loop, RunMode, TimerId};
use evloop_buffer::{StreamEvent, StreamExt, StreamId, Watermarks};

const TOTAL: usize = 100 << 20;
const CHUNK: usize = 1 << 20;
const HIGH: usize = 256 << 10;
const READ_SIZE: usize = 64 << 10;
/// The writer tops up when its output falls to this.
const WRITE_LOW: usize = 1 << 20;
/// The slow reader takes at most this much per timer tick.
const TAKE_PER_TICK: usize = 192 << 10;
const PERIOD: usize = 251; // prime: a lost or doubled run of bytes shows

/// The byte at stream offset `i` is `pattern[i % PERIOD]`; `pattern` is
/// long enough that any chunk starting anywhere in a period is one slice.
fn pattern() -> Vec<u8> {
    (0..PERIOD + CHUNK + TAKE_PER_TICK)
        .map(|i| (i % PERIOD) as u8)
        .collect()
}

#[derive(Default)]
struct App {
    pattern: Vec<u8>,
    written: usize,
    received: usize,
    max_input: usize,
    max_output: usize,
    ticks: u64,
    eof: bool,
    reader: Option<StreamId>,
    timer: Option<TimerId>,
    errors: Vec<String>,
}

fn top_up(ctx: &mut evloop::Ctx<'_, App>, app: &mut App, id: StreamId) {
    let mut s = ctx.stream(id).unwrap();
    app.max_output = app.max_output.max(s.output().len());
    if app.written < TOTAL && s.output().len() <= WRITE_LOW {
        let n = CHUNK.min(TOTAL - app.written);
        let off = app.written % PERIOD;
        s.write(&app.pattern[off..off + n]);
        app.written += n;
        app.max_output = app.max_output.max(s.output().len());
        if app.written == TOTAL {
            s.close_when_flushed();
        }
    }
}

#[test]
fn hundred_megabytes_through_a_slow_reader_lose_nothing_and_stay_bounded() {
    let mut lp: Loop<App> = Loop::new().unwrap();
    let (writer, reader) = lp.ctx().new_stream_pair().unwrap();

    let mut ctx = lp.ctx();
    let mut w = ctx.stream(writer).unwrap();
    w.set_watermarks(Watermarks {
        write_low: WRITE_LOW,
        ..Watermarks::default()
    });
    w.on_write(top_up);
    w.on_event(|_, app, _, ev| app.errors.push(format!("writer: {ev:?}")));
    drop(w);

    let mut ctx = lp.ctx();
    let mut r = ctx.stream(reader).unwrap();
    r.set_read_size(READ_SIZE);
    r.set_watermarks(Watermarks {
        read_high: Some(HIGH),
        ..Watermarks::default()
    });
    // The read callback only watches; the timer below does the reading.
    r.on_read(|ctx, app, id| {
        let len = ctx.stream(id).unwrap().input().len();
        app.max_input = app.max_input.max(len);
    });
    r.on_event(|_, app, _, ev| match ev {
        StreamEvent::Eof => app.eof = true,
        other => app.errors.push(format!("reader: {other:?}")),
    });
    drop(r);

    // The slow consumer: a little every millisecond, from outside the
    // stream's callbacks, which must be enough to resume reading.
    let timer = lp
        .ctx()
        .new_timer(
            Duration::ZERO,
            Duration::from_millis(1),
            |ctx, app, t, _| {
                app.ticks += 1;
                let id = app.reader.unwrap();
                let mut s = ctx.stream(id).unwrap();
                let input = s.input();
                app.max_input = app.max_input.max(input.len());
                let n = input.len().min(TAKE_PER_TICK);
                let got = input.split_to(n);
                let off = app.received % PERIOD;
                assert!(
                    got[..] == app.pattern[off..off + n],
                    "wrong bytes at offset {}",
                    app.received
                );
                app.received += n;
                if app.eof && s.input().is_empty() {
                    s.close();
                    ctx.stop(t).unwrap();
                }
            },
        )
        .unwrap();
    lp.ctx().start(timer).unwrap();

    let mut app = App {
        pattern: pattern(),
        reader: Some(reader),
        timer: Some(timer),
        ..App::default()
    };
    top_up(&mut lp.ctx(), &mut app, writer);
    lp.run(&mut app, RunMode::Default).unwrap();

    assert!(app.errors.is_empty(), "{:?}", app.errors);
    assert!(app.eof, "the reader saw the writer's close");
    assert_eq!(app.written, TOTAL);
    assert_eq!(app.received, TOTAL, "every byte arrived, once");
    assert!(
        app.max_input <= HIGH,
        "input grew to {} past the high watermark {HIGH}",
        app.max_input
    );
    assert!(app.max_input >= HIGH / 2, "the watermark was reached");
    assert!(
        app.max_output <= WRITE_LOW + CHUNK,
        "output grew to {}",
        app.max_output
    );
    // The reader was the bottleneck: at most TAKE_PER_TICK per tick.
    assert!(app.ticks as usize >= TOTAL / TAKE_PER_TICK);
    assert!(app.timer.is_some());
}
