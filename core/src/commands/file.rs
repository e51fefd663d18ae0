//! `guest-file-open/close/read/write/seek/flush` (protocol notes 3.3).
//!
//! Every command on a handle checks it first ([`Files::check`]), after its
//! arguments and before anything else, as qemu-ga looks the handle up.
//! Reads stream: base64 is encoded from the scratch buffer straight into
//! the reply, so a 48 MiB read needs no 48 MiB buffer; `count` and `eof`
//! come after `buf-b64` because they are known only at the end.

use super::payload::{decode_into, decoded_len, Streamed, Target};
use super::{need, whole_triples, ArgError, Args, CommandError, Cx, Done, Outcome, Param};
use crate::config::{FILE_READ_DEFAULT, FILE_READ_MAX};
use crate::platform::{Error, Files, OpenMode, Platform, Whence};
use crate::wire::envelope::Prefix;
use crate::wire::json::{self, Kind};

/// `guest-file-open`: returns the handle.
pub fn open<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let path = a.str("path")?;
    let mode = a.opt_str("mode")?.unwrap_or("r");
    a.finish()?;
    let Some(parsed) = OpenMode::parse(mode) else {
        return Err(Error::msg(format_args!("invalid file open mode '{mode}'")).into());
    };
    let handle = need(cx.platform.files())?.open(path, parsed)?;
    cx.w.int(handle);
    Ok(Done::Reply)
}

/// `guest-file-close`.
pub fn close<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let handle = a.int("handle")?;
    a.finish()?;
    handle_files(cx, handle)?.close(handle)?;
    cx.empty_object()
}

/// `guest-file-flush`.
pub fn flush<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let handle = a.int("handle")?;
    a.finish()?;
    handle_files(cx, handle)?.flush(handle)?;
    cx.empty_object()
}

/// The files capability, after checking that `handle` is open.
fn handle_files<'c, P: Platform + ?Sized>(
    cx: &'c mut Cx<'_, P>,
    handle: i64,
) -> Result<&'c mut dyn Files, Error> {
    let files = need(cx.platform.files())?;
    files.check(handle)?;
    Ok(files)
}

/// `guest-file-seek`; `whence` is an int or `"set"`/`"cur"`/`"end"`.
pub fn seek<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let handle = a.int("handle")?;
    let offset = a.int("offset")?;
    let whence = whence(a)?;
    a.finish()?;
    let files = handle_files(cx, handle)?;
    let whence = match whence {
        Ok(w) => w,
        Err(code) => return Err(Error::msg(format_args!("invalid whence code {code}")).into()),
    };
    let position = files.seek(handle, offset, whence)?;
    cx.w.open_object();
    cx.w.ints(&[("position", position)]);
    cx.w.key("eof");
    cx.w.bool(false);
    cx.w.close_object();
    Ok(Done::Reply)
}

/// The `GuestFileWhence` alternate: a name, or a code (`Err` when it is
/// not 0-2; qemu-ga reports that only after the handle lookup).
fn whence<'a>(a: &mut Args<'a, '_>) -> Result<Result<Whence, i64>, CommandError<'a>> {
    let p = Param::new("whence");
    let Some(v) = a.raw("whence") else {
        return Err(ArgError::Missing(p).into());
    };
    let code = match (json::kind(v), v) {
        (Kind::String, b"\"set\"") => 0,
        (Kind::String, b"\"cur\"") => 1,
        (Kind::String, b"\"end\"") => 2,
        (Kind::String, _) => return Err(ArgError::InvalidValue(p, &v[1..v.len() - 1]).into()),
        (Kind::Number, _) if json::is_integer(v) => {
            json::parse_i64(v).ok_or(ArgError::InvalidType(p, "GuestFileWhence"))?
        }
        _ => return Err(ArgError::InvalidType(p, "GuestFileWhence").into()),
    };
    Ok(match code {
        0 => Ok(Whence::Set),
        1 => Ok(Whence::Cur),
        2 => Ok(Whence::End),
        n => Err(n),
    })
}

/// `guest-file-read`: streams `buf-b64`, then `count` and `eof`.
pub fn read<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let handle = a.int("handle")?;
    let count = a.opt_int("count")?.unwrap_or(FILE_READ_DEFAULT);
    a.finish()?;
    handle_files(cx, handle)?;
    if !(0..=FILE_READ_MAX).contains(&count) {
        return Err(Error::invalid_value(count, "count").into());
    }
    cx.w.open_object();
    cx.w.key("buf-b64");
    cx.w.open_str();
    let (total, eof) = stream_read(cx, handle, count as u64)?;
    cx.w.close_str();
    cx.w.uints(&[("count", total)]);
    cx.w.key("eof");
    cx.w.bool(eof);
    cx.w.close_object();
    Ok(Done::Reply)
}

/// Reads up to `count` bytes in scratch-sized chunks, encoding each.
/// An error before any data is the reply; after some data, the read ends
/// short there (the count tells the client exactly what it got).
fn stream_read<P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    handle: i64,
    count: u64,
) -> Result<(u64, bool), Error> {
    let files = need(cx.platform.files())?;
    let mut total = 0u64;
    loop {
        let want = (count - total).min(whole_triples(cx.scratch.len()) as u64) as usize;
        if want == 0 {
            return Ok((total, false));
        }
        let (n, eof) = match fill(files, handle, &mut cx.scratch[..want]) {
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
fn fill(files: &mut dyn Files, handle: i64, buf: &mut [u8]) -> Result<(usize, bool), Error> {
    let mut n = 0;
    while n < buf.len() {
        match files.read(handle, &mut buf[n..]) {
            Ok(0) => return Ok((n, true)),
            Ok(k) => n += k,
            Err(e) if n == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok((n, false))
}

/// `guest-file-write`: inline base64 is decoded in pieces from the frame;
/// streamed base64 was written (or spooled) while it arrived. qemu-ga's
/// order: arguments, handle, base64, count.
pub fn write<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let handle = a.int("handle")?;
    let raw = a.raw_str("buf-b64")?;
    let count = a.opt_int("count")?;
    a.finish()?;
    handle_files(cx, handle)?;
    let written = match cx.streamed {
        Some(s) => write_streamed(cx.platform, cx.scratch, s, handle, count)?,
        None => {
            let limit = checked_count(count, decoded_len(raw)?)?;
            let files = need(cx.platform.files())?;
            decode_into(raw, limit, cx.scratch, &mut |b| write_all(files, handle, b))?
        }
    };
    cx.w.open_object();
    cx.w.uints(&[("count", written)]);
    cx.w.key("eof");
    cx.w.bool(false);
    cx.w.close_object();
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

/// Writes all of `b` to the file (short writes are retried; a write of
/// nothing ends it, like qemu-ga's single `fwrite`).
pub fn write_all(files: &mut dyn Files, handle: i64, mut b: &[u8]) -> Result<(), Error> {
    while !b.is_empty() {
        match files.write(handle, b)? {
            0 => return Err(Error::msg(format_args!("failed to write to file"))),
            k => b = &b[k.min(b.len())..],
        }
    }
    Ok(())
}

fn write_streamed<P: Platform + ?Sized>(
    p: &mut P,
    scratch: &mut [u8],
    s: &Streamed,
    handle: i64,
    count: Option<i64>,
) -> Result<u64, CommandError<'static>> {
    s.check()?;
    let limit = checked_count(count, s.decoded)?;
    s.write_error()?;
    match s.target {
        Target::File(h) if h == handle && limit == s.written => Ok(s.written),
        Target::File(_) => Err(CommandError::TooLarge),
        _ => copy_spool(p, scratch, handle, limit),
    }
}

/// Copies the first `limit` spooled bytes into the file.
fn copy_spool<P: Platform + ?Sized>(
    p: &mut P,
    scratch: &mut [u8],
    handle: i64,
    limit: u64,
) -> Result<u64, CommandError<'static>> {
    let mut done = 0u64;
    while done < limit {
        let want = (limit - done).min(scratch.len() as u64) as usize;
        let n = need(p.spool())?.read(done, &mut scratch[..want])?;
        if n == 0 {
            break;
        }
        write_all(need(p.files())?, handle, &scratch[..n])?;
        done += n as u64;
    }
    Ok(done)
}

/// Where a streamed `buf-b64` may go straight: the file of a `handle` that
/// came before it, alone (no `count`, nothing unknown) and open. Anything
/// else is spooled and judged once the whole request is in.
pub fn direct_handle(prefix: &Prefix<'_>, files: &mut dyn Files) -> Option<i64> {
    let mut members = prefix.members();
    let (b"handle", v) = members.next()? else {
        return None;
    };
    if members.next().is_some() || !prefix.clean || !json::is_integer(v) {
        return None;
    }
    let handle = json::parse_i64(v)?;
    files.check(handle).ok().map(|()| handle)
}
