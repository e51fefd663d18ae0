//! Large base64 arguments: decoding them in pieces, from the frame or from
//! the stream, into a file or the platform's spool (DESIGN.md, "Large
//! string arguments stream").
//!
//! A streamed `buf-b64` goes straight to the file when the request named
//! `execute` = `guest-file-write` and `handle` (and no `count`) before it,
//! as every known client does; otherwise, and for `input-data`, it goes to
//! the platform's spool. A platform without a spool refuses it with the
//! size-limit error.

use crate::platform::{self, Platform};
use crate::wire::base64::Decoder;
use crate::wire::envelope::{prefix_argument, prefix_member};
use crate::wire::json;
use crate::wire::StreamKey;

/// Where a streamed argument's bytes go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Target {
    /// Nowhere: no stream, or it was refused.
    #[default]
    Refused,
    /// Straight into an open file handle.
    File(i64),
    /// Into the platform's spool.
    Spool,
}

/// The state of the current request's streamed argument.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    /// Which argument streams.
    pub key: Option<StreamKey>,
    /// Where it goes.
    pub target: Target,
    decoder: Decoder,
    /// Decoded length so far.
    pub decoded: u64,
    /// Bytes accepted by the target.
    pub written: u64,
    /// The first target error (later data is decoded but dropped).
    pub error: Option<platform::Error>,
    /// Decoded bytes waiting in the scratch buffer for one large write.
    batched: usize,
}

impl Payload {
    /// No stream.
    pub const fn new() -> Payload {
        Payload {
            key: None,
            target: Target::Refused,
            decoder: Decoder::new(),
            decoded: 0,
            written: 0,
            error: None,
            batched: 0,
        }
    }

    /// A streamed argument begins; `prefix` is the request up to it and
    /// `file_write_allowed` says whether `guest-file-write` may run now.
    pub fn start<P: Platform>(
        &mut self,
        key: StreamKey,
        prefix: &[u8],
        file_write_allowed: bool,
        p: &mut P,
    ) {
        *self = Payload {
            key: Some(key),
            ..Payload::default()
        };
        self.target = match (key, direct_file(prefix)) {
            (StreamKey::BufB64, Some(handle)) if file_write_allowed => Target::File(handle),
            _ if p.spool_reset().is_ok() => Target::Spool,
            _ => Target::Refused,
        };
    }

    /// The next piece of the argument's text; decoded bytes are batched in
    /// `scratch` so the target sees few, large writes.
    pub fn data<P: Platform>(&mut self, text: &[u8], p: &mut P, scratch: &mut [u8]) {
        let mut dec = self.decoder;
        let _ = dec.feed::<()>(text, &mut |bytes| {
            self.batch(bytes, p, scratch);
            Ok(())
        });
        self.decoder = dec;
    }

    /// The argument ended: the last bytes are decoded and written.
    pub fn end<P: Platform>(&mut self, p: &mut P, scratch: &mut [u8]) {
        let mut dec = self.decoder;
        let _ = dec.finish::<()>(&mut |bytes| {
            self.batch(bytes, p, scratch);
            Ok(())
        });
        self.decoder = dec;
        self.flush(p, scratch);
    }

    /// Whether the text had characters outside the base64 alphabet.
    pub fn invalid(&self) -> bool {
        self.decoder.is_invalid()
    }

    fn batch<P: Platform>(&mut self, mut bytes: &[u8], p: &mut P, scratch: &mut [u8]) {
        self.decoded += bytes.len() as u64;
        while !bytes.is_empty() {
            if self.batched == scratch.len() {
                self.flush(p, scratch);
            }
            let n = bytes.len().min(scratch.len() - self.batched);
            scratch[self.batched..self.batched + n].copy_from_slice(&bytes[..n]);
            self.batched += n;
            bytes = &bytes[n..];
        }
    }

    fn flush<P: Platform>(&mut self, p: &mut P, scratch: &[u8]) {
        let data = &scratch[..core::mem::take(&mut self.batched)];
        if data.is_empty() || self.error.is_some() || self.decoder.is_invalid() {
            return;
        }
        let r = match self.target {
            Target::Refused => return,
            Target::File(h) => super::file::write_all(p, h, data).map(|n| n as usize),
            Target::Spool => p.spool_write(data).map(|()| data.len()),
        };
        match r {
            Ok(n) => self.written += n as u64,
            Err(e) => self.error = Some(e),
        }
    }
}

/// The handle of a `guest-file-write` whose data may go straight to the file.
fn direct_file(prefix: &[u8]) -> Option<i64> {
    let execute = prefix_member(prefix, b"execute")?;
    if execute != b"\"guest-file-write\"" || prefix_argument(prefix, b"count").is_some() {
        return None;
    }
    json::parse_i64(prefix_argument(prefix, b"handle")?)
}

/// Decodes base64 held as raw JSON string content (escapes such as `\n`
/// or `\/` resolved on the way), calling `out` with decoded pieces.
/// Returns `false` if the text had invalid characters.
pub fn decode_raw<E>(raw: &[u8], out: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<bool, E> {
    let mut dec = Decoder::new();
    let mut i = 0;
    while i < raw.len() {
        let run = raw[i..]
            .iter()
            .position(|&b| b == b'\\')
            .unwrap_or(raw.len() - i);
        dec.feed(&raw[i..i + run], out)?;
        i += run;
        if i < raw.len() {
            let (c, used) = json::decode_char(&raw[i..]);
            let byte = if c.is_ascii() { c as u8 } else { 0xFF };
            dec.feed(&[byte], out)?;
            i += used;
        }
    }
    dec.finish(out)?;
    Ok(!dec.is_invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_only_for_file_write_with_handle_first() {
        let p = br#"{"execute":"guest-file-write","arguments":{"handle":1000,"buf-b64":"#;
        assert_eq!(direct_file(p), Some(1000));
        let p = br#"{"execute":"guest-file-write","arguments":{"handle":1000,"count":3,"buf-b64":"#;
        assert_eq!(direct_file(p), None);
        let p = br#"{"arguments":{"handle":1000,"buf-b64":"#;
        assert_eq!(direct_file(p), None);
    }

    #[test]
    fn decode_raw_resolves_escapes() {
        let mut v = Vec::new();
        let ok = decode_raw::<()>(br"aGVs\nbG8\u003d", &mut |b| {
            v.extend_from_slice(b);
            Ok(())
        });
        assert_eq!(ok, Ok(true));
        assert_eq!(v, b"hello");
        assert_eq!(decode_raw::<()>(br"aG\u00e9", &mut |_| Ok(())), Ok(false));
    }
}
