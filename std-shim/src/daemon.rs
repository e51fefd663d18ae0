//! `-d/--daemonize` without `fork(2)`, and the pidfile (notes 4.1, 4.7).
//!
//! rustix offers `fork` only as the `unsafe` `runtime::kernel_fork` (a forked
//! child of a Rust program may not run most std code), so the agent re-executes
//! itself instead, all in safe code:
//!
//! 1. The parent opens the channel (so errors still reach the terminal),
//!    then spawns `/proc/self/exe` with the same arguments, the environment
//!    marker [`CHILD_ENV`], the open channel as the child's stdin and a pipe as
//!    its stdout.
//! 2. The child takes the channel from fd 0, calls `setsid`, sets umask 077,
//!    writes and locks the pidfile, `chdir("/")`, reports `ready` on the pipe
//!    and points stdin/stdout/stderr at `/dev/null`.
//! 3. The parent exits 0 once it reads `ready`, or 1 if the child died first.
//!
//! The parent therefore only returns success when the daemon is really up,
//! which `fork` + exit does not promise.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use rustix::fs::{FlockOperation, Mode, OFlags};

/// Set in the daemon child's environment: `fd0` = the channel is on stdin,
/// `open` = the parent could not open it (`--retry-path`), open it yourself.
pub const CHILD_ENV: &str = "QGA_DAEMON_CHILD";
const READY: &[u8] = b"ready\n";

/// Which part of the daemon dance this process plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// No `-d`: run in the foreground.
    Foreground,
    /// `-d`, first process: spawn the daemon and wait for it.
    Parent,
    /// The daemon; `inherited` = the channel is on fd 0.
    Child {
        /// The parent opened the channel and passed it as stdin.
        inherited: bool,
    },
}

/// Reads (and removes, so guest-exec children don't see it) the marker.
pub fn role(daemonize: bool) -> Role {
    let marker = std::env::var_os(CHILD_ENV);
    if marker.is_some() {
        std::env::remove_var(CHILD_ENV);
    }
    match marker {
        Some(m) => Role::Child {
            inherited: m == "fd0",
        },
        None if daemonize => Role::Parent,
        None => Role::Foreground,
    }
}

/// Parent: starts the daemon with `channel` as its stdin and waits until it
/// is ready. Returns the parent's exit status.
pub fn spawn_daemon(channel: Option<BorrowedFd<'_>>) -> io::Result<ExitCode> {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| OsString::from("qga"));
    let (stdin, marker) = match channel {
        Some(fd) => (Stdio::from(fd.try_clone_to_owned()?), "fd0"),
        None => (Stdio::null(), "open"),
    };
    let mut child = Command::new(std::env::current_exe()?)
        .arg0(argv0)
        .args(args)
        .env(CHILD_ENV, marker)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut said = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        // EOF comes when the child points stdout at /dev/null (or dies).
        out.read_to_end(&mut said)?;
    }
    if said == READY {
        return Ok(ExitCode::SUCCESS);
    }
    let _ = child.wait();
    Ok(ExitCode::FAILURE)
}

/// Child: moves the inherited channel off fd 0 (to a close-on-exec fd).
pub fn take_inherited_channel() -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(io::stdin().as_fd(), 3)?)
}

/// Child: new session, umask 077, pidfile, `chdir("/")`.
pub fn detach(pidfile: &Path) -> io::Result<Pidfile> {
    rustix::process::setsid()?;
    rustix::process::umask(Mode::from_raw_mode(0o077));
    let pid = Pidfile::create(pidfile)?;
    rustix::process::chdir("/")?;
    Ok(pid)
}

/// Child: tells the parent it may exit, then points stdio at `/dev/null`.
pub fn finish() -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(READY)?;
    out.flush()?;
    let null = File::options().read(true).write(true).open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    Ok(())
}

/// The locked pidfile; removed when dropped (orderly exit).
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    _fd: OwnedFd,
}

impl Pidfile {
    /// Creates (0600) and write-locks `path`, then writes `<pid>\n`. The
    /// lock is held as long as this value lives.
    pub fn create(path: &Path) -> io::Result<Pidfile> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(0o600))?;
        rustix::fs::fcntl_lock(&fd, FlockOperation::NonBlockingLockExclusive).map_err(|e| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "cannot lock pid file {}: {}",
                    path.display(),
                    io::Error::from(e)
                ),
            )
        })?;
        rustix::fs::ftruncate(&fd, 0)?;
        let text = format!("{}\n", std::process::id());
        File::from(fd.try_clone()?).write_all(text.as_bytes())?;
        Ok(Pidfile {
            path: path.to_path_buf(),
            _fd: fd,
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_is_written_locked_and_removed() {
        let dir = std::env::temp_dir().join(format!("qga-pid-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("qga.pid");
        let pid = Pidfile::create(&path);
        assert!(pid.is_ok(), "{pid:?}");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, format!("{}\n", std::process::id()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        drop(pid);
        assert!(!path.exists());
        let bad = Pidfile::create(&dir.join("missing/qga.pid"));
        assert_eq!(bad.err().map(|e| e.kind()), Some(io::ErrorKind::NotFound));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn role_without_marker() {
        // The test process has no marker (nothing sets it).
        assert_eq!(role(false), Role::Foreground);
        assert_eq!(role(true), Role::Parent);
    }
}
