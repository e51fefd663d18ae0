//! `QgaError`: every error reply the agent sends, with its class and text.

use core::fmt;

use crate::commands::CommandError;
use crate::wire::envelope::EnvelopeError;
use crate::wire::ParseError;

/// An error reply's `class`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErrorClass {
    /// `GenericError`: almost everything.
    GenericError,
    /// `CommandNotFound`: unknown or disabled commands.
    CommandNotFound,
}

impl ErrorClass {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::GenericError => "GenericError",
            ErrorClass::CommandNotFound => "CommandNotFound",
        }
    }
}

/// Any error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QgaError<'a> {
    /// A lexical, grammar or limit error (no `id`).
    Parse(ParseError),
    /// A bad request envelope.
    Envelope(EnvelopeError<'a>),
    /// `The command <name> has not been found` (raw name).
    NotFound(&'a [u8]),
    /// `Command <name> has been disabled: the command is not allowed`.
    Disabled(&'static str),
    /// The command failed.
    Command(CommandError<'a>),
}

impl QgaError<'_> {
    /// The reply's class.
    pub fn class(&self) -> ErrorClass {
        match self {
            QgaError::NotFound(_) | QgaError::Disabled(_) => ErrorClass::CommandNotFound,
            _ => ErrorClass::GenericError,
        }
    }
}

/// Writes raw bytes of a name as text (invalid UTF-8 as U+FFFD).
fn lossy(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    for c in b.utf8_chunks() {
        f.write_str(c.valid())?;
        if !c.invalid().is_empty() {
            f.write_str("\u{FFFD}")?;
        }
    }
    Ok(())
}

/// Writes raw JSON string content decoded (names are kept escaped in frames).
fn unescaped(f: &mut fmt::Formatter<'_>, raw: &[u8]) -> fmt::Result {
    let mut i = 0;
    while i < raw.len() {
        let (c, used) = crate::wire::json::decode_char(&raw[i..]);
        fmt::Write::write_char(f, c)?;
        i += used;
    }
    Ok(())
}

impl fmt::Display for QgaError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QgaError::Parse(e) => {
                f.write_str(e.prefix())?;
                if let Some(d) = e.detail() {
                    // qemu prints the token as a C string: it ends at a NUL.
                    lossy(f, d.split(|&b| b == 0).next().unwrap_or(&[]))?;
                }
                f.write_str(e.suffix())
            }
            QgaError::Envelope(e) => match e {
                EnvelopeError::NotAnObject => f.write_str("QMP input must be a JSON object"),
                EnvelopeError::DuplicateKey => f.write_str("JSON parse error, duplicate key"),
                EnvelopeError::ExecuteNotString => {
                    f.write_str("QMP input member 'execute' must be a string")
                }
                EnvelopeError::ArgumentsNotObject => {
                    f.write_str("QMP input member 'arguments' must be an object")
                }
                EnvelopeError::Unexpected(name) => {
                    f.write_str("QMP input member '")?;
                    unescaped(f, name)?;
                    f.write_str("' is unexpected")
                }
                EnvelopeError::LacksExecute => f.write_str("QMP input lacks member 'execute'"),
            },
            QgaError::NotFound(name) => {
                f.write_str("The command ")?;
                unescaped(f, name)?;
                f.write_str(" has not been found")
            }
            QgaError::Disabled(name) => write!(
                f,
                "Command {name} has been disabled: the command is not allowed"
            ),
            QgaError::Command(e) => e.fmt(f),
        }
    }
}

impl<'a> From<CommandError<'a>> for QgaError<'a> {
    fn from(e: CommandError<'a>) -> Self {
        QgaError::Command(e)
    }
}
