//! `guest-ssh-get/add/remove-authorized-keys` (protocol notes 3.3). Keys
//! are checked here, the same way on every platform.

use super::{need, ArgError, Args, Cx, Done, Outcome, Param};
use crate::platform::Platform;
use crate::platform::{Error, StrList};

/// Rejects keys qemu-ga rejects: starting with `#` or containing a newline.
fn check_keys(keys: StrList<'_>) -> Result<(), Error> {
    match keys.iter().find(|k| k.starts_with('#') || k.contains('\n')) {
        Some(bad) => Err(Error::msg(format_args!(
            "invalid OpenSSH public key: '{bad}'"
        ))),
        None => Ok(()),
    }
}

/// `guest-ssh-get-authorized-keys`: `{"keys": [...]}`.
pub fn get<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let username = a.str("username")?;
    a.finish()?;
    let w = &mut cx.w;
    w.open_object();
    w.key("keys");
    w.open_array();
    need(cx.platform.ssh())?.authorized_keys(username, &mut |k| {
        w.element();
        w.str(k);
        Ok(())
    })?;
    w.close_array();
    w.close_object();
    Ok(Done::Reply)
}

/// The required `keys` list.
fn keys<'a>(a: &mut Args<'a, '_>) -> Result<StrList<'a>, ArgError<'a>> {
    a.opt_str_list("keys")?
        .ok_or(ArgError::Missing(Param::new("keys")))
}

/// `guest-ssh-add-authorized-keys`.
pub fn add<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let username = a.str("username")?;
    let keys = keys(a)?;
    let reset = a.opt_bool("reset")?.unwrap_or(false);
    a.finish()?;
    check_keys(keys)?;
    need(cx.platform.ssh())?.add(username, keys, reset)?;
    cx.empty_object()
}

/// `guest-ssh-remove-authorized-keys`.
pub fn remove<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let username = a.str("username")?;
    let keys = keys(a)?;
    a.finish()?;
    check_keys(keys)?;
    need(cx.platform.ssh())?.remove(username, keys)?;
    cx.empty_object()
}
