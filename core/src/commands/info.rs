//! `guest-get-host-name`, `guest-get-osinfo`, `guest-get-users` (protocol
//! notes 3.3). `guest-get-timezone` lives in `tz`.

use super::{need, reported, Args, Cx, Done, Outcome};
use crate::platform::OsInfo;
use crate::platform::Platform;
use crate::wire::reply::ReplyWriter;

/// `guest-get-host-name`.
pub fn host_name<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    let (w, mut seen) = (&mut cx.w, false);
    need(cx.platform.system_info())?.host_name(&mut |h| {
        seen = true;
        w.open_object();
        w.key("host-name");
        w.str(h.host_name);
        w.close_object();
        Ok(())
    })?;
    reported(seen)
}

/// `guest-get-osinfo`.
pub fn os_info<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let (w, mut seen) = (&mut cx.w, false);
    need(cx.platform.system_info())?.os_info(&mut |o| {
        seen = true;
        write_os_info(w, o);
        Ok(())
    })?;
    reported(seen)
}

fn write_os_info(w: &mut ReplyWriter<'_>, o: &OsInfo<'_>) {
    w.open_object();
    for (key, v) in [
        ("kernel-release", o.kernel_release),
        ("kernel-version", o.kernel_version),
        ("machine", o.machine),
        ("id", o.id),
        ("name", o.name),
        ("pretty-name", o.pretty_name),
        ("version", o.version),
        ("version-id", o.version_id),
        ("variant", o.variant),
        ("variant-id", o.variant_id),
    ] {
        w.opt_str(key, v);
    }
    w.close_object();
}

/// `guest-get-users`.
pub fn users<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, users(), list(), |w, u| {
        w.open_object();
        w.key("user");
        w.str(u.user);
        w.opt_str("domain", u.domain);
        w.key("login-time");
        w.number(u.login_time);
        w.close_object();
    });
    Ok(Done::Reply)
}
