//! `guest-shutdown` and `guest-suspend-*` (protocol notes 3.3): helper
//! programs first, as qemu-ga 10.2 runs them; on a guest with none of them
//! (a bare BusyBox) shutdown falls back to `sync` + the `reboot` syscall.

use std::ffi::OsStr;
use std::io;

use qga_core::platform::{Error, Result, ShutdownMode, SuspendMode};
use rustix::system::RebootCommand;

use super::child::Exit;
use super::helper::{exit_code, failure_error, helper, helper_result, run, ACTION_TIME};
use super::root::Root;
use super::sys::{is_executable, os_errno};

/// qemu-ga's action text for a failing shutdown helper.
const SHUTDOWN_ACTION: &str = "shutdown";
/// The signal an init system's shutdown sends every process first.
const SIGTERM: i32 = libc::SIGTERM;
/// qemu-ga's action text for a failing suspend helper.
const SUSPEND_ACTION: &str = "suspend";
/// The kernel's suspend interface.
const SYS_POWER_STATE: &str = "/sys/power/state";

/// `guest-shutdown`: `/sbin/poweroff|halt|reboot` if executable, else
/// `/sbin/shutdown -h -P|-H|-r +0 "hypervisor initiated shutdown"`, else
/// `sync` and `syscall` (the `reboot` syscall on a real guest).
pub(crate) fn shutdown(
    root: &Root,
    mode: ShutdownMode,
    syscall: &mut dyn FnMut(RebootCommand) -> io::Result<()>,
) -> Result<()> {
    let (direct, flag, cmd) = match mode {
        ShutdownMode::Powerdown => ("/sbin/poweroff", "-P", RebootCommand::PowerOff),
        ShutdownMode::Halt => ("/sbin/halt", "-H", RebootCommand::Halt),
        ShutdownMode::Reboot => ("/sbin/reboot", "-r", RebootCommand::Restart),
    };
    let direct = root.path(direct);
    if is_executable(&direct) {
        return power_off(&[direct.as_os_str()]);
    }
    let shutdown = root.path("/sbin/shutdown");
    if is_executable(&shutdown) {
        let args = ["-h", flag, "+0", "hypervisor initiated shutdown"].map(OsStr::new);
        return power_off(&[&[shutdown.as_os_str()][..], &args].concat());
    }
    rustix::fs::sync();
    syscall(cmd).map_err(|e| {
        Error::errno(
            os_errno(&e),
            format_args!("child process has failed to {SHUTDOWN_ACTION}"),
        )
    })
}

/// Runs the shutdown helper. One that dies by SIGTERM was caught by the
/// shutdown it started (systemd stopping the agent's service, with every
/// process in it): the guest is going down, which is success (no reply),
/// not the `terminated abnormally` error qemu-ga would still send.
fn power_off(argv: &[&OsStr]) -> Result<()> {
    match run(argv, None, true, ACTION_TIME) {
        Ok(f) if f.exit == Exit::Signal(SIGTERM) => Ok(()),
        Ok(f) => helper_result(&f.output, f.exit, SHUTDOWN_ACTION),
        Err(e) => Err(failure_error(&e, argv, SHUTDOWN_ACTION)),
    }
}

/// Runs a shutdown or suspend helper within [`ACTION_TIME`].
fn act(argv: &[&OsStr], action: &str) -> Result<()> {
    helper(argv, None, action, ACTION_TIME)
}

/// The names one suspend mode has for each mechanism.
struct Names {
    systemd: &'static str,
    pm_flag: &'static str,
    pm_cmd: &'static str,
    sysfs: Option<&'static str>,
}

fn names(mode: SuspendMode) -> Names {
    match mode {
        SuspendMode::Disk => Names {
            systemd: "hibernate",
            pm_flag: "--hibernate",
            pm_cmd: "pm-hibernate",
            sysfs: Some("disk"),
        },
        SuspendMode::Ram => Names {
            systemd: "suspend",
            pm_flag: "--suspend",
            pm_cmd: "pm-suspend",
            sysfs: Some("mem"),
        },
        SuspendMode::Hybrid => Names {
            systemd: "hybrid-sleep",
            pm_flag: "--suspend-hybrid",
            pm_cmd: "pm-suspend-hybrid",
            sysfs: None,
        },
    }
}

/// `guest-suspend-*`: systemd, then pm-utils, then /sys/power/state; a
/// mechanism that claims support but fails hands over to the next.
pub(crate) fn suspend(root: &Root, mode: SuspendMode) -> Result<()> {
    let n = names(mode);
    if systemd(root, &n).is_some_and(|r| r.is_ok()) || pm_utils(root, &n).is_some_and(|r| r.is_ok())
    {
        return Ok(());
    }
    let state = root.read(SYS_POWER_STATE).unwrap_or_default();
    match n
        .sysfs
        .filter(|w| state.split_ascii_whitespace().any(|s| s == *w))
    {
        Some(word) => std::fs::write(root.path(SYS_POWER_STATE), word).map_err(|e| {
            Error::errno(
                os_errno(&e),
                format_args!("suspend: cannot write to '{SYS_POWER_STATE}'"),
            )
        }),
        None => Err(Error::msg(format_args!(
            "the requested suspend mode is not supported by the guest"
        ))),
    }
}

/// `systemctl status systemd-<m>` exit 1..3 (LSB: known, not running) means
/// supported; then `systemctl <m>`. `None`: not supported.
fn systemd(root: &Root, n: &Names) -> Option<Result<()>> {
    let ctl = root.which("systemctl")?;
    let ctl = ctl.as_os_str();
    let unit = format!("systemd-{}", n.systemd);
    let code = exit_code(&[ctl, OsStr::new("status"), OsStr::new(&unit)])?;
    (1..=3)
        .contains(&code)
        .then(|| act(&[ctl, OsStr::new(n.systemd)], SUSPEND_ACTION))
}

/// `pm-is-supported --<m>` exit 0 means supported; then `pm-<m>`.
fn pm_utils(root: &Root, n: &Names) -> Option<Result<()>> {
    let probe = root.which("pm-is-supported")?;
    let code = exit_code(&[probe.as_os_str(), OsStr::new(n.pm_flag)])?;
    let cmd = root.which(n.pm_cmd)?;
    (code == 0).then(|| act(&[cmd.as_os_str()], SUSPEND_ACTION))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::testutil::temp_dir;
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// A script at `<root>/<rel>` logging "<name> <args>" to `<root>/log`.
    fn script(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let log = root.join("log");
        let text = format!(
            "#!/bin/sh\necho \"$(basename $0) $*\" >> {}\n{body}\n",
            log.display()
        );
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn log(root: &Path) -> String {
        std::fs::read_to_string(root.join("log")).unwrap_or_default()
    }

    /// Never calls the real syscall: records the command instead.
    fn fake(calls: &mut Vec<RebootCommand>) -> impl FnMut(RebootCommand) -> io::Result<()> + '_ {
        |c| {
            calls.push(c);
            Err(io::Error::from_raw_os_error(1))
        }
    }

    /// systemd stopping the agent's service takes the helper with it.
    #[test]
    fn a_helper_ended_by_the_shutdown_it_started_is_success() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("poweroff-term");
        script(&d, "sbin/poweroff", "echo going down; kill -TERM $$");
        let mut calls = Vec::new();
        let root = Root::new(d.clone());
        assert_eq!(
            shutdown(&root, ShutdownMode::Powerdown, &mut fake(&mut calls)),
            Ok(())
        );
        script(&d, "sbin/poweroff", "kill -KILL $$");
        assert_eq!(
            shutdown(&root, ShutdownMode::Powerdown, &mut fake(&mut calls))
                .unwrap_err()
                .text(),
            "child process has terminated abnormally"
        );
        assert!(calls.is_empty());
    }

    #[test]
    fn direct_helper_runs_without_arguments() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("poweroff");
        script(&d, "sbin/poweroff", "exit 0");
        script(&d, "sbin/shutdown", "exit 0");
        let mut calls = Vec::new();
        shutdown(
            &Root::new(d.clone()),
            ShutdownMode::Powerdown,
            &mut fake(&mut calls),
        )
        .unwrap();
        assert_eq!(log(&d), "poweroff \n");
        assert!(calls.is_empty());
    }

    #[test]
    fn shutdown_helper_gets_qemu_arguments_and_errors() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("shutdown");
        script(&d, "sbin/shutdown", "echo busy >&2; exit 1");
        let mut calls = Vec::new();
        let e = shutdown(
            &Root::new(d.clone()),
            ShutdownMode::Reboot,
            &mut fake(&mut calls),
        );
        assert_eq!(
            e.unwrap_err().text(),
            "child process has failed to shutdown: busy\n"
        );
        assert_eq!(log(&d), "shutdown -h -r +0 hypervisor initiated shutdown\n");
        assert!(calls.is_empty());
    }

    #[test]
    fn no_helper_falls_back_to_the_syscall() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("busybox");
        let mut calls = Vec::new();
        let e = shutdown(&Root::new(d), ShutdownMode::Halt, &mut fake(&mut calls)).unwrap_err();
        assert_eq!(calls, [RebootCommand::Halt]);
        assert_eq!(
            e.text(),
            "child process has failed to shutdown: Operation not permitted"
        );
    }

    #[test]
    fn suspend_prefers_systemd() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("systemd");
        script(
            &d,
            "usr/bin/systemctl",
            "[ \"$1\" = status ] && exit 3; exit 0",
        );
        script(&d, "usr/bin/pm-is-supported", "exit 0");
        suspend(&Root::new(d.clone()), SuspendMode::Ram).unwrap();
        assert_eq!(
            log(&d),
            "systemctl status systemd-suspend\nsystemctl suspend\n"
        );
    }

    #[test]
    fn suspend_falls_back_to_pm_utils_then_sysfs() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("pmutils");
        script(&d, "usr/bin/systemctl", "exit 4");
        script(&d, "usr/bin/pm-is-supported", "[ \"$1\" = --hibernate ]");
        script(&d, "usr/bin/pm-hibernate", "exit 0");
        let root = Root::new(d.clone());
        suspend(&root, SuspendMode::Disk).unwrap();
        assert!(
            log(&d).ends_with("pm-is-supported --hibernate\npm-hibernate \n"),
            "{}",
            log(&d)
        );
        std::fs::create_dir_all(d.join("sys/power")).unwrap();
        std::fs::write(d.join("sys/power/state"), "freeze mem disk\n").unwrap();
        suspend(&root, SuspendMode::Ram).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("sys/power/state")).unwrap(),
            "mem"
        );
        let e = suspend(&root, SuspendMode::Hybrid).unwrap_err();
        assert_eq!(
            e.text(),
            "the requested suspend mode is not supported by the guest"
        );
    }
}
