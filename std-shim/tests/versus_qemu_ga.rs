//! Our agent next to QEMU's reference agent (`/usr/sbin/qemu-ga`, Debian
//! package `qemu-guest-agent`): the same requests to both, comparing
//! success replies by shape (member names and JSON types, recursively) and
//! error replies by class and text. Every known difference is asserted *as a
//! difference*, so the list below is itself tested: a fix that makes a case
//! match fails here until the case moves to the "same" lists.
//!
//! Without qemu-ga installed the tests print a skip note and pass, unless
//! `QGA_REQUIRE_QEMU_GA` is set (CI sets it).

// Helpers outside #[test] functions fail loudly too: a panic is the test failing.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::{err, request, ret, Agent, QEMU_GA};
use serde_json::{json, Value};

/// Both agents, each in its own temp dir.
struct Pair {
    ours: Agent,
    qemu: Agent,
}

fn pair(tag: &str) -> Option<Pair> {
    if !common::exists(QEMU_GA) {
        assert!(
            std::env::var_os("QGA_REQUIRE_QEMU_GA").is_none(),
            "QGA_REQUIRE_QEMU_GA is set but {QEMU_GA} is missing \
             (apt-get install qemu-guest-agent)"
        );
        eprintln!("SKIP: {QEMU_GA} not installed; qemu-ga comparison not run");
        return None;
    }
    Some(Pair {
        ours: Agent::start(&format!("{tag}-ours")),
        qemu: Agent::start_program(QEMU_GA, &format!("{tag}-qemu")),
    })
}

/// One reply line: raw text (for member order) and parsed value.
#[derive(Clone, Debug)]
struct Reply {
    raw: String,
    json: Value,
}

static NEXT_ID: AtomicI64 = AtomicI64::new(1_000_000);

fn next_id() -> i64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Sends `case` on a fresh, resynchronised connection and returns every
/// reply line it produced: a `guest-sync` after it marks the end. (qemu-ga
/// keeps lexer state across clients; the leading 0xFF resync clears it.)
fn exchange(agent: &Agent, case: &[u8]) -> Vec<Reply> {
    let mut c = agent.connect();
    c.resync(next_id());
    let end = next_id();
    c.send(case);
    c.send(format!("\n{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":{end}}}}}\n").as_bytes());
    let mut replies = Vec::new();
    loop {
        let line = c.line();
        let raw = String::from_utf8(line).expect("replies are ASCII");
        let json: Value = serde_json::from_str(&raw).expect("reply is JSON");
        if json == json!({ "return": end }) {
            return replies;
        }
        replies.push(Reply { raw, json });
        assert!(replies.len() < 100, "runaway replies to {case:?}");
    }
}

/// Exactly one reply.
fn one(agent: &Agent, case: &str) -> Reply {
    let mut r = exchange(agent, case.as_bytes());
    assert_eq!(r.len(), 1, "{case}: {r:?}");
    r.remove(0)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences in shape: member sets and JSON types, recursively; for
/// arrays, the first elements are compared (when both have one).
fn shape_diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().filter(|k| !y.contains_key(*k)) {
                out.push(format!("{path}.{k}: only in ours"));
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{path}.{k}: only in qemu-ga"));
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    shape_diff(v, w, &format!("{path}.{k}"), out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if let (Some(v), Some(w)) = (x.first(), y.first()) {
                shape_diff(v, w, &format!("{path}[0]"), out);
            }
        }
        _ if kind(a) != kind(b) => out.push(format!("{path}: {} vs {}", kind(a), kind(b))),
        _ => {}
    }
}

/// Optional members we fill that qemu-ga 7.2 leaves out: newer schema
/// members, and the disk serial it can only read through udev.
const OURS_MAY_ADD: &[&str] = &[
    ".total-bytes-privileged: only in ours",
    ".serial: only in ours",
];

fn assert_same_shape(what: &str, ours: &Value, qemu: &Value) {
    let mut d = Vec::new();
    shape_diff(ours, qemu, "", &mut d);
    d.retain(|diff| !OURS_MAY_ADD.iter().any(|extra| diff.ends_with(extra)));
    assert!(
        d.is_empty(),
        "{what}: shapes differ: {d:?}\nours: {ours}\nqemu: {qemu}"
    );
}

/// Member names of an object reply's `return` in wire order.
fn return_keys(r: &Reply) -> Vec<String> {
    ret(&r.json)
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn success_replies_have_the_same_shape() {
    let Some(p) = pair("shape") else { return };
    for name in [
        "guest-ping",
        "guest-info",
        "guest-get-time",
        "guest-get-host-name",
        "guest-get-timezone",
        "guest-get-osinfo",
        "guest-get-users",
    ] {
        let req = request(name, json!({}));
        let (ours, qemu) = (one(&p.ours, &req), one(&p.qemu, &req));
        assert_same_shape(name, &ours.json, &qemu.json);
    }
    // Values that cannot differ on the same machine.
    for name in [
        "guest-get-host-name",
        "guest-get-timezone",
        "guest-get-osinfo",
        "guest-get-users",
    ] {
        let req = request(name, json!({}));
        assert_eq!(one(&p.ours, &req).json, one(&p.qemu, &req).json, "{name}");
    }
    let req = request("guest-sync", json!({ "id": 42 }));
    assert_eq!(one(&p.ours, &req).json, one(&p.qemu, &req).json);
    // Clocks agree within a few seconds.
    let req = request("guest-get-time", json!({}));
    let t = |a: &Agent| ret(&one(a, &req).json).as_i64().expect("ns");
    assert!((t(&p.ours) - t(&p.qemu)).abs() < 5_000_000_000);
}

#[test]
fn guest_info_lists_the_same_commands() {
    let Some(p) = pair("info") else { return };
    let req = request("guest-info", json!({}));
    let (ours, qemu) = (one(&p.ours, &req), one(&p.qemu, &req));
    let list = |r: &Reply| -> Vec<(String, bool)> {
        ret(&r.json)["supported_commands"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| {
                let name = c["name"].as_str().expect("name").to_owned();
                (name, c["success-response"].as_bool().expect("flag"))
            })
            .collect()
    };
    let (o, q) = (list(&ours), list(&qemu));
    // Every qemu-ga command exists here with the same success-response
    // flag, except the Windows-only guest-get-devices (older qemu-ga lists
    // it, disabled) ...
    for (name, flag) in &q {
        if name == "guest-get-devices" {
            continue;
        }
        let mine = o.iter().find(|(n, _)| n == name);
        assert_eq!(mine.map(|m| m.1), Some(*flag), "{name}");
    }
    // ... and ours only adds commands of newer QEMU releases.
    let newer = [
        "guest-get-load",
        "guest-network-get-route",
        "guest-get-cpustats",
        "guest-get-diskstats",
        "guest-get-disks",
        "guest-ssh-get-authorized-keys",
        "guest-ssh-add-authorized-keys",
        "guest-ssh-remove-authorized-keys",
    ];
    for (name, _) in &o {
        assert!(
            q.iter().any(|(n, _)| n == name) || newer.contains(&name.as_str()),
            "{name} is unknown to QEMU"
        );
    }
    // Both list in reverse schema order: the same relative order.
    let common_order = |a: &[(String, bool)], b: &[(String, bool)]| -> Vec<String> {
        a.iter()
            .filter(|(n, _)| b.iter().any(|(m, _)| m == n))
            .map(|(n, _)| n.clone())
            .collect()
    };
    assert_eq!(common_order(&o, &q), common_order(&q, &o));
}

/// Commands whose output depends on the machine: compare the shape when
/// both agents succeed. Our Linux platform may not implement one yet; then
/// guest-info must say so (`enabled: false`) and the error must be the
/// generic "not supported" one.
#[test]
fn machine_dependent_replies_have_the_same_shape_when_both_succeed() {
    let Some(p) = pair("machine") else { return };
    let info = one(&p.ours, &request("guest-info", json!({})));
    let enabled = |name: &str| {
        ret(&info.json)["supported_commands"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name))
            .and_then(|c| c["enabled"].as_bool())
    };
    for name in [
        "guest-get-vcpus",
        "guest-network-get-interfaces",
        "guest-get-fsinfo",
    ] {
        let req = request(name, json!({}));
        let (ours, qemu) = (one(&p.ours, &req), one(&p.qemu, &req));
        match (ours.json.get("return"), qemu.json.get("return")) {
            (Some(_), Some(_)) => assert_same_shape(name, &ours.json, &qemu.json),
            (None, _) if enabled(name) == Some(false) => {
                assert_eq!(
                    err(&ours.json),
                    (
                        "GenericError".into(),
                        "this feature or command is not currently supported".into()
                    ),
                    "{name}"
                );
                eprintln!(
                    "NOTE: {name} not implemented by our agent; qemu-ga: {}",
                    qemu.raw.trim()
                );
            }
            (Some(_), None) => eprintln!("NOTE: {name} fails only in qemu-ga: {}", qemu.raw.trim()),
            _ => panic!("{name}: ours {} / qemu-ga {}", ours.raw, qemu.raw),
        }
    }
}

/// open/write/seek/read/flush/close on each agent's own temp file; the
/// replies (handles aside) are equal in value, and the file contents too.
#[test]
fn file_round_trip_replies_are_equal() {
    let Some(p) = pair("file") else { return };
    let run = |a: &Agent| -> (Vec<Reply>, Vec<u8>) {
        let path = a.dir.join("f.txt");
        let open = one(
            a,
            &request("guest-file-open", json!({ "path": path, "mode": "w+" })),
        );
        let h = ret(&open.json).as_i64().expect("handle");
        let mut replies = vec![open];
        for (cmd, args) in [
            ("guest-file-write", json!({ "buf-b64": "aGVsbG8gd29ybGQ=" })),
            (
                "guest-file-write",
                json!({ "buf-b64": "aGVsbG8=", "count": 2 }),
            ),
            ("guest-file-seek", json!({ "offset": 0, "whence": "set" })),
            ("guest-file-read", json!({ "count": 5 })),
            ("guest-file-seek", json!({ "offset": -3, "whence": 2 })),
            ("guest-file-read", json!({})),
            ("guest-file-read", json!({})),
            ("guest-file-flush", json!({})),
            ("guest-file-close", json!({})),
            ("guest-file-close", json!({})),
        ] {
            let mut args = args;
            args["handle"] = json!(h);
            replies.push(one(a, &request(cmd, args)));
        }
        (replies, std::fs::read(&path).expect("file"))
    };
    let (ours, ours_file) = run(&p.ours);
    let (qemu, qemu_file) = run(&p.qemu);
    assert_eq!(ours_file, b"hello worldhe");
    assert_eq!(ours_file, qemu_file);
    assert_same_shape("guest-file-open", &ours[0].json, &qemu[0].json);
    for (i, (o, q)) in ours.iter().zip(&qemu).enumerate().skip(1) {
        let (mut o, mut q) = (o.json.clone(), q.json.clone());
        // The "handle not found" text names each agent's own handle.
        for (v, h) in [(&mut o, &ours[0]), (&mut q, &qemu[0])] {
            if let Some(d) = v.pointer_mut("/error/desc") {
                let h = ret(&h.json).to_string();
                *d = json!(d.as_str().unwrap_or_default().replace(&h, "H"));
            }
        }
        assert_eq!(o, q, "step {i}");
    }
    assert_eq!(
        err(&ours[10].json).1,
        format!("handle '{}' has not been found", ret(&ours[0].json))
    );
}

fn exec_and_wait(a: &Agent) -> Value {
    let req = request(
        "guest-exec",
        json!({
            "path": "/bin/sh",
            "arg": ["-c", "echo out; echo err >&2; exit 3"],
            "capture-output": true
        }),
    );
    let pid = ret(&one(a, &req).json)["pid"].as_i64().expect("pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = one(a, &request("guest-exec-status", json!({ "pid": pid })));
        if ret(&st.json)["exited"] == true {
            return st.json;
        }
        assert!(Instant::now() < deadline, "pid {pid} never exited");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exec_status_replies_are_equal() {
    let Some(p) = pair("exec") else { return };
    let (ours, qemu) = (exec_and_wait(&p.ours), exec_and_wait(&p.qemu));
    assert_eq!(ret(&ours)["exitcode"], 3);
    assert_eq!(ret(&ours)["out-data"], "b3V0Cg==");
    assert_eq!(ret(&ours)["err-data"], "ZXJyCg==");
    assert_eq!(ours, qemu);
}

/// Error replies whose class and text are the same in both agents.
const SAME_ERRORS: &[&str] = &[
    // formerly known differences, now fixed
    "01 ",
    "-x",
    "\"guest-ping\t\"",
    "\u{0}",
    "\"\\ud800\"",
    "{,}",
    "{\"a\":1,}",
    "{\"a\":}",
    r#"{"execute":"guest-file-read","arguments":{"handle":999999,"count":-1}}"#,
    r#"{"execute":"guest-file-write","arguments":{"handle":999999,"buf-b64":"@@@"}}"#,
    // envelope
    r#"{"execute":"guest-nope"}"#,
    r#"{"execute":"guest-nope","id":5}"#,
    r#"{"execute":"guest-ping","exec-oob":1}"#,
    r#"{"execute":"guest-ping","foo":1}"#,
    r#"{"execute":1}"#,
    r#"{"arguments":{}}"#,
    r#"{"execute":"guest-ping","arguments":[]}"#,
    r#"{"execute":"guest-ping","arguments":null}"#,
    "[1]",
    "123 ",
    "\"x\"",
    "null ",
    // arguments
    r#"{"execute":"guest-ping","arguments":{"foo":42}}"#,
    r#"{"execute":"guest-sync","arguments":{}}"#,
    r#"{"execute":"guest-sync","arguments":{"id":"x"}}"#,
    r#"{"execute":"guest-sync","arguments":{"id":null}}"#,
    r#"{"execute":"guest-sync","arguments":{"id":1.0}}"#,
    r#"{"execute":"guest-sync","arguments":{"id":1e3}}"#,
    r#"{"execute":"guest-sync","arguments":{"id":9223372036854775808}}"#,
    r#"{"execute":"guest-sync","arguments":{"id":18446744073709551615}}"#,
    r#"{"execute":"guest-sync-delimited"}"#,
    r#"{"execute":"guest-file-open","arguments":{"path":"/nonexistent/x"}}"#,
    r#"{"execute":"guest-file-open","arguments":{"path":"/tmp","mode":"zz"}}"#,
    r#"{"execute":"guest-file-read","arguments":{"handle":999999}}"#,
    r#"{"execute":"guest-file-close","arguments":{"handle":-5}}"#,
    r#"{"execute":"guest-file-seek","arguments":{"handle":999999,"offset":0,"whence":"bad"}}"#,
    r#"{"execute":"guest-file-seek","arguments":{"handle":999999,"offset":0,"whence":null}}"#,
    r#"{"execute":"guest-file-seek","arguments":{"handle":999999,"offset":0}}"#,
    r#"{"execute":"guest-exec","arguments":{}}"#,
    r#"{"execute":"guest-exec","arguments":{"path":"/bin/true","arg":"x"}}"#,
    // JSON syntax: stray bytes other than 0xFF, grammar errors
    "@",
    "%",
    "A",
    "\u{1}",
    "tru ",
    "truex ",
    "{1:2}",
    r#"{"a":1,"a":2}"#,
    r#"{"a" 1}"#,
    r#"{"a":1 "b":2}"#,
    "[1 2]",
    "[1,]",
    "[,]",
    "]",
    "}",
    r#""\q""#,
];

/// Error replies as `(class, desc, id)` triples.
fn errors(replies: &[Reply]) -> Vec<(String, String, Value)> {
    replies
        .iter()
        .map(|r| {
            let (class, desc) = err(&r.json);
            (
                class,
                desc,
                r.json.get("id").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[test]
fn error_replies_have_the_same_class_and_text() {
    let Some(p) = pair("errors") else { return };
    let mut bytes_cases: Vec<Vec<u8>> = SAME_ERRORS.iter().map(|c| c.as_bytes().to_vec()).collect();
    // 0xFE (not 0xFF): `stray '\uFFFD'` from both; an encoded surrogate.
    bytes_cases.push(vec![0xFE]);
    bytes_cases.push(b"\"\xED\xA0\x80\"".to_vec());
    // The overlong NUL that qemu-ga accepts (modified UTF-8).
    bytes_cases.push(b"\"\xC0\x80\" ".to_vec());
    // One past qemu-ga's 48 MiB read limit.
    for case in &bytes_cases {
        let (ours, qemu) = (exchange(&p.ours, case), exchange(&p.qemu, case));
        let text = String::from_utf8_lossy(case);
        assert!(!ours.is_empty(), "{text}: no reply");
        assert_eq!(errors(&ours), errors(&qemu), "{text}");
    }
    // A success for both: single-quoted strings are a QEMU extension.
    let q = "{'execute':'guest-sync','arguments':{'id':3}}";
    assert_eq!(one(&p.ours, q).json, one(&p.qemu, q).json);
}

#[test]
fn file_argument_errors_with_a_valid_handle_are_the_same() {
    let Some(p) = pair("fileerr") else { return };
    let run = |a: &Agent| -> Vec<(String, String, Value)> {
        let path = a.dir.join("e.txt");
        let open = one(
            a,
            &request("guest-file-open", json!({ "path": path, "mode": "w+" })),
        );
        let h = ret(&open.json).clone();
        let mut out = Vec::new();
        for args in [
            json!({ "handle": h, "count": -1 }),
            json!({ "handle": h, "count": 50331649 }),
        ] {
            out.extend(errors(&[one(a, &request("guest-file-read", args))]));
        }
        for args in [
            json!({ "handle": h, "buf-b64": "@@@" }),
            json!({ "handle": h, "buf-b64": "aGVsbG8=", "count": 6 }),
            json!({ "handle": h, "buf-b64": "aGVsbG8=", "count": -1 }),
        ] {
            out.extend(errors(&[one(a, &request("guest-file-write", args))]));
        }
        out
    };
    assert_eq!(run(&p.ours), run(&p.qemu));
}

// ---- documented differences (README compatibility section) -------------

#[test]
fn difference_ff_is_silent_here_and_an_error_in_qemu_ga() {
    let Some(p) = pair("ff") else { return };
    let skipped = |a: &Agent| {
        let mut c = a.connect();
        // A completed exchange first, so both lexers are clean.
        let _ = c.resync(next_id());
        c.ask("{\"execute\":\"guest-ping\"}");
        c.resync(next_id())
    };
    assert_eq!(String::from_utf8_lossy(&skipped(&p.ours)), "");
    assert_eq!(
        String::from_utf8_lossy(&skipped(&p.qemu)),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n"
    );
}

#[test]
fn difference_error_comes_before_id_here() {
    let Some(p) = pair("order") else { return };
    let req = r#"{"execute":"guest-nope","id":5}"#;
    let (ours, qemu) = (one(&p.ours, req), one(&p.qemu, req));
    assert_eq!(ours.json, qemu.json);
    assert!(ours.raw.starts_with("{\"error\": "), "{}", ours.raw);
    assert!(
        qemu.raw.starts_with("{\"id\": 5, \"error\": "),
        "{}",
        qemu.raw
    );
    // Success replies: `return` first in both.
    let req = r#"{"execute":"guest-ping","id":5}"#;
    assert_eq!(one(&p.ours, req).raw, one(&p.qemu, req).raw);
}

#[test]
fn difference_exec_status_unknown_pid_text() {
    let Some(p) = pair("pid") else { return };
    let req = request("guest-exec-status", json!({ "pid": 2147483647 }));
    let (ours, qemu) = (err(&one(&p.ours, &req).json), err(&one(&p.qemu, &req).json));
    assert_eq!(ours.0, qemu.0);
    assert_eq!(ours.1, "PID 2147483647 does not exist");
    // qemu-ga 8.2+ prints a literal "ld"; older ones another text.
    assert!(
        ["PID ld does not exist", "Invalid parameter 'pid'"].contains(&qemu.1.as_str()),
        "{}",
        qemu.1
    );
}

#[test]
fn difference_member_order() {
    let Some(p) = pair("members") else { return };
    let path = |a: &Agent| a.dir.join("m.txt");
    let read = |a: &Agent| {
        let open = one(
            a,
            &request("guest-file-open", json!({ "path": path(a), "mode": "w+" })),
        );
        let h = ret(&open.json).clone();
        one(
            a,
            &request(
                "guest-file-write",
                json!({ "handle": h, "buf-b64": "eA==" }),
            ),
        );
        let seek = one(
            a,
            &request(
                "guest-file-seek",
                json!({ "handle": h, "offset": 0, "whence": 0 }),
            ),
        );
        let read = one(a, &request("guest-file-read", json!({ "handle": h })));
        one(a, &request("guest-file-close", json!({ "handle": h })));
        [seek, read]
    };
    let (ours, qemu) = (read(&p.ours), read(&p.qemu));
    for (o, q) in ours.iter().zip(&qemu) {
        assert_eq!(o.json, q.json);
        let (ko, kq) = (return_keys(o), return_keys(q));
        assert_ne!(ko, kq, "member order now matches: {}", o.raw);
    }
    // qemu-ga's QDict hash order (notes 2.6), observed:
    assert_eq!(return_keys(&qemu[1]), ["count", "buf-b64", "eof"]);
    assert_eq!(return_keys(&qemu[0]), ["eof", "position"]);
}

/// Not in the README list, but by design (tests/channels.rs): a new client
/// starts with a clean parser; qemu-ga carries half a request over.
#[test]
fn difference_half_request_is_not_carried_to_the_next_client() {
    let Some(p) = pair("carry") else { return };
    let first_line = |a: &Agent| {
        let mut c = a.connect();
        c.resync(next_id());
        c.send(b"{\"execute\":\"guest-sy");
        drop(c);
        let mut c = a.connect();
        c.send(b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":77}}\n");
        c.json()
    };
    assert_eq!(first_line(&p.ours), json!({ "return": 77 }));
    let q = first_line(&p.qemu);
    assert_eq!(err(&q).0, "GenericError", "{q}");
}

// ---- differences not (yet) documented: looks like bugs, see report -------

/// Each of these differs today. When one starts to match, move it to
/// `SAME_ERRORS` (and drop it from the report).
const KNOWN_UNDOCUMENTED: &[&[u8]] = &[
    // qemu-ga looks the handle up before decoding base64 only when the
    // handle comes first; ours does too, but a streamed payload whose handle
    // follows it is decoded first (documented as the streaming rule).
];

#[test]
fn undocumented_differences_are_tracked() {
    let Some(p) = pair("known") else { return };
    for case in KNOWN_UNDOCUMENTED {
        let (ours, qemu) = (exchange(&p.ours, case), exchange(&p.qemu, case));
        let text = String::from_utf8_lossy(case);
        assert!(!ours.is_empty() && !qemu.is_empty(), "{text}");
        assert_ne!(
            errors(&ours),
            errors(&qemu),
            "{text:?} now matches qemu-ga: move it to SAME_ERRORS"
        );
        eprintln!("known difference {text:?}\n  ours: {ours:?}\n  qemu: {qemu:?}");
    }
}
