//! The reply writer: one JSON line per reply, formatted like qemu-ga's JSON
//! writer (`": "` and `", "` separators, ASCII only; protocol notes 1.8).
//!
//! Bytes are staged in a caller-owned buffer and written in large pieces. A
//! reply that fits the buffer is only *committed* (written to the channel)
//! when it is complete, so until then [`ReplyWriter::discard`] can replace it
//! with an error reply. Larger replies (file reads, exec output) stream:
//! their first part is committed when the buffer fills.
//!
//! Channel errors are sticky: the [`Channel`] keeps the first one, later
//! writes do nothing, and the caller of [`ReplyWriter::finish`] takes it
//! from the channel. So reply code reads as a plain sequence of writes, and
//! it is compiled once: it writes to a `&mut dyn Sink`, not to each
//! `embedded_io::Write` type.

use core::convert::Infallible;

use embedded_io::{Error as _, ErrorKind, Write};

use super::json;

/// Where replies go: a channel whose errors are kept aside.
pub trait Sink {
    /// Writes all of `b`; `false` once the channel has failed.
    fn write_all(&mut self, b: &[u8]) -> bool;
    /// Flushes; `false` once the channel has failed.
    fn flush(&mut self) -> bool;
    /// Whether the channel still works.
    fn ok(&self) -> bool;
}

/// An `embedded_io::Write` as a [`Sink`], keeping its first error.
///
/// Short writes are continued and `Interrupted` is retried (a bounded
/// number of times in a row), like std's `write_all`. A writer that breaks
/// its contract with `Ok(0)` stops the channel instead of panicking as
/// `embedded_io`'s own `write_all` would.
pub struct Channel<'w, W: Write> {
    out: &'w mut W,
    error: Option<W::Error>,
    stopped: bool,
}

/// `Interrupted` errors in a row before the channel gives up.
const RETRIES: u32 = 1000;

impl<'w, W: Write> Channel<'w, W> {
    /// Wraps `out`.
    pub fn new(out: &'w mut W) -> Self {
        Channel {
            out,
            error: None,
            stopped: false,
        }
    }

    /// The first channel error, if any (and forgets it).
    pub fn take_error(&mut self) -> Result<(), W::Error> {
        self.error.take().map_or(Ok(()), Err)
    }
}

impl<W: Write> Sink for Channel<'_, W> {
    fn write_all(&mut self, mut b: &[u8]) -> bool {
        let mut retries = 0;
        while !b.is_empty() && self.ok() {
            match self.out.write(b) {
                Ok(0) => self.stopped = true,
                Ok(n) => {
                    b = &b[n.min(b.len())..];
                    retries = 0;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted && retries < RETRIES => retries += 1,
                Err(e) => self.error = Some(e),
            }
        }
        self.ok()
    }

    fn flush(&mut self) -> bool {
        if self.ok() {
            self.error = self.out.flush().err();
        }
        self.ok()
    }

    fn ok(&self) -> bool {
        self.error.is_none() && !self.stopped
    }
}

/// Streams one reply to a [`Sink`] through a staging buffer.
pub struct ReplyWriter<'a> {
    out: &'a mut dyn Sink,
    failed: bool,
    stage: &'a mut [u8],
    len: usize,
    committed: bool,
    need_comma: bool,
}

impl<'a> ReplyWriter<'a> {
    /// A writer staging into `stage` (at least a few dozen bytes).
    pub fn new(out: &'a mut dyn Sink, stage: &'a mut [u8]) -> Self {
        ReplyWriter {
            out,
            failed: false,
            stage,
            len: 0,
            committed: false,
            need_comma: false,
        }
    }

    /// Whether part of this reply has already gone to the channel.
    pub fn is_committed(&self) -> bool {
        self.committed
    }

    /// Drops the staged reply if nothing was committed; `false` otherwise.
    pub fn discard(&mut self) -> bool {
        if self.committed {
            return false;
        }
        self.len = 0;
        self.need_comma = false;
        true
    }

    /// Appends raw bytes.
    pub fn raw(&mut self, mut b: &[u8]) {
        while !b.is_empty() && !self.failed {
            if self.len == self.stage.len() {
                self.drain();
            }
            let n = b.len().min(self.stage.len() - self.len);
            self.stage[self.len..self.len + n].copy_from_slice(&b[..n]);
            self.len += n;
            b = &b[n..];
        }
    }

    fn drain(&mut self) {
        self.committed = true;
        if !self.failed {
            self.failed = !self.out.write_all(&self.stage[..self.len]);
        }
        self.len = 0;
    }

    /// Ends the reply with `\n` and writes and flushes everything (a
    /// channel error stays in the channel).
    pub fn finish(mut self) {
        self.raw(b"\n");
        self.drain();
        if !self.failed {
            self.out.flush();
        }
    }

    /// A 0xFF byte before the reply (`guest-sync-delimited`).
    pub fn sentinel(&mut self) {
        self.raw(&[0xFF])
    }

    // ---- structure -----------------------------------------------------------

    fn comma(&mut self) {
        if self.need_comma {
            self.raw(b", ");
        }
        self.need_comma = true;
    }

    /// `{`.
    pub fn open_object(&mut self) {
        self.need_comma = false;
        self.raw(b"{")
    }

    /// `}`.
    pub fn close_object(&mut self) {
        self.need_comma = true;
        self.raw(b"}")
    }

    /// `[`.
    pub fn open_array(&mut self) {
        self.need_comma = false;
        self.raw(b"[")
    }

    /// `]`.
    pub fn close_array(&mut self) {
        self.need_comma = true;
        self.raw(b"]")
    }

    /// `"key": ` (with a separating comma when needed).
    pub fn key(&mut self, key: &str) {
        self.comma();
        self.raw(b"\"");
        self.raw(key.as_bytes());
        self.raw(b"\": ");
        self.need_comma = false;
    }

    /// Starts an array element (a comma when needed).
    pub fn element(&mut self) {
        self.comma();
        self.need_comma = false;
    }

    // ---- values ---------------------------------------------------------------

    fn value_done(&mut self) {
        self.need_comma = true;
    }

    /// A string value, escaped the qemu way.
    pub fn str(&mut self, s: &str) {
        self.raw(b"\"");
        let _ = json::escape_str::<Infallible>(s, &mut |b| {
            self.raw(b);
            Ok(())
        });
        self.raw(b"\"");
        self.value_done();
    }

    /// Raw string content from a request frame, re-escaped.
    pub fn raw_str(&mut self, raw: &[u8]) {
        self.raw(b"\"");
        let _ = json::escape_raw::<Infallible>(raw, &mut |b| {
            self.raw(b);
            Ok(())
        });
        self.raw(b"\"");
        self.value_done();
    }

    /// A string value produced by `Display` (error texts), escaped.
    pub fn display(&mut self, d: &dyn core::fmt::Display) {
        self.raw(b"\"");
        let _ = core::fmt::write(&mut Escaping(self), format_args!("{d}"));
        self.raw(b"\"");
        self.value_done();
    }

    /// Opens a string whose content is streamed with [`Self::base64_chunk`].
    pub fn open_str(&mut self) {
        self.raw(b"\"");
    }

    /// Closes a string opened with [`Self::open_str`].
    pub fn close_str(&mut self) {
        self.raw(b"\"");
        self.value_done();
    }

    /// A signed integer.
    pub fn int(&mut self, v: i64) {
        let mut buf = [0u8; 20];
        let digits = decimal(v.unsigned_abs(), &mut buf);
        if v < 0 {
            self.raw(b"-");
        }
        self.raw(digits);
        self.value_done();
    }

    /// An unsigned integer.
    pub fn uint(&mut self, v: u64) {
        let mut buf = [0u8; 20];
        self.raw(decimal(v, &mut buf));
        self.value_done();
    }

    /// `true` or `false`.
    pub fn bool(&mut self, v: bool) {
        self.raw(if v { b"true" } else { b"false" });
        self.value_done();
    }

    /// A JSON number from a float, to the microsecond: at most
    /// [`FRACTION_DIGITS`] decimals, trailing zeros dropped (`0.5`, `2`,
    /// `1700000000.123456`). Every float the agent reports comes with that
    /// precision or less (login times in µs, load averages in hundredths),
    /// and this leaves core's float formatting (8 KiB) out of the binary.
    /// Non-finite values, which JSON cannot carry, become 0.
    pub fn number(&mut self, v: f64) {
        let v = if v.is_finite() { v } else { 0.0 };
        if v < 0.0 {
            self.raw(b"-");
        }
        let mut buf = [0u8; 20];
        let a = if v < 0.0 { -v } else { v };
        if a >= MAX_FIXED {
            // Beyond what 6 decimals can hold in a u64: the integer part
            // (a double that large has no sub-millisecond precision anyway).
            self.raw(decimal(a as u64, &mut buf));
            return self.value_done();
        }
        let scaled = (a * SCALE as f64 + 0.5) as u64;
        self.raw(decimal(scaled / SCALE, &mut buf));
        let mut frac = scaled % SCALE;
        if frac != 0 {
            let mut digits = [b'0'; FRACTION_DIGITS];
            for d in digits.iter_mut().rev() {
                *d = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
            let keep = FRACTION_DIGITS - digits.iter().rev().take_while(|&&d| d == b'0').count();
            self.raw(b".");
            self.raw(&digits[..keep]);
        }
        self.value_done();
    }

    /// `"key": "v"` when `v` is present.
    pub fn opt_str(&mut self, key: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.key(key);
            self.str(v);
        }
    }

    /// `"key": v` for each present signed member.
    pub fn opt_ints(&mut self, members: &[(&str, Option<i64>)]) {
        for &(key, v) in members {
            if let Some(v) = v {
                self.key(key);
                self.int(v);
            }
        }
    }

    /// `"key": v` for each present unsigned member.
    pub fn opt_uints(&mut self, members: &[(&str, Option<u64>)]) {
        for &(key, v) in members {
            if let Some(v) = v {
                self.key(key);
                self.uint(v);
            }
        }
    }

    /// `"key": v` for each signed member.
    pub fn ints(&mut self, members: &[(&str, i64)]) {
        for &(key, v) in members {
            self.key(key);
            self.int(v);
        }
    }

    /// `"key": v` for each unsigned member.
    pub fn uints(&mut self, members: &[(&str, u64)]) {
        for &(key, v) in members {
            self.key(key);
            self.uint(v);
        }
    }

    /// `{}`.
    pub fn empty_object(&mut self) {
        self.open_object();
        self.close_object();
    }

    /// Copies a value from a request frame (for `id`), with qemu's spacing
    /// and escaping.
    pub fn copy_value(&mut self, v: &[u8]) {
        match json::kind(v) {
            json::Kind::Object => {
                self.open_object();
                for (k, val) in json::members(v) {
                    self.comma();
                    self.raw_str(k);
                    self.raw(b": ");
                    self.need_comma = false;
                    self.copy_value(val);
                }
                self.close_object()
            }
            json::Kind::Array => {
                self.open_array();
                for e in json::elements(v) {
                    self.element();
                    self.copy_value(e);
                }
                self.close_array()
            }
            json::Kind::String => self.raw_str(v.get(1..v.len().saturating_sub(1)).unwrap_or(&[])),
            _ => {
                self.raw(v);
                self.value_done();
            }
        }
    }

    /// Base64 of `data` (a multiple of 3 bytes, except at the very end of
    /// the value), without quotes: for streamed `buf-b64`/`out-data`.
    pub fn base64_chunk(&mut self, data: &[u8]) {
        let mut enc = [0u8; 1024];
        for piece in data.chunks(768) {
            let s = <base64ct::Base64 as base64ct::Encoding>::encode(piece, &mut enc).unwrap_or("");
            self.raw(s.as_bytes());
        }
    }
}

/// Adapts the writer to `fmt::Write`, escaping as it goes.
struct Escaping<'x, 'a>(&'x mut ReplyWriter<'a>);

impl core::fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let _ = json::escape_str::<Infallible>(s, &mut |b| {
            self.0.raw(b);
            Ok(())
        });
        Ok(())
    }
}

/// Decimals [`ReplyWriter::number`] keeps.
pub const FRACTION_DIGITS: usize = 6;
/// `10^FRACTION_DIGITS`.
const SCALE: u64 = 1_000_000;
/// The largest magnitude written with decimals (its scaled form fits u64).
const MAX_FIXED: f64 = 1.8e13;

fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_writer(f: impl FnOnce(&mut ReplyWriter<'_>)) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ch = Channel::new(&mut out);
        let mut stage = [0u8; 16];
        let mut w = ReplyWriter::new(&mut ch, &mut stage);
        f(&mut w);
        w.finish();
        assert!(ch.ok() && ch.flush());
        out
    }

    /// A sink that records, at each flush, how many bytes it had by then.
    #[derive(Default)]
    struct Recorder {
        bytes: Vec<u8>,
        flushed_at: Vec<usize>,
    }

    impl Sink for Recorder {
        fn write_all(&mut self, b: &[u8]) -> bool {
            self.bytes.extend_from_slice(b);
            true
        }
        fn flush(&mut self) -> bool {
            self.flushed_at.push(self.bytes.len());
            true
        }
        fn ok(&self) -> bool {
            true
        }
    }

    #[test]
    fn finish_flushes_once_after_the_whole_reply() {
        let mut sink = Recorder::default();
        let mut stage = [0u8; 8];
        let mut w = ReplyWriter::new(&mut sink, &mut stage);
        w.raw(br#"{"return": {"a-long-key": 1}}"#);
        w.finish();
        assert_eq!(sink.bytes, b"{\"return\": {\"a-long-key\": 1}}\n");
        assert_eq!(sink.flushed_at, [sink.bytes.len()]);
    }

    #[test]
    fn numbers_to_the_microsecond() {
        let out = with_writer(|w| {
            w.open_array();
            for v in [
                0.0,
                0.5,
                2.0,
                1.25,
                0.01,
                1_700_000_000.123_456,
                1_700_000_000.000_001,
                -3.5,
                0.000_000_4,
                0.999_999_6,
                f64::NAN,
                f64::INFINITY,
                4e15,
            ] {
                w.element();
                w.number(v);
            }
            w.close_array();
        });
        assert_eq!(
            core::str::from_utf8(&out).unwrap_or(""),
            "[0, 0.5, 2, 1.25, 0.01, 1700000000.123456, 1700000000.000001, -3.5, 0, 1, \
             0, 0, 4000000000000000]\n"
        );
    }

    #[test]
    fn formats_like_qemu_json_writer() {
        let out = with_writer(|w| {
            w.open_object();
            w.key("return");
            w.open_object();
            w.key("count");
            w.int(-2);
            w.key("buf-b64");
            w.str("aGU=");
            w.key("eof");
            w.bool(false);
            w.close_object();
            w.key("id");
            w.copy_value(br#"[1,{"a":null,"b":"\u00e9"}]"#);
            w.close_object();
        });
        assert_eq!(
            core::str::from_utf8(&out).unwrap_or(""),
            "{\"return\": {\"count\": -2, \"buf-b64\": \"aGU=\", \"eof\": false}, \"id\": [1, {\"a\": null, \"b\": \"\\u00E9\"}]}\n"
        );
    }

    #[test]
    fn discard_works_until_committed() {
        let mut out = Vec::new();
        let mut ch = Channel::new(&mut out);
        let mut stage = [0u8; 8];
        let mut w = ReplyWriter::new(&mut ch, &mut stage);
        w.raw(b"abc");
        assert!(w.discard());
        w.raw(b"0123456789");
        assert!(w.is_committed());
        assert!(!w.discard());
    }

    #[test]
    fn integers_at_the_limits() {
        let out = with_writer(|w| {
            w.int(i64::MIN);
            w.raw(b" ");
            w.uint(u64::MAX);
        });
        assert_eq!(out, b"-9223372036854775808 18446744073709551615\n");
    }

    #[test]
    fn member_helpers_skip_absent_values() {
        let out = with_writer(|w| {
            w.open_object();
            w.opt_str("a", None);
            w.opt_str("b", Some("x"));
            w.opt_ints(&[("c", None), ("d", Some(-1))]);
            w.opt_uints(&[("e", Some(2)), ("f", None)]);
            w.ints(&[("g", 3)]);
            w.uints(&[("h", 4)]);
            w.key("i");
            w.empty_object();
            w.close_object();
        });
        assert_eq!(
            out,
            b"{\"b\": \"x\", \"d\": -1, \"e\": 2, \"g\": 3, \"h\": 4, \"i\": {}}\n"
        );
    }

    #[test]
    fn a_channel_error_is_kept_and_later_writes_do_nothing() {
        struct Broken(usize);
        impl embedded_io::ErrorType for Broken {
            type Error = embedded_io::ErrorKind;
        }
        impl embedded_io::Write for Broken {
            fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> {
                self.0 += 1;
                let _ = b;
                Err(embedded_io::ErrorKind::BrokenPipe)
            }
            fn flush(&mut self) -> Result<(), Self::Error> {
                Ok(())
            }
        }
        let mut out = Broken(0);
        let mut ch = Channel::new(&mut out);
        let mut stage = [0u8; 4];
        let mut w = ReplyWriter::new(&mut ch, &mut stage);
        w.raw(b"0123456789");
        w.finish();
        assert_eq!(ch.take_error(), Err(embedded_io::ErrorKind::BrokenPipe));
        assert_eq!(ch.take_error(), Ok(()));
        assert_eq!(out.0, 1, "no write after the first error");
    }

    #[test]
    fn a_channel_that_is_always_interrupted_gives_up() {
        struct Busy(u32);
        impl embedded_io::ErrorType for Busy {
            type Error = embedded_io::ErrorKind;
        }
        impl embedded_io::Write for Busy {
            fn write(&mut self, _: &[u8]) -> Result<usize, Self::Error> {
                self.0 += 1;
                Err(embedded_io::ErrorKind::Interrupted)
            }
            fn flush(&mut self) -> Result<(), Self::Error> {
                Ok(())
            }
        }
        let mut out = Busy(0);
        let mut ch = Channel::new(&mut out);
        assert!(!ch.write_all(b"x"));
        assert_eq!(ch.take_error(), Err(embedded_io::ErrorKind::Interrupted));
        assert_eq!(out.0, RETRIES + 1);
    }

    #[test]
    fn a_writer_that_takes_nothing_stops_the_channel_without_a_panic() {
        struct Full;
        impl embedded_io::ErrorType for Full {
            type Error = embedded_io::ErrorKind;
        }
        impl embedded_io::Write for Full {
            fn write(&mut self, _: &[u8]) -> Result<usize, Self::Error> {
                Ok(0)
            }
            fn flush(&mut self) -> Result<(), Self::Error> {
                Ok(())
            }
        }
        let mut out = Full;
        let mut ch = Channel::new(&mut out);
        assert!(!ch.write_all(b"x"));
        assert!(!ch.ok() && !ch.flush());
        assert_eq!(ch.take_error(), Ok(()));
    }

    #[test]
    fn base64_chunks_concatenate() {
        let out = with_writer(|w| w.base64_chunk(b"hello world"));
        assert_eq!(out, b"aGVsbG8gd29ybGQ=\n");
    }
}
