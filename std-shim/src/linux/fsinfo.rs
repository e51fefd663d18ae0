//! `guest-get-fsinfo` and `guest-get-disks` (protocol notes 3.3) from
//! mountinfo, statvfs and sysfs, without libudev: the device node is
//! `/dev/<sysfs name>`, the disk address comes from [`disk_address`], the
//! SMART log of NVMe disks from [`nvme`].
//!
//! [`disk_address`]: super::disk_address
//! [`nvme`]: super::nvme

use std::io::ErrorKind;
use std::path::Path;

use qga_core::platform::{DiskAddress, DiskInfo, Error, FilesystemInfo, NvmeSmart, Result};

use super::disk_address::{basename, real_disk, Disk};
use super::mounts::{mount_list, Mount};
use super::root::Root;
use super::sys::os_errno;
use super::{nvme, udev};

// ---- guest-get-fsinfo ---------------------------------------------------------

/// One filesystem, fully gathered before any of it is replied.
struct Fs<'m> {
    mount: &'m Mount,
    name: String,
    disks: Vec<Disk>,
    /// used, total, total-privileged.
    sizes: Option<(u64, u64, u64)>,
}

/// `guest-get-fsinfo`: every mount of the mount list, in reverse order.
pub(crate) fn fs_info(
    root: &Root,
    out: &mut dyn FnMut(&FilesystemInfo<'_>) -> Result<()>,
) -> Result<()> {
    let mounts = mount_list(root)?;
    let all = mounts
        .iter()
        .rev()
        .map(|m| gather(root, m))
        .collect::<Result<Vec<_>>>()?;
    for fs in &all {
        let disks: Vec<DiskAddress<'_>> = fs.disks.iter().map(Disk::address).collect();
        out(&FilesystemInfo {
            name: &fs.name,
            mountpoint: &fs.mount.dir,
            fs_type: &fs.mount.fs_type,
            used_bytes: fs.sizes.map(|s| s.0),
            total_bytes: fs.sizes.map(|s| s.1),
            total_bytes_privileged: fs.sizes.map(|s| s.2),
            disk: &disks,
        })?;
    }
    Ok(())
}

fn gather<'m>(root: &Root, m: &'m Mount) -> Result<Fs<'m>> {
    let node = format!("{}:{}", m.major, m.minor);
    let link = format!("/sys/dev/block/{node}");
    let mut disks = Vec::new();
    let name = match std::fs::canonicalize(root.path(&link)) {
        Ok(devpath) => {
            device_disks(root, &devpath, 0, &mut disks);
            basename(&devpath)
        }
        // A device sysfs does not show (a container's view of the host's
        // disks): the filesystem is still listed, named by its numbers
        // (qemu-ga 7.1+).
        Err(e) if e.kind() == ErrorKind::NotFound => node,
        Err(e) => {
            return Err(Error::errno(
                os_errno(&e),
                format_args!("realpath(\"{link}\")"),
            ))
        }
    };
    Ok(Fs {
        mount: m,
        name,
        disks,
        sizes: sizes(&m.path),
    })
}

/// statvfs: used = (blocks - bfree) * frsize, total = (used + bavail) *
/// frsize (what unprivileged users see), privileged = blocks * frsize.
fn sizes(dir: &Path) -> Option<(u64, u64, u64)> {
    let s = rustix::fs::statvfs(dir).ok()?;
    let used = s.f_blocks.saturating_sub(s.f_bfree);
    let total = used.saturating_add(s.f_bavail);
    Some((
        used.saturating_mul(s.f_frsize),
        total.saturating_mul(s.f_frsize),
        s.f_blocks.saturating_mul(s.f_frsize),
    ))
}

/// The disks under the sysfs device `devpath`: virtual devices (dm, md)
/// recurse into `slaves/`, real ones give one address.
fn device_disks(root: &Root, devpath: &Path, depth: u32, disks: &mut Vec<Disk>) {
    if !devpath
        .to_string_lossy()
        .contains("/devices/virtual/block/")
    {
        disks.push(real_disk(root, devpath));
        return;
    }
    let Ok(slaves) = std::fs::read_dir(devpath.join("slaves")) else {
        return;
    };
    for s in slaves.flatten() {
        if let (Ok(p), true) = (std::fs::canonicalize(s.path()), depth < 8) {
            device_disks(root, &p, depth + 1, disks);
        }
    }
}

// ---- guest-get-disks ----------------------------------------------------------

/// One `guest-get-disks` entry being built.
struct Entry {
    name: String,
    partition: bool,
    deps: Option<Vec<String>>,
    address: Option<Disk>,
    alias: Option<String>,
    smart: Option<NvmeSmart>,
}

/// `guest-get-disks`: every /sys/block device with a non-zero size and its
/// partitions, in qemu-ga's (prepended, i.e. reversed) order.
pub(crate) fn disks(root: &Root, out: &mut dyn FnMut(&DiskInfo<'_>) -> Result<()>) -> Result<()> {
    let dir = std::fs::read_dir(root.path("/sys/block")).map_err(|e| {
        Error::errno(
            os_errno(&e),
            format_args!("Can't open directory \"/sys/block\""),
        )
    })?;
    let mut entries = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        disk_entries(root, &e.path(), &name, &mut entries);
    }
    for e in entries.iter().rev() {
        let deps: Option<Vec<&str>> = e
            .deps
            .as_ref()
            .map(|d| d.iter().map(String::as_str).collect());
        out(&DiskInfo {
            name: &e.name,
            partition: e.partition,
            dependencies: deps.as_deref(),
            address: e.address.as_ref().map(Disk::address),
            alias: e.alias.as_deref(),
            smart: e.smart,
        })?;
    }
    Ok(())
}

/// Pushes the disk's partitions, then the disk (the caller reverses).
fn disk_entries(root: &Root, link: &Path, name: &str, entries: &mut Vec<Entry>) {
    let size = std::fs::read_to_string(link.join("size")).unwrap_or_default();
    if size.trim().is_empty() || size.trim() == "0" {
        return;
    }
    let dev = format!("/dev/{name}");
    let real = std::fs::canonicalize(link).unwrap_or_else(|_| link.to_owned());
    let mut parts: Vec<String> = std::fs::read_dir(&real)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|p| p.starts_with(name) && real.join(p).join("partition").exists())
        .collect();
    parts.sort();
    entries.extend(parts.into_iter().map(|p| Entry {
        name: format!("/dev/{p}"),
        partition: true,
        deps: Some(vec![dev.clone()]),
        address: None,
        alias: None,
        smart: None,
    }));
    let is_virtual = real.to_string_lossy().contains("/devices/virtual/");
    let address = (!is_virtual).then(|| real_disk(root, &real));
    entries.push(Entry {
        smart: smart(root, &dev, &real, address.as_ref()),
        name: dev,
        partition: false,
        deps: slaves(&real),
        address,
        alias: std::fs::read_to_string(real.join("dm/name"))
            .ok()
            .map(|s| s.trim().to_owned()),
    });
}

/// The SMART log of a disk on the NVMe bus (upstream asks no other kind).
fn smart(root: &Root, dev: &str, syspath: &Path, address: Option<&Disk>) -> Option<NvmeSmart> {
    if address?.bus_type != "nvme" {
        return None;
    }
    nvme::smart(&root.path(dev), udev::devnum(syspath)?)
}

/// Device nodes of `slaves/`, when the directory exists.
fn slaves(devpath: &Path) -> Option<Vec<String>> {
    let dir = std::fs::read_dir(devpath.join("slaves")).ok()?;
    let mut v: Vec<String> = dir
        .flatten()
        .map(|e| format!("/dev/{}", e.file_name().to_string_lossy()))
        .collect();
    v.sort();
    Some(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::mounts::tests::write_mountinfo;
    use super::super::testutil::{link, put, temp_dir};
    use super::*;
    use std::path::PathBuf;

    const VDA: &str = "sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda";
    const SDA: &str =
        "sys/devices/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:3/0:0:3:7/block/sda";
    const DM: &str = "sys/devices/virtual/block/dm-0";

    /// A sysfs with virtio-blk vda (+vda1), virtio-scsi sda, and dm-0 on vda1,
    /// mounted at / (vda1) and /home (dm-0).
    fn tree() -> PathBuf {
        let d = temp_dir("sysfs");
        put(&d, &format!("{VDA}/size"), "2048\n");
        put(&d, &format!("{VDA}/serial"), "SER-1\n");
        put(&d, &format!("{VDA}/vda1/partition"), "1\n");
        put(&d, &format!("{VDA}/vda1/size"), "1024\n");
        put(&d, &format!("{SDA}/size"), "4096\n");
        put(&d, &format!("{DM}/size"), "100\n");
        put(&d, &format!("{DM}/dm/name"), "vg-home\n");
        link(
            &d,
            "sys/devices/pci0000:00/0000:00:04.0/driver",
            "../../../bus/pci/drivers/virtio-pci",
        );
        link(
            &d,
            "sys/devices/pci0000:00/0000:00:05.0/driver",
            "../../../bus/pci/drivers/virtio-pci",
        );
        link(
            &d,
            &format!("{DM}/slaves/vda1"),
            &format!("{}/{VDA}/vda1", d.display()),
        );
        link(
            &d,
            "sys/block/vda",
            &format!("../{}", VDA.trim_start_matches("sys/")),
        );
        link(
            &d,
            "sys/block/sda",
            &format!("../{}", SDA.trim_start_matches("sys/")),
        );
        link(&d, "sys/block/dm-0", "../devices/virtual/block/dm-0");
        link(
            &d,
            "sys/dev/block/254:1",
            &format!("../../{}/vda1", VDA.trim_start_matches("sys/")),
        );
        link(
            &d,
            "sys/dev/block/253:0",
            "../../devices/virtual/block/dm-0",
        );
        write_mountinfo(
            &d,
            "1 0 254:1 / / rw - ext4 /dev/vda1 rw\n2 1 253:0 / /tmp rw - xfs /dev/dm-0 rw\n",
        );
        d
    }

    type FsRow = (
        String,
        String,
        String,
        Vec<(String, String, i64, Option<String>)>,
        bool,
    );

    fn fsinfo(root: &Root) -> Result<Vec<FsRow>> {
        let mut v = Vec::new();
        fs_info(root, &mut |f| {
            let disks = f
                .disk
                .iter()
                .map(|d| {
                    (
                        d.bus_type.to_owned(),
                        d.dev.unwrap().to_owned(),
                        d.pci_controller.slot,
                        d.serial.map(str::to_owned),
                    )
                })
                .collect();
            v.push((
                f.name.to_owned(),
                f.mountpoint.to_owned(),
                f.fs_type.to_owned(),
                disks,
                f.total_bytes.is_some(),
            ));
            Ok(())
        })?;
        Ok(v)
    }

    #[test]
    fn fsinfo_resolves_partitions_and_device_mapper() {
        let _fds = super::super::testutil::fd_count_guard();
        let root = Root::new(tree());
        let v = fsinfo(&root).unwrap();
        let vda1 = (
            "virtio".to_owned(),
            "/dev/vda1".to_owned(),
            4,
            Some("SER-1".to_owned()),
        );
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].0.as_str(), v[0].1.as_str(), v[0].2.as_str()),
            ("dm-0", "/tmp", "xfs")
        );
        assert_eq!(
            v[0].3,
            std::slice::from_ref(&vda1),
            "reverse order; dm recurses into slaves"
        );
        assert_eq!((v[1].0.as_str(), v[1].1.as_str()), ("vda1", "/"));
        assert_eq!(v[1].3, [vda1]);
        assert!(v[0].4 && v[1].4, "statvfs of the (real) mount points");
    }

    #[test]
    fn fsinfo_lists_a_device_missing_from_sysfs_by_its_numbers() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("nosys");
        write_mountinfo(&d, "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n");
        let v = fsinfo(&Root::new(d.clone())).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(
            (
                v[0].0.as_str(),
                v[0].1.as_str(),
                v[0].2.as_str(),
                &v[0].3[..]
            ),
            ("8:1", "/", "ext4", &[][..])
        );
        // Any other failure of the lookup is still an error.
        put(&d, "sys/dev/block", "a file, not a directory");
        let e = fsinfo(&Root::new(d)).unwrap_err();
        assert_eq!(
            e.text(),
            "realpath(\"/sys/dev/block/8:1\"): Not a directory"
        );
    }

    #[test]
    fn fsinfo_of_this_machine() {
        let _fds = super::super::testutil::fd_count_guard();
        let v = fsinfo(&Root::default()).unwrap();
        assert!(v.iter().all(|f| !f.0.is_empty()));
    }

    #[test]
    fn disks_lists_disks_partitions_and_aliases() {
        let _fds = super::super::testutil::fd_count_guard();
        let root = Root::new(tree());
        let mut v = Vec::new();
        disks(&root, &mut |d| {
            let a = d.address.map(|a| {
                let scsi = (a.bus, a.target, a.unit);
                (a.bus_type.to_owned(), a.pci_controller.slot, scsi)
            });
            let deps = d.dependencies.map(|x| x.join(","));
            assert_eq!(d.smart, None, "no NVMe disk here");
            v.push((
                d.name.to_owned(),
                d.partition,
                deps,
                a,
                d.alias.map(str::to_owned),
            ));
            Ok(())
        })
        .unwrap();
        v.sort();
        assert_eq!(
            v,
            [
                (
                    "/dev/dm-0".into(),
                    false,
                    Some("/dev/vda1".into()),
                    None,
                    Some("vg-home".into())
                ),
                (
                    "/dev/sda".into(),
                    false,
                    None,
                    Some(("scsi".into(), 5, (0, 3, 7))),
                    None
                ),
                (
                    "/dev/vda".into(),
                    false,
                    None,
                    Some(("virtio".into(), 4, (0, 0, 0))),
                    None
                ),
                (
                    "/dev/vda1".into(),
                    true,
                    Some("/dev/vda".into()),
                    None,
                    None
                ),
            ]
        );
    }

    #[test]
    fn disks_of_this_machine() {
        let _fds = super::super::testutil::fd_count_guard();
        let mut n = 0;
        disks(&Root::default(), &mut |d| {
            assert!(d.name.starts_with("/dev/"));
            n += 1;
            Ok(())
        })
        .unwrap();
        let _ = n;
    }
}
