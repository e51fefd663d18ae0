//! The streaming stage: the one place that knows which argument of the
//! current request streams and where its bytes go (DESIGN.md, "Large
//! string arguments stream").
//!
//! At [`Event::StreamStart`](crate::wire::Event::StreamStart) the command
//! table says whose argument the key is. A key no command streams, or one
//! the request's own `execute` does not stream, cannot be kept: that is
//! certain at once, and the size error is the reply. Otherwise admission
//! (the same as for every request) and the command's own rule choose the
//! target: the file itself ([`Target::File`], only when `execute` and a
//! valid open `handle` came first and nothing else did), the spool, or
//! nowhere. Decoded bytes go through the one [`Batcher`]; the handler gets
//! the summary ([`Streamed`]) with the complete request.
//!
//! The one documented exception to "validate before side effects": a
//! member after a direct `buf-b64` (an unknown key, a `count`) is judged
//! when the request is complete, after the data went into the file.

use crate::commands::file::write_all;
use crate::commands::payload::{BatchSink, Batcher, Streamed, Target};
use crate::commands::CommandError;
use crate::platform::{Error, Platform};
use crate::schema::Command;
use crate::wire::base64::Decoder;

/// The stage's state for the current request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stage {
    /// The command whose argument streams (its key is in the table).
    owner: Option<Command>,
    /// The command admission let run, when `execute` came first.
    admitted: Option<Command>,
    decoder: Decoder,
    batch: Batcher,
    result: Streamed,
    /// The request was answered at the stream's start: the rest of it is
    /// dropped without another reply.
    answered: bool,
}

impl Stage {
    /// No stream.
    pub const fn new() -> Stage {
        Stage {
            owner: None,
            admitted: None,
            decoder: Decoder::new(),
            batch: Batcher::new(),
            result: Streamed {
                target: Target::Discard,
                decoded: 0,
                written: 0,
                invalid: false,
                error: None,
            },
            answered: false,
        }
    }

    /// The request got its reply early; drop the rest of it.
    pub fn answer_early(&mut self) {
        *self = Stage::new();
        self.answered = true;
    }

    /// Whether the current request was answered early.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// A stream of `owner`'s argument starts, going to `target`.
    pub fn start(&mut self, owner: Command, admitted: Option<Command>, target: Target) {
        *self = Stage {
            owner: Some(owner),
            admitted,
            result: Streamed {
                target,
                ..Streamed::default()
            },
            ..Stage::new()
        };
        crate::fmt::debug!("stream of {=str} starts", owner.name());
    }

    /// Admission already let `cmd` run (it named itself before the stream).
    pub fn admitted(&self, cmd: Command) -> bool {
        self.admitted == Some(cmd)
    }

    /// The stream's summary for `cmd`: `Ok(None)` without a stream, the
    /// size error when the streamed argument is not `cmd`'s (it was too
    /// large to keep, and no use to `cmd`).
    pub fn result_for(&self, cmd: Command) -> Result<Option<&Streamed>, CommandError<'static>> {
        match self.owner {
            None => Ok(None),
            Some(owner) if owner == cmd => Ok(Some(&self.result)),
            Some(_) => Err(CommandError::TooLarge),
        }
    }

    /// The next piece of the argument's text.
    pub fn data<P: Platform + ?Sized>(&mut self, text: &[u8], p: &mut P, scratch: &mut [u8]) {
        let mut dec = self.decoder;
        let _ = dec.feed::<()>(text, &mut |bytes| {
            self.push(bytes, p, scratch);
            Ok(())
        });
        self.decoder = dec;
        // Bytes after an invalid character are not written (those before it
        // in a direct stream are: the reply is the base64 error).
        self.result.invalid = dec.is_invalid();
    }

    /// The argument ended: the last bytes are decoded and written.
    pub fn end<P: Platform + ?Sized>(&mut self, p: &mut P, scratch: &mut [u8]) {
        let mut dec = self.decoder;
        let _ = dec.finish::<()>(&mut |bytes| {
            self.push(bytes, p, scratch);
            Ok(())
        });
        self.decoder = dec;
        if self.result.invalid {
            return;
        }
        let (target, r) = (self.result.target, &mut self.result);
        let mut sink = |b: &[u8]| write_to(target, p, b, r);
        let _ = self.batch.flush(scratch, &mut sink);
    }

    /// The request is over, answered or dropped: the spool may be emptied.
    pub fn finish<P: Platform + ?Sized>(&mut self, p: &mut P) {
        if self.result.target == Target::Spool {
            if let Some(spool) = p.spool() {
                spool.release();
            }
        }
        *self = Stage::new();
    }

    fn push<P: Platform + ?Sized>(&mut self, bytes: &[u8], p: &mut P, scratch: &mut [u8]) {
        self.result.decoded += bytes.len() as u64;
        if self.result.invalid || self.result.error.is_some() {
            return;
        }
        let (target, r) = (self.result.target, &mut self.result);
        let mut sink = |b: &[u8]| write_to(target, p, b, r);
        let _ = self.batch.push(scratch, bytes, &mut sink as BatchSink<'_>);
    }
}

/// Writes decoded bytes to the target, counting them; the first error is
/// kept and later data dropped.
fn write_to<P: Platform + ?Sized>(
    target: Target,
    p: &mut P,
    b: &[u8],
    r: &mut Streamed,
) -> Result<(), Error> {
    if r.error.is_some() {
        return Ok(());
    }
    let done = match target {
        Target::Discard => return Ok(()),
        Target::File(h) => p
            .files()
            .ok_or(Error::Unsupported)
            .and_then(|f| write_all(f, h, b)),
        Target::Spool => p.spool().ok_or(Error::Unsupported).and_then(|s| s.write(b)),
    };
    match done {
        Ok(()) => r.written += b.len() as u64,
        Err(e) => r.error = Some(e),
    }
    Ok(())
}
