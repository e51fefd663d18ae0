//! The test client: raw writes, replies read one `\n`-terminated line at a
//! time, every read bounded by a timeout; plus request/reply helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::Value;

use super::REPLY_TIMEOUT;

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

    /// One reply line with all blanks removed (when spacing is not the point).
    pub fn compact_line(&mut self) -> String {
        String::from_utf8_lossy(&self.line())
            .split_whitespace()
            .collect()
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
