//! Soak benchmark: one real agent process driven with 1,000,000 mixed
//! requests over its Unix socket, watching its resources stay flat.
//!
//! ```text
//! cargo bench -p qga --bench soak -- [--quick] [--requests N]
//! QGA_BIN=target/x86_64-unknown-linux-musl/release/qga cargo bench -p qga --bench soak
//! ```
//!
//! The agent is the one the integration tests use (`QGA_BIN`, else the
//! `qga` binary cargo built for this bench). Requests go out in cycles of
//! the mix in [`cycle`]: a file written, sought, read and closed; a
//! `guest-exec` of `/bin/true` polled with `guest-exec-status` until it
//! exited; `guest-info`, `guest-get-fsinfo` and other queries; argument and
//! handle errors; malformed JSON. Every reply is read and its kind (success
//! or error) checked, so the stream is known to stay in sync.
//!
//! At the start, every quarter and the end the table shows the agent's
//! `VmHWM` and `VmRSS`, open descriptors, threads and child processes.
//! `--quick` (CI's `bench` phase) sends 20,000 requests. Timing is printed,
//! never judged; the run fails only if the agent falls out of step, or ends
//! with more descriptors, threads or children than it started with (a
//! leak is a count, not a timing).

// A benchmark binary: a failed step ends it with a message.
#![allow(clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::{b64_encode, pattern, qga_bin, request, Agent, Conn};
use serde_json::{json, Value};

/// Requests of a full run.
const FULL: u64 = 1_000_000;
/// Requests of a `--quick` run.
const QUICK: u64 = 20_000;
/// Bytes per `guest-file-write` / `guest-file-read`.
const CHUNK: usize = 1024;
/// Writes (and reads) per cycle.
const CHUNKS: usize = 8;

/// What a reply must be.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Success,
    Error,
}

/// The driver: one connection, and the number of requests sent.
struct Driver {
    conn: Conn,
    sent: u64,
}

impl Driver {
    /// Sends one request and returns its reply, checking its kind.
    fn call(&mut self, text: &str, want: Kind) -> Value {
        self.conn.send(text.as_bytes());
        self.conn.send(b"\n");
        self.sent += 1;
        let reply = self.conn.json();
        let kind = if reply.get("return").is_some() {
            Kind::Success
        } else {
            Kind::Error
        };
        assert_eq!(kind, want, "request {} {text}: reply {reply}", self.sent);
        reply
    }

    /// A success reply's `return` value.
    fn ok(&mut self, name: &str, args: Value) -> Value {
        let mut reply = self.call(&request(name, args), Kind::Success);
        reply["return"].take()
    }

    /// A request that must be answered with an error.
    fn fail(&mut self, text: &str) {
        self.call(text, Kind::Error);
    }
}

/// One cycle of the mix (about 40 requests).
fn cycle(d: &mut Driver, path: &str, chunk: &str) {
    let h = d.ok("guest-file-open", json!({ "path": path, "mode": "w+" }));
    for _ in 0..CHUNKS {
        d.ok("guest-file-write", json!({ "handle": h, "buf-b64": chunk }));
    }
    d.ok(
        "guest-file-seek",
        json!({ "handle": h, "offset": 0, "whence": "set" }),
    );
    for _ in 0..CHUNKS {
        d.ok("guest-file-read", json!({ "handle": h, "count": CHUNK }));
    }
    d.ok(
        "guest-file-seek",
        json!({ "handle": h, "offset": -100, "whence": "end" }),
    );
    d.ok("guest-file-close", json!({ "handle": h }));
    exec_true(d);
    for name in [
        "guest-info",
        "guest-get-fsinfo",
        "guest-get-osinfo",
        "guest-get-host-name",
    ] {
        d.ok(name, json!({}));
    }
    for _ in 0..5 {
        d.ok("guest-ping", json!({}));
    }
    d.fail(r#"{"execute":"guest-nope"}"#);
    d.fail(r#"{"execute":"guest-file-read","arguments":{"handle":999999}}"#);
    d.fail(r#"{"execute":"guest-sync","arguments":{}}"#);
    d.fail(r#"{"execute":"guest-file-open","arguments":{"path":"/nonexistent/soak"}}"#);
    d.fail(r#"{"execute":"guest-ping","arguments":{"x":1}}"#);
    d.fail(r#"{"execute":"guest-ping",}"#);
    d.fail("[1]");
    d.fail(r#"{"execute":"guest-sync","arguments":{"id":"x"}}"#);
}

/// `guest-exec /bin/true`, then `guest-exec-status` until it exited.
fn exec_true(d: &mut Driver) {
    let args = json!({ "path": "/bin/true", "capture-output": true });
    let pid = d.ok("guest-exec", args)["pid"].clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.ok("guest-exec-status", json!({ "pid": pid }))["exited"] != true {
        assert!(Instant::now() < deadline, "pid {pid} did not exit");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// What `/proc` says about the agent at one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    hwm_kib: u64,
    rss_kib: u64,
    fds: usize,
    threads: u64,
    children: usize,
}

fn sample(pid: u32) -> Sample {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/pid/fd")
        .count();
    let children = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("/proc/pid/task")
        .flatten()
        .map(|t| std::fs::read_to_string(t.path().join("children")).unwrap_or_default())
        .map(|c| c.split_whitespace().count())
        .sum();
    Sample {
        hwm_kib: common::proc_status_kib(pid, "VmHWM"),
        rss_kib: common::proc_status_kib(pid, "VmRSS"),
        fds,
        threads: status_count(pid, "Threads"),
        children,
    }
}

/// A plain count field of `/proc/<pid>/status`.
fn status_count(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A sample once the last cycle's exec children are reaped and their pipes
/// closed (the agent does so when it sees their exit): the counts settle
/// within a second, or the unsettled sample is what the table shows.
fn settled(pid: u32, base: Option<Sample>) -> Sample {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let s = sample(pid);
        let calm =
            base.is_none_or(|b| (s.fds, s.threads, s.children) <= (b.fds, b.threads, b.children));
        if calm || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn row(label: &str, sent: u64, s: Sample, secs: f64) {
    println!(
        "{label:<7} {sent:>9} {:>10} {:>10} {:>5} {:>8} {:>9} {secs:>10.1}",
        s.hwm_kib, s.rss_kib, s.fds, s.threads, s.children
    );
}

/// `--quick` and `--requests N` (cargo bench appends `--bench`).
fn total_requests() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .windows(2)
        .find(|w| w[0] == "--requests")
        .map(|w| w[1].parse().expect("--requests N"));
    n.unwrap_or(if args.iter().any(|a| a == "--quick") {
        QUICK
    } else {
        FULL
    })
}

fn main() -> ExitCode {
    let total = total_requests();
    let agent = Agent::start("soak");
    let mut d = Driver {
        conn: agent.connect(),
        sent: 0,
    };
    let path = agent.dir.join("soak.bin").display().to_string();
    let chunk = b64_encode(&pattern(CHUNK, 11));
    println!("soak: {total} mixed requests to {}", qga_bin().display());
    println!("point    requests  VmHWM KiB  VmRSS KiB   fds  threads  children  elapsed s");
    // One cycle first, so the start figures include the first use of every path.
    cycle(&mut d, &path, &chunk);
    let t0 = Instant::now();
    let start = settled(agent.pid(), None);
    row("start", d.sent, start, 0.0);
    let mut next = 1;
    while d.sent < total {
        cycle(&mut d, &path, &chunk);
        if d.sent >= total * next / 4 && next < 4 {
            let label = ["", "25%", "middle", "75%"][next as usize];
            row(
                label,
                d.sent,
                settled(agent.pid(), Some(start)),
                t0.elapsed().as_secs_f64(),
            );
            next += 1;
        }
    }
    let end = settled(agent.pid(), Some(start));
    let secs = t0.elapsed().as_secs_f64();
    row("end", d.sent, end, secs);
    println!("{:.0} requests/s", d.sent as f64 / secs);
    let flat = (end.fds, end.threads, end.children) <= (start.fds, start.threads, start.children);
    println!(
        "descriptors, threads, children at the end vs the start: {}; VmHWM grew by {} KiB",
        if flat { "flat" } else { "GREW" },
        end.hwm_kib.saturating_sub(start.hwm_kib)
    );
    if flat {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
