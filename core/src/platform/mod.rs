//! The platform: what an embedder implements so the core can do real work.
//!
//! A platform offers **capabilities**, one trait per QAPI family (the same
//! families as `core/src/commands/` and `std-shim/src/linux/`): [`Clock`],
//! [`Files`], [`Processes`], ... Each trait's methods are all required, and
//! [`Platform`] has one accessor per trait that defaults to `None`. An
//! embedder implements the traits its system can do and returns `Some(self)`
//! from their accessors; which commands it supports is derived from that
//! ([`supports`]), so `guest-info` reports `enabled` honestly and no list
//! can drift from the code.
//!
//! The platform knows no JSON. Arguments arrive decoded (`&str`, numbers,
//! enums); replies with strings or lists are handed back through a callback
//! (`out`) that borrows the platform's own buffers, so nothing is copied or
//! allocated. Call `out` only after the fallible work is done: the reply is
//! committed to the channel once it no longer fits the reply buffer, and an
//! error after that point can no longer replace it.
//!
//! Large payloads stream: [`Files::read`]/[`Files::write`] and
//! [`Processes::output`] are called repeatedly with small buffers, and big
//! base64 arguments (`buf-b64`, `input-data`) can be decoded into the
//! platform's [`Spool`] while they arrive.

mod error;
pub mod memfs;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
pub use memfs::MemFs;
mod types;

pub use error::{Error, Message, Result, UNSUPPORTED_TEXT};
pub use types::*;

use crate::schema::{Capability, Command, CommandSet, COMMANDS};

/// Inside `impl Platform for X { ... }`: the accessors of the capabilities
/// `X` implements, each returning `Some(self)`:
/// `qga_core::offer!(clock: Clock, files: Files);`, or `offer!(all)` for a
/// platform with every capability.
#[macro_export]
macro_rules! offer {
    (all) => {
        $crate::offer!(
            clock: Clock,
            power: Power,
            files: Files,
            spool: Spool,
            processes: Processes,
            system_info: SystemInfo,
            users: Users,
            fsfreeze: Fsfreeze,
            filesystems: Filesystems,
            network: Network,
            vcpus: Vcpus,
            memory_blocks: MemoryBlocks,
            stats: Stats,
            ssh: Ssh,
        );
    };
    ($($accessor:ident: $capability:ident),* $(,)?) => {
        $(
            fn $accessor(&mut self) -> Option<&mut dyn $crate::platform::$capability> {
                Some(self)
            }
        )*
    };
}

/// What a guest system offers the agent: one accessor per capability.
pub trait Platform {
    /// The `version` reported by `guest-info`.
    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    /// `guest-get-time`, `guest-set-time`.
    fn clock(&mut self) -> Option<&mut dyn Clock> {
        None
    }

    /// `guest-shutdown`, `guest-suspend-*`.
    fn power(&mut self) -> Option<&mut dyn Power> {
        None
    }

    /// `guest-file-*`.
    fn files(&mut self) -> Option<&mut dyn Files> {
        None
    }

    /// Temporary storage for large streamed arguments (no command of its own).
    fn spool(&mut self) -> Option<&mut dyn Spool> {
        None
    }

    /// `guest-exec`, `guest-exec-status`.
    fn processes(&mut self) -> Option<&mut dyn Processes> {
        None
    }

    /// `guest-get-host-name`, `guest-get-timezone`, `guest-get-osinfo`.
    fn system_info(&mut self) -> Option<&mut dyn SystemInfo> {
        None
    }

    /// `guest-get-users`, `guest-set-user-password`.
    fn users(&mut self) -> Option<&mut dyn Users> {
        None
    }

    /// `guest-fsfreeze-*`, `guest-fstrim`.
    fn fsfreeze(&mut self) -> Option<&mut dyn Fsfreeze> {
        None
    }

    /// `guest-get-fsinfo`, `guest-get-disks`.
    fn filesystems(&mut self) -> Option<&mut dyn Filesystems> {
        None
    }

    /// `guest-network-get-interfaces`, `guest-network-get-route`.
    fn network(&mut self) -> Option<&mut dyn Network> {
        None
    }

    /// `guest-get-vcpus`, `guest-set-vcpus`.
    fn vcpus(&mut self) -> Option<&mut dyn Vcpus> {
        None
    }

    /// The `guest-*-memory-block*` commands.
    fn memory_blocks(&mut self) -> Option<&mut dyn MemoryBlocks> {
        None
    }

    /// `guest-get-cpustats`, `guest-get-diskstats`, `guest-get-load`.
    fn stats(&mut self) -> Option<&mut dyn Stats> {
        None
    }

    /// `guest-ssh-*-authorized-keys`.
    fn ssh(&mut self) -> Option<&mut dyn Ssh> {
        None
    }
}

/// Whether `p` offers `cap` (built-in commands need nothing).
pub fn has<P: Platform + ?Sized>(p: &mut P, cap: Capability) -> bool {
    match cap {
        Capability::Builtin => true,
        Capability::Clock => p.clock().is_some(),
        Capability::Power => p.power().is_some(),
        Capability::Files => p.files().is_some(),
        Capability::Processes => p.processes().is_some(),
        Capability::SystemInfo => p.system_info().is_some(),
        Capability::Users => p.users().is_some(),
        Capability::Fsfreeze => p.fsfreeze().is_some(),
        Capability::Filesystems => p.filesystems().is_some(),
        Capability::Network => p.network().is_some(),
        Capability::Vcpus => p.vcpus().is_some(),
        Capability::MemoryBlocks => p.memory_blocks().is_some(),
        Capability::Stats => p.stats().is_some(),
        Capability::Ssh => p.ssh().is_some(),
    }
}

/// Whether `p` implements `cmd`: derived from its capabilities.
pub fn supports<P: Platform + ?Sized>(p: &mut P, cmd: Command) -> bool {
    has(p, cmd.info().capability)
}

/// Every command `p` implements (built-ins included).
pub fn supported<P: Platform + ?Sized>(p: &mut P) -> CommandSet {
    let mut set = CommandSet::EMPTY;
    for c in COMMANDS.iter().filter(|c| has(p, c.capability)) {
        set.insert(c.command);
    }
    set
}

/// `guest-get-time`, `guest-set-time`.
pub trait Clock {
    /// Nanoseconds since the epoch.
    fn get_time(&mut self) -> Result<i64>;
    /// Sets the clock to `time_ns`, or from the hardware clock when `None`.
    fn set_time(&mut self, time_ns: Option<i64>) -> Result<()>;
}

/// `guest-shutdown`, `guest-suspend-*`. Returning `Ok` sends no reply
/// (success-response false).
pub trait Power {
    /// `guest-shutdown`.
    fn shutdown(&mut self, mode: ShutdownMode) -> Result<()>;
    /// `guest-suspend-disk/-ram/-hybrid`.
    fn suspend(&mut self, mode: SuspendMode) -> Result<()>;
}

/// `guest-file-*`: files behind integer handles.
pub trait Files {
    /// `guest-file-open`: returns the new handle.
    fn open(&mut self, path: &str, mode: OpenMode) -> Result<i64>;
    /// `guest-file-close`.
    fn close(&mut self, handle: i64) -> Result<()>;
    /// Whether `handle` is open: `Ok`, or qemu-ga's "handle not found"
    /// error. No I/O: commands check the handle with it before anything.
    fn check(&mut self, handle: i64) -> Result<()>;
    /// One step of `guest-file-read`: fill `buf` as far as possible;
    /// `Ok(0)` means end of file.
    fn read(&mut self, handle: i64, buf: &mut [u8]) -> Result<usize>;
    /// One step of `guest-file-write`: write `data`, return how much was
    /// written (less only on a short write that is not an error).
    fn write(&mut self, handle: i64, data: &[u8]) -> Result<usize>;
    /// `guest-file-seek`: returns the new position.
    fn seek(&mut self, handle: i64, offset: i64, whence: Whence) -> Result<i64>;
    /// `guest-file-flush`.
    fn flush(&mut self, handle: i64) -> Result<()>;
}

/// Temporary storage for a large streamed argument. Without a spool, large
/// arguments that cannot go straight to their target are refused.
pub trait Spool {
    /// Empties the spool before a new streamed argument arrives.
    fn reset(&mut self) -> Result<()>;
    /// Appends decoded bytes.
    fn write(&mut self, data: &[u8]) -> Result<()>;
    /// Reads spooled bytes from `offset`; `Ok(0)` at the end.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize>;
    /// The request that used the spool has ended (replied to, success or
    /// error): the platform may truncate it.
    fn release(&mut self) {}
}

/// `guest-exec`, `guest-exec-status`.
pub trait Processes {
    /// `guest-exec`: start the process, return its pid. When
    /// `req.input_in_spool` the spool holds its stdin.
    fn exec(&mut self, req: &ExecRequest<'_>) -> Result<i64>;
    /// `guest-exec-status`: the state of `pid` (unknown pid: an error).
    fn status(&mut self, pid: i64) -> Result<ExecStatus>;
    /// Reads captured output of an exited process from `offset`.
    fn output(
        &mut self,
        pid: i64,
        stream: OutputStream,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize>;
    /// Forgets an exited process once its final status was sent.
    fn release(&mut self, pid: i64);
}

/// `guest-get-host-name`, `guest-get-timezone`, `guest-get-osinfo`.
pub trait SystemInfo {
    /// `guest-get-host-name`.
    fn host_name(&mut self, out: &mut dyn FnMut(&HostName<'_>) -> Result<()>) -> Result<()>;
    /// `guest-get-timezone`.
    fn timezone(&mut self, out: &mut dyn FnMut(&Timezone<'_>) -> Result<()>) -> Result<()>;
    /// `guest-get-osinfo`.
    fn os_info(&mut self, out: &mut dyn FnMut(&OsInfo<'_>) -> Result<()>) -> Result<()>;
}

/// `guest-get-users`, `guest-set-user-password`.
pub trait Users {
    /// `guest-get-users`: call `out` once per user.
    fn list(&mut self, out: &mut dyn FnMut(&User<'_>) -> Result<()>) -> Result<()>;
    /// `guest-set-user-password`; `password` is the decoded base64.
    fn set_password(&mut self, username: &str, password: &[u8], crypted: bool) -> Result<()>;
}

/// `guest-fsfreeze-*`, `guest-fstrim`.
pub trait Fsfreeze {
    /// Whether filesystems are frozen now (also read once at start-up, so a
    /// restarted agent still knows; protocol notes 4.4).
    fn status(&mut self) -> Result<FsfreezeStatus>;
    /// `guest-fsfreeze-freeze` (`mountpoints` = `None`) and
    /// `guest-fsfreeze-freeze-list`: returns how many were frozen.
    fn freeze(&mut self, mountpoints: Option<StrList<'_>>) -> Result<i64>;
    /// `guest-fsfreeze-thaw`: returns how many were thawed.
    fn thaw(&mut self) -> Result<i64>;
    /// `guest-fstrim`: call `out` once per mount point.
    fn fstrim(
        &mut self,
        minimum: Option<i64>,
        out: &mut dyn FnMut(&TrimResult<'_>) -> Result<()>,
    ) -> Result<()>;
}

/// `guest-get-fsinfo`, `guest-get-disks`.
pub trait Filesystems {
    /// `guest-get-fsinfo`: call `out` once per filesystem.
    fn fs_info(&mut self, out: &mut dyn FnMut(&FilesystemInfo<'_>) -> Result<()>) -> Result<()>;
    /// `guest-get-disks`: call `out` once per disk or partition.
    fn disks(&mut self, out: &mut dyn FnMut(&DiskInfo<'_>) -> Result<()>) -> Result<()>;
}

/// `guest-network-get-interfaces`, `guest-network-get-route`.
pub trait Network {
    /// Call `out` once per interface.
    fn interfaces(
        &mut self,
        out: &mut dyn FnMut(&NetworkInterface<'_>) -> Result<()>,
    ) -> Result<()>;
    /// Call `out` once per route.
    fn routes(&mut self, out: &mut dyn FnMut(&NetworkRoute<'_>) -> Result<()>) -> Result<()>;
}

/// `guest-get-vcpus`, `guest-set-vcpus`.
pub trait Vcpus {
    /// Call `out` once per logical CPU.
    fn list(&mut self, out: &mut dyn FnMut(&LogicalProcessor) -> Result<()>) -> Result<()>;
    /// One entry of `guest-set-vcpus`: bring CPU `logical_id` on or off line.
    fn set(&mut self, logical_id: i64, online: bool) -> Result<()>;
}

/// `guest-get-memory-blocks`, `guest-set-memory-blocks`,
/// `guest-get-memory-block-info`.
pub trait MemoryBlocks {
    /// Call `out` once per block.
    fn list(&mut self, out: &mut dyn FnMut(&MemoryBlock) -> Result<()>) -> Result<()>;
    /// One entry of `guest-set-memory-blocks`.
    fn set(&mut self, phys_index: u64, online: bool) -> Result<MemoryBlockResponse>;
    /// The block size in bytes.
    fn block_size(&mut self) -> Result<u64>;
}

/// `guest-get-cpustats`, `guest-get-diskstats`, `guest-get-load`.
pub trait Stats {
    /// Call `out` once per CPU.
    fn cpu_stats(&mut self, out: &mut dyn FnMut(&CpuStats) -> Result<()>) -> Result<()>;
    /// Call `out` once per block device.
    fn disk_stats(&mut self, out: &mut dyn FnMut(&DiskStatsInfo<'_>) -> Result<()>) -> Result<()>;
    /// `guest-get-load`.
    fn load_average(&mut self) -> Result<LoadAverage>;
}

/// `guest-ssh-get/add/remove-authorized-keys`.
pub trait Ssh {
    /// Call `out` once per key (in qemu-ga's reverse file order).
    fn authorized_keys(
        &mut self,
        username: &str,
        out: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<()>;
    /// `guest-ssh-add-authorized-keys`.
    fn add(&mut self, username: &str, keys: StrList<'_>, reset: bool) -> Result<()>;
    /// `guest-ssh-remove-authorized-keys`.
    fn remove(&mut self, username: &str, keys: StrList<'_>) -> Result<()>;
}
