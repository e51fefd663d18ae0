//! Helper programs run to their exit, the way qemu-ga 9.1+'s
//! `ga_run_command` runs them: the fsfreeze hook, `chpasswd`, `mkpasswd`,
//! `shutdown`/`poweroff`, `hwclock`, `getent`, `systemctl`, pm-utils.
//!
//! A helper is started by `child` (own session, its three streams only)
//! and waited for by its **exit**, never by EOF on its output: a
//! background grandchild that keeps the pipe open cannot hang the agent.
//! Its stdin is written without blocking, its output is kept up to
//! [`OUTPUT_LIMIT`] bytes (the rest is read and dropped), and it gets a time
//! bound ([`PROBE_TIME`], [`ACTION_TIME`]) after which it is killed with its
//! session and fails with a clear error.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use qga_core::platform::{CaptureOutput, Error, Result};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::OFlags;
use rustix::io::Errno;

use super::child::{spawn, Exit, Spec, Stdin};
use super::sys::{os_errno, retry};

/// Bound for a helper that only answers a question (`systemctl status`,
/// `pm-is-supported`, `getent`, `mkpasswd`).
pub(crate) const PROBE_TIME: Duration = Duration::from_secs(30);
/// Bound for a helper that acts (fsfreeze hook, `chpasswd`, `shutdown`,
/// `hwclock`, suspend): hooks may flush databases, so it is generous.
pub(crate) const ACTION_TIME: Duration = Duration::from_secs(300);
/// Output bytes of a helper kept for its error message; the rest is dropped.
pub(crate) const OUTPUT_LIMIT: usize = 64 * 1024;
/// After a helper exited, at most this much more output is read from a
/// pipe a grandchild still writes to.
const DRAIN_LIMIT: usize = 1024 * 1024;
/// How often a running helper is checked for its exit.
const TICK: Duration = Duration::from_millis(10);

/// A finished helper: how it ended and its first [`OUTPUT_LIMIT`] bytes of
/// merged stdout+stderr.
#[derive(Debug)]
pub(crate) struct Finished {
    /// Exit code or signal.
    pub exit: Exit,
    /// Merged output (only when captured).
    pub output: Vec<u8>,
}

/// Why a helper did not finish.
#[derive(Debug)]
pub(crate) enum Failure {
    /// It could not be started.
    Start(io::Error),
    /// It ran past its time bound and was killed.
    TimedOut(Duration),
    /// Waiting for it failed.
    Wait(io::Error),
}

/// Runs `argv` with `input` on stdin (else `/dev/null`), its merged output
/// captured when `capture`, for at most `limit`.
pub(crate) fn run(
    argv: &[&OsStr],
    input: Option<&[u8]>,
    capture: bool,
    limit: Duration,
) -> core::result::Result<Finished, Failure> {
    let spec = Spec {
        argv,
        exe: None,
        env: None,
        stdin: if input.is_some() {
            Stdin::Pipe
        } else {
            Stdin::Null
        },
        capture: if capture {
            CaptureOutput::Merged
        } else {
            CaptureOutput::None
        },
        inherit_output: false,
    };
    let sp = spawn(spec).map_err(Failure::Start)?;
    let mut pipes =
        Pipes::new(sp.stdin, sp.stdout, input.unwrap_or_default()).map_err(Failure::Wait)?;
    let mut process = sp.process;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(exit) = process.exited().map_err(Failure::Wait)? {
            pipes.drain();
            return Ok(Finished {
                exit,
                output: pipes.output,
            });
        }
        let now = Instant::now();
        if now >= deadline {
            process.kill_session();
            process.reap();
            return Err(Failure::TimedOut(limit));
        }
        pipes.service(TICK.min(deadline - now));
    }
}

/// qemu-ga 9.1+'s `ga_run_command`: runs `argv` (with `input` on stdin),
/// waits for its exit within `limit` and maps failure to
/// `child process has failed to <action>: <output>` (or `exit status <n>`),
/// `child process has terminated abnormally[: <output>]`.
pub(crate) fn helper(
    argv: &[&OsStr],
    input: Option<&[u8]>,
    action: &str,
    limit: Duration,
) -> Result<()> {
    match run(argv, input, true, limit) {
        Ok(f) => helper_result(&f.output, f.exit, action),
        Err(e) => Err(failure_error(&e, argv, action)),
    }
}

/// The exit code of `argv` run with all three streams on `/dev/null`
/// within [`PROBE_TIME`]; `None` when it cannot be started, dies by a
/// signal or times out (qemu-ga's probes: `systemctl status ...`,
/// `pm-is-supported`).
pub(crate) fn exit_code(argv: &[&OsStr]) -> Option<i32> {
    match run(argv, None, false, PROBE_TIME).ok()?.exit {
        Exit::Code(c) => Some(c),
        Exit::Signal(_) => None,
    }
}

/// The error text of a helper that did not finish.
pub(crate) fn failure_error(e: &Failure, argv: &[&OsStr], action: &str) -> Error {
    let prog = argv
        .first()
        .map_or_else(Default::default, |p| p.to_string_lossy());
    match e {
        Failure::Start(e) => Error::errno(
            os_errno(e),
            format_args!("child process has failed to {action}: failed to exec '{prog}'"),
        ),
        Failure::TimedOut(t) => Error::msg(format_args!(
            "child process has failed to {action}: '{prog}' did not exit within {} seconds",
            t.as_secs()
        )),
        Failure::Wait(e) => Error::errno(
            os_errno(e),
            format_args!("child process has failed to {action}: waiting for '{prog}'"),
        ),
    }
}

/// Maps a helper's exit and output to qemu-ga's error texts.
pub(crate) fn helper_result(output: &[u8], exit: Exit, action: &str) -> Result<()> {
    let out = String::from_utf8_lossy(output);
    match exit {
        Exit::Code(0) => Ok(()),
        Exit::Code(n) if out.is_empty() => Err(Error::msg(format_args!(
            "child process has failed to {action}: exit status {n}"
        ))),
        Exit::Code(_) => Err(Error::msg(format_args!(
            "child process has failed to {action}: {out}"
        ))),
        Exit::Signal(_) if out.is_empty() => Err(Error::msg(format_args!(
            "child process has terminated abnormally"
        ))),
        Exit::Signal(_) => Err(Error::msg(format_args!(
            "child process has terminated abnormally: {out}"
        ))),
    }
}

/// A helper's stdin (fed without blocking) and output (read without
/// blocking, kept up to [`OUTPUT_LIMIT`]).
struct Pipes<'a> {
    stdin: Option<OwnedFd>,
    input: &'a [u8],
    stdout: Option<OwnedFd>,
    output: Vec<u8>,
}

impl<'a> Pipes<'a> {
    fn new(stdin: Option<OwnedFd>, stdout: Option<OwnedFd>, input: &'a [u8]) -> io::Result<Self> {
        for fd in stdin.iter().chain(stdout.iter()) {
            rustix::fs::fcntl_setfl(fd, OFlags::NONBLOCK)?;
        }
        let mut p = Pipes {
            stdin,
            input,
            stdout,
            output: Vec::new(),
        };
        p.feed();
        Ok(p)
    }

    /// Waits up to `timeout` for the pipes, then moves what they allow.
    fn service(&mut self, timeout: Duration) {
        let mut fds = Vec::with_capacity(2);
        if let Some(fd) = &self.stdout {
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        if let Some(fd) = &self.stdin {
            fds.push(PollFd::new(fd, PollFlags::OUT));
        }
        let ts = rustix::time::Timespec::try_from(timeout).unwrap_or_default();
        match fds.is_empty() {
            true => std::thread::sleep(timeout),
            false => drop(retry(|| poll(&mut fds, Some(&ts)))),
        }
        drop(fds);
        self.read(DRAIN_LIMIT);
        self.feed();
    }

    /// Writes as much of the input as the pipe takes; closes it when done
    /// (or when the helper stopped reading).
    fn feed(&mut self) {
        let Some(fd) = &self.stdin else { return };
        while !self.input.is_empty() {
            match retry(|| rustix::io::write(fd, self.input)) {
                Ok(n) => self.input = &self.input[n..],
                Err(Errno::AGAIN) => return,
                Err(_) => break,
            }
        }
        self.stdin = None;
    }

    /// Reads what is there, at most about `budget` bytes (so a chatty
    /// helper cannot starve the exit check); closes the pipe at EOF.
    fn read(&mut self, mut budget: usize) {
        let Some(fd) = &self.stdout else { return };
        let mut buf = [0u8; 4096];
        let mut eof = false;
        while budget > 0 {
            match retry(|| rustix::io::read(fd, &mut buf)) {
                Err(Errno::AGAIN) => break,
                Ok(0) | Err(_) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    let room = OUTPUT_LIMIT.saturating_sub(self.output.len());
                    self.output.extend_from_slice(&buf[..n.min(room)]);
                    budget = budget.saturating_sub(n);
                }
            }
        }
        if eof {
            self.stdout = None;
        }
    }

    /// After the exit: what the helper wrote before it (bounded, in case a
    /// grandchild keeps writing).
    fn drain(&mut self) {
        self.stdin = None;
        self.read(DRAIN_LIMIT);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<&OsStr> {
        vec![OsStr::new("/bin/sh"), OsStr::new("-c"), OsStr::new(script)]
    }

    fn text(r: Result<()>) -> String {
        r.map_or_else(|e| e.text().to_owned(), |()| "ok".to_owned())
    }

    #[test]
    fn helper_success_is_ok() {
        let _fds = super::super::testutil::fd_count_guard();
        assert_eq!(text(helper(&sh("exit 0"), None, "x", PROBE_TIME)), "ok");
    }

    #[test]
    fn helper_failure_reports_merged_output() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = helper(
            &sh("echo out; echo err >&2; exit 1"),
            None,
            "do it",
            PROBE_TIME,
        );
        assert_eq!(text(r), "child process has failed to do it: out\nerr\n");
    }

    #[test]
    fn helper_silent_failure_reports_exit_status() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = helper(&sh("exit 7"), None, "do it", PROBE_TIME);
        assert_eq!(text(r), "child process has failed to do it: exit status 7");
    }

    #[test]
    fn helper_killed_by_signal_is_abnormal() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = helper(&sh("kill -9 $$"), None, "do it", PROBE_TIME);
        assert_eq!(text(r), "child process has terminated abnormally");
    }

    #[test]
    fn helper_missing_program_reports_exec_failure() {
        let _fds = super::super::testutil::fd_count_guard();
        let argv = [OsStr::new("/nonexistent/hwclock"), OsStr::new("-w")];
        assert_eq!(
            text(helper(
                &argv,
                None,
                "set hardware clock to system time",
                PROBE_TIME
            )),
            "child process has failed to set hardware clock to system time: \
             failed to exec '/nonexistent/hwclock': No such file or directory"
        );
    }

    #[test]
    fn helper_input_goes_to_stdin() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = helper(&sh("cat; exit 3"), Some(b"u:p\n"), "x", PROBE_TIME);
        assert_eq!(text(r), "child process has failed to x: u:p\n");
        assert_eq!(exit_code(&sh("exit 2")), Some(2));
        assert_eq!(exit_code(&[OsStr::new("/nonexistent/prog")]), None);
    }

    #[test]
    fn input_larger_than_a_pipe_is_fed_without_blocking() {
        let _fds = super::super::testutil::fd_count_guard();
        let input = vec![b'x'; 1 << 20];
        let f = run(&sh("wc -c"), Some(&input), true, PROBE_TIME).unwrap();
        assert_eq!(String::from_utf8_lossy(&f.output).trim(), "1048576");
        // A helper that never reads its stdin does not block the agent.
        let f = run(&sh("exit 4"), Some(&input), true, PROBE_TIME).unwrap();
        assert_eq!(f.exit, Exit::Code(4));
    }

    #[test]
    fn exit_is_awaited_not_eof_of_a_grandchild() {
        let _fds = super::super::testutil::fd_count_guard();
        let t = Instant::now();
        let f = run(&sh("sleep 30 & echo started"), None, true, PROBE_TIME).unwrap();
        assert_eq!((f.exit, &f.output[..]), (Exit::Code(0), &b"started\n"[..]));
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    }

    #[test]
    fn overrunning_helper_is_killed_with_its_session() {
        let _fds = super::super::testutil::fd_count_guard();
        let dir = super::super::testutil::temp_dir("child-timeout");
        let mark = dir.join("grandchild-alive");
        let script = format!("(sleep 2; touch {}) & sleep 30", mark.display());
        let r = run(&sh(&script), None, true, Duration::from_millis(300));
        assert!(matches!(r, Err(Failure::TimedOut(_))), "{r:?}");
        let e = failure_error(&r.unwrap_err(), &sh(""), "execute fsfreeze hook");
        assert_eq!(
            e.text(),
            "child process has failed to execute fsfreeze hook: '/bin/sh' did not exit within 0 seconds"
        );
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!mark.exists(), "the grandchild survived the kill");
    }

    #[test]
    fn output_is_bounded() {
        let _fds = super::super::testutil::fd_count_guard();
        let f = run(&sh("head -c 200000 /dev/zero"), None, true, PROBE_TIME).unwrap();
        assert_eq!(f.output.len(), OUTPUT_LIMIT);
    }
}
