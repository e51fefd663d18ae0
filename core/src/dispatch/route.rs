//! The one place a command meets its handler.

use embedded_io::Write;

use crate::commands::{
    exec, file, filesystem, hardware, ssh, stats, sync, system, Args, Cx, Outcome,
};
use crate::platform::{Platform, SuspendMode};
use crate::schema::Command::{self, *};

/// Runs `cmd`'s handler.
pub fn route<'a, P: Platform, W: Write>(
    cmd: Command,
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    match cmd {
        GuestSyncDelimited | GuestSync => sync::sync(cx, a),
        GuestPing => sync::ping(cx, a),
        GuestInfo => sync::info(cx, a),
        GuestGetTime => system::get_time(cx, a),
        GuestSetTime => system::set_time(cx, a),
        GuestShutdown => system::shutdown(cx, a),
        GuestFileOpen => file::open(cx, a),
        GuestFileClose => file::close(cx, a),
        GuestFileRead => file::read(cx, a),
        GuestFileWrite => file::write(cx, a),
        GuestFileSeek => file::seek(cx, a),
        GuestFileFlush => file::flush(cx, a),
        GuestFsfreezeStatus => filesystem::status(cx, a),
        GuestFsfreezeFreeze => filesystem::freeze(cx, a),
        GuestFsfreezeFreezeList => filesystem::freeze_list(cx, a),
        GuestFsfreezeThaw => filesystem::thaw(cx, a),
        GuestFstrim => filesystem::fstrim(cx, a),
        GuestSuspendDisk => system::suspend(cx, a, SuspendMode::Disk),
        GuestSuspendRam => system::suspend(cx, a, SuspendMode::Ram),
        GuestSuspendHybrid => system::suspend(cx, a, SuspendMode::Hybrid),
        GuestNetworkGetInterfaces => hardware::interfaces(cx, a),
        GuestGetVcpus => hardware::vcpus(cx, a),
        GuestSetVcpus => hardware::set_vcpus(cx, a),
        GuestGetFsinfo => filesystem::fs_info(cx, a),
        GuestSetUserPassword => system::set_user_password(cx, a),
        GuestGetMemoryBlocks => hardware::memory_blocks(cx, a),
        GuestSetMemoryBlocks => hardware::set_memory_blocks(cx, a),
        GuestGetMemoryBlockInfo => hardware::memory_block_info(cx, a),
        GuestExecStatus => exec::status(cx, a),
        GuestExec => exec::exec(cx, a),
        GuestGetHostName => system::host_name(cx, a),
        GuestGetUsers => system::users(cx, a),
        GuestGetTimezone => system::timezone(cx, a),
        GuestGetOsinfo => system::os_info(cx, a),
        GuestGetDisks => stats::disks(cx, a),
        GuestSshGetAuthorizedKeys => ssh::get(cx, a),
        GuestSshAddAuthorizedKeys => ssh::add(cx, a),
        GuestSshRemoveAuthorizedKeys => ssh::remove(cx, a),
        GuestGetDiskstats => stats::disk_stats(cx, a),
        GuestGetCpustats => stats::cpu_stats(cx, a),
        GuestGetLoad => stats::load(cx, a),
        GuestNetworkGetRoute => stats::routes(cx, a),
    }
}
