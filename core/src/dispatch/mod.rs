//! The agent: framer events in, replies out.
//!
//! [`Agent`] owns the framer, the platform, the command filter and every
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

mod error;
mod route;

pub use error::{ErrorClass, QgaError};

use embedded_io::{Read, ReadReady, Write};

use crate::commands::{sync::enabled, Arena, Args, Cx, Done, Filter, Payload};
use crate::config::{DEFAULT_REQUEST_BUF, REPLY_BUF, SCRATCH};
use crate::platform::{self, FsfreezeStatus, Platform};
use crate::schema::{Command, CommandSet};
use crate::wire::envelope::{self, Envelope};
use crate::wire::reply::ReplyWriter;
use crate::wire::{Event, Frame, Framer};

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
    session: Session<P, R, S>,
}

/// Everything but the framer, so events borrowing the framer can be handled.
struct Session<P: Platform, const R: usize, const S: usize> {
    platform: P,
    filter: Filter,
    stage: [u8; R],
    scratch: [u8; S],
    payload: Payload,
}

impl<P: Platform, const N: usize, const R: usize, const S: usize> Agent<P, N, R, S> {
    /// An agent over `platform`. If the platform reports frozen
    /// filesystems, the agent starts frozen (protocol notes 4.3).
    pub fn new(platform: P) -> Self {
        let mut agent = Agent::new_thawed(platform);
        agent.session.filter.frozen = agent.platform_frozen();
        agent
    }

    /// Like [`Agent::new`] without asking the platform whether filesystems
    /// are frozen; `const`, so firmware can build the agent in a `static`.
    pub const fn new_thawed(platform: P) -> Self {
        Agent {
            framer: Framer::new(),
            session: Session {
                platform,
                filter: Filter::new(),
                stage: [0; R],
                scratch: [0; S],
                payload: Payload::new(),
            },
        }
    }

    fn platform_frozen(&mut self) -> bool {
        let p = &mut self.session.platform;
        p.supports(Command::GuestFsfreezeStatus)
            && p.fsfreeze_status() == Ok(FsfreezeStatus::Frozen)
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.session.platform
    }

    /// The platform, mutably.
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.session.platform
    }

    /// Sets qemu-ga's `--block-rpcs` and `--allow-rpcs` (`None`: no allow list).
    pub fn set_filters(&mut self, block: CommandSet, allow: Option<CommandSet>) {
        self.session.filter.block = block;
        self.session.filter.allow = allow;
    }

    /// Whether filesystems are frozen (only frozen-safe commands run).
    pub fn is_frozen(&self) -> bool {
        self.session.filter.frozen
    }

    /// Whether `cmd` would run now (what `guest-info` reports as `enabled`).
    pub fn is_enabled(&self, cmd: Command) -> bool {
        enabled(cmd, &self.session.filter, &self.session.platform)
    }

    /// Forgets any partial request. Call it when a new client connects, so
    /// no client inherits another's half-sent bytes (qemu-ga does not).
    pub fn reset_parser(&mut self) {
        self.framer.reset();
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
        loop {
            let (used, event) = self.framer.feed(input);
            input = &input[used..];
            let s = &mut self.session;
            match event {
                None => return Ok(()),
                Some(Event::Frame(frame)) => s.request(frame, out)?,
                Some(Event::Error(e)) => s.error_reply(&QgaError::Parse(e), None, out)?,
                Some(Event::StreamStart(key)) => {
                    let allowed = enabled(Command::GuestFileWrite, &s.filter, &s.platform);
                    s.payload
                        .start(key, self.framer.partial(), allowed, &mut s.platform);
                }
                Some(Event::StreamData(text)) => {
                    s.payload.data(text, &mut s.platform, &mut s.scratch)
                }
                Some(Event::StreamEnd) => s.payload.end(&mut s.platform, &mut s.scratch),
            }
        }
    }

    /// Non-blocking step: reads what `io` has ready, feeds it and writes the
    /// replies. `WouldBlock` when nothing was ready.
    pub fn poll<T: Read + ReadReady + Write>(&mut self, io: &mut T) -> nb::Result<(), T::Error> {
        if !io.read_ready()? {
            return Err(nb::Error::WouldBlock);
        }
        let mut buf = [0u8; READ_CHUNK];
        let n = io.read(&mut buf)?;
        self.feed(&buf[..n], io)?;
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
            self.feed(&buf[..n], io)?;
        }
    }
}

impl<P: Platform, const R: usize, const S: usize> Session<P, R, S> {
    /// Answers one complete frame.
    fn request<W: Write>(&mut self, frame: Frame<'_>, out: &mut W) -> Result<(), W::Error> {
        let env = match envelope::parse(frame.json) {
            Ok(env) => env,
            Err(e) => {
                let id = if e.carries_id() {
                    envelope::id_of(frame.json)
                } else {
                    None
                };
                return self.error_reply(&QgaError::Envelope(e), id, out);
            }
        };
        let cmd = match self.admit(&env) {
            Ok(cmd) => cmd,
            Err(e) => return self.error_reply(&e, env.id, out),
        };
        crate::fmt::debug!("request {=str}", cmd.name());
        let mut arena = Arena::new(frame.arena);
        match Args::new(env.arguments, &mut arena) {
            Ok(mut args) => self.execute(cmd, &env, &mut args, frame.streamed, out),
            Err(e) => self.error_reply(&QgaError::Command(e.into()), env.id, out),
        }
    }

    /// Looks the command up and checks that it may run.
    fn admit<'a>(&self, env: &Envelope<'a>) -> Result<Command, QgaError<'a>> {
        let cmd = Command::from_name(env.execute).ok_or(QgaError::NotFound(env.execute))?;
        if !self.filter.allows(cmd) {
            return Err(QgaError::Disabled(cmd.name()));
        }
        if !cmd.info().builtin && !self.platform.supports(cmd) {
            return Err(QgaError::Command(platform::Error::Unsupported.into()));
        }
        Ok(cmd)
    }

    /// Runs the handler inside the reply envelope.
    fn execute<W: Write>(
        &mut self,
        cmd: Command,
        env: &Envelope<'_>,
        args: &mut Args<'_, '_>,
        streamed: Option<crate::wire::StreamKey>,
        out: &mut W,
    ) -> Result<(), W::Error> {
        let mut w = ReplyWriter::new(out, &mut self.stage);
        if cmd == Command::GuestSyncDelimited {
            w.sentinel();
        }
        w.open_object();
        w.key("return");
        let mut cx = Cx {
            platform: &mut self.platform,
            w,
            scratch: &mut self.scratch,
            payload: &mut self.payload,
            streamed,
            filter: &mut self.filter,
        };
        let outcome = route::route(cmd, &mut cx, args);
        let mut w = cx.w;
        match outcome {
            Ok(Done::Reply) => {
                append_id(&mut w, env.id);
                w.finish()
            }
            Ok(Done::NoReply) => {
                w.discard();
                Ok(())
            }
            Err(e) if w.discard() => write_error(w, &QgaError::Command(e), env.id),
            // Part of the reply is already out: end the line so the client
            // sees a broken reply (never a silently short one) and resyncs.
            Err(_) => w.finish(),
        }
    }

    /// Writes a whole error reply.
    fn error_reply<W: Write>(
        &mut self,
        e: &QgaError<'_>,
        id: Option<&[u8]>,
        out: &mut W,
    ) -> Result<(), W::Error> {
        crate::fmt::debug!("error reply");
        write_error(ReplyWriter::new(out, &mut self.stage), e, id)
    }
}

/// `, "id": <id>}` or `}`.
fn append_id<W: Write>(w: &mut ReplyWriter<'_, W>, id: Option<&[u8]>) {
    if let Some(id) = id {
        w.key("id");
        w.copy_value(id);
    }
    w.close_object();
}

/// `{"error": {"class": ..., "desc": ...}, "id": ...}\n`.
fn write_error<W: Write>(
    mut w: ReplyWriter<'_, W>,
    e: &QgaError<'_>,
    id: Option<&[u8]>,
) -> Result<(), W::Error> {
    w.open_object();
    w.key("error");
    w.open_object();
    w.key("class");
    w.str(e.class().name());
    w.key("desc");
    w.display(e);
    w.close_object();
    append_id(&mut w, id);
    w.finish()
}
