//! SIGTERM ends the agent cleanly; while filesystems are frozen (a
//! `qga.state.isfrozen` left in the statedir means "start frozen") it thaws
//! them first (qemu-ga ignores the signal then).

#![allow(clippy::expect_used)] // a test: failing loudly is the point

mod common;

use std::time::Duration;

use common::{sigterm, Agent, Launch, TempDir};

/// Our agent with `dir` as its state dir.
fn start(dir: TempDir) -> Agent {
    let mut launch = Launch::ours("signals");
    launch.dir = dir;
    launch.start()
}

/// A guest-ping on a fresh connection: its raw reply line.
fn ping(a: &Agent) -> String {
    let mut c = a.connect();
    c.send(br#"{"execute":"guest-ping"}"#);
    String::from_utf8_lossy(&c.line()).into_owned()
}

#[test]
fn sigterm_exits_cleanly() {
    let mut a = start(TempDir::new("thawed"));
    assert_eq!(ping(&a), "{\"return\": {}}\n");
    sigterm(a.pid());
    let st = a
        .wait_exit(Duration::from_secs(5))
        .expect("agent exits on SIGTERM");
    assert!(st.success(), "{st:?}");
}

#[test]
fn sigterm_while_frozen_thaws_then_exits() {
    let dir = TempDir::new("frozen");
    let marker = dir.join("qga.state.isfrozen");
    std::fs::write(&marker, b"").expect("isfrozen");
    let mut a = start(dir);
    let mut c = a.connect();
    c.send(br#"{"execute":"guest-fsfreeze-status"}"#);
    assert_eq!(c.line(), b"{\"return\": \"frozen\"}\n");
    drop(c); // the agent serves one client at a time
    sigterm(a.pid());
    let st = a
        .wait_exit(Duration::from_secs(10))
        .expect("agent exits on SIGTERM");
    assert!(st.success(), "{st:?}");
    assert!(
        !marker.exists(),
        "the thaw before exit removes the frozen marker"
    );
}
