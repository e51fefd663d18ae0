//! The Linux platform: [`LinuxPlatform`] implements qga-core's
//! [`Platform`] with the mechanisms qemu-ga uses on Linux (protocol notes
//! 3.3), through raw syscalls (`rustix`) and `std::process`.
//!
//! One file per command family: `file` (`guest-file-*`, persistent
//! handles), `spool` (large streamed arguments), `exec` (`guest-exec*`),
//! `time` (`guest-get/set-time`), `info` (host name, os info, users), `tz`
//! (time zone), `fsfreeze` (freeze, thaw, fstrim over the `mounts` list),
//! `fsinfo` (`guest-get-fsinfo`, `guest-get-disks`), `network`
//! (interfaces, routes), `hardware` (vCPUs, memory blocks, cpu/disk
//! statistics, load), `power` (shutdown, suspend), `users` (passwords),
//! `ssh` (authorized keys), `root` (where system paths resolve), `sys`
//! (errno, helper-process and ioctl glue).
//!
//! The only `unsafe` is the three filesystem ioctls in `sys`
//! (FIFREEZE, FITHAW, FITRIM), each with its SAFETY note; everything else
//! is denied `unsafe`. Every descriptor it opens is
//! close-on-exec, every child is reaped, and every table is bounded
//! ([`MAX_HANDLES`], [`MAX_PROCESSES`]).
#![deny(unsafe_code)]
// `qga_core::platform::Error` carries its message inline (a fixed-size
// string), and it is the trait's error type: every platform helper returns
// it, so the size lint would fire on all of them.
#![allow(clippy::result_large_err)]

mod exec;
mod file;
mod fsfreeze;
mod fsinfo;
mod hardware;
mod info;
mod mounts;
mod network;
mod power;
mod root;
mod spool;
mod ssh;
mod sys;
mod time;
mod tz;
mod users;

use std::io;
use std::path::PathBuf;

use qga_core::platform::{
    CpuStats, DiskInfo, DiskStatsInfo, ExecRequest, ExecStatus, FilesystemInfo, FsfreezeStatus,
    HostName, LoadAverage, LogicalProcessor, MemoryBlock, MemoryBlockResponse, NetworkInterface,
    NetworkRoute, OpenMode, OsInfo, OutputStream, Platform, Result, ShutdownMode, StrList,
    SuspendMode, Timezone, TrimResult, User, Whence,
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
    statedir: PathBuf,
    root: root::Root,
    fsfreeze_hook: Option<PathBuf>,
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
            statedir,
            root: root::Root::default(),
            fsfreeze_hook: None,
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

    /// Enables (`Some`) or disables the fsfreeze hook, run with `freeze`
    /// before freezing and `thaw` after thawing (protocol notes 4.8).
    pub fn set_fsfreeze_hook(&mut self, hook: Option<PathBuf>) {
        self.fsfreeze_hook = hook;
    }

    fn freezer(&self) -> fsfreeze::Freezer<'_> {
        fsfreeze::Freezer {
            root: &self.root,
            statedir: &self.statedir,
            hook: self.fsfreeze_hook.as_deref(),
        }
    }

    /// Reads login records for `guest-get-users` from `path` instead of
    /// [`DEFAULT_UTMP`] (for tests, or systems keeping utmp elsewhere).
    pub fn with_utmp_path(mut self, path: PathBuf) -> Self {
        self.utmp = path;
        self
    }
}

/// The commands this platform implements (all of qemu-ga's Linux set).
const SUPPORTED: [Command; 39] = [
    Command::GuestGetTime,
    Command::GuestSetTime,
    Command::GuestShutdown,
    Command::GuestFileOpen,
    Command::GuestFileClose,
    Command::GuestFileRead,
    Command::GuestFileWrite,
    Command::GuestFileSeek,
    Command::GuestFileFlush,
    Command::GuestFsfreezeStatus,
    Command::GuestFsfreezeFreeze,
    Command::GuestFsfreezeFreezeList,
    Command::GuestFsfreezeThaw,
    Command::GuestFstrim,
    Command::GuestSuspendDisk,
    Command::GuestSuspendRam,
    Command::GuestSuspendHybrid,
    Command::GuestNetworkGetInterfaces,
    Command::GuestGetVcpus,
    Command::GuestSetVcpus,
    Command::GuestGetDisks,
    Command::GuestGetFsinfo,
    Command::GuestSetUserPassword,
    Command::GuestGetMemoryBlocks,
    Command::GuestSetMemoryBlocks,
    Command::GuestGetMemoryBlockInfo,
    Command::GuestExecStatus,
    Command::GuestExec,
    Command::GuestGetHostName,
    Command::GuestGetUsers,
    Command::GuestGetTimezone,
    Command::GuestGetOsinfo,
    Command::GuestSshGetAuthorizedKeys,
    Command::GuestSshAddAuthorizedKeys,
    Command::GuestSshRemoveAuthorizedKeys,
    Command::GuestGetDiskstats,
    Command::GuestGetCpustats,
    Command::GuestGetLoad,
    Command::GuestNetworkGetRoute,
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

    fn fsfreeze_status(&mut self) -> Result<FsfreezeStatus> {
        Ok(self.freezer().status())
    }

    fn fsfreeze_freeze(&mut self, mountpoints: Option<StrList<'_>>) -> Result<i64> {
        self.freezer().freeze(mountpoints)
    }

    fn fsfreeze_thaw(&mut self) -> Result<i64> {
        self.freezer().thaw()
    }

    fn fstrim(
        &mut self,
        minimum: Option<i64>,
        out: &mut dyn FnMut(&TrimResult<'_>) -> Result<()>,
    ) -> Result<()> {
        fsfreeze::fstrim(&self.root, minimum, out)
    }

    fn fs_info(&mut self, out: &mut dyn FnMut(&FilesystemInfo<'_>) -> Result<()>) -> Result<()> {
        fsinfo::fs_info(&self.root, out)
    }

    fn disks(&mut self, out: &mut dyn FnMut(&DiskInfo<'_>) -> Result<()>) -> Result<()> {
        fsinfo::disks(&self.root, out)
    }

    fn vcpus(&mut self, out: &mut dyn FnMut(&LogicalProcessor) -> Result<()>) -> Result<()> {
        hardware::vcpus(&self.root, out)
    }

    fn set_vcpu(&mut self, logical_id: i64, online: bool) -> Result<()> {
        hardware::set_vcpu(&self.root, logical_id, online)
    }

    fn memory_blocks(&mut self, out: &mut dyn FnMut(&MemoryBlock) -> Result<()>) -> Result<()> {
        hardware::memory_blocks(&self.root, out)
    }

    fn set_memory_block(&mut self, phys_index: u64, online: bool) -> Result<MemoryBlockResponse> {
        Ok(hardware::set_memory_block(&self.root, phys_index, online))
    }

    fn memory_block_size(&mut self) -> Result<u64> {
        hardware::memory_block_size(&self.root)
    }

    fn cpu_stats(&mut self, out: &mut dyn FnMut(&CpuStats) -> Result<()>) -> Result<()> {
        hardware::cpu_stats(&self.root, out)
    }

    fn disk_stats(&mut self, out: &mut dyn FnMut(&DiskStatsInfo<'_>) -> Result<()>) -> Result<()> {
        hardware::disk_stats(&self.root, out)
    }

    fn load_average(&mut self) -> Result<LoadAverage> {
        hardware::load_average(&self.root)
    }

    fn network_interfaces(
        &mut self,
        out: &mut dyn FnMut(&NetworkInterface<'_>) -> Result<()>,
    ) -> Result<()> {
        network::interfaces(&self.root, out)
    }

    fn network_routes(
        &mut self,
        out: &mut dyn FnMut(&NetworkRoute<'_>) -> Result<()>,
    ) -> Result<()> {
        network::routes(&self.root, out)
    }

    fn shutdown(&mut self, mode: ShutdownMode) -> Result<()> {
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

    fn set_user_password(&mut self, username: &str, password: &[u8], crypted: bool) -> Result<()> {
        users::set_user_password(&self.root, username, password, crypted)
    }

    fn ssh_authorized_keys(
        &mut self,
        username: &str,
        out: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        ssh::get(&self.root, username, out)
    }

    fn ssh_add_authorized_keys(
        &mut self,
        username: &str,
        keys: StrList<'_>,
        reset: bool,
    ) -> Result<()> {
        ssh::add(&self.root, username, keys, reset)
    }

    fn ssh_remove_authorized_keys(&mut self, username: &str, keys: StrList<'_>) -> Result<()> {
        ssh::remove(&self.root, username, keys)
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
        assert_eq!(names.len(), SUPPORTED.len(), "{names:?}");
        assert!(p.supports(Command::GuestExec) && p.supports(Command::GuestShutdown));
        assert!(p.supports(Command::GuestFsfreezeFreeze) && p.supports(Command::GuestGetLoad));
        let builtin = [
            Command::GuestSync,
            Command::GuestSyncDelimited,
            Command::GuestPing,
        ];
        assert!(builtin.iter().all(|c| !p.supports(*c)) && !p.supports(Command::GuestInfo));
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
