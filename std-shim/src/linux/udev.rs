//! udev's database, read directly (no libudev): the properties qemu-ga asks
//! libudev for (`ID_SERIAL` of a disk) live in one record per device,
//! `/run/udev/data/b<major>:<minor>` for block devices, with one
//! `E:KEY=value` line per property. Without a running udev there is no
//! record, and callers fall back to sysfs.

use std::io::Read;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::root::Root;

/// Where udevd keeps its records.
const DATA_DIR: &str = "/run/udev/data";
/// A record is a few KiB; a larger one is cut here (its first properties,
/// `ID_*` among them, come first).
const MAX_RECORD: u64 = 64 * 1024;

/// One device's udev record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record(String);

impl Record {
    /// The value of property `key` (an `E:` line), if the record has it.
    pub(crate) fn property(&self, key: &str) -> Option<&str> {
        self.0.lines().find_map(|l| {
            let (k, v) = l.strip_prefix("E:")?.split_once('=')?;
            (k == key).then_some(v)
        })
    }
}

/// The record of block device `major:minor`; `None` when udev keeps none
/// (udev not running, or it never saw the device).
pub(crate) fn block_record(root: &Root, (major, minor): (u32, u32)) -> Option<Record> {
    read_bounded(&root.path(format!("{DATA_DIR}/b{major}:{minor}"))).map(Record)
}

/// Reads at most [`MAX_RECORD`] bytes of `path` without following a
/// symlink or waiting on a FIFO.
fn read_bounded(path: &Path) -> Option<String> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).ok()?;
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_RECORD)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The `major:minor` in a sysfs device directory's `dev` file.
pub(crate) fn devnum(syspath: &Path) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(syspath.join("dev")).ok()?;
    let (major, minor) = text.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::{fd_count_guard, temp_dir};
    use super::*;

    #[test]
    fn record_properties_and_missing_records() {
        let _fds = fd_count_guard();
        let d = temp_dir("udev");
        std::fs::create_dir_all(d.join("run/udev/data")).unwrap();
        std::fs::write(
            d.join("run/udev/data/b259:0"),
            "S:disk/by-id/nvme-QEMU_NVMe_Ctrl_SER1\nI:123\nE:ID_SERIAL_SHORT=SER1\n\
             E:ID_SERIAL=QEMU NVMe Ctrl_SER1\nE:ID_EMPTY=\nG:systemd\n",
        )
        .unwrap();
        let root = Root::new(d.clone());
        let rec = block_record(&root, (259, 0)).unwrap();
        assert_eq!(rec.property("ID_SERIAL"), Some("QEMU NVMe Ctrl_SER1"));
        assert_eq!(rec.property("ID_SERIAL_SHORT"), Some("SER1"));
        assert_eq!(rec.property("ID_EMPTY"), Some(""));
        assert_eq!(rec.property("ID_MODEL"), None);
        assert_eq!(rec.property("disk/by-id/nvme-QEMU_NVMe_Ctrl_SER1"), None);
        assert_eq!(block_record(&root, (8, 0)), None);
    }

    #[test]
    fn symlinked_records_are_not_followed() {
        let _fds = fd_count_guard();
        let d = temp_dir("udev-link");
        std::fs::create_dir_all(d.join("run/udev/data")).unwrap();
        std::fs::write(d.join("secret"), "E:ID_SERIAL=leak\n").unwrap();
        std::os::unix::fs::symlink(d.join("secret"), d.join("run/udev/data/b8:0")).unwrap();
        assert_eq!(block_record(&Root::new(d), (8, 0)), None);
    }

    #[test]
    fn devnum_reads_the_dev_file() {
        let _fds = fd_count_guard();
        let d = temp_dir("udev-dev");
        std::fs::write(d.join("dev"), "259:1\n").unwrap();
        assert_eq!(devnum(&d), Some((259, 1)));
        std::fs::write(d.join("dev"), "junk\n").unwrap();
        assert_eq!(devnum(&d), None);
        assert_eq!(devnum(&d.join("missing")), None);
    }
}
