//! The framer: bytes in, complete requests (or parse errors) out.
//!
//! [`Framer::feed`] takes any piece of the byte stream and returns how much
//! it consumed plus at most one [`Event`]; the caller loops on the rest
//! (like postcard's `CobsAccumulator`). The framer validates the JSON grammar
//! as it goes (protocol notes 1.2-1.6) and stores the value, minus
//! whitespace outside strings and with single-quoted strings rewritten as
//! standard JSON, in a buffer of `N` bytes. So a stored frame is always
//! valid RFC 8259 JSON and the layers above never see qemu's extensions.
//!
//! * **0xFF** anywhere resets every state and discards the partial request,
//!   silently (see the crate docs for why this differs from qemu-ga).
//! * A **lexical error** (a byte not allowed where it stands) gives one
//!   `stray` error at once, then bytes are skipped up to the next structural
//!   or control byte, as qemu-ga does.
//! * A **grammar error** (`{"a" 1}`), **too deep** nesting or a value **too
//!   large** for the buffer is remembered; the rest of the value is lexed
//!   and counted but not stored, and one error is returned where the value
//!   ends. The next request is then read normally.
//! * The one large string of a request, `arguments.buf-b64` or
//!   `arguments.input-data`, is **streamed** instead of stored once it no
//!   longer fits: [`Event::StreamStart`], [`Event::StreamData`] pieces
//!   (unescaped), [`Event::StreamEnd`]; the frame then holds `""` in its
//!   place and [`Frame::streamed`] says so.
//!
//! Any split of the same bytes produces the same events' contents.

use super::lexer::{class, ends_skip, simple_escape, Class, Esc, Num, NumStep, Utf8};
use crate::config::MAX_DEPTH;

/// Which argument was streamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamKey {
    /// `arguments.buf-b64` (`guest-file-write`).
    BufB64,
    /// `arguments.input-data` (`guest-exec`).
    InputData,
}

/// A complete request value.
#[derive(Debug)]
pub struct Frame<'a> {
    /// The value as compact, standard JSON.
    pub json: &'a [u8],
    /// The unused rest of the request buffer, for decoding strings.
    pub arena: &'a mut [u8],
    /// The argument that was streamed (its place in `json` holds `""`).
    pub streamed: Option<StreamKey>,
}

/// What one call to [`Framer::feed`] produced.
#[derive(Debug)]
pub enum Event<'a> {
    /// A complete value.
    Frame(Frame<'a>),
    /// A lexical, grammar or limit error: send its error reply (no `id`).
    Error(ParseError),
    /// A large string starts streaming; [`Framer::partial`] holds the
    /// request up to it, for the receiver to choose where the data goes.
    StreamStart(StreamKey),
    /// The next piece of the streamed string, unescaped.
    StreamData(&'a [u8]),
    /// The streamed string ended.
    StreamEnd,
}

/// A parse error, with the text qemu-ga would send (`JSON parse error, ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    detail: [u8; 32],
    detail_len: u8,
}

/// The kinds of parse error, each with qemu-ga's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseErrorKind {
    /// `JSON parse error, stray '<byte>'`.
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
    /// `JSON parse error, invalid UTF-8 sequence in string`.
    InvalidUtf8,
    /// `JSON parse error, invalid escape sequence in string`.
    InvalidEscape,
    /// `JSON parse error, \uXXXX is not a valid Unicode character` (a lone
    /// surrogate; the detail is the escape as written).
    InvalidUnicode,
    /// `JSON nesting depth limit exceeded`.
    DepthLimit,
    /// `JSON token size limit exceeded`.
    SizeLimit,
}

impl ParseError {
    fn new(kind: ParseErrorKind) -> ParseError {
        ParseError {
            kind,
            detail: [0; 32],
            detail_len: 0,
        }
    }

    fn with_detail(kind: ParseErrorKind, detail: &[u8]) -> ParseError {
        let mut e = ParseError::new(kind);
        let n = detail.len().min(e.detail.len());
        e.detail[..n].copy_from_slice(&detail[..n]);
        e.detail_len = n as u8;
        e
    }

    /// The text before the detail, e.g. `JSON parse error, stray '`.
    pub fn prefix(&self) -> &'static str {
        use ParseErrorKind::*;
        match self.kind {
            Stray => "JSON parse error, stray '",
            InvalidKeyword => "JSON parse error, invalid keyword '",
            ExpectingValue => "JSON parse error, expecting value",
            KeyNotString => "JSON parse error, key is not a string in object",
            MissingColon => "JSON parse error, missing : in object pair",
            SeparatorInDict => "JSON parse error, expected separator in dict",
            SeparatorInList => "JSON parse error, expected separator in list",
            InvalidUtf8 => "JSON parse error, invalid UTF-8 sequence in string",
            InvalidEscape => "JSON parse error, invalid escape sequence in string",
            InvalidUnicode => "JSON parse error, ",
            DepthLimit => "JSON nesting depth limit exceeded",
            SizeLimit => "JSON token size limit exceeded",
        }
    }

    /// The offending text (raw bytes, to be escaped by the writer), if any.
    pub fn detail(&self) -> Option<&[u8]> {
        use ParseErrorKind::*;
        match self.kind {
            Stray | InvalidKeyword | InvalidUnicode => {
                Some(&self.detail[..self.detail_len as usize])
            }
            _ => None,
        }
    }

    /// The text after the detail: `'` for quoted details.
    pub fn suffix(&self) -> &'static str {
        match self.kind {
            ParseErrorKind::Stray | ParseErrorKind::InvalidKeyword => "'",
            ParseErrorKind::InvalidUnicode => " is not a valid Unicode character",
            _ => "",
        }
    }
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
    /// After a value in a container.
    CommaOrClose,
}

/// The token being lexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    Idle,
    Str,
    Num(Num),
    Word,
    Skip,
}

/// A token the grammar sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Open(bool),
    Close(bool),
    Colon,
    Comma,
    Str,
    Scalar,
}

/// An event without borrows, turned into [`Event`] by `feed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    None,
    Frame,
    Error(ParseError),
    StreamStart(StreamKey),
    /// Stream data in the input, `from..to`.
    StreamInput(usize, usize),
    /// Stream data in `self.buf`, `from..to` (the part stored before the divert).
    StreamBuf(usize, usize),
    /// Stream data in `self.esc_out[..n]`.
    StreamEsc(usize),
    StreamEnd,
}

/// The framer. `N` is the request buffer size.
pub struct Framer<const N: usize> {
    buf: [u8; N],
    len: usize,
    lex: Lex,
    expect: Expect,
    /// One bit per open container, 1 = object.
    stack: u64,
    depth: usize,
    /// A grammar or limit error waiting for the end of the value.
    err: Option<ParseError>,
    /// Open containers counted since `err` was set.
    err_depth: i32,
    /// The last call returned a frame or error: start afresh next time.
    done: bool,
    /// Held back because the previous call already returned an event.
    queued: [Out; 2],
    // string state
    quote: u8,
    esc: Esc,
    hex: u16,
    high_surrogate: bool,
    utf8: Utf8,
    str_start: usize,
    str_is_key: bool,
    /// Where the current number token starts in `buf`.
    tok_start: usize,
    /// The hex digits of the last `\u` escape, as written.
    hex_raw: [u8; 4],
    esc_out: [u8; 4],
    word: [u8; 16],
    word_len: usize,
    // streaming
    key1_args: bool,
    in_args: bool,
    key2: Option<StreamKey>,
    streamable: Option<StreamKey>,
    streaming: Option<StreamKey>,
    streamed: Option<StreamKey>,
}

impl<const N: usize> Default for Framer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Framer<N> {
    /// A framer waiting for the first byte.
    pub const fn new() -> Self {
        Framer {
            buf: [0; N],
            len: 0,
            lex: Lex::Idle,
            expect: Expect::Top,
            stack: 0,
            depth: 0,
            err: None,
            err_depth: 0,
            done: false,
            queued: [Out::None; 2],
            quote: b'"',
            esc: Esc::None,
            hex: 0,
            high_surrogate: false,
            utf8: Utf8::new(),
            str_start: 0,
            str_is_key: false,
            tok_start: 0,
            hex_raw: [0; 4],
            esc_out: [0; 4],
            word: [0; 16],
            word_len: 0,
            key1_args: false,
            in_args: false,
            key2: None,
            streamable: None,
            streaming: None,
            streamed: None,
        }
    }

    /// Forgets any partial request and any skip state (a new client, or 0xFF).
    pub fn reset(&mut self) {
        self.start_message();
        self.lex = Lex::Idle;
        self.queued = [Out::None; 2];
    }

    /// The request stored so far: during a stream, everything before the
    /// streamed string (ending in `"buf-b64":` or `"input-data":`).
    pub fn partial(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Whether a request has started and is not complete.
    pub fn is_mid_request(&self) -> bool {
        !self.done
            && (self.len > 0
                || self.err.is_some()
                || self.lex != Lex::Idle && self.lex != Lex::Skip)
    }

    /// Consumes a prefix of `input`; returns its length and at most one event.
    /// When the event is `None` all of `input` was consumed.
    pub fn feed<'a>(&'a mut self, input: &'a [u8]) -> (usize, Option<Event<'a>>) {
        if self.done {
            self.start_message();
        }
        if self.queued[0] != Out::None {
            let out = self.dequeue();
            return (0, self.event(out, input));
        }
        let mut i = 0;
        while i < input.len() {
            let (used, out) = self.step(&input[i..], i);
            i += used;
            if out != Out::None {
                return (i, self.event(out, input));
            }
        }
        (i, None)
    }

    fn event<'a>(&'a mut self, out: Out, input: &'a [u8]) -> Option<Event<'a>> {
        match out {
            Out::None => None,
            Out::Frame => {
                self.done = true;
                let (json, arena) = self.buf.split_at_mut(self.len);
                Some(Event::Frame(Frame {
                    json,
                    arena,
                    streamed: self.streamed,
                }))
            }
            Out::Error(e) => {
                self.done = true;
                Some(Event::Error(e))
            }
            Out::StreamStart(k) => Some(Event::StreamStart(k)),
            Out::StreamInput(a, b) => Some(Event::StreamData(&input[a..b])),
            Out::StreamBuf(a, b) => Some(Event::StreamData(&self.buf[a..b])),
            Out::StreamEsc(n) => Some(Event::StreamData(&self.esc_out[..n])),
            Out::StreamEnd => Some(Event::StreamEnd),
        }
    }

    fn start_message(&mut self) {
        self.len = 0;
        self.expect = Expect::Top;
        self.stack = 0;
        self.depth = 0;
        self.err = None;
        self.err_depth = 0;
        self.done = false;
        self.key1_args = false;
        self.in_args = false;
        self.key2 = None;
        self.streamable = None;
        self.streaming = None;
        self.streamed = None;
    }

    /// Processes the start of `rest` (at offset `at` of the caller's input).
    fn step(&mut self, rest: &[u8], at: usize) -> (usize, Out) {
        let b = rest[0];
        if b == 0xFF {
            self.reset();
            return (1, Out::None);
        }
        match self.lex {
            Lex::Skip if !ends_skip(b) => (1, Out::None),
            Lex::Skip => {
                self.lex = Lex::Idle;
                (0, Out::None)
            }
            Lex::Idle => self.token_start(b),
            Lex::Str => self.string(rest, at),
            Lex::Num(n) => self.number(n, b),
            Lex::Word => self.word_byte(b),
        }
    }

    fn token_start(&mut self, b: u8) -> (usize, Out) {
        let out = match (class(b), b) {
            (Class::Space, _) => Out::None,
            (Class::Structural, b'{') => self.token(Token::Open(true), b),
            (Class::Structural, b'[') => self.token(Token::Open(false), b),
            (Class::Structural, b'}') => self.token(Token::Close(true), b),
            (Class::Structural, b']') => self.token(Token::Close(false), b),
            (Class::Structural, b':') => self.token(Token::Colon, b),
            (Class::Structural, _) => self.token(Token::Comma, b),
            (Class::Quote, q) => self.begin_string(q),
            (Class::Number, _) => {
                self.lex = Lex::Num(Num::start(b));
                self.tok_start = self.len;
                self.store(&[b])
            }
            (Class::Letter, _) => {
                self.lex = Lex::Word;
                self.word_len = 0;
                return self.word_byte(b);
            }
            _ => self.lexical_error(b),
        };
        (1, out)
    }

    fn lexical_error(&mut self, b: u8) -> Out {
        self.lexical_error_in(self.len, b)
    }

    /// A lexical error inside the token stored from `start`: like qemu-ga,
    /// quote the partial token with the offending byte (cut to 32 bytes).
    fn lexical_error_in(&mut self, start: usize, b: u8) -> Out {
        let mut d = [0u8; 32];
        let mut n = 0;
        if self.err.is_none() && self.streaming.is_none() {
            let tok = self.buf.get(start..self.len).unwrap_or(&[]);
            n = tok.len().min(d.len() - 1);
            d[..n].copy_from_slice(&tok[..n]);
        }
        d[n] = b;
        self.start_message();
        self.lex = Lex::Skip;
        Out::Error(ParseError::with_detail(ParseErrorKind::Stray, &d[..=n]))
    }

    // ---- strings -----------------------------------------------------------

    fn begin_string(&mut self, q: u8) -> Out {
        self.lex = Lex::Str;
        self.quote = q;
        self.esc = Esc::None;
        self.high_surrogate = false;
        self.utf8 = Utf8::default();
        self.str_is_key = matches!(self.expect, Expect::Key | Expect::KeyOrClose);
        self.streamable = match (self.expect, self.in_args && self.depth == 2) {
            (Expect::MemberValue, true) if self.streamed.is_none() => self.key2,
            _ => None,
        };
        self.str_start = self.len;
        self.store(b"\"")
    }

    fn string(&mut self, rest: &[u8], at: usize) -> (usize, Out) {
        if self.esc == Esc::None && !self.high_surrogate && !self.utf8.pending() {
            let run = rest.iter().take_while(|&&c| plain(c, self.quote)).count();
            if run > 0 {
                return self.plain_run(&rest[..run], at);
            }
        }
        (1, self.string_byte(rest[0]))
    }

    /// A run of printable ASCII that needs no escaping: copied in one go.
    fn plain_run(&mut self, run: &[u8], at: usize) -> (usize, Out) {
        if self.streaming.is_some() {
            return (run.len(), Out::StreamInput(at, at + run.len()));
        }
        if self.err.is_some() {
            return (run.len(), Out::None);
        }
        let n = run.len().min(N - self.len);
        if n == 0 {
            return (0, self.overflow());
        }
        self.buf[self.len..self.len + n].copy_from_slice(&run[..n]);
        self.len += n;
        (n, Out::None)
    }

    fn string_byte(&mut self, b: u8) -> Out {
        match self.esc {
            Esc::Backslash => return self.escape_letter(b),
            Esc::Hex(k) => return self.hex_digit(k, b),
            Esc::None => {}
        }
        if self.high_surrogate && b != b'\\' {
            self.high_surrogate = false;
            let _ = self.unicode_error();
        }
        match b {
            _ if self.utf8.pending() || b >= 0x80 => self.utf8_byte(b),
            b'\\' => {
                self.esc = Esc::Backslash;
                Out::None
            }
            _ if b == self.quote => self.end_string(),
            b'"' => self.content(b"\\\"", b"\""),
            // DEL is plain string content for qemu and RFC 8259 alike.
            0x20..=0x7F => self.content(&[b], &[b]),
            _ => self.lexical_error_in(self.str_start, b),
        }
    }

    fn utf8_byte(&mut self, b: u8) -> Out {
        if b == 0xFE || (b < 0x20 && self.utf8.pending()) {
            return self.lexical_error_in(self.str_start, b);
        }
        // qemu accepts the overlong NUL `C0 80` (modified UTF-8); store it
        // as `\u0000` so the frame stays standard JSON.
        if self.utf8.is_overlong_nul() {
            self.utf8 = Utf8::new();
            if b == 0x80 {
                return self.content(b"\\u0000", &[0]);
            }
            return self.grammar_error(ParseErrorKind::InvalidUtf8);
        }
        if b == 0xC0 && !self.utf8.pending() {
            self.utf8 = Utf8::overlong_nul();
            return Out::None;
        }
        if !self.utf8.step(b) {
            self.utf8 = Utf8::default();
            return self.grammar_error(ParseErrorKind::InvalidUtf8);
        }
        self.content(&[b], &[b])
    }

    fn escape_letter(&mut self, b: u8) -> Out {
        if !simple_escape(b) {
            self.esc = Esc::None;
            return self.grammar_error(ParseErrorKind::InvalidEscape);
        }
        if self.high_surrogate && b != b'u' {
            self.esc = Esc::None;
            return self.grammar_error(ParseErrorKind::InvalidEscape);
        }
        if b == b'u' {
            self.esc = Esc::Hex(0);
            self.hex = 0;
            return Out::None;
        }
        self.esc = Esc::None;
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
        self.content(stored, &[decoded])
    }

    fn hex_digit(&mut self, k: u8, b: u8) -> Out {
        let Some(d) = (b as char).to_digit(16) else {
            self.esc = Esc::None;
            return self.grammar_error(ParseErrorKind::InvalidEscape);
        };
        self.hex = self.hex << 4 | d as u16;
        self.hex_raw[k as usize & 3] = b;
        if k < 3 {
            self.esc = Esc::Hex(k + 1);
            return Out::None;
        }
        self.esc = Esc::None;
        self.code_unit(self.hex)
    }

    /// A complete `\uXXXX`: checks surrogate pairing, then stores it.
    fn code_unit(&mut self, u: u16) -> Out {
        let (was_high, is_high, is_low) = (
            self.high_surrogate,
            (0xD800..0xDC00).contains(&u),
            (0xDC00..0xE000).contains(&u),
        );
        if was_high != is_low {
            self.high_surrogate = false;
            return self.unicode_error();
        }
        self.high_surrogate = is_high;
        let mut raw = *b"\\u0000";
        for (i, shift) in [12, 8, 4, 0].into_iter().enumerate() {
            raw[2 + i] = b"0123456789abcdef"[(u >> shift) as usize & 0xF];
        }
        // Streamed data only ever needs ASCII (base64): anything else becomes
        // 0xFF, which the base64 decoder rejects.
        let decoded = if u < 0x80 { u as u8 } else { 0xFF };
        if is_high {
            return self.content(&raw, &[]);
        }
        self.content(&raw, &[decoded])
    }

    /// Stores string content (`raw`), or streams its decoded form.
    fn content(&mut self, raw: &[u8], decoded: &[u8]) -> Out {
        if self.streaming.is_none() && self.err.is_none() && self.len + raw.len() > N {
            if let Some(key) = self.streamable.take() {
                let out = self.divert(key);
                self.esc_out[..decoded.len()].copy_from_slice(decoded);
                if !decoded.is_empty() {
                    self.enqueue(Out::StreamEsc(decoded.len()));
                }
                return out;
            }
        }
        if self.streaming.is_some() {
            self.esc_out[..decoded.len()].copy_from_slice(decoded);
            return if decoded.is_empty() {
                Out::None
            } else {
                Out::StreamEsc(decoded.len())
            };
        }
        self.store(raw)
    }

    fn end_string(&mut self) -> Out {
        self.lex = Lex::Idle;
        if self.streaming.take().is_some() {
            self.len = self.str_start;
            let _ = self.store(b"\"\"");
            // In member-value position this token cannot complete or fail the frame.
            let _ = self.token(Token::Scalar, b'"');
            return Out::StreamEnd;
        }
        let out = self.store(b"\"");
        if out != Out::None {
            return out;
        }
        let key = self.str_is_key;
        if key {
            self.note_key();
        }
        self.token(if key { Token::Str } else { Token::Scalar }, b'"')
    }

    /// Tracks `arguments` and its streamable members.
    fn note_key(&mut self) {
        let key = &self.buf[self.str_start..self.len];
        match self.depth {
            1 => self.key1_args = key == b"\"arguments\"",
            2 if self.in_args => {
                self.key2 = match key {
                    b"\"buf-b64\"" => Some(StreamKey::BufB64),
                    b"\"input-data\"" => Some(StreamKey::InputData),
                    _ => None,
                }
            }
            _ => {}
        }
    }

    // ---- numbers and keywords ---------------------------------------------

    fn number(&mut self, n: Num, b: u8) -> (usize, Out) {
        match n.step(b) {
            NumStep::More(next) => {
                self.lex = Lex::Num(next);
                (1, self.store(&[b]))
            }
            NumStep::Bad => (1, self.lexical_error_in(self.tok_start, b)),
            NumStep::End => {
                self.lex = Lex::Idle;
                (0, self.token(Token::Scalar, b'0'))
            }
        }
    }

    fn word_byte(&mut self, b: u8) -> (usize, Out) {
        if b.is_ascii_lowercase() {
            if self.word_len < self.word.len() {
                self.word[self.word_len] = b;
            }
            self.word_len += 1;
            return (1, Out::None);
        }
        self.lex = Lex::Idle;
        let word = &self.word[..self.word_len.min(self.word.len())];
        let known = self.word_len <= 5 && matches!(word, b"true" | b"false" | b"null");
        if !known {
            let e = ParseError::with_detail(ParseErrorKind::InvalidKeyword, word);
            return (0, self.scalar_error(e));
        }
        let mut w = [0u8; 5];
        w[..word.len()].copy_from_slice(word);
        let out = self.store(&w[..word.len()]);
        if out != Out::None {
            return (0, out);
        }
        (0, self.token(Token::Scalar, b'a'))
    }

    /// An invalid keyword is a complete (bad) token: an error for its value.
    fn scalar_error(&mut self, e: ParseError) -> Out {
        if self.err.is_none() {
            self.err = Some(e);
            self.err_depth = self.depth as i32;
        }
        self.counted(Token::Scalar)
    }

    // ---- grammar -------------------------------------------------------------

    /// Feeds one complete token to the grammar (`b` is its stored byte).
    fn token(&mut self, t: Token, b: u8) -> Out {
        if self.err.is_some() {
            return self.counted(t);
        }
        if matches!(t, Token::Open(_)) && self.depth == MAX_DEPTH {
            return self.grammar_error_at(ParseErrorKind::DepthLimit, t);
        }
        match self.grammar(t) {
            Ok(()) => {}
            Err(_) => return self.grammar_error_at(self.error_kind(t), t),
        }
        if matches!(
            t,
            Token::Open(_) | Token::Close(_) | Token::Colon | Token::Comma
        ) {
            let out = self.store(&[b]);
            if out != Out::None {
                return out;
            }
        }
        if self.depth == 0 && self.expect == Expect::CommaOrClose {
            // The last byte may not have fitted (`store` set the size error).
            return self.err.map_or(Out::Frame, Out::Error);
        }
        Out::None
    }

    fn grammar(&mut self, t: Token) -> Result<(), ParseErrorKind> {
        use Expect::*;
        let value_ok = matches!(self.expect, Top | MemberValue | Element | ElementOrClose);
        let in_object = self.depth > 0 && self.stack & 1 == 1;
        match t {
            Token::Open(obj) if value_ok => self.push(obj),
            Token::Close(obj) if self.closes(obj, in_object) => self.pop(),
            Token::Str if matches!(self.expect, Key | KeyOrClose) => self.expect = Colon,
            Token::Str | Token::Scalar if value_ok => self.value_done(),
            Token::Colon if self.expect == Colon => self.expect = MemberValue,
            Token::Comma if self.expect == CommaOrClose => {
                self.expect = if in_object { Key } else { Element }
            }
            _ => return Err(ParseErrorKind::ExpectingValue),
        }
        Ok(())
    }

    fn closes(&self, obj: bool, in_object: bool) -> bool {
        let allowed = match self.expect {
            Expect::CommaOrClose => true,
            Expect::KeyOrClose => obj,
            Expect::ElementOrClose => !obj,
            _ => false,
        };
        allowed && self.depth > 0 && obj == in_object
    }

    /// qemu's text for token `t` where it does not fit: a structural token
    /// where a value or key should start is `expecting value`.
    fn error_kind(&self, t: Token) -> ParseErrorKind {
        use ParseErrorKind::*;
        let in_object = self.depth > 0 && self.stack & 1 == 1;
        match self.expect {
            Expect::Key | Expect::KeyOrClose if t == Token::Scalar => KeyNotString,
            Expect::Colon => MissingColon,
            Expect::CommaOrClose if in_object => SeparatorInDict,
            Expect::CommaOrClose => SeparatorInList,
            _ => ExpectingValue,
        }
    }

    fn push(&mut self, obj: bool) {
        if self.depth == 1 {
            self.in_args = self.key1_args && obj && self.stack & 1 == 1;
        }
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
        if self.depth < 2 {
            self.in_args = false;
        }
        self.value_done();
    }

    fn value_done(&mut self) {
        self.expect = Expect::CommaOrClose;
    }

    /// A grammar error at token `t`: remember it and count `t`.
    fn grammar_error_at(&mut self, kind: ParseErrorKind, t: Token) -> Out {
        self.err = Some(ParseError::new(kind));
        self.err_depth = self.depth as i32;
        self.counted(t)
    }

    /// A lone surrogate: qemu names the escape (`\ud800 is not ...`).
    fn unicode_error(&mut self) -> Out {
        if self.err.is_none() {
            let h = self.hex_raw;
            let text = [b'\\', b'u', h[0], h[1], h[2], h[3]];
            self.err = Some(ParseError::with_detail(
                ParseErrorKind::InvalidUnicode,
                &text,
            ));
            self.err_depth = self.depth as i32;
        }
        self.streaming = None;
        Out::None
    }

    /// A grammar error inside a token (a bad escape or UTF-8 in a string).
    fn grammar_error(&mut self, kind: ParseErrorKind) -> Out {
        if self.err.is_none() {
            self.err = Some(ParseError::new(kind));
            self.err_depth = self.depth as i32;
        }
        self.streaming = None;
        Out::None
    }

    /// Counts a token while an error waits for the end of the value.
    fn counted(&mut self, t: Token) -> Out {
        match t {
            Token::Open(_) => self.err_depth += 1,
            Token::Close(_) => self.err_depth -= 1,
            _ => {}
        }
        if self.err_depth <= 0 && !matches!(t, Token::Open(_)) {
            return self.err.map_or(Out::None, Out::Error);
        }
        Out::None
    }

    // ---- storage -------------------------------------------------------------

    /// Appends to the frame, unless an error is pending.
    fn store(&mut self, bytes: &[u8]) -> Out {
        if self.err.is_some() || self.streaming.is_some() {
            return Out::None;
        }
        if self.len + bytes.len() > N {
            return self.overflow();
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        Out::None
    }

    /// The buffer is full: stream the current string if it may be streamed,
    /// otherwise the value is too large.
    fn overflow(&mut self) -> Out {
        if self.lex == Lex::Str && !self.str_is_key && self.err.is_none() {
            if let Some(key) = self.streamable.take() {
                return self.divert(key);
            }
        }
        if self.err.is_none() {
            self.err = Some(ParseError::new(ParseErrorKind::SizeLimit));
            self.err_depth = self.depth as i32;
        }
        Out::None
    }

    /// Turns the stored part of the current string into the first stream
    /// piece (unescaped in place) and streams the rest.
    fn divert(&mut self, key: StreamKey) -> Out {
        let from = self.str_start + 1;
        let to = if self.len > from {
            super::json::unescape_within(&mut self.buf, from, self.len, from).unwrap_or(from)
        } else {
            from
        };
        self.streaming = Some(key);
        self.streamed = Some(key);
        self.len = self.str_start;
        if from < to {
            self.enqueue(Out::StreamBuf(from, to));
        }
        Out::StreamStart(key)
    }

    fn enqueue(&mut self, out: Out) {
        if self.queued[0] == Out::None {
            self.queued[0] = out;
        } else {
            self.queued[1] = out;
        }
    }

    fn dequeue(&mut self) -> Out {
        let out = self.queued[0];
        self.queued = [self.queued[1], Out::None];
        out
    }
}

/// A string byte that can be copied as is: printable ASCII other than the
/// closing quote, a backslash, or a `"` inside a single-quoted string.
fn plain(c: u8, quote: u8) -> bool {
    (0x20..0x7F).contains(&c) && c != quote && c != b'\\' && c != b'"'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the framer reports for `input` fed in one piece, as text.
    fn events<const N: usize>(input: &[u8]) -> Vec<String> {
        let mut f = Framer::<N>::new();
        let mut rest = input;
        let mut out = Vec::new();
        loop {
            let (used, ev) = f.feed(rest);
            rest = &rest[used..];
            let Some(ev) = ev else { return out };
            out.push(match ev {
                Event::Frame(fr) => format!(
                    "frame {} {:?}",
                    core::str::from_utf8(fr.json).unwrap_or("?"),
                    fr.streamed
                ),
                Event::Error(e) => format!("error {:?}", e.kind),
                Event::StreamStart(k) => format!("start {k:?}"),
                Event::StreamData(d) => {
                    format!("data {}", core::str::from_utf8(d).unwrap_or("?"))
                }
                Event::StreamEnd => "end".into(),
            });
        }
    }

    #[test]
    fn whitespace_is_dropped_and_quotes_normalised() {
        assert_eq!(
            events::<64>(b" { 'a' : [ 1 , \"x\\'\" ] } "),
            ["frame {\"a\":[1,\"x'\"]} None"]
        );
        assert_eq!(
            events::<64>(b"{'q':'say \"hi\"'}"),
            ["frame {\"q\":\"say \\\"hi\\\"\"} None"]
        );
    }

    #[test]
    fn resync_byte_resets_mid_string_and_mid_stream() {
        assert_eq!(events::<64>(b"{\"a\":\"b\xff{}"), ["frame {} None"]);
        let mut input = br#"{"execute":"x","arguments":{"buf-b64":""#.to_vec();
        input.extend_from_slice(&[b'Q'; 100]);
        input.extend_from_slice(b"\xff[]");
        let ev = events::<48>(&input);
        assert_eq!(ev.first().map(String::as_str), Some("start BufB64"));
        assert_eq!(ev.last().map(String::as_str), Some("frame [] None"));
    }

    #[test]
    fn large_argument_streams_unescaped() {
        let input = br#"{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"AAAA\nBBBB\/CCCCDDDD"}}"#;
        let ev = events::<72>(input);
        assert_eq!(ev[0], "start BufB64");
        let data: String = ev.iter().filter_map(|e| e.strip_prefix("data ")).collect();
        assert_eq!(data, "AAAA\nBBBB/CCCCDDDD");
        assert_eq!(
            ev.last().map(String::as_str),
            Some(
                r#"frame {"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":""}} Some(BufB64)"#
            )
        );
    }

    #[test]
    fn other_large_strings_are_size_errors() {
        let mut input = br#"{"execute":"x","arguments":{"path":""#.to_vec();
        input.extend_from_slice(&[b'a'; 100]);
        input.extend_from_slice(br#""}}[]"#);
        assert_eq!(events::<48>(&input), ["error SizeLimit", "frame [] None"]);
    }

    #[test]
    fn partial_holds_the_prefix_during_a_stream() {
        let mut f = Framer::<44>::new();
        let input = br#"{"execute":"e","arguments":{"input-data":"QUJDQUJDQUJDQUJD"}}"#;
        let (_, ev) = f.feed(input);
        assert!(matches!(ev, Some(Event::StreamStart(StreamKey::InputData))));
        assert_eq!(f.partial(), br#"{"execute":"e","arguments":{"input-data":"#);
    }
}
