//! Security against the real binary (issue 10): a guest user must not reach
//! root, hang the agent or fill its memory through it.
//!
//! The ssh-key tests create a real unprivileged user (`useradd`; CI runs as
//! root, and these tests fail, not skip, without root) and lay every trap
//! from a child that has dropped to that user (`setgid`/`setuid`). Each
//! checks the target is unchanged (content, owner, mode), the reply is a
//! clear error, and `guest-ping` is answered within a second afterwards.
//! The spool tests measure the agent's memfd through `/proc/PID/fd`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{b64_encode, err, qga_bin, request, ret, Agent, Conn, TempDir};
use serde_json::{json, Value};

// ---- a real guest user --------------------------------------------------------

/// useradd/userdel lock /etc/passwd: one at a time.
static ACCOUNTS: Mutex<()> = Mutex::new(());

/// A user made for one test, with a home of its own; deleted on drop.
struct User {
    name: String,
    uid: u32,
    gid: u32,
    /// Root-owned scratch dir holding `home` and the victims.
    dir: TempDir,
    home: PathBuf,
}

impl User {
    fn create(tag: &str) -> User {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        assert_eq!(
            rustix::process::geteuid().as_raw(),
            0,
            "these tests need root (CI has it)"
        );
        let name = format!(
            "qgas{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = TempDir::new(tag);
        let home = dir.join("home");
        std::fs::create_dir(&home).expect("home");
        let _g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let ok = Command::new("useradd")
            .args(["-M", "-U", "-s", "/bin/sh", "-d"])
            .arg(&home)
            .arg(&name)
            .status()
            .expect("useradd");
        assert!(ok.success(), "useradd {name}");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().expect("id");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("numeric id")
        };
        let (uid, gid) = (id("-u"), id("-g"));
        std::os::unix::fs::chown(&home, Some(uid), Some(gid)).expect("chown home");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        User {
            name,
            uid,
            gid,
            dir,
            home,
        }
    }

    /// A command run as the user (setgid, setgroups([]), setuid) in its home.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.uid(self.uid)
            .gid(self.gid)
            .current_dir(&self.home)
            .env("HOME", &self.home);
        c
    }

    /// Runs `script` with `sh -c` as the user; it must succeed.
    fn sh(&self, script: &str) {
        let st = self
            .command("/bin/sh")
            .args(["-c", script])
            .status()
            .expect("sh");
        assert!(st.success(), "as {}: {script}", self.name);
    }

    fn ssh(&self) -> PathBuf {
        self.home.join(".ssh")
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _g = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel")
            .arg(&self.name)
            .stderr(Stdio::null())
            .status();
    }
}

// ---- what "unchanged" means -----------------------------------------------------

/// A path's type, owner, mode and content (a link's target, a directory's
/// entries), recursively.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    uid: u32,
    gid: u32,
    mode: u32,
    content: Vec<u8>,
    entries: Vec<(String, Node)>,
}

fn snap(p: &Path) -> Node {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let t = m.file_type();
    let (kind, content, entries) = if t.is_symlink() {
        let target = std::fs::read_link(p).expect("readlink");
        ("link", target.into_os_string().into_encoded_bytes(), vec![])
    } else if t.is_dir() {
        let mut e: Vec<(String, Node)> = std::fs::read_dir(p)
            .expect("read_dir")
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    snap(&e.path()),
                )
            })
            .collect();
        e.sort_by(|a, b| a.0.cmp(&b.0));
        ("dir", vec![], e)
    } else if t.is_file() {
        ("file", std::fs::read(p).expect("read"), vec![])
    } else {
        ("special", vec![], vec![])
    };
    Node {
        kind,
        uid: m.uid(),
        gid: m.gid(),
        mode: m.mode() & 0o7777,
        content,
        entries,
    }
}

/// A root-owned file with `content` and `mode`.
fn root_file(p: &Path, content: &[u8], mode: u32) {
    std::fs::write(p, content).expect("write");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

// ---- agent helpers -------------------------------------------------------------

fn ask(c: &mut Conn, name: &str, args: Value) -> Value {
    c.ask(&request(name, args))
}

fn add(c: &mut Conn, user: &User, keys: &[&str]) -> Value {
    ask(
        c,
        "guest-ssh-add-authorized-keys",
        json!({"username": user.name, "keys": keys}),
    )
}

fn get(c: &mut Conn, user: &User) -> Value {
    ask(
        c,
        "guest-ssh-get-authorized-keys",
        json!({"username": user.name}),
    )
}

fn remove(c: &mut Conn, user: &User, keys: &[&str]) -> Value {
    ask(
        c,
        "guest-ssh-remove-authorized-keys",
        json!({"username": user.name, "keys": keys}),
    )
}

/// A GenericError whose text contains `want`.
fn assert_refused(reply: &Value, want: &str) {
    let (class, desc) = err(reply);
    assert_eq!(class, "GenericError", "{reply}");
    assert!(desc.contains(want), "expected {want:?} in {desc:?}");
}

/// The agent still serves: `guest-ping` answered within a second.
fn ping_fast(c: &mut Conn) {
    let t = Instant::now();
    let r = c.ask(r#"{"execute":"guest-ping"}"#);
    assert_eq!(r, json!({"return": {}}));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "ping took {:?}",
        t.elapsed()
    );
}

const K1: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGKw9Yk0v6sHGaEl0cCfi0i5a8XbG1U4sQW1T5X3cQbq k1";
const K2: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1e8Qf7dY2xZf2Qm9vYwXk3lq0bZkqGz7m4n3Ppd8Rx k2";

/// Runs `qga` with `args` after `pre` (shell), killed on drop.
struct Proc(Child);

impl Proc {
    fn sh(pre: &str, args: &[&str]) -> Proc {
        let script = format!("{pre} exec \"$0\" \"$@\"");
        let child = Command::new("/bin/sh")
            .args(["-c", &script])
            .arg(qga_bin())
            .args(args)
            .env("QGA_CONF", "/nonexistent/qga.conf")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn");
        Proc(child)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects, retrying while the socket exists but is not listening yet
/// (between the agent's `bind` and `listen`).
fn connect(sock: &Path) -> Conn {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::os::unix::net::UnixStream::connect(sock) {
            Ok(s) => return Conn::new(s),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                assert!(Instant::now() < deadline, "{}: {e}", sock.display());
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connect {}: {e}", sock.display()),
        }
    }
}

#[path = "security/lifecycle.rs"]
mod lifecycle;
#[path = "security/spool.rs"]
mod spool;
#[path = "security/ssh.rs"]
mod ssh;
