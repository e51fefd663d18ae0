//! The wire layer: bytes to frames to envelopes, and replies back to bytes.
//! It knows JSON and knows no command.

pub mod base64;
pub mod envelope;
pub mod framer;
pub mod json;
mod lexer;
pub mod reply;

pub use framer::{Event, Frame, Framer, ParseError, ParseErrorKind, StreamKey};
