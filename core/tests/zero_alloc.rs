//! The request path allocates nothing: 10,000 mixed requests (file
//! writes and reads included) through the agent with a counting global
//! allocator, after set-up, make zero heap allocations.

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

/// A writer that counts reply bytes and lines without storing them.
#[derive(Default)]
struct Sink {
    bytes: usize,
    lines: usize,
}

impl embedded_io::ErrorType for Sink {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.bytes += buf.len();
        self.lines += buf.iter().filter(|&&b| b == b'\n').count();
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

const REQUESTS: &[&[u8]] = &[
    b"\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":12345}}",
    br#"{"execute":"guest-ping","id":{"seq":[1,2,"x"]}}"#,
    br#"{"execute":"guest-info"}"#,
    br#"{"execute":"guest-file-open","arguments":{"path":"/f","mode":"w+"}}"#,
    br#"{"execute":"guest-file-write","arguments":{"handle":1000,"buf-b64":"aGVsbG8gd29y\nbGQ="}}"#,
    br#"{"execute":"guest-file-seek","arguments":{"handle":1000,"offset":0,"whence":"set"}}"#,
    br#"{"execute":"guest-file-read","arguments":{"handle":1000,"count":64}}"#,
    br#"{"execute":"guest-file-close","arguments":{"handle":1000}}"#,
    br#"{"execute":"guest-exec","arguments":{"path":"cat","arg":["-"],"input-data":"aGk=","capture-output":true}}"#,
    br#"{"execute":"guest-get-osinfo"}"#,
    br#"{"execute":"guest-network-get-interfaces"}"#,
    br#"{"execute":"guest-nope","arguments":{"x":"\u00e9"}}"#,
    b"{\"execute\":\"guest-ping\",\x01",
    br#"{"execute":"guest-get-users"}"#,
];

#[test]
fn ten_thousand_mixed_requests_allocate_nothing() {
    let mut agent: Box<Agent<MockPlatform>> = Box::new(Agent::new(MockPlatform::new()));
    let mut sink = Sink::default();
    let before = ALLOCATIONS.with(Cell::get);
    for i in 0..10_000 {
        let req = REQUESTS[i % REQUESTS.len()];
        let _ = agent.feed(req, &mut sink);
    }
    let after = ALLOCATIONS.with(Cell::get);
    assert!(sink.lines >= 10_000, "replies: {}", sink.lines);
    assert_eq!(after - before, 0, "heap allocations on the request path");
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
