//! The real binary in unix-listen mode, driven over a raw `UnixStream`, plus
//! its informational options and exit codes.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const QGA: &str = env!("CARGO_BIN_EXE_qga");

/// A temp dir that is removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("qga-it-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| unreachable!("{e}"));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The agent process; killed (by its own handle) when dropped.
struct Agent {
    child: Child,
    sock: PathBuf,
    _dir: TempDir,
}

impl Agent {
    fn start(tag: &str) -> Agent {
        let dir = TempDir::new(tag);
        let sock = dir.0.join("qga.sock");
        let child = qga(&dir.0)
            .args(["-m", "unix-listen", "-p"])
            .arg(&sock)
            .arg("-t")
            .arg(&dir.0)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| unreachable!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&sock).is_err() {
            assert!(
                Instant::now() < deadline,
                "agent did not listen on {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent {
            child,
            sock,
            _dir: dir,
        }
    }

    fn connect(&self) -> Client {
        let stream = UnixStream::connect(&self.sock).unwrap_or_else(|e| unreachable!("{e}"));
        let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
        let reader = BufReader::new(stream.try_clone().unwrap_or_else(|e| unreachable!("{e}")));
        Client { stream, reader }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the agent and returns what it wrote to stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = self.child.wait();
        err
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    fn send(&mut self, text: &str) {
        self.stream
            .write_all(text.as_bytes())
            .unwrap_or_else(|e| unreachable!("{e}"));
    }

    /// One reply line with all blanks removed (member spacing is not the point here).
    fn reply(&mut self) -> String {
        let mut line = String::new();
        let _ = self.reader.read_line(&mut line);
        assert!(line.ends_with('\n'), "reply not terminated: {line:?}");
        line.split_whitespace().collect()
    }
}

/// The binary with a config path that does not exist (so /etc is not read).
fn qga(dir: &Path) -> Command {
    let mut cmd = Command::new(QGA);
    cmd.env("QGA_CONF", dir.join("absent.conf"));
    cmd
}

fn output(args: &[&str]) -> Output {
    let dir = TempDir::new("out");
    qga(&dir.0)
        .args(args)
        .output()
        .unwrap_or_else(|e| unreachable!("{e}"))
}

#[test]
fn guest_ping_is_answered() {
    let agent = Agent::start("ping");
    let mut c = agent.connect();
    c.send("{\"execute\":\"guest-ping\"}");
    assert_eq!(c.reply(), "{\"return\":{}}");
    drop(c);
    assert!(!agent.stop().contains("error"));
}

#[test]
fn half_request_from_a_previous_client_is_forgotten() {
    let mut agent = Agent::start("half");
    let mut c = agent.connect();
    c.send("{\"execute\":\"guest-sy");
    drop(c);
    let mut c = agent.connect();
    c.send("{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1234}}\n");
    assert_eq!(c.reply(), "{\"return\":1234}");
    // The next line is the ping's reply: no error line came in between.
    c.send("{\"execute\":\"guest-ping\"}");
    assert_eq!(c.reply(), "{\"return\":{}}");
    assert!(agent.alive());
}

#[test]
fn client_that_leaves_without_reading_does_not_kill_the_agent() {
    let mut agent = Agent::start("rude");
    for _ in 0..3 {
        let mut c = agent.connect();
        // Many big replies, none read: the agent sees EPIPE / ECONNRESET.
        c.send(&"{\"execute\":\"guest-info\"}".repeat(200));
        drop(c);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(agent.alive());
    let mut c = agent.connect();
    c.send("{\"execute\":\"guest-sync\",\"arguments\":{\"id\":7}}");
    assert_eq!(c.reply(), "{\"return\":7}");
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
    let out = qga(&dir.0)
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
    let out = qga(&dir.0)
        .arg("-c")
        .arg(&conf)
        .arg("-D")
        .output()
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("daemon"));
    let out = qga(&dir.0)
        .args(["-c", "/nonexistent/qga.conf", "-D"])
        .output()
        .unwrap_or_else(|e| unreachable!("{e}"));
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
            "Unknown option, try '{QGA} --help' for more information.\n"
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
    let status = qga(&dir.0)
        .args(["-d", "-m", "unix-listen", "-p"])
        .arg(&sock)
        .arg("-t")
        .arg(&dir.0)
        .arg("-f")
        .arg(&pidfile)
        .status()
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(status.success());
    let pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
    assert!(
        pid.ends_with('\n') && pid.trim().parse::<u32>().is_ok(),
        "{pid:?}"
    );
    let mut c = UnixStream::connect(&sock).unwrap_or_else(|e| unreachable!("{e}"));
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
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap_or_else(|e| unreachable!("{e}"));
    let _ = grantpt(&master).and_then(|()| unlockpt(&master));
    let pts = ptsname(&master, Vec::new()).unwrap_or_else(|e| unreachable!("{e}"));
    let dir = TempDir::new("serial");
    let mut child = qga(&dir.0)
        .args(["-m", "isa-serial", "-p"])
        .arg(pts.to_string_lossy().as_ref())
        .arg("-t")
        .arg(&dir.0)
        .spawn()
        .unwrap_or_else(|e| unreachable!("{e}"));
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
