//! The framer: bytes in, complete requests (or parse errors) out.
//!
//! [`Framer::feed`] takes any piece of the byte stream and returns at most
//! one [`Event`] plus the unconsumed rest, so the caller simply loops on the
//! rest (like postcard's `CobsAccumulator`). It checks the grammar as it
//! goes (protocol notes 1.2-1.6) and stores the value, minus whitespace
//! outside strings and with qemu's extensions rewritten as standard JSON,
//! in a buffer of `N` bytes: a stored frame is always RFC 8259 JSON.
//!
//! * **0xFF** anywhere resets every state and discards the partial request,
//!   silently (see the crate docs for why this differs from qemu-ga).
//! * A **lexical error** (a byte not allowed where it stands) gives one
//!   `stray` error at once, then bytes are skipped up to the next structural
//!   or control byte, as qemu-ga does.
//! * A **grammar error**, invalid UTF-8 or escape, **too deep** nesting or a
//!   value **too large** for the buffer gives its error at the byte that
//!   makes it certain; the rest of that value is then read and dropped
//!   without another reply, and the next request is read normally.
//! * One string member of `arguments` may **stream** once it no longer
//!   fits: [`Event::StreamStart`] with the request before it, then
//!   [`Event::StreamData`] pieces (unescaped), [`Event::StreamEnd`]; the
//!   frame holds `""` in its place.
//!
//! Any split of the same bytes produces the same events' contents.

use super::error::{ParseError, ParseErrorKind};
use super::grammar::{Grammar, Token};
use super::lexer::{class, ends_skip, Class, Num, NumStep};
use super::stream::Detect;
use super::string::{plain, StrLexer, StrStep};

/// A complete request value.
#[derive(Debug)]
pub struct Frame<'a> {
    /// The value as compact, standard JSON.
    pub json: &'a [u8],
    /// The unused rest of the request buffer, for decoding strings.
    pub arena: &'a mut [u8],
}

/// A string starts streaming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamStart<'a> {
    /// The request before the string, ending in `"<key>":`.
    pub prefix: &'a [u8],
    /// The member's key as written (escapes not resolved).
    pub key: &'a [u8],
    /// The string's first bytes, unescaped.
    pub head: &'a [u8],
}

/// What one call to [`Framer::feed`] produced.
#[derive(Debug)]
pub enum Event<'a> {
    /// A complete value.
    Frame(Frame<'a>),
    /// A lexical, grammar or limit error: send its error reply (no `id`).
    /// The value it belongs to is over for the caller (a stream in it ended).
    Error(ParseError),
    /// A large string starts streaming.
    StreamStart(StreamStart<'a>),
    /// The next piece of the streamed string, unescaped.
    StreamData(&'a [u8]),
    /// The streamed string ended; the rest of the request follows.
    StreamEnd,
    /// A 0xFF dropped a request whose string was streaming (no reply).
    Discarded,
}

/// The result of [`Framer::feed`]: an event, if any, and the input left.
#[derive(Debug)]
pub struct Fed<'a, 'i> {
    /// What the consumed bytes produced (`None`: all input was consumed).
    pub event: Option<Event<'a>>,
    /// The input not consumed yet: feed it again.
    pub rest: &'i [u8],
}

/// The token being lexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    Idle,
    Str(StrLexer),
    Num(Num),
    Word,
    /// After a lexical error, up to where qemu resumes (notes 1.6).
    Skip,
}

/// Where the current value stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Being read.
    Reading,
    /// Its error was reported: the rest is read and dropped.
    Failed,
    /// The last event ended it: the next byte starts a new value.
    Done,
}

/// An event without borrows, turned into [`Event`] by `feed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    None,
    Frame,
    Error(ParseError),
    /// Prefix end, key span, head end (the head starts at the prefix end).
    StreamStart(usize, (usize, usize), usize),
    /// Stream data in the input, `from..to`.
    StreamInput(usize, usize),
    /// One decoded stream byte, kept at `buf[str_start]`.
    StreamByte,
    StreamEnd,
    Discarded,
}

/// The framer. `N` is the request buffer size.
pub struct Framer<const N: usize> {
    buf: [u8; N],
    len: usize,
    lex: Lex,
    grammar: Grammar,
    phase: Phase,
    /// Where the current string or number token starts in `buf`.
    tok_start: usize,
    str_is_key: bool,
    /// Bytes the current string leaves free for what must follow it: 0
    /// unless it may stream (see [`Framer::str_may_stream`]).
    str_keep: usize,
    streaming: bool,
    detect: Detect,
    word: [u8; 16],
    word_len: usize,
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
            grammar: Grammar::new(),
            phase: Phase::Reading,
            tok_start: 0,
            str_is_key: false,
            str_keep: 0,
            streaming: false,
            detect: Detect::new(),
            word: [0; 16],
            word_len: 0,
        }
    }

    /// Forgets any partial request and any skip state (a new client, or 0xFF).
    pub fn reset(&mut self) {
        self.start_value();
        self.lex = Lex::Idle;
    }

    /// Zeroes the bytes of the frame just handed out (a password's base64
    /// must not stay in the buffer until a later request overwrites it).
    /// Only after an [`Event::Frame`]; the next request starts empty anyway.
    pub fn wipe_frame(&mut self) {
        if self.phase == Phase::Done {
            self.buf[..self.len].fill(0);
        }
    }

    /// The request buffer (for tests that look for what is left in it).
    #[cfg(test)]
    pub(crate) fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// Whether a request has started and is not complete.
    pub fn is_mid_request(&self) -> bool {
        match self.phase {
            Phase::Done => false,
            Phase::Failed => true,
            Phase::Reading => self.len > 0 || !matches!(self.lex, Lex::Idle | Lex::Skip),
        }
    }

    /// Consumes a prefix of `input`: at most one event, and the rest.
    pub fn feed<'a, 'i: 'a>(&'a mut self, input: &'i [u8]) -> Fed<'a, 'i> {
        let mut i = 0;
        while i < input.len() {
            if self.phase == Phase::Done {
                self.start_value();
            }
            let (used, out) = self.step(&input[i..], i);
            i += used;
            if out != Out::None {
                return Fed {
                    event: Some(self.event(out, input)),
                    rest: &input[i..],
                };
            }
        }
        Fed {
            event: None,
            rest: &input[i..],
        }
    }

    fn event<'a>(&'a mut self, out: Out, input: &'a [u8]) -> Event<'a> {
        match out {
            Out::Frame => {
                self.phase = Phase::Done;
                let (json, arena) = self.buf.split_at_mut(self.len);
                Event::Frame(Frame { json, arena })
            }
            Out::Error(e) => Event::Error(e),
            Out::StreamStart(prefix, key, head) => Event::StreamStart(StreamStart {
                prefix: &self.buf[..prefix],
                key: &self.buf[key.0..key.1],
                head: &self.buf[prefix..head],
            }),
            Out::StreamInput(a, b) => Event::StreamData(&input[a..b]),
            Out::StreamByte => Event::StreamData(&self.buf[self.tok_start..=self.tok_start]),
            Out::StreamEnd => Event::StreamEnd,
            Out::None | Out::Discarded => Event::Discarded,
        }
    }

    fn start_value(&mut self) {
        self.len = 0;
        self.grammar = Grammar::new();
        self.phase = Phase::Reading;
        self.streaming = false;
        self.detect = Detect::new();
    }

    /// Processes the start of `rest` (at offset `at` of the caller's input).
    fn step(&mut self, rest: &[u8], at: usize) -> (usize, Out) {
        let b = rest[0];
        if b == 0xFF {
            let out = if self.streaming {
                Out::Discarded
            } else {
                Out::None
            };
            self.reset();
            return (1, out);
        }
        match self.lex {
            Lex::Skip if !ends_skip(b) => (1, Out::None),
            Lex::Skip => {
                self.lex = Lex::Idle;
                (0, Out::None)
            }
            Lex::Idle => self.token_start(b),
            Lex::Str(s) => self.string(s, rest, at),
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
            (Class::Quote, q) => {
                let out = self.misplaced(Token::Str);
                either(out, self.begin_string(q))
            }
            (Class::Number, _) => {
                let out = self.misplaced(Token::Scalar);
                self.lex = Lex::Num(Num::start(b));
                self.tok_start = self.len;
                either(out, self.store(&[b]))
            }
            (Class::Letter, _) => {
                self.lex = Lex::Word;
                self.word_len = 0;
                return self.word_byte(b);
            }
            _ => self.lexical_error(self.len, b),
        };
        (1, out)
    }

    /// A lexical error inside the token stored from `start`: like qemu-ga,
    /// quote the partial token with the offending byte (cut to 32 bytes).
    /// Silent when the value already had its error.
    fn lexical_error(&mut self, start: usize, b: u8) -> Out {
        let mut d = [0u8; 32];
        let mut n = 0;
        if self.phase == Phase::Reading && !self.streaming {
            let tok = self.buf.get(start..self.len).unwrap_or(&[]);
            n = tok.len().min(d.len() - 1);
            d[..n].copy_from_slice(&tok[..n]);
        }
        d[n] = b;
        let reported = self.phase == Phase::Failed;
        self.start_value();
        self.phase = Phase::Done;
        self.lex = Lex::Skip;
        if reported {
            return Out::None;
        }
        Out::Error(ParseError::with_detail(ParseErrorKind::Stray, &d[..=n]))
    }

    // ---- strings -----------------------------------------------------------

    fn begin_string(&mut self, q: u8) -> Out {
        self.lex = Lex::Str(StrLexer::new(q));
        self.str_is_key = self.grammar.expects_key();
        self.tok_start = self.len;
        // A streamed string leaves `""` and at least `}}` to store after it.
        let may_stream = self.phase == Phase::Reading
            && self.grammar.expects_member_value()
            && self.detect.may_stream(self.grammar.depth())
            && self.tok_start + 4 <= N;
        self.str_keep = match may_stream {
            true => 1 + self.grammar.depth(),
            false => 0,
        };
        self.store(b"\"")
    }

    fn string(&mut self, mut s: StrLexer, rest: &[u8], at: usize) -> (usize, Out) {
        if s.at_boundary() {
            let run = rest.iter().take_while(|&&c| plain(c, s.quote())).count();
            if run > 0 {
                return self.plain_run(&rest[..run], at);
            }
        }
        let step = s.step(rest[0]);
        self.lex = Lex::Str(s);
        match step {
            StrStep::Pending => (1, self.count_streamed(1)),
            StrStep::Content(p) if self.streaming => match self.count_streamed(1) {
                Out::None => (1, self.stream_byte(p.decoded)),
                error => (1, error),
            },
            StrStep::Content(p) => (1, self.content(p.raw(), p.decoded)),
            StrStep::End => (1, self.end_string()),
            StrStep::Bad { error, again } => (!again as usize, self.fail_in_token(error)),
            StrStep::Stray => (1, self.lexical_error(self.tok_start, rest[0])),
        }
    }

    /// A run of printable ASCII that needs no escaping: copied in one go.
    fn plain_run(&mut self, run: &[u8], at: usize) -> (usize, Out) {
        if self.streaming {
            return match self.count_streamed(run.len()) {
                Out::None => (run.len(), Out::StreamInput(at, at + run.len())),
                error => (run.len(), error),
            };
        }
        if self.phase == Phase::Failed {
            return (run.len(), Out::None);
        }
        let n = run.len().min(self.room());
        if n == 0 {
            return (0, self.overflow(None));
        }
        self.buf[self.len..self.len + n].copy_from_slice(&run[..n]);
        self.len += n;
        (n, Out::None)
    }

    /// Stores string content, or starts streaming when it does not fit.
    fn content(&mut self, raw: &[u8], decoded: Option<u8>) -> Out {
        if self.phase == Phase::Reading && raw.len() > self.room() {
            return self.overflow(Some(decoded));
        }
        self.store(raw)
    }

    /// Room left for string content. A string that may stream keeps free
    /// the bytes that must still follow it (its closing quote and one
    /// bracket per open container, `"}}`): it streams rather than end where
    /// the end of its request could not be stored, and its first streamed
    /// piece always fits beside its head.
    fn room(&self) -> usize {
        (N - self.len).saturating_sub(self.str_keep)
    }

    /// The current string may stream (`streaming` once it does): it is the
    /// one that keeps bytes free.
    fn str_may_stream(&self) -> bool {
        self.str_keep > 0
    }

    /// One decoded byte of a streaming string (a high surrogate has none:
    /// its pair streams as one 0xFF).
    fn stream_byte(&mut self, decoded: Option<u8>) -> Out {
        let Some(b) = decoded else { return Out::None };
        self.buf[self.tok_start] = b;
        Out::StreamByte
    }

    fn end_string(&mut self) -> Out {
        self.lex = Lex::Idle;
        if self.streaming {
            self.streaming = false;
            self.len = self.tok_start;
            // `""` fits (see `begin_string`) and, in member-value position,
            // can neither complete nor fail the frame.
            let _ = self.store(b"\"\"");
            let _ = self.token(Token::Str, b'"');
            return Out::StreamEnd;
        }
        let out = self.store(b"\"");
        if out != Out::None {
            return out;
        }
        if self.str_is_key && self.phase == Phase::Reading {
            let span = (self.tok_start + 1, self.len - 1);
            let depth = self.grammar.depth();
            self.detect.key(depth, &self.buf[span.0..span.1], span);
        }
        self.token(Token::Str, b'"')
    }

    /// Counts streamed input; the size error once the request is too large.
    fn count_streamed(&mut self, n: usize) -> Out {
        if !self.streaming || self.detect.count(n) {
            return Out::None;
        }
        self.streaming = false;
        self.fail_in_token(ParseErrorKind::SizeLimit.into())
    }

    // ---- numbers and keywords ---------------------------------------------

    fn number(&mut self, n: Num, b: u8) -> (usize, Out) {
        match n.step(b) {
            NumStep::More(next) => {
                self.lex = Lex::Num(next);
                (1, self.store(&[b]))
            }
            NumStep::Bad => (1, self.lexical_error(self.tok_start, b)),
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
            return (0, self.fail_at(e, Token::Scalar));
        }
        let mut w = [0u8; 5];
        w[..word.len()].copy_from_slice(word);
        let out = self.store(&w[..word.len()]);
        if out != Out::None {
            return (0, out);
        }
        (0, self.token(Token::Scalar, b'a'))
    }

    // ---- grammar and errors ---------------------------------------------------

    /// A string or number that cannot stand here is an error at its first
    /// byte; the token is still read to its end as part of the failed value.
    /// (A keyword waits for its end: qemu names an invalid one first.)
    fn misplaced(&mut self, t: Token) -> Out {
        match self.grammar.accepts(t) {
            // A value that already failed stays silent (`fail_in_token`).
            Err(kind) => self.fail_in_token(kind.into()),
            _ => Out::None,
        }
    }

    /// Feeds one complete token to the grammar (`b` is its stored byte).
    fn token(&mut self, t: Token, b: u8) -> Out {
        if self.phase == Phase::Failed {
            return self.skip(t);
        }
        let parent_is_object = self.grammar.in_object();
        if let Err(kind) = self.grammar.token(t) {
            return self.report(kind.into(), self.grammar.failed_value_over());
        }
        match t {
            Token::Open(obj) => self
                .detect
                .open(self.grammar.depth(), obj, parent_is_object),
            Token::Close(_) => self.detect.close(self.grammar.depth()),
            _ => {}
        }
        if !matches!(t, Token::Str | Token::Scalar) {
            let out = self.store(&[b]);
            if out != Out::None {
                return out;
            }
        }
        if self.grammar.complete() {
            return Out::Frame;
        }
        Out::None
    }

    /// A token of a failed value: the value may end here, silently.
    fn skip(&mut self, t: Token) -> Out {
        if self.grammar.skip(t) {
            self.phase = Phase::Done;
        }
        Out::None
    }

    /// An error in a whole token `t` (an invalid keyword).
    fn fail_at(&mut self, e: ParseError, t: Token) -> Out {
        if self.phase == Phase::Failed {
            return self.skip(t);
        }
        self.grammar.fail(e.kind, t);
        self.report(e, self.grammar.failed_value_over())
    }

    /// An error inside the current token (string, number): the value can
    /// only end once the token has.
    fn fail_in_token(&mut self, e: ParseError) -> Out {
        if self.phase == Phase::Failed {
            return Out::None;
        }
        self.grammar.fail(e.kind, Token::Str);
        self.report(e, false)
    }

    /// Reports the value's error now; the rest of the value is dropped.
    fn report(&mut self, e: ParseError, value_over: bool) -> Out {
        self.streaming = false;
        self.phase = if value_over {
            Phase::Done
        } else {
            Phase::Failed
        };
        Out::Error(e)
    }

    // ---- storage -------------------------------------------------------------

    /// Appends to the frame (nothing once the value failed or streams).
    fn store(&mut self, bytes: &[u8]) -> Out {
        if self.phase != Phase::Reading || self.streaming {
            return Out::None;
        }
        if self.len + bytes.len() > N {
            return self.overflow(None);
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        Out::None
    }

    /// The buffer is full: stream the current string if it may stream
    /// (`pending`: the decoded byte that did not fit), else the value is
    /// too large.
    fn overflow(&mut self, pending: Option<Option<u8>>) -> Out {
        let in_string = matches!(self.lex, Lex::Str(_));
        if in_string && self.str_may_stream() && !self.str_is_key {
            return self.divert(pending.flatten());
        }
        let e = ParseErrorKind::SizeLimit.into();
        if in_string || matches!(self.lex, Lex::Num(_)) {
            return self.fail_in_token(e);
        }
        // A structural byte or keyword: the grammar already took its token.
        self.grammar.fail(ParseErrorKind::SizeLimit, Token::Scalar);
        self.report(e, self.grammar.failed_value_over())
    }

    /// Starts streaming the current string: its stored part, unescaped,
    /// moves one byte left over its opening quote (the frame gets `""` back
    /// at the end), followed by the decoded byte that did not fit.
    fn divert(&mut self, pending: Option<u8>) -> Out {
        let (quote, from) = (self.tok_start, self.tok_start + 1);
        let to =
            super::json::unescape_within(&mut self.buf, from, self.len, quote).unwrap_or(quote);
        let mut head = to;
        if let Some(b) = pending {
            self.buf[head] = b;
            head += 1;
        }
        self.streaming = true;
        self.str_keep = 0;
        let key = self.detect.start(quote);
        self.len = quote;
        match self.count_streamed(head - quote) {
            Out::None => Out::StreamStart(quote, key, head),
            error => error,
        }
    }
}

/// The first of two outcomes that is an event (the second is `None` once
/// the first reported: a failed value stores nothing).
fn either(first: Out, second: Out) -> Out {
    if first == Out::None {
        second
    } else {
        first
    }
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
            let fed = f.feed(rest);
            rest = fed.rest;
            let Some(ev) = fed.event else { return out };
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            out.push(match ev {
                Event::Frame(fr) => format!("frame {}", text(fr.json)),
                Event::Error(e) => format!("error {:?}", e.kind),
                Event::StreamStart(s) => {
                    format!(
                        "start {} {} [{}]",
                        text(s.prefix),
                        text(s.key),
                        text(s.head)
                    )
                }
                Event::StreamData(d) => format!("data {}", text(d)),
                Event::StreamEnd => "end".into(),
                Event::Discarded => "discarded".into(),
            });
        }
    }

    #[test]
    fn whitespace_is_dropped_and_quotes_normalised() {
        assert_eq!(
            events::<64>(b" { 'a' : [ 1 , \"x\\'\" ] } "),
            ["frame {\"a\":[1,\"x'\"]}"]
        );
        assert_eq!(
            events::<64>(b"{'q':'say \"hi\"'}"),
            ["frame {\"q\":\"say \\\"hi\\\"\"}"]
        );
    }

    #[test]
    fn resync_byte_resets_mid_string_and_mid_stream() {
        assert_eq!(events::<64>(b"{\"a\":\"b\xff{}"), ["frame {}"]);
        let mut input = br#"{"execute":"x","arguments":{"buf-b64":""#.to_vec();
        input.extend_from_slice(&[b'Q'; 100]);
        input.extend_from_slice(b"\xff[]");
        let ev = events::<48>(&input);
        assert!(ev[0].starts_with("start "), "{ev:?}");
        assert_eq!(ev[ev.len() - 2..], ["discarded", "frame []"]);
    }

    #[test]
    fn large_argument_streams_unescaped() {
        let input = br#"{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"AA\nB\/CCCCDDDD"}}"#;
        // Room for `AA\nB\/` beside the prefix, and `"}}` kept free.
        let ev = events::<74>(input);
        let prefix = r#"{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"#;
        assert_eq!(ev[0], format!("start {prefix} buf-b64 [AA\nB/]"));
        let data: String = ev.iter().filter_map(|e| e.strip_prefix("data ")).collect();
        assert_eq!(data, "CCCCDDDD");
        assert_eq!(
            ev[ev.len() - 2..],
            ["end", &format!("frame {prefix}\"\"}}}}")]
        );
    }

    #[test]
    fn an_escape_that_does_not_fit_is_the_first_streamed_byte() {
        // 67 bytes of prefix and `"`, then `\/` cannot be stored in 68 bytes.
        let input = br#"{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"\/AAA"}}"#;
        let ev = events::<68>(input);
        assert!(ev[0].ends_with("buf-b64 [/]"), "{ev:?}");
        assert_eq!(ev[1], "data AAA");
    }

    #[test]
    fn other_strings_are_size_errors_at_once() {
        let mut input = br#"{"execute":"x","arguments":{"p":{"path":""#.to_vec();
        input.extend_from_slice(&[b'a'; 100]);
        input.extend_from_slice(br#""}}}[]"#);
        assert_eq!(events::<48>(&input), ["error SizeLimit", "frame []"]);
        assert_eq!(
            events::<8>(b"{\"id\":12345678}[]"),
            ["error SizeLimit", "frame []"]
        );
    }

    #[test]
    fn errors_come_at_the_offending_byte() {
        let cases: [(&[u8], &str); 7] = [
            (
                b"{\"execute\":\"guest-ping\",\"id\":\"\xc3\"",
                "InvalidUtf8",
            ),
            (b"{\"a\":\"\\q", "InvalidEscape"),
            (b"{\"a\" 1", "MissingColon"),
            (b"[1 2", "SeparatorInList"),
            (b"[tru,", "InvalidKeyword"),
            (b"[01", "Stray"),
            (b"{\"a\":\"\\ud800x", "InvalidUnicode"),
        ];
        for (input, kind) in cases {
            assert_eq!(events::<64>(input), [format!("error {kind}")], "{input:?}");
            let short = &input[..input.len() - 1];
            assert!(events::<64>(short).is_empty(), "{short:?}");
        }
        let deep = [b'['; 65];
        assert_eq!(events::<256>(&deep), ["error DepthLimit"]);
        assert!(events::<256>(&deep[..64]).is_empty());
    }

    #[test]
    fn the_rest_of_a_failed_value_is_dropped_silently() {
        let mut input = b"{\"a\":\"\xc3\",\"b\":[\"}\",\x01".to_vec();
        input.extend_from_slice(b"{}");
        assert_eq!(events::<64>(&input), ["error InvalidUtf8", "frame {}"]);
        let mut deep = vec![b'['; 100];
        deep.extend_from_slice(&[b']'; 100]);
        deep.extend_from_slice(b"[]");
        assert_eq!(events::<256>(&deep), ["error DepthLimit", "frame []"]);
        assert_eq!(
            events::<64>(b"[1 2] {}"),
            ["error SeparatorInList", "frame {}"]
        );
    }

    #[test]
    fn a_stream_error_ends_the_stream() {
        let mut input = br#"{"arguments":{"k":""#.to_vec();
        input.extend_from_slice(&[b'Q'; 40]);
        input.extend_from_slice(b"\x01{}");
        let ev = events::<24>(&input);
        assert!(ev[0].starts_with("start "), "{ev:?}");
        assert_eq!(ev[ev.len() - 2..], ["error Stray", "frame {}"]);
    }

    #[test]
    fn mid_request_state() {
        let mut f = Framer::<64>::new();
        assert!(!f.is_mid_request());
        let fed = f.feed(b"{\"a\"");
        assert!(fed.event.is_none() && fed.rest.is_empty());
        assert!(f.is_mid_request());
        assert!(matches!(f.feed(b":1}").event, Some(Event::Frame(_))));
        assert!(!f.is_mid_request());
        let fed = f.feed(b"[1 2");
        assert!(matches!(fed.event, Some(Event::Error(_))));
        assert!(f.is_mid_request(), "the failed value is still being read");
    }
}
