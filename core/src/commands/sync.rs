//! `guest-sync`, `guest-sync-delimited`, `guest-ping`, `guest-info`: the
//! built-in commands every platform has (protocol notes 1.10, 3.2).

use embedded_io::Write;

use super::{Args, Cx, Done, Outcome};
use crate::platform::Platform;
use crate::schema::{Command, COMMANDS};

/// `guest-sync` and `guest-sync-delimited`: echo `id` (the 0xFF of the
/// delimited form is written by the dispatcher, only on success).
pub fn sync<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let id = a.int("id")?;
    a.finish()?;
    cx.w.int(id);
    Ok(Done::Reply)
}

/// `guest-ping`.
pub fn ping<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    cx.empty_object()
}

/// Whether `cmd` is enabled now: allowed by the filter and implemented.
pub fn enabled<P: Platform>(cmd: Command, filter: &super::Filter, p: &P) -> bool {
    filter.allows(cmd) && (cmd.info().builtin || p.supports(cmd))
}

/// `guest-info`: the version and every command, last schema entry first.
pub fn info<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let w = &mut cx.w;
    w.open_object();
    w.key("version");
    w.str(cx.platform.version());
    w.key("supported_commands");
    w.open_array();
    for c in COMMANDS.iter().rev() {
        w.element();
        w.open_object();
        w.key("enabled");
        w.bool(enabled(c.command, cx.filter, cx.platform));
        w.key("name");
        w.str(c.name);
        w.key("success-response");
        w.bool(c.success_response);
        w.close_object();
    }
    w.close_array();
    w.close_object();
    Ok(Done::Reply)
}
