//! The one place a command meets its handler, and where a streamed
//! argument of a command may go.

use crate::commands::{
    exec, file, fsfreeze, fsinfo, hardware, info, network, power, ssh, sync, time, tz, users, Args,
    CommandError, Cx, Handler, Outcome, Target,
};
use crate::platform::{Error, Platform};
use crate::schema::Capability;
use crate::schema::Command::{self, *};
use crate::wire::envelope::Prefix;

/// `cmd`'s handler, by the family the command table puts it in. Each
/// family's arm is guarded by the platform's capability: for a platform
/// that lacks it, the guard is constant and the family's handlers are not
/// compiled in at all.
pub fn handler<P: Platform + ?Sized>(cmd: Command, p: &mut P) -> Handler<P> {
    let h = match cmd.info().capability {
        Capability::Builtin => Some(builtin(cmd)),
        Capability::Clock if p.clock().is_some() => clock(cmd),
        Capability::Power if p.power().is_some() => power(cmd),
        Capability::Files if p.files().is_some() => files(cmd),
        Capability::Processes if p.processes().is_some() => processes(cmd),
        Capability::SystemInfo if p.system_info().is_some() => system_info(cmd),
        Capability::Users if p.users().is_some() => users(cmd),
        Capability::Fsfreeze if p.fsfreeze().is_some() => fsfreeze(cmd),
        Capability::Filesystems if p.filesystems().is_some() => filesystems(cmd),
        Capability::Network if p.network().is_some() => network(cmd),
        Capability::Vcpus if p.vcpus().is_some() => vcpus(cmd),
        Capability::MemoryBlocks if p.memory_blocks().is_some() => memory_blocks(cmd),
        Capability::Stats if p.stats().is_some() => stats(cmd),
        Capability::Ssh if p.ssh().is_some() => ssh(cmd),
        _ => None,
    };
    h.unwrap_or(unsupported)
}

/// The reply of a command the platform cannot run.
fn unsupported<'a, P: Platform + ?Sized>(_: &mut Cx<'_, P>, _: &mut Args<'a, '_>) -> Outcome<'a> {
    Err(CommandError::Platform(Error::Unsupported))
}

fn builtin<P: Platform + ?Sized>(cmd: Command) -> Handler<P> {
    match cmd {
        GuestPing => sync::ping,
        GuestInfo => sync::info,
        _ => sync::sync,
    }
}

fn clock<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestGetTime => Some(time::get_time),
        GuestSetTime => Some(time::set_time),
        _ => None,
    }
}

fn power<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestShutdown => Some(power::shutdown),
        GuestSuspendDisk => Some(power::suspend_disk),
        GuestSuspendRam => Some(power::suspend_ram),
        GuestSuspendHybrid => Some(power::suspend_hybrid),
        _ => None,
    }
}

fn files<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestFileOpen => Some(file::open),
        GuestFileClose => Some(file::close),
        GuestFileRead => Some(file::read),
        GuestFileWrite => Some(file::write),
        GuestFileSeek => Some(file::seek),
        GuestFileFlush => Some(file::flush),
        _ => None,
    }
}

fn processes<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestExec => Some(exec::exec),
        GuestExecStatus => Some(exec::status),
        _ => None,
    }
}

fn system_info<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestGetHostName => Some(info::host_name),
        GuestGetOsinfo => Some(info::os_info),
        GuestGetTimezone => Some(tz::timezone),
        _ => None,
    }
}

fn users<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestGetUsers => Some(info::users),
        GuestSetUserPassword => Some(users::set_user_password),
        _ => None,
    }
}

fn fsfreeze<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestFsfreezeStatus => Some(fsfreeze::status),
        GuestFsfreezeFreeze => Some(fsfreeze::freeze),
        GuestFsfreezeFreezeList => Some(fsfreeze::freeze_list),
        GuestFsfreezeThaw => Some(fsfreeze::thaw),
        GuestFstrim => Some(fsfreeze::fstrim),
        _ => None,
    }
}

fn filesystems<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestGetFsinfo => Some(fsinfo::fs_info),
        GuestGetDisks => Some(fsinfo::disks),
        _ => None,
    }
}

fn network<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestNetworkGetInterfaces => Some(network::interfaces),
        GuestNetworkGetRoute => Some(network::routes),
        _ => None,
    }
}

fn vcpus<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestGetVcpus => Some(hardware::vcpus),
        GuestSetVcpus => Some(hardware::set_vcpus),
        _ => None,
    }
}

fn memory_blocks<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestGetMemoryBlocks => Some(hardware::memory_blocks),
        GuestSetMemoryBlocks => Some(hardware::set_memory_blocks),
        GuestGetMemoryBlockInfo => Some(hardware::memory_block_info),
        _ => None,
    }
}

fn stats<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestGetCpustats => Some(hardware::cpu_stats),
        GuestGetDiskstats => Some(hardware::disk_stats),
        GuestGetLoad => Some(hardware::load),
        _ => None,
    }
}

fn ssh<P: Platform + ?Sized>(cmd: Command) -> Option<Handler<P>> {
    match cmd {
        GuestSshGetAuthorizedKeys => Some(ssh::get),
        GuestSshAddAuthorizedKeys => Some(ssh::add),
        GuestSshRemoveAuthorizedKeys => Some(ssh::remove),
        _ => None,
    }
}

/// Where the streamed argument of an admitted `cmd` goes: straight into
/// the file for a `guest-file-write` whose handle came first, else into
/// the spool (when the platform has one).
pub fn stream_target<P: Platform + ?Sized>(cmd: Command, prefix: &Prefix<'_>, p: &mut P) -> Target {
    let direct = match (cmd, p.files()) {
        (GuestFileWrite, Some(files)) => file::direct_handle(prefix, files),
        _ => None,
    };
    match direct {
        Some(handle) => Target::File(handle),
        None => spool_target(p),
    }
}

/// The spool, emptied, if the platform has one.
pub fn spool_target<P: Platform + ?Sized>(p: &mut P) -> Target {
    match p.spool().map(|s| s.reset()) {
        Some(Ok(())) => Target::Spool,
        _ => Target::Discard,
    }
}
