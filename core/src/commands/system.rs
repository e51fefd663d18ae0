//! Time, power and system information: `guest-get-time`, `guest-set-time`,
//! `guest-shutdown`, `guest-suspend-*`, `guest-get-host-name`,
//! `guest-get-timezone`, `guest-get-osinfo`, `guest-get-users`,
//! `guest-set-user-password` (protocol notes 3.3).

use embedded_io::Write;

use super::{opt_str, reported, ArgError, Args, CommandError, Cx, Done, Outcome};
use crate::platform::{OsInfo, Platform, ShutdownMode, SuspendMode};

/// `guest-get-time`: nanoseconds since the epoch.
pub fn get_time<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    let t = cx.platform.get_time()?;
    cx.w.int(t);
    Ok(Done::Reply)
}

/// `guest-set-time`.
pub fn set_time<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let time = a.opt_int("time")?;
    a.finish()?;
    cx.platform.set_time(time)?;
    cx.empty_object()
}

/// `guest-shutdown`: no reply on success.
pub fn shutdown<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
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
    cx.platform.shutdown(mode)?;
    Ok(Done::NoReply)
}

/// `guest-suspend-disk`, `-ram`, `-hybrid`: no reply on success.
pub fn suspend<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
    mode: SuspendMode,
) -> Outcome<'a> {
    a.finish()?;
    cx.platform.suspend(mode)?;
    Ok(Done::NoReply)
}

/// `guest-get-host-name`.
pub fn host_name<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    let (w, mut seen) = (&mut cx.w, false);
    cx.platform.host_name(&mut |h| {
        seen = true;
        w.open_object();
        w.key("host-name");
        w.str(h.host_name);
        w.close_object();
        Ok(())
    })?;
    reported(seen)
}

/// `guest-get-timezone`.
pub fn timezone<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    let (w, mut seen) = (&mut cx.w, false);
    cx.platform.timezone(&mut |t| {
        seen = true;
        w.open_object();
        opt_str(w, "zone", t.zone);
        w.key("offset");
        w.int(t.offset);
        w.close_object();
        Ok(())
    })?;
    reported(seen)
}

/// `guest-get-osinfo`.
pub fn os_info<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    let (w, mut seen) = (&mut cx.w, false);
    cx.platform.os_info(&mut |o| {
        seen = true;
        write_os_info(w, o);
        Ok(())
    })?;
    reported(seen)
}

fn write_os_info<W: Write>(w: &mut crate::wire::reply::ReplyWriter<'_, W>, o: &OsInfo<'_>) {
    w.open_object();
    opt_str(w, "kernel-release", o.kernel_release);
    opt_str(w, "kernel-version", o.kernel_version);
    opt_str(w, "machine", o.machine);
    opt_str(w, "id", o.id);
    opt_str(w, "name", o.name);
    opt_str(w, "pretty-name", o.pretty_name);
    opt_str(w, "version", o.version);
    opt_str(w, "version-id", o.version_id);
    opt_str(w, "variant", o.variant);
    opt_str(w, "variant-id", o.variant_id);
    w.close_object();
}

/// `guest-get-users`.
pub fn users<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, users(), |w, u| {
        w.open_object();
        w.key("user");
        w.str(u.user);
        opt_str(w, "domain", u.domain);
        w.key("login-time");
        w.number(u.login_time);
        w.close_object();
    });
    Ok(Done::Reply)
}

/// `guest-set-user-password`: the base64 password is decoded into the arena.
pub fn set_user_password<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let username = a.str("username")?;
    let raw = a.raw_str("password")?;
    let crypted = a.bool("crypted")?;
    a.finish()?;
    let mut buf = [0u8; 512];
    let mut len = 0;
    let ok = super::payload::decode_raw(raw, &mut |b: &[u8]| {
        let end = len + b.len();
        buf.get_mut(len..end)
            .ok_or(ArgError::TooLarge)?
            .copy_from_slice(b);
        len = end;
        Ok::<(), ArgError<'a>>(())
    })?;
    if !ok {
        return Err(CommandError::Text(crate::wire::base64::INVALID_TEXT));
    }
    if buf[..len].contains(&b'\n') {
        return Err(CommandError::Text("forbidden characters in raw password"));
    }
    if username.contains(['\n', ':']) {
        return Err(CommandError::Text("forbidden characters in username"));
    }
    cx.platform
        .set_user_password(username, &buf[..len], crypted)?;
    cx.empty_object()
}
