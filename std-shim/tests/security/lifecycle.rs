//! Socket mode, helpers, frozen start, exec pid reuse.

use super::*;

#[test]
fn unix_socket_is_0600_whatever_the_umask() {
    let dir = TempDir::new("sec-umask");
    let sock = dir.join("qga.sock");
    let s = sock.display().to_string();
    let _p = Proc::sh(
        "umask 000;",
        &[
            "-m",
            "unix-listen",
            "-p",
            &s,
            "-t",
            &dir.0.display().to_string(),
        ],
    );
    wait_for(&sock);
    let mode = std::fs::symlink_metadata(&sock).expect("stat").mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
}

/// A hook whose background child keeps its stdout open for 30 s: the agent
/// waits for the hook's exit, not for EOF.
#[test]
fn a_hook_leaving_a_child_on_its_pipe_does_not_hang_the_agent() {
    let dir = TempDir::new("sec-hook");
    let hook = dir.join("hook");
    root_file(
        &hook,
        b"#!/bin/sh\n(sleep 30; echo late) &\necho hook \"$1\"\nexit 0\n",
        0o755,
    );
    let sock = dir.join("qga.sock");
    let hook_arg = format!("-F{}", hook.display());
    let (s, t) = (sock.display().to_string(), dir.0.display().to_string());
    let _p = Proc::sh("", &["-m", "unix-listen", "-p", &s, "-t", &t, &hook_arg]);
    wait_for(&sock);
    let mut c = connect(&sock);
    let t0 = Instant::now();
    // No such mount: the hook runs, nothing freezes.
    let r = ask(
        &mut c,
        "guest-fsfreeze-freeze-list",
        json!({"mountpoints": ["/nonexistent-qga"]}),
    );
    assert_eq!(r, json!({"return": 0}));
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "waited {:?} for the hook",
        t0.elapsed()
    );
    ping_fast(&mut c);
}

/// Kills every process whose command line names `dir` (the daemon).
struct KillByDir(PathBuf);

impl Drop for KillByDir {
    fn drop(&mut self) {
        let needle = self.0.display().to_string();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&needle) {
                let _ = Command::new("kill").arg("-9").arg(e.file_name()).status();
            }
        }
    }
}

/// Started frozen (marker left behind): no log file, no pidfile until the
/// thaw; the lines logged meanwhile appear after it.
#[test]
fn frozen_start_defers_log_and_pidfile_until_thaw() {
    let dir = TempDir::new("sec-frozen");
    let _guard = KillByDir(dir.0.clone());
    std::fs::write(dir.join("qga.state.isfrozen"), b"").expect("marker");
    let (sock, log, pid) = (
        dir.join("qga.sock"),
        dir.join("agent.log"),
        dir.join("qga.pid"),
    );
    let st = Command::new(qga_bin())
        .env("QGA_CONF", "/nonexistent/qga.conf")
        .args(["-d", "-v", "-m", "unix-listen", "-p"])
        .arg(&sock)
        .arg("-t")
        .arg(&dir.0)
        .arg("-l")
        .arg(&log)
        .arg("-f")
        .arg(&pid)
        .status()
        .expect("qga -d");
    assert!(st.success(), "daemon start: {st:?}");
    wait_for(&sock);
    let mut c = connect(&sock);
    assert_eq!(
        ask(&mut c, "guest-fsfreeze-status", json!({})),
        json!({"return": "frozen"})
    );
    // A client that leaves without reading: a warning line, held while frozen.
    {
        let mut gone = connect(&sock);
        gone.send(br#"{"execute":"guest-info"}"#);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !log.exists() && !pid.exists(),
        "a file was written while frozen"
    );
    assert_eq!(
        ask(&mut c, "guest-fsfreeze-thaw", json!({})),
        json!({"return": 0})
    );
    wait_for(&pid);
    wait_for(&log);
    let daemon: u32 = std::fs::read_to_string(&pid)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid number");
    assert!(Path::new(&format!("/proc/{daemon}")).exists());
    let text = std::fs::read_to_string(&log).expect("log after thaw");
    assert!(
        text.contains(": warning: started in frozen state"),
        "{text}"
    );
    assert_eq!(std::fs::metadata(&log).expect("log").mode() & 0o777, 0o600);
    ping_fast(&mut c);
}

/// Exited, unqueried processes keep their pid (as zombies) until their
/// status is read: steer the kernel to hand that pid out again (in a pid
/// namespace of its own) and the new process still gets another one.
#[test]
fn a_reused_pid_cannot_mix_exec_records() {
    let dir = TempDir::new("sec-pidns");
    let sock = dir.join("qga.sock");
    let (s, t) = (sock.display().to_string(), dir.0.display().to_string());
    let _p = Proc::sh(
        "exec unshare --pid --fork --kill-child \"$0\" \"$@\"; ",
        &["-m", "unix-listen", "-p", &s, "-t", &t],
    );
    wait_for(&sock);
    let mut c = connect(&sock);
    let exec = |c: &mut Conn, args: Value| {
        ret(&ask(c, "guest-exec", args))["pid"]
            .as_i64()
            .expect("pid")
    };
    let a = exec(&mut c, json!({"path": "/bin/true"}));
    // Long enough for an agent that reaps at exit to have reaped it.
    std::thread::sleep(Duration::from_secs(1));
    let steer = format!("echo {} > /proc/sys/kernel/ns_last_pid", a - 1);
    let w = exec(&mut c, json!({"path": "/bin/sh", "arg": ["-c", steer]}));
    std::thread::sleep(Duration::from_millis(300));
    let b = exec(&mut c, json!({"path": "/bin/sh", "arg": ["-c", "exit 7"]}));
    assert_ne!(
        a, b,
        "pid {a} was handed out again while its record was unread"
    );
    let status = |c: &mut Conn, pid: i64| loop {
        let st = ret(&ask(c, "guest-exec-status", json!({"pid": pid}))).clone();
        if st["exited"] == json!(true) {
            break st["exitcode"].clone();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status(&mut c, w), json!(0), "ns_last_pid was not writable");
    assert_eq!((status(&mut c, a), status(&mut c, b)), (json!(0), json!(7)));
}
