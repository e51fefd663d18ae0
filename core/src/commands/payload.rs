//! Large base64 arguments (`buf-b64`, `input-data`): decoding them from a
//! frame in pieces, the one batcher that gathers decoded bytes into few
//! large writes, and what became of an argument that streamed
//! ([`Streamed`], filled in by the dispatcher's streaming stage).

use crate::platform::Error;
use crate::wire::base64::{Decoder, INVALID_TEXT};
use crate::wire::json;

use super::CommandError;

/// Where a streamed argument's bytes went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Target {
    /// Nowhere: the request could not run, or the platform has no spool.
    #[default]
    Discard,
    /// Straight into an open file handle (`guest-file-write` whose
    /// `execute` and `handle` came first and were valid).
    File(i64),
    /// Into the platform's spool.
    Spool,
}

/// What became of a streamed argument, for its handler.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Streamed {
    /// Where the bytes went.
    pub target: Target,
    /// Decoded length.
    pub decoded: u64,
    /// Bytes the target took.
    pub written: u64,
    /// The text had characters outside the base64 alphabet.
    pub invalid: bool,
    /// The first target error (later data was dropped).
    pub error: Option<Error>,
}

impl Streamed {
    /// The argument's own errors, in qemu-ga's order: invalid base64, then
    /// a stream that could not be kept.
    pub fn check(&self) -> Result<(), CommandError<'static>> {
        if self.invalid {
            return Err(CommandError::Text(INVALID_TEXT));
        }
        if self.target == Target::Discard {
            return Err(CommandError::TooLarge);
        }
        Ok(())
    }

    /// The target's error, if writing failed.
    pub fn write_error(&self) -> Result<(), CommandError<'static>> {
        self.error.clone().map_or(Ok(()), |e| Err(e.into()))
    }
}

/// Gathers decoded bytes in the scratch buffer and hands them to a sink
/// in scratch-sized pieces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batcher {
    len: usize,
}

/// Where a [`Batcher`] writes.
pub type BatchSink<'s> = &'s mut dyn FnMut(&[u8]) -> Result<(), Error>;

impl Batcher {
    /// Empty.
    pub const fn new() -> Batcher {
        Batcher { len: 0 }
    }

    /// Appends `bytes`, writing the scratch out whenever it fills.
    pub fn push(
        &mut self,
        scratch: &mut [u8],
        mut bytes: &[u8],
        sink: BatchSink<'_>,
    ) -> Result<(), Error> {
        while !bytes.is_empty() {
            if self.len == scratch.len() {
                self.flush(scratch, sink)?;
            }
            let n = bytes.len().min(scratch.len() - self.len);
            scratch[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// Writes out what is gathered.
    pub fn flush(&mut self, scratch: &[u8], sink: BatchSink<'_>) -> Result<(), Error> {
        let n = core::mem::take(&mut self.len);
        if n == 0 {
            return Ok(());
        }
        sink(&scratch[..n])
    }
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

/// Decodes inline base64 (at most `limit` bytes) through the batcher into
/// `sink`; `Ok(None)` if the text is not base64. Returns the bytes written.
pub fn decode_into(
    raw: &[u8],
    limit: u64,
    scratch: &mut [u8],
    sink: BatchSink<'_>,
) -> Result<u64, Error> {
    let (mut batch, mut taken) = (Batcher::new(), 0u64);
    decode_raw(raw, &mut |b: &[u8]| {
        let b = &b[..(limit - taken).min(b.len() as u64) as usize];
        taken += b.len() as u64;
        batch.push(scratch, b, sink)
    })?;
    batch.flush(scratch, sink)?;
    Ok(taken)
}

/// The decoded length of inline base64, or the invalid-characters error.
pub fn decoded_len(raw: &[u8]) -> Result<u64, CommandError<'static>> {
    let mut len = 0u64;
    let valid = decode_raw::<()>(raw, &mut |b| {
        len += b.len() as u64;
        Ok(())
    });
    match valid {
        Ok(true) => Ok(len),
        _ => Err(CommandError::Text(INVALID_TEXT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(decoded_len(br"aGVsbG8="), Ok(5));
        assert!(decoded_len(b"a b").is_err());
    }

    #[test]
    fn batcher_writes_scratch_sized_pieces() {
        let mut scratch = [0u8; 4];
        let mut writes: Vec<Vec<u8>> = Vec::new();
        let mut sink = |b: &[u8]| {
            writes.push(b.to_vec());
            Ok(())
        };
        let mut batch = Batcher::new();
        assert_eq!(batch.push(&mut scratch, b"abc", &mut sink), Ok(()));
        assert_eq!(batch.push(&mut scratch, b"defgh", &mut sink), Ok(()));
        assert_eq!(batch.flush(&scratch, &mut sink), Ok(()));
        assert_eq!(batch.flush(&scratch, &mut sink), Ok(()));
        assert_eq!(writes, [b"abcd".to_vec(), b"efgh".to_vec()]);
    }

    #[test]
    fn decode_into_stops_at_the_limit() {
        let mut scratch = [0u8; 3];
        let mut got = Vec::new();
        let n = decode_into(b"aGVsbG8=", 4, &mut scratch, &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        });
        assert_eq!(n, Ok(4));
        assert_eq!(got, b"hell");
    }

    #[test]
    fn streamed_errors_in_qemus_order() {
        let mut s = Streamed {
            invalid: true,
            ..Streamed::default()
        };
        assert_eq!(s.check(), Err(CommandError::Text(INVALID_TEXT)));
        s.invalid = false;
        assert_eq!(s.check(), Err(CommandError::TooLarge));
        s.target = Target::Spool;
        assert_eq!(s.check(), Ok(()));
        s.error = Some(Error::Unsupported);
        assert_eq!(s.write_error(), Err(Error::Unsupported.into()));
    }
}
