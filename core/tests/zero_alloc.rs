//! The request path allocates nothing: rounds of requests covering every
//! command family (through a mock that succeeds), streamed payloads past
//! the request buffer, large reads and exec output, ssh keys, fsfreeze,
//! set-vcpus and limit errors run through the agent with a counting global
//! allocator, after set-up, and make zero heap allocations. Each request
//! uses the handle or pid it was given and its reply's kind is checked.

use core::fmt::Write as _;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use qga_core::platform::mock::MockPlatform;
use qga_core::Agent;

struct Counting;

thread_local! {
    /// Allocations made by this thread (other test threads don't count).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarding to the system allocator with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What a request must get back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Return,
    Error,
    Nothing,
}

/// A writer that classifies reply lines and keeps the last one, in place.
struct Sink {
    line: [u8; 256],
    len: usize,
    /// Length of the last complete line.
    last: usize,
    bytes: usize,
    replies: [Option<Kind>; 4],
    count: usize,
}

impl Sink {
    fn new() -> Sink {
        Sink {
            line: [0; 256],
            len: 0,
            last: 0,
            bytes: 0,
            replies: [None; 4],
            count: 0,
        }
    }

    fn end_line(&mut self) {
        let l = &self.line[..self.len.min(self.line.len())];
        let l = l.strip_prefix(&[0xFF]).unwrap_or(l);
        let kind = if l.starts_with(b"{\"return\": ") {
            Kind::Return
        } else if l.starts_with(b"{\"error\": ") {
            Kind::Error
        } else {
            Kind::Nothing
        };
        if self.count < self.replies.len() {
            self.replies[self.count] = Some(kind);
        }
        self.count += 1;
    }

    /// The number after `"return": ` (or `"pid": `) in the last line.
    fn number(&self) -> i64 {
        let l = &self.line[..self.last.min(self.line.len())];
        let at = l.iter().position(u8::is_ascii_digit).unwrap_or(l.len());
        let digits = l[at..].iter().take_while(|b| b.is_ascii_digit());
        digits.fold(0, |n, &d| n * 10 + i64::from(d - b'0'))
    }

    fn take(&mut self) -> (usize, Option<Kind>) {
        let r = (self.count, self.replies[0]);
        self.count = 0;
        self.replies = [None; 4];
        r
    }
}

impl embedded_io::ErrorType for Sink {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        for &b in buf {
            if b == b'\n' {
                self.end_line();
                self.last = self.len;
                self.len = 0;
            } else {
                if self.len < self.line.len() {
                    self.line[self.len] = b;
                }
                self.len += 1;
            }
        }
        self.bytes += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

type Big = Agent<MockPlatform>;

struct Run<'p> {
    agent: Box<Big>,
    sink: Sink,
    payload: &'p [u8],
    requests: usize,
}

impl Run<'_> {
    /// Feeds the pieces of one request and checks what came back.
    fn ask(&mut self, pieces: &[&[u8]], want: Kind) -> i64 {
        for p in pieces {
            let Ok(()) = self.agent.feed(p, &mut self.sink);
        }
        let (n, kind) = self.sink.take();
        match want {
            Kind::Nothing => assert_eq!(n, 0, "request {}", self.requests),
            _ => assert_eq!((n, kind), (1, Some(want)), "request {}", self.requests),
        }
        self.requests += 1;
        self.sink.number()
    }

    fn one(&mut self, req: &str, want: Kind) -> i64 {
        self.ask(&[req.as_bytes()], want)
    }
}

/// Formats into a fixed buffer (no allocation).
macro_rules! req {
    ($($t:tt)*) => {{
        let mut s = heapless::String::<256>::new();
        let _ = write!(s, $($t)*);
        s
    }};
}

fn round(r: &mut Run<'_>) {
    use Kind::*;
    let payload = r.payload;
    r.ask(
        &[b"\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":12345}}"],
        Return,
    );
    r.one(r#"{"execute":"guest-ping","id":{"seq":[1,2,"x"]}}"#, Return);
    r.one(r#"{"execute":"guest-info"}"#, Return);
    // Files: the handle the agent gives, inline and streamed writes, reads.
    let h = r.one(
        r#"{"execute":"guest-file-open","arguments":{"path":"/f","mode":"w+"}}"#,
        Return,
    );
    r.one(&req!(r#"{{"execute":"guest-file-write","arguments":{{"handle":{h},"buf-b64":"aGVsbG8gd29y\nbGQ="}}}}"#), Return);
    let head = req!(r#"{{"execute":"guest-file-write","arguments":{{"handle":{h},"buf-b64":""#);
    r.ask(&[head.as_bytes(), payload, b"\"}}"], Return);
    r.one(&req!(r#"{{"execute":"guest-file-seek","arguments":{{"handle":{h},"offset":0,"whence":"set"}}}}"#), Return);
    r.one(
        &req!(r#"{{"execute":"guest-file-read","arguments":{{"handle":{h},"count":64}}}}"#),
        Return,
    );
    r.one(
        &req!(r#"{{"execute":"guest-file-flush","arguments":{{"handle":{h}}}}}"#),
        Return,
    );
    r.one(
        &req!(r#"{{"execute":"guest-file-close","arguments":{{"handle":{h}}}}}"#),
        Return,
    );
    r.one(
        &req!(r#"{{"execute":"guest-file-close","arguments":{{"handle":{h}}}}}"#),
        Error,
    );
    let z = r.one(
        r#"{"execute":"guest-file-open","arguments":{"path":"/dev/zero"}}"#,
        Return,
    );
    r.one(
        &req!(r#"{{"execute":"guest-file-read","arguments":{{"handle":{z},"count":200000}}}}"#),
        Return,
    );
    // Processes: streamed input, output read back.
    let exec = br#"{"execute":"guest-exec","arguments":{"path":"cat","arg":["-"],"capture-output":true,"input-data":""#;
    let pid = r.ask(&[exec, &payload[..8000], b"\"}}"], Return);
    r.one(
        &req!(r#"{{"execute":"guest-exec-status","arguments":{{"pid":{pid}}}}}"#),
        Return,
    );
    r.one(
        &req!(r#"{{"execute":"guest-exec-status","arguments":{{"pid":{pid}}}}}"#),
        Error,
    );
    for cmd in [
        "guest-get-osinfo",
        "guest-get-host-name",
        "guest-get-timezone",
        "guest-get-users",
        "guest-get-time",
        "guest-set-time",
        "guest-network-get-interfaces",
        "guest-network-get-route",
        "guest-get-vcpus",
        "guest-get-memory-blocks",
        "guest-get-memory-block-info",
        "guest-get-fsinfo",
        "guest-get-disks",
        "guest-get-diskstats",
        "guest-get-cpustats",
        "guest-get-load",
        "guest-fstrim",
    ] {
        r.one(&req!(r#"{{"execute":"{cmd}"}}"#), Return);
    }
    r.one(
        r#"{"execute":"guest-set-vcpus","arguments":{"vcpus":[{"logical-id":1,"online":false}]}}"#,
        Return,
    );
    r.one(
        r#"{"execute":"guest-set-vcpus","arguments":{"vcpus":[{"logical-id":0,"online":false}]}}"#,
        Error,
    );
    r.one(r#"{"execute":"guest-set-memory-blocks","arguments":{"mem-blks":[{"phys-index":1,"online":true}]}}"#, Return);
    r.one(r#"{"execute":"guest-set-user-password","arguments":{"username":"root","password":"cGFzcw==","crypted":false}}"#, Return);
    r.one(r#"{"execute":"guest-ssh-add-authorized-keys","arguments":{"username":"root","keys":["ssh-ed25519 AAAA a@b"],"reset":true}}"#, Return);
    r.one(
        r#"{"execute":"guest-ssh-get-authorized-keys","arguments":{"username":"root"}}"#,
        Return,
    );
    r.one(r#"{"execute":"guest-ssh-remove-authorized-keys","arguments":{"username":"root","keys":["ssh-ed25519 AAAA a@b"]}}"#, Return);
    r.one(r##"{"execute":"guest-ssh-add-authorized-keys","arguments":{"username":"root","keys":["# no"]}}"##, Error);
    // fsfreeze gates commands.
    r.one(r#"{"execute":"guest-fsfreeze-freeze"}"#, Return);
    r.one(r#"{"execute":"guest-fsfreeze-status"}"#, Return);
    r.one(r#"{"execute":"guest-get-time"}"#, Error);
    r.one(r#"{"execute":"guest-fsfreeze-thaw"}"#, Return);
    r.one(
        r#"{"execute":"guest-shutdown","arguments":{"mode":"reboot"}}"#,
        Nothing,
    );
    r.one(r#"{"execute":"guest-suspend-ram"}"#, Error);
    // Limits and bad input.
    r.ask(&[&[b'['; 65], &[b']'; 65]], Error);
    r.ask(
        &[
            br#"{"execute":"guest-ping","id":""#,
            &payload[..5000],
            b"\"}",
        ],
        Error,
    );
    r.one(
        r#"{"execute":"guest-nope","arguments":{"x":"\u00e9"}}"#,
        Error,
    );
    r.ask(&[b"{\"execute\":\"guest-ping\",\x01"], Error);
}

#[test]
fn rounds_of_every_command_family_allocate_nothing() {
    let payload = "QUJD".repeat(5000).into_bytes(); // 20,000 characters
    let mut r = Run {
        agent: Box::new(Agent::new(MockPlatform::new())),
        sink: Sink::new(),
        payload: &payload,
        requests: 0,
    };
    round(&mut r); // warm-up outside the count (nothing should allocate anyway)
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..100 {
        round(&mut r);
    }
    let after = ALLOCATIONS.with(Cell::get);
    assert_eq!(after - before, 0, "heap allocations on the request path");
    assert!(r.requests > 100 * 50, "{}", r.requests);
    assert!(
        r.sink.bytes > 100 * 200_000,
        "large replies streamed: {}",
        r.sink.bytes
    );
    let f = r.agent.platform().fs.contents("/f").map(<[u8]>::len);
    assert_eq!(
        f,
        Some(11 + 15_000),
        "inline then streamed write, at the handle given"
    );
}

#[test]
fn agent_size_with_default_buffers() {
    // Reported in the README; printed so `cargo test -- --nocapture` shows it.
    let size = std::mem::size_of::<Agent<MockPlatform>>() - std::mem::size_of::<MockPlatform>();
    println!("size_of Agent<P> minus P, default buffers: {size} bytes");
    assert!(size < 8 * 1024, "{size}");
}

/// The agent can be built at compile time (firmware keeps it in a `static`).
static CONST_AGENT: Agent<MockPlatform, 64> = Agent::new_thawed(MockPlatform::new());

#[test]
fn agent_builds_in_a_static() {
    assert!(!CONST_AGENT.is_frozen());
}

#[test]
fn the_counter_sees_allocations() {
    let before = ALLOCATIONS.with(Cell::get);
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(ALLOCATIONS.with(Cell::get) > before, "{}", v.len());
}
