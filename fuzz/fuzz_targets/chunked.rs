//! `chunked`: the whole agent is split-invariant.
//!
//! Property: the same bytes fed to a fresh `Agent<MockPlatform, 512>` in
//! one piece and to another in fuzzer-chosen pieces (the first bytes of the
//! input choose the piece lengths, empty pieces included) give byte-identical
//! output. Cuts fall anywhere: inside strings, escapes, UTF-8 sequences,
//! numbers, keywords, streamed base64 and around 0xFF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_fuzz::{agent, cuts, pieces, Sink};

fuzz_target!(|data: &[u8]| {
    let (lens, stream) = cuts(data);
    let (mut one, mut out_one) = (agent(), Sink::new());
    let _ = one.feed(stream, &mut out_one);
    let (mut split, mut out_split) = (agent(), Sink::new());
    for piece in pieces(&lens, stream) {
        let _ = split.feed(piece, &mut out_split);
    }
    if out_one != out_split {
        let (a, b) = (&out_one.kept, &out_split.kept);
        panic!(
            "split changes the output:\n{}\nvs\n{}",
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b)
        );
    }
});
