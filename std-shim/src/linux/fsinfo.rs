//! `guest-get-fsinfo` and `guest-get-disks` (protocol notes 3.3) from
//! mountinfo, statvfs and sysfs, without udev: the device node is
//! `/dev/<sysfs name>`, the serial comes from sysfs, the disk address from
//! the PCI path of the device.

use std::path::{Path, PathBuf};

use qga_core::platform::{DiskAddress, DiskInfo, Error, FilesystemInfo, PciAddress, Result};

use super::mounts::{mount_list, Mount};
use super::root::Root;
use super::sys::os_errno;

/// PCI drivers that own disks, and the bus type their disks get.
const CONTROLLERS: [&str; 7] = [
    "ata_piix",
    "sym53c8xx",
    "virtio-pci",
    "ahci",
    "nvme",
    "xhci_hcd",
    "ehci-pci",
];

/// A disk address being built (owned strings; borrowed at reply time).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Disk {
    pci: PciAddress,
    bus_type: &'static str,
    bus: i64,
    target: i64,
    unit: i64,
    serial: Option<String>,
    dev: Option<String>,
}

impl Disk {
    fn new(dev: String, serial: Option<String>) -> Disk {
        let unknown = -1;
        Disk {
            pci: PciAddress {
                domain: unknown,
                bus: unknown,
                slot: unknown,
                function: unknown,
            },
            bus_type: "unknown",
            bus: 0,
            target: 0,
            unit: 0,
            serial,
            dev: Some(dev),
        }
    }

    fn address(&self) -> DiskAddress<'_> {
        DiskAddress {
            pci_controller: self.pci,
            bus_type: self.bus_type,
            bus: self.bus,
            target: self.target,
            unit: self.unit,
            serial: self.serial.as_deref(),
            dev: self.dev.as_deref(),
            ccw_address: None,
        }
    }
}

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
    let link = format!("/sys/dev/block/{}:{}", m.major, m.minor);
    let devpath = std::fs::canonicalize(root.path(&link))
        .map_err(|e| Error::errno(os_errno(&e), format_args!("realpath(\"{link}\")")))?;
    let mut disks = Vec::new();
    device_disks(&devpath, 0, &mut disks);
    Ok(Fs {
        mount: m,
        name: basename(&devpath),
        disks,
        sizes: sizes(&m.dir),
    })
}

/// statvfs: used = (blocks - bfree) * frsize, total = (used + bavail) *
/// frsize (what unprivileged users see), privileged = blocks * frsize.
fn sizes(dir: &str) -> Option<(u64, u64, u64)> {
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
fn device_disks(devpath: &Path, depth: u32, disks: &mut Vec<Disk>) {
    if !devpath
        .to_string_lossy()
        .contains("/devices/virtual/block/")
    {
        disks.push(real_disk(devpath));
        return;
    }
    let Ok(slaves) = std::fs::read_dir(devpath.join("slaves")) else {
        return;
    };
    for s in slaves.flatten() {
        if let (Ok(p), true) = (std::fs::canonicalize(s.path()), depth < 8) {
            device_disks(&p, depth + 1, disks);
        }
    }
}

/// The address of a real block device (disk or partition).
fn real_disk(syspath: &Path) -> Disk {
    let mut d = Disk::new(format!("/dev/{}", basename(syspath)), serial(syspath));
    let path = syspath.to_string_lossy();
    if !pci_address(&path, &mut d) && path.contains("/virtio") {
        d.bus_type = "virtio"; // virtio-mmio and other non-PCI transports
    }
    d
}

/// The serial number sysfs shows for the disk (a partition's parent).
fn serial(syspath: &Path) -> Option<String> {
    let disk = match syspath.join("partition").exists() {
        true => syspath.parent()?,
        false => syspath,
    };
    ["serial", "device/serial"].iter().find_map(|f| {
        let s = std::fs::read_to_string(disk.join(f)).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    })
}

fn basename(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Parses `dddd:bb:ss.f`.
fn parse_pci(s: &str) -> Option<PciAddress> {
    let (domain, rest) = s.split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (slot, function) = rest.split_once('.')?;
    let hex = |x: &str| i64::from_str_radix(x, 16).ok();
    Some(PciAddress {
        domain: hex(domain)?,
        bus: hex(bus)?,
        slot: hex(slot)?,
        function: hex(function)?,
    })
}

/// Walks the `/devices/pciDDDD:BB/<dddd:bb:ss.f>/...` chain to the first
/// function driven by a known disk controller, and fills the address.
fn pci_address(path: &str, d: &mut Disk) -> bool {
    let Some(start) = path.find("/devices/pci") else {
        return false;
    };
    // `/devices/pciDDDD:BB` is the root bridge; the functions follow.
    let Some((bridge, chain)) = path[start + 12..].split_once('/') else {
        return false;
    };
    let mut prefix = PathBuf::from(format!("{}{bridge}", &path[..start + 12]));
    for comp in chain.split('/') {
        let Some(pci) = parse_pci(comp) else {
            return false;
        };
        prefix.push(comp);
        let driver = std::fs::read_link(prefix.join("driver")).map(|p| basename(&p));
        if let Some(drv) = driver.ok().filter(|d| CONTROLLERS.contains(&d.as_str())) {
            d.pci = pci;
            return bus_details(&drv, &prefix, path, d);
        }
    }
    false
}

/// Bus type, bus and unit from the path below the controller.
fn bus_details(driver: &str, controller: &Path, path: &str, d: &mut Disk) -> bool {
    let hctl = number_after(path, "/target").and_then(|_| path.split('/').find_map(parse_hctl));
    let ata = number_after(path, "/ata");
    match (driver, hctl) {
        ("ata_piix", Some(t)) => {
            d.bus_type = "ide";
            d.bus = port_index(controller, ata);
            d.unit = t.2;
        }
        ("sym53c8xx", Some(t)) => (d.bus_type, d.unit) = ("scsi", t.2),
        ("virtio-pci", Some(t)) => (d.bus_type, d.unit) = ("scsi", t.3),
        ("virtio-pci", None) => d.bus_type = "virtio",
        ("ahci", _) if ata.is_some() => {
            (d.bus_type, d.unit) = ("sata", port_index(controller, ata))
        }
        ("nvme", _) => d.bus_type = "nvme",
        ("xhci_hcd" | "ehci-pci", _) => d.bus_type = "usb",
        _ => return false,
    }
    true
}

/// The decimal number right after the first `tag` in `path`.
fn number_after(path: &str, tag: &str) -> Option<i64> {
    let rest = &path[path.find(tag)? + tag.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A SCSI `H:C:T:L` path component.
fn parse_hctl(comp: &str) -> Option<(i64, i64, i64, i64)> {
    let mut f = comp.split(':').map(|x| x.parse::<i64>().ok());
    let t = (f.next()??, f.next()??, f.next()??, f.next()??);
    f.next().is_none().then_some(t)
}

/// The position of port `ataN` among the controller's ata ports.
fn port_index(controller: &Path, ata: Option<i64>) -> i64 {
    let Some(ata) = ata else { return 0 };
    let ports = std::fs::read_dir(controller)
        .into_iter()
        .flatten()
        .flatten();
    ports
        .filter_map(|e| number_after(&format!("/{}", e.file_name().to_string_lossy()), "/ata"))
        .filter(|n| *n < ata)
        .count() as i64
}

// ---- guest-get-disks ----------------------------------------------------------

/// One `guest-get-disks` entry being built.
struct Entry {
    name: String,
    partition: bool,
    deps: Option<Vec<String>>,
    address: Option<Disk>,
    alias: Option<String>,
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
        disk_entries(&e.path(), &name, &mut entries);
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
        })?;
    }
    Ok(())
}

/// Pushes the disk's partitions, then the disk (the caller reverses).
fn disk_entries(link: &Path, name: &str, entries: &mut Vec<Entry>) {
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
    }));
    let is_virtual = real.to_string_lossy().contains("/devices/virtual/");
    entries.push(Entry {
        name: dev,
        partition: false,
        deps: slaves(&real),
        address: (!is_virtual).then(|| real_disk(&real)),
        alias: std::fs::read_to_string(real.join("dm/name"))
            .ok()
            .map(|s| s.trim().to_owned()),
    });
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
    use super::super::testutil::temp_dir;
    use super::*;
    use std::os::unix::fs::symlink;

    fn put(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn link(root: &Path, rel: &str, target: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }

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
    fn fsinfo_missing_sysfs_node_is_an_error() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("nosys");
        write_mountinfo(&d, "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n");
        let e = fsinfo(&Root::new(d)).unwrap_err();
        assert_eq!(
            e.text(),
            "realpath(\"/sys/dev/block/8:1\"): No such file or directory"
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
            let a = d
                .address
                .map(|a| (a.bus_type.to_owned(), a.pci_controller.slot, a.unit));
            let deps = d.dependencies.map(|x| x.join(","));
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
                    Some(("scsi".into(), 5, 7)),
                    None
                ),
                (
                    "/dev/vda".into(),
                    false,
                    None,
                    Some(("virtio".into(), 4, 0)),
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

    #[test]
    fn pci_and_scsi_parsing() {
        let _fds = super::super::testutil::fd_count_guard();
        let p = parse_pci("0000:00:1f.2").unwrap();
        assert_eq!((p.domain, p.bus, p.slot, p.function), (0, 0, 0x1f, 2));
        assert_eq!(parse_hctl("2:0:1:3"), Some((2, 0, 1, 3)));
        assert_eq!(parse_hctl("0000:00:1f.2"), None);
        assert_eq!(number_after("/a/ata3/host2", "/ata"), Some(3));
    }
}
