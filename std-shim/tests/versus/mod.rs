//! The side-by-side harness shared by `versus_qemu_ga.rs` (what must be
//! equal) and `versus_differences.rs` (what differs, and is tracked): both
//! agents started next to each other, the same bytes sent to each, and a
//! whole-value comparison of the replies in which every field that may
//! legitimately differ is named, per command, in an [`Allow`] list.
//!
//! Without qemu-ga installed the tests print a skip note and pass, unless
//! `QGA_REQUIRE_QEMU_GA` is set (CI sets it): then they fail.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{json, Value};

use super::common::{err, Agent, Launch, TempDir, QEMU_GA};

/// Both agents, each in its own temp dir.
pub struct Pair {
    /// Our agent.
    pub ours: Agent,
    /// QEMU's qemu-ga.
    pub qemu: Agent,
}

/// Whether qemu-ga is here; without it (and without QGA_REQUIRE_QEMU_GA)
/// the caller skips with a note.
fn have_qemu_ga() -> bool {
    if super::common::exists(QEMU_GA) {
        return true;
    }
    assert!(
        std::env::var_os("QGA_REQUIRE_QEMU_GA").is_none(),
        "QGA_REQUIRE_QEMU_GA is set but {QEMU_GA} is missing \
         (apt-get install qemu-guest-agent)"
    );
    eprintln!("SKIP: {QEMU_GA} not installed; qemu-ga comparison not run");
    false
}

/// Both agents, started plainly.
pub fn pair(tag: &str) -> Option<Pair> {
    have_qemu_ga().then(|| Pair {
        ours: Agent::start(&format!("{tag}-ours")),
        qemu: Agent::start_program(QEMU_GA, &format!("{tag}-qemu")),
    })
}

/// Both agents, each in a private mount namespace whose `/run` (where
/// `/var/run/utmp` points) is a fresh tmpfs holding the `utmp` file given:
/// so guest-get-users has logins to report. Needs root (CI runs as root).
pub fn pair_with_utmp(tag: &str, utmp: &std::path::Path) -> Option<Pair> {
    if !have_qemu_ga() {
        return None;
    }
    let start = |launch: Launch| {
        let mut launch = launch;
        let script = format!(
            "mount -t tmpfs qga-test /run && cp '{}' /run/utmp && exec \"$0\" \"$@\"",
            utmp.display()
        );
        launch.prefix = [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-ec",
            &script,
        ]
        .map(Into::into)
        .to_vec();
        launch.start()
    };
    Some(Pair {
        ours: start(Launch::ours(&format!("{tag}-ours"))),
        qemu: start(Launch::program(QEMU_GA, &format!("{tag}-qemu"))),
    })
}

/// `records` (utmpdump's text form) as a binary utmp file in `dir`.
pub fn utmp_file(dir: &TempDir, records: &str) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("utmp");
    let mut child = std::process::Command::new("utmpdump")
        .arg("-r")
        .stdin(std::process::Stdio::piped())
        .stdout(std::fs::File::create(&path).expect("utmp file"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("utmpdump (util-linux)");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(records.as_bytes()).expect("records");
    drop(stdin);
    assert!(child.wait().expect("utmpdump").success());
    path
}

/// One reply line: raw text (for member order) and parsed value.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The line as received.
    pub raw: String,
    /// The line parsed.
    pub json: Value,
}

static NEXT_ID: AtomicI64 = AtomicI64::new(1_000_000);

/// A fresh sync id.
pub fn next_id() -> i64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Sends `case` on a fresh, resynchronised connection and returns every
/// reply line it produced: a `guest-sync` after it marks the end. (qemu-ga
/// keeps lexer state across clients; the leading 0xFF resync clears it.)
pub fn exchange(agent: &Agent, case: &[u8]) -> Vec<Reply> {
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
pub fn one(agent: &Agent, case: &str) -> Reply {
    let mut r = exchange(agent, case.as_bytes());
    assert_eq!(r.len(), 1, "{case}: {r:?}");
    r.remove(0)
}

/// Error replies as `(class, desc, id)` triples (fails on a success reply).
pub fn errors(replies: &[Reply]) -> Vec<(String, String, Value)> {
    replies
        .iter()
        .map(|r| {
            let (class, desc) = err(&r.json);
            let id = r.json.get("id").cloned().unwrap_or(Value::Null);
            (class, desc, id)
        })
        .collect()
}

/// The parsed replies, for whole-value comparisons.
pub fn values(replies: &[Reply]) -> Vec<Value> {
    replies.iter().map(|r| r.json.clone()).collect()
}

/// The fields of one command's reply that may legitimately differ, as
/// paths into its `return` value with `*` for any array index or member
/// name (`/*/statistics/*`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Allow {
    /// Members we fill that qemu-ga 7.2 leaves out (newer schema members,
    /// data qemu-ga can only read through udev).
    pub ours_only: &'static [&'static str],
    /// Values that change between two readings (counters, usage); the JSON
    /// type must still match.
    pub volatile: &'static [&'static str],
}

impl Allow {
    /// Nothing may differ.
    pub const NONE: Allow = Allow {
        ours_only: &[],
        volatile: &[],
    };
}

/// One difference between two values, at a path with concrete indices.
#[derive(Clone, Debug, PartialEq)]
pub enum Diff {
    /// A member only our reply has.
    OnlyOurs(String),
    /// A member only qemu-ga's reply has.
    OnlyQemu(String),
    /// Arrays of different lengths (their common prefix is compared too).
    Length(String, usize, usize),
    /// Different leaf values (or types).
    Value(String, Value, Value),
}

/// Every difference between `ours` and `qemu`, recursively: objects member
/// by member, arrays element by element and by length.
pub fn diff(ours: &Value, qemu: &Value, path: &str, out: &mut Vec<Diff>) {
    match (ours, qemu) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().filter(|k| !y.contains_key(*k)) {
                out.push(Diff::OnlyOurs(format!("{path}/{k}")));
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(Diff::OnlyQemu(format!("{path}/{k}")));
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    diff(v, w, &format!("{path}/{k}"), out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(Diff::Length(path.to_owned(), x.len(), y.len()));
            }
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(v, w, &format!("{path}/{i}"), out);
            }
        }
        _ if ours != qemu => out.push(Diff::Value(path.to_owned(), ours.clone(), qemu.clone())),
        _ => {}
    }
}

/// Whether concrete `path` matches `pattern` (`*` = any one segment).
fn matches(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| a == b || *a == "*")
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

impl Diff {
    /// Whether `allow` permits this difference.
    fn allowed(&self, allow: &Allow) -> bool {
        let any = |list: &[&str], path: &str| list.iter().any(|p| matches(p, path));
        match self {
            Diff::OnlyOurs(p) => any(allow.ours_only, p),
            Diff::Value(p, a, b) => any(allow.volatile, p) && same_kind(a, b),
            Diff::OnlyQemu(_) | Diff::Length(..) => false,
        }
    }
}

/// Both replies are successes whose `return` values are equal except for
/// what `allow` names. An error reply on either side fails.
pub fn assert_equal_except(what: &str, ours: &Value, qemu: &Value, allow: &Allow) {
    let (Some(o), Some(q)) = (ours.get("return"), qemu.get("return")) else {
        panic!("{what}: both must succeed\nours: {ours}\nqemu: {qemu}");
    };
    let mut d = Vec::new();
    diff(o, q, "", &mut d);
    d.retain(|x| !x.allowed(allow));
    assert!(
        d.is_empty(),
        "{what}: replies differ: {d:?}\nours: {ours}\nqemu: {qemu}"
    );
}

#[test]
fn diff_sees_whole_lists_and_allowlists_are_exact() {
    let (a, b) = (json!([{"n": 1}, {"n": 2}]), json!([{"n": 1}]));
    let mut d = Vec::new();
    diff(&a, &b, "", &mut d);
    assert_eq!(d, [Diff::Length(String::new(), 2, 1)]);
    let mut d = Vec::new();
    diff(&json!([{"n": 1, "x": 0}]), &json!([{"n": 2}]), "", &mut d);
    assert_eq!(
        d,
        [
            Diff::OnlyOurs("/0/x".into()),
            Diff::Value("/0/n".into(), json!(1), json!(2))
        ]
    );
    let allow = Allow {
        ours_only: &["/*/x"],
        volatile: &["/*/n"],
    };
    assert!(d.iter().all(|x| x.allowed(&allow)));
    assert!(!Diff::Value("/0/n".into(), json!(1), json!("1")).allowed(&allow));
    assert!(!Diff::OnlyOurs("/0/y/x".into()).allowed(&allow));
}
