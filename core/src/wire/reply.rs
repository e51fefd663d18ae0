//! The reply writer: one JSON line per reply, formatted like qemu-ga's JSON
//! writer (`": "` and `", "` separators, ASCII only; protocol notes 1.8).
//!
//! Bytes are staged in a caller-owned buffer and written in large pieces. A
//! reply that fits the buffer is only *committed* (written to the channel)
//! when it is complete, so until then [`ReplyWriter::discard`] can replace it
//! with an error reply. Larger replies (file reads, exec output) stream:
//! their first part is committed when the buffer fills.
//!
//! Channel errors are sticky: the first one is kept, later writes do nothing,
//! and [`ReplyWriter::finish`] returns it. So reply code reads as a plain
//! sequence of writes.

use core::convert::Infallible;

use embedded_io::Write;

use super::json;

/// Streams one reply to `W` through a staging buffer.
pub struct ReplyWriter<'a, W: Write> {
    out: &'a mut W,
    error: Option<W::Error>,
    stage: &'a mut [u8],
    len: usize,
    committed: bool,
    need_comma: bool,
}

impl<'a, W: Write> ReplyWriter<'a, W> {
    /// A writer staging into `stage` (at least a few dozen bytes).
    pub fn new(out: &'a mut W, stage: &'a mut [u8]) -> Self {
        ReplyWriter {
            out,
            error: None,
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
        while !b.is_empty() && self.error.is_none() {
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
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(&self.stage[..self.len]) {
                self.error = Some(e);
            }
        }
        self.len = 0;
    }

    /// Ends the reply with `\n` and writes and flushes everything.
    pub fn finish(mut self) -> Result<(), W::Error> {
        self.raw(b"\n");
        self.drain();
        match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
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

    /// A string built from raw bytes (invalid UTF-8 becomes `\uFFFD`).
    pub fn bytes_str(&mut self, b: &[u8]) {
        self.raw(b"\"");
        let _ = json::escape_bytes::<Infallible>(b, &mut |b| {
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

    /// A JSON number from a float (shortest round-trip form; non-finite
    /// values, which JSON cannot carry, become 0).
    pub fn number(&mut self, v: f64) {
        let v = if v.is_finite() { v } else { 0.0 };
        let mut s = heapless::String::<32>::new();
        let _ = core::fmt::write(&mut s, format_args!("{v}"));
        self.raw(s.as_bytes());
        self.value_done();
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
struct Escaping<'x, 'a, W: Write>(&'x mut ReplyWriter<'a, W>);

impl<W: Write> core::fmt::Write for Escaping<'_, '_, W> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let _ = json::escape_str::<Infallible>(s, &mut |b| {
            self.0.raw(b);
            Ok(())
        });
        Ok(())
    }
}

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

    fn with_writer(f: impl FnOnce(&mut ReplyWriter<'_, Vec<u8>>)) -> Vec<u8> {
        let mut out = Vec::new();
        let mut stage = [0u8; 16];
        let mut w = ReplyWriter::new(&mut out, &mut stage);
        f(&mut w);
        let _ = w.finish();
        out
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
        let mut stage = [0u8; 8];
        let mut w = ReplyWriter::new(&mut out, &mut stage);
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
    fn base64_chunks_concatenate() {
        let out = with_writer(|w| w.base64_chunk(b"hello world"));
        assert_eq!(out, b"aGVsbG8gd29ybGQ=\n");
    }
}
