//! `guest-set-user-password` (protocol notes 3.3): the base64 password is
//! decoded into a bounded buffer and checked the way qemu-ga checks it.

use super::payload::decode_raw;
use super::{need, ArgError, Args, CommandError, Cx, Outcome};
use crate::platform::Platform;
use crate::wire::base64::INVALID_TEXT;

/// Longest decoded password accepted.
const PASSWORD_MAX: usize = 512;

/// `guest-set-user-password`.
pub fn set_user_password<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let username = a.str("username")?;
    let raw = a.raw_str("password")?;
    let crypted = a.bool("crypted")?;
    a.finish()?;
    let mut buf = [0u8; PASSWORD_MAX];
    let set = decode_and_set(cx, username, raw, crypted, &mut buf);
    // The decoded password does not outlive the call, whatever the outcome
    // (black_box keeps the compiler from dropping the stores to a buffer
    // about to die).
    buf.fill(0);
    core::hint::black_box(&buf);
    set?;
    cx.empty_object()
}

/// Decodes `raw` into `buf`, checks it and the name as qemu-ga does, and
/// hands both to the platform.
fn decode_and_set<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    username: &str,
    raw: &'a [u8],
    crypted: bool,
    buf: &mut [u8; PASSWORD_MAX],
) -> Result<(), CommandError<'a>> {
    let mut len = 0;
    let ok = decode_raw(raw, &mut |b: &[u8]| {
        let end = len + b.len();
        buf.get_mut(len..end)
            .ok_or(ArgError::TooLarge)?
            .copy_from_slice(b);
        len = end;
        Ok::<(), ArgError<'a>>(())
    })?;
    if !ok {
        return Err(CommandError::Text(INVALID_TEXT));
    }
    if buf[..len].contains(&b'\n') {
        return Err(CommandError::Text("forbidden characters in raw password"));
    }
    if username.contains(['\n', ':']) {
        return Err(CommandError::Text("forbidden characters in username"));
    }
    need(cx.platform.users())?.set_password(username, &buf[..len], crypted)?;
    Ok(())
}
