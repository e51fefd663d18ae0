//! The wire layer: bytes to frames to envelopes, and replies back to bytes.
//! It knows JSON and the request envelope, and no command.
//!
//! The framer is split by concern: `lexer`'s byte classes and number
//! states, string lexing (`string`), the grammar and nesting bound
//! (`grammar`), stream detection (`stream`), and the [`framer`] that ties
//! them to the request buffer.

pub mod base64;
pub mod envelope;
mod error;
pub mod framer;
mod grammar;
pub mod json;
mod lexer;
pub mod reply;
mod stream;
mod string;

pub use error::{ParseError, ParseErrorKind};
pub use framer::{Event, Fed, Frame, Framer, StreamStart};
