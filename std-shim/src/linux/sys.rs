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
pub(crate) fn is_executable(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `argv` with stdin on /dev/null and stdout+stderr captured together,
/// waits for it, and maps failure to qemu-ga 9.1+'s texts:
/// `child process has failed to <action>: <output>` (or `exit status <n>`),
/// `child process has terminated abnormally[: <output>]`.
pub(crate) fn run_helper(argv: &[&str], action: &str) -> Result<()> {
    let (output, status) = match spawn_and_collect(argv) {
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

/// Spawns `argv` with one pipe for stdout and stderr, reads it to EOF, waits.
fn spawn_and_collect(argv: &[&str]) -> io::Result<(Vec<u8>, ExitStatus)> {
    let (mut reader, writer) = io::pipe()?;
    let mut child = {
        let mut cmd = Command::new(argv.first().copied().unwrap_or(""));
        cmd.args(argv.iter().skip(1)).stdin(Stdio::null());
        cmd.stdout(writer.try_clone()?).stderr(writer);
        cmd.spawn()?
        // `cmd` (holding the write ends) is dropped here, so EOF can come.
    };
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
    fn executable_test() {
        assert!(is_executable("/bin/sh"));
        assert!(!is_executable("/etc/passwd"));
        assert!(!is_executable("/nonexistent"));
    }
}
