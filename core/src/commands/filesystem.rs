//! `guest-fsfreeze-*`, `guest-fstrim`, `guest-get-fsinfo` (protocol notes
//! 3.3). Freezing changes the command filter: while frozen only the
//! frozen-safe commands run (notes 4.5).

use embedded_io::Write;

use super::{opt_int, opt_str, Args, Cx, Done, Outcome};
use crate::platform::{DiskAddress, FilesystemInfo, FsfreezeStatus, Platform};
use crate::wire::reply::ReplyWriter;

/// `guest-fsfreeze-status`: `"thawed"` or `"frozen"`.
pub fn status<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    let st = cx.platform.fsfreeze_status()?;
    cx.filter.frozen = st == FsfreezeStatus::Frozen;
    cx.w.str(if cx.filter.frozen { "frozen" } else { "thawed" });
    Ok(Done::Reply)
}

/// `guest-fsfreeze-freeze`.
pub fn freeze<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    let n = cx.platform.fsfreeze_freeze(None)?;
    cx.filter.frozen = n > 0;
    cx.w.int(n);
    Ok(Done::Reply)
}

/// `guest-fsfreeze-freeze-list`.
pub fn freeze_list<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let mountpoints = a.opt_str_list("mountpoints")?;
    a.finish()?;
    let n = cx.platform.fsfreeze_freeze(mountpoints)?;
    cx.filter.frozen = n > 0;
    cx.w.int(n);
    Ok(Done::Reply)
}

/// `guest-fsfreeze-thaw`.
pub fn thaw<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let r = cx.platform.fsfreeze_thaw();
    // Whatever the hook said, the filesystems are thawed now.
    cx.filter.frozen = false;
    cx.w.int(r?);
    Ok(Done::Reply)
}

/// `guest-fstrim`: `{"paths": [...]}`.
pub fn fstrim<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let minimum = a.opt_int("minimum")?;
    a.finish()?;
    cx.w.open_object();
    cx.w.key("paths");
    write_list!(cx, fstrim(minimum), |w, r| {
        w.open_object();
        w.key("path");
        w.str(r.path);
        opt_int(w, "trimmed", r.trimmed);
        opt_int(w, "minimum", r.minimum);
        opt_str(w, "error", r.error);
        w.close_object();
    });
    cx.w.close_object();
    Ok(Done::Reply)
}

/// `guest-get-fsinfo`.
pub fn fs_info<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, fs_info(), |w, f| {
        write_fs(w, f);
    });
    Ok(Done::Reply)
}

fn write_fs<W: Write>(w: &mut ReplyWriter<'_, W>, f: &FilesystemInfo<'_>) {
    w.open_object();
    w.key("name");
    w.str(f.name);
    w.key("mountpoint");
    w.str(f.mountpoint);
    w.key("type");
    w.str(f.fs_type);
    for (key, v) in [
        ("used-bytes", f.used_bytes),
        ("total-bytes", f.total_bytes),
        ("total-bytes-privileged", f.total_bytes_privileged),
    ] {
        if let Some(v) = v {
            w.key(key);
            w.uint(v);
        }
    }
    w.key("disk");
    w.open_array();
    for d in f.disk {
        w.element();
        write_disk(w, d);
    }
    w.close_array();
    w.close_object();
}

/// Writes a `GuestDiskAddress`.
pub fn write_disk<W: Write>(w: &mut ReplyWriter<'_, W>, d: &DiskAddress<'_>) {
    w.open_object();
    w.key("pci-controller");
    w.open_object();
    let pci = d.pci_controller;
    for (key, v) in [
        ("domain", pci.domain),
        ("bus", pci.bus),
        ("slot", pci.slot),
        ("function", pci.function),
    ] {
        w.key(key);
        w.int(v);
    }
    w.close_object();
    w.key("bus-type");
    w.str(d.bus_type);
    for (key, v) in [("bus", d.bus), ("target", d.target), ("unit", d.unit)] {
        w.key(key);
        w.int(v);
    }
    opt_str(w, "serial", d.serial);
    opt_str(w, "dev", d.dev);
    if let Some(c) = d.ccw_address {
        w.key("ccw-address");
        w.open_object();
        for (key, v) in [
            ("cssid", c.cssid),
            ("ssid", c.ssid),
            ("subchno", c.subchno),
            ("devno", c.devno),
        ] {
            w.key(key);
            w.int(v);
        }
        w.close_object();
    }
    w.close_object();
}
