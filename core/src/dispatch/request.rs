//! Answering the framer's events: one request at a time, through the
//! streaming stage when a string streams. Generic over the platform only;
//! the channel is a trait object.

use super::route;
use super::state::SessionState;
use super::stream::Stage;
use super::QgaError;
use crate::commands::{Arena, Args, CommandError, Cx, Done, Streamed, Target};
use crate::platform::{self, FsfreezeStatus, Platform};
use crate::schema::{Command, CommandSet};
use crate::wire::envelope::{self, Envelope, Prefix};
use crate::wire::reply::{ReplyWriter, Sink};
use crate::wire::{Event, Frame, ParseErrorKind, StreamStart};

/// Everything the agent has but the framer, borrowed for one `feed`.
pub(super) struct Engine<'s, P: Platform + ?Sized> {
    pub platform: &'s mut P,
    pub state: &'s mut SessionState,
    pub stage: &'s mut Stage,
    pub reply: &'s mut [u8],
    pub scratch: &'s mut [u8],
    pub out: &'s mut dyn Sink,
}

impl<P: Platform + ?Sized> Engine<'_, P> {
    /// Handles one framer event.
    pub fn event(&mut self, event: Event<'_>) {
        if self.stage.answered() {
            return self.after_early_answer(&event);
        }
        match event {
            Event::Frame(frame) => {
                self.request(frame);
                self.stage.finish(self.platform);
            }
            Event::Error(e) => {
                self.stage.finish(self.platform);
                self.error_reply(&QgaError::Parse(e), None);
            }
            Event::StreamStart(s) => self.stream_start(&s),
            Event::StreamData(text) => self.stage.data(text, self.platform, self.scratch),
            Event::StreamEnd => self.stage.end(self.platform, self.scratch),
            Event::Discarded => self.stage.finish(self.platform),
        }
    }

    /// The rest of a request answered early is dropped; its end (a frame,
    /// an error, a 0xFF) makes the stage ready for the next one.
    fn after_early_answer(&mut self, event: &Event<'_>) {
        if matches!(event, Event::Frame(_) | Event::Error(_) | Event::Discarded) {
            self.stage.finish(self.platform);
        }
    }

    /// A string streams: whose argument it is, and where it goes.
    fn stream_start(&mut self, s: &StreamStart<'_>) {
        let prefix = Prefix::parse(s.prefix);
        let named = prefix.execute.map(Command::from_name);
        let owner = match (Command::streaming(s.key), named) {
            (Some(owner), None | Some(None)) => owner,
            (Some(owner), Some(Some(cmd))) if cmd == owner => owner,
            // No command can take this string: too large, certain now.
            _ => {
                self.stage.answer_early();
                let e = QgaError::Parse(ParseErrorKind::SizeLimit.into());
                return self.error_reply(&e, None);
            }
        };
        let admitted = match named {
            Some(Some(cmd)) => self.admit(cmd).ok(),
            _ => None,
        };
        let target = match (named, admitted) {
            (_, Some(cmd)) => route::stream_target(cmd, &prefix, self.platform),
            (None, _) => route::spool_target(self.platform),
            (Some(_), None) => Target::Discard,
        };
        self.stage.start(owner, admitted, target);
        self.stage.data(s.head, self.platform, self.scratch);
    }

    /// Answers one complete frame.
    fn request(&mut self, frame: Frame<'_>) {
        let env = match envelope::parse(frame.json) {
            Ok(env) => env,
            Err(e) => {
                let id = e
                    .carries_id()
                    .then(|| envelope::id_of(frame.json))
                    .flatten();
                return self.error_reply(&QgaError::Envelope(e), id);
            }
        };
        let cmd = match self.lookup(&env) {
            Ok(cmd) => cmd,
            Err(e) => return self.error_reply(&e, env.id),
        };
        crate::fmt::debug!("request {=str}", cmd.name());
        let mut arena = Arena::new(frame.arena);
        let args = Args::new(env.arguments, &mut arena);
        match (args, self.stage.result_for(cmd)) {
            (Ok(mut args), Ok(streamed)) => {
                let streamed = streamed.cloned();
                self.execute(cmd, &env, &mut args, streamed.as_ref())
            }
            (Err(e), _) => self.error_reply(&QgaError::Command(e.into()), env.id),
            (_, Err(e)) => self.error_reply(&QgaError::Command(e), env.id),
        }
    }

    /// The command named by `execute`, admitted (once: a streamed request
    /// whose `execute` came first was admitted when its stream started).
    fn lookup<'a>(&mut self, env: &Envelope<'a>) -> Result<Command, QgaError<'a>> {
        let cmd = Command::from_name(env.execute).ok_or(QgaError::NotFound(env.execute))?;
        if self.stage.admitted(cmd) {
            return Ok(cmd);
        }
        self.admit(cmd)
    }

    /// Admission: the session state (filters, frozen), then platform
    /// support (qemu-ga's order, protocol notes 2.4).
    fn admit<'a>(&mut self, cmd: Command) -> Result<Command, QgaError<'a>> {
        if !self.state.allows(cmd) {
            return Err(QgaError::Disabled(cmd.name()));
        }
        if !platform::supports(self.platform, cmd) {
            let e = CommandError::Platform(platform::Error::Unsupported);
            return Err(QgaError::Command(e));
        }
        Ok(cmd)
    }

    /// Runs the handler inside the reply envelope.
    fn execute(
        &mut self,
        cmd: Command,
        env: &Envelope<'_>,
        args: &mut Args<'_, '_>,
        streamed: Option<&Streamed>,
    ) {
        // Only `guest-info` reads it; the others are spared 43 look-ups.
        let enabled = match cmd {
            Command::GuestInfo => self.state.enabled(platform::supported(self.platform)),
            _ => CommandSet::EMPTY,
        };
        let mut w = ReplyWriter::new(self.out, self.reply);
        if cmd == Command::GuestSyncDelimited {
            w.sentinel();
        }
        w.open_object();
        w.key("return");
        let mut cx = Cx {
            platform: self.platform,
            w,
            scratch: self.scratch,
            enabled,
            streamed,
            fsfreeze: None,
        };
        let outcome = route::handler(cmd, cx.platform)(&mut cx, args);
        if let Some(st) = cx.fsfreeze {
            self.state.set_frozen(st == FsfreezeStatus::Frozen);
        }
        let mut w = cx.w;
        match outcome {
            Ok(Done::Reply) => {
                append_id(&mut w, env.id);
                w.finish()
            }
            Ok(Done::NoReply) => {
                w.discard();
            }
            Err(e) if w.discard() => write_error(w, &QgaError::Command(e), env.id),
            // Part of the reply is already out: end the line so the client
            // sees a broken reply (never a silently short one) and resyncs.
            Err(_) => w.finish(),
        }
    }

    /// Writes a whole error reply.
    fn error_reply(&mut self, e: &QgaError<'_>, id: Option<&[u8]>) {
        crate::fmt::debug!("error reply");
        write_error(ReplyWriter::new(self.out, self.reply), e, id)
    }
}

/// `, "id": <id>}` or `}`.
fn append_id(w: &mut ReplyWriter<'_>, id: Option<&[u8]>) {
    if let Some(id) = id {
        w.key("id");
        w.copy_value(id);
    }
    w.close_object();
}

/// `{"error": {"class": ..., "desc": ...}, "id": ...}\n`.
fn write_error(mut w: ReplyWriter<'_>, e: &QgaError<'_>, id: Option<&[u8]>) {
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
