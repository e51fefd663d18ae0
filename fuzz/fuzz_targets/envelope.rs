//! `envelope`: the readers of stored frames on arbitrary bytes.
//!
//! Property: `envelope::parse`, `id_of`, `Prefix::parse`, the JSON
//! readers (`members`, `elements`, `value_len`), the unescaper and
//! `payload::decode_raw` never panic and never read past their input, on
//! any bytes (not only on frames the framer produced); every span they
//! return is a part of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_core::commands::payload::decode_raw;
use qga_core::wire::{envelope, json};

fuzz_target!(|data: &[u8]| {
    let within = |s: &[u8]| data.as_ptr_range().contains(&s.as_ptr()) || s.is_empty();
    if let Ok(env) = envelope::parse(data) {
        assert!(within(env.execute) && env.id.map_or(true, within));
    }
    let _ = envelope::id_of(data);
    let p = envelope::Prefix::parse(data);
    assert!(p.execute.map_or(true, within) && within(p.arguments));
    for (k, v) in p.members().take(1024) {
        assert!(within(k) && within(v));
    }
    assert!(json::value_len(data) <= data.len());
    for (k, v) in json::members(data).take(1024) {
        assert!(within(k) && within(v));
        let _ = json::elements(v).take(1024).count();
    }
    for e in json::elements(data).take(1024) {
        assert!(within(e));
    }
    let mut buf = data.to_vec();
    let _ = json::unescape_within(&mut buf, 0, data.len(), 0);
    let _ = json::escape_raw::<()>(data, &mut |_| Ok(()));
    let _ = decode_raw::<()>(data, &mut |_| Ok(()));
});
