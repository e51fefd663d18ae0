//! `guest-file-open/close/read/write/seek/flush` (protocol notes 3.3).
//!
//! Reads stream: base64 is encoded from the scratch buffer straight into
//! the reply, so a 48 MiB read needs no 48 MiB buffer. `count` and `eof`
//! come after `buf-b64` because they are known only at the end.

use embedded_io::Write;

use super::payload::{decode_raw, Target};
use super::{whole_triples, ArgError, Args, CommandError, Cx, Done, Outcome, Param};
use crate::config::{FILE_READ_DEFAULT, FILE_READ_MAX};
use crate::platform::{Error, OpenMode, Platform, Whence};
use crate::wire::base64::INVALID_TEXT;
use crate::wire::json::{self, Kind};
use crate::wire::StreamKey;

/// `guest-file-open`: returns the handle.
pub fn open<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let path = a.str("path")?;
    let mode = a.opt_str("mode")?.unwrap_or("r");
    a.finish()?;
    let Some(parsed) = OpenMode::parse(mode) else {
        return Err(Error::msg(format_args!("invalid file open mode '{mode}'")).into());
    };
    let handle = cx.platform.file_open(path, parsed)?;
    cx.w.int(handle);
    Ok(Done::Reply)
}

/// `guest-file-close`.
pub fn close<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let handle = a.int("handle")?;
    a.finish()?;
    cx.platform.file_close(handle)?;
    cx.empty_object()
}

/// `guest-file-flush`.
pub fn flush<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let handle = a.int("handle")?;
    a.finish()?;
    cx.platform.file_flush(handle)?;
    cx.empty_object()
}

/// `guest-file-seek`; `whence` is an int or `"set"`/`"cur"`/`"end"`.
pub fn seek<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let handle = a.int("handle")?;
    let offset = a.int("offset")?;
    let whence = whence(a)?;
    a.finish()?;
    let position = cx.platform.file_seek(handle, offset, whence)?;
    let w = &mut cx.w;
    w.open_object();
    w.key("position");
    w.int(position);
    w.key("eof");
    w.bool(false);
    w.close_object();
    Ok(Done::Reply)
}

/// The `GuestFileWhence` alternate.
fn whence<'a>(a: &mut Args<'a, '_>) -> Result<Whence, CommandError<'a>> {
    let Some(v) = a.raw("whence") else {
        return Err(ArgError::Missing(Param::new("whence")).into());
    };
    match (json::kind(v), v) {
        (Kind::String, b"\"set\"") => Ok(Whence::Set),
        (Kind::String, b"\"cur\"") => Ok(Whence::Cur),
        (Kind::String, b"\"end\"") => Ok(Whence::End),
        (Kind::String, _) => {
            Err(ArgError::InvalidValue(Param::new("whence"), &v[1..v.len() - 1]).into())
        }
        (Kind::Number, _) if json::is_integer(v) => match json::parse_i64(v) {
            Some(0) => Ok(Whence::Set),
            Some(1) => Ok(Whence::Cur),
            Some(2) => Ok(Whence::End),
            Some(n) => Err(Error::msg(format_args!("invalid whence code {n}")).into()),
            None => Err(ArgError::InvalidType(Param::new("whence"), "GuestFileWhence").into()),
        },
        _ => Err(ArgError::InvalidType(Param::new("whence"), "GuestFileWhence").into()),
    }
}

/// `guest-file-read`: streams `buf-b64`, then `count` and `eof`.
pub fn read<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let handle = a.int("handle")?;
    let count = a.opt_int("count")?.unwrap_or(FILE_READ_DEFAULT);
    a.finish()?;
    if !(0..=FILE_READ_MAX).contains(&count) {
        // qemu-ga looks the handle up first.
        cx.platform.file_flush(handle)?;
        return Err(Error::invalid_value(count, "count").into());
    }
    cx.w.open_object();
    cx.w.key("buf-b64");
    cx.w.open_str();
    let (total, eof) = stream_read(cx, handle, count as u64)?;
    cx.w.close_str();
    cx.w.key("count");
    cx.w.uint(total);
    cx.w.key("eof");
    cx.w.bool(eof);
    cx.w.close_object();
    Ok(Done::Reply)
}

/// Reads up to `count` bytes in scratch-sized chunks, encoding each.
/// An error before any data is the reply; after some data, the read ends
/// short there (the count tells the client exactly what it got).
fn stream_read<P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    handle: i64,
    count: u64,
) -> Result<(u64, bool), Error> {
    let mut total = 0u64;
    loop {
        let want = (count - total).min(whole_triples(cx.scratch.len()) as u64) as usize;
        if want == 0 {
            return Ok((total, false));
        }
        let (n, eof) = match fill(cx.platform, handle, &mut cx.scratch[..want]) {
            Ok(r) => r,
            Err(e) if total == 0 => return Err(e),
            Err(_) => return Ok((total, false)),
        };
        cx.w.base64_chunk(&cx.scratch[..n]);
        total += n as u64;
        if eof {
            return Ok((total, true));
        }
    }
}

/// Fills `buf` from the file; returns the length and whether EOF was hit.
fn fill<P: Platform>(p: &mut P, handle: i64, buf: &mut [u8]) -> Result<(usize, bool), Error> {
    let mut n = 0;
    while n < buf.len() {
        match p.file_read(handle, &mut buf[n..]) {
            Ok(0) => return Ok((n, true)),
            Ok(k) => n += k,
            Err(e) if n == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok((n, false))
}

/// `guest-file-write`: inline base64 is decoded in pieces from the frame;
/// streamed base64 was already written (or spooled) while it arrived.
pub fn write<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let handle = a.int("handle")?;
    let raw = a.raw_str("buf-b64")?;
    let count = a.opt_int("count")?;
    a.finish()?;
    let written = if cx.streamed == Some(StreamKey::BufB64) {
        write_streamed(cx, handle, count)
    } else {
        write_inline(cx.platform, cx.scratch, handle, raw, count)
    };
    // On failure, an unknown handle is the error qemu-ga reports first
    // (`guest-file-flush` doubles as the handle lookup).
    let written = written.map_err(|e| match cx.platform.file_flush(handle) {
        Err(lookup) => lookup.into(),
        Ok(()) => e,
    })?;
    let w = &mut cx.w;
    w.open_object();
    w.key("count");
    w.uint(written);
    w.key("eof");
    w.bool(false);
    w.close_object();
    Ok(Done::Reply)
}

/// Checks `count` against the decoded length (qemu-ga: 0..=length).
fn checked_count(count: Option<i64>, len: u64) -> Result<u64, Error> {
    match count {
        None => Ok(len),
        Some(c) if c >= 0 && c as u64 <= len => Ok(c as u64),
        Some(c) => Err(Error::invalid_value(c, "count")),
    }
}

fn write_inline<P: Platform>(
    p: &mut P,
    scratch: &mut [u8],
    handle: i64,
    raw: &[u8],
    count: Option<i64>,
) -> Result<u64, CommandError<'static>> {
    let mut len = 0u64;
    let valid = decode_raw::<()>(raw, &mut |b| {
        len += b.len() as u64;
        Ok(())
    });
    if valid != Ok(true) {
        return Err(CommandError::Text(INVALID_TEXT));
    }
    let limit = checked_count(count, len)?;
    // Decode into the scratch buffer and write it out whenever it fills.
    let (mut taken, mut batched, mut written) = (0u64, 0usize, 0u64);
    decode_raw(raw, &mut |mut b: &[u8]| {
        b = &b[..(limit - taken).min(b.len() as u64) as usize];
        taken += b.len() as u64;
        while !b.is_empty() {
            if batched == scratch.len() {
                written += write_all(p, handle, &scratch[..core::mem::take(&mut batched)])?;
            }
            let n = b.len().min(scratch.len() - batched);
            scratch[batched..batched + n].copy_from_slice(&b[..n]);
            batched += n;
            b = &b[n..];
        }
        Ok::<(), Error>(())
    })?;
    written += write_all(p, handle, &scratch[..batched])?;
    Ok(written)
}

/// Writes all of `b` to the file (short writes are retried).
pub fn write_all<P: Platform>(p: &mut P, handle: i64, mut b: &[u8]) -> Result<u64, Error> {
    let mut n = 0u64;
    while !b.is_empty() {
        let k = p.file_write(handle, b)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        b = &b[k..];
    }
    Ok(n)
}

fn write_streamed<P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    handle: i64,
    count: Option<i64>,
) -> Result<u64, CommandError<'static>> {
    let pl = &*cx.payload;
    if pl.invalid() {
        return Err(CommandError::Text(INVALID_TEXT));
    }
    if let Some(e) = &pl.error {
        return Err(e.clone().into());
    }
    let limit = checked_count(count, pl.decoded)?;
    match pl.target {
        Target::File(_) if limit == pl.decoded => Ok(pl.written),
        Target::File(_) => Err(CommandError::Text(
            "count must come before a buf-b64 larger than the request buffer",
        )),
        Target::Spool => copy_spool(cx.platform, cx.scratch, handle, limit),
        Target::Refused => Err(CommandError::Text("JSON token size limit exceeded")),
    }
}

/// Copies the first `limit` spooled bytes into the file.
fn copy_spool<P: Platform>(
    p: &mut P,
    scratch: &mut [u8],
    handle: i64,
    limit: u64,
) -> Result<u64, CommandError<'static>> {
    let mut done = 0u64;
    while done < limit {
        let want = (limit - done).min(scratch.len() as u64) as usize;
        let n = p.spool_read(done, &mut scratch[..want])?;
        if n == 0 {
            break;
        }
        done += write_all(p, handle, &scratch[..n])?;
    }
    Ok(done)
}
