//! The request envelope: `execute`, `arguments`, `id` (protocol notes 2.1).
//!
//! Splits a stored frame into raw spans without decoding the arguments.
//! `id` is kept raw and echoed by the reply writer.

use super::json::{self, Kind};

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

/// Scans a request prefix (a frame cut before a streamed string) for a
/// top-level member, e.g. `execute`, and for `arguments.<name>`.
pub fn prefix_member<'a>(prefix: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    json::members(prefix)
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// The `arguments` object's members before the streamed string.
pub fn prefix_argument<'a>(prefix: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let args_at = find_arguments(prefix)?;
    let args = prefix.get(args_at..)?;
    // The argument members end at the streamed key, whose value is missing.
    json::members(args)
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

fn find_arguments(prefix: &[u8]) -> Option<usize> {
    let mut at = 1;
    for (key, value) in json::members(prefix) {
        let key_len = key.len() + 3; // quotes and ':'
        if key == b"arguments" {
            return Some(at + key_len);
        }
        at += key_len + value.len() + 1;
    }
    None
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
    fn prefix_scan_finds_execute_and_handle() {
        let p = br#"{"execute":"guest-file-write","arguments":{"handle":1000,"buf-b64":"#;
        assert_eq!(
            prefix_member(p, b"execute"),
            Some(&br#""guest-file-write""#[..])
        );
        assert_eq!(prefix_argument(p, b"handle"), Some(&b"1000"[..]));
        assert_eq!(prefix_argument(p, b"count"), None);
        let p = br#"{"arguments":{"buf-b64":"#;
        assert_eq!(prefix_member(p, b"execute"), None);
    }
}
