//! `guest-fsfreeze-*`, `guest-fstrim` (protocol notes 3.3). A freeze
//! command reports the state it found or made in `cx.fsfreeze`; the
//! dispatcher, which owns the session state, applies it (notes 4.5).

use super::{need, Args, Cx, Done, Outcome};
use crate::platform::FsfreezeStatus;
use crate::platform::Platform;

/// `guest-fsfreeze-status`: `"thawed"` or `"frozen"`.
pub fn status<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let st = need(cx.platform.fsfreeze())?.status()?;
    cx.fsfreeze = Some(st);
    cx.w.str(match st {
        FsfreezeStatus::Frozen => "frozen",
        FsfreezeStatus::Thawed => "thawed",
    });
    Ok(Done::Reply)
}

/// `guest-fsfreeze-freeze`.
pub fn freeze<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let n = need(cx.platform.fsfreeze())?.freeze(None)?;
    frozen(cx, n)
}

/// `guest-fsfreeze-freeze-list`.
pub fn freeze_list<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let mountpoints = a.opt_str_list("mountpoints")?;
    a.finish()?;
    let n = need(cx.platform.fsfreeze())?.freeze(mountpoints)?;
    frozen(cx, n)
}

/// Frozen once at least one filesystem is.
fn frozen<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, n: i64) -> Outcome<'a> {
    cx.fsfreeze = Some(if n > 0 {
        FsfreezeStatus::Frozen
    } else {
        FsfreezeStatus::Thawed
    });
    cx.w.int(n);
    Ok(Done::Reply)
}

/// `guest-fsfreeze-thaw`.
pub fn thaw<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let f = need(cx.platform.fsfreeze())?;
    let r = f.thaw();
    // The platform knows whether its filesystems are thawed now: a thaw
    // that failed before thawing keeps the agent frozen, as upstream does
    // (an error from the hook after the thaw does not).
    cx.fsfreeze = Some(match (f.status(), &r) {
        (Ok(st), _) => st,
        (Err(_), Ok(_)) => FsfreezeStatus::Thawed,
        (Err(_), Err(_)) => FsfreezeStatus::Frozen,
    });
    cx.w.int(r?);
    Ok(Done::Reply)
}

/// `guest-fstrim`: `{"paths": [...]}`.
pub fn fstrim<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let minimum = a.opt_int("minimum")?;
    a.finish()?;
    cx.w.open_object();
    cx.w.key("paths");
    write_list!(cx, fsfreeze(), fstrim(minimum), |w, r| {
        w.open_object();
        w.key("path");
        w.str(r.path);
        w.opt_ints(&[("trimmed", r.trimmed), ("minimum", r.minimum)]);
        w.opt_str("error", r.error);
        w.close_object();
    });
    cx.w.close_object();
    Ok(Done::Reply)
}
