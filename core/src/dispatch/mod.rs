//! The agent: framer events in, replies out.
//!
//! [`Agent`] owns the framer, the platform, the session state and every
//! buffer; it allocates nothing. Three ways to drive it:
//!
//! * [`Agent::feed`]: push bytes you already read; replies go to a writer.
//! * [`Agent::poll`]: non-blocking, for a main loop (`nb::Result`).
//! * [`Agent::run`]: blocking, until the reader reports end of input.
//!
//! For each frame: envelope, command lookup (`CommandNotFound`), filter
//! (`has been disabled`), platform support (`not currently supported`),
//! arguments, handler; then `{"return": ..., "id": ...}` or
//! `{"error": {...}, "id": ...}`. `"return"`/`"error"` always come first.
//! Streamed arguments pass through the streaming stage ([`stream`]).
//! Only `feed`, `poll` and `run` are generic over the channel; everything
//! else writes to a `&mut dyn Sink`, so it is compiled once per platform.

mod error;
mod request;
mod route;
mod state;
pub mod stream;

pub use error::{ErrorClass, QgaError};
pub use state::SessionState;

use embedded_io::{Read, ReadReady, Write};

use crate::config::{DEFAULT_REQUEST_BUF, REPLY_BUF, SCRATCH};
use crate::platform::{self, FsfreezeStatus, Platform};
use crate::schema::{Command, CommandSet};
use crate::wire::reply::Channel;
use crate::wire::{Event, Framer};

use request::Engine;
use stream::Stage;

/// Bytes read per call in [`Agent::poll`] and [`Agent::run`].
const READ_CHUNK: usize = 256;

/// The QGA protocol engine. `N` is the request buffer size, `R` the reply
/// staging buffer and `S` the payload scratch (see [`crate::config`]):
/// larger `R` and `S` mean fewer, larger writes and reads on big payloads.
pub struct Agent<
    P: Platform,
    const N: usize = DEFAULT_REQUEST_BUF,
    const R: usize = REPLY_BUF,
    const S: usize = SCRATCH,
> {
    framer: Framer<N>,
    platform: P,
    state: SessionState,
    stage: Stage,
    reply: [u8; R],
    scratch: [u8; S],
}

impl<P: Platform, const N: usize, const R: usize, const S: usize> Agent<P, N, R, S> {
    /// An agent over `platform`. If the platform reports frozen
    /// filesystems, the agent starts frozen (protocol notes 4.3).
    pub fn new(platform: P) -> Self {
        let mut agent = Agent::new_thawed(platform);
        let frozen = agent.platform.fsfreeze().map(|f| f.status());
        agent
            .state
            .set_frozen(frozen == Some(Ok(FsfreezeStatus::Frozen)));
        agent
    }

    /// Like [`Agent::new`] without asking the platform whether filesystems
    /// are frozen; `const`, so firmware can build the agent in a `static`.
    pub const fn new_thawed(platform: P) -> Self {
        Agent {
            framer: Framer::new(),
            platform,
            state: SessionState::new(),
            stage: Stage::new(),
            reply: [0; R],
            scratch: [0; S],
        }
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The platform, mutably.
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// Sets qemu-ga's `--block-rpcs` and `--allow-rpcs` (`None`: no allow list).
    pub fn set_filters(&mut self, block: CommandSet, allow: Option<CommandSet>) {
        self.state.set_filters(block, allow);
    }

    /// Whether filesystems are frozen (only frozen-safe commands run).
    pub fn is_frozen(&self) -> bool {
        self.state.is_frozen()
    }

    /// Whether `cmd` would run now (what `guest-info` reports as `enabled`).
    pub fn is_enabled(&mut self, cmd: Command) -> bool {
        self.state.allows(cmd) && platform::supports(&mut self.platform, cmd)
    }

    /// Forgets any partial request. Call it when a new client connects, so
    /// no client inherits another's half-sent bytes (qemu-ga does not).
    pub fn reset_parser(&mut self) {
        self.framer.reset();
        self.stage.finish(&mut self.platform);
    }

    /// Feeds received bytes and writes every reply they complete.
    ///
    /// ```
    /// use qga_core::{platform::mock::MockPlatform, Agent};
    /// let mut agent: Agent<MockPlatform> = Agent::new(MockPlatform::new());
    /// let mut out = [0u8; 64];
    /// let mut w = &mut out[..];
    /// agent.feed(br#"{"execute":"guest-sync","arguments":{"id":7}}"#, &mut w).unwrap();
    /// let left = w.len();
    /// assert_eq!(&out[..64 - left], b"{\"return\": 7}\n");
    /// ```
    pub fn feed<W: Write>(&mut self, mut input: &[u8], out: &mut W) -> Result<(), W::Error> {
        let mut channel = Channel::new(out);
        let mut engine = Engine {
            platform: &mut self.platform,
            state: &mut self.state,
            stage: &mut self.stage,
            reply: &mut self.reply,
            scratch: &mut self.scratch,
            out: &mut channel,
        };
        while !input.is_empty() {
            let fed = self.framer.feed(input);
            input = fed.rest;
            let Some(event) = fed.event else { break };
            let frame = matches!(event, Event::Frame(_));
            engine.event(event);
            if frame {
                // As `wipe` for what was read: no secret stays behind.
                self.framer.wipe_frame();
            }
            if !engine.out.ok() {
                break;
            }
        }
        channel.take_error()
    }

    /// Non-blocking step: reads what `io` has ready, feeds it and writes the
    /// replies. `WouldBlock` when nothing was ready.
    pub fn poll<T: Read + ReadReady + Write>(&mut self, io: &mut T) -> nb::Result<(), T::Error> {
        if !io.read_ready()? {
            return Err(nb::Error::WouldBlock);
        }
        let mut buf = [0u8; READ_CHUNK];
        let n = io.read(&mut buf)?;
        let fed = self.feed(&buf[..n], io);
        wipe(&mut buf[..n]);
        fed?;
        Ok(())
    }

    /// Blocking loop: reads, feeds and replies until `read` returns 0.
    pub fn run<T: Read + Write>(&mut self, io: &mut T) -> Result<(), T::Error> {
        let mut buf = [0u8; READ_CHUNK];
        loop {
            let n = io.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            let fed = self.feed(&buf[..n], io);
            wipe(&mut buf[..n]);
            fed?;
        }
    }
}

/// Zeroes bytes read from the host once they are fed: a request's secret
/// (a password) is not left behind in them.
fn wipe(read: &mut [u8]) {
    read.fill(0);
    // The stores must happen even where the buffer is about to die.
    core::hint::black_box(read);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::mock::MockPlatform;

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_password_does_not_stay_in_the_request_buffer() {
        // "hunter2-is-my-password", accepted and refused (bad user) alike.
        let b64 = b"aHVudGVyMi1pcy1teS1wYXNzd29yZA==";
        for (user, reply) in [
            ("root", &b"{\"return\": {}}\n"[..]),
            ("nobody", b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"child process has failed to set user password: exit status 1\"}}\n"),
        ] {
            let mut agent: Agent<MockPlatform, 512> = Agent::new(MockPlatform::new());
            let mut req = heapless::Vec::<u8, 256>::new();
            req.extend_from_slice(br#"{"execute":"guest-set-user-password","arguments":{"username":""#).unwrap();
            req.extend_from_slice(user.as_bytes()).unwrap();
            req.extend_from_slice(br#"","password":""#).unwrap();
            req.extend_from_slice(b64).unwrap();
            req.extend_from_slice(br#"","crypted":false}}"#).unwrap();
            let mut out = [0u8; 256];
            let mut w = &mut out[..];
            agent.feed(&req, &mut w).unwrap();
            let left = w.len();
            assert_eq!(&out[..256 - left], reply);
            assert!(!contains(agent.framer.buffer(), b64), "{user}: base64 left");
            assert!(!contains(agent.framer.buffer(), b"password"), "{user}: request left");
        }
    }
}
