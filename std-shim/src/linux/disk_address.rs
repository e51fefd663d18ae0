//! `GuestDiskAddress` of a real block device, from its sysfs path (protocol
//! notes 3.3, qemu-ga's `build_guest_fsinfo_for_real_device`): the PCI
//! controller chain for PCI devices, the SCSI address for virtio-scsi
//! behind a non-PCI virtio transport (virtio-mmio, s390x channel I/O); the
//! serial from udev's `ID_SERIAL` when udev keeps a record of the device,
//! from sysfs otherwise. The device node is `/dev/<sysfs name>`.
//!
//! `ccw-address` (s390x channel I/O subchannels) is never filled: it exists
//! only on s390x guests, which this agent is not built for.

use std::path::{Path, PathBuf};

use qga_core::platform::{DiskAddress, PciAddress};

use super::root::Root;
use super::udev;

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
pub(crate) struct Disk {
    pub pci: PciAddress,
    pub bus_type: &'static str,
    pub bus: i64,
    pub target: i64,
    pub unit: i64,
    pub serial: Option<String>,
    pub dev: Option<String>,
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

    /// The reply's view of this address.
    pub(crate) fn address(&self) -> DiskAddress<'_> {
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

/// The address of the real block device (disk or partition) at `syspath`.
pub(crate) fn real_disk(root: &Root, syspath: &Path) -> Disk {
    let mut d = Disk::new(format!("/dev/{}", basename(syspath)), serial(root, syspath));
    let path = syspath.to_string_lossy();
    if root_bridge(&path).is_some() {
        pci_address(&path, &mut d);
    } else if path.contains("/virtio") {
        nonpci_virtio(&path, &mut d);
    }
    d
}

/// `ID_SERIAL` from udev's record of the device (none when the record has
/// no or an empty one, as with libudev); without a record (no udev), the
/// serial sysfs shows for the disk.
fn serial(root: &Root, syspath: &Path) -> Option<String> {
    match udev::devnum(syspath).and_then(|n| udev::block_record(root, n)) {
        Some(record) => record
            .property("ID_SERIAL")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        None => sysfs_serial(syspath),
    }
}

/// `serial` (virtio-blk) or `device/serial` (NVMe, the controller's) of
/// the disk, or of a partition's parent disk.
fn sysfs_serial(syspath: &Path) -> Option<String> {
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

/// The last component of `p`, lossily as text.
pub(crate) fn basename(p: &Path) -> String {
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

/// Where the PCI root bridge's component `/pciDDDD:BB` ends in `path`:
/// right under `/devices` on x86, under a platform host controller on Arm
/// (`/devices/platform/4010000000.pcie/pci0000:00`), where qemu-ga, which
/// looks only for `/devices/pci`, finds no address.
fn root_bridge(path: &str) -> Option<usize> {
    let mut at = 0;
    for comp in path.split('/') {
        at += comp.len() + 1;
        let bridge = comp.strip_prefix("pci").and_then(|b| b.split_once(':'));
        let hex = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_hexdigit());
        if bridge.is_some_and(|(dom, bus)| hex(dom) && hex(bus)) {
            return Some(at - 1);
        }
    }
    None
}

/// Walks the `.../pciDDDD:BB/<dddd:bb:ss.f>/...` chain to the first
/// function driven by a known disk controller, and fills the address.
fn pci_address(path: &str, d: &mut Disk) -> bool {
    let Some(end) = root_bridge(path) else {
        return false;
    };
    let Some(chain) = path.get(end + 1..) else {
        return false;
    };
    let mut prefix = PathBuf::from(&path[..end]);
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

/// Bus type, bus, target and unit from the path below the controller.
fn bus_details(driver: &str, controller: &Path, path: &str, d: &mut Disk) -> bool {
    let scsi = scsi_address(path);
    let ata = number_after(path, "/ata");
    match (driver, scsi) {
        ("ata_piix", Some((_, target, _))) => {
            d.bus_type = "ide";
            d.bus = port_index(controller, ata);
            d.unit = target;
        }
        ("sym53c8xx", Some((_, target, _))) => (d.bus_type, d.unit) = ("scsi", target),
        // qemu-ga fills only `unit` here (bus and target stay 0, so two
        // disks on different targets look alike); we fill all three, as
        // qemu-ga itself does for non-PCI virtio-scsi.
        ("virtio-pci", Some(hctl)) => set_scsi(d, hctl),
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

/// A virtio device on another transport (virtio-mmio, s390x CCW):
/// virtio-scsi when the path has a SCSI address, else virtio-blk.
fn nonpci_virtio(path: &str, d: &mut Disk) -> bool {
    if !path.contains("/block") {
        return false;
    }
    match scsi_address(path) {
        Some(hctl) => set_scsi(d, hctl),
        None => d.bus_type = "virtio",
    }
    true
}

fn set_scsi(d: &mut Disk, (channel, target, lun): (i64, i64, i64)) {
    (d.bus_type, d.bus, d.target, d.unit) = ("scsi", channel, target, lun);
}

/// `(channel, target, lun)` of the `.../targetH:C:T/H:C:T:L/...` part.
fn scsi_address(path: &str) -> Option<(i64, i64, i64)> {
    let rest = &path[path.find("/target")? + 1..];
    let mut comps = rest.split('/');
    let _target = comps.next()?;
    let mut f = comps.next()?.split(':').map(|x| x.parse::<i64>().ok());
    let (_host, channel, target, lun) = (f.next()??, f.next()??, f.next()??, f.next()??);
    f.next().is_none().then_some((channel, target, lun))
}

/// The decimal number right after the first `tag` in `path`.
fn number_after(path: &str, tag: &str) -> Option<i64> {
    let rest = &path[path.find(tag)? + tag.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::put;
    use super::super::testutil::{fd_count_guard, temp_dir};
    use super::*;

    /// (bus-type, bus, target, unit, pci slot, serial) of `rel` in `d`.
    fn addr(d: &Path, rel: &str) -> (&'static str, i64, i64, i64, i64, Option<String>) {
        let a = real_disk(&Root::new(d.to_owned()), &d.join(rel));
        (a.bus_type, a.bus, a.target, a.unit, a.pci.slot, a.serial)
    }

    #[test]
    fn virtio_scsi_on_pci_fills_bus_target_and_unit() {
        let _fds = fd_count_guard();
        let d = temp_dir("vscsi-pci");
        let sda = "sys/devices/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:1/0:0:1:2/block/sda";
        std::fs::create_dir_all(d.join(sda)).unwrap();
        let drv = d.join("sys/devices/pci0000:00/0000:00:05.0/driver");
        std::os::unix::fs::symlink("../../../bus/pci/drivers/virtio-pci", drv).unwrap();
        assert_eq!(addr(&d, sda), ("scsi", 0, 1, 2, 5, None));
    }

    /// Arm's `virt` machine: the root bridge sits under a platform device.
    #[test]
    fn pci_behind_a_platform_host_bridge_has_its_address() {
        let _fds = fd_count_guard();
        let d = temp_dir("pcie-platform");
        let host = "sys/devices/platform/4010000000.pcie/pci0000:00/0000:00:0a.0";
        let sda = format!("{host}/virtio2/host0/target0:0:1/0:0:1:2/block/sda");
        std::fs::create_dir_all(d.join(&sda)).unwrap();
        let drv = d.join(format!("{host}/driver"));
        std::os::unix::fs::symlink("../../../../bus/pci/drivers/virtio-pci", drv).unwrap();
        assert_eq!(addr(&d, &sda), ("scsi", 0, 1, 2, 0xa, None));
        assert_eq!(root_bridge("/sys/devices/pcie/0000:00:0a.0"), None);
        assert_eq!(root_bridge("/devices/pci0000:00/x"), Some(19));
    }

    #[test]
    fn virtio_on_mmio_blk_and_scsi() {
        let _fds = fd_count_guard();
        let d = temp_dir("vmmio");
        let blk = "sys/devices/platform/a003e00.virtio_mmio/virtio0/block/vda";
        let scsi =
            "sys/devices/platform/a003c00.virtio_mmio/virtio1/host0/target0:3:4/0:3:4:5/block/sdb";
        let other = "sys/devices/platform/a003a00.virtio_mmio/virtio2/ports/vport2p0";
        for p in [blk, scsi, other] {
            std::fs::create_dir_all(d.join(p)).unwrap();
        }
        assert_eq!(addr(&d, blk), ("virtio", 0, 0, 0, -1, None));
        assert_eq!(addr(&d, scsi), ("scsi", 3, 4, 5, -1, None));
        assert_eq!(addr(&d, other), ("unknown", 0, 0, 0, -1, None));
    }

    #[test]
    fn serial_from_udev_when_it_keeps_a_record_else_sysfs() {
        let _fds = fd_count_guard();
        let d = temp_dir("serial");
        let ns = "sys/devices/pci0000:00/0000:00:06.0/nvme/nvme0/nvme0n1";
        put(&d, &format!("{ns}/dev"), "259:0\n");
        put(&d, &format!("{ns}/device/serial"), "QGANVME01           \n");
        put(&d, &format!("{ns}/nvme0n1p1/dev"), "259:1\n");
        put(&d, &format!("{ns}/nvme0n1p1/partition"), "1\n");
        let drv = d.join("sys/devices/pci0000:00/0000:00:06.0/driver");
        std::os::unix::fs::symlink("../../../bus/pci/drivers/nvme", drv).unwrap();
        let sysfs = Some("QGANVME01".to_owned());
        assert_eq!(addr(&d, ns), ("nvme", 0, 0, 0, 6, sysfs.clone()));
        assert_eq!(
            addr(&d, &format!("{ns}/nvme0n1p1")).5,
            sysfs,
            "the parent's"
        );
        put(
            &d,
            "run/udev/data/b259:0",
            "E:ID_SERIAL=QEMU NVMe Ctrl_QGANVME01\n",
        );
        put(
            &d,
            "run/udev/data/b259:1",
            "E:ID_SERIAL=\nE:ID_PART_ENTRY_NUMBER=1\n",
        );
        assert_eq!(addr(&d, ns).5.as_deref(), Some("QEMU NVMe Ctrl_QGANVME01"));
        assert_eq!(
            addr(&d, &format!("{ns}/nvme0n1p1")).5,
            None,
            "udev says none"
        );
    }

    #[test]
    fn pci_and_scsi_parsing() {
        let p = parse_pci("0000:00:1f.2").unwrap();
        assert_eq!((p.domain, p.bus, p.slot, p.function), (0, 0, 0x1f, 2));
        let path = "/devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:1/2:0:1:0/block/sdc";
        assert_eq!(scsi_address(path), Some((0, 1, 0)));
        assert_eq!(scsi_address("/devices/x/target0:0:0/junk/block/sda"), None);
        assert_eq!(scsi_address("/devices/x/block/vda"), None);
        assert_eq!(number_after(path, "/ata"), Some(3));
    }
}
