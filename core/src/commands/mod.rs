//! Command handlers, one file per QAPI family, named like the platform
//! files of `std-shim/src/linux/`.
//!
//! A handler reads its typed arguments with [`Args`] (schema order, qemu's
//! error texts), checks handles and pids before anything else, calls the
//! platform, and writes the `return` value through the reply writer. It
//! never sees wire bytes, and the dispatcher writes the envelope around its
//! value. Handlers are generic over the platform only (the channel is a
//! `&mut dyn Sink`): one copy per platform, so a platform's missing
//! capabilities are dead code the compiler removes.

/// Writes a JSON array from a platform method that reports its items
/// through a callback: `write_list!(cx, cap(), method(args), |w, item| { ... })`.
/// (A macro because the items borrow the platform with a higher-ranked
/// lifetime that a generic helper function cannot name.)
macro_rules! write_list {
    ($cx:expr, $cap:ident(), $method:ident($($arg:expr),*), |$w:ident, $item:ident| $body:block) => {{
        let $w = &mut $cx.w;
        $w.open_array();
        $crate::commands::need($cx.platform.$cap())?.$method($($arg,)* &mut |$item| {
            $w.element();
            $body
            Ok(())
        })?;
        $w.close_array();
    }};
}

pub mod args;
pub mod exec;
pub mod file;
pub mod fsfreeze;
pub mod fsinfo;
pub mod hardware;
pub mod info;
pub mod network;
pub mod payload;
pub mod power;
pub mod ssh;
pub mod sync;
pub mod time;
pub mod tz;
pub mod users;

use core::fmt;

pub use args::{Arena, ArgError, Args, Param};
pub use payload::{Streamed, Target};

use crate::platform::{self, FsfreezeStatus, Platform};
use crate::schema::CommandSet;
use crate::wire::reply::ReplyWriter;
use crate::wire::ParseErrorKind;

/// What a handler did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    /// Wrote its `return` value.
    Reply,
    /// Succeeded and sends nothing (success-response false).
    NoReply,
}

/// A command failure: becomes a `GenericError` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError<'a> {
    /// Argument validation failed.
    Arg(ArgError<'a>),
    /// The platform failed.
    Platform(platform::Error),
    /// A streamed argument could not be kept: `JSON token size limit exceeded`.
    TooLarge,
    /// A fixed text.
    Text(&'static str),
}

impl fmt::Display for CommandError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Arg(e) => e.fmt(f),
            CommandError::Platform(e) => f.write_str(e.text()),
            CommandError::TooLarge => f.write_str(ParseErrorKind::SizeLimit.text()),
            CommandError::Text(t) => f.write_str(t),
        }
    }
}

impl<'a> From<ArgError<'a>> for CommandError<'a> {
    fn from(e: ArgError<'a>) -> Self {
        CommandError::Arg(e)
    }
}

impl From<platform::Error> for CommandError<'_> {
    fn from(e: platform::Error) -> Self {
        CommandError::Platform(e)
    }
}

/// A handler's result.
pub type Outcome<'a> = Result<Done, CommandError<'a>>;

/// A handler: reads its arguments, does the work, writes the value.
pub type Handler<P> = for<'a> fn(&mut Cx<'_, P>, &mut Args<'a, '_>) -> Outcome<'a>;

/// Everything a handler may touch.
pub struct Cx<'s, P: Platform + ?Sized> {
    /// The platform.
    pub platform: &'s mut P,
    /// The reply, positioned after `"return": `.
    pub w: ReplyWriter<'s>,
    /// Scratch for payloads.
    pub scratch: &'s mut [u8],
    /// The commands that may run now (what `guest-info` calls `enabled`).
    pub enabled: CommandSet,
    /// This command's streamed argument, when it streamed.
    pub streamed: Option<&'s Streamed>,
    /// The freeze state an fsfreeze command found or made; the dispatcher,
    /// which owns the session state, applies it.
    pub fsfreeze: Option<FsfreezeStatus>,
}

impl<P: Platform + ?Sized> Cx<'_, P> {
    /// Writes `{}` (commands without a return type).
    pub fn empty_object(&mut self) -> Outcome<'static> {
        self.w.empty_object();
        Ok(Done::Reply)
    }
}

/// A capability the command needs (admission already checked it, so
/// `None` only reaches here through a platform that changed its mind).
pub fn need<T>(cap: Option<T>) -> Result<T, platform::Error> {
    cap.ok_or(platform::Error::Unsupported)
}

/// The largest multiple of 3 that fits `len`: streamed chunks must encode
/// to whole base64 quads.
pub fn whole_triples(len: usize) -> usize {
    len / 3 * 3
}

/// The reply for a platform call that reports one value through a
/// callback: fails if the platform never called it.
pub fn reported(seen: bool) -> Outcome<'static> {
    if seen {
        Ok(Done::Reply)
    } else {
        Err(CommandError::Text("the guest returned no value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(whole_triples(768), 768);
        assert_eq!(whole_triples(770), 768);
        assert_eq!(whole_triples(2), 0);
        assert_eq!(reported(true), Ok(Done::Reply));
        assert_eq!(
            reported(false).map_err(|e| e.to_string()),
            Err("the guest returned no value".into())
        );
        assert_eq!(need(Some(1)), Ok(1));
        assert_eq!(need::<u8>(None), Err(platform::Error::Unsupported));
        assert_eq!(
            CommandError::TooLarge.to_string(),
            "JSON token size limit exceeded"
        );
    }
}
