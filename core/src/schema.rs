//! The QGA command set: names and per-command flags, in QAPI schema order.
//!
//! This is the bottom layer that both the dispatcher and the platform traits
//! refer to. `guest-info` lists commands in the **reverse** of this order
//! (protocol notes 3.2), as qemu-ga does.

/// Every command this agent knows, in qemu-ga's schema registration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(missing_docs)] // each variant is the command of the same name
pub enum Command {
    GuestSyncDelimited,
    GuestSync,
    GuestPing,
    GuestGetTime,
    GuestSetTime,
    GuestInfo,
    GuestShutdown,
    GuestFileOpen,
    GuestFileClose,
    GuestFileRead,
    GuestFileWrite,
    GuestFileSeek,
    GuestFileFlush,
    GuestFsfreezeStatus,
    GuestFsfreezeFreeze,
    GuestFsfreezeFreezeList,
    GuestFsfreezeThaw,
    GuestFstrim,
    GuestSuspendDisk,
    GuestSuspendRam,
    GuestSuspendHybrid,
    GuestNetworkGetInterfaces,
    GuestGetVcpus,
    GuestSetVcpus,
    GuestGetDisks,
    GuestGetFsinfo,
    GuestSetUserPassword,
    GuestGetMemoryBlocks,
    GuestSetMemoryBlocks,
    GuestGetMemoryBlockInfo,
    GuestExecStatus,
    GuestExec,
    GuestGetHostName,
    GuestGetUsers,
    GuestGetTimezone,
    GuestGetOsinfo,
    GuestSshGetAuthorizedKeys,
    GuestSshAddAuthorizedKeys,
    GuestSshRemoveAuthorizedKeys,
    GuestGetDiskstats,
    GuestGetCpustats,
    GuestGetLoad,
    GuestNetworkGetRoute,
}

/// The platform capability a command needs (see `platform`): one per QAPI
/// family, the families of `commands/` and of the platform traits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(missing_docs)] // each variant is the platform trait of the same name
pub enum Capability {
    /// Answered by the core itself (sync, ping, info).
    Builtin,
    Clock,
    Power,
    Files,
    Processes,
    SystemInfo,
    Users,
    Fsfreeze,
    Filesystems,
    Network,
    Vcpus,
    MemoryBlocks,
    Stats,
    Ssh,
}

/// Static facts about one command.
#[derive(Clone, Copy, Debug)]
pub struct CommandInfo {
    /// The wire name, e.g. `"guest-file-open"`.
    pub name: &'static str,
    /// The command.
    pub command: Command,
    /// `false` for commands that send no reply on success (shutdown, suspend).
    pub success_response: bool,
    /// May run while filesystems are frozen (protocol notes 4.5).
    pub frozen_safe: bool,
    /// What the platform must offer to run it.
    pub capability: Capability,
    /// The one string argument that may stream past the request buffer.
    pub stream: Option<StreamArg>,
}

/// A string argument that may stream past the request buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamArg {
    /// `guest-file-write`'s `buf-b64`.
    BufB64,
    /// `guest-exec`'s `input-data`.
    InputData,
}

impl StreamArg {
    /// The argument's name.
    pub fn name(self) -> &'static str {
        match self {
            StreamArg::BufB64 => "buf-b64",
            StreamArg::InputData => "input-data",
        }
    }
}

use Capability as C;

const fn info(name: &'static str, command: Command, capability: Capability) -> CommandInfo {
    CommandInfo {
        name,
        command,
        success_response: true,
        frozen_safe: false,
        capability,
        stream: None,
    }
}

const fn no_reply(name: &'static str, command: Command) -> CommandInfo {
    CommandInfo {
        success_response: false,
        ..info(name, command, C::Power)
    }
}

const fn safe_builtin(name: &'static str, command: Command) -> CommandInfo {
    CommandInfo {
        frozen_safe: true,
        ..info(name, command, C::Builtin)
    }
}

const fn frozen_safe(name: &'static str, command: Command) -> CommandInfo {
    CommandInfo {
        frozen_safe: true,
        ..info(name, command, C::Fsfreeze)
    }
}

const fn streams(info: CommandInfo, argument: StreamArg) -> CommandInfo {
    CommandInfo {
        stream: Some(argument),
        ..info
    }
}

use Command::*;

/// The command table, in schema order. One row per command; the dispatcher,
/// `guest-info`, the filters and streaming are all driven from here.
pub static COMMANDS: [CommandInfo; 43] = [
    safe_builtin("guest-sync-delimited", GuestSyncDelimited),
    safe_builtin("guest-sync", GuestSync),
    safe_builtin("guest-ping", GuestPing),
    info("guest-get-time", GuestGetTime, C::Clock),
    info("guest-set-time", GuestSetTime, C::Clock),
    safe_builtin("guest-info", GuestInfo),
    no_reply("guest-shutdown", GuestShutdown),
    info("guest-file-open", GuestFileOpen, C::Files),
    info("guest-file-close", GuestFileClose, C::Files),
    info("guest-file-read", GuestFileRead, C::Files),
    streams(
        info("guest-file-write", GuestFileWrite, C::Files),
        StreamArg::BufB64,
    ),
    info("guest-file-seek", GuestFileSeek, C::Files),
    info("guest-file-flush", GuestFileFlush, C::Files),
    frozen_safe("guest-fsfreeze-status", GuestFsfreezeStatus),
    info("guest-fsfreeze-freeze", GuestFsfreezeFreeze, C::Fsfreeze),
    info(
        "guest-fsfreeze-freeze-list",
        GuestFsfreezeFreezeList,
        C::Fsfreeze,
    ),
    frozen_safe("guest-fsfreeze-thaw", GuestFsfreezeThaw),
    info("guest-fstrim", GuestFstrim, C::Fsfreeze),
    no_reply("guest-suspend-disk", GuestSuspendDisk),
    no_reply("guest-suspend-ram", GuestSuspendRam),
    no_reply("guest-suspend-hybrid", GuestSuspendHybrid),
    info(
        "guest-network-get-interfaces",
        GuestNetworkGetInterfaces,
        C::Network,
    ),
    info("guest-get-vcpus", GuestGetVcpus, C::Vcpus),
    info("guest-set-vcpus", GuestSetVcpus, C::Vcpus),
    info("guest-get-disks", GuestGetDisks, C::Filesystems),
    info("guest-get-fsinfo", GuestGetFsinfo, C::Filesystems),
    info("guest-set-user-password", GuestSetUserPassword, C::Users),
    info(
        "guest-get-memory-blocks",
        GuestGetMemoryBlocks,
        C::MemoryBlocks,
    ),
    info(
        "guest-set-memory-blocks",
        GuestSetMemoryBlocks,
        C::MemoryBlocks,
    ),
    info(
        "guest-get-memory-block-info",
        GuestGetMemoryBlockInfo,
        C::MemoryBlocks,
    ),
    info("guest-exec-status", GuestExecStatus, C::Processes),
    streams(
        info("guest-exec", GuestExec, C::Processes),
        StreamArg::InputData,
    ),
    info("guest-get-host-name", GuestGetHostName, C::SystemInfo),
    info("guest-get-users", GuestGetUsers, C::Users),
    info("guest-get-timezone", GuestGetTimezone, C::SystemInfo),
    info("guest-get-osinfo", GuestGetOsinfo, C::SystemInfo),
    info(
        "guest-ssh-get-authorized-keys",
        GuestSshGetAuthorizedKeys,
        C::Ssh,
    ),
    info(
        "guest-ssh-add-authorized-keys",
        GuestSshAddAuthorizedKeys,
        C::Ssh,
    ),
    info(
        "guest-ssh-remove-authorized-keys",
        GuestSshRemoveAuthorizedKeys,
        C::Ssh,
    ),
    info("guest-get-diskstats", GuestGetDiskstats, C::Stats),
    info("guest-get-cpustats", GuestGetCpustats, C::Stats),
    info("guest-get-load", GuestGetLoad, C::Stats),
    info("guest-network-get-route", GuestNetworkGetRoute, C::Network),
];

/// How many of [`COMMANDS`] are QEMU 2.10's seed set (the rest came later:
/// `guest-get-disks` sits among them in schema order, so count by name).
pub const SEED_COMMANDS: usize = 35;

impl Command {
    /// Looks a command up by its wire name.
    pub fn from_name(name: &[u8]) -> Option<Command> {
        COMMANDS
            .iter()
            .find(|c| c.name.as_bytes() == name)
            .map(|c| c.command)
    }

    /// The table row of this command.
    pub fn info(self) -> &'static CommandInfo {
        // The table is in enum order; `index` is always in range.
        &COMMANDS[self.index()]
    }

    /// Position in [`COMMANDS`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The command whose streamable argument is `key` (raw, as written).
    pub fn streaming(key: &[u8]) -> Option<Command> {
        COMMANDS
            .iter()
            .find(|c| c.stream.is_some_and(|s| s.name().as_bytes() == key))
            .map(|c| c.command)
    }
}

/// A set of commands, one bit each (used for block and allow lists).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CommandSet(u64);

impl CommandSet {
    /// The empty set.
    pub const EMPTY: CommandSet = CommandSet(0);

    /// Adds `cmd`.
    pub fn insert(&mut self, cmd: Command) {
        self.0 |= 1 << cmd.index();
    }

    /// Whether `cmd` is in the set.
    pub fn contains(self, cmd: Command) -> bool {
        self.0 & (1 << cmd.index()) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The commands in both sets.
    pub fn intersection(self, other: CommandSet) -> CommandSet {
        CommandSet(self.0 & other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order_and_has_the_35_seed_commands() {
        let newer = [
            "guest-get-disks",
            "guest-ssh-get-authorized-keys",
            "guest-ssh-add-authorized-keys",
            "guest-ssh-remove-authorized-keys",
            "guest-get-diskstats",
            "guest-get-cpustats",
            "guest-get-load",
            "guest-network-get-route",
        ];
        assert_eq!(
            COMMANDS.iter().filter(|c| !newer.contains(&c.name)).count(),
            SEED_COMMANDS
        );
        for (i, row) in COMMANDS.iter().enumerate() {
            assert_eq!(row.command.index(), i, "{}", row.name);
            assert_eq!(Command::from_name(row.name.as_bytes()), Some(row.command));
        }
    }

    #[test]
    fn frozen_safe_set_matches_qemu_ga() {
        let safe: heapless::Vec<&str, 8> = COMMANDS
            .iter()
            .filter(|c| c.frozen_safe)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            safe.as_slice(),
            [
                "guest-sync-delimited",
                "guest-sync",
                "guest-ping",
                "guest-info",
                "guest-fsfreeze-status",
                "guest-fsfreeze-thaw"
            ]
        );
    }

    #[test]
    fn streamable_arguments_come_from_the_table() {
        assert_eq!(
            Command::streaming(b"buf-b64"),
            Some(Command::GuestFileWrite)
        );
        assert_eq!(Command::streaming(b"input-data"), Some(Command::GuestExec));
        assert_eq!(Command::streaming(b"path"), None);
        let n = COMMANDS.iter().filter(|c| c.stream.is_some()).count();
        assert_eq!(n, 2);
    }

    #[test]
    fn command_set_membership() {
        let mut s = CommandSet::EMPTY;
        assert!(s.is_empty());
        s.insert(Command::GuestGetOsinfo);
        assert!(s.contains(Command::GuestGetOsinfo));
        assert!(!s.contains(Command::GuestPing));
        let mut t = CommandSet::EMPTY;
        t.insert(Command::GuestPing);
        assert!(s.intersection(t).is_empty());
        t.insert(Command::GuestGetOsinfo);
        assert_eq!(s.intersection(t), s);
    }
}
