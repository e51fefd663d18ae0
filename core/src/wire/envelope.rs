//! The request envelope: `execute`, `arguments`, `id` (protocol notes 2.1).
//!
//! Splits a stored frame into raw spans without decoding the arguments.
//! `id` is kept raw and echoed by the reply writer.

use core::fmt;

use super::error::ParseErrorKind;
use super::json::{self, Kind};

/// The envelope member that holds a command's arguments.
pub const ARGUMENTS: &str = "arguments";

/// A request's three members, as raw spans of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// `execute`'s raw string content (escapes not resolved).
    pub execute: &'a [u8],
    /// `arguments`, an object, when present.
    pub arguments: Option<&'a [u8]>,
    /// `id`, any value, when present.
    pub id: Option<&'a [u8]>,
}

/// Why a frame is not a valid request. Each has qemu-ga's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError<'a> {
    /// `QMP input must be a JSON object` (sent without `id`).
    NotAnObject,
    /// `JSON parse error, duplicate key` (sent without `id`).
    DuplicateKey,
    /// `QMP input member 'execute' must be a string`.
    ExecuteNotString,
    /// `QMP input member 'arguments' must be an object`.
    ArgumentsNotObject,
    /// `QMP input member '<name>' is unexpected` (raw name).
    Unexpected(&'a [u8]),
    /// `QMP input lacks member 'execute'`.
    LacksExecute,
}

impl EnvelopeError<'_> {
    /// Whether the reply may carry the request's `id` (not for errors that
    /// stop before there is an object to take it from).
    pub fn carries_id(&self) -> bool {
        !matches!(
            self,
            EnvelopeError::NotAnObject | EnvelopeError::DuplicateKey
        )
    }
}

impl fmt::Display for EnvelopeError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::NotAnObject => f.write_str("QMP input must be a JSON object"),
            EnvelopeError::DuplicateKey => f.write_str(ParseErrorKind::DuplicateKey.text()),
            EnvelopeError::ExecuteNotString => {
                f.write_str("QMP input member 'execute' must be a string")
            }
            EnvelopeError::ArgumentsNotObject => {
                f.write_str("QMP input member 'arguments' must be an object")
            }
            EnvelopeError::Unexpected(name) => {
                f.write_str("QMP input member '")?;
                json::write_unescaped(f, name)?;
                f.write_str("' is unexpected")
            }
            EnvelopeError::LacksExecute => f.write_str("QMP input lacks member 'execute'"),
        }
    }
}

/// Finds the `id` of a frame, if it is an object that has one.
pub fn id_of(frame: &[u8]) -> Option<&[u8]> {
    if json::kind(frame) != Kind::Object {
        return None;
    }
    json::members(frame)
        .find(|(k, _)| *k == b"id")
        .map(|(_, v)| v)
}

/// Splits a frame into its envelope; the first violation in member order wins.
pub fn parse(frame: &[u8]) -> Result<Envelope<'_>, EnvelopeError<'_>> {
    if json::kind(frame) != Kind::Object {
        return Err(EnvelopeError::NotAnObject);
    }
    if has_duplicate_key(frame) {
        return Err(EnvelopeError::DuplicateKey);
    }
    let mut env = Envelope {
        execute: &[],
        arguments: None,
        id: None,
    };
    let mut has_execute = false;
    for (key, value) in json::members(frame) {
        match (key, json::kind(value)) {
            (b"execute", Kind::String) => {
                // `get`: on bytes that are not a frame the span may be a lone `"`.
                env.execute = value.get(1..value.len() - 1).unwrap_or(&[]);
                has_execute = true;
            }
            (b"execute", _) => return Err(EnvelopeError::ExecuteNotString),
            (b"arguments", Kind::Object) => env.arguments = Some(value),
            (b"arguments", _) => return Err(EnvelopeError::ArgumentsNotObject),
            (b"id", _) => env.id = Some(value),
            (other, _) => return Err(EnvelopeError::Unexpected(other)),
        }
    }
    if !has_execute {
        return Err(EnvelopeError::LacksExecute);
    }
    Ok(env)
}

/// Whether an object has the same key twice (compared as written).
pub fn has_duplicate_key(obj: &[u8]) -> bool {
    json::members(obj)
        .enumerate()
        .any(|(i, (k, _))| json::members(obj).take(i).any(|(k2, _)| k2 == k))
}

/// The members of a request read before its streamed string (a frame cut
/// inside `arguments`, ending in `"<key>":`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix<'a> {
    /// `execute`'s raw name, if it came first.
    pub execute: Option<&'a [u8]>,
    /// The `arguments` object so far, cut after the streamed key.
    pub arguments: &'a [u8],
    /// Nothing before the stream breaks the envelope rules.
    pub clean: bool,
}

impl<'a> Prefix<'a> {
    /// Splits `prefix`; `arguments` is the last member, still open.
    pub fn parse(prefix: &'a [u8]) -> Prefix<'a> {
        let mut p = Prefix {
            execute: None,
            arguments: b"",
            clean: !has_duplicate_key(prefix),
        };
        for (key, value) in json::members(prefix) {
            match (key, json::kind(value)) {
                (b"execute", Kind::String) => p.execute = value.get(1..value.len() - 1),
                (b"arguments", Kind::Object) => p.arguments = value,
                (b"id", _) => {}
                _ => p.clean = false,
            }
        }
        p
    }

    /// The complete members of `arguments` before the streamed one.
    pub fn members(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        json::members(self.arguments).filter(|(_, v)| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_three_members() {
        let f = br#"{"execute":"guest-ping","arguments":{},"id":[1,{"a":null}]}"#;
        let e = parse(f);
        assert_eq!(
            e,
            Ok(Envelope {
                execute: b"guest-ping",
                arguments: Some(b"{}"),
                id: Some(br#"[1,{"a":null}]"#)
            })
        );
    }

    #[test]
    fn rejects_like_qemu() {
        assert_eq!(parse(b"[1]"), Err(EnvelopeError::NotAnObject));
        assert_eq!(
            parse(br#"{"execute":1}"#),
            Err(EnvelopeError::ExecuteNotString)
        );
        assert_eq!(
            parse(br#"{"execute":"x","arguments":null}"#),
            Err(EnvelopeError::ArgumentsNotObject)
        );
        assert_eq!(
            parse(br#"{"execute":"x","exec-oob":1}"#),
            Err(EnvelopeError::Unexpected(b"exec-oob"))
        );
        assert_eq!(parse(br#"{"id":1}"#), Err(EnvelopeError::LacksExecute));
        assert_eq!(
            parse(br#"{"id":1,"id":2,"execute":"x"}"#),
            Err(EnvelopeError::DuplicateKey)
        );
    }

    #[test]
    fn prefix_gives_execute_and_the_members_before_the_stream() {
        let p = Prefix::parse(
            br#"{"execute":"guest-file-write","id":2,"arguments":{"handle":1000,"buf-b64":"#,
        );
        assert_eq!(p.execute, Some(&b"guest-file-write"[..]));
        assert!(p.clean);
        let m: Vec<_> = p.members().collect();
        assert_eq!(m, [(&b"handle"[..], &b"1000"[..])]);
        let p = Prefix::parse(br#"{"arguments":{"buf-b64":"#);
        assert_eq!((p.execute, p.clean, p.members().count()), (None, true, 0));
        let p = Prefix::parse(br#"{"execute":1,"arguments":{"k":"#);
        assert!(!p.clean);
        let p = Prefix::parse(br#"{"x":1,"arguments":{"k":"#);
        assert!(!p.clean);
    }

    #[test]
    fn texts_are_qemus() {
        assert_eq!(
            EnvelopeError::Unexpected(br"a\u00e9").to_string(),
            "QMP input member 'aé' is unexpected"
        );
        assert_eq!(
            EnvelopeError::DuplicateKey.to_string(),
            "JSON parse error, duplicate key"
        );
    }
}
