//! Our agent next to QEMU's reference agent (`/usr/sbin/qemu-ga`, Debian
//! package `qemu-guest-agent`): the same requests to both, comparing whole
//! replies. Success replies must be equal value for value except for the
//! fields each command's [`Allow`] list names (members only we fill,
//! counters that move between two readings); error replies must have the
//! same class and text. An error on either side where a success is expected
//! fails the test. What differs on purpose lives in `versus_differences.rs`.
//!
//! Without qemu-ga installed the tests print a skip note and pass, unless
//! `QGA_REQUIRE_QEMU_GA` is set (CI sets it).

// Helpers outside #[test] functions fail loudly too: a panic is the test failing.
#![allow(clippy::expect_used, clippy::panic)]

mod common;
mod versus;

use std::time::{Duration, Instant};

use common::{err, request, ret, Agent, TempDir};
use serde_json::{json, Value};
use versus::{assert_equal_except, errors, exchange, one, pair, pair_with_utmp, Allow, Reply};

/// Counters of one `guest-get-cpustats` entry (all but `cpu` and `type`).
const CPU_COUNTERS: &[&str] = &[
    "/*/user",
    "/*/nice",
    "/*/system",
    "/*/idle",
    "/*/iowait",
    "/*/irq",
    "/*/softirq",
    "/*/steal",
    "/*/guest",
    "/*/guestnice",
];

/// Every argument-less query both agents (qemu-ga 7.2) implement, with
/// what may differ in its reply. Everything else must be equal: the whole
/// list of interfaces, mounts, disks, CPUs, memory blocks.
const QUERIES: &[(&str, Allow)] = &[
    ("guest-ping", Allow::NONE),
    ("guest-get-host-name", Allow::NONE),
    ("guest-get-timezone", Allow::NONE),
    ("guest-get-osinfo", Allow::NONE),
    ("guest-get-vcpus", Allow::NONE),
    ("guest-fsfreeze-status", Allow::NONE),
    ("guest-get-memory-blocks", Allow::NONE),
    ("guest-get-memory-block-info", Allow::NONE),
    (
        "guest-network-get-interfaces",
        Allow {
            ours_only: &[],
            volatile: &["/*/statistics/*"],
        },
    ),
    (
        "guest-get-fsinfo",
        Allow {
            // qemu-ga 7.2 predates total-bytes-privileged; it reads the
            // disk serial from the udev database, which may be absent.
            ours_only: &["/*/total-bytes-privileged", "/*/disk/*/serial"],
            volatile: &["/*/used-bytes"],
        },
    ),
    (
        "guest-get-disks",
        Allow {
            ours_only: &["/*/address/serial"],
            volatile: &[],
        },
    ),
    (
        "guest-get-cpustats",
        Allow {
            ours_only: &[],
            volatile: CPU_COUNTERS,
        },
    ),
    (
        "guest-get-diskstats",
        Allow {
            ours_only: &[],
            volatile: &["/*/stats/*"],
        },
    ),
];

#[test]
fn queries_return_the_same_values() {
    let Some(p) = pair("queries") else { return };
    for (name, allow) in QUERIES {
        let req = request(name, json!({}));
        let (ours, qemu) = (one(&p.ours, &req), one(&p.qemu, &req));
        assert_equal_except(name, &ours.json, &qemu.json, allow);
    }
    let req = request("guest-sync", json!({ "id": 42 }));
    assert_eq!(one(&p.ours, &req).json, one(&p.qemu, &req).json);
    // Clocks agree within a few seconds.
    let req = request("guest-get-time", json!({}));
    let t = |a: &Agent| ret(&one(a, &req).json).as_i64().expect("ns");
    assert!((t(&p.ours) - t(&p.qemu)).abs() < 5_000_000_000);
}

/// The machine must give each list something to compare: an empty list on
/// both sides would make the comparison above vacuous.
#[test]
fn compared_lists_are_not_empty_here() {
    let Some(p) = pair("nonempty") else { return };
    for name in [
        "guest-get-vcpus",
        "guest-network-get-interfaces",
        "guest-get-fsinfo",
        "guest-get-disks",
        "guest-get-cpustats",
        "guest-get-diskstats",
    ] {
        let reply = one(&p.qemu, &request(name, json!({})));
        let n = ret(&reply.json).as_array().map_or(0, Vec::len);
        assert!(n > 0, "{name}: qemu-ga lists nothing on this machine");
    }
}

/// Login records for guest-get-users, as `utmpdump -r` (util-linux) reads
/// them: two users, one of them twice (the earlier login counts), a dead
/// process and a boot record that are no logins.
const LOGINS: &str = "\
[2] [00000] [~~  ] [reboot  ] [~           ] [6.1.0] [0.0.0.0        ] [2024-01-02T03:00:00,000000+00:00]
[7] [01234] [ts/0] [alice   ] [pts/0       ] [host.example] [192.0.2.1      ] [2024-01-02T03:04:05,250000+00:00]
[7] [01240] [ts/1] [bob     ] [pts/1       ] [] [0.0.0.0        ] [2024-01-02T02:00:00,000000+00:00]
[8] [00042] [ts/2] [carol   ] [pts/2       ] [] [0.0.0.0        ] [2024-01-01T00:00:00,000000+00:00]
[7] [01300] [ts/3] [alice   ] [pts/3       ] [] [0.0.0.0        ] [2024-01-02T01:30:00,500000+00:00]
";

#[test]
fn users_from_a_utmp_with_logins_are_the_same() {
    let dir = TempDir::new("logins");
    let utmp = versus::utmp_file(&dir, LOGINS);
    let Some(p) = pair_with_utmp("users", &utmp) else {
        return;
    };
    let req = request("guest-get-users", json!({}));
    let (ours, qemu) = (one(&p.ours, &req), one(&p.qemu, &req));
    assert_equal_except("guest-get-users", &ours.json, &qemu.json, &Allow::NONE);
    assert_eq!(
        ret(&ours.json),
        &json!([
            { "user": "alice", "login-time": 1_704_159_000.5 },
            { "user": "bob", "login-time": 1_704_160_800 }
        ])
    );
}

/// guest-info: the same version-independent facts (its command list is
/// compared by `guest_info_lists_the_same_commands`).
#[test]
fn guest_info_has_the_same_members() {
    let Some(p) = pair("infomembers") else { return };
    let req = request("guest-info", json!({}));
    let (ours, qemu) = (one(&p.ours, &req), one(&p.qemu, &req));
    let keys = |r: &Reply| -> Vec<String> {
        let mut k: Vec<String> = ret(&r.json)
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&ours), keys(&qemu));
    let entry_keys = |r: &Reply| {
        ret(&r.json)["supported_commands"][0].as_object().map(|o| {
            let mut k: Vec<String> = o.keys().cloned().collect();
            k.sort();
            k
        })
    };
    assert_eq!(entry_keys(&ours), entry_keys(&qemu));
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
    // Handles differ (each agent counts its own); both are integers.
    assert!(ret(&ours[0].json).is_i64() && ret(&qemu[0].json).is_i64());
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
    // the handle is looked up first, whatever the payload or the whence (issue 12)
    r#"{"execute":"guest-file-write","arguments":{"handle":999999,"buf-b64":""}}"#,
    r#"{"execute":"guest-file-write","arguments":{"buf-b64":"","handle":999999}}"#,
    r#"{"execute":"guest-file-read","arguments":{"handle":999999,"count":0}}"#,
    r#"{"execute":"guest-file-seek","arguments":{"handle":999999,"offset":0,"whence":7}}"#,
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

/// A memory block that does not exist: `not-found` with `error-code` 2
/// (ENOENT), the whole reply the same.
#[test]
fn set_memory_blocks_not_found_is_the_same() {
    let Some(p) = pair("memblk") else { return };
    let req = r#"{"execute":"guest-set-memory-blocks","arguments":{"mem-blks":[{"phys-index":999999,"online":true}]}}"#;
    let (ours, qemu) = (one(&p.ours, req).json, one(&p.qemu, req).json);
    assert_eq!(ret(&ours)[0]["error-code"], 2, "{ours}");
    assert_eq!(ours, qemu);
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
