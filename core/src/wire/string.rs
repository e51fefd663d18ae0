//! String lexing: one byte at a time, what a byte inside a string means
//! (protocol notes 1.2). The lexer turns qemu's extensions into standard
//! JSON (`'...'` strings, `\'`, the overlong NUL `C0 80`) and knows the
//! decoded byte of each piece, for payloads that stream.
//!
//! Errors come at the byte that makes them certain. After a grammar error
//! the lexer goes on as if nothing happened, so the string still ends at
//! its real closing quote; `again` says the offending byte was not taken
//! and must be looked at once more (the `"` after `\xC3` closes the string).

use super::error::{ParseError, ParseErrorKind};
use super::lexer::{simple_escape, Esc, Utf8};

/// One piece of string content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    raw: [u8; 6],
    len: u8,
    /// The byte this piece stands for, when it is one ASCII byte; other
    /// pieces stream as 0xFF, which no base64 decoder accepts.
    pub(crate) decoded: Option<u8>,
}

impl Piece {
    fn new(raw: &[u8], decoded: Option<u8>) -> Piece {
        let mut p = Piece {
            raw: [0; 6],
            len: raw.len() as u8,
            decoded,
        };
        p.raw[..raw.len()].copy_from_slice(raw);
        p
    }

    /// The piece as standard JSON string content.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw[..self.len as usize]
    }
}

/// What one byte did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StrStep {
    /// Taken; nothing to store yet (inside an escape or a UTF-8 sequence).
    Pending,
    /// Content to store.
    Content(Piece),
    /// The closing quote.
    End,
    /// A grammar error; `again`: the byte was not taken.
    Bad { error: ParseError, again: bool },
    /// A byte no string may hold: a lexical error (the byte is taken).
    Stray,
}

/// The state inside one string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StrLexer {
    quote: u8,
    esc: Esc,
    hex: u16,
    hex_raw: [u8; 4],
    /// A high surrogate waiting for its low half, as written.
    high: Option<[u8; 4]>,
    utf8: Utf8,
}

/// A byte that can be copied as is: printable ASCII other than the closing
/// quote, a backslash, or a `"` inside a single-quoted string.
pub(crate) fn plain(c: u8, quote: u8) -> bool {
    (0x20..0x7F).contains(&c) && c != quote && c != b'\\' && c != b'"'
}

/// A byte that ends any string with a lexical error: control bytes and
/// 0xFE (0xFF never reaches the lexer).
fn forbidden(b: u8) -> bool {
    b < 0x20 || b == 0xFE
}

fn bad(kind: ParseErrorKind, again: bool) -> StrStep {
    StrStep::Bad {
        error: ParseError::new(kind),
        again,
    }
}

impl StrLexer {
    /// A string opened by `quote` (`"` or `'`).
    pub(crate) const fn new(quote: u8) -> StrLexer {
        StrLexer {
            quote,
            esc: Esc::None,
            hex: 0,
            hex_raw: [0; 4],
            high: None,
            utf8: Utf8::new(),
        }
    }

    /// The quote that closes this string.
    pub(crate) fn quote(&self) -> u8 {
        self.quote
    }

    /// Between characters: a run of [`plain`] bytes may be copied at once.
    pub(crate) fn at_boundary(&self) -> bool {
        self.esc == Esc::None && self.high.is_none() && !self.utf8.pending()
    }

    /// Feeds one byte.
    pub(crate) fn step(&mut self, b: u8) -> StrStep {
        match self.esc {
            Esc::Backslash => return self.escape_letter(b),
            Esc::Hex(k) => return self.hex_digit(k, b),
            Esc::None => {}
        }
        if self.high.is_some() && b != b'\\' {
            return self.lone_surrogate(true);
        }
        match b {
            _ if self.utf8.pending() || b >= 0x80 => self.utf8_byte(b),
            b'\\' => {
                self.esc = Esc::Backslash;
                StrStep::Pending
            }
            _ if b == self.quote => StrStep::End,
            b'"' => StrStep::Content(Piece::new(b"\\\"", Some(b'"'))),
            // DEL is plain string content for qemu and RFC 8259 alike.
            0x20..=0x7F => StrStep::Content(Piece::new(&[b], Some(b))),
            _ => StrStep::Stray,
        }
    }

    fn utf8_byte(&mut self, b: u8) -> StrStep {
        if b == 0xFE || (b < 0x20 && self.utf8.pending()) {
            return StrStep::Stray;
        }
        let interrupted = self.utf8.pending();
        // qemu accepts the overlong NUL `C0 80` (modified UTF-8); store it
        // as `\u0000` so the frame stays standard JSON.
        if self.utf8.is_overlong_nul() {
            self.utf8 = Utf8::new();
            if b == 0x80 {
                return StrStep::Content(Piece::new(b"\\u0000", Some(0)));
            }
            return bad(ParseErrorKind::InvalidUtf8, true);
        }
        if b == 0xC0 && !interrupted {
            self.utf8 = Utf8::overlong_nul();
            return StrStep::Pending;
        }
        if !self.utf8.step(b) {
            self.utf8 = Utf8::new();
            // A sequence cut short: the byte is looked at afresh (it may be
            // the closing quote). An invalid lead byte is simply taken.
            return bad(ParseErrorKind::InvalidUtf8, interrupted);
        }
        StrStep::Content(Piece::new(&[b], Some(b)))
    }

    fn escape_letter(&mut self, b: u8) -> StrStep {
        self.esc = Esc::None;
        if forbidden(b) {
            return StrStep::Stray;
        }
        if self.high.is_some() && b != b'u' {
            return self.lone_surrogate(false);
        }
        if !simple_escape(b) {
            return bad(ParseErrorKind::InvalidEscape, false);
        }
        if b == b'u' {
            self.esc = Esc::Hex(0);
            self.hex = 0;
            return StrStep::Pending;
        }
        let decoded = match b {
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            other => other,
        };
        // `\'` is qemu's extension: store a plain `'` so the frame is standard JSON.
        let stored: &[u8] = if b == b'\'' { b"'" } else { &[b'\\', b] };
        StrStep::Content(Piece::new(stored, Some(decoded)))
    }

    fn hex_digit(&mut self, k: u8, b: u8) -> StrStep {
        let Some(d) = (b as char).to_digit(16) else {
            self.esc = Esc::None;
            if forbidden(b) {
                return StrStep::Stray;
            }
            // For qemu's lexer the digits are plain characters: a quote
            // here still closes the string.
            return bad(ParseErrorKind::InvalidEscape, true);
        };
        self.hex = self.hex << 4 | d as u16;
        self.hex_raw[k as usize & 3] = b;
        if k < 3 {
            self.esc = Esc::Hex(k + 1);
            return StrStep::Pending;
        }
        self.esc = Esc::None;
        self.code_unit(self.hex)
    }

    /// A complete `\uXXXX`: checks surrogate pairing.
    fn code_unit(&mut self, u: u16) -> StrStep {
        let is_high = (0xD800..0xDC00).contains(&u);
        let is_low = (0xDC00..0xE000).contains(&u);
        if self.high.is_some() != is_low {
            return self.lone_surrogate(false);
        }
        let raw = u_escape(u);
        if is_high {
            self.high = Some(self.hex_raw);
            return StrStep::Content(Piece::new(&raw, None));
        }
        self.high = None;
        // Streamed data only ever needs ASCII (base64): anything else is 0xFF.
        let decoded = if u < 0x80 { u as u8 } else { 0xFF };
        StrStep::Content(Piece::new(&raw, Some(decoded)))
    }

    /// qemu names the first escape of a bad pair (`\ud800 is not a valid
    /// Unicode character`): the waiting high surrogate, else this one.
    fn lone_surrogate(&mut self, again: bool) -> StrStep {
        let h = self.high.take().unwrap_or(self.hex_raw);
        let text = [b'\\', b'u', h[0], h[1], h[2], h[3]];
        StrStep::Bad {
            error: ParseError::with_detail(ParseErrorKind::InvalidUnicode, &text),
            again,
        }
    }
}

/// `\uxxxx` in lower-case hex, the form frames store.
fn u_escape(u: u16) -> [u8; 6] {
    let mut raw = *b"\\u0000";
    for (i, shift) in [12, 8, 4, 0].into_iter().enumerate() {
        raw[2 + i] = b"0123456789abcdef"[(u >> shift) as usize & 0xF];
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lexes `s` after its opening `"`: the stored form up to the end, or
    /// the first error as `Err((kind, index of the byte))`.
    fn lex(s: &[u8]) -> Result<Vec<u8>, (ParseErrorKind, usize)> {
        let mut l = StrLexer::new(b'"');
        let mut stored = Vec::new();
        for (i, &b) in s.iter().enumerate() {
            match l.step(b) {
                StrStep::Pending => {}
                StrStep::Content(p) => stored.extend_from_slice(p.raw()),
                StrStep::End => return Ok(stored),
                StrStep::Bad { error, .. } => return Err((error.kind, i)),
                StrStep::Stray => return Err((ParseErrorKind::Stray, i)),
            }
        }
        Err((ParseErrorKind::ExpectingValue, s.len()))
    }

    #[test]
    fn content_is_normalised() {
        assert_eq!(lex(b"a\\'b\\n\"").ok(), Some(b"a'b\\n".to_vec()));
        assert_eq!(lex(b"\xc0\x80\"").ok(), Some(b"\\u0000".to_vec()));
        assert_eq!(lex("é\"".as_bytes()).ok(), Some("é".as_bytes().to_vec()));
        assert_eq!(
            lex(b"\\uD83D\\uDE00\"").ok(),
            Some(b"\\ud83d\\ude00".to_vec())
        );
        let mut l = StrLexer::new(b'\'');
        assert!(matches!(l.step(b'"'), StrStep::Content(p) if p.raw() == b"\\\""));
        assert_eq!(l.step(b'\''), StrStep::End);
    }

    #[test]
    fn errors_come_at_the_offending_byte() {
        use ParseErrorKind::*;
        assert_eq!(lex(b"\xc3\x28\""), Err((InvalidUtf8, 1)));
        assert_eq!(lex(b"\x80\""), Err((InvalidUtf8, 0)));
        assert_eq!(lex(b"\xc0\x81\""), Err((InvalidUtf8, 1)));
        assert_eq!(lex(b"\xed\xa0\x80\""), Err((InvalidUtf8, 1)));
        assert_eq!(lex(b"\\q\""), Err((InvalidEscape, 1)));
        assert_eq!(lex(b"\\u12\""), Err((InvalidEscape, 4)));
        assert_eq!(lex(b"\\ud800\""), Err((InvalidUnicode, 6)));
        assert_eq!(lex(b"\\udc00\""), Err((InvalidUnicode, 5)));
        assert_eq!(lex(b"\\ud800\\u0041\""), Err((InvalidUnicode, 11)));
        assert_eq!(lex(b"a\tb\""), Err((Stray, 1)));
        assert_eq!(lex(b"\xc3\n\""), Err((Stray, 1)));
        assert_eq!(lex(b"\\\x01\""), Err((Stray, 1)));
        assert_eq!(lex(b"\xfe\""), Err((Stray, 0)));
    }

    #[test]
    fn after_an_error_the_string_still_ends_at_its_quote() {
        let mut l = StrLexer::new(b'"');
        let _ = l.step(0xC3);
        assert!(matches!(l.step(b'"'), StrStep::Bad { again: true, .. }));
        assert_eq!(l.step(b'"'), StrStep::End);
        let mut l = StrLexer::new(b'"');
        for &b in b"\\ud800\\" {
            let _ = l.step(b);
        }
        // `\"` after a lone high surrogate is still an escaped quote.
        assert!(matches!(l.step(b'"'), StrStep::Bad { again: false, .. }));
        assert!(matches!(l.step(b'x'), StrStep::Content(_)));
    }

    #[test]
    fn lone_surrogate_names_the_high_half() {
        let mut l = StrLexer::new(b'"');
        let mut last = StrStep::Pending;
        for &b in b"\\ud800\\u0041" {
            last = l.step(b);
        }
        let named =
            matches!(last, StrStep::Bad { error, .. } if error.detail() == Some(&b"\\ud800"[..]));
        assert!(named, "{last:?}");
    }

    #[test]
    fn decoded_bytes_for_streaming() {
        let mut l = StrLexer::new(b'"');
        let dec = |s: StrStep| match s {
            StrStep::Content(p) => p.decoded,
            _ => Some(1),
        };
        assert_eq!(dec(l.step(b'A')), Some(b'A'));
        let _ = l.step(b'\\');
        assert_eq!(dec(l.step(b'/')), Some(b'/'));
        assert_eq!(dec(l.step(0xC3)), Some(0xC3));
        assert_eq!(dec(l.step(0xA9)), Some(0xA9));
        for &b in b"\\u004" {
            let _ = l.step(b);
        }
        assert_eq!(dec(l.step(b'1')), Some(b'A'));
        assert!(l.at_boundary());
        assert!(plain(b'A', b'"') && !plain(b'"', b'\'') && !plain(b'\\', b'"'));
    }
}
