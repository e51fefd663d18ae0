//! `guest-sync`, `guest-sync-delimited`, `guest-ping`, `guest-info`: the
//! built-in commands every platform has (protocol notes 1.10, 3.2).

use super::{Args, Cx, Done, Outcome};
use crate::platform::Platform;
use crate::schema::COMMANDS;

/// `guest-sync` and `guest-sync-delimited`: echo `id` (the 0xFF of the
/// delimited form is written by the dispatcher, only on success).
pub fn sync<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let id = a.int("id")?;
    a.finish()?;
    cx.w.int(id);
    Ok(Done::Reply)
}

/// `guest-ping`.
pub fn ping<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    cx.empty_object()
}

/// `guest-info`: the version and every command, last schema entry first.
pub fn info<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
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
        w.bool(cx.enabled.contains(c.command));
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
