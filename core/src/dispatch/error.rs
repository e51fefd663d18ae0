//! `QgaError`: every error reply the agent sends, with its class and text.

use core::fmt;

use crate::commands::CommandError;
use crate::wire::envelope::EnvelopeError;
use crate::wire::{json, ParseError};

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

impl fmt::Display for QgaError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QgaError::Parse(e) => e.fmt(f),
            QgaError::Envelope(e) => e.fmt(f),
            QgaError::NotFound(name) => {
                f.write_str("The command ")?;
                json::write_unescaped(f, name)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_classes() {
        let e = QgaError::NotFound(br"guest-\u00e9");
        assert_eq!(e.to_string(), "The command guest-é has not been found");
        assert_eq!(e.class().name(), "CommandNotFound");
        let e = QgaError::Disabled("guest-ping");
        assert_eq!(
            e.to_string(),
            "Command guest-ping has been disabled: the command is not allowed"
        );
        assert_eq!(e.class(), ErrorClass::CommandNotFound);
        let e = QgaError::Envelope(EnvelopeError::LacksExecute);
        assert_eq!(e.class().name(), "GenericError");
    }
}
