//! The audit trail: one line per privileged request, in qemu-ga's words
//! (its `slog()` calls, as qemu-ga 7.2 sends them to syslog at `info`), sent
//! through [`crate::log::audit`].
//!
//! Where qemu-ga is silent or wrong, this agent says more, and the lines are
//! marked *(qga)*: qemu-ga 7.2 writes nothing for `guest-set-time`,
//! `guest-set-user-password` and `guest-fsfreeze-thaw`, and reports a failed
//! `guest-file-read` as `guest-file-write failed`. Passwords are never
//! logged. `guest-ping called` is not written: ping is answered inside
//! qga-core, which has no log hook.
#![forbid(unsafe_code)]

use std::fmt;

use qga_core::platform::{ExecRequest, OpenMode, ShutdownMode, StrList};

use crate::log;

/// `guest-exec called: "<path> <arg>..."` (the words joined with spaces).
pub fn exec(req: &ExecRequest<'_>) {
    log::audit(format_args!(
        "guest-exec called: \"{}\"",
        Argv(req.path, req.arg)
    ));
}

/// `guest-exec-status called, pid: <pid>` (printed as unsigned 32 bits).
pub fn exec_status(pid: i64) {
    log::audit(format_args!(
        "guest-exec-status called, pid: {}",
        pid as u32
    ));
}

/// `guest-file-open called, filepath: <path>, mode: <mode>` (before opening).
pub fn file_open(path: &str, mode: OpenMode) {
    log::audit(format_args!(
        "guest-file-open called, filepath: {path}, mode: {}",
        mode.text
    ));
}

/// `guest-file-open, handle: <handle>` (after a successful open).
pub fn file_opened(handle: i64) {
    log::audit(format_args!("guest-file-open, handle: {handle}"));
}

/// `guest-file-close called, handle: <handle>`.
pub fn file_close(handle: i64) {
    log::audit(format_args!("guest-file-close called, handle: {handle}"));
}

/// `guest-file-read failed, handle: <handle>` *(qga: qemu-ga 7.2 says
/// `guest-file-write failed` here)*.
pub fn file_read_failed(handle: i64) {
    log::audit(format_args!("guest-file-read failed, handle: {handle}"));
}

/// `guest-file-write failed, handle: <handle>`.
pub fn file_write_failed(handle: i64) {
    log::audit(format_args!("guest-file-write failed, handle: {handle}"));
}

/// `guest-fsfreeze called` (freeze and freeze-list, before the hook).
pub fn fsfreeze() {
    log::audit(format_args!("guest-fsfreeze called"));
}

/// `guest-fsfreeze-thaw called` *(qga)*.
pub fn fsfreeze_thaw() {
    log::audit(format_args!("guest-fsfreeze-thaw called"));
}

/// `executing fsfreeze hook with arg '<arg>'`.
pub fn fsfreeze_hook(arg: &str) {
    log::audit(format_args!("executing fsfreeze hook with arg '{arg}'"));
}

/// `guest-fstrim called`.
pub fn fstrim() {
    log::audit(format_args!("guest-fstrim called"));
}

/// `guest-shutdown called, mode: <mode>`.
pub fn shutdown(mode: ShutdownMode) {
    let mode = match mode {
        ShutdownMode::Powerdown => "powerdown",
        ShutdownMode::Halt => "halt",
        ShutdownMode::Reboot => "reboot",
    };
    log::audit(format_args!("guest-shutdown called, mode: {mode}"));
}

/// `guest-set-time called, time: <ns>` or `..., time: hardware clock`
/// *(qga)*.
pub fn set_time(time_ns: Option<i64>) {
    match time_ns {
        Some(ns) => log::audit(format_args!("guest-set-time called, time: {ns}")),
        None => log::audit(format_args!("guest-set-time called, time: hardware clock")),
    }
}

/// `guest-set-user-password called, username: <user>, crypted: <bool>`
/// *(qga)*; never the password.
pub fn set_user_password(username: &str, crypted: bool) {
    log::audit(format_args!(
        "guest-set-user-password called, username: {username}, crypted: {crypted}"
    ));
}

/// A command line as qemu-ga logs it: the words joined with single spaces.
struct Argv<'a>(&'a str, StrList<'a>);

impl fmt::Display for Argv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        self.1.iter().try_for_each(|a| write!(f, " {a}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_joined_with_spaces() {
        let args = StrList::from_joined("-c\0echo a  b\0", 2);
        assert_eq!(Argv("/bin/sh", args).to_string(), "/bin/sh -c echo a  b");
        assert_eq!(Argv("true", StrList::default()).to_string(), "true");
    }
}
