//! `guest-exec` / `guest-exec-status`: child processes and their output.
//!
//! Each child gets one small supervisor thread. It drains the capture pipes
//! while the child runs (so the child never blocks on a full pipe), keeps up
//! to [`MAX_CAPTURE`] bytes per stream and discards the rest, and once both
//! pipes reached EOF it reaps the child. The record then reads as exited, as
//! in qemu-ga: reaped **and** pipes at EOF. Every child is waited for by its
//! thread, so none is left a zombie once its pipes close; all descriptors
//! are close-on-exec (std's pipes and spawn, the spool's memfd).

use std::io::{self, PipeReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};

use qga_core::platform::{
    CaptureOutput, CapturedStream, Error, ExecRequest, ExecStatus, OutputStream, Result,
};
use rustix::event::{PollFd, PollFlags};

use super::sys::os_errno;

/// At most this many processes are tracked (running or not yet released).
pub const MAX_PROCESSES: usize = 64;

/// Bytes kept per captured stream (qemu-ga: exactly 16 MiB).
pub const MAX_CAPTURE: usize = 16 * 1024 * 1024;

/// Stack of a supervisor thread: it only polls and copies.
const SUPERVISOR_STACK: usize = 64 * 1024;

/// Read size of a supervisor thread (heap, not stack).
const READ_CHUNK: usize = 16 * 1024;

/// One captured stream.
#[derive(Debug, Default)]
struct Stream {
    data: Vec<u8>,
    truncated: bool,
}

impl Stream {
    /// Keeps what fits under [`MAX_CAPTURE`], notes the rest as truncated.
    fn push(&mut self, chunk: &[u8]) {
        let room = MAX_CAPTURE - self.data.len();
        let keep = chunk.len().min(room);
        self.data.extend_from_slice(&chunk[..keep]);
        self.truncated |= keep < chunk.len();
    }

    /// The summary for `guest-exec-status`.
    fn summary(&self) -> CapturedStream {
        CapturedStream {
            len: self.data.len() as u64,
            truncated: self.truncated,
        }
    }
}

/// How the child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    Code(i64),
    Signal(i64),
}

/// What the supervisor thread shares with the agent.
#[derive(Debug, Default)]
struct Shared {
    out: Option<Stream>,
    err: Option<Stream>,
    /// Set once the pipes reached EOF and the child was reaped.
    exit: Option<Exit>,
}

/// A tracked process.
#[derive(Debug)]
struct Record {
    pid: i64,
    shared: Arc<Mutex<Shared>>,
}

/// The process table.
#[derive(Debug, Default)]
pub(crate) struct Processes {
    records: Vec<Record>,
}

impl Processes {
    /// `guest-exec`: starts `req` with `stdin` (or /dev/null), returns the pid.
    pub(crate) fn spawn(&mut self, req: &ExecRequest<'_>, stdin: Option<OwnedFd>) -> Result<i64> {
        self.check_room()?;
        let (child, out, err) = start(req, stdin).map_err(|e| {
            Error::msg(format_args!(
                "Failed to execute child process \u{201C}{}\u{201D} ({})",
                req.path,
                qga_core::errno::strerror(os_errno(&e))
            ))
        })?;
        let pid = i64::from(child.id());
        let shared = Arc::new(Mutex::new(Shared {
            out: out.as_ref().map(|_| Stream::default()),
            err: err.as_ref().map(|_| Stream::default()),
            exit: None,
        }));
        supervise(child, out, err, Arc::clone(&shared))?;
        self.records.push(Record { pid, shared });
        Ok(pid)
    }

    /// Fails with `too many processes (limit 64)` when the table is full.
    pub(crate) fn check_room(&self) -> Result<()> {
        if self.records.len() < MAX_PROCESSES {
            return Ok(());
        }
        Err(Error::msg(format_args!(
            "too many processes (limit {MAX_PROCESSES})"
        )))
    }

    /// `guest-exec-status`.
    pub(crate) fn status(&self, pid: i64) -> Result<ExecStatus> {
        let s = self.shared(pid)?;
        let (exitcode, signal) = match s.exit {
            Some(Exit::Code(c)) => (Some(c), None),
            Some(Exit::Signal(n)) => (None, Some(n)),
            None => (None, None),
        };
        let out = s.out.as_ref().map(Stream::summary);
        let err = s.err.as_ref().map(Stream::summary);
        Ok(ExecStatus {
            exited: s.exit.is_some(),
            exitcode,
            signal,
            out,
            err,
        })
    }

    /// Copies captured output of `pid` from `offset`; `Ok(0)` at the end.
    pub(crate) fn output(
        &self,
        pid: i64,
        stream: OutputStream,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        let s = self.shared(pid)?;
        let data = match stream {
            OutputStream::Stdout => s.out.as_ref(),
            OutputStream::Stderr => s.err.as_ref(),
        }
        .map_or(&[][..], |st| &st.data[..]);
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    /// Forgets `pid`. A still running child stays supervised and is reaped.
    pub(crate) fn release(&mut self, pid: i64) {
        self.records.retain(|r| r.pid != pid);
    }

    /// The shared state of `pid`, locked.
    fn shared(&self, pid: i64) -> Result<MutexGuard<'_, Shared>> {
        let r = self.records.iter().find(|r| r.pid == pid);
        // qemu-ga 8.2+ prints the literal `PID ld does not exist` (a missing
        // `%` in its format string); we print the pid.
        let r = r.ok_or_else(|| Error::msg(format_args!("PID {pid} does not exist")))?;
        Ok(lock(&r.shared))
    }
}

/// Locks `m`, ignoring poisoning (the data stays consistent: plain appends).
fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The child and the read ends of its capture pipes.
type Started = (Child, Option<PipeReader>, Option<PipeReader>);

/// Spawns the child. The `Command` (and with it every write end of the
/// pipes) is dropped before returning, so the readers see EOF at exit.
fn start(req: &ExecRequest<'_>, stdin: Option<OwnedFd>) -> io::Result<Started> {
    let mut cmd = command(req);
    cmd.stdin(stdin.map_or_else(Stdio::null, Stdio::from));
    let (out, err) = wire_capture(&mut cmd, req.capture)?;
    let child = cmd.spawn()?;
    Ok((child, out, err))
}

/// argv = [path, args...]; `env`, when given, replaces the whole environment
/// (and its `PATH` is the one searched, as with GLib's SEARCH_PATH_FROM_ENVP).
fn command(req: &ExecRequest<'_>) -> Command {
    let mut cmd = Command::new(req.path);
    cmd.args(req.arg.iter());
    if let Some(env) = req.env {
        cmd.env_clear();
        for entry in env.iter() {
            let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
            cmd.env(k, v);
        }
    }
    cmd
}

/// Points stdout/stderr at pipes or /dev/null per `capture`; returns the
/// read ends (`merged`: stderr shares the stdout pipe).
fn wire_capture(
    cmd: &mut Command,
    capture: CaptureOutput,
) -> io::Result<(Option<PipeReader>, Option<PipeReader>)> {
    let (want_out, want_err) = match capture {
        CaptureOutput::None => (false, false),
        CaptureOutput::Stdout => (true, false),
        CaptureOutput::Stderr => (false, true),
        CaptureOutput::Separated => (true, true),
        CaptureOutput::Merged => {
            let (r, w) = io::pipe()?;
            cmd.stdout(w.try_clone()?).stderr(w);
            return Ok((Some(r), None));
        }
    };
    let out = pipe_or_null(want_out, |s| {
        cmd.stdout(s);
    })?;
    let err = pipe_or_null(want_err, |s| {
        cmd.stderr(s);
    })?;
    Ok((out, err))
}

/// A pipe whose write end goes to `set`, or /dev/null when not wanted.
fn pipe_or_null(want: bool, set: impl FnOnce(Stdio)) -> io::Result<Option<PipeReader>> {
    if !want {
        set(Stdio::null());
        return Ok(None);
    }
    let (r, w) = io::pipe()?;
    set(Stdio::from(w));
    Ok(Some(r))
}

/// Owns a child until it is reaped; if dropped earlier (the supervisor
/// thread could not start) the child is killed and reaped, never a zombie.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // Both are no-ops once `wait` has returned (std caches the status).
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the supervisor thread.
fn supervise(
    child: Child,
    out: Option<PipeReader>,
    err: Option<PipeReader>,
    shared: Arc<Mutex<Shared>>,
) -> Result<()> {
    let child = Reaped(child);
    std::thread::Builder::new()
        .name(format!("qga-exec-{}", child.0.id()))
        .stack_size(SUPERVISOR_STACK)
        .spawn(move || run_supervisor(child, out, err, &shared))
        .map(|_| ())
        .map_err(|e| {
            Error::errno(
                os_errno(&e),
                format_args!("failed to supervise child process"),
            )
        })
}

/// The supervisor: drain the pipes to EOF, then reap and publish the exit.
fn run_supervisor(
    mut child: Reaped,
    out: Option<PipeReader>,
    err: Option<PipeReader>,
    shared: &Mutex<Shared>,
) {
    drain(out, err, shared);
    let exit = child.0.wait().map_or(Exit::Code(-1), exit_of);
    lock(shared).exit = Some(exit);
}

/// Reads both pipes until both reached EOF.
fn drain(mut out: Option<PipeReader>, mut err: Option<PipeReader>, shared: &Mutex<Shared>) {
    let mut buf = vec![0u8; READ_CHUNK];
    while out.is_some() || err.is_some() {
        let (out_ready, err_ready) = match wait_readable(out.as_ref(), err.as_ref()) {
            Ok(ready) => ready,
            Err(_) => return,
        };
        if out_ready {
            pump(&mut out, &mut buf, shared, |s| s.out.as_mut());
        }
        if err_ready {
            pump(&mut err, &mut buf, shared, |s| s.err.as_mut());
        }
    }
}

/// Blocks until at least one open pipe is readable (or hung up).
fn wait_readable(out: Option<&PipeReader>, err: Option<&PipeReader>) -> io::Result<(bool, bool)> {
    let mut fds: Vec<PollFd<'_>> = [out, err]
        .into_iter()
        .flatten()
        .map(|p| PollFd::new(p, PollFlags::IN))
        .collect();
    super::sys::retry(|| rustix::event::poll(&mut fds, None))?;
    let mut ready = fds.iter().map(|p| !p.revents().is_empty());
    let out_ready = out.is_some() && ready.next().unwrap_or(false);
    let err_ready = err.is_some() && ready.next().unwrap_or(false);
    Ok((out_ready, err_ready))
}

/// One read from `pipe` into its stream; closes `pipe` at EOF or error.
fn pump(
    pipe: &mut Option<PipeReader>,
    buf: &mut [u8],
    shared: &Mutex<Shared>,
    stream: fn(&mut Shared) -> Option<&mut Stream>,
) {
    let Some(reader) = pipe.as_mut() else { return };
    match reader.read(buf) {
        Ok(0) => *pipe = None,
        Ok(n) => {
            if let Some(s) = stream(&mut lock(shared)) {
                s.push(&buf[..n]);
            }
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(_) => *pipe = None,
    }
}

/// Exit code on a normal exit, else the signal.
fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(i64::from(c)),
        (None, Some(s)) => Exit::Signal(i64::from(s)),
        (None, None) => Exit::Code(-1),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::{fd_count_exclusive, fd_count_guard, open_fds};
    use super::*;
    use qga_core::platform::StrList;
    use std::time::{Duration, Instant};

    fn req<'a>(path: &'a str, args: &'a str, n: usize, capture: CaptureOutput) -> ExecRequest<'a> {
        ExecRequest {
            path,
            arg: StrList::from_joined(args, n),
            env: None,
            input_in_spool: false,
            capture,
        }
    }

    fn sh(script: &str, capture: CaptureOutput) -> (Processes, i64) {
        let joined = format!("-c\0{script}\0");
        let mut p = Processes::default();
        let pid = p.spawn(&req("/bin/sh", &joined, 2, capture), None).unwrap();
        (p, pid)
    }

    fn wait_exit(p: &Processes, pid: i64) -> ExecStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let st = p.status(pid).unwrap();
            if st.exited || Instant::now() > deadline {
                return st;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn output(p: &Processes, pid: i64, stream: OutputStream) -> Vec<u8> {
        let (mut all, mut buf) = (Vec::new(), [0u8; 3]);
        loop {
            let n = p.output(pid, stream, all.len() as u64, &mut buf).unwrap();
            if n == 0 {
                return all;
            }
            all.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn separated_capture_exit_code_and_chunked_output() {
        let _g = fd_count_guard();
        let (p, pid) = sh("echo out; echo err >&2; exit 3", CaptureOutput::Separated);
        let st = wait_exit(&p, pid);
        assert!(st.exited);
        assert_eq!((st.exitcode, st.signal), (Some(3), None));
        assert_eq!(
            st.out,
            Some(CapturedStream {
                len: 4,
                truncated: false
            })
        );
        assert_eq!(
            st.err,
            Some(CapturedStream {
                len: 4,
                truncated: false
            })
        );
        assert_eq!(output(&p, pid, OutputStream::Stdout), b"out\n");
        assert_eq!(output(&p, pid, OutputStream::Stderr), b"err\n");
    }

    #[test]
    fn merged_capture_puts_both_streams_in_stdout() {
        let _g = fd_count_guard();
        let (p, pid) = sh("echo out; echo err >&2", CaptureOutput::Merged);
        let st = wait_exit(&p, pid);
        assert_eq!(st.exitcode, Some(0));
        assert_eq!(st.err, None);
        assert_eq!(output(&p, pid, OutputStream::Stdout), b"out\nerr\n");
    }

    #[test]
    fn single_stream_and_no_capture() {
        let _g = fd_count_guard();
        let (p, pid) = sh("echo out; echo err >&2", CaptureOutput::Stderr);
        let st = wait_exit(&p, pid);
        assert_eq!((st.out, st.err.map(|s| s.len)), (None, Some(4)));
        let (p, pid) = sh("echo out", CaptureOutput::None);
        let st = wait_exit(&p, pid);
        assert_eq!((st.exited, st.out, st.err), (true, None, None));
        assert_eq!(
            p.output(pid, OutputStream::Stdout, 0, &mut [0; 4]).unwrap(),
            0
        );
    }

    #[test]
    fn signal_is_reported() {
        let _g = fd_count_guard();
        let (p, pid) = sh("kill -9 $$", CaptureOutput::None);
        let st = wait_exit(&p, pid);
        assert_eq!((st.exited, st.exitcode, st.signal), (true, None, Some(9)));
    }

    #[test]
    fn running_process_is_not_exited_and_unknown_pid_errors() {
        let _g = fd_count_guard();
        let (mut p, pid) = sh("read x", CaptureOutput::Separated);
        let st = p.status(pid).unwrap();
        assert!(!st.exited && st.exitcode.is_none());
        p.release(pid);
        assert_eq!(
            p.status(pid).unwrap_err().text(),
            format!("PID {pid} does not exist")
        );
        assert_eq!(p.status(0).unwrap_err().text(), "PID 0 does not exist");
    }

    #[test]
    fn exited_waits_for_pipe_eof_of_grandchild() {
        let _g = fd_count_guard();
        let (p, pid) = sh("sleep 0.5 & echo started", CaptureOutput::Stdout);
        std::thread::sleep(Duration::from_millis(150));
        assert!(
            !p.status(pid).unwrap().exited,
            "the grandchild still holds stdout"
        );
        assert!(wait_exit(&p, pid).exited);
    }

    #[test]
    fn output_beyond_16_mib_is_truncated_but_drained() {
        let _g = fd_count_guard();
        let script = "head -c 17000000 /dev/zero; echo done >&2";
        let (p, pid) = sh(script, CaptureOutput::Separated);
        let st = wait_exit(&p, pid);
        assert_eq!(st.exitcode, Some(0));
        assert_eq!(
            st.out,
            Some(CapturedStream {
                len: MAX_CAPTURE as u64,
                truncated: true
            })
        );
        assert_eq!(
            st.err,
            Some(CapturedStream {
                len: 5,
                truncated: false
            })
        );
    }

    #[test]
    fn env_replaces_environment_and_its_path_is_searched() {
        let _g = fd_count_guard();
        let env = "PATH=/bin:/usr/bin\0ONLY=1\0";
        let mut r = req(
            "sh",
            "-c\0echo $ONLY:${HOME:-unset}\0",
            2,
            CaptureOutput::Stdout,
        );
        r.env = Some(StrList::from_joined(env, 2));
        let mut p = Processes::default();
        let pid = p.spawn(&r, None).unwrap();
        wait_exit(&p, pid);
        assert_eq!(output(&p, pid, OutputStream::Stdout), b"1:unset\n");
        r.env = Some(StrList::from_joined("PATH=/nonexistent\0", 1));
        let e = p.spawn(&r, None).unwrap_err();
        assert_eq!(
            e.text(),
            "Failed to execute child process \u{201C}sh\u{201D} (No such file or directory)"
        );
    }

    #[test]
    fn argv0_is_the_path_and_stdin_comes_from_given_fd() {
        let _g = fd_count_guard();
        let mut spool = super::super::spool::Spool::default();
        spool.write(b"from spool").unwrap();
        let r = req("/bin/sh", "-c\0echo $0; cat\0", 2, CaptureOutput::Stdout);
        let mut p = Processes::default();
        let pid = p.spawn(&r, Some(spool.take().unwrap())).unwrap();
        wait_exit(&p, pid);
        assert_eq!(
            output(&p, pid, OutputStream::Stdout),
            b"/bin/sh\nfrom spool"
        );
    }

    #[test]
    fn spawn_failure_has_glib_text() {
        let mut p = Processes::default();
        let e = p
            .spawn(
                &req("/nonexistent/x", "", 0, CaptureOutput::Separated),
                None,
            )
            .unwrap_err();
        assert_eq!(e.text(), "Failed to execute child process \u{201C}/nonexistent/x\u{201D} (No such file or directory)");
    }

    #[test]
    fn process_table_is_bounded() {
        let _g = fd_count_guard();
        let mut p = Processes::default();
        for _ in 0..MAX_PROCESSES {
            p.spawn(&req("/bin/true", "", 0, CaptureOutput::None), None)
                .unwrap();
        }
        let e = p
            .spawn(&req("/bin/true", "", 0, CaptureOutput::None), None)
            .unwrap_err();
        assert_eq!(e.text(), "too many processes (limit 64)");
        let pid = p.records[0].pid;
        p.release(pid);
        assert!(p
            .spawn(&req("/bin/true", "", 0, CaptureOutput::None), None)
            .is_ok());
    }

    #[test]
    fn no_fd_leaks_and_child_sees_only_stdio() {
        let _g = fd_count_exclusive();
        let before = open_fds();
        for _ in 0..5 {
            let (p, pid) = sh("ls /proc/self/fd", CaptureOutput::Separated);
            wait_exit(&p, pid);
            let listed = output(&p, pid, OutputStream::Stdout);
            let seen: Vec<String> = String::from_utf8(listed)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            // stdio, ls's own directory fd (3), and whatever this test process
            // inherited without close-on-exec from its parent: nothing of ours.
            let foreign: Vec<&String> = seen
                .iter()
                .filter(|fd| !["0", "1", "2", "3"].contains(&fd.as_str()) && !before.contains(fd))
                .collect();
            assert!(foreign.is_empty(), "child inherited {foreign:?}");
            assert!(seen.len() >= 4);
        }
        assert_eq!(open_fds(), before);
    }

    #[test]
    fn no_zombies_after_exit() {
        let _g = fd_count_guard();
        let (p, pid) = sh("exit 0", CaptureOutput::Separated);
        wait_exit(&p, pid);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        // Reaped: the pid is gone (or reused by an unrelated, non-zombie process).
        assert!(
            stat.map_or(true, |s| !s.contains(") Z ")),
            "child {pid} is a zombie"
        );
    }
}
