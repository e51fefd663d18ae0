//! `guest-exec` and `guest-exec-status` (protocol notes 3.3).
//!
//! `input-data` goes to the platform's spool (decoded from the frame, or
//! already spooled while it streamed in); captured output is streamed back
//! as base64 from the scratch buffer.

use embedded_io::Write;

use super::payload::{decode_raw, Target};
use super::{opt_int, whole_triples, ArgError, Args, CommandError, Cx, Done, Outcome, Param};
use crate::platform::{CaptureOutput, CapturedStream, Error, ExecRequest, OutputStream, Platform};
use crate::wire::base64::INVALID_TEXT;
use crate::wire::json::{self, Kind};
use crate::wire::StreamKey;

/// `guest-exec`: returns `{"pid": N}`.
pub fn exec<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let path = a.str("path")?;
    let arg = a.opt_str_list("arg")?.unwrap_or_default();
    let env = a.opt_str_list("env")?;
    let input = a.opt_raw_str("input-data")?;
    let capture = capture_output(a)?;
    a.finish()?;
    let input_in_spool = match (input, cx.streamed == Some(StreamKey::InputData)) {
        (None, _) => false,
        (Some(_), true) => check_streamed(cx.payload)?,
        (Some(raw), false) => spool_inline(cx.platform, raw)?,
    };
    let pid = cx.platform.exec(&ExecRequest {
        path,
        arg,
        env,
        input_in_spool,
        capture,
    })?;
    let w = &mut cx.w;
    w.open_object();
    w.key("pid");
    w.int(pid);
    w.close_object();
    Ok(Done::Reply)
}

/// The `GuestExecCaptureOutput` alternate: a bool or an enum name.
fn capture_output<'a>(a: &mut Args<'a, '_>) -> Result<CaptureOutput, CommandError<'a>> {
    let Some(v) = a.raw("capture-output") else {
        return Ok(CaptureOutput::None);
    };
    let p = Param::new("capture-output");
    Ok(match (json::kind(v), v) {
        (Kind::Boolean, b"true") => CaptureOutput::Separated,
        (Kind::Boolean, _) => CaptureOutput::None,
        (Kind::String, b"\"none\"") => CaptureOutput::None,
        (Kind::String, b"\"stdout\"") => CaptureOutput::Stdout,
        (Kind::String, b"\"stderr\"") => CaptureOutput::Stderr,
        (Kind::String, b"\"separated\"") => CaptureOutput::Separated,
        (Kind::String, b"\"merged\"") => CaptureOutput::Merged,
        (Kind::String, _) => return Err(ArgError::InvalidValue(p, &v[1..v.len() - 1]).into()),
        _ => return Err(ArgError::InvalidType(p, "GuestExecCaptureOutput").into()),
    })
}

fn check_streamed(pl: &super::Payload) -> Result<bool, CommandError<'static>> {
    if pl.invalid() {
        return Err(CommandError::Text(INVALID_TEXT));
    }
    if let Some(e) = &pl.error {
        return Err(e.clone().into());
    }
    match pl.target {
        Target::Spool => Ok(true),
        _ => Err(CommandError::Text("JSON token size limit exceeded")),
    }
}

fn spool_inline<P: Platform>(p: &mut P, raw: &[u8]) -> Result<bool, CommandError<'static>> {
    let valid = decode_raw::<()>(raw, &mut |_| Ok(())).unwrap_or(false);
    if !valid {
        return Err(CommandError::Text(INVALID_TEXT));
    }
    p.spool_reset()?;
    decode_raw(raw, &mut |b: &[u8]| p.spool_write(b))?;
    Ok(true)
}

/// `guest-exec-status`: streams `out-data`/`err-data` once exited, then
/// forgets the process (a second query gets the unknown-pid error).
pub fn status<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let pid = a.int("pid")?;
    a.finish()?;
    let st = cx.platform.exec_status(pid)?;
    cx.w.open_object();
    cx.w.key("exited");
    cx.w.bool(st.exited);
    if st.exited {
        opt_int(&mut cx.w, "exitcode", st.exitcode);
        opt_int(&mut cx.w, "signal", st.signal);
        output(cx, pid, OutputStream::Stdout, st.out)?;
        output(cx, pid, OutputStream::Stderr, st.err)?;
    }
    cx.w.close_object();
    if st.exited {
        cx.platform.exec_release(pid);
    }
    Ok(Done::Reply)
}

/// Writes `out-data`/`out-truncated` (or the `err-` pair) when there is data.
fn output<P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    pid: i64,
    s: OutputStream,
    c: Option<CapturedStream>,
) -> Result<(), Error> {
    let Some(c) = c.filter(|c| c.len > 0 || c.truncated) else {
        return Ok(());
    };
    let (data_key, flag_key) = match s {
        OutputStream::Stdout => ("out-data", "out-truncated"),
        OutputStream::Stderr => ("err-data", "err-truncated"),
    };
    cx.w.key(data_key);
    cx.w.open_str();
    let mut off = 0u64;
    while off < c.len {
        let want = (c.len - off).min(whole_triples(cx.scratch.len()) as u64) as usize;
        let n = fill(cx.platform, pid, s, off, &mut cx.scratch[..want])?;
        if n == 0 {
            break;
        }
        cx.w.base64_chunk(&cx.scratch[..n]);
        off += n as u64;
    }
    cx.w.close_str();
    cx.w.key(flag_key);
    cx.w.bool(c.truncated);
    Ok(())
}

fn fill<P: Platform>(
    p: &mut P,
    pid: i64,
    s: OutputStream,
    off: u64,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let mut n = 0;
    while n < buf.len() {
        let k = p.exec_output(pid, s, off + n as u64, &mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}
