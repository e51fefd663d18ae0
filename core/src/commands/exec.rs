//! `guest-exec` and `guest-exec-status` (protocol notes 3.3).
//!
//! `input-data` goes to the platform's spool (decoded from the frame, or
//! already spooled while it streamed in); captured output is streamed back
//! as base64 from the scratch buffer.

use super::payload::{decode_into, decoded_len, Streamed, Target};
use super::{need, whole_triples, ArgError, Args, CommandError, Cx, Done, Outcome, Param};
use crate::platform::{
    CaptureOutput, CapturedStream, Error, ExecRequest, OutputStream, Platform, Processes,
};
use crate::wire::json::{self, Kind};
use crate::wire::reply::ReplyWriter;

/// `guest-exec`: returns `{"pid": N}`.
pub fn exec<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let path = a.str("path")?;
    let arg = a.opt_str_list("arg")?.unwrap_or_default();
    let env = a.opt_str_list("env")?;
    let input = a.opt_raw_str("input-data")?;
    let capture = capture_output(a)?;
    a.finish()?;
    let input_in_spool = match (input, cx.streamed) {
        (None, _) => false,
        (Some(_), Some(s)) => check_streamed(s)?,
        (Some(raw), None) => spool_inline(cx.platform, cx.scratch, raw)?,
    };
    let req = ExecRequest {
        path,
        arg,
        env,
        input_in_spool,
        capture,
    };
    let pid = need(cx.platform.processes())?.exec(&req)?;
    cx.w.open_object();
    cx.w.ints(&[("pid", pid)]);
    cx.w.close_object();
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

fn check_streamed(s: &Streamed) -> Result<bool, CommandError<'static>> {
    s.check()?;
    s.write_error()?;
    Ok(s.target == Target::Spool)
}

fn spool_inline<P: Platform + ?Sized>(
    p: &mut P,
    scratch: &mut [u8],
    raw: &[u8],
) -> Result<bool, CommandError<'static>> {
    let len = decoded_len(raw)?;
    let spool = need(p.spool())?;
    spool.reset()?;
    decode_into(raw, len, scratch, &mut |b| spool.write(b))?;
    Ok(true)
}

/// `guest-exec-status`: streams `out-data`/`err-data` once exited, then
/// forgets the process (a second query gets the unknown-pid error).
pub fn status<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let pid = a.int("pid")?;
    a.finish()?;
    let procs = need(cx.platform.processes())?;
    let st = procs.status(pid)?;
    cx.w.open_object();
    cx.w.key("exited");
    cx.w.bool(st.exited);
    if st.exited {
        cx.w.opt_ints(&[("exitcode", st.exitcode), ("signal", st.signal)]);
        let mut out = Output {
            w: &mut cx.w,
            scratch: cx.scratch,
            procs,
            pid,
        };
        out.stream(OutputStream::Stdout, st.out)?;
        out.stream(OutputStream::Stderr, st.err)?;
        procs.release(pid);
    }
    cx.w.close_object();
    Ok(Done::Reply)
}

/// Captured output of one exited process, on its way into the reply.
struct Output<'o, 'w> {
    w: &'o mut ReplyWriter<'w>,
    scratch: &'o mut [u8],
    procs: &'o mut dyn Processes,
    pid: i64,
}

impl Output<'_, '_> {
    /// Writes `out-data`/`out-truncated` (or the `err-` pair) when there is data.
    fn stream(&mut self, s: OutputStream, c: Option<CapturedStream>) -> Result<(), Error> {
        let Some(c) = c.filter(|c| c.len > 0 || c.truncated) else {
            return Ok(());
        };
        let (data_key, flag_key) = match s {
            OutputStream::Stdout => ("out-data", "out-truncated"),
            OutputStream::Stderr => ("err-data", "err-truncated"),
        };
        self.w.key(data_key);
        self.w.open_str();
        let mut off = 0u64;
        while off < c.len {
            let want = (c.len - off).min(whole_triples(self.scratch.len()) as u64) as usize;
            let n = fill(self.procs, self.pid, s, off, &mut self.scratch[..want])?;
            if n == 0 {
                break;
            }
            self.w.base64_chunk(&self.scratch[..n]);
            off += n as u64;
        }
        self.w.close_str();
        self.w.key(flag_key);
        self.w.bool(c.truncated);
        Ok(())
    }
}

fn fill(
    procs: &mut dyn Processes,
    pid: i64,
    s: OutputStream,
    off: u64,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let mut n = 0;
    while n < buf.len() {
        let k = procs.output(pid, s, off + n as u64, &mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}
