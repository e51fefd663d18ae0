//! Byte classes and the per-token lexer states (protocol notes 1.2).
//!
//! The lexer accepts what qemu-ga's accepts: RFC 8259 JSON plus
//! single-quoted strings and the `\'` escape. It works one byte at a time and
//! never looks back, so any split of the input gives the same tokens.

/// What a byte means outside any token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// SP, HT, CR, LF.
    Space,
    /// `{ } [ ] : ,`.
    Structural,
    /// `"` or `'`.
    Quote,
    /// `-` or a digit.
    Number,
    /// `a`-`z`.
    Letter,
    /// Anything else: a lexical error (0xFF never gets here: the framer
    /// resets on it first).
    Stray,
}

/// Classifies a byte that starts a token.
pub(crate) fn class(b: u8) -> Class {
    match b {
        b' ' | b'\t' | b'\r' | b'\n' => Class::Space,
        b'{' | b'}' | b'[' | b']' | b':' | b',' => Class::Structural,
        b'"' | b'\'' => Class::Quote,
        b'-' | b'0'..=b'9' => Class::Number,
        b'a'..=b'z' => Class::Letter,
        _ => Class::Stray,
    }
}

/// Whether skip mode (after a lexical error) ends at this byte: structural
/// bytes, control bytes other than TAB, and 0xFE/0xFF (notes 1.6).
pub(crate) fn ends_skip(b: u8) -> bool {
    matches!(b, b'{' | b'}' | b'[' | b']' | b':' | b',' | 0xFE | 0xFF) || (b < 0x20 && b != b'\t')
}

/// Inside a number token (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Num {
    /// After `-`: a digit must follow.
    Minus,
    /// After a leading `0`.
    Zero,
    /// In the integer digits.
    Int,
    /// After `.`: a digit must follow.
    Dot,
    /// In the fraction digits.
    Frac,
    /// After `e`/`E`.
    Exp,
    /// After the exponent sign.
    ExpSign,
    /// In the exponent digits.
    ExpDigits,
}

/// What a byte does to a number token.
pub(crate) enum NumStep {
    /// Part of the number; the new state.
    More(Num),
    /// The number ended before this byte (which is examined afresh).
    End,
    /// Not allowed here: a lexical error.
    Bad,
}

impl Num {
    /// The state after the first byte (`-` or a digit).
    pub(crate) fn start(b: u8) -> Num {
        match b {
            b'-' => Num::Minus,
            b'0' => Num::Zero,
            _ => Num::Int,
        }
    }

    /// Feeds one byte.
    pub(crate) fn step(self, b: u8) -> NumStep {
        use Num::*;
        let digit = b.is_ascii_digit();
        let next = match (self, b) {
            (Minus, b'0') => Zero,
            (Minus, _) if digit => Int,
            (Minus, _) => return NumStep::Bad,
            (Zero, _) if digit => return NumStep::Bad,
            (Zero | Int, b'.') => Dot,
            (Zero | Int | Frac, b'e' | b'E') => Exp,
            (Int, _) if digit => Int,
            (Dot | Frac, _) if digit => Frac,
            (Dot, _) => return NumStep::Bad,
            (Exp, b'+' | b'-') => ExpSign,
            (Exp | ExpSign | ExpDigits, _) if digit => ExpDigits,
            (Exp | ExpSign, _) => return NumStep::Bad,
            _ => return NumStep::End,
        };
        NumStep::More(next)
    }
}

/// Incremental UTF-8 validation inside strings (rejects overlong forms,
/// surrogates and code points above U+10FFFF).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Utf8 {
    /// Continuation bytes still expected.
    need: u8,
    /// Allowed range of the next continuation byte.
    lo: u8,
    hi: u8,
}

impl Utf8 {
    /// The state between characters.
    pub(crate) const fn new() -> Utf8 {
        Utf8 {
            need: 0,
            lo: 0,
            hi: 0,
        }
    }

    /// After a `C0` lead byte: only `80` may follow (the overlong NUL).
    pub(crate) const fn overlong_nul() -> Utf8 {
        Utf8 {
            need: 1,
            lo: 0x80,
            hi: 0x80,
        }
    }

    /// Whether the state is [`Utf8::overlong_nul`] (no other state has
    /// `hi == 0x80`).
    pub(crate) fn is_overlong_nul(self) -> bool {
        self.need == 1 && self.hi == 0x80
    }

    /// Whether a multi-byte sequence is incomplete.
    pub(crate) fn pending(self) -> bool {
        self.need > 0
    }

    /// Feeds one byte >= 0x80 (or a continuation); `false` if invalid.
    pub(crate) fn step(&mut self, b: u8) -> bool {
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                return false;
            }
            self.need -= 1;
            (self.lo, self.hi) = (0x80, 0xBF);
            return true;
        }
        let (need, lo, hi) = match b {
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xE1..=0xEF => (2, 0x80, 0xBF),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return false,
        };
        *self = Utf8 { need, lo, hi };
        true
    }
}

/// Inside a string's escape sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Esc {
    /// Not in an escape.
    None,
    /// After `\`.
    Backslash,
    /// After `\u` and this many hex digits (0-3).
    Hex(u8),
}

/// Whether `b` may follow a backslash (`\'` is qemu's extension).
pub(crate) fn simple_escape(b: u8) -> bool {
    matches!(
        b,
        b'"' | b'\'' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex_number(s: &[u8]) -> Result<usize, usize> {
        let mut st = Num::start(s[0]);
        for (i, &b) in s.iter().enumerate().skip(1) {
            match st.step(b) {
                NumStep::More(n) => st = n,
                NumStep::End => return Ok(i),
                NumStep::Bad => return Err(i),
            }
        }
        Ok(s.len())
    }

    #[test]
    fn numbers_follow_the_json_grammar() {
        assert_eq!(lex_number(b"123 "), Ok(3));
        assert_eq!(lex_number(b"-0.5e+3,"), Ok(7));
        assert_eq!(lex_number(b"01"), Err(1));
        assert_eq!(lex_number(b"-01"), Err(2));
        assert_eq!(lex_number(b"-0.5 "), Ok(4));
        assert_eq!(lex_number(b"-x"), Err(1));
        assert_eq!(lex_number(b"1.}"), Err(2));
        assert_eq!(lex_number(b"1e}"), Err(2));
        assert_eq!(lex_number(b"0}"), Ok(1));
    }

    #[test]
    fn utf8_rejects_overlong_and_surrogates() {
        let ok = |s: &[u8]| {
            let mut u = Utf8::default();
            s.iter().all(|&b| u.step(b)) && !u.pending()
        };
        assert!(ok("é€😀".as_bytes()));
        assert!(ok("\u{10FFFF}\u{40000}\u{800}".as_bytes()));
        assert!(!ok(&[0xC0, 0x80]));
        assert!(!ok(&[0xED, 0xA0, 0x80]));
        assert!(!ok(&[0xF4, 0x90, 0x80, 0x80]));
        assert!(!ok(&[0xE2, 0x82]));
    }

    #[test]
    fn skip_ends_where_qemu_resumes() {
        assert!(ends_skip(b'{') && ends_skip(b'\n') && ends_skip(0xFF) && ends_skip(0));
        assert!(!ends_skip(b'a') && !ends_skip(b'\t') && !ends_skip(b'"'));
    }
}
