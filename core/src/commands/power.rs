//! `guest-shutdown`, `guest-suspend-*`: no reply on success (protocol
//! notes 2.3, 3.3).

use super::{need, Args, CommandError, Cx, Done, Outcome};
use crate::platform::Platform;
use crate::platform::{ShutdownMode, SuspendMode};

/// `guest-shutdown`.
pub fn shutdown<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let mode = a.opt_str("mode")?;
    a.finish()?;
    let mode = match mode {
        None | Some("powerdown") => ShutdownMode::Powerdown,
        Some("halt") => ShutdownMode::Halt,
        Some("reboot") => ShutdownMode::Reboot,
        // qemu-ga's text, without its closing parenthesis (sic).
        Some(_) => {
            return Err(CommandError::Text(
                "mode is invalid (valid values are: halt|powerdown|reboot",
            ))
        }
    };
    need(cx.platform.power())?.shutdown(mode)?;
    Ok(Done::NoReply)
}

/// `guest-suspend-disk`.
pub fn suspend_disk<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    suspend(cx, a, SuspendMode::Disk)
}

/// `guest-suspend-ram`.
pub fn suspend_ram<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    suspend(cx, a, SuspendMode::Ram)
}

/// `guest-suspend-hybrid`.
pub fn suspend_hybrid<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    suspend(cx, a, SuspendMode::Hybrid)
}

fn suspend<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
    mode: SuspendMode,
) -> Outcome<'a> {
    a.finish()?;
    need(cx.platform.power())?.suspend(mode)?;
    Ok(Done::NoReply)
}
