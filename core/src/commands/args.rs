//! Reading a command's `arguments` object the way QEMU's QAPI input visitor
//! does (protocol notes 2.5): members are asked for in schema order and the
//! first failure wins; members nobody asked for are reported last as
//! `Parameter '<name>' is unexpected`. Every text is qemu-ga's.
//!
//! Strings without escapes are borrowed from the frame; strings with escapes
//! are decoded into the arena (the free tail of the request buffer).

use core::fmt;

use crate::platform::StrList;
use crate::wire::json::{self, Kind};
use crate::wire::ParseErrorKind;

/// A parameter's name as printed in errors: `name`, `list[i]` or `list[i].name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// The member, or the list it is in.
    pub name: &'a [u8],
    /// Index within the list.
    pub index: Option<usize>,
    /// Member of the list element.
    pub field: Option<&'a [u8]>,
}

impl<'a> Param<'a> {
    /// A plain member.
    pub fn new(name: &'a str) -> Param<'a> {
        Param {
            name: name.as_bytes(),
            index: None,
            field: None,
        }
    }
}

impl fmt::Display for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.name.utf8_chunks() {
            f.write_str(c.valid())?;
        }
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        if let Some(field) = self.field {
            f.write_str(".")?;
            for c in field.utf8_chunks() {
                f.write_str(c.valid())?;
            }
        }
        Ok(())
    }
}

/// An argument error, with qemu-ga's text via `Display`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError<'a> {
    /// `Parameter '<p>' is missing`.
    Missing(Param<'a>),
    /// `Invalid parameter type for '<p>', expected: <type>`.
    InvalidType(Param<'a>, &'static str),
    /// `Parameter '<p>' does not accept value '<v>'`.
    InvalidValue(Param<'a>, &'a [u8]),
    /// `Parameter '<p>' expects uint64`.
    ExpectsU64(Param<'a>),
    /// `Parameter '<p>' is unexpected`.
    Unexpected(Param<'a>),
    /// `JSON parse error, duplicate key`.
    DuplicateKey,
    /// The decoded strings do not fit the free part of the request buffer.
    TooLarge,
}

impl fmt::Display for ArgError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Missing(p) => write!(f, "Parameter '{p}' is missing"),
            ArgError::InvalidType(p, t) => {
                write!(f, "Invalid parameter type for '{p}', expected: {t}")
            }
            ArgError::InvalidValue(p, v) => {
                write!(f, "Parameter '{p}' does not accept value '")?;
                for c in v.utf8_chunks() {
                    f.write_str(c.valid())?;
                }
                f.write_str("'")
            }
            ArgError::ExpectsU64(p) => write!(f, "Parameter '{p}' expects uint64"),
            ArgError::Unexpected(p) => write!(f, "Parameter '{p}' is unexpected"),
            ArgError::DuplicateKey => f.write_str(ParseErrorKind::DuplicateKey.text()),
            ArgError::TooLarge => f.write_str(ParseErrorKind::SizeLimit.text()),
        }
    }
}

/// Result of argument reading.
pub type ArgResult<'a, T> = Result<T, ArgError<'a>>;

/// Most members one command declares.
const MAX_DECLARED: usize = 8;

/// Reads one `arguments` object (or a list element's object).
pub struct Args<'a, 'r> {
    obj: &'a [u8],
    arena: &'r mut Arena<'a>,
    asked: heapless::Vec<&'static str, MAX_DECLARED>,
    list: Option<(&'a [u8], usize)>,
}

/// Bump storage for decoded strings.
pub struct Arena<'a> {
    free: &'a mut [u8],
}

impl<'a> Arena<'a> {
    /// Storage over `free`.
    pub fn new(free: &'a mut [u8]) -> Self {
        Arena { free }
    }

    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a mut [u8]> {
        if n > self.free.len() {
            return None;
        }
        let (head, tail) = core::mem::take(&mut self.free).split_at_mut(n);
        self.free = tail;
        Some(head)
    }

    /// Gives back the unused end of the last `take` (`used` of `taken` bytes).
    fn give_back(&mut self, taken: &'a mut [u8], used: usize) -> &'a [u8] {
        let (head, _) = taken.split_at_mut(used);
        head
    }

    /// Decodes raw JSON string content to `&str`.
    pub fn unescape(&mut self, raw: &'a [u8]) -> Option<&'a str> {
        if !raw.contains(&b'\\') {
            return core::str::from_utf8(raw).ok();
        }
        let out = self.take(raw.len())?;
        let mut w = 0;
        let mut r = 0;
        while r < raw.len() {
            let (c, used) = json::decode_char(&raw[r..]);
            r += used;
            w += c.encode_utf8(&mut out[w..]).len();
        }
        let s = self.give_back(out, w);
        core::str::from_utf8(s).ok()
    }
}

impl<'a, 'r> Args<'a, 'r> {
    /// Reads `obj` (`None`: no `arguments`, same as `{}`).
    pub fn new(obj: Option<&'a [u8]>, arena: &'r mut Arena<'a>) -> ArgResult<'a, Self> {
        let obj = obj.unwrap_or(b"{}");
        if crate::wire::envelope::has_duplicate_key(obj) {
            return Err(ArgError::DuplicateKey);
        }
        Ok(Args {
            obj,
            arena,
            asked: heapless::Vec::new(),
            list: None,
        })
    }

    fn param(&self, name: &'static str) -> Param<'a> {
        match self.list {
            Some((list, i)) => Param {
                name: list,
                index: Some(i),
                field: Some(name.as_bytes()),
            },
            None => Param {
                name: name.as_bytes(),
                index: None,
                field: None,
            },
        }
    }

    /// The raw value of `name`, marking it as declared.
    pub fn raw(&mut self, name: &'static str) -> Option<&'a [u8]> {
        let _ = self.asked.push(name);
        json::members(self.obj)
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| v)
    }

    fn required<T>(&mut self, name: &'static str, v: Option<T>) -> ArgResult<'a, T> {
        v.ok_or(ArgError::Missing(self.param(name)))
    }

    /// An optional `int` member.
    pub fn opt_int(&mut self, name: &'static str) -> ArgResult<'a, Option<i64>> {
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        let n = json::is_integer(v).then(|| json::parse_i64(v)).flatten();
        n.map(Some)
            .ok_or(ArgError::InvalidType(self.param(name), "integer"))
    }

    /// A required `int` member.
    pub fn int(&mut self, name: &'static str) -> ArgResult<'a, i64> {
        let v = self.opt_int(name)?;
        self.required(name, v)
    }

    /// An optional `uint64` member (negative int64 wraps, as in QEMU).
    pub fn opt_u64(&mut self, name: &'static str) -> ArgResult<'a, Option<u64>> {
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        let n = json::is_integer(v)
            .then(|| json::parse_u64(v).or_else(|| json::parse_i64(v).map(|i| i as u64)));
        n.flatten()
            .map(Some)
            .ok_or(ArgError::ExpectsU64(self.param(name)))
    }

    /// A required `uint64` member.
    pub fn u64(&mut self, name: &'static str) -> ArgResult<'a, u64> {
        let v = self.opt_u64(name)?;
        self.required(name, v)
    }

    /// An optional `bool` member.
    pub fn opt_bool(&mut self, name: &'static str) -> ArgResult<'a, Option<bool>> {
        match self.raw(name) {
            None => Ok(None),
            Some(b"true") => Ok(Some(true)),
            Some(b"false") => Ok(Some(false)),
            Some(_) => Err(ArgError::InvalidType(self.param(name), "boolean")),
        }
    }

    /// A required `bool` member.
    pub fn bool(&mut self, name: &'static str) -> ArgResult<'a, bool> {
        let v = self.opt_bool(name)?;
        self.required(name, v)
    }

    /// An optional `str` member's raw content (escapes not resolved).
    pub fn opt_raw_str(&mut self, name: &'static str) -> ArgResult<'a, Option<&'a [u8]>> {
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        match json::kind(v) {
            Kind::String => Ok(Some(&v[1..v.len() - 1])),
            _ => Err(ArgError::InvalidType(self.param(name), "string")),
        }
    }

    /// A required `str` member's raw content.
    pub fn raw_str(&mut self, name: &'static str) -> ArgResult<'a, &'a [u8]> {
        let v = self.opt_raw_str(name)?;
        self.required(name, v)
    }

    /// An optional `str` member, decoded.
    pub fn opt_str(&mut self, name: &'static str) -> ArgResult<'a, Option<&'a str>> {
        match self.opt_raw_str(name)? {
            None => Ok(None),
            Some(raw) => self.arena.unescape(raw).map(Some).ok_or(ArgError::TooLarge),
        }
    }

    /// A required `str` member, decoded.
    pub fn str(&mut self, name: &'static str) -> ArgResult<'a, &'a str> {
        let v = self.opt_str(name)?;
        self.required(name, v)
    }

    /// An optional `['str']` member, decoded into one NUL-separated buffer.
    pub fn opt_str_list(&mut self, name: &'static str) -> ArgResult<'a, Option<StrList<'a>>> {
        let Some(v) = self.raw(name) else {
            return Ok(None);
        };
        if json::kind(v) != Kind::Array {
            return Err(ArgError::InvalidType(self.param(name), "array"));
        }
        let mut total = 0;
        for (i, e) in json::elements(v).enumerate() {
            if json::kind(e) != Kind::String {
                let p = Param {
                    name: name.as_bytes(),
                    index: Some(i),
                    field: None,
                };
                return Err(ArgError::InvalidType(p, "string"));
            }
            total += e.len() - 1;
        }
        self.join(v, total).map(Some)
    }

    fn join(&mut self, arr: &'a [u8], total: usize) -> ArgResult<'a, StrList<'a>> {
        let out = self.arena.take(total).ok_or(ArgError::TooLarge)?;
        let (mut w, mut count) = (0, 0);
        for e in json::elements(arr) {
            let raw = &e[1..e.len() - 1];
            let mut r = 0;
            while r < raw.len() {
                let (c, used) = json::decode_char(&raw[r..]);
                r += used;
                // NUL separates entries; a NUL inside one cannot reach a C API anyway.
                let c = if c == '\0' { '\u{FFFD}' } else { c };
                w += c.encode_utf8(&mut out[w..]).len();
            }
            out[w] = 0;
            w += 1;
            count += 1;
        }
        let joined = self.arena.give_back(out, w);
        let joined = core::str::from_utf8(joined).map_err(|_| ArgError::TooLarge)?;
        Ok(StrList::from_joined(joined, count))
    }

    /// A required list of objects: returns the raw array after checking type.
    pub fn object_list(&mut self, name: &'static str) -> ArgResult<'a, &'a [u8]> {
        let v = self.raw(name);
        let v = self.required(name, v)?;
        if json::kind(v) != Kind::Array {
            return Err(ArgError::InvalidType(self.param(name), "array"));
        }
        Ok(v)
    }

    /// Reads element `index` of list `list` (an object) with `read`.
    pub fn element<T>(
        &mut self,
        list: &'static str,
        index: usize,
        elem: &'a [u8],
        read: impl FnOnce(&mut Args<'a, '_>) -> ArgResult<'a, T>,
    ) -> ArgResult<'a, T> {
        if json::kind(elem) != Kind::Object {
            let p = Param {
                name: list.as_bytes(),
                index: Some(index),
                field: None,
            };
            return Err(ArgError::InvalidType(p, "object"));
        }
        if crate::wire::envelope::has_duplicate_key(elem) {
            return Err(ArgError::DuplicateKey);
        }
        let mut sub = Args {
            obj: elem,
            arena: self.arena,
            asked: heapless::Vec::new(),
            list: Some((list.as_bytes(), index)),
        };
        let v = read(&mut sub)?;
        sub.finish()?;
        Ok(v)
    }

    /// Reports the first member nobody asked for.
    pub fn finish(&self) -> ArgResult<'a, ()> {
        for (k, _) in json::members(self.obj) {
            if !self.asked.iter().any(|a| a.as_bytes() == k) {
                // Inside a list element qemu names the path: `vcpus[0].foo`.
                let p = match self.list {
                    Some((list, i)) => Param {
                        name: list,
                        index: Some(i),
                        field: Some(k),
                    },
                    None => Param {
                        name: k,
                        index: None,
                        field: None,
                    },
                };
                return Err(ArgError::Unexpected(p));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_args<T>(obj: &[u8], f: impl FnOnce(&mut Args<'_, '_>) -> T) -> T {
        let mut space = [0u8; 256];
        let mut arena = Arena::new(&mut space);
        let mut args = match Args::new(Some(obj), &mut arena) {
            Ok(a) => a,
            Err(_) => Args {
                obj: b"{}",
                arena: &mut Arena::new(&mut []),
                asked: heapless::Vec::new(),
                list: None,
            },
        };
        f(&mut args)
    }

    fn err_text(e: ArgError<'_>) -> String {
        e.to_string()
    }

    #[test]
    fn qemu_texts_for_each_failure() {
        with_args(br#"{"handle":"x"}"#, |a| {
            assert_eq!(
                a.int("handle").map_err(err_text),
                Err("Invalid parameter type for 'handle', expected: integer".to_string())
            );
        });
        with_args(b"{}", |a| {
            assert_eq!(
                a.int("handle").map_err(err_text),
                Err("Parameter 'handle' is missing".to_string())
            );
        });
        with_args(br#"{"foo":42}"#, |a| {
            assert_eq!(
                a.finish().map_err(err_text),
                Err("Parameter 'foo' is unexpected".to_string())
            );
        });
        with_args(br#"{"x":1.5}"#, |a| {
            assert_eq!(
                a.opt_u64("x").map_err(err_text),
                Err("Parameter 'x' expects uint64".to_string())
            );
        });
        with_args(br#"{"x":null}"#, |a| {
            assert!(a.opt_bool("x").is_err(), "null counts as present");
        });
    }

    #[test]
    fn int_rules() {
        with_args(br#"{"a":-0,"b":1e3,"c":9223372036854775808,"d":-1}"#, |a| {
            assert_eq!(a.int("a"), Ok(0));
            assert!(a.int("b").is_err());
            assert!(a.int("c").is_err());
            assert_eq!(a.opt_u64("d"), Ok(Some(u64::MAX)));
        });
    }

    #[test]
    fn strings_and_lists_are_decoded() {
        with_args(br#"{"p":"a\n\u00e9","l":["x","y\"z"]}"#, |a| {
            assert_eq!(a.str("p"), Ok("a\né"));
            let l = a.opt_str_list("l").ok().flatten().unwrap_or_default();
            let v: heapless::Vec<&str, 4> = l.iter().collect();
            assert_eq!(v.as_slice(), ["x", "y\"z"]);
            assert_eq!((l.len(), l.is_empty()), (2, false));
            assert_eq!(a.finish(), Ok(()));
        });
    }

    #[test]
    fn list_elements_name_their_path() {
        with_args(br#"{"vcpus":[{"logical-id":0}]}"#, |a| {
            let list = a.object_list("vcpus").unwrap_or(b"[]");
            let first = json::elements(list).next().unwrap_or(b"{}");
            let r = a.element("vcpus", 0, first, |e| e.bool("online"));
            assert_eq!(
                r.map_err(err_text),
                Err("Parameter 'vcpus[0].online' is missing".to_string())
            );
        });
    }

    #[test]
    fn duplicate_keys_are_parse_errors() {
        let mut space = [0u8; 8];
        let mut arena = Arena::new(&mut space);
        assert!(matches!(
            Args::new(Some(br#"{"a":1,"a":2}"#), &mut arena),
            Err(ArgError::DuplicateKey)
        ));
    }
}
