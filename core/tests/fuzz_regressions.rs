//! Regression tests for the findings of the fuzz targets (`fuzz/`), one per
//! finding, named `fuzz_<target>_<what>`: the exact bytes in, the exact
//! reply (or result) out.

mod common;
use common::run;
use qga_core::wire::envelope::{self, Envelope};
use qga_core::wire::{Event, Framer};

/// A `guest-ping` whose `id` string pads the compact request to `len` bytes.
fn ping_of_len(len: usize) -> Vec<u8> {
    let pad = len - br#"{"execute":"guest-ping","id":""}"#.len();
    format!(r#"{{"execute":"guest-ping","id":"{}"}}"#, "a".repeat(pad)).into_bytes()
}

/// `oracle`: a raw DEL (0x7F) in a string was a stray byte; qemu and
/// RFC 8259 take it as plain content. It is echoed as `\u007F`.
#[test]
fn fuzz_oracle_del_in_string() {
    let mut f = Framer::<512>::new();
    let fed = f.feed(b"\"ues\x7f\" ");
    assert_eq!(fed.rest, b" ");
    assert!(matches!(fed.event, Some(Event::Frame(fr)) if fr.json == b"\"ues\x7f\""));
    assert_eq!(
        run(b"{\"execute\":\"guest-ping\",\"id\":\"a\x7fb\"}"),
        "{\"return\": {}, \"id\": \"a\\u007Fb\"}\n"
    );
}

/// `framer`: a request one byte too long, whose closing `}` was the byte
/// that did not fit, came out as a truncated frame (not JSON) instead of
/// the size error. 512 bytes fit; 513 give the error, then the agent is in
/// sync again.
#[test]
fn fuzz_framer_last_byte_overflow() {
    let fits = ping_of_len(512);
    let reply = format!(
        "{{\"return\": {{}}, \"id\": \"{}\"}}\n",
        "a".repeat(512 - 32)
    );
    assert_eq!(run(&fits), reply);
    let mut input = ping_of_len(513);
    input.extend_from_slice(br#"{"execute":"guest-ping"}"#);
    assert_eq!(
        run(&input),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\n\
         {\"return\": {}}\n"
    );
}

/// `framer` (found by the harness, not a core bug): numbers are stored as
/// written, so an `id` serde_json calls out of range is echoed verbatim.
#[test]
fn fuzz_framer_out_of_range_number_id() {
    assert_eq!(
        run(br#"{"execute":"guest-ping","id":1e4000}"#),
        "{\"return\": {}, \"id\": 1e4000}\n"
    );
}

/// `envelope`: `parse` on bytes that are not a frame sliced a lone `"`
/// value as `[1..0]` and panicked.
#[test]
fn fuzz_envelope_truncated_execute() {
    assert_eq!(
        envelope::parse(b"{\"execute\":\""),
        Ok(Envelope {
            execute: b"",
            arguments: None,
            id: None
        })
    );
}

/// `oracle` (a harness bug, not a core one): an overlong NUL right after a
/// backslash is an invalid escape, not `\u0000`; the oracle's rewrite of
/// `C0 80` had turned `"\<C0 80>u00"` into valid JSON.
#[test]
fn fuzz_oracle_overlong_nul_after_backslash() {
    assert_eq!(
        run(b"{\"execute\":\"\\\xc0\x80u00\"}"),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, invalid escape sequence in string\"}}\n"
    );
    assert_eq!(
        run(b"{\"execute\":\"guest-ping\",\"id\":\"\xc0\x80 8\"}"),
        "{\"return\": {}, \"id\": \"\\u0000 8\"}\n"
    );
}
