//! Streams on descriptors that are not sockets (a pipe's two ends): a
//! stream moves bytes with `recv`/`send` on sockets, and must find out
//! from the first refusal that these are not, and carry on with
//! `read`/`write` without losing a byte.

mod common;

use std::io::{Read, Write};

use evloop::Loop;
use evloop_buffer::{StreamEvent, StreamExt, StreamId};

use common::{run_to_end, temp_file};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[derive(Default)]
struct Got {
    bytes: Vec<u8>,
    eof: bool,
}

#[test]
fn a_stream_reads_a_pipe_to_its_end() {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let mut lp: Loop<Got> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let id = ctx.new_stream(reader).unwrap();
    let mut s = ctx.stream(id).unwrap();
    s.on_read(|ctx, got: &mut Got, id| {
        let mut s = ctx.stream(id).unwrap();
        let n = s.input().len();
        got.bytes.extend_from_slice(&s.input().split_to(n));
    });
    s.on_event(|ctx, got: &mut Got, id, ev| {
        got.eof = matches!(ev, StreamEvent::Eof);
        ctx.stream(id).unwrap().close();
    });
    drop(s);
    let data = pattern(40_000, 7);
    writer.write_all(&data).unwrap();
    drop(writer);
    let mut got = Got::default();
    run_to_end(&mut lp, &mut got);
    assert!(got.eof, "the end of the pipe is an Eof event");
    assert_eq!(got.bytes, data);
}

#[test]
fn a_stream_writes_memory_and_a_file_segment_into_a_pipe() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut lp: Loop<()> = Loop::new().unwrap();
    let mut ctx = lp.ctx();
    let id: StreamId = ctx.new_stream(writer).unwrap();
    let head = pattern(3_000, 1);
    let file_data = pattern(50_000, 2);
    let file = temp_file("pipe-segment", &file_data);
    let tail = pattern(2_000, 3);
    let mut s = ctx.stream(id).unwrap();
    s.write(&head);
    s.output().add_file(file, 1_000, 40_000).unwrap();
    s.write(&tail);
    // Everything sent (the output at its low watermark, 0): done.
    s.on_write(|ctx, _, id| {
        ctx.stream(id).unwrap().close();
    });
    drop(s);
    // A pipe holds 64 KiB: the reader drains it while the loop writes.
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        all
    });
    run_to_end(&mut lp, &mut ());
    drop(lp); // the stream's descriptor with it: the reader sees the end
    let all = drain.join().unwrap();
    let mut want = head;
    want.extend_from_slice(&file_data[1_000..41_000]);
    want.extend_from_slice(&tail);
    assert_eq!(all.len(), want.len());
    assert!(all == want, "the bytes arrive in order");
}
