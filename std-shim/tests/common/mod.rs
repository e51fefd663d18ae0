//! Shared helpers for the integration tests that drive a real agent process
//! (ours, or QEMU's `qemu-ga`) over a unix-listen socket: temp dirs, a child
//! process killed on drop, a line-oriented client with read timeouts, a small
//! base64 codec and `/proc` memory figures.
//!
//! Every test binary uses a different subset, hence the `dead_code` allow.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Our agent binary.
pub const QGA: &str = env!("CARGO_BIN_EXE_qga");

/// QEMU's reference agent (Debian package `qemu-guest-agent`).
pub const QEMU_GA: &str = "/usr/sbin/qemu-ga";

/// Read timeout for ordinary replies.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// A temp dir that is removed at the end; unique per process and call.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory whose name contains `tag`.
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("qga-it-{tag}-{}-{seq}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
    /// Our binary, with a config path that does not exist (so /etc is not read).
    pub fn start(tag: &str) -> Agent {
        Agent::start_program(QGA, tag)
    }

    /// `program -m unix-listen -p <dir>/qga.sock -t <dir>`, waiting until it
    /// accepts connections.
    pub fn start_program(program: &str, tag: &str) -> Agent {
        let dir = TempDir::new(tag);
        let sock = dir.join("qga.sock");
        let child = Command::new(program)
            .env("QGA_CONF", dir.join("absent.conf"))
            .args(["-m", "unix-listen", "-p"])
            .arg(&sock)
            .arg("-t")
            .arg(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let mut agent = Agent { child, sock, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        // The probe connection is closed at once: a client EOF, harmless.
        while UnixStream::connect(&agent.sock).is_err() {
            assert!(agent.alive(), "{program} exited at startup");
            assert!(Instant::now() < deadline, "{program} did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    /// A new client connection with bounded read and write timeouts.
    pub fn connect(&self) -> Conn {
        Conn::new(UnixStream::connect(&self.sock).expect("connect"))
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client connection: raw writes, replies read line by line.
pub struct Conn {
    /// The socket (for writes and timeouts).
    pub stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Conn {
    /// Wraps a connected stream, setting timeouts on it.
    pub fn new(stream: UnixStream) -> Conn {
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("timeout");
        stream
            .set_write_timeout(Some(REPLY_TIMEOUT))
            .expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Conn { stream, reader }
    }

    /// Changes the read timeout (for very large replies).
    pub fn read_timeout(&self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).expect("timeout");
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to agent");
    }

    /// One raw reply line including its `\n`; fails on EOF or timeout.
    pub fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        let r = self.reader.read_until(b'\n', &mut line);
        assert!(
            r.is_ok() && line.ends_with(b"\n"),
            "no complete reply line ({r:?}): {:?}",
            String::from_utf8_lossy(&line)
        );
        line
    }

    /// One reply line, parsed.
    pub fn json(&mut self) -> Value {
        let line = self.line();
        serde_json::from_slice(&line)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {:?}", String::from_utf8_lossy(&line)))
    }

    /// Sends `text` and returns the parsed reply line.
    pub fn ask(&mut self, text: &str) -> Value {
        self.send(text.as_bytes());
        self.json()
    }

    /// Reads raw bytes up to and including the next 0xFF; returns what came
    /// before it.
    pub fn skip_to_ff(&mut self) -> Vec<u8> {
        let mut before = Vec::new();
        let r = self.reader.read_until(0xFF, &mut before);
        assert!(
            r.is_ok() && before.last() == Some(&0xFF),
            "no 0xFF ({r:?}): {:?}",
            String::from_utf8_lossy(&before)
        );
        before.pop();
        before
    }

    /// The recommended resync: 0xFF + `guest-sync-delimited`, skipping to
    /// the 0xFF (and past stale replies) until our id comes back. Returns
    /// every byte that was skipped.
    pub fn resync(&mut self, id: i64) -> Vec<u8> {
        self.send(&delimited_sync(id));
        let mut skipped = Vec::new();
        loop {
            skipped.extend(self.skip_to_ff());
            let reply = self.json();
            if reply == serde_json::json!({ "return": id }) {
                return skipped;
            }
            skipped.extend(reply.to_string().bytes());
        }
    }

    /// Reads until EOF or timeout; for "no more output" checks.
    pub fn drain(&mut self, wait: Duration) -> Vec<u8> {
        self.read_timeout(wait);
        let mut rest = Vec::new();
        let _ = self.reader.read_to_end(&mut rest);
        self.read_timeout(REPLY_TIMEOUT);
        rest
    }
}

/// `0xFF{"execute":"guest-sync-delimited","arguments":{"id":<id>}}`.
pub fn delimited_sync(id: i64) -> Vec<u8> {
    let mut v = vec![0xFF];
    v.extend(
        format!("{{\"execute\":\"guest-sync-delimited\",\"arguments\":{{\"id\":{id}}}}}").bytes(),
    );
    v
}

/// `{"execute":<name>,"arguments":<args>}` as compact JSON text.
pub fn request(name: &str, args: Value) -> String {
    serde_json::json!({ "execute": name, "arguments": args }).to_string()
}

/// The `return` member of a success reply (fails on an error reply).
pub fn ret(reply: &Value) -> &Value {
    reply
        .get("return")
        .unwrap_or_else(|| panic!("not a success reply: {reply}"))
}

/// `(class, desc)` of an error reply (fails on a success reply).
pub fn err(reply: &Value) -> (String, String) {
    let e = reply
        .get("error")
        .unwrap_or_else(|| panic!("not an error reply: {reply}"));
    let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
    (text("class"), text("desc"))
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

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding, no line breaks.
pub fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict standard base64 decoding (padding required, no whitespace).
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if !t.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| B64.iter().position(|&x| x == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(t.len() / 4 * 3);
    for (i, q) in t.chunks(4).enumerate() {
        let last = i + 1 == t.len() / 4;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    Some(out)
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

#[test]
fn base64_round_trips() {
    for len in 0..10 {
        let data = pattern(len, 7);
        assert_eq!(b64_decode(&b64_encode(&data)), Some(data));
    }
    assert_eq!(b64_encode(b"hello"), "aGVsbG8=");
    assert_eq!(b64_decode("aGVsbG8"), None);
}
