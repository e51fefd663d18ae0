//! Small system helpers shared by the command families: errno extraction and
//! running a helper program the way qemu-ga 9.1+ does (`ga_run_command`).

use std::io::{self, Read};
use std::process::{Command, ExitStatus, Stdio};

use qga_core::errno::EIO;
use qga_core::platform::{Error, Result};

/// The errno of a std I/O error (EIO when it carries none), so messages are
/// built from `strerror` and never from `io::Error`'s Display.
pub(crate) fn os_errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(EIO)
}

/// The errno of a rustix error.
pub(crate) fn rx_errno(e: rustix::io::Errno) -> i32 {
    e.raw_os_error()
}

/// Repeats `f` while it fails with EINTR.
pub(crate) fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r,
        }
    }
}

/// Whether `path` is a regular file with an execute bit (qemu-ga's
/// `access(X_OK)` test for `/sbin/hwclock`).
pub(crate) fn is_executable(path: impl AsRef<std::path::Path>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `argv` with stdin on /dev/null and stdout+stderr captured together,
/// waits for it, and maps failure to qemu-ga 9.1+'s texts:
/// `child process has failed to <action>: <output>` (or `exit status <n>`),
/// `child process has terminated abnormally[: <output>]`.
pub(crate) fn run_helper(argv: &[&str], action: &str) -> Result<()> {
    run_helper_with_input(argv, None, action)
}

/// [`run_helper`] with `input` written to the child's stdin (a pipe closed
/// after it) instead of /dev/null; used for secrets (`chpasswd`).
pub(crate) fn run_helper_with_input(
    argv: &[&str],
    input: Option<&[u8]>,
    action: &str,
) -> Result<()> {
    let (output, status) = match spawn_and_collect(argv, input) {
        Ok(r) => r,
        Err(e) => {
            let prog = argv.first().copied().unwrap_or("");
            return Err(Error::errno(
                os_errno(&e),
                format_args!("child process has failed to {action}: failed to exec '{prog}'"),
            ));
        }
    };
    helper_result(&output, status, action)
}

/// The exit code of `argv` run with all three streams on /dev/null; `None`
/// when it cannot be started or dies by a signal (qemu-ga's probes such as
/// `systemctl status ...` and `pm-is-supported`).
pub(crate) fn helper_exit_code(argv: &[&str]) -> Option<i32> {
    let mut cmd = Command::new(argv.first().copied().unwrap_or(""));
    cmd.args(argv.iter().skip(1));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.status().ok()?.code()
}

/// Spawns `argv` with one pipe for stdout and stderr (and `input`, if any,
/// on a stdin pipe), reads the output to EOF, waits.
/// Runs `argv` with `input` on stdin; returns its merged stdout+stderr.
pub(crate) fn spawn_and_collect(
    argv: &[&str],
    input: Option<&[u8]>,
) -> io::Result<(Vec<u8>, ExitStatus)> {
    use std::io::Write;
    let (mut reader, writer) = io::pipe()?;
    let mut child = {
        let mut cmd = Command::new(argv.first().copied().unwrap_or(""));
        let stdin = if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        cmd.args(argv.iter().skip(1)).stdin(stdin);
        cmd.stdout(writer.try_clone()?).stderr(writer);
        cmd.spawn()?
        // `cmd` (holding the write ends) is dropped here, so EOF can come.
    };
    if let (Some(data), Some(mut pipe)) = (input, child.stdin.take()) {
        // Small inputs only (a password line): fits the pipe buffer, so
        // writing before reading the output cannot deadlock. A child that
        // exits without reading gives EPIPE, which its exit status reports.
        let _ = pipe.write_all(data);
    }
    let mut output = Vec::new();
    let read = reader.read_to_end(&mut output);
    let status = child.wait()?;
    read.map(|_| (output, status))
}

/// Maps a helper's exit status and output to qemu-ga's error texts.
fn helper_result(output: &[u8], status: ExitStatus, action: &str) -> Result<()> {
    let out = String::from_utf8_lossy(output);
    match status.code() {
        Some(0) => Ok(()),
        Some(n) if out.is_empty() => Err(Error::msg(format_args!(
            "child process has failed to {action}: exit status {n}"
        ))),
        Some(_) => Err(Error::msg(format_args!(
            "child process has failed to {action}: {out}"
        ))),
        None if out.is_empty() => Err(Error::msg(format_args!(
            "child process has terminated abnormally"
        ))),
        None => Err(Error::msg(format_args!(
            "child process has terminated abnormally: {out}"
        ))),
    }
}

// ---- filesystem ioctls (the only unsafe code of the Linux platform) --------

use rustix::fd::AsFd;
use rustix::ioctl::{opcode, NoArg, Opcode, Updater};

/// `struct fstrim_range` (linux/fs.h), FITRIM's in/out argument.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FstrimRange {
    /// First byte to trim.
    pub start: u64,
    /// Bytes to trim; on return, bytes trimmed.
    pub len: u64,
    /// Minimum extent length; on return, the length the filesystem used.
    pub minlen: u64,
}

/// `FIFREEZE = _IOWR('X', 119, int)`.
const FIFREEZE: Opcode = opcode::read_write::<core::ffi::c_int>(b'X', 119);
/// `FITHAW = _IOWR('X', 120, int)`.
const FITHAW: Opcode = opcode::read_write::<core::ffi::c_int>(b'X', 120);
/// `FITRIM = _IOWR('X', 121, struct fstrim_range)`.
const FITRIM: Opcode = opcode::read_write::<FstrimRange>(b'X', 121);

/// `ioctl(fd, FIFREEZE)`: freezes the filesystem `fd` lives on.
#[allow(unsafe_code)]
pub(crate) fn fifreeze(fd: impl AsFd) -> rustix::io::Result<()> {
    // SAFETY: FIFREEZE is the kernel's opcode (linux/fs.h) and the kernel
    // ignores its argument, so the null pointer NoArg passes is fine.
    retry(|| unsafe { rustix::ioctl::ioctl(fd.as_fd(), NoArg::<FIFREEZE>::new()) })
}

/// `ioctl(fd, FITHAW)`: thaws the filesystem `fd` lives on.
#[allow(unsafe_code)]
pub(crate) fn fithaw(fd: impl AsFd) -> rustix::io::Result<()> {
    // SAFETY: as for FIFREEZE: a valid opcode whose argument is unused.
    retry(|| unsafe { rustix::ioctl::ioctl(fd.as_fd(), NoArg::<FITHAW>::new()) })
}

/// `ioctl(fd, FITRIM, range)`: discards unused blocks; the kernel updates
/// `range` with what it did.
#[allow(unsafe_code)]
pub(crate) fn fitrim(fd: impl AsFd, range: &mut FstrimRange) -> rustix::io::Result<()> {
    // SAFETY: FITRIM's argument is a `struct fstrim_range`, which
    // `FstrimRange` mirrors (`repr(C)`, three u64); `range` is a live
    // exclusive borrow for the duration of the call.
    retry(|| unsafe {
        rustix::ioctl::ioctl(fd.as_fd(), Updater::<FITRIM, FstrimRange>::new(range))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn helper_success_is_ok() {
        assert_eq!(run_helper(&["/bin/sh", "-c", "exit 0"], "x"), Ok(()));
    }

    #[test]
    fn helper_failure_reports_merged_output() {
        let e = run_helper(
            &["/bin/sh", "-c", "echo out; echo err >&2; exit 1"],
            "do it",
        );
        assert_eq!(
            e.unwrap_err().text(),
            "child process has failed to do it: out\nerr\n"
        );
    }

    #[test]
    fn helper_silent_failure_reports_exit_status() {
        let e = run_helper(&["/bin/sh", "-c", "exit 7"], "do it");
        assert_eq!(
            e.unwrap_err().text(),
            "child process has failed to do it: exit status 7"
        );
    }

    #[test]
    fn helper_killed_by_signal_is_abnormal() {
        let e = run_helper(&["/bin/sh", "-c", "kill -9 $$"], "do it");
        assert_eq!(
            e.unwrap_err().text(),
            "child process has terminated abnormally"
        );
    }

    #[test]
    fn helper_missing_program_reports_exec_failure() {
        let e = run_helper(
            &["/nonexistent/hwclock", "-w"],
            "set hardware clock to system time",
        );
        assert_eq!(
            e.unwrap_err().text(),
            "child process has failed to set hardware clock to system time: \
             failed to exec '/nonexistent/hwclock': No such file or directory"
        );
    }

    #[test]
    fn ioctl_opcodes_match_linux_fs_h() {
        assert_eq!(FIFREEZE, 0xC004_5877);
        assert_eq!(FITHAW, 0xC004_5878);
        assert_eq!(FITRIM, 0xC018_5879);
    }

    #[test]
    fn helper_input_goes_to_stdin() {
        let e = run_helper_with_input(&["/bin/sh", "-c", "cat; exit 3"], Some(b"u:p\n"), "x");
        assert_eq!(
            e.unwrap_err().text(),
            "child process has failed to x: u:p\n"
        );
        assert_eq!(helper_exit_code(&["/bin/sh", "-c", "exit 2"]), Some(2));
        assert_eq!(helper_exit_code(&["/nonexistent/prog"]), None);
    }

    #[test]
    fn executable_test() {
        assert!(is_executable("/bin/sh"));
        assert!(!is_executable("/etc/passwd"));
        assert!(!is_executable("/nonexistent"));
    }
}
