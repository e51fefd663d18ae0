//! Command handlers, one file per QAPI family.
//!
//! A handler reads its typed arguments with [`Args`] (schema order, qemu's
//! error texts), calls the platform, and writes the `return` value through
//! the reply writer. It never sees wire bytes, and the dispatcher writes the
//! envelope around its value.

/// Writes a JSON array from a platform method that reports its items
/// through a callback: `write_list!(cx, method(args), |w, item| { ... })`.
/// (A macro because the items borrow the platform with a higher-ranked
/// lifetime that a generic helper function cannot name.)
macro_rules! write_list {
    ($cx:expr, $method:ident($($arg:expr),*), |$w:ident, $item:ident| $body:block) => {{
        let $w = &mut $cx.w;
        $w.open_array();
        $cx.platform.$method($($arg,)* &mut |$item| {
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
pub mod filesystem;
pub mod hardware;
pub mod payload;
pub mod ssh;
pub mod stats;
pub mod sync;
pub mod system;

use core::fmt;

use embedded_io::Write;

pub use args::{Arena, ArgError, Args, Param};
pub use payload::Payload;

use crate::platform::{self, Platform};
use crate::schema::CommandSet;
use crate::wire::reply::ReplyWriter;
use crate::wire::StreamKey;

/// Which commands may run now (block/allow lists and frozen state, notes 4.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Filter {
    /// `--block-rpcs`.
    pub block: CommandSet,
    /// `--allow-rpcs`; `None` allows everything not blocked.
    pub allow: Option<CommandSet>,
    /// Filesystems are frozen: only the frozen-safe commands run.
    pub frozen: bool,
}

impl Filter {
    /// Everything allowed, not frozen.
    pub const fn new() -> Filter {
        Filter {
            block: CommandSet::EMPTY,
            allow: None,
            frozen: false,
        }
    }

    /// Whether `cmd` may run, in qemu-ga 9.1's order: allow list, then block
    /// list (block wins), then the frozen state (overrides everything).
    pub fn allows(&self, cmd: crate::schema::Command) -> bool {
        if self.frozen {
            return cmd.info().frozen_safe;
        }
        self.allow.is_none_or(|a| a.contains(cmd)) && !self.block.contains(cmd)
    }
}

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
    /// A fixed text.
    Text(&'static str),
}

impl fmt::Display for CommandError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Arg(e) => e.fmt(f),
            CommandError::Platform(e) => f.write_str(e.text()),
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

/// Everything a handler may touch.
pub struct Cx<'s, P: Platform, W: Write> {
    /// The platform.
    pub platform: &'s mut P,
    /// The reply, positioned after `"return": `.
    pub w: ReplyWriter<'s, W>,
    /// Scratch for streamed payloads.
    pub scratch: &'s mut [u8],
    /// The streamed argument of this request, if any.
    pub payload: &'s mut Payload,
    /// Which argument of this request was streamed.
    pub streamed: Option<StreamKey>,
    /// The command filter (fsfreeze changes `frozen`).
    pub filter: &'s mut Filter,
}

impl<P: Platform, W: Write> Cx<'_, P, W> {
    /// Writes `{}` (commands without a return type).
    pub fn empty_object(&mut self) -> Outcome<'static> {
        self.w.open_object();
        self.w.close_object();
        Ok(Done::Reply)
    }
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

/// Writes `"key": value` for an optional string.
pub fn opt_str<W: Write>(w: &mut ReplyWriter<'_, W>, key: &str, v: Option<&str>) {
    if let Some(v) = v {
        w.key(key);
        w.str(v);
    }
}

/// Writes `"key": value` for an optional integer.
pub fn opt_int<W: Write>(w: &mut ReplyWriter<'_, W>, key: &str, v: Option<i64>) {
    if let Some(v) = v {
        w.key(key);
        w.int(v);
    }
}
