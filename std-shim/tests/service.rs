//! The real binary as a service manager and the system log see it: systemd
//! socket activation (`LISTEN_PID`/`LISTEN_FDS` with the socket on fd 3),
//! `Type=notify` readiness, and syslog: without `-l` log lines go to
//! `/dev/log`, and the audit lines are qemu-ga's own, compared with QEMU's
//! `qemu-ga` driven through the same requests.
//!
//! The syslog tests give each agent a private `/dev` (a mount namespace made
//! by `unshare -m`, so root is needed) whose `/dev/log` is the test's
//! socket. Without root or qemu-ga they print a skip note and pass, unless
//! `QGA_REQUIRE_QEMU_GA` is set (CI sets it and runs as root).

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{b64_decode, qga_bin, request, ret, Conn, TempDir, QEMU_GA};

/// The agent under test (`QGA_BIN` or cargo's build), as text.
fn qga() -> String {
    qga_bin().display().to_string()
}
use serde_json::json;

/// Kills the child on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects to `sock`, retrying until the agent listens.
fn connect(sock: &Path, child: &mut Child) -> Conn {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = UnixStream::connect(sock) {
            return Conn::new(s);
        }
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "agent exited at startup"
        );
        assert!(Instant::now() < deadline, "agent did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `path args` through guest-exec and returns its stdout.
fn exec_stdout(c: &mut Conn, path: &str, args: &[&str]) -> String {
    let r = c.ask(&request(
        "guest-exec",
        json!({"path": path, "arg": args, "capture-output": true}),
    ));
    let pid = ret(&r)["pid"].as_i64().expect("pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = c.ask(&request("guest-exec-status", json!({ "pid": pid })));
        let st = ret(&st);
        if st["exited"] == json!(true) {
            let out = st["out-data"].as_str().unwrap_or_default();
            return String::from_utf8(b64_decode(out).expect("base64")).expect("utf-8");
        }
        assert!(Instant::now() < deadline, "guest-exec did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The descriptors and environment a guest-exec child gets.
const SHOW_FDS_AND_ENV: &str = "for f in /proc/$$/fd/*; do readlink $f; done; env";

/// `sh` puts the listening socket on fd 3 and sets `LISTEN_PID` to `pid`
/// (`$$`: the agent's own pid, as `sh` `exec`s it) and `LISTEN_FDS` to
/// `fds`, as systemd does.
fn activated(listener: UnixListener, pid: &str, fds: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            r#"LISTEN_PID={pid} LISTEN_FDS={fds} exec "$0" "$@" 3<&0 0</dev/null"#
        ))
        .arg(qga())
        .args(args)
        .env("QGA_CONF", "/nonexistent/qga.conf")
        .stdin(Stdio::from(OwnedFd::from(listener)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// -m/-p name a channel that cannot be opened.
const UNUSABLE_CHANNEL: [&str; 4] = ["-m", "isa-serial", "-p", "/nonexistent/tty"];

#[test]
fn socket_activation_serves_the_inherited_socket_and_hides_it_from_children() {
    let dir = TempDir::new("activation");
    let sock = dir.join("activated.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut cmd = activated(listener, "$$", "1", &UNUSABLE_CHANNEL);
    let mut agent = Proc(cmd.arg("-t").arg(&dir.0).spawn().unwrap());
    let mut c = connect(&sock, &mut agent.0);
    assert_eq!(
        c.ask(&request("guest-ping", json!({}))),
        json!({"return": {}})
    );
    let seen = exec_stdout(&mut c, "/bin/sh", &["-c", SHOW_FDS_AND_ENV]);
    assert!(!seen.contains("socket:"), "listener leaked: {seen}");
    assert!(seen.contains("QGA_CONF="), "not the child's env: {seen}");
    assert!(!seen.contains("LISTEN_"), "activation env leaked: {seen}");
    drop(c);
    // A second client on the same inherited socket.
    let mut c = connect(&sock, &mut agent.0);
    assert_eq!(
        c.ask(&request("guest-ping", json!({}))),
        json!({"return": {}})
    );
}

/// Runs an activated agent that must exit at once.
fn activated_failure(pid: &str, fds: &str) -> Output {
    let dir = TempDir::new("activation-fail");
    let listener = UnixListener::bind(dir.join("s")).unwrap();
    let mut cmd = activated(listener, pid, fds, &UNUSABLE_CHANNEL);
    cmd.arg("-t").arg(&dir.0).output().unwrap()
}

#[test]
fn socket_activation_refuses_more_than_one_socket() {
    let out = activated_failure("$$", "2");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("critical: qemu-ga only supports listening on one socket"),
        "{err}"
    );
}

#[test]
fn activation_meant_for_another_process_is_ignored() {
    let out = activated_failure("1", "1");
    assert_eq!(out.status.code(), Some(1), "it must open -p and fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn readiness_is_sent_once_listening_and_not_passed_on() {
    let dir = TempDir::new("notify");
    let notify = dir.join("notify");
    let rx = UnixDatagram::bind(&notify).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let sock = dir.join("qga.sock");
    let mut agent = Proc(
        Command::new(qga())
            .args(["-m", "unix-listen", "-p"])
            .arg(&sock)
            .arg("-t")
            .arg(&dir.0)
            .env("QGA_CONF", dir.join("absent.conf"))
            .env("NOTIFY_SOCKET", &notify)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut buf = [0u8; 64];
    let n = rx.recv(&mut buf).expect("no READY=1 within 20 s");
    assert_eq!(&buf[..n], b"READY=1\n");
    // Ready means listening: the first connection attempt succeeds.
    let mut c = Conn::new(UnixStream::connect(&sock).expect("not listening when ready"));
    let env = exec_stdout(&mut c, "/usr/bin/env", &[]);
    assert!(
        env.contains("QGA_CONF=") && !env.contains("NOTIFY_SOCKET"),
        "{env}"
    );
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(rx.recv(&mut buf).is_err(), "READY=1 sent twice");
    assert!(matches!(agent.0.try_wait(), Ok(None)));
}

// ---- syslog ---------------------------------------------------------------

/// Gives the program a private `/dev` (tmpfs with null, zero, random,
/// urandom) whose `/dev/log` is the test's socket `$QGA_TEST_LOG`.
const PRIVATE_DEV: &str = r#"set -e
mount -t tmpfs -o mode=0755 qga-test-dev /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9
touch /dev/log; mount --bind "$QGA_TEST_LOG" /dev/log
exec "$0" "$@""#;

/// Whether the syslog tests can run (root, `unshare`, qemu-ga); fails
/// instead when `QGA_REQUIRE_QEMU_GA` is set.
fn syslog_tests_can_run() -> bool {
    let unshare = Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let ok = unshare && common::exists(QEMU_GA);
    if !ok {
        assert!(
            std::env::var_os("QGA_REQUIRE_QEMU_GA").is_none(),
            "QGA_REQUIRE_QEMU_GA is set but `unshare -m` (root) or {QEMU_GA} is missing"
        );
        eprintln!("SKIP: needs root for unshare -m, and {QEMU_GA}");
    }
    ok
}

/// A syslog socket drained by a thread (a syslog(3) sender blocks when the
/// socket's queue is full, which is 10 datagrams by default).
struct SyslogRx {
    path: std::path::PathBuf,
    got: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl SyslogRx {
    fn new(dir: &TempDir) -> SyslogRx {
        let path = dir.join("dev-log");
        let sock = UnixDatagram::bind(&path).unwrap();
        let got: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let sink = std::sync::Arc::clone(&got);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = sock.recv(&mut buf) {
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push(line);
            }
        });
        SyslogRx { path, got }
    }

    /// `(pri, tag, message)` of every datagram so far; the timestamp that
    /// syslog(3) puts before the tag is skipped.
    fn lines(&self) -> Vec<(u8, String, String)> {
        let got = self.got.lock().unwrap().clone();
        got.iter()
            .map(|text| {
                let (pri, rest) = text[1..].split_once('>').expect("<PRI>");
                let rest = match rest.as_bytes().get(15) {
                    Some(b' ') if rest.as_bytes()[3] == b' ' => &rest[16..],
                    _ => rest,
                };
                let (tag, msg) = rest.split_once(": ").expect("TAG: ");
                (pri.parse().unwrap(), tag.to_owned(), msg.to_owned())
            })
            .collect()
    }

    /// The messages of `tag`, each once where it came several times in a row.
    fn messages(&self, tag: &str, dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (pri, t, msg) in self.lines() {
            if t != tag {
                continue;
            }
            assert_eq!(pri, 14, "audit lines are user.info: {msg}");
            let msg = normalise(&msg).replace(&*dir.to_string_lossy(), "DIR");
            if out.last() != Some(&msg) {
                out.push(msg);
            }
        }
        out
    }
}

/// `pid: 1234` -> `pid: PID`.
fn normalise(msg: &str) -> String {
    match msg.split_once("pid: ") {
        Some((head, _)) => format!("{head}pid: PID"),
        None => msg.to_owned(),
    }
}

/// `program` serving `<dir>/qga.sock` in a private /dev whose log is `rx`.
fn start_with_syslog(program: &str, dir: &TempDir, rx: &SyslogRx, extra: &[&str]) -> Proc {
    let child = Command::new("unshare")
        .args(["-m", "sh", "-c", PRIVATE_DEV, program])
        .args(["-m", "unix-listen", "-p"])
        .arg(dir.join("qga.sock"))
        .arg("-t")
        .arg(&dir.0)
        .args(extra)
        .env("QGA_TEST_LOG", &rx.path)
        .env("QGA_CONF", dir.join("absent.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

/// The same requests to an agent; returns what it logged under its tag.
fn audited_session(program: &str, tag: &str) -> Vec<String> {
    let dir = TempDir::new("audit");
    let rx = SyslogRx::new(&dir);
    let hook = dir.join("hook.sh");
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let hook_opt = format!("-F{}", hook.display());
    let logfile = dir.join("agent.log");
    let extra = [hook_opt.as_str(), "-l", &logfile.to_string_lossy(), "-v"];
    let mut agent = start_with_syslog(program, &dir, &rx, &extra);
    let mut c = connect(&dir.join("qga.sock"), &mut agent.0);
    let mut ask = |name: &str, args| c.ask(&request(name, args));
    ask("guest-ping", json!({}));
    // Before guest-exec: qemu-ga 7.2 hangs in a hook run after a guest-exec.
    let frozen = ask(
        "guest-fsfreeze-freeze-list",
        json!({"mountpoints": ["/nonexistent"]}),
    );
    assert_eq!(frozen, json!({"return": 0}));
    ask("guest-fsfreeze-thaw", json!({}));
    let out = exec_session(&mut ask);
    assert_eq!(out, "a b c\n");
    let file = dir.join("f.txt");
    let h = ask("guest-file-open", json!({"path": file, "mode": "w"}));
    let h = ret(&h).clone();
    ask("guest-file-write", json!({"handle": h, "buf-b64": "aGk="}));
    ask("guest-file-read", json!({ "handle": h }));
    ask("guest-file-close", json!({ "handle": h }));
    ask("guest-file-open", json!({"path": "/nonexistent/x"}));
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    let file_log = std::fs::read_to_string(&logfile).unwrap_or_default();
    assert!(
        !file_log.contains("guest-exec called"),
        "audit lines went to -l: {file_log}"
    );
    let tag = tag.replace("PID", &agent.0.id().to_string());
    rx.messages(&tag, &dir.0)
}

/// guest-exec of `/bin/echo 'a b' c`, then guest-exec-status until it exited.
fn exec_session(ask: &mut impl FnMut(&str, serde_json::Value) -> serde_json::Value) -> String {
    let r = ask(
        "guest-exec",
        json!({"path": "/bin/echo", "arg": ["a b", "c"], "capture-output": true}),
    );
    let pid = ret(&r)["pid"].clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = ask("guest-exec-status", json!({ "pid": pid }));
        if ret(&st)["exited"] == json!(true) {
            let data = ret(&st)["out-data"].as_str().unwrap_or_default().to_owned();
            return String::from_utf8(b64_decode(&data).unwrap()).unwrap();
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Lines both agents write, in order, around the ones only one writes.
const COMMON_HEAD: [&str; 5] = [
    "info: guest-exec called: \"/bin/echo a b c\"",
    "info: guest-exec-status called, pid: PID",
    "info: guest-file-open called, filepath: DIR/f.txt, mode: w",
    "info: guest-file-open, handle: 1000",
    // qemu-ga 7.2 says "guest-file-write failed" for a failed read (below).
    "READ FAILED",
];

fn expected(ping: &str, read_failed: &str, thaw: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [ping]
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.to_string())
        .collect();
    v.push("info: guest-fsfreeze called".into());
    v.push("info: executing fsfreeze hook with arg 'freeze'".into());
    v.extend(thaw.iter().map(|l| l.to_string()));
    v.push("info: executing fsfreeze hook with arg 'thaw'".into());
    v.extend(
        COMMON_HEAD
            .iter()
            .map(|l| l.replace("READ FAILED", read_failed)),
    );
    v.push("info: guest-file-close called, handle: 1000".into());
    v.push("info: guest-file-open called, filepath: /nonexistent/x, mode: r".into());
    v
}

#[test]
fn audit_lines_are_qemu_ga_s_and_go_to_syslog_even_with_a_logfile() {
    if !syslog_tests_can_run() {
        return;
    }
    let theirs = audited_session(QEMU_GA, "qemu-ga");
    let ours = audited_session(&qga(), "qga[PID]");
    assert_eq!(
        theirs,
        expected(
            "info: guest-ping called",
            "info: guest-file-write failed, handle: 1000",
            &[]
        ),
        "qemu-ga's own lines changed"
    );
    // Differences: ping is answered in qga-core (no log hook); a failed read
    // is called a read; thaw is recorded.
    assert_eq!(
        ours,
        expected(
            "",
            "info: guest-file-read failed, handle: 1000",
            &["info: guest-fsfreeze-thaw called"]
        )
    );
}

#[test]
fn privileged_changes_are_audited_without_secrets() {
    if !syslog_tests_can_run() {
        return;
    }
    let dir = TempDir::new("audit-ours");
    let rx = SyslogRx::new(&dir);
    let mut agent = start_with_syslog(&qga(), &dir, &rx, &[]);
    let mut c = connect(&dir.join("qga.sock"), &mut agent.0);
    // Year 2255: refused before the clock is touched.
    let r = c.ask(&request(
        "guest-set-time",
        json!({"time": 9_000_000_000_000_000_000_i64}),
    ));
    assert_eq!(common::err(&r).1, "Invalid time: Invalid argument");
    let pw = json!({"username": "qga-no-such-user", "password": "c2VjcmV0LXB3", "crypted": false});
    let r = c.ask(&request("guest-set-user-password", pw));
    assert!(r.get("error").is_some(), "{r}");
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    let tag = format!("qga[{}]", agent.0.id());
    assert_eq!(
        rx.messages(&tag, &dir.0),
        [
            "info: guest-set-time called, time: 9000000000000000000",
            "info: guest-set-user-password called, username: qga-no-such-user, crypted: false",
        ]
    );
    let all = rx.lines();
    assert!(
        all.iter()
            .all(|(_, _, m)| !m.contains("secret-pw") && !m.contains("c2VjcmV0LXB3")),
        "{all:?}"
    );
}

/// An agent whose channel cannot be opened: it logs one critical line and
/// exits 1. Returns (syslog lines of its tag, stderr, the -l file).
fn failing_start(logfile: bool) -> (Vec<(u8, String)>, String, String) {
    let dir = TempDir::new("syslog-errors");
    let rx = SyslogRx::new(&dir);
    let file = dir.join("agent.log");
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", PRIVATE_DEV, &qga()])
        .args(["-m", "unix-listen", "-p", "/nonexistent/dir/qga.sock", "-t"])
        .arg(&dir.0)
        .env("QGA_TEST_LOG", &rx.path)
        .env("QGA_CONF", dir.join("absent.conf"));
    if logfile {
        cmd.arg("-l").arg(&file);
    }
    let child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    std::thread::sleep(Duration::from_millis(200));
    let tag = format!("qga[{pid}]");
    let lines = rx
        .lines()
        .into_iter()
        .filter(|(_, t, _)| *t == tag)
        .map(|(p, _, m)| (p, m))
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        lines,
        stderr,
        std::fs::read_to_string(&file).unwrap_or_default(),
    )
}

#[test]
fn without_logfile_log_lines_go_to_syslog_with_their_level() {
    if !syslog_tests_can_run() {
        return;
    }
    let (lines, stderr, _) = failing_start(false);
    assert_eq!(
        lines,
        [(10, "critical: No such file or directory".to_owned())],
        "user.crit"
    );
    assert_eq!(stderr, "", "stderr is not a terminal: nothing there");
    let (lines, stderr, file) = failing_start(true);
    assert_eq!(lines, [], "-l takes ordinary lines");
    assert_eq!(stderr, "");
    assert!(
        file.ends_with(": critical: No such file or directory\n"),
        "{file}"
    );
}
