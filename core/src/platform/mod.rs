//! The platform: what an embedder implements so the core can do real work.
//!
//! [`Platform`] has one method per command (or per step of a streamed
//! command). Every method has a default body that returns
//! [`Error::Unsupported`], and [`Platform::supports`] defaults to `false`, so
//! an embedder implements exactly what its system can do and `guest-info`
//! reports `enabled` honestly.
//!
//! The platform knows no JSON. Arguments arrive decoded (`&str`, numbers,
//! enums); replies with strings or lists are handed back through a callback
//! (`out`) that borrows the platform's own buffers, so nothing is copied or
//! allocated. Call `out` only after the fallible work is done: the reply is
//! committed to the channel once it no longer fits the reply buffer, and an
//! error after that point can no longer replace it.
//!
//! Large payloads stream: `file_read`/`file_write` and `exec_output` are
//! called repeatedly with small buffers, and big base64 arguments
//! (`buf-b64`, `input-data`) can be decoded into the platform's spool
//! (`spool_*`) while they arrive.

mod error;
pub mod memfs;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
pub use memfs::MemFs;
mod types;

pub use error::{Error, Message, Result, UNSUPPORTED_TEXT};
pub use types::*;

use crate::schema::Command;

/// What a guest system offers the agent. All methods default to
/// [`Error::Unsupported`]; see the module docs for the conventions.
#[allow(unused_variables)]
pub trait Platform {
    /// Whether this platform implements `cmd`. Built-in commands (sync, ping,
    /// info) are always available and never asked about. Unsupported commands
    /// are listed by `guest-info` with `"enabled": false`.
    fn supports(&self, cmd: Command) -> bool {
        false
    }

    /// The `version` reported by `guest-info`.
    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    // ---- time -------------------------------------------------------------

    /// `guest-get-time`: nanoseconds since the epoch.
    fn get_time(&mut self) -> Result<i64> {
        Err(Error::Unsupported)
    }

    /// `guest-set-time`: set the clock to `time_ns`, or from the hardware
    /// clock when `None`.
    fn set_time(&mut self, time_ns: Option<i64>) -> Result<()> {
        Err(Error::Unsupported)
    }

    // ---- power ------------------------------------------------------------

    /// `guest-shutdown`. Returning `Ok` sends no reply (success-response false).
    fn shutdown(&mut self, mode: ShutdownMode) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-suspend-disk/-ram/-hybrid`. Returning `Ok` sends no reply.
    fn suspend(&mut self, mode: SuspendMode) -> Result<()> {
        Err(Error::Unsupported)
    }

    // ---- files ------------------------------------------------------------

    /// `guest-file-open`: returns the new handle.
    fn file_open(&mut self, path: &str, mode: OpenMode) -> Result<i64> {
        Err(Error::Unsupported)
    }

    /// `guest-file-close`.
    fn file_close(&mut self, handle: i64) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// One step of `guest-file-read`: fill `buf` as far as possible;
    /// `Ok(0)` means end of file. Called until the count is reached or 0.
    fn file_read(&mut self, handle: i64, buf: &mut [u8]) -> Result<usize> {
        Err(Error::Unsupported)
    }

    /// One step of `guest-file-write`: write all of `data`, return how much
    /// was written (less only on a short write that is not an error).
    fn file_write(&mut self, handle: i64, data: &[u8]) -> Result<usize> {
        Err(Error::Unsupported)
    }

    /// `guest-file-seek`: returns the new position.
    fn file_seek(&mut self, handle: i64, offset: i64, whence: Whence) -> Result<i64> {
        Err(Error::Unsupported)
    }

    /// `guest-file-flush`.
    fn file_flush(&mut self, handle: i64) -> Result<()> {
        Err(Error::Unsupported)
    }

    // ---- spool: temporary storage for large streamed arguments -------------

    /// Empties the spool before a new streamed argument arrives.
    /// A platform without a spool keeps the default (`Unsupported`); large
    /// arguments that cannot go straight to their target are then refused.
    fn spool_reset(&mut self) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// Appends decoded bytes to the spool.
    fn spool_write(&mut self, data: &[u8]) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// Reads spooled bytes from `offset`; `Ok(0)` at the end.
    fn spool_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        Err(Error::Unsupported)
    }

    // ---- processes --------------------------------------------------------

    /// `guest-exec`: start the process, return its pid. When
    /// `req.input_in_spool` the spool holds its stdin.
    fn exec(&mut self, req: &ExecRequest<'_>) -> Result<i64> {
        Err(Error::Unsupported)
    }

    /// `guest-exec-status`: the state of `pid` (unknown pid: an error).
    fn exec_status(&mut self, pid: i64) -> Result<ExecStatus> {
        Err(Error::Unsupported)
    }

    /// Reads captured output of an exited process from `offset`.
    fn exec_output(
        &mut self,
        pid: i64,
        stream: OutputStream,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        Err(Error::Unsupported)
    }

    /// Forgets an exited process once its final status was sent.
    fn exec_release(&mut self, pid: i64) {}

    // ---- system information -------------------------------------------------

    /// `guest-get-host-name`.
    fn host_name(&mut self, out: &mut dyn FnMut(&HostName<'_>) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-get-timezone`.
    fn timezone(&mut self, out: &mut dyn FnMut(&Timezone<'_>) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-get-osinfo`.
    fn os_info(&mut self, out: &mut dyn FnMut(&OsInfo<'_>) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-get-users`: call `out` once per user.
    fn users(&mut self, out: &mut dyn FnMut(&User<'_>) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-set-user-password`; `password` is the decoded base64.
    fn set_user_password(&mut self, username: &str, password: &[u8], crypted: bool) -> Result<()> {
        Err(Error::Unsupported)
    }

    // ---- hardware -----------------------------------------------------------

    /// `guest-get-vcpus`: call `out` once per logical CPU.
    fn vcpus(&mut self, out: &mut dyn FnMut(&LogicalProcessor) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// One entry of `guest-set-vcpus`: bring CPU `logical_id` on or off line.
    fn set_vcpu(&mut self, logical_id: i64, online: bool) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-get-memory-blocks`: call `out` once per block.
    fn memory_blocks(&mut self, out: &mut dyn FnMut(&MemoryBlock) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// One entry of `guest-set-memory-blocks`.
    fn set_memory_block(&mut self, phys_index: u64, online: bool) -> Result<MemoryBlockResponse> {
        Err(Error::Unsupported)
    }

    /// `guest-get-memory-block-info`: the block size in bytes.
    fn memory_block_size(&mut self) -> Result<u64> {
        Err(Error::Unsupported)
    }

    /// `guest-network-get-interfaces`: call `out` once per interface.
    fn network_interfaces(
        &mut self,
        out: &mut dyn FnMut(&NetworkInterface<'_>) -> Result<()>,
    ) -> Result<()> {
        Err(Error::Unsupported)
    }

    // ---- filesystems --------------------------------------------------------

    /// `guest-get-fsinfo`: call `out` once per filesystem.
    fn fs_info(&mut self, out: &mut dyn FnMut(&FilesystemInfo<'_>) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// Whether filesystems are frozen now (also read once at start-up, so a
    /// restarted agent still knows; protocol notes 4.4).
    fn fsfreeze_status(&mut self) -> Result<FsfreezeStatus> {
        Err(Error::Unsupported)
    }

    /// `guest-fsfreeze-freeze` (`mountpoints` = `None`) and
    /// `guest-fsfreeze-freeze-list`: returns how many were frozen.
    fn fsfreeze_freeze(&mut self, mountpoints: Option<StrList<'_>>) -> Result<i64> {
        Err(Error::Unsupported)
    }

    /// `guest-fsfreeze-thaw`: returns how many were thawed.
    fn fsfreeze_thaw(&mut self) -> Result<i64> {
        Err(Error::Unsupported)
    }

    /// `guest-fstrim`: call `out` once per mount point.
    fn fstrim(
        &mut self,
        minimum: Option<i64>,
        out: &mut dyn FnMut(&TrimResult<'_>) -> Result<()>,
    ) -> Result<()> {
        Err(Error::Unsupported)
    }

    // ---- newer commands (after QEMU 2.10) -------------------------------------

    /// `guest-get-disks`: call `out` once per disk or partition.
    fn disks(&mut self, out: &mut dyn FnMut(&DiskInfo<'_>) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-get-diskstats`: call `out` once per block device.
    fn disk_stats(&mut self, out: &mut dyn FnMut(&DiskStatsInfo<'_>) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-get-cpustats`: call `out` once per CPU.
    fn cpu_stats(&mut self, out: &mut dyn FnMut(&CpuStats) -> Result<()>) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-get-load`.
    fn load_average(&mut self) -> Result<LoadAverage> {
        Err(Error::Unsupported)
    }

    /// `guest-network-get-route`: call `out` once per route.
    fn network_routes(
        &mut self,
        out: &mut dyn FnMut(&NetworkRoute<'_>) -> Result<()>,
    ) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-ssh-get-authorized-keys`: call `out` once per key (in qemu-ga's
    /// reverse file order).
    fn ssh_authorized_keys(
        &mut self,
        username: &str,
        out: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-ssh-add-authorized-keys`.
    fn ssh_add_authorized_keys(
        &mut self,
        username: &str,
        keys: StrList<'_>,
        reset: bool,
    ) -> Result<()> {
        Err(Error::Unsupported)
    }

    /// `guest-ssh-remove-authorized-keys`.
    fn ssh_remove_authorized_keys(&mut self, username: &str, keys: StrList<'_>) -> Result<()> {
        Err(Error::Unsupported)
    }
}
