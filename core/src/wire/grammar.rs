//! The JSON grammar over tokens, with the nesting bound (protocol notes
//! 1.3-1.5): what may come next, how deep we are, and qemu's text for a
//! token that does not fit. Like qemu's streamer it never looks ahead, so
//! an error is known at the token that causes it.
//!
//! After an error the rest of the value is skipped: [`Grammar::skip`]
//! counts brackets until the value that failed has ended.

use super::error::ParseErrorKind;
use crate::config::MAX_DEPTH;

/// A token the grammar sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// `{` (true) or `[`.
    Open(bool),
    /// `}` (true) or `]`.
    Close(bool),
    /// `:`.
    Colon,
    /// `,`.
    Comma,
    /// A string.
    Str,
    /// A number or keyword.
    Scalar,
}

/// What the grammar expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A top-level value.
    Top,
    /// A value after `:` in an object.
    MemberValue,
    /// A value after `,` in an array.
    Element,
    /// After `[`: a value or `]`.
    ElementOrClose,
    /// After `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key.
    Key,
    /// After a key.
    Colon,
    /// After a value in a container (or after the top-level value).
    CommaOrClose,
}

/// The grammar state of one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grammar {
    expect: Expect,
    /// One bit per open container, 1 = object.
    stack: u64,
    depth: usize,
    /// Containers still open in the value being skipped after an error.
    skip_depth: usize,
}

impl Grammar {
    /// Waiting for a top-level value.
    pub(crate) const fn new() -> Grammar {
        Grammar {
            expect: Expect::Top,
            stack: 0,
            depth: 0,
            skip_depth: 0,
        }
    }

    /// Open containers.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Whether the next string is an object key.
    pub(crate) fn expects_key(&self) -> bool {
        matches!(self.expect, Expect::Key | Expect::KeyOrClose)
    }

    /// Whether the next token is an object member's value.
    pub(crate) fn expects_member_value(&self) -> bool {
        self.expect == Expect::MemberValue
    }

    /// Whether the innermost open container is an object.
    pub(crate) fn in_object(&self) -> bool {
        self.depth > 0 && self.stack & 1 == 1
    }

    /// Whether a top-level value is complete.
    pub(crate) fn complete(&self) -> bool {
        self.depth == 0 && self.expect == Expect::CommaOrClose
    }

    /// Whether a token of kind `t` (a string or scalar, seen at its first
    /// byte) fits here; qemu's text for it if not. Nothing changes.
    pub(crate) fn accepts(&self, t: Token) -> Result<(), ParseErrorKind> {
        let mut g = *self;
        g.token(t)
    }

    /// Feeds one token; on error, qemu's text for it. The error leaves the
    /// grammar ready to [`skip`](Self::skip) the rest of the value.
    pub(crate) fn token(&mut self, t: Token) -> Result<(), ParseErrorKind> {
        if matches!(t, Token::Open(_)) && self.depth == MAX_DEPTH {
            return Err(self.fail(ParseErrorKind::DepthLimit, t));
        }
        use Expect::*;
        let value_ok = matches!(self.expect, Top | MemberValue | Element | ElementOrClose);
        match t {
            Token::Open(obj) if value_ok => self.push(obj),
            Token::Close(obj) if self.closes(obj) => self.pop(),
            Token::Str if self.expects_key() => self.expect = Colon,
            Token::Str | Token::Scalar if value_ok => self.expect = CommaOrClose,
            Token::Colon if self.expect == Colon => self.expect = MemberValue,
            Token::Comma if self.expect == CommaOrClose && self.depth > 0 => {
                self.expect = if self.in_object() { Key } else { Element }
            }
            _ => return Err(self.fail(self.error_kind(t), t)),
        }
        Ok(())
    }

    /// Marks the value failed at `t` (a bad string, keyword or size counts
    /// as the token it is); returns `kind` for convenience.
    pub(crate) fn fail(&mut self, kind: ParseErrorKind, t: Token) -> ParseErrorKind {
        self.skip_depth = self.depth + matches!(t, Token::Open(_)) as usize;
        // A failed closer closes its container (`[1 2]` ends at `]`).
        if matches!(t, Token::Close(_)) {
            self.skip_depth = self.skip_depth.saturating_sub(1);
        }
        kind
    }

    /// Whether the failed value is over: nothing is still open, and the
    /// failing token was not an opener.
    pub(crate) fn failed_value_over(&self) -> bool {
        self.skip_depth == 0
    }

    /// Counts a token of a failed value; `true` when the value has ended.
    pub(crate) fn skip(&mut self, t: Token) -> bool {
        match t {
            Token::Open(_) => self.skip_depth += 1,
            Token::Close(_) => self.skip_depth = self.skip_depth.saturating_sub(1),
            _ => {}
        }
        self.skip_depth == 0 && !matches!(t, Token::Open(_))
    }

    fn closes(&self, obj: bool) -> bool {
        let allowed = match self.expect {
            Expect::CommaOrClose => true,
            Expect::KeyOrClose => obj,
            Expect::ElementOrClose => !obj,
            _ => false,
        };
        allowed && self.depth > 0 && obj == self.in_object()
    }

    /// qemu's text for token `t` where it does not fit: a structural token
    /// where a value or key should start is `expecting value`.
    fn error_kind(&self, t: Token) -> ParseErrorKind {
        use ParseErrorKind::*;
        match self.expect {
            Expect::Key | Expect::KeyOrClose if t == Token::Scalar => KeyNotString,
            Expect::Colon => MissingColon,
            Expect::CommaOrClose if self.in_object() => SeparatorInDict,
            Expect::CommaOrClose if self.depth > 0 => SeparatorInList,
            _ => ExpectingValue,
        }
    }

    fn push(&mut self, obj: bool) {
        self.stack = self.stack << 1 | obj as u64;
        self.depth += 1;
        self.expect = if obj {
            Expect::KeyOrClose
        } else {
            Expect::ElementOrClose
        };
    }

    fn pop(&mut self) {
        self.stack >>= 1;
        self.depth -= 1;
        self.expect = Expect::CommaOrClose;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Token::*;

    /// Feeds tokens; the first error and its index, or whether complete.
    fn run(tokens: &[Token]) -> Result<bool, (ParseErrorKind, usize)> {
        let mut g = Grammar::new();
        for (i, &t) in tokens.iter().enumerate() {
            g.token(t).map_err(|k| (k, i))?;
        }
        Ok(g.complete())
    }

    #[test]
    fn accepts_values() {
        let obj = [Open(true), Str, Colon, Open(false), Scalar, Comma, Str];
        assert_eq!(
            run(&[&obj[..], &[Close(false), Close(true)]].concat()),
            Ok(true)
        );
        assert_eq!(run(&[Scalar]), Ok(true));
        assert_eq!(run(&[Open(true), Str, Colon]), Ok(false));
    }

    #[test]
    fn qemu_texts_at_the_first_bad_token() {
        use ParseErrorKind::*;
        assert_eq!(run(&[Open(true), Str, Scalar]), Err((MissingColon, 2)));
        assert_eq!(run(&[Open(true), Scalar]), Err((KeyNotString, 1)));
        assert_eq!(
            run(&[Open(true), Str, Colon, Scalar, Scalar]),
            Err((SeparatorInDict, 4))
        );
        assert_eq!(
            run(&[Open(false), Scalar, Scalar]),
            Err((SeparatorInList, 2))
        );
        assert_eq!(
            run(&[Open(true), Str, Colon, Scalar, Comma, Close(true)]),
            Err((ExpectingValue, 5))
        );
        assert_eq!(run(&[Close(true)]), Err((ExpectingValue, 0)));
        assert_eq!(run(&[Open(false), Close(true)]), Err((ExpectingValue, 1)));
    }

    #[test]
    fn accepts_does_not_change_the_state() {
        let mut g = Grammar::new();
        let _ = g.token(Open(true));
        assert_eq!(g.accepts(Scalar), Err(ParseErrorKind::KeyNotString));
        assert_eq!(g.accepts(Str), Ok(()));
        assert!(g.expects_key());
    }

    #[test]
    fn depth_limit_at_the_first_opener_too_many() {
        let opens = vec![Open(false); MAX_DEPTH + 1];
        assert_eq!(run(&opens), Err((ParseErrorKind::DepthLimit, MAX_DEPTH)));
        assert_eq!(run(&opens[..MAX_DEPTH]), Ok(false));
    }

    #[test]
    fn skip_ends_with_the_failed_value() {
        // `[[1 2] 3]`: fails at the second `2`, inside two containers.
        let mut g = Grammar::new();
        for t in [Open(false), Open(false), Scalar] {
            let _ = g.token(t);
        }
        assert!(g.token(Scalar).is_err());
        assert!(!g.failed_value_over());
        assert!(!g.skip(Close(false)));
        assert!(!g.skip(Scalar));
        assert!(!g.skip(Open(true)));
        assert!(!g.skip(Close(true)));
        assert!(g.skip(Close(false)));
        // A stray closer at the top is over at once.
        let mut g = Grammar::new();
        assert!(g.token(Close(true)).is_err());
        assert!(g.failed_value_over());
        // Too deep: the failing opener counts as open.
        let mut g = Grammar::new();
        g.fail(ParseErrorKind::DepthLimit, Open(false));
        assert!(!g.failed_value_over());
        assert!(g.skip(Close(false)));
    }
}
