//! Helpers shared by the fuzz targets: an output sink, input splitting, the
//! reply-line checks and a small grammar of QGA requests for `agent`.

use arbitrary::Arbitrary;
use qga_core::platform::mock::MockPlatform;
use qga_core::schema::COMMANDS;
use qga_core::Agent;
use serde_json::{json, Value};

/// The agent every target drives: the mock platform, a 512-byte request buffer.
pub type FuzzAgent = Agent<MockPlatform, 512>;

/// A fresh boxed agent (its buffers are too large for a fuzzer's stack).
pub fn agent() -> Box<FuzzAgent> {
    Box::new(Agent::new(MockPlatform::new()))
}

/// Bytes kept by a [`Sink`]; `guest-file-read` of `/dev/zero` can ask for
/// 64 MiB of reply, which is hashed and counted but not kept.
pub const KEEP: usize = 1 << 20;

/// An infallible writer that keeps the first [`KEEP`] bytes and hashes all.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sink {
    /// The first bytes written.
    pub kept: Vec<u8>,
    /// All bytes written.
    pub total: u64,
    /// FNV-1a of all bytes written (independent of how writes were split).
    pub hash: u64,
}

impl Sink {
    /// An empty sink.
    pub fn new() -> Sink {
        Sink {
            hash: 0xcbf2_9ce4_8422_2325,
            ..Sink::default()
        }
    }

    /// Whether everything written was kept.
    pub fn complete(&self) -> bool {
        self.total as usize == self.kept.len()
    }
}

impl embedded_io::ErrorType for Sink {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let room = KEEP.saturating_sub(self.kept.len()).min(buf.len());
        self.kept.extend_from_slice(&buf[..room]);
        for &b in buf {
            self.hash = (self.hash ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        self.total += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Splits `data` into a header-chosen list of piece lengths and the rest:
/// byte 0 is the number of cuts (mod 32), each following byte a piece length.
pub fn cuts(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let n = data.first().map_or(0, |&b| (b % 32) as usize);
    let header = data.len().min(1 + n);
    let lens = data[1.min(header)..header].iter().map(|&b| b as usize);
    (lens.collect(), &data[header..])
}

/// `rest` in pieces of the given lengths (the last piece takes what is left).
pub fn pieces<'a>(lens: &[usize], mut rest: &'a [u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    for &n in lens {
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
    }
    out.push(rest);
    out
}

/// Parses one JSON value. `Ok(None)`: valid, but it holds a number serde_json
/// cannot represent (`1e400`: qemu reads it as infinity, we echo it as
/// written); then only the syntax is checked (`RawValue` converts no number).
pub fn parse_json(b: &[u8]) -> Result<Option<Value>, String> {
    match serde_json::from_slice::<Value>(b) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.to_string().starts_with("number out of range") => {
            serde_json::from_slice::<&serde_json::value::RawValue>(b)
                .map(|_| None)
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Checks every reply line: valid JSON, an object whose first member is
/// `return` or `error` (one 0xFF may precede it); returns the parsed lines
/// (`Value::Null` for a line with a number out of serde_json's range).
pub fn check_lines(out: &[u8]) -> Vec<Value> {
    if out.is_empty() {
        return Vec::new();
    }
    assert_eq!(out.last(), Some(&b'\n'), "reply not ended by LF: {out:?}");
    let body = &out[..out.len() - 1];
    body.split(|&b| b == b'\n')
        .map(|line| {
            let line = line.strip_prefix(b"\xff").unwrap_or(line);
            let text = String::from_utf8_lossy(line);
            let v = parse_json(line).unwrap_or_else(|e| panic!("{e}: {text}"));
            let first_ok = line.starts_with(b"{\"return\": ") || line.starts_with(b"{\"error\": ");
            assert!(
                v.as_ref().is_none_or(Value::is_object) && first_ok,
                "bad first member: {text}"
            );
            v.unwrap_or(Value::Null)
        })
        .collect()
}

// ---- the request grammar of the `agent` target ----------------------------

/// One thing a client sends.
#[derive(Arbitrary, Debug)]
pub enum Item {
    /// A well-formed request.
    Request(Request),
    /// Raw bytes (may leave the agent mid-request).
    Garbage(Vec<u8>),
    /// A 0xFF resynchronisation byte.
    Resync,
}

/// A request: a command (or an unknown name), arguments and an `id`.
#[derive(Arbitrary, Debug)]
pub struct Request {
    cmd: u8,
    args: Option<Vec<(u8, Val)>>,
    id: Option<Val>,
    order: u8,
    spaced: bool,
}

/// An argument or `id` value.
#[derive(Arbitrary, Debug)]
pub enum Val {
    /// A small integer (handles, counts, pids).
    Small(u8),
    /// Any integer.
    Int(i64),
    /// A float (non-finite ones become `null`).
    Float(f64),
    /// A string that means something to some command.
    Known(u8),
    /// Any string.
    Text(String),
    /// `true`/`false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An array.
    List(Vec<Val>),
    /// An object with argument-like keys.
    Obj(Vec<(u8, Val)>),
}

const ARGS: &[&str] = &[
    "handle",
    "count",
    "path",
    "mode",
    "buf-b64",
    "whence",
    "offset",
    "id",
    "time",
    "pid",
    "input-data",
    "capture-output",
    "arg",
    "env",
    "username",
    "password",
    "crypted",
    "keys",
    "reset",
    "vcpus",
    "logical-id",
    "online",
    "mem-blks",
    "phys-index",
    "mountpoints",
    "minimum",
    "can-offline",
    "x",
];

const STRS: &[&str] = &[
    "/dev/zero",
    "/tmp/a",
    "r",
    "r+",
    "w",
    "w+",
    "a",
    "set",
    "cur",
    "end",
    "aGVsbG8=",
    "aGVs\nbG8",
    "QUJD====",
    "merged",
    "separated",
    "none",
    "powerdown",
    "reboot",
    "halt",
    "root",
    "ssh-ed25519 AAAAC3Nz x@y",
    "cat",
    "",
    "\u{e9}\u{1F600}",
    "a\\b\"c",
];

impl Val {
    fn json(&self, depth: u32) -> Value {
        if depth > 4 {
            return Value::Null;
        }
        match self {
            Val::Small(n) => json!(n),
            Val::Int(n) => json!(n),
            Val::Float(f) => json!(f),
            Val::Known(i) => json!(STRS[*i as usize % STRS.len()]),
            Val::Text(s) => json!(s),
            Val::Bool(b) => json!(b),
            Val::Null => Value::Null,
            Val::List(v) => Value::Array(v.iter().map(|e| e.json(depth + 1)).collect()),
            Val::Obj(m) => Value::Object(object(m, depth + 1)),
        }
    }
}

fn object(m: &[(u8, Val)], depth: u32) -> serde_json::Map<String, Value> {
    m.iter()
        .map(|(k, v)| (ARGS[*k as usize % ARGS.len()].to_string(), v.json(depth)))
        .collect()
}

impl Request {
    /// The command name (one in 44 is unknown).
    pub fn name(&self) -> &'static str {
        COMMANDS
            .get(self.cmd as usize % (COMMANDS.len() + 1))
            .map_or("guest-nonesuch", |c| c.name)
    }

    /// The request's bytes and its `id`.
    pub fn render(&self) -> (Vec<u8>, Option<Value>) {
        let mut members = vec![format!(r#""execute":"{}""#, self.name())];
        if let Some(args) = &self.args {
            members.push(format!(r#""arguments":{}"#, Value::Object(object(args, 1))));
        }
        let id = self.id.as_ref().map(|v| v.json(1));
        if let Some(id) = &id {
            members.push(format!(r#""id":{id}"#));
        }
        let n = members.len();
        members.rotate_left(self.order as usize % n);
        let sep = if self.spaced { ", " } else { "," };
        let text = format!(
            "{{{}}}{}",
            members.join(sep),
            if self.spaced { "\n" } else { "" }
        );
        (text.into_bytes(), id)
    }
}
