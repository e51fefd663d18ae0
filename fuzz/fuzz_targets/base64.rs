//! `base64`: the streaming decoder, in fuzzer-chosen pieces and whole.
//!
//! Properties: any split of the text gives the same output and the same
//! invalid flag as one piece; on text made only of `A-Z a-z 0-9 + /` (LF
//! skipped) and final `=` padding, wherever base64ct's standard (padded, or
//! unpadded when there is no `=`) decoding is defined, we accept the text
//! and give the same bytes. (We are more lenient: base64ct rejects
//! non-canonical trailing bits and a lone final character, we decode them.)
#![no_main]

use base64ct::{Base64, Base64Unpadded, Encoding};
use libfuzzer_sys::fuzz_target;
use qga_core::wire::base64::Decoder;
use qga_fuzz::{cuts, pieces};

fn decode(parts: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut d = Decoder::new();
    let mut v = Vec::new();
    let mut push = |b: &[u8]| -> Result<(), ()> {
        v.extend_from_slice(b);
        Ok(())
    };
    for p in parts {
        let _ = d.feed(p, &mut push);
    }
    let _ = d.finish(&mut push);
    (v, d.is_invalid())
}

fuzz_target!(|data: &[u8]| {
    let (lens, text) = cuts(data);
    let whole = decode(&[text]);
    assert_eq!(
        whole,
        decode(&pieces(&lens, text)),
        "split changes the result"
    );
    let plain: Vec<u8> = text.iter().copied().filter(|&b| b != b'\n').collect();
    let reference = match plain.contains(&b'=') {
        true => Base64::decode_vec(core::str::from_utf8(&plain).unwrap_or("!")),
        false => Base64Unpadded::decode_vec(core::str::from_utf8(&plain).unwrap_or("!")),
    };
    if let Ok(expected) = reference {
        assert_eq!(whole, (expected, false), "differs from base64ct");
    }
});
