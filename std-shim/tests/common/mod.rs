//! Test support for std-shim, written once: temp dirs, the agent process
//! harness (ours or QEMU's `qemu-ga`, in unix-listen mode), a line-oriented
//! client with read timeouts, base64 (from `base64ct`), deterministic data
//! and `/proc` figures. Integration tests use it as `mod common;`, the
//! benchmarks as `#[path = "../tests/common/mod.rs"] mod common;`.
//!
//! # Which agent binary
//!
//! [`qga_bin`] is the binary under test: the path in the environment
//! variable **`QGA_BIN`** when it is set, else the binary cargo built for
//! this test run (`CARGO_BIN_EXE_qga`). So CI can run every integration
//! test against the shipped size-optimized artifact:
//!
//! ```text
//! QGA_BIN=target/small/qga cargo test -p qga --tests
//! ```
//!
//! Every test binary uses a different subset, hence the `dead_code` allow;
//! a helper that cannot do its job panics: that is the test failing.
#![allow(dead_code, clippy::expect_used, clippy::panic)]

pub mod client;

#[allow(unused_imports)] // each test binary uses some of them
pub use client::{delimited_sync, err, request, ret, Conn};

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};

/// QEMU's reference agent (Debian package `qemu-guest-agent`).
pub const QEMU_GA: &str = "/usr/sbin/qemu-ga";

/// Read timeout for ordinary replies.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long an agent may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The agent under test: `$QGA_BIN` if set, else cargo's `qga` binary.
pub fn qga_bin() -> PathBuf {
    std::env::var_os("QGA_BIN")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_qga")), PathBuf::from)
}

/// Our agent as a [`Command`], reading no config file from `/etc` (its
/// `QGA_CONF` names a file that does not exist), for option tests.
pub fn qga_command() -> Command {
    let mut cmd = Command::new(qga_bin());
    cmd.env("QGA_CONF", "/nonexistent/qga-rs-tests.conf");
    cmd
}

/// A temp dir that is removed at the end; unique per process and call.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory whose name contains `tag`.
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("qga-it-{tag}-{}-{seq}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How to start one agent: `[prefix...] program -m unix-listen -p <dir>/qga.sock -t <dir>`.
pub struct Launch {
    /// The agent binary.
    pub program: OsString,
    /// The state dir (also a scratch dir for the test's files).
    pub dir: TempDir,
    /// A wrapper command run in front of the program (e.g. `unshare`).
    pub prefix: Vec<OsString>,
    /// Whether the agent's stderr is kept for [`Agent::stop`].
    pub keep_stderr: bool,
}

impl Launch {
    /// Our agent (see [`qga_bin`]) in a fresh state dir.
    pub fn ours(tag: &str) -> Launch {
        Launch::program(qga_bin(), tag)
    }

    /// Any agent binary in a fresh state dir.
    pub fn program(program: impl AsRef<OsStr>, tag: &str) -> Launch {
        Launch {
            program: program.as_ref().to_owned(),
            dir: TempDir::new(tag),
            prefix: Vec::new(),
            keep_stderr: false,
        }
    }

    /// Starts the agent and waits until it accepts connections.
    pub fn start(self) -> Agent {
        let sock = self.dir.join("qga.sock");
        let (first, rest) = match self.prefix.split_first() {
            Some((w, args)) => (
                w.clone(),
                [args, std::slice::from_ref(&self.program)].concat(),
            ),
            None => (self.program.clone(), Vec::new()),
        };
        let child = Command::new(&first)
            .args(rest)
            .env("QGA_CONF", self.dir.join("absent.conf"))
            .args(["-m", "unix-listen", "-p"])
            .arg(&sock)
            .arg("-t")
            .arg(&self.dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if self.keep_stderr {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {first:?}: {e}"));
        let mut agent = Agent {
            child,
            sock,
            dir: self.dir,
        };
        agent.wait_listening(&self.program);
        agent
    }
}

/// An agent process in unix-listen mode; killed (by its own handle) on drop.
pub struct Agent {
    child: Child,
    sock: PathBuf,
    /// The agent's state dir, also a scratch dir for the test's files.
    pub dir: TempDir,
}

impl Agent {
    /// Our agent (see [`qga_bin`]) with a config path that does not exist.
    pub fn start(tag: &str) -> Agent {
        Launch::ours(tag).start()
    }

    /// `program` (ours or `qemu-ga`) in a fresh state dir.
    pub fn start_program(program: impl AsRef<OsStr>, tag: &str) -> Agent {
        Launch::program(program, tag).start()
    }

    /// Polls until the socket accepts; the probe connection is closed at
    /// once (a client EOF, harmless).
    fn wait_listening(&mut self, program: &OsStr) {
        let deadline = Instant::now() + START_TIMEOUT;
        while std::os::unix::net::UnixStream::connect(&self.sock).is_err() {
            assert!(self.alive(), "{program:?} exited at startup");
            assert!(Instant::now() < deadline, "{program:?} did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The listening socket's path.
    pub fn sock(&self) -> &Path {
        &self.sock
    }

    /// A new client connection with bounded read and write timeouts.
    pub fn connect(&self) -> Conn {
        let stream = std::os::unix::net::UnixStream::connect(&self.sock)
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.sock.display()));
        Conn::new(stream)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id (for `/proc/<pid>/...` and signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the agent and returns what it wrote to stderr (empty unless
    /// started with [`Launch::keep_stderr`]).
    pub fn stop(mut self) -> String {
        use std::io::Read;
        let _ = self.child.kill();
        let mut text = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        let _ = self.child.wait();
        text
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes (a 64-bit LCG), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

/// Standard base64 with `=` padding, no line breaks.
pub fn b64_encode(data: &[u8]) -> String {
    Base64::encode_string(data)
}

/// Strict standard base64 decoding (padding required, no whitespace).
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    Base64::decode_vec(text).ok()
}

/// A `VmXxx:` figure of `/proc/<pid>/status`, in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Whether a path exists (for skip decisions).
pub fn exists(p: &str) -> bool {
    Path::new(p).exists()
}

/// Sends `SIGTERM` to `pid` through kill(1).
pub fn sigterm(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill -TERM {pid}");
}

#[test]
fn base64_round_trips() {
    for len in 0..10 {
        let data = pattern(len, 7);
        assert_eq!(b64_decode(&b64_encode(&data)), Some(data));
    }
    assert_eq!(b64_encode(b"hello"), "aGVsbG8=");
    assert_eq!(b64_decode("aGVsbG8"), None);
}

#[test]
fn qga_bin_comes_from_the_environment_when_set() {
    // Read-only check of the rule (tests run in parallel, so no set_var):
    // with QGA_BIN set, that path is used; otherwise cargo's binary.
    match std::env::var_os("QGA_BIN").filter(|p| !p.is_empty()) {
        Some(p) => assert_eq!(qga_bin(), PathBuf::from(p)),
        None => assert_eq!(qga_bin(), PathBuf::from(env!("CARGO_BIN_EXE_qga"))),
    }
    assert!(qga_bin().exists(), "{}", qga_bin().display());
}
