//! The wire layer's one error type: lexical, grammar and limit errors, each
//! with qemu-ga's exact text (protocol notes 1.4, 1.5).

use core::fmt;

/// The kinds of parse error, each with qemu-ga's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseErrorKind {
    /// `JSON parse error, stray '<token>'`.
    Stray,
    /// `JSON parse error, invalid keyword '<kw>'`.
    InvalidKeyword,
    /// `JSON parse error, expecting value`.
    ExpectingValue,
    /// `JSON parse error, key is not a string in object`.
    KeyNotString,
    /// `JSON parse error, missing : in object pair`.
    MissingColon,
    /// `JSON parse error, expected separator in dict`.
    SeparatorInDict,
    /// `JSON parse error, expected separator in list`.
    SeparatorInList,
    /// `JSON parse error, duplicate key` (found by the frame readers).
    DuplicateKey,
    /// `JSON parse error, invalid UTF-8 sequence in string`.
    InvalidUtf8,
    /// `JSON parse error, invalid escape sequence in string`.
    InvalidEscape,
    /// `JSON parse error, \uXXXX is not a valid Unicode character` (a lone
    /// surrogate; the detail is the escape as written).
    InvalidUnicode,
    /// `JSON nesting depth limit exceeded`.
    DepthLimit,
    /// `JSON token size limit exceeded`: a request larger than the request
    /// buffer, or a streamed one larger than `config::MAX_MESSAGE`.
    SizeLimit,
}

impl ParseErrorKind {
    /// The text before the detail, e.g. `JSON parse error, stray '`; the
    /// whole text for kinds without a detail.
    pub fn text(self) -> &'static str {
        use ParseErrorKind::*;
        match self {
            Stray => "JSON parse error, stray '",
            InvalidKeyword => "JSON parse error, invalid keyword '",
            ExpectingValue => "JSON parse error, expecting value",
            KeyNotString => "JSON parse error, key is not a string in object",
            MissingColon => "JSON parse error, missing : in object pair",
            SeparatorInDict => "JSON parse error, expected separator in dict",
            SeparatorInList => "JSON parse error, expected separator in list",
            DuplicateKey => "JSON parse error, duplicate key",
            InvalidUtf8 => "JSON parse error, invalid UTF-8 sequence in string",
            InvalidEscape => "JSON parse error, invalid escape sequence in string",
            InvalidUnicode => "JSON parse error, ",
            DepthLimit => "JSON nesting depth limit exceeded",
            SizeLimit => "JSON token size limit exceeded",
        }
    }

    /// The text after the detail.
    fn suffix(self) -> &'static str {
        match self {
            ParseErrorKind::Stray | ParseErrorKind::InvalidKeyword => "'",
            ParseErrorKind::InvalidUnicode => " is not a valid Unicode character",
            _ => "",
        }
    }
}

/// A parse error with its detail (the offending token, up to 32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    detail: [u8; 32],
    detail_len: u8,
}

impl ParseError {
    /// An error without detail.
    pub const fn new(kind: ParseErrorKind) -> ParseError {
        ParseError {
            kind,
            detail: [0; 32],
            detail_len: 0,
        }
    }

    /// An error quoting `detail` (cut to 32 bytes).
    pub fn with_detail(kind: ParseErrorKind, detail: &[u8]) -> ParseError {
        let mut e = ParseError::new(kind);
        let n = detail.len().min(e.detail.len());
        e.detail[..n].copy_from_slice(&detail[..n]);
        e.detail_len = n as u8;
        e
    }

    /// The offending text (raw bytes), if this kind quotes one.
    pub fn detail(&self) -> Option<&[u8]> {
        use ParseErrorKind::*;
        match self.kind {
            Stray | InvalidKeyword | InvalidUnicode => {
                Some(&self.detail[..self.detail_len as usize])
            }
            _ => None,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.text())?;
        if let Some(d) = self.detail() {
            // qemu prints the token as a C string: it ends at a NUL.
            let d = d.split(|&b| b == 0).next().unwrap_or(&[]);
            for c in d.utf8_chunks() {
                f.write_str(c.valid())?;
                if !c.invalid().is_empty() {
                    f.write_str("\u{FFFD}")?;
                }
            }
        }
        f.write_str(self.kind.suffix())
    }
}

impl From<ParseErrorKind> for ParseError {
    fn from(kind: ParseErrorKind) -> Self {
        ParseError::new(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_qemus() {
        let e = ParseError::with_detail(ParseErrorKind::Stray, b"01");
        assert_eq!(e.to_string(), "JSON parse error, stray '01'");
        let e = ParseError::with_detail(ParseErrorKind::Stray, b"a\0b");
        assert_eq!(e.to_string(), "JSON parse error, stray 'a'");
        let e = ParseError::with_detail(ParseErrorKind::Stray, &[0xFE]);
        assert_eq!(e.to_string(), "JSON parse error, stray '\u{FFFD}'");
        let e = ParseError::with_detail(ParseErrorKind::InvalidUnicode, b"\\ud800");
        assert_eq!(
            e.to_string(),
            "JSON parse error, \\ud800 is not a valid Unicode character"
        );
        let e = ParseError::from(ParseErrorKind::SizeLimit);
        assert_eq!(e.to_string(), "JSON token size limit exceeded");
        assert_eq!(e.detail(), None);
    }

    #[test]
    fn detail_is_cut_to_32_bytes() {
        let e = ParseError::with_detail(ParseErrorKind::InvalidKeyword, &[b'a'; 40]);
        assert_eq!(e.detail().map(<[u8]>::len), Some(32));
    }
}
