//! `framer`: arbitrary bytes, in one piece, into a `Framer<512>`.
//!
//! Properties: no panic; the feed loop always makes progress (every call
//! consumes input or returns an event, at most three events in a row come
//! without consuming, so the loop is bounded by `4 * len + 4` calls; an
//! event that consumed nothing is never followed by another such event
//! more than three times); every
//! `Frame` is standard JSON (serde_json parses it; for a number out of
//! serde_json's range, `1e400`, it checks the syntax only) and fits the
//! buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_core::wire::{Event, Framer};

fuzz_target!(|data: &[u8]| {
    let mut framer = Box::new(Framer::<512>::new());
    let mut rest = data;
    let mut idle_events = 0;
    for _ in 0..4 * data.len() + 4 {
        let before = rest.len();
        let fed = framer.feed(rest);
        let used = before - fed.rest.len();
        rest = fed.rest;
        let Some(event) = fed.event else {
            assert!(rest.is_empty(), "None before the input was consumed");
            return;
        };
        idle_events = if used == 0 { idle_events + 1 } else { 0 };
        assert!(idle_events <= 3, "events without progress");
        if let Event::Frame(f) = event {
            assert!(f.json.len() <= 512);
            if let Err(e) = qga_fuzz::parse_json(f.json) {
                panic!(
                    "frame is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(f.json)
                );
            }
        }
    }
    panic!("feed loop did not finish");
});
