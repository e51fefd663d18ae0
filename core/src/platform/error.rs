//! The error a platform returns, and its qemu-ga-style message text.

use core::fmt::{self, Write as _};

use crate::config::ERROR_MESSAGE_LEN;
use crate::errno::strerror;

/// The text of an error reply's `desc`, formatted without allocation.
/// Longer texts are cut to [`ERROR_MESSAGE_LEN`] bytes (on a char
/// boundary) ending in `...`, so a cut text never passes for a whole one.
pub type Message = heapless::String<ERROR_MESSAGE_LEN>;

/// An error from a platform method; it becomes a `GenericError` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The platform does not implement this command or mode. The reply is
    /// qemu-ga's `this feature or command is not currently supported`.
    Unsupported,
    /// Any other failure, with the reply text.
    Message(Message),
}

#[cfg(feature = "defmt")]
impl defmt::Format for Error {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Error::Unsupported => defmt::write!(f, "Unsupported"),
            Error::Message(m) => defmt::write!(f, "Message({=str})", m.as_str()),
        }
    }
}

/// The result type of platform methods.
pub type Result<T> = core::result::Result<T, Error>;

/// The text qemu-ga sends for an unsupported command (`QERR_UNSUPPORTED`).
pub const UNSUPPORTED_TEXT: &str = "this feature or command is not currently supported";

impl Error {
    /// An error with a formatted text, e.g.
    /// `Error::msg(format_args!("handle '{}' has not been found", h))`.
    pub fn msg(args: fmt::Arguments<'_>) -> Error {
        let mut m = Message::new();
        let mut w = TruncatingWriter {
            text: &mut m,
            cut: false,
        };
        let _ = w.write_fmt(args);
        if w.cut {
            while m.len() + CUT_MARK.len() > m.capacity() {
                m.pop();
            }
            let _ = m.push_str(CUT_MARK);
        }
        Error::Message(m)
    }

    /// `"<context>: <strerror(errno)>"`, the shape of qemu-ga's
    /// `error_setg_errno` messages (never Rust's "(os error N)" form).
    pub fn errno(errno: i32, context: fmt::Arguments<'_>) -> Error {
        Error::msg(format_args!("{}: {}", context, strerror(errno)))
    }

    /// qemu-ga's text for an unknown file handle.
    pub fn handle_not_found(handle: i64) -> Error {
        Error::msg(format_args!("handle '{handle}' has not been found"))
    }

    /// qemu-ga's text for an argument value out of range.
    pub fn invalid_value(value: i64, argument: &str) -> Error {
        Error::msg(format_args!(
            "value '{value}' is invalid for argument {argument}"
        ))
    }

    /// The reply text.
    pub fn text(&self) -> &str {
        match self {
            Error::Unsupported => UNSUPPORTED_TEXT,
            Error::Message(m) => m.as_str(),
        }
    }
}

/// Ends a message that was cut.
const CUT_MARK: &str = "...";

/// Writes into a fixed string, dropping what does not fit instead of
/// failing, and noting that it did.
struct TruncatingWriter<'a> {
    text: &'a mut Message,
    cut: bool,
}

impl fmt::Write for TruncatingWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.cut || self.text.push(c).is_err() {
                self.cut = true;
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_message_has_qemu_form() {
        let e = Error::errno(
            2,
            format_args!("failed to open file '{}' (mode: '{}')", "/x", "r"),
        );
        assert_eq!(
            e.text(),
            "failed to open file '/x' (mode: 'r'): No such file or directory"
        );
    }

    #[test]
    fn long_messages_are_cut_not_lost() {
        let long = [b'a'; 1000];
        let s = core::str::from_utf8(&long).unwrap_or("");
        let e = Error::msg(format_args!("{s}"));
        let kept = "a".repeat(ERROR_MESSAGE_LEN - 3);
        assert_eq!(e.text(), kept + "...");
        // Cut on a char boundary; a text that just fits is whole.
        let e = Error::msg(format_args!("{}\u{e9}b", "a".repeat(ERROR_MESSAGE_LEN - 2)));
        assert_eq!(e.text(), "a".repeat(ERROR_MESSAGE_LEN - 3) + "...");
        let fits = "a".repeat(ERROR_MESSAGE_LEN);
        assert_eq!(Error::msg(format_args!("{fits}")).text(), fits);
    }

    #[test]
    fn unsupported_text() {
        assert_eq!(Error::Unsupported.text(), UNSUPPORTED_TEXT);
    }
}
