//! `guest-get-time`, `guest-set-time` (protocol notes 3.3).

use super::{need, Args, Cx, Done, Outcome};
use crate::platform::Platform;

/// `guest-get-time`: nanoseconds since the epoch.
pub fn get_time<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let t = need(cx.platform.clock())?.get_time()?;
    cx.w.int(t);
    Ok(Done::Reply)
}

/// `guest-set-time`.
pub fn set_time<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let time = a.opt_int("time")?;
    a.finish()?;
    need(cx.platform.clock())?.set_time(time)?;
    cx.empty_object()
}
