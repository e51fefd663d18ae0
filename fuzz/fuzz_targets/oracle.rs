//! `oracle`: the framer against serde_json, on inputs within our bounds.
//!
//! Property: for an input of fewer than 512 bytes followed by one space, the
//! framer returns exactly one event, a `Frame`, and ends idle iff
//! serde_json accepts the input (after [`normalize`]); and then the frame
//! holds the same value.
//!
//! The deliberate differences from serde_json (RFC 8259), each how the
//! oracle handles it; this list is the one place they are written down:
//!
//! 1. **0xFF** resets the framer silently (the resync byte); for serde_json
//!    it is invalid UTF-8. Inputs with 0xFF are skipped.
//! 2. **Single-quoted strings** (`'a"b'`) and the **`\'` escape** are qemu's
//!    extensions, which the framer accepts and rewrites. Inputs with a `'`
//!    byte are skipped (this also skips `'` inside `"..."`, plain for
//!    both); the unit tests of `wire::framer` and `wire::string` check them.
//! 3. **The overlong NUL `C0 80`** inside a string is accepted, as qemu
//!    accepts modified UTF-8, and stored as `\u0000`. The oracle rewrites
//!    `C0 80` to `\u0000` before asking serde_json (outside a string both
//!    then reject it).
//! 4. **Nesting deeper than `MAX_DEPTH` = 64** is an error for us (serde_json
//!    allows 128, qemu 1024). Deeper inputs are skipped.
//! 5. **Numbers out of f64 range** (`1e400`): qemu reads them with strtod as
//!    infinity, the framer (which converts no number) keeps them as
//!    written; serde_json rejects them. Skipped.
//! 6. **DEL (0x7F)** in a string is plain content for qemu and RFC 8259
//!    alike: no difference, listed because an earlier framer got it wrong.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_core::wire::{Event, Framer};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 512 || data.iter().any(|&b| b == 0xFF || b == b'\'') || depth(data) > 64 {
        return;
    }
    let normal = normalize(data);
    let serde = serde_json::from_slice::<Value>(&normal);
    if matches!(&serde, Err(e) if e.to_string().starts_with("number out of range")) {
        return;
    }
    let input = [data, b" "].concat();
    let mut framer = Box::new(Framer::<512>::new());
    let (mut rest, mut frames, mut other) = (&input[..], Vec::new(), 0);
    while let Some(event) = {
        let fed = framer.feed(rest);
        rest = fed.rest;
        fed.event
    } {
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

/// Difference 3: `C0 80` becomes `\u0000`, except right after a backslash,
/// where it is an invalid escape for both (the fuzzer found `"\<C0 80>u00"`
/// read as `"\\u0000u00"`).
fn normalize(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let (mut i, mut escaped) = (0, false);
    while i < data.len() {
        if !escaped && data[i..].starts_with(&[0xC0, 0x80]) {
            out.extend_from_slice(b"\\u0000");
            i += 2;
            continue;
        }
        escaped = !escaped && data[i] == b'\\';
        out.push(data[i]);
        i += 1;
    }
    out
}

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
