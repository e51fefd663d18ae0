//! The Linux platform: [`LinuxPlatform`] implements qga-core's
//! [`Platform`] with the mechanisms qemu-ga uses on Linux (protocol notes
//! 3.3), through raw syscalls (`rustix`) and `std::process`.
//!
//! One file per command family: `file` (`guest-file-*`, persistent
//! handles), `spool` (large streamed arguments), `exec` (`guest-exec*`),
//! `time` (`guest-get/set-time`), `info` (host name, os info, users), `tz`
//! (time zone), `fsfreeze` (freeze, thaw, fstrim over the `mounts` list),
//! `fsinfo` (`guest-get-fsinfo`, `guest-get-disks`; with `disk_address`,
//! `udev` for disk serials and `nvme` for SMART logs), `network`
//! (interfaces, routes), `vcpus`, `hardware` (memory blocks, cpu/disk
//! statistics, load), `power` (shutdown, suspend), `users` (passwd lookup,
//! passwords), `ssh` (authorized keys), `root` (where system paths
//! resolve), `child` (every child process: helpers and guest-exec), `sys`
//! (errno and ioctl glue).
//!
//! The only `unsafe` is the three filesystem ioctls in `sys`
//! (FIFREEZE, FITHAW, FITRIM), the NVMe admin ioctl in `nvme` and the
//! `setsid` before `exec` in `child`, each with its SAFETY note; everything
//! else is denied `unsafe`. Every descriptor it opens is close-on-exec,
//! every child is reaped, and every table is bounded ([`MAX_HANDLES`],
//! [`MAX_PROCESSES`], [`MAX_SPOOL`], [`MAX_CAPTURE_TOTAL`]).
#![deny(unsafe_code)]
// `qga_core::platform::Error` carries its message inline (a fixed-size
// string), and it is the trait's error type: every platform helper returns
// it, so the size lint would fire on all of them.
#![allow(clippy::result_large_err)]

mod capture;
pub(crate) mod child;
mod disk_address;
mod exec;
mod file;
mod fsfreeze;
mod fsinfo;
mod hardware;
mod helper;
mod info;
mod mounts;
mod network;
mod nvme;
mod power;
mod root;
mod spool;
mod ssh;
mod sys;
mod time;
mod tz;
mod udev;
mod users;
mod vcpus;

use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use qga_core::platform::{
    Clock, Filesystems, Fsfreeze, MemoryBlocks, Network, Power, Processes, Spool, Ssh, Stats,
    SystemInfo, Users, Vcpus,
};
use qga_core::platform::{
    CpuStats, DiskInfo, DiskStatsInfo, ExecRequest, ExecStatus, FilesystemInfo, FsfreezeStatus,
    HostName, LoadAverage, LogicalProcessor, MemoryBlock, MemoryBlockResponse, NetworkInterface,
    NetworkRoute, OpenMode, OsInfo, OutputStream, Platform, Result, ShutdownMode, StrList,
    SuspendMode, Timezone, TrimResult, User, Whence,
};

use crate::audit;

pub use exec::{MAX_CAPTURE, MAX_CAPTURE_TOTAL, MAX_PROCESSES};
pub use file::MAX_HANDLES;
pub use info::DEFAULT_UTMP;
pub use spool::MAX_SPOOL;

/// Whether `statedir` says the agent starts frozen (the marker a frozen
/// agent leaves behind, protocol notes 4.3).
pub fn starts_frozen(statedir: &Path) -> bool {
    fsfreeze::marker_exists(statedir)
}

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
    root: root::Root,
    freezer: fsfreeze::Freezer,
}

impl LinuxPlatform {
    /// A platform keeping its persistent state (the file-handle counter,
    /// `qga.state`) in `statedir`, which must exist. Fails if the state file
    /// exists but cannot be read or parsed, or cannot be created.
    pub fn new(statedir: PathBuf) -> io::Result<Self> {
        Ok(LinuxPlatform {
            files: file::Files::new(&statedir)?,
            spool: spool::Spool::default(),
            processes: exec::Processes::new()?,
            utmp: PathBuf::from(DEFAULT_UTMP),
            root: root::Root::default(),
            freezer: fsfreeze::Freezer::new(statedir),
        })
    }

    /// Resolves every system path (`/proc`, `/sys`, `/etc/passwd`,
    /// `/etc/shadow`, `/sbin/*`, and the `PATH` directories searched for
    /// helpers such as `chpasswd` and `systemctl`) under `root` instead of
    /// `/`: for tests on generated trees. A platform with a root other than
    /// `/` never makes the `reboot` syscall. Mount points named in the
    /// mount list are used as they are.
    pub fn with_root(mut self, root: PathBuf) -> Self {
        self.root = root::Root::new(root);
        self
    }

    /// Readable while guest-exec output waits in a pipe: poll it next to
    /// the channel, then call [`LinuxPlatform::service`].
    pub fn background(&self) -> BorrowedFd<'_> {
        self.processes.fd()
    }

    /// Collects the guest-exec output waiting in pipes (never blocks).
    pub fn service(&mut self) {
        self.processes.service();
    }

    /// Enables (`Some`) or disables the fsfreeze hook, run with `freeze`
    /// before freezing and `thaw` after thawing (protocol notes 4.8).
    pub fn set_fsfreeze_hook(&mut self, hook: Option<PathBuf>) {
        self.freezer.hook = hook;
    }

    /// Gives the spool's memory back: the request that used it has ended
    /// (the core's `Spool::release` hook calls this).
    pub fn spool_release(&mut self) {
        let _ = self.spool.release();
    }

    /// Reads login records for `guest-get-users` from `path` instead of
    /// [`DEFAULT_UTMP`] (for tests, or systems keeping utmp elsewhere).
    pub fn with_utmp_path(mut self, path: PathBuf) -> Self {
        self.utmp = path;
        self
    }
}

/// Every capability: all of qemu-ga's Linux commands.
impl Platform for LinuxPlatform {
    qga_core::offer!(all);
}

impl Clock for LinuxPlatform {
    fn get_time(&mut self) -> Result<i64> {
        Ok(time::get_time())
    }

    fn set_time(&mut self, time_ns: Option<i64>) -> Result<()> {
        audit::set_time(time_ns);
        time::set_time(time_ns)
    }
}

impl Power for LinuxPlatform {
    fn shutdown(&mut self, mode: ShutdownMode) -> Result<()> {
        audit::shutdown(mode);
        let real = self.root.is_real();
        power::shutdown(&self.root, mode, &mut |cmd| {
            if real {
                rustix::system::reboot(cmd).map_err(io::Error::from)
            } else {
                Err(io::Error::from(rustix::io::Errno::PERM))
            }
        })
    }

    fn suspend(&mut self, mode: SuspendMode) -> Result<()> {
        power::suspend(&self.root, mode)
    }
}

impl qga_core::platform::Files for LinuxPlatform {
    fn open(&mut self, path: &str, mode: OpenMode) -> Result<i64> {
        audit::file_open(path, mode);
        self.files
            .open(path, mode)
            .inspect(|&h| audit::file_opened(h))
    }

    fn close(&mut self, handle: i64) -> Result<()> {
        audit::file_close(handle);
        self.files.close(handle)
    }

    fn read(&mut self, handle: i64, buf: &mut [u8]) -> Result<usize> {
        self.files.read(handle, buf)
    }

    fn write(&mut self, handle: i64, data: &[u8]) -> Result<usize> {
        self.files.write(handle, data)
    }

    fn seek(&mut self, handle: i64, offset: i64, whence: Whence) -> Result<i64> {
        self.files.seek(handle, offset, whence)
    }

    fn flush(&mut self, handle: i64) -> Result<()> {
        self.files.flush(handle)
    }

    fn check(&mut self, handle: i64) -> Result<()> {
        self.files.check(handle)
    }
}

impl Spool for LinuxPlatform {
    fn reset(&mut self) -> Result<()> {
        self.spool.reset()
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.spool.write(data)
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.spool.read(offset, buf)
    }

    fn release(&mut self) {
        self.spool_release();
    }
}

impl Processes for LinuxPlatform {
    fn exec(&mut self, req: &ExecRequest<'_>) -> Result<i64> {
        // Checked first so a refused request leaves the spool untouched.
        self.processes.check_room()?;
        let stdin = if req.input_in_spool {
            Some(self.spool.take()?)
        } else {
            None
        };
        audit::exec(req);
        self.processes.spawn(req, stdin)
    }

    fn status(&mut self, pid: i64) -> Result<ExecStatus> {
        audit::exec_status(pid);
        self.processes.status(pid)
    }

    fn output(
        &mut self,
        pid: i64,
        stream: OutputStream,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        self.processes.output(pid, stream, offset, buf)
    }

    fn release(&mut self, pid: i64) {
        self.processes.release(pid);
    }
}

impl SystemInfo for LinuxPlatform {
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
}

impl Users for LinuxPlatform {
    fn list(&mut self, out: &mut dyn FnMut(&User<'_>) -> Result<()>) -> Result<()> {
        info::users(&self.utmp, out)
    }

    fn set_password(&mut self, username: &str, password: &[u8], crypted: bool) -> Result<()> {
        audit::set_user_password(username, crypted);
        users::set_user_password(&self.root, username, password, crypted)
    }
}

impl Fsfreeze for LinuxPlatform {
    fn status(&mut self) -> Result<FsfreezeStatus> {
        Ok(self.freezer.status())
    }

    fn freeze(&mut self, mountpoints: Option<StrList<'_>>) -> Result<i64> {
        audit::fsfreeze();
        self.freezer.freeze(&self.root, mountpoints)
    }

    fn thaw(&mut self) -> Result<i64> {
        audit::fsfreeze_thaw();
        self.freezer.thaw(&self.root)
    }

    fn fstrim(
        &mut self,
        minimum: Option<i64>,
        out: &mut dyn FnMut(&TrimResult<'_>) -> Result<()>,
    ) -> Result<()> {
        audit::fstrim();
        fsfreeze::fstrim(&self.root, minimum, out)
    }
}

impl Filesystems for LinuxPlatform {
    fn fs_info(&mut self, out: &mut dyn FnMut(&FilesystemInfo<'_>) -> Result<()>) -> Result<()> {
        fsinfo::fs_info(&self.root, out)
    }

    fn disks(&mut self, out: &mut dyn FnMut(&DiskInfo<'_>) -> Result<()>) -> Result<()> {
        fsinfo::disks(&self.root, out)
    }
}

impl Network for LinuxPlatform {
    fn interfaces(
        &mut self,
        out: &mut dyn FnMut(&NetworkInterface<'_>) -> Result<()>,
    ) -> Result<()> {
        network::interfaces(&self.root, out)
    }

    fn routes(&mut self, out: &mut dyn FnMut(&NetworkRoute<'_>) -> Result<()>) -> Result<()> {
        network::routes(&self.root, out)
    }
}

impl Vcpus for LinuxPlatform {
    fn list(&mut self, out: &mut dyn FnMut(&LogicalProcessor) -> Result<()>) -> Result<()> {
        vcpus::vcpus(&self.root, out)
    }

    fn set(&mut self, logical_id: i64, online: bool) -> Result<()> {
        vcpus::set_vcpu(&self.root, logical_id, online)
    }
}

impl MemoryBlocks for LinuxPlatform {
    fn list(&mut self, out: &mut dyn FnMut(&MemoryBlock) -> Result<()>) -> Result<()> {
        hardware::memory_blocks(&self.root, out)
    }

    fn set(&mut self, phys_index: u64, online: bool) -> Result<MemoryBlockResponse> {
        Ok(hardware::set_memory_block(&self.root, phys_index, online))
    }

    fn block_size(&mut self) -> Result<u64> {
        hardware::memory_block_size(&self.root)
    }
}

impl Stats for LinuxPlatform {
    fn cpu_stats(&mut self, out: &mut dyn FnMut(&CpuStats) -> Result<()>) -> Result<()> {
        hardware::cpu_stats(&self.root, out)
    }

    fn disk_stats(&mut self, out: &mut dyn FnMut(&DiskStatsInfo<'_>) -> Result<()>) -> Result<()> {
        hardware::disk_stats(&self.root, out)
    }

    fn load_average(&mut self) -> Result<LoadAverage> {
        hardware::load_average(&self.root)
    }
}

impl Ssh for LinuxPlatform {
    fn authorized_keys(
        &mut self,
        username: &str,
        out: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        ssh::get(&self.root, username, out)
    }

    fn add(&mut self, username: &str, keys: StrList<'_>, reset: bool) -> Result<()> {
        ssh::add(&self.root, username, keys, reset)
    }

    fn remove(&mut self, username: &str, keys: StrList<'_>) -> Result<()> {
        ssh::remove(&self.root, username, keys)
    }
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::testutil::{fd_count_guard, temp_dir};
    use super::*;
    use qga_core::platform::{CaptureOutput, StrList};
    use qga_core::schema::COMMANDS;

    #[test]
    fn supports_every_command() {
        let dir = temp_dir("supports");
        let mut p = LinuxPlatform::new(dir).unwrap();
        let missing: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| !qga_core::platform::supports(&mut p, c.command))
            .map(|c| c.name)
            .collect();
        assert_eq!(missing, Vec::<&str>::new());
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
        Spool::reset(&mut p).unwrap();
        Spool::write(&mut p, b"abc").unwrap();
        Spool::write(&mut p, b"def").unwrap();
        let req = ExecRequest {
            path: "cat",
            arg: StrList::default(),
            env: None,
            input_in_spool: true,
            capture: CaptureOutput::Stdout,
        };
        let pid = Processes::exec(&mut p, &req).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !Processes::status(&mut p, pid).unwrap().exited
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut buf = [0u8; 16];
        let n = Processes::output(&mut p, pid, OutputStream::Stdout, 0, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"abcdef");
        Processes::release(&mut p, pid);
        assert!(Processes::status(&mut p, pid).is_err());
        assert_eq!(
            Spool::read(&mut p, 0, &mut buf).unwrap(),
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
        Users::list(&mut p, &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn timezone_offset_is_sane() {
        let mut p = LinuxPlatform::new(temp_dir("tz")).unwrap();
        SystemInfo::timezone(&mut p, &mut |t| {
            assert!(t.offset.abs() <= 14 * 3600 && t.zone.is_some_and(|z| !z.is_empty()));
            Ok(())
        })
        .unwrap();
    }
}
