//! The Linux platform: [`LinuxPlatform`] implements qga-core's
//! [`Platform`] with the mechanisms qemu-ga uses on Linux (protocol notes
//! 3.3), through raw syscalls (`rustix`) and `std::process`.
//!
//! One file per command family: `file` (`guest-file-*`, persistent
//! handles), `spool` (large streamed arguments), `exec` (`guest-exec*`),
//! `time` (`guest-get/set-time`), `info` (host name, os info, users), `tz`
//! (time zone), `sys` (errno and helper-process glue).
//!
//! The module is free of `unsafe`. Every descriptor it opens is
//! close-on-exec, every child is reaped, and every table is bounded
//! ([`MAX_HANDLES`], [`MAX_PROCESSES`]).
#![forbid(unsafe_code)]
// `qga_core::platform::Error` carries its message inline (a fixed-size
// string), and it is the trait's error type: every platform helper returns
// it, so the size lint would fire on all of them.
#![allow(clippy::result_large_err)]

mod exec;
mod file;
mod info;
mod spool;
mod sys;
mod time;
mod tz;

use std::io;
use std::path::PathBuf;

use qga_core::platform::{
    ExecRequest, ExecStatus, HostName, OpenMode, OsInfo, OutputStream, Platform, Result, Timezone,
    User, Whence,
};
use qga_core::schema::Command;

pub use exec::{MAX_CAPTURE, MAX_PROCESSES};
pub use file::MAX_HANDLES;
pub use info::DEFAULT_UTMP;

/// The environment variable that names the os-release file to report
/// (qemu-ga's test hook, also honoured here).
pub const OS_RELEASE_ENV: &str = "QGA_OS_RELEASE";

/// qemu-ga's behaviour on a Linux guest.
#[derive(Debug)]
pub struct LinuxPlatform {
    files: file::Files,
    spool: spool::Spool,
    processes: exec::Processes,
    utmp: PathBuf,
}

impl LinuxPlatform {
    /// A platform keeping its persistent state (the file-handle counter,
    /// `qga.state`) in `statedir`, which must exist. Fails if the state file
    /// exists but cannot be read or parsed, or cannot be created.
    pub fn new(statedir: PathBuf) -> io::Result<Self> {
        Ok(LinuxPlatform {
            files: file::Files::new(&statedir)?,
            spool: spool::Spool::default(),
            processes: exec::Processes::default(),
            utmp: PathBuf::from(DEFAULT_UTMP),
        })
    }

    /// Reads login records for `guest-get-users` from `path` instead of
    /// [`DEFAULT_UTMP`] (for tests, or systems keeping utmp elsewhere).
    pub fn with_utmp_path(mut self, path: PathBuf) -> Self {
        self.utmp = path;
        self
    }
}

/// The commands this platform implements.
const SUPPORTED: [Command; 14] = [
    Command::GuestGetTime,
    Command::GuestSetTime,
    Command::GuestFileOpen,
    Command::GuestFileClose,
    Command::GuestFileRead,
    Command::GuestFileWrite,
    Command::GuestFileSeek,
    Command::GuestFileFlush,
    Command::GuestExecStatus,
    Command::GuestExec,
    Command::GuestGetHostName,
    Command::GuestGetUsers,
    Command::GuestGetTimezone,
    Command::GuestGetOsinfo,
];

impl Platform for LinuxPlatform {
    fn supports(&self, cmd: Command) -> bool {
        SUPPORTED.contains(&cmd)
    }

    fn get_time(&mut self) -> Result<i64> {
        Ok(time::get_time())
    }

    fn set_time(&mut self, time_ns: Option<i64>) -> Result<()> {
        time::set_time(time_ns)
    }

    fn file_open(&mut self, path: &str, mode: OpenMode) -> Result<i64> {
        self.files.open(path, mode)
    }

    fn file_close(&mut self, handle: i64) -> Result<()> {
        self.files.close(handle)
    }

    fn file_read(&mut self, handle: i64, buf: &mut [u8]) -> Result<usize> {
        self.files.read(handle, buf)
    }

    fn file_write(&mut self, handle: i64, data: &[u8]) -> Result<usize> {
        self.files.write(handle, data)
    }

    fn file_seek(&mut self, handle: i64, offset: i64, whence: Whence) -> Result<i64> {
        self.files.seek(handle, offset, whence)
    }

    fn file_flush(&mut self, handle: i64) -> Result<()> {
        self.files.flush(handle)
    }

    fn spool_reset(&mut self) -> Result<()> {
        self.spool.reset()
    }

    fn spool_write(&mut self, data: &[u8]) -> Result<()> {
        self.spool.write(data)
    }

    fn spool_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.spool.read(offset, buf)
    }

    fn exec(&mut self, req: &ExecRequest<'_>) -> Result<i64> {
        // Checked first so a refused request leaves the spool untouched.
        self.processes.check_room()?;
        let stdin = if req.input_in_spool {
            Some(self.spool.take()?)
        } else {
            None
        };
        self.processes.spawn(req, stdin)
    }

    fn exec_status(&mut self, pid: i64) -> Result<ExecStatus> {
        self.processes.status(pid)
    }

    fn exec_output(
        &mut self,
        pid: i64,
        stream: OutputStream,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        self.processes.output(pid, stream, offset, buf)
    }

    fn exec_release(&mut self, pid: i64) {
        self.processes.release(pid);
    }

    fn host_name(&mut self, out: &mut dyn FnMut(&HostName<'_>) -> Result<()>) -> Result<()> {
        info::host_name(out)
    }

    fn timezone(&mut self, out: &mut dyn FnMut(&Timezone<'_>) -> Result<()>) -> Result<()> {
        let tz = std::env::var("TZ").ok();
        tz::timezone(tz.as_deref(), time::get_time() / 1_000_000_000, out)
    }

    fn os_info(&mut self, out: &mut dyn FnMut(&OsInfo<'_>) -> Result<()>) -> Result<()> {
        let path = std::env::var_os(OS_RELEASE_ENV).map(PathBuf::from);
        info::os_info(path.as_deref(), out)
    }

    fn users(&mut self, out: &mut dyn FnMut(&User<'_>) -> Result<()>) -> Result<()> {
        info::users(&self.utmp, out)
    }
}

/// Shared test helpers: unique temp dirs and a lock that keeps the fd-leak
/// test from counting descriptors other tests hold open at the same time.
#[cfg(test)]
#[allow(clippy::panic)]
pub(crate) mod testutil {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

    static FDS: RwLock<()> = RwLock::new(());
    static SEQ: AtomicUsize = AtomicUsize::new(0);

    /// A fresh empty directory under the system temp dir.
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("qga-linux-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        dir
    }

    /// Held by tests that open descriptors.
    pub(crate) fn fd_count_guard() -> RwLockReadGuard<'static, ()> {
        FDS.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Held by the test that counts descriptors.
    pub(crate) fn fd_count_exclusive() -> RwLockWriteGuard<'static, ()> {
        FDS.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The descriptors this process has open, sorted.
    pub(crate) fn open_fds() -> Vec<String> {
        let dir =
            std::fs::read_dir("/proc/self/fd").unwrap_or_else(|e| panic!("/proc/self/fd: {e}"));
        let mut fds: Vec<String> = dir
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        fds.sort();
        fds
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::testutil::{fd_count_guard, temp_dir};
    use super::*;
    use qga_core::platform::{CaptureOutput, StrList};
    use qga_core::schema::COMMANDS;

    #[test]
    fn supports_exactly_the_implemented_commands() {
        let dir = temp_dir("supports");
        let p = LinuxPlatform::new(dir).unwrap();
        let names: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| p.supports(c.command))
            .map(|c| c.name)
            .collect();
        assert_eq!(names.len(), 14, "{names:?}");
        assert!(p.supports(Command::GuestExec) && !p.supports(Command::GuestShutdown));
        assert!(!p.supports(Command::GuestFsfreezeFreeze));
    }

    #[test]
    fn new_fails_on_unreadable_state() {
        let dir = temp_dir("badstate");
        std::fs::write(dir.join("qga.state"), "[global]\nfd_counter=zz\n").unwrap();
        assert!(LinuxPlatform::new(dir).is_err());
        assert!(LinuxPlatform::new(PathBuf::from("/nonexistent/statedir")).is_err());
    }

    #[test]
    fn exec_reads_stdin_from_spool_through_the_trait() {
        let _g = fd_count_guard();
        let mut p = LinuxPlatform::new(temp_dir("spoolexec")).unwrap();
        p.spool_reset().unwrap();
        p.spool_write(b"abc").unwrap();
        p.spool_write(b"def").unwrap();
        let req = ExecRequest {
            path: "cat",
            arg: StrList::default(),
            env: None,
            input_in_spool: true,
            capture: CaptureOutput::Stdout,
        };
        let pid = p.exec(&req).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !p.exec_status(pid).unwrap().exited && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut buf = [0u8; 16];
        let n = p
            .exec_output(pid, OutputStream::Stdout, 0, &mut buf)
            .unwrap();
        assert_eq!(&buf[..n], b"abcdef");
        p.exec_release(pid);
        assert!(p.exec_status(pid).is_err());
        assert_eq!(
            p.spool_read(0, &mut buf).unwrap(),
            0,
            "the spool starts empty again"
        );
    }

    #[test]
    fn users_path_is_overridable() {
        let mut p = LinuxPlatform::new(temp_dir("users"))
            .unwrap()
            .with_utmp_path("/nonexistent".into());
        let mut n = 0;
        p.users(&mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn timezone_offset_is_sane() {
        let mut p = LinuxPlatform::new(temp_dir("tz")).unwrap();
        p.timezone(&mut |t| {
            assert!(t.offset.abs() <= 14 * 3600 && t.zone.is_some_and(|z| !z.is_empty()));
            Ok(())
        })
        .unwrap();
    }
}
