//! `guest-exec` / `guest-exec-status`: child processes and their output.
//!
//! Each child is started by `child` (in its own session). Its capture pipes
//! are non-blocking and registered with one epoll instance, which the
//! channel loop polls next to the channel ([`Processes::fd`]): whenever a
//! pipe has data, the loop calls [`Processes::service`], which reads what
//! is there, so a child never blocks on a full pipe while the agent waits
//! for requests, all on the agent's one thread (as qemu-ga's main loop
//! does). Up to [`MAX_CAPTURE`] bytes are kept per stream and at most
//! [`MAX_CAPTURE_TOTAL`] across all tracked processes; the rest is read and
//! discarded (the truncation flags say what was cut).
//!
//! Once both pipes reached EOF and the child exited, the record reads as
//! exited, as in qemu-ga. The child is **not reaped** until the record is
//! released: its zombie keeps the pid reserved until the status has been
//! read, so a reused pid can never be mistaken for a process nobody has
//! queried yet.

use std::ffi::OsStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use qga_core::platform::{Error, ExecRequest, ExecStatus, OutputStream, Result};
use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::fs::OFlags;

use super::capture::{Budget, Capture, Stream};
use super::child::{self, Exit, Process, Spec, Stdin};
use super::sys::{os_errno, rx_errno};

/// At most this many processes are tracked (running or not yet released).
pub const MAX_PROCESSES: usize = 64;

/// Bytes kept per captured stream (qemu-ga: exactly 16 MiB).
pub const MAX_CAPTURE: usize = 16 * 1024 * 1024;

/// Bytes kept across every stream of every tracked process (qemu-ga has
/// no such bound: 64 processes x 2 x 16 MiB). Room for two processes'
/// full output; given back when a record is released.
pub const MAX_CAPTURE_TOTAL: usize = 64 * 1024 * 1024;

/// Read size (on the stack).
const READ_CHUNK: usize = 16 * 1024;

/// Pipes served per [`Processes::service`] (the rest stay ready for the next).
const EVENTS: usize = 16;

/// A tracked process.
#[derive(Debug)]
struct Record {
    pid: i64,
    /// The child: a zombie once it exited, until the record is released.
    process: Process,
    out: Option<Capture>,
    err: Option<Capture>,
    /// Set once both pipes reached EOF and the child exited.
    exit: Option<Exit>,
}

/// The process table.
#[derive(Debug)]
pub(crate) struct Processes {
    records: Vec<Record>,
    budget: Budget,
    /// Every open capture pipe; an event's data is its pid and stream.
    poller: OwnedFd,
}

impl Processes {
    /// An empty table whose captured output may total
    /// [`MAX_CAPTURE_TOTAL`].
    pub(crate) fn new() -> std::io::Result<Processes> {
        Processes::with_budget(MAX_CAPTURE_TOTAL)
    }

    /// An empty table whose captured output may total `bytes`.
    fn with_budget(bytes: usize) -> std::io::Result<Processes> {
        Ok(Processes {
            records: Vec::new(),
            budget: Budget::new(bytes),
            poller: epoll::create(CreateFlags::CLOEXEC)?,
        })
    }

    /// Readable while a capture pipe has data (or reached EOF): then call
    /// [`Processes::service`].
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.poller.as_fd()
    }

    /// `guest-exec`: starts `req` with `stdin` (or /dev/null), returns the pid.
    pub(crate) fn spawn(&mut self, req: &ExecRequest<'_>, stdin: Option<OwnedFd>) -> Result<i64> {
        self.check_room()?;
        let argv: Vec<&OsStr> = std::iter::once(req.path)
            .chain(req.arg.iter())
            .map(OsStr::new)
            .collect();
        // Passed as given, as qemu-ga does (an entry without `=` too).
        let env: Option<Vec<&OsStr>> = req.env.map(|e| e.iter().map(OsStr::new).collect());
        let spec = Spec {
            argv: &argv,
            exe: None,
            env: env.as_deref(),
            stdin: stdin.map_or(Stdin::Null, Stdin::Fd),
            capture: req.capture,
            inherit_output: false,
        };
        let sp = child::spawn(spec).map_err(|e| {
            Error::msg(format_args!(
                "Failed to execute child process \u{201C}{}\u{201D} ({})",
                req.path,
                qga_core::errno::strerror(os_errno(&e))
            ))
        })?;
        let pid = i64::from(sp.process.id());
        let mut record = Record {
            pid,
            process: sp.process,
            out: None,
            err: None,
            exit: None,
        };
        record.out = self.watch(pid, 0, sp.stdout)?;
        record.err = self.watch(pid, 1, sp.stderr)?;
        self.records.push(record);
        Ok(pid)
    }

    /// A capture of `pipe` (stream 0: stdout, 1: stderr), registered with
    /// the poller. On failure the caller drops the process (killed, reaped).
    fn watch(&self, pid: i64, stream: u64, pipe: Option<OwnedFd>) -> Result<Option<Capture>> {
        let Some(pipe) = pipe else { return Ok(None) };
        let key = EventData::new_u64(pid.unsigned_abs() << 1 | stream);
        rustix::fs::fcntl_setfl(&pipe, OFlags::NONBLOCK)
            .and_then(|()| epoll::add(&self.poller, &pipe, key, EventFlags::IN))
            .map_err(|e| Error::errno(rx_errno(e), format_args!("failed to watch child output")))?;
        Ok(Some(Capture {
            pipe: Some(pipe),
            stream: Stream::default(),
        }))
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

    /// Reads what the ready capture pipes hold (never blocks).
    pub(crate) fn service(&mut self) {
        let mut events = [MaybeUninit::<Event>::uninit(); EVENTS];
        let zero = rustix::time::Timespec::default();
        // A zero timeout: no EINTR to retry.
        let Ok((ready, _)) = epoll::wait(&self.poller, &mut events, Some(&zero)) else {
            return;
        };
        let mut buf = [0u8; READ_CHUNK];
        for event in ready.iter() {
            let key = event.data.u64();
            let Some(r) = self
                .records
                .iter_mut()
                .find(|r| r.pid.unsigned_abs() == key >> 1)
            else {
                continue;
            };
            let capture = if key & 1 == 0 { &mut r.out } else { &mut r.err };
            if let Some(c) = capture {
                c.pump(&mut self.budget, &self.poller, &mut buf);
            }
        }
    }

    /// `guest-exec-status`.
    pub(crate) fn status(&mut self, pid: i64) -> Result<ExecStatus> {
        self.service();
        let r = self.record(pid)?;
        let open = [&r.out, &r.err].into_iter().flatten().any(Capture::is_open);
        if r.exit.is_none() && !open {
            r.exit = r
                .process
                .exited_keep_zombie()
                .unwrap_or(Some(Exit::Code(-1)));
        }
        let (exitcode, signal) = match r.exit {
            Some(Exit::Code(c)) => (Some(i64::from(c)), None),
            Some(Exit::Signal(n)) => (None, Some(i64::from(n))),
            None => (None, None),
        };
        Ok(ExecStatus {
            exited: r.exit.is_some(),
            exitcode,
            signal,
            out: r.out.as_ref().map(|c| c.stream.summary()),
            err: r.err.as_ref().map(|c| c.stream.summary()),
        })
    }

    /// Copies captured output of `pid` from `offset`; `Ok(0)` at the end.
    pub(crate) fn output(
        &mut self,
        pid: i64,
        stream: OutputStream,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        let r = self.record(pid)?;
        let capture = match stream {
            OutputStream::Stdout => r.out.as_ref(),
            OutputStream::Stderr => r.err.as_ref(),
        };
        let data = capture.map_or(&[][..], |c| &c.stream.data[..]);
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    /// Forgets `pid`: its output's budget is given back and the child is
    /// reaped (a child still running, which the core never releases, is
    /// killed with its session first).
    pub(crate) fn release(&mut self, pid: i64) {
        let Some(i) = self.records.iter().position(|r| r.pid == pid) else {
            return;
        };
        let record = self.records.swap_remove(i);
        let kept: usize = [&record.out, &record.err]
            .into_iter()
            .flatten()
            .map(|c| c.stream.data.len())
            .sum();
        self.budget.give(kept);
        for pipe in [record.out, record.err]
            .into_iter()
            .flatten()
            .filter_map(|c| c.pipe)
        {
            let _ = epoll::delete(&self.poller, &pipe);
        }
        // Dropping the process reaps it.
    }

    /// The record of `pid`.
    fn record(&mut self, pid: i64) -> Result<&mut Record> {
        let r = self.records.iter_mut().find(|r| r.pid == pid);
        // qemu-ga 8.2+ prints the literal `PID ld does not exist` (a missing
        // `%` in its format string); we print the pid.
        r.ok_or_else(|| Error::msg(format_args!("PID {pid} does not exist")))
    }
}

impl Drop for Processes {
    /// The agent is exiting: its children run on, as qemu-ga's do.
    fn drop(&mut self) {
        for record in self.records.drain(..) {
            record.process.disown();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::{fd_count_exclusive, fd_count_guard, open_fds};
    use super::*;
    use qga_core::platform::{CaptureOutput, CapturedStream, StrList};
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
        let mut p = Processes::new().unwrap();
        let pid = p.spawn(&req("/bin/sh", &joined, 2, capture), None).unwrap();
        (p, pid)
    }

    fn wait_exit(p: &mut Processes, pid: i64) -> ExecStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let st = p.status(pid).unwrap();
            if st.exited || Instant::now() > deadline {
                return st;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn output(p: &mut Processes, pid: i64, stream: OutputStream) -> Vec<u8> {
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
        let (mut p, pid) = sh("echo out; echo err >&2; exit 3", CaptureOutput::Separated);
        let st = wait_exit(&mut p, pid);
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
        assert_eq!(output(&mut p, pid, OutputStream::Stdout), b"out\n");
        assert_eq!(output(&mut p, pid, OutputStream::Stderr), b"err\n");
    }

    #[test]
    fn merged_capture_puts_both_streams_in_stdout() {
        let _g = fd_count_guard();
        let (mut p, pid) = sh("echo out; echo err >&2", CaptureOutput::Merged);
        let st = wait_exit(&mut p, pid);
        assert_eq!(st.exitcode, Some(0));
        assert_eq!(st.err, None);
        assert_eq!(output(&mut p, pid, OutputStream::Stdout), b"out\nerr\n");
    }

    #[test]
    fn single_stream_and_no_capture() {
        let _g = fd_count_guard();
        let (mut p, pid) = sh("echo out; echo err >&2", CaptureOutput::Stderr);
        let st = wait_exit(&mut p, pid);
        assert_eq!((st.out, st.err.map(|s| s.len)), (None, Some(4)));
        let (mut p, pid) = sh("echo out", CaptureOutput::None);
        let st = wait_exit(&mut p, pid);
        assert_eq!((st.exited, st.out, st.err), (true, None, None));
        assert_eq!(
            p.output(pid, OutputStream::Stdout, 0, &mut [0; 4]).unwrap(),
            0
        );
    }

    #[test]
    fn signal_is_reported() {
        let _g = fd_count_guard();
        let (mut p, pid) = sh("kill -9 $$", CaptureOutput::None);
        let st = wait_exit(&mut p, pid);
        assert_eq!((st.exited, st.exitcode, st.signal), (true, None, Some(9)));
    }

    #[test]
    fn running_process_is_not_exited_and_unknown_pid_errors() {
        let _g = fd_count_guard();
        // (`read x` would see EOF on /dev/null and exit at once.)
        let (mut p, pid) = sh("sleep 30", CaptureOutput::Separated);
        let st = p.status(pid).unwrap();
        assert!(!st.exited && st.exitcode.is_none());
        p.release(pid);
        // Released while running: killed and reaped, not left behind.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert_eq!(stat, "", "child {pid} is still there");
        assert_eq!(
            p.status(pid).unwrap_err().text(),
            format!("PID {pid} does not exist")
        );
        assert_eq!(p.status(0).unwrap_err().text(), "PID 0 does not exist");
    }

    #[test]
    fn exited_waits_for_pipe_eof_of_grandchild() {
        let _g = fd_count_guard();
        let (mut p, pid) = sh("sleep 0.5 & echo started", CaptureOutput::Stdout);
        std::thread::sleep(Duration::from_millis(150));
        assert!(
            !p.status(pid).unwrap().exited,
            "the grandchild still holds stdout"
        );
        assert!(wait_exit(&mut p, pid).exited);
    }

    #[test]
    fn output_beyond_16_mib_is_truncated_but_drained() {
        let _g = fd_count_guard();
        let script = "head -c 17000000 /dev/zero; echo done >&2";
        let (mut p, pid) = sh(script, CaptureOutput::Separated);
        let st = wait_exit(&mut p, pid);
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
        let mut p = Processes::new().unwrap();
        let pid = p.spawn(&r, None).unwrap();
        wait_exit(&mut p, pid);
        assert_eq!(output(&mut p, pid, OutputStream::Stdout), b"1:unset\n");
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
        let mut p = Processes::new().unwrap();
        let pid = p.spawn(&r, Some(spool.take().unwrap())).unwrap();
        wait_exit(&mut p, pid);
        assert_eq!(
            output(&mut p, pid, OutputStream::Stdout),
            b"/bin/sh\nfrom spool"
        );
    }

    #[test]
    fn spawn_failure_has_glib_text() {
        let mut p = Processes::new().unwrap();
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
        let mut p = Processes::new().unwrap();
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
            let (mut p, pid) = sh("ls /proc/self/fd", CaptureOutput::Separated);
            wait_exit(&mut p, pid);
            let listed = output(&mut p, pid, OutputStream::Stdout);
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
    fn exited_child_holds_its_pid_until_released_then_is_reaped() {
        let _g = fd_count_guard();
        let (mut p, pid) = sh("exit 0", CaptureOutput::Separated);
        wait_exit(&mut p, pid);
        let state = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit_once(") ")
                .map(|(_, r)| r.chars().next())
                .unwrap_or_default()
        };
        // Unqueried: still a zombie, so the kernel cannot hand its pid out again.
        assert_eq!(state(), Some('Z'));
        p.release(pid);
        // Reaped: the pid is gone (or reused by an unrelated, non-zombie process).
        assert_ne!(state(), Some('Z'), "child {pid} is still a zombie");
    }

    #[test]
    fn captured_output_is_bounded_across_processes() {
        let _g = fd_count_guard();
        let mut p = Processes::with_budget(10).unwrap();
        let joined = "-c\0printf 123456\0";
        let a = p
            .spawn(&req("/bin/sh", joined, 2, CaptureOutput::Stdout), None)
            .unwrap();
        let sa = wait_exit(&mut p, a);
        let b = p
            .spawn(&req("/bin/sh", joined, 2, CaptureOutput::Stdout), None)
            .unwrap();
        let sb = wait_exit(&mut p, b);
        let cut = |len| {
            Some(CapturedStream {
                len,
                truncated: len < 6,
            })
        };
        assert_eq!((sa.out, sb.out), (cut(6), cut(4)));
        assert_eq!(output(&mut p, b, OutputStream::Stdout), b"1234");
        // Released records give their bytes back.
        p.release(a);
        p.release(b);
        let c = p
            .spawn(&req("/bin/sh", joined, 2, CaptureOutput::Stdout), None)
            .unwrap();
        assert_eq!(wait_exit(&mut p, c).out, cut(6));
    }
}
