//! `guest-get-timezone` (protocol notes 3.3).

use super::{need, reported, Args, Cx, Outcome};
use crate::platform::Platform;

/// `guest-get-timezone`.
pub fn timezone<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let (w, mut seen) = (&mut cx.w, false);
    need(cx.platform.system_info())?.timezone(&mut |t| {
        seen = true;
        w.open_object();
        w.opt_str("zone", t.zone);
        w.ints(&[("offset", t.offset)]);
        w.close_object();
        Ok(())
    })?;
    reported(seen)
}
