//! Every child process the agent starts goes through here: the helpers
//! (`helper`), `guest-exec` processes (`exec`) and the daemon's
//! re-execution of the agent.
//!
//! * A child is started by `posix_spawn` (`crate::posix`), not `fork`:
//!   nothing of ours runs in the child, and `exec` errors come back as
//!   errnos. The program is searched in `PATH` as glib's `g_spawn` does for
//!   qemu-ga (the child's own `PATH` when its environment is given; a file
//!   without `#!` is run by `/bin/sh`).
//! * Each child runs in its own session (`setsid`): it has no controlling
//!   terminal, and one that overruns its time bound is killed together
//!   with everything it started (`kill(-pgid, SIGKILL)`). It starts with an
//!   empty signal mask and SIGPIPE at its default action.
//! * Every descriptor of the agent is close-on-exec (std's and rustix's
//!   defaults, and ours below): the child gets only its three streams.
//! * A child stays a zombie until its [`Process`] reaps it, so its pid
//!   cannot be reused while the agent may still signal it.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use qga_core::platform::CaptureOutput;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, WaitIdStatus};

use super::root::DEFAULT_PATH;
use super::sys::retry;
use crate::posix;

/// Runs a program file the kernel cannot execute (a script without `#!`).
const SHELL: &CStr = c"/bin/sh";
/// `exec` errors after which the `PATH` search goes on with the next
/// directory (the others mean the file was found but cannot run).
const NOT_HERE: [Errno; 6] = [
    Errno::ACCESS,
    Errno::NOENT,
    Errno::NOTDIR,
    Errno::STALE,
    Errno::NODEV,
    Errno::TIMEDOUT,
];

/// What a child gets on stdin.
#[derive(Debug)]
pub(crate) enum Stdin {
    /// `/dev/null`.
    Null,
    /// A pipe; its write end comes back in [`Spawned::stdin`].
    Pipe,
    /// This descriptor (the spool's memfd, the daemon's channel).
    Fd(OwnedFd),
}

/// How to start a child.
#[derive(Debug)]
pub(crate) struct Spec<'a> {
    /// Program (searched in `PATH` when it has no `/`) and its arguments.
    pub argv: &'a [&'a OsStr],
    /// The file to run when it is not `argv[0]` (found the same way).
    pub exe: Option<&'a OsStr>,
    /// The child's whole environment, `NAME=value` entries (`None`: the
    /// agent's).
    pub env: Option<&'a [&'a OsStr]>,
    /// Its stdin.
    pub stdin: Stdin,
    /// Which output streams come back as pipes (`Merged`: one pipe for both).
    pub capture: CaptureOutput,
    /// Output streams not captured are the agent's own (else `/dev/null`).
    pub inherit_output: bool,
}

/// A started child and the agent's ends of its pipes.
#[derive(Debug)]
pub(crate) struct Spawned {
    /// The process.
    pub process: Process,
    /// Write end of its stdin pipe ([`Stdin::Pipe`]).
    pub stdin: Option<OwnedFd>,
    /// Read end of its stdout (or merged output) pipe.
    pub stdout: Option<OwnedFd>,
    /// Read end of its stderr pipe.
    pub stderr: Option<OwnedFd>,
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Normal exit with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// Starts `spec` in a new session.
pub(crate) fn spawn(spec: Spec<'_>) -> io::Result<Spawned> {
    let program = spec.exe.or(spec.argv.first().copied());
    let program = program.ok_or(Errno::INVAL)?;
    let (stdin, stdin_ours) = stdin_ends(spec.stdin)?;
    let (out, err) = output_ends(spec.capture, spec.inherit_output)?;
    let launch = Launch {
        argv: spec.argv.iter().map(|a| c_string(a)).collect(),
        envp: match spec.env {
            Some(env) => env.iter().map(|e| c_string(e)).collect(),
            None => agent_env(),
        },
        stdio: [stdin.as_fd(), out.child.as_fd(), err.child.as_fd()],
    };
    let pid = launch.start(program)?;
    // The child's ends close here, so EOF can come.
    Ok(Spawned {
        process: Process { pid, reaped: None },
        stdin: stdin_ours,
        stdout: out.ours,
        stderr: err.ours,
    })
}

/// `s` for C. A NUL byte (JSON `\u0000`) becomes `C0 80`, as qemu's JSON
/// parser stores it, so qemu-ga's children see the same bytes.
fn c_string(s: &OsStr) -> CString {
    let mut bytes = Vec::with_capacity(s.len() + 1);
    for &b in s.as_bytes() {
        match b {
            0 => bytes.extend_from_slice(&[0xC0, 0x80]),
            b => bytes.push(b),
        }
    }
    CString::new(bytes).unwrap_or_default()
}

/// The agent's environment as `NAME=value` entries.
fn agent_env() -> Vec<CString> {
    let entry = |(mut name, value): (std::ffi::OsString, std::ffi::OsString)| {
        name.push("=");
        name.push(value);
        c_string(&name)
    };
    std::env::vars_os().map(entry).collect()
}

/// `/dev/null`, for reading and writing.
fn dev_null() -> io::Result<OwnedFd> {
    let flags = OFlags::RDWR | OFlags::CLOEXEC;
    Ok(rustix::fs::open("/dev/null", flags, Mode::empty())?)
}

/// The child's stdin, and the agent's end of its pipe.
fn stdin_ends(stdin: Stdin) -> io::Result<(OwnedFd, Option<OwnedFd>)> {
    Ok(match stdin {
        Stdin::Null => (dev_null()?, None),
        Stdin::Pipe => {
            let (r, w) = io::pipe()?;
            (r.into(), Some(w.into()))
        }
        Stdin::Fd(fd) => (fd, None),
    })
}

/// One output stream: the child's end and, when captured, the agent's.
struct Ends {
    child: OwnedFd,
    ours: Option<OwnedFd>,
}

/// The child's stdout and stderr: pipes, `/dev/null` or the agent's own.
fn output_ends(capture: CaptureOutput, inherit: bool) -> io::Result<(Ends, Ends)> {
    let (out, err) = match capture {
        CaptureOutput::None => (false, false),
        CaptureOutput::Stdout => (true, false),
        CaptureOutput::Stderr => (false, true),
        CaptureOutput::Separated => (true, true),
        CaptureOutput::Merged => {
            let (r, w) = io::pipe()?;
            let w = OwnedFd::from(w);
            let out = Ends {
                child: w.try_clone()?,
                ours: Some(r.into()),
            };
            return Ok((
                out,
                Ends {
                    child: w,
                    ours: None,
                },
            ));
        }
    };
    let out = output_end(out, inherit.then(io::stdout))?;
    let err = output_end(err, inherit.then(io::stderr))?;
    Ok((out, err))
}

/// A pipe when `captured`, else a copy of `own` or `/dev/null`.
fn output_end(captured: bool, own: Option<impl AsFd>) -> io::Result<Ends> {
    if captured {
        let (r, w) = io::pipe()?;
        return Ok(Ends {
            child: w.into(),
            ours: Some(r.into()),
        });
    }
    let child = match own {
        // A copy above 2, so no dup2 of the spawn overwrites it.
        Some(fd) => rustix::io::fcntl_dupfd_cloexec(fd, 3)?,
        None => dev_null()?,
    };
    Ok(Ends { child, ours: None })
}

/// One spawn's argument and environment strings and the child's three
/// streams: what each `exec` attempt of the `PATH` search shares.
struct Launch<'a> {
    argv: Vec<CString>,
    envp: Vec<CString>,
    stdio: [BorrowedFd<'a>; 3],
}

impl Launch<'_> {
    /// Starts `program`, searched as `execvp` and glib's `g_spawn` search:
    /// each `PATH` directory in turn (an empty entry is the current
    /// directory), on to the next while the file is missing or not
    /// executable there; EACCES if one was found but not executable.
    fn start(&self, program: &OsStr) -> core::result::Result<Pid, Errno> {
        let name = program.as_bytes();
        if name.contains(&b'/') {
            return self.attempt(&c_string(program));
        }
        if name.is_empty() {
            return Err(Errno::NOENT);
        }
        let (mut denied, mut last) = (false, Errno::NOENT);
        for dir in search_path(&self.envp).split(|&b| b == b':') {
            let path = match dir {
                [] => name.to_vec(),
                dir => [dir, b"/", name].concat(),
            };
            match self.attempt(&c_string(OsStr::from_bytes(&path))) {
                Err(e) if NOT_HERE.contains(&e) => {
                    (denied, last) = (denied || e == Errno::ACCESS, e)
                }
                r => return r,
            }
        }
        Err(if denied { Errno::ACCESS } else { last })
    }

    /// One `exec` of `path`; a file the kernel cannot run (a script without
    /// `#!`, ENOEXEC) is run by `/bin/sh`, as glib and glibc's `execvp` do.
    fn attempt(&self, path: &CStr) -> core::result::Result<Pid, Errno> {
        match posix::spawn(path, &self.argv, &self.envp, self.stdio) {
            Err(Errno::NOEXEC) => {
                let mut sh = vec![SHELL.to_owned(), path.to_owned()];
                sh.extend(self.argv.iter().skip(1).cloned());
                posix::spawn(SHELL, &sh, &self.envp, self.stdio)
            }
            r => r,
        }
    }
}

/// The `PATH` a program is searched in: the child's (qemu-ga's
/// G_SPAWN_SEARCH_PATH_FROM_ENVP), else the agent's, else the default.
fn search_path(envp: &[CString]) -> Vec<u8> {
    let child = envp
        .iter()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH="));
    match child {
        Some(path) => path.to_vec(),
        None => std::env::var_os("PATH").map_or_else(|| DEFAULT_PATH.into(), OsStringExt::into_vec),
    }
}

/// A started child. Until it is reaped ([`Process::exited`] returning
/// `Some`, [`Process::reap`], or drop) an exited child stays a zombie,
/// which keeps its pid from being reused.
#[derive(Debug)]
pub(crate) struct Process {
    pid: Pid,
    /// How it ended, once reaped (a reaped pid is never waited for or
    /// signalled again: it may belong to another process by now).
    reaped: Option<Exit>,
}

impl Process {
    /// Its pid.
    pub(crate) fn id(&self) -> u32 {
        self.pid.as_raw_nonzero().get().unsigned_abs()
    }

    /// Reaps it if it has exited.
    pub(crate) fn exited(&mut self) -> io::Result<Option<Exit>> {
        if self.reaped.is_none() {
            let flags = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
            let st = retry(|| rustix::process::waitid(WaitId::Pid(self.pid), flags))?;
            self.reaped = st.as_ref().map(exit_of);
        }
        Ok(self.reaped)
    }

    /// Whether it has exited, **without** reaping it (it stays a zombie).
    pub(crate) fn exited_keep_zombie(&self) -> io::Result<Option<Exit>> {
        if self.reaped.is_some() {
            return Ok(self.reaped);
        }
        let flags = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
        let st = retry(|| rustix::process::waitid(WaitId::Pid(self.pid), flags))?;
        Ok(st.as_ref().map(exit_of))
    }

    /// Waits for it and reaps it.
    pub(crate) fn reap(&mut self) {
        if self.reaped.is_some() {
            return;
        }
        let st = retry(|| rustix::process::waitid(WaitId::Pid(self.pid), WaitIdOptions::EXITED));
        // An error (ECHILD) means it is gone all the same.
        self.reaped = Some(st.ok().flatten().as_ref().map_or(Exit::Code(-1), exit_of));
    }

    /// Kills its whole session (it and everything it started).
    pub(crate) fn kill_session(&self) {
        if self.reaped.is_none() {
            // The group id is the pid: posix_spawn returns after `setsid`.
            let _ = rustix::process::kill_process_group(self.pid, Signal::KILL);
        }
    }

    /// Lets it run on after its holder is gone (the daemon, once the
    /// process that started it exits): neither killed nor reaped.
    pub(crate) fn disown(self) {
        std::mem::forget(self);
    }
}

impl Drop for Process {
    /// A child still running when its holder gives it up (a thread that
    /// could not start, an agent exiting) is killed with its session and
    /// reaped; an exited one is just reaped.
    fn drop(&mut self) {
        if matches!(self.exited(), Ok(None)) {
            self.kill_session();
            self.reap();
        }
    }
}

fn exit_of(st: &WaitIdStatus) -> Exit {
    match (st.exit_status(), st.terminating_signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        (None, None) => Exit::Code(-1),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::{fd_count_guard, temp_dir};
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn sh(script: &str) -> Vec<&OsStr> {
        vec![OsStr::new("/bin/sh"), OsStr::new("-c"), OsStr::new(script)]
    }

    /// Runs `argv` (or `exe`) in `env` with its stdout captured: how it
    /// ended and everything it wrote.
    fn output_of(
        argv: &[&OsStr],
        exe: Option<&OsStr>,
        env: Option<&[&OsStr]>,
    ) -> io::Result<(Exit, Vec<u8>)> {
        let sp = spawn(Spec {
            argv,
            exe,
            env,
            stdin: Stdin::Null,
            capture: CaptureOutput::Stdout,
            inherit_output: false,
        })?;
        let mut out = Vec::new();
        std::fs::File::from(sp.stdout.unwrap()).read_to_end(&mut out)?;
        let mut process = sp.process;
        process.reap();
        Ok((process.exited()?.unwrap(), out))
    }

    /// Writes a program file `dir/name` with `mode`.
    fn program(dir: &Path, name: &str, text: &str, mode: u32) {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn child_starts_with_an_empty_signal_mask_and_sigpipe_at_default() {
        let _fds = fd_count_guard();
        // A thread of its own blocks the stop signals as the agent does.
        let status = std::thread::spawn(|| {
            let _blocked = crate::posix::signalfd(&[libc::SIGTERM, libc::SIGINT]).unwrap();
            let argv = [OsStr::new("/bin/cat"), OsStr::new("/proc/self/status")];
            output_of(&argv, None, None).unwrap()
        })
        .join()
        .unwrap();
        let text = String::from_utf8(status.1).unwrap();
        let field = |name: &str| {
            let line = text.lines().find_map(|l| l.strip_prefix(name)).unwrap();
            u64::from_str_radix(line.trim(), 16).unwrap()
        };
        assert_eq!(field("SigBlk:"), 0, "the child inherited a blocked mask");
        let sigpipe = 1 << (libc::SIGPIPE - 1);
        assert_eq!(field("SigIgn:") & sigpipe, 0, "SIGPIPE is still ignored");
    }

    #[test]
    fn exe_runs_in_place_of_argv0() {
        let _fds = fd_count_guard();
        let argv = [
            OsStr::new("not-a-program"),
            OsStr::new("-c"),
            OsStr::new("echo $0"),
        ];
        let r = output_of(&argv, Some(OsStr::new("/bin/sh")), None).unwrap();
        assert_eq!(r, (Exit::Code(0), b"not-a-program\n".to_vec()));
    }

    #[test]
    fn path_search_goes_past_unusable_files_and_reports_eacces() {
        let _fds = fd_count_guard();
        let (a, b) = (temp_dir("path-a"), temp_dir("path-b"));
        program(&a, "qga-probe", "#!/bin/sh\necho a\n", 0o644);
        program(&b, "qga-probe", "#!/bin/sh\necho b\n", 0o755);
        let argv = [OsStr::new("qga-probe")];
        let path = |dirs: String| OsStr::new(&format!("PATH={dirs}")).to_owned();
        let both = path(format!("{}:{}", a.display(), b.display()));
        let r = output_of(&argv, None, Some(&[&both])).unwrap();
        assert_eq!(r, (Exit::Code(0), b"b\n".to_vec()));
        let only_a = path(format!("{}:/nonexistent", a.display()));
        let e = output_of(&argv, None, Some(&[&only_a])).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
        let none = path("/nonexistent".into());
        let e = output_of(&argv, None, Some(&[&none])).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let e = output_of(&[OsStr::new("")], None, None).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn a_program_file_without_interpreter_line_runs_in_sh() {
        let _fds = fd_count_guard();
        let dir = temp_dir("noshebang");
        program(&dir, "script", "echo sh ran \"$0\" \"$1\"\n", 0o755);
        let path = dir.join("script");
        let argv = [path.as_os_str(), OsStr::new("arg")];
        let r = output_of(&argv, None, None).unwrap();
        let want = format!("sh ran {} arg\n", path.display());
        assert_eq!(r, (Exit::Code(0), want.into_bytes()));
    }

    #[test]
    fn nul_reaches_the_child_as_c0_80() {
        let _fds = fd_count_guard();
        let mut argv = sh("printf %s \"$1\"");
        argv.extend([OsStr::new("sh"), OsStr::new("a\0b")]);
        let r = output_of(&argv, None, None).unwrap();
        assert_eq!(r, (Exit::Code(0), b"a\xC0\x80b".to_vec()));
    }

    #[test]
    fn search_path_is_the_childs_else_the_agents() {
        let env = [c"A=1".to_owned(), c"PATH=/x:/y".to_owned()];
        assert_eq!(search_path(&env), b"/x:/y");
        let agent = std::env::var_os("PATH").map(OsStringExt::into_vec);
        assert_eq!(search_path(&env[..1]), agent.unwrap_or(DEFAULT_PATH.into()));
    }

    #[test]
    fn child_runs_in_its_own_session() {
        let _fds = fd_count_guard();
        // Asked of the kernel by pid, not read from /proc: under a pid
        // namespace whose /proc is another's, /proc's ids are not ours.
        let argv = sh("read -r _");
        let mut child = spawn(Spec {
            argv: &argv,
            exe: None,
            env: None,
            stdin: Stdin::Pipe,
            capture: CaptureOutput::None,
            inherit_output: false,
        })
        .unwrap();
        let pid = child.process.pid;
        let sid = rustix::process::getsid(Some(pid));
        let pgid = rustix::process::getpgid(Some(pid));
        // One line lets `read` (and so the child) end well.
        let stdin = std::fs::File::from(child.stdin.take().unwrap());
        std::io::Write::write_all(&mut &stdin, b"\n").unwrap();
        drop(stdin);
        child.process.reap();
        assert_eq!(child.process.reaped, Some(Exit::Code(0)));
        assert_eq!(sid, Ok(pid), "the child leads a session of its own");
        // Only a setsid makes a fresh child's session id its own pid (our
        // own session is not asked: its leader may be outside our pid
        // namespace, where getsid reports 0).
        assert_eq!(pgid, Ok(pid), "and its process group");
    }
}
