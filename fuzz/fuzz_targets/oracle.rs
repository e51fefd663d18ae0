//! `oracle`: the framer against serde_json, on inputs within our bounds.
//!
//! Property: for an input of fewer than 512 bytes followed by one space, the
//! framer returns exactly one event, a `Frame`, and ends idle iff
//! `serde_json::from_slice` accepts the input; and then the frame holds
//! the same value. Inputs outside what both parsers share are skipped:
//! * any 0xFF (a silent reset for us, invalid UTF-8 for serde_json);
//! * any `'` byte: qemu's single-quoted strings and `\'` escape are
//!   extensions (this also skips `'` inside `"..."`, plain for both);
//! * nesting deeper than `MAX_DEPTH` = 64 (serde_json allows 128);
//! * numbers serde_json calls "out of range" (`1e400`): qemu reads them
//!   with strtod as infinity, the framer (which converts no number) keeps
//!   them as written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_core::wire::{Event, Framer};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 512 || data.iter().any(|&b| b == 0xFF || b == b'\'') || depth(data) > 64 {
        return;
    }
    let serde = serde_json::from_slice::<Value>(data);
    if matches!(&serde, Err(e) if e.to_string().starts_with("number out of range")) {
        return;
    }
    let input = [data, b" "].concat();
    let mut framer = Box::new(Framer::<512>::new());
    let (mut rest, mut frames, mut other) = (&input[..], Vec::new(), 0);
    while let (used, Some(event)) = framer.feed(rest) {
        rest = &rest[used..];
        match event {
            Event::Frame(f) => frames.push(serde_json::from_slice::<Value>(f.json).ok()),
            _ => other += 1,
        }
    }
    let ours =
        (frames.len() == 1 && other == 0 && !framer.is_mid_request()).then(|| frames[0].clone());
    let text = String::from_utf8_lossy(data);
    match serde {
        Ok(v) => assert_eq!(ours, Some(Some(v)), "framer rejects valid JSON {text:?}"),
        Err(e) => assert!(ours.is_none(), "framer accepts {text:?}, serde_json: {e}"),
    }
});

/// Nesting depth, strings skipped (exact for valid JSON).
fn depth(data: &[u8]) -> usize {
    let (mut d, mut max, mut in_str, mut esc) = (0usize, 0, false, false);
    for &b in data {
        match (in_str, esc, b) {
            (true, true, _) => esc = false,
            (true, false, b'\\') => esc = true,
            (_, false, b'"') => in_str = !in_str,
            (false, _, b'{' | b'[') => d += 1,
            (false, _, b'}' | b']') => d = d.saturating_sub(1),
            _ => {}
        }
        max = max.max(d);
    }
    max
}
