//! `agent`: the whole agent on a sequence of requests, garbage and resyncs.
//!
//! Properties: every reply line (one 0xFF stripped) is a JSON object whose
//! first member is `return` or `error`, and output always ends a line; a
//! 0xFF gets no reply; a well-formed request shorter than the 512-byte
//! buffer, sent when the agent is idle (at the start, after a 0xFF, or
//! after such a request: garbage may leave a value open that a request
//! then only continues), gets exactly one reply (none only for a `guest-shutdown`
//! or `guest-suspend-*` that succeeded) whose `id` equals the request's
//! `id` as a `serde_json::Value`, and no `id` when it had none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_fuzz::{agent, check_lines, Item, Sink};

fuzz_target!(|items: Vec<Item>| {
    let mut a = agent();
    let mut idle = true;
    for item in &items {
        let mut out = Sink::new();
        let (bytes, req) = match item {
            Item::Request(r) => (r.render(), Some(r)),
            Item::Garbage(g) => ((g.clone(), None), None),
            Item::Resync => ((vec![0xFF], None), None),
        };
        let _ = a.feed(&bytes.0, &mut out);
        if !out.complete() {
            idle &= req.is_some();
            continue; // a huge file read: too big to check
        }
        let lines = check_lines(&out.kept);
        match req {
            Some(r) if idle && bytes.0.len() < 512 => {
                let silent = matches!(
                    r.name(),
                    "guest-shutdown"
                        | "guest-suspend-disk"
                        | "guest-suspend-ram"
                        | "guest-suspend-hybrid"
                );
                assert!(lines.len() == 1 || lines.is_empty() && silent, "{lines:?}");
                if let Some(reply) = lines.first() {
                    assert_eq!(reply.get("id"), bytes.1.as_ref(), "{reply}");
                }
            }
            _ if matches!(item, Item::Resync) => assert!(lines.is_empty(), "0xFF answered"),
            _ => {}
        }
        idle = match item {
            Item::Resync => true,
            Item::Request(_) => idle,
            Item::Garbage(_) => false,
        };
    }
});
