//! `guest-ssh-get/add/remove-authorized-keys` (protocol notes 3.3). Keys
//! are checked here, the same way on every platform.

use embedded_io::Write;

use super::{Args, Cx, Done, Outcome};
use crate::platform::{Error, Platform, StrList};

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
pub fn get<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let username = a.str("username")?;
    a.finish()?;
    let w = &mut cx.w;
    w.open_object();
    w.key("keys");
    w.open_array();
    cx.platform.ssh_authorized_keys(username, &mut |k| {
        w.element();
        w.str(k);
        Ok(())
    })?;
    w.close_array();
    w.close_object();
    Ok(Done::Reply)
}

/// `guest-ssh-add-authorized-keys`.
pub fn add<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    let username = a.str("username")?;
    let keys = a.opt_str_list("keys")?;
    let keys = keys.ok_or(super::ArgError::Missing(super::Param::new("keys")))?;
    let reset = a.opt_bool("reset")?.unwrap_or(false);
    a.finish()?;
    check_keys(keys)?;
    cx.platform.ssh_add_authorized_keys(username, keys, reset)?;
    cx.empty_object()
}

/// `guest-ssh-remove-authorized-keys`.
pub fn remove<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let username = a.str("username")?;
    let keys = a.opt_str_list("keys")?;
    let keys = keys.ok_or(super::ArgError::Missing(super::Param::new("keys")))?;
    a.finish()?;
    check_keys(keys)?;
    cx.platform.ssh_remove_authorized_keys(username, keys)?;
    cx.empty_object()
}
