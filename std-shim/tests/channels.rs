//! The real binary in unix-listen mode, driven over a raw `UnixStream`, plus
//! its informational options and exit codes.

// Helpers outside #[test] functions fail loudly too: a panic is the test failing.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Output};
use std::time::Duration;

use common::{qga_bin, qga_command, Agent, Launch, TempDir};

/// Our agent with its stderr kept for [`Agent::stop`].
fn start(tag: &str) -> Agent {
    let mut launch = Launch::ours(tag);
    launch.keep_stderr = true;
    launch.start()
}

fn output(args: &[&str]) -> Output {
    qga_command().args(args).output().expect("run qga")
}

#[test]
fn guest_ping_is_answered() {
    let agent = start("ping");
    let mut c = agent.connect();
    c.send(b"{\"execute\":\"guest-ping\"}");
    assert_eq!(c.compact_line(), "{\"return\":{}}");
    drop(c);
    assert!(!agent.stop().contains("error"));
}

#[test]
fn half_request_from_a_previous_client_is_forgotten() {
    let mut agent = Agent::start("half");
    let mut c = agent.connect();
    c.send(b"{\"execute\":\"guest-sy");
    drop(c);
    let mut c = agent.connect();
    c.send(b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1234}}\n");
    assert_eq!(c.compact_line(), "{\"return\":1234}");
    // The next line is the ping's reply: no error line came in between.
    c.send(b"{\"execute\":\"guest-ping\"}");
    assert_eq!(c.compact_line(), "{\"return\":{}}");
    assert!(agent.alive());
}

#[test]
fn client_that_leaves_without_reading_does_not_kill_the_agent() {
    let mut agent = Agent::start("rude");
    for _ in 0..3 {
        let mut c = agent.connect();
        // Many big replies, none read: the agent sees EPIPE / ECONNRESET.
        c.send("{\"execute\":\"guest-info\"}".repeat(200).as_bytes());
        drop(c);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(agent.alive());
    let mut c = agent.connect();
    c.send(b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":7}}");
    assert_eq!(c.compact_line(), "{\"return\":7}");
    assert!(agent.alive());
}

#[test]
fn dump_conf_prints_the_effective_key_file() {
    let out = output(&[
        "-D",
        "-m",
        "unix-listen",
        "-p",
        "/run/x.sock",
        "-b",
        "guest-ping,nosuch",
        "-v",
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[general]\ndaemon=false\nmethod=unix-listen\npath=/run/x.sock\npidfile=/var/run/qemu-ga.pid\n\
         statedir=/var/run\nverbose=true\nretry-path=false\nblock-rpcs=guest-ping,nosuch\nallow-rpcs=\n"
    );
}

#[test]
fn config_file_is_merged_and_errors_are_fatal() {
    let dir = TempDir::new("conf");
    let conf = dir.0.join("qga.conf");
    let _ = std::fs::write(
        &conf,
        "[general]\nmethod=isa-serial\nblock-rpcs=guest-info\n",
    );
    let out = qga_command()
        .arg("-c")
        .arg(&conf)
        .args(["-D", "-b", "guest-ping"])
        .output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        text.contains("method=isa-serial\n") && text.contains("block-rpcs=guest-info,guest-ping\n"),
        "{text}"
    );
    let _ = std::fs::write(&conf, "[general]\ndaemon=maybe\n");
    let out = qga_command()
        .arg("-c")
        .arg(&conf)
        .arg("-D")
        .output()
        .expect("run qga");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("daemon"));
    let out = qga_command()
        .args(["-c", "/nonexistent/qga.conf", "-D"])
        .output()
        .expect("run qga");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn block_rpcs_help_lists_every_command() {
    let out = output(&["-b", "help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l == "guest-sync-delimited"));
    assert!(text.lines().any(|l| l == "guest-get-osinfo"));
    assert!(text.lines().count() >= 35);
}

#[test]
fn version() {
    let out = output(&["-V"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("QEMU Guest Agent {} (qga-rs)\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_option_exits_1() {
    let out = output(&["--no-such-option"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.ends_with(&format!(
            "Unknown option, try '{} --help' for more information.\n",
            qga_bin().display()
        )),
        "{err}"
    );
}

#[test]
fn bad_channel_settings_exit_1() {
    for (args, text) in [
        (&["-m", "tcp"][..], "unsupported channel method/type: tcp"),
        (
            &["-m", "unix-listen"][..],
            "must specify a path for this channel",
        ),
        (
            &["-m", "vsock-listen", "-p", "3"][..],
            "invalid vsock address '3'",
        ),
        (
            &[
                "-m",
                "unix-listen",
                "-p",
                "/tmp/x",
                "-t",
                "/nonexistent/state",
            ][..],
            "does not exist",
        ),
    ] {
        let out = output(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(text),
            "{args:?}"
        );
    }
}

#[test]
fn daemonize_writes_the_pidfile_and_returns() {
    let dir = TempDir::new("daemon");
    let sock = dir.0.join("qga.sock");
    let pidfile = dir.0.join("qga.pid");
    let status = qga_command()
        .args(["-d", "-m", "unix-listen", "-p"])
        .arg(&sock)
        .arg("-t")
        .arg(&dir.0)
        .arg("-f")
        .arg(&pidfile)
        .status()
        .expect("run qga");
    assert!(status.success());
    let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
    assert!(
        pid.ends_with('\n') && pid.trim().parse::<u32>().is_ok(),
        "{pid:?}"
    );
    let mut c = UnixStream::connect(&sock).expect("run qga");
    let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = c.write_all(b"{\"execute\":\"guest-ping\"}");
    let mut line = String::new();
    let _ = BufReader::new(c).read_line(&mut line);
    assert!(line.starts_with("{\"return\""), "{line:?}");
    // Stop the daemon we started, by its pid, with SIGKILL through kill(1).
    let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
}

#[test]
fn isa_serial_on_a_pseudo_terminal() {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("run qga");
    let _ = grantpt(&master).and_then(|()| unlockpt(&master));
    let pts = ptsname(&master, Vec::new()).expect("run qga");
    let dir = TempDir::new("serial");
    let mut child = qga_command()
        .args(["-m", "isa-serial", "-p"])
        .arg(pts.to_string_lossy().as_ref())
        .arg("-t")
        .arg(&dir.0)
        .spawn()
        .expect("run qga");
    // The agent flushes pending input when it opens the port: resend until
    // answered. Until it sets the line raw, the tty echoes our request back.
    let mut got = Vec::new();
    let answered = |got: &[u8]| {
        let text = String::from_utf8_lossy(got);
        text.find("{\"return\": ")
            .is_some_and(|at| text[at..].contains('\n'))
    };
    for id in 0..100 {
        let req = format!("{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":{id}}}}}");
        let _ = rustix::io::write(&master, req.as_bytes());
        let mut fds = [PollFd::new(&master, PollFlags::IN)];
        let wait = Timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        while poll(&mut fds, Some(&wait)).unwrap_or(0) > 0 {
            let mut buf = [0u8; 256];
            let n = rustix::io::read(&master, &mut buf).unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
            if n == 0 || answered(&got) {
                break;
            }
        }
        if answered(&got) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(answered(&got), "{:?}", String::from_utf8_lossy(&got));
}
