//! `-d/--daemonize` without `fork(2)`, and the pidfile (notes 4.1, 4.7).
//!
//! A forked child of a threaded Rust program may not run most std code, so
//! the agent re-executes itself instead (through `linux::child`, the one way
//! children start), all in safe code:
//!
//! 1. The parent opens the channel (so errors still reach the terminal),
//!    then spawns `/proc/self/exe` with the same arguments, the environment
//!    marker [`CHILD_ENV`], the open channel as the child's stdin, a pipe as
//!    its stdout and its own stderr.
//! 2. The child takes the channel from fd 0, leads its own session (the
//!    spawn's `setsid`), sets umask 077, writes and locks the pidfile,
//!    `chdir("/")`, reports `ready` on the pipe and points
//!    stdin/stdout/stderr at `/dev/null`.
//! 3. The parent exits 0 once it reads `ready`, or 1 if the child died first.
//!
//! The parent therefore only returns success when the daemon is really up,
//! which `fork` + exit does not promise.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use qga_core::platform::CaptureOutput;
use rustix::fs::{FlockOperation, Mode, OFlags};

use crate::linux::child::{self, Spec, Stdin};

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
    let (stdin, marker) = match channel {
        Some(fd) => (Stdin::Fd(fd.try_clone_to_owned()?), "fd0"),
        None => (Stdin::Null, "open"),
    };
    // This process only waits and exits: the marker may go into its own
    // environment, which the child inherits.
    std::env::set_var(CHILD_ENV, marker);
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.is_empty() {
        args.push("qga".into());
    }
    let argv: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let spawned = child::spawn(Spec {
        argv: &argv,
        exe: Some(OsStr::new("/proc/self/exe")),
        env: None,
        stdin,
        capture: CaptureOutput::Stdout,
        // Its errors reach the terminal until it is ready.
        inherit_output: true,
    })?;
    let mut said = Vec::new();
    if let Some(out) = spawned.stdout {
        // EOF comes when the child points stdout at /dev/null (or dies).
        File::from(out).read_to_end(&mut said)?;
    }
    let mut process = spawned.process;
    if said == READY {
        process.disown();
        return Ok(ExitCode::SUCCESS);
    }
    process.reap();
    Ok(ExitCode::FAILURE)
}

/// Child: moves the inherited channel off fd 0 (to a close-on-exec fd).
pub fn take_inherited_channel() -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(io::stdin().as_fd(), 3)?)
}

/// Child: new session, umask 077, `chdir("/")`. The pidfile is written by
/// [`PidfileSlot`] (deferred while frozen).
pub fn detach() -> io::Result<()> {
    // `child::spawn` made it a session leader already: setsid then fails
    // with EPERM, which is fine. (getsid is not asked: in a container whose
    // session leader is outside our pid namespace it reports 0.)
    match rustix::process::setsid() {
        Ok(_) | Err(rustix::io::Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    rustix::process::umask(Mode::from_raw_mode(0o077));
    rustix::process::chdir("/")?;
    Ok(())
}

/// The daemon's pidfile: written at once, or (when the agent starts
/// frozen, protocol notes 4.3) after the thaw, as qemu-ga defers it.
#[derive(Debug, Default)]
pub struct PidfileSlot {
    wanted: Option<PathBuf>,
    held: Option<Pidfile>,
}

impl PidfileSlot {
    /// A slot for `path` (`None`: no pidfile, not daemonized).
    pub fn new(path: Option<PathBuf>) -> PidfileSlot {
        PidfileSlot {
            wanted: path,
            held: None,
        }
    }

    /// Writes the pidfile if it is due and nothing is frozen. A failure is
    /// fatal at startup (the caller decides later).
    pub fn write_unless(&mut self, frozen: bool) -> io::Result<()> {
        if frozen {
            return Ok(());
        }
        if let Some(path) = self.wanted.take() {
            self.held = Some(Pidfile::create(&path)?);
        }
        Ok(())
    }
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
    /// Creates (0600, never through a link) and write-locks `path`, then
    /// writes `<pid>\n`. The lock is held as long as this value lives.
    pub fn create(path: &Path) -> io::Result<Pidfile> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(0o600))?;
        rustix::fs::fcntl_lock(&fd, FlockOperation::NonBlockingLockExclusive).map_err(|e| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "cannot lock pid file {}: {}",
                    path.display(),
                    qga_core::errno::strerror(e.raw_os_error())
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
        let target = dir.join("target");
        let _ = std::fs::write(&target, "keep");
        let _ = std::os::unix::fs::symlink(&target, dir.join("link.pid"));
        let linked = Pidfile::create(&dir.join("link.pid"));
        assert_eq!(
            linked.err().and_then(|e| e.raw_os_error()),
            Some(40),
            "ELOOP"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap_or_default(), "keep");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn role_without_marker() {
        // The test process has no marker (nothing sets it).
        assert_eq!(role(false), Role::Foreground);
        assert_eq!(role(true), Role::Parent);
    }
}
