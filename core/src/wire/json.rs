//! Reading stored frames (always compact, valid, double-quoted JSON) and
//! the string escaping of qemu's JSON writer (protocol notes 1.8).
//!
//! Readers take spans of a frame and never index out of bounds, even on a
//! truncated prefix: a malformed span simply ends the iteration.

/// The JSON type of a stored value, named as in qemu's argument errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kind {
    /// `{...}`.
    Object,
    /// `[...]`.
    Array,
    /// `"..."`.
    String,
    /// A number.
    Number,
    /// `true`/`false`.
    Boolean,
    /// `null`.
    Null,
}

/// The kind of the value starting `v`.
pub fn kind(v: &[u8]) -> Kind {
    match v.first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b't' | b'f') => Kind::Boolean,
        Some(b'n') | None => Kind::Null,
        Some(_) => Kind::Number,
    }
}

/// Length of the complete value at the start of `src` (0 if there is none).
pub fn value_len(src: &[u8]) -> usize {
    match src.first() {
        Some(b'"') => string_len(src),
        Some(b'{' | b'[') => container_len(src),
        Some(_) => src
            .iter()
            .position(|&b| matches!(b, b',' | b'}' | b']' | b':'))
            .unwrap_or(src.len()),
        None => 0,
    }
}

fn string_len(src: &[u8]) -> usize {
    let mut i = 1;
    loop {
        i += plain_run(src.get(i..).unwrap_or_default());
        match src.get(i) {
            Some(b'\\') => i += 2,
            Some(_) => return i + 1,
            None => return src.len(),
        }
    }
}

/// How many bytes at the start of `s` are neither `"` nor `\\`: eight at
/// a time while a word holds neither (base64 payloads are long plain runs,
/// and each is measured more than once on its way through the envelope).
fn plain_run(s: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let has_byte = |w: u64, b: u8| {
        let x = w ^ (ONES * b as u64);
        x.wrapping_sub(ONES) & !x & HIGH != 0
    };
    let mut n = 0;
    for w in s.chunks_exact(8) {
        let w = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        if has_byte(w, b'"') || has_byte(w, b'\\') {
            break;
        }
        n += 8;
    }
    let rest = &s[n..];
    n + rest
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .unwrap_or(rest.len())
}

fn container_len(src: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = src.get(i) {
        match b {
            b'"' => {
                i += string_len(&src[i..]);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    src.len()
}

/// The members of an object value: `(raw key without quotes, value)`.
pub fn members(obj: &[u8]) -> Members<'_> {
    Members {
        rest: obj.get(1..).unwrap_or(&[]),
    }
}

/// Iterator over an object's members (see [`members`]).
#[derive(Clone)]
pub struct Members<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.first() != Some(&b'"') {
            return None;
        }
        let klen = string_len(rest);
        let key = rest.get(1..klen.saturating_sub(1))?;
        let after = rest.get(klen + 1..)?; // skip ':'
        let vlen = value_len(after);
        let value = after.get(..vlen)?;
        self.rest = after.get(vlen + 1..).unwrap_or(&[]); // skip ',' or '}'
        Some((key, value))
    }
}

/// The elements of an array value.
pub fn elements(arr: &[u8]) -> Elements<'_> {
    Elements {
        rest: arr.get(1..).unwrap_or(&[]),
    }
}

/// Iterator over an array's elements (see [`elements`]).
#[derive(Clone)]
pub struct Elements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if matches!(self.rest.first(), None | Some(b']')) {
            return None;
        }
        let n = value_len(self.rest);
        let v = self.rest.get(..n)?;
        self.rest = self.rest.get(n + 1..).unwrap_or(&[]);
        Some(v)
    }
}

/// Decodes the raw string content `buf[from..to]` (escapes resolved,
/// surrogate pairs combined) to `buf[dst..]`; returns the end of the result,
/// or `None` if it does not fit. `dst` must be `<= from` or `>= to`: the
/// result is never longer than its source, so the copy is safe either way.
pub fn unescape_within(buf: &mut [u8], from: usize, to: usize, dst: usize) -> Option<usize> {
    let (mut r, mut w) = (from, dst);
    while r < to {
        let (c, used) = decode_char(buf.get(r..to)?);
        r += used;
        let mut tmp = [0u8; 4];
        let bytes = c.encode_utf8(&mut tmp).as_bytes();
        buf.get_mut(w..w + bytes.len())?.copy_from_slice(bytes);
        w += bytes.len();
    }
    Some(w)
}

/// Decodes one character of raw string content: an escape, or a UTF-8 char.
/// Returns the char and the bytes used (at least 1). Invalid input gives
/// U+FFFD.
pub fn decode_char(raw: &[u8]) -> (char, usize) {
    match raw {
        [b'\\', b'u', rest @ ..] => decode_u_escape(rest),
        [b'\\', e, ..] => (simple_unescape(*e), 2),
        _ => decode_utf8(raw),
    }
}

/// Writes raw JSON string content decoded (keys and names are kept escaped
/// in frames).
pub fn write_unescaped(f: &mut dyn core::fmt::Write, raw: &[u8]) -> core::fmt::Result {
    let mut i = 0;
    while i < raw.len() {
        let (c, used) = decode_char(&raw[i..]);
        f.write_char(c)?;
        i += used;
    }
    Ok(())
}

fn simple_unescape(e: u8) -> char {
    match e {
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        other => other as char,
    }
}

fn hex4(raw: &[u8]) -> Option<u32> {
    let s = core::str::from_utf8(raw.get(..4)?).ok()?;
    u32::from_str_radix(s, 16).ok()
}

fn decode_u_escape(rest: &[u8]) -> (char, usize) {
    let Some(hi) = hex4(rest) else {
        return ('\u{FFFD}', 2);
    };
    if (0xD800..0xDC00).contains(&hi) {
        if let (Some(b"\\u"), Some(lo)) = (rest.get(4..6), rest.get(6..).and_then(hex4)) {
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
            return (char::from_u32(c).unwrap_or('\u{FFFD}'), 12);
        }
    }
    (char::from_u32(hi).unwrap_or('\u{FFFD}'), 6)
}

fn decode_utf8(raw: &[u8]) -> (char, usize) {
    let n = match raw.first() {
        Some(0xF0..) => 4,
        Some(0xE0..) => 3,
        Some(0xC0..) => 2,
        _ => 1,
    };
    let c = raw
        .get(..n)
        .and_then(|s| core::str::from_utf8(s).ok())
        .and_then(|s| s.chars().next());
    c.map_or(('\u{FFFD}', 1), |c| (c, n))
}

/// Calls `out` with the pieces of `s` escaped as qemu's JSON writer does:
/// pure ASCII, `\uXXXX` with upper-case hex for controls and non-ASCII,
/// surrogate pairs above U+FFFF, `/` unescaped.
pub fn escape_str<E>(s: &str, out: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        if is_plain_ascii(c) {
            continue;
        }
        out(&bytes[plain_from..i])?;
        escape_char(c, out)?;
        plain_from = i + c.len_utf8();
    }
    out(&bytes[plain_from..])
}

/// Writes raw (escaped) string content from a frame, re-escaped the qemu way.
pub fn escape_raw<E>(raw: &[u8], out: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
    let mut i = 0;
    while i < raw.len() {
        let run = raw[i..]
            .iter()
            .take_while(|&&b| b != b'\\' && (0x20..0x7F).contains(&b) && b != b'"')
            .count();
        if run > 0 {
            out(&raw[i..i + run])?;
            i += run;
            continue;
        }
        let (c, used) = decode_char(&raw[i..]);
        escape_char(c, out)?;
        i += used;
    }
    Ok(())
}

fn is_plain_ascii(c: char) -> bool {
    (' '..'\u{7f}').contains(&c) && c != '"' && c != '\\'
}

fn escape_char<E>(c: char, out: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
    let short: &[u8] = match c {
        '"' => b"\\\"",
        '\\' => b"\\\\",
        '\u{8}' => b"\\b",
        '\u{c}' => b"\\f",
        '\n' => b"\\n",
        '\r' => b"\\r",
        '\t' => b"\\t",
        c if is_plain_ascii(c) => return out(&[c as u8]),
        c => {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out(&u_escape(*u))?;
            }
            return Ok(());
        }
    };
    out(short)
}

fn u_escape(u: u16) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut e = *b"\\u0000";
    for (i, shift) in [12, 8, 4, 0].into_iter().enumerate() {
        e[2 + i] = HEX[(u >> shift) as usize & 0xF];
    }
    e
}

/// Parses a stored integer token (`-?[0-9]+`, no fraction or exponent).
pub fn parse_i64(v: &[u8]) -> Option<i64> {
    let s = core::str::from_utf8(v).ok()?;
    s.parse::<i64>().ok()
}

/// Parses a stored unsigned integer token.
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(v).ok()?;
    s.parse::<u64>().ok()
}

/// Whether a number token is an integer (no `.`, `e` or `E`).
pub fn is_integer(v: &[u8]) -> bool {
    kind(v) == Kind::Number && !v.iter().any(|&b| matches!(b, b'.' | b'e' | b'E'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut v = Vec::new();
        let _ = escape_str::<()>(s, &mut |b| {
            v.extend_from_slice(b);
            Ok(())
        });
        String::from_utf8(v).unwrap_or_default()
    }

    /// `string_len` byte by byte, as it was before the word-at-a-time scan.
    fn string_len_bytewise(src: &[u8]) -> usize {
        let mut i = 1;
        while let Some(&b) = src.get(i) {
            match b {
                b'\\' => i += 2,
                b'"' => return i + 1,
                _ => i += 1,
            }
        }
        src.len()
    }

    #[test]
    fn string_len_finds_the_closing_quote_at_every_offset() {
        // A quote, an escaped quote, a backslash pair or a high byte at
        // each position around two 8-byte words, and unterminated strings,
        // among fillers that share bits with `"` and `\` (or none).
        for len in 0..24 {
            for at in 0..len {
                for (mark, fill) in [&b"\""[..], b"\\\"", b"\\\\", b"\xff", b"\\"]
                    .into_iter()
                    .flat_map(|m| [b'A', b'b', b'~', b'\\' ^ 0x80].map(|f| (m, f)))
                {
                    let mut v = vec![b'"'];
                    v.extend(core::iter::repeat_n(fill, len));
                    v.splice(1 + at..1 + at, mark.iter().copied());
                    for tail in [&b""[..], b"\"", b"\",1]"] {
                        let mut w = v.clone();
                        w.extend_from_slice(tail);
                        assert_eq!(string_len(&w), string_len_bytewise(&w), "{w:?}");
                    }
                }
            }
        }
        assert_eq!(string_len(br#""abcdefghij\"klmnop" x"#), 20);
        assert_eq!(string_len(b"\"abcdefghijklmnop"), 17);
    }

    #[test]
    fn raw_utf8_of_every_length_is_decoded_whole() {
        for (raw, c) in [
            ("a", 'a'),
            ("\u{e9}", '\u{e9}'),
            ("\u{20ac}", '\u{20ac}'),
            ("\u{1f600}", '\u{1f600}'),
        ] {
            let mut text = raw.as_bytes().to_vec();
            text.extend_from_slice(b"z");
            assert_eq!(decode_char(&text), (c, raw.len()), "{raw}");
        }
        assert_eq!(decode_char(&[0xC3, b'z']), ('\u{FFFD}', 1));
        let mut v = Vec::new();
        let _ = escape_raw::<()>("\u{e9}\u{20ac}\u{1f600}".as_bytes(), &mut |b| {
            v.extend_from_slice(b);
            Ok(())
        });
        assert_eq!(v, br"\u00E9\u20AC\uD83D\uDE00");
    }

    #[test]
    fn escapes_like_qemu() {
        assert_eq!(escaped("a\"b\\c/d"), r#"a\"b\\c/d"#);
        assert_eq!(escaped("\u{7f}é\u{1}\n"), r"\u007F\u00E9\u0001\n");
        assert_eq!(escaped("😀"), r"\uD83D\uDE00");
    }

    #[test]
    fn members_and_elements() {
        let obj = br#"{"a":1,"b":{"c":[1,2]},"d":"x,}"}"#;
        let m: Vec<_> = members(obj).collect();
        assert_eq!(
            m,
            [
                (&b"a"[..], &b"1"[..]),
                (b"b", br#"{"c":[1,2]}"#),
                (b"d", br#""x,}""#)
            ]
        );
        let e: Vec<_> = elements(b"[1,\"a\",[2,3],{}]").collect();
        assert_eq!(e, [&b"1"[..], b"\"a\"", b"[2,3]", b"{}"]);
        assert_eq!(elements(b"[]").count(), 0);
    }

    #[test]
    fn truncated_input_ends_iteration() {
        assert_eq!(members(br#"{"a":1,"b"#).count(), 1);
        assert_eq!(members(br#"{"a"#).count(), 0);
    }

    #[test]
    fn unescape_in_place_and_forward() {
        let mut buf = [0u8; 32];
        let raw = br#"a\n\u00e9\ud83d\ude00\/"#;
        buf[..raw.len()].copy_from_slice(raw);
        let end = unescape_within(&mut buf, 0, raw.len(), 0);
        assert_eq!(end.map(|e| &buf[..e]), Some("a\né😀/".as_bytes()));
    }
}
