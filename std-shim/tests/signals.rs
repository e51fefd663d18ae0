//! SIGTERM ends the agent cleanly, except while filesystems are frozen
//! (a `qga.state.isfrozen` left in the statedir means "start frozen").

#![allow(clippy::expect_used)] // a test: failing loudly is the point
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qga-signals-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn start(dir: &Path) -> Agent {
    let sock = dir.join("sock");
    let child = Command::new(env!("CARGO_BIN_EXE_qga"))
        .args(["-m", "unix-listen", "-p"])
        .arg(&sock)
        .arg("-t")
        .arg(dir)
        .spawn()
        .expect("spawn qga");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Agent { child, sock }
}

fn ping(sock: &Path) -> String {
    let mut s = UnixStream::connect(sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(br#"{"execute":"guest-ping"}"#).expect("write");
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("read");
    line
}

fn term(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn sigterm_exits_cleanly() {
    let dir = temp_dir("thawed");
    let mut a = start(&dir);
    assert_eq!(ping(&a.sock), "{\"return\": {}}\n");
    term(&a.child);
    let st = wait_exit(&mut a.child, Duration::from_secs(5)).expect("agent exits on SIGTERM");
    assert!(st.success(), "{st:?}");
}

#[test]
fn sigterm_is_ignored_while_frozen() {
    let dir = temp_dir("frozen");
    std::fs::write(dir.join("qga.state.isfrozen"), b"").expect("isfrozen");
    let mut a = start(&dir);
    let status = {
        let mut s = UnixStream::connect(&a.sock).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(br#"{"execute":"guest-fsfreeze-status"}"#)
            .expect("write");
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("read");
        line
    };
    assert_eq!(status, "{\"return\": \"frozen\"}\n");
    term(&a.child);
    assert!(
        wait_exit(&mut a.child, Duration::from_millis(500)).is_none(),
        "must survive SIGTERM while frozen"
    );
    assert_eq!(ping(&a.sock), "{\"return\": {}}\n");
}
