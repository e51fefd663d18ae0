//! Framer and dispatch throughput (criterion).
//!
//! * `framer/small_mixed`: a stream of small mixed requests, framed only.
//! * `framer/file_write_16MiB`: one 16 MiB `guest-file-write` request whose
//!   `buf-b64` streams past the 4 KiB request buffer, framed only.
//! * `agent/file_write_16MiB`: the same request through full dispatch,
//!   decoded and written to the mock platform's `/dev/zero` sink.
//! * `agent/mixed_requests`: requests/s through full dispatch.
//!
//! Run: `cargo bench -p qga-core --bench throughput`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qga_core::platform::mock::MockPlatform;
use qga_core::wire::{Event, Framer};
use qga_core::Agent;

const MIXED: &[&[u8]] = &[
    b"{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":1234567}}\n",
    br#"{"execute":"guest-ping"}"#,
    br#"{"execute":"guest-get-time"}"#,
    br#"{"execute":"guest-file-read","arguments":{"handle":1,"count":64}}"#,
    br#"{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"aGVsbG8gd29ybGQ="}}"#,
    br#"{"execute":"guest-get-osinfo","id":"req-42"}"#,
    br#"{"execute":"guest-exec-status","arguments":{"pid":100}}"#,
];

fn mixed_stream(copies: usize) -> Vec<u8> {
    (0..copies)
        .flat_map(|i| MIXED[i % MIXED.len()].iter().copied())
        .collect()
}

fn big_write() -> Vec<u8> {
    let b64 = "QUJD".repeat((16 << 20) / 3);
    format!(r#"{{"execute":"guest-file-write","arguments":{{"handle":1,"buf-b64":"{b64}"}}}}"#)
        .into_bytes()
}

/// Frames `input` and counts the events.
fn frame_all(framer: &mut Framer<4096>, mut input: &[u8]) -> usize {
    let mut events = 0;
    loop {
        let fed = framer.feed(input);
        input = fed.rest;
        match fed.event {
            None => return events,
            Some(Event::StreamData(d)) => events += d.len(),
            Some(_) => events += 1,
        }
    }
}

/// A writer that drops replies.
struct Null;

impl embedded_io::ErrorType for Null {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Null {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn framer(c: &mut Criterion) {
    let mut g = c.benchmark_group("framer");
    let small = mixed_stream(10_000);
    g.throughput(Throughput::Bytes(small.len() as u64));
    g.bench_function("small_mixed", |b| {
        let mut f = Framer::<4096>::new();
        b.iter(|| black_box(frame_all(&mut f, black_box(&small))));
    });
    let big = big_write();
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(10);
    g.bench_function("file_write_16MiB", |b| {
        let mut f = Framer::<4096>::new();
        b.iter(|| black_box(frame_all(&mut f, black_box(&big))));
    });
    g.finish();
}

fn agent(c: &mut Criterion) {
    let mut g = c.benchmark_group("agent");
    let mut a: Box<Agent<MockPlatform>> = Box::new(Agent::new(MockPlatform::new()));
    let _ = a.feed(
        br#"{"execute":"guest-file-open","arguments":{"path":"/dev/zero","mode":"r+"}}"#,
        &mut Null,
    );
    let stream = mixed_stream(MIXED.len() * 1000);
    g.throughput(Throughput::Elements((MIXED.len() * 1000) as u64));
    g.bench_function("mixed_requests", |b| {
        b.iter(|| a.feed(black_box(&stream), &mut Null))
    });
    let big = big_write();
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(10);
    g.bench_function("file_write_16MiB", |b| {
        b.iter(|| a.feed(black_box(&big), &mut Null))
    });
    g.finish();
}

criterion_group!(benches, framer, agent);
criterion_main!(benches);
