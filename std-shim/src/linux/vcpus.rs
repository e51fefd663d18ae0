//! `guest-get-vcpus` and `guest-set-vcpus` (protocol notes 3.3): the
//! `cpuN/online` files of sysfs under the platform's [`Root`].

use qga_core::platform::{Error, LogicalProcessor, Result};
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};

use super::hardware::{indexed_dirs, open_dir};
use super::root::Root;
use super::sys::{os_errno, retry, rx_errno};

const CPU_DIR: &str = "/sys/devices/system/cpu";

/// `guest-get-vcpus`: every `cpuN` directory; no `online` file means online
/// and not offlinable (typically cpu0).
pub(crate) fn vcpus(
    root: &Root,
    out: &mut dyn FnMut(&LogicalProcessor) -> Result<()>,
) -> Result<()> {
    let ids = indexed_dirs(root, CPU_DIR, "cpu").map_err(|e| {
        Error::errno(
            os_errno(&e),
            format_args!("failed to list entries: {CPU_DIR}"),
        )
    })?;
    let mut cpus = Vec::with_capacity(ids.len());
    for id in ids {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        let (online, can_offline) = match open_online(root, id, false)? {
            Some((fd, path)) => (read_status(&fd, &path)?, true),
            None => (true, false),
        };
        cpus.push(LogicalProcessor {
            logical_id: id,
            online,
            can_offline: Some(can_offline),
        });
    }
    if cpus.is_empty() {
        return Err(Error::msg(format_args!("guest reported zero VCPUs")));
    }
    cpus.iter().try_for_each(out)
}

/// `cpuN/online`, opened read-only or read-write, with its name for error
/// texts; `None` when the file does not exist. qemu-ga names the directory
/// `cpuN/` and the file `cpuN//online`, and so do its texts (and ours).
fn open_online(root: &Root, id: i64, write: bool) -> Result<Option<(OwnedFd, String)>> {
    let dir = format!("{CPU_DIR}/cpu{id}/");
    let dirfd = open_dir(root, &dir)?;
    let mode = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let flags = mode | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(&dirfd, "online", flags, Mode::empty()) {
        Ok(fd) => Ok(Some((fd, format!("{dir}/online")))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(Error::errno(
            rx_errno(e),
            format_args!("could not open {dir}/online"),
        )),
    }
}

/// Whether the first byte of the `online` file is not `0`.
fn read_status(fd: &OwnedFd, path: &str) -> Result<bool> {
    let mut b = [0u8; 1];
    match retry(|| rustix::io::pread(fd, &mut b, 0)) {
        Ok(0) => Err(Error::msg(format_args!(
            "pread(\"{path}\"): unexpected EOF"
        ))),
        Ok(_) => Ok(b[0] != b'0'),
        Err(e) => Err(Error::errno(rx_errno(e), format_args!("pread(\"{path}\")"))),
    }
}

/// One entry of `guest-set-vcpus`: writes `0`/`1` only when it changes.
pub(crate) fn set_vcpu(root: &Root, id: i64, online: bool) -> Result<()> {
    let Some((fd, path)) = open_online(root, id, true)? else {
        return match online {
            true => Ok(()), // "pretend successful re-onlining"
            false => Err(Error::msg(format_args!(
                "logical processor #{id} can't be offlined"
            ))),
        };
    };
    if read_status(&fd, &path)? == online {
        return Ok(());
    }
    let byte = [if online { b'1' } else { b'0' }];
    retry(|| rustix::io::pwrite(&fd, &byte, 0))
        .map(drop)
        .map_err(|e| Error::errno(rx_errno(e), format_args!("pwrite(\"{path}\")")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::put;
    use super::super::testutil::temp_dir;
    use super::*;

    fn cpu_tree() -> Root {
        let d = temp_dir("cpus");
        std::fs::create_dir_all(d.join("sys/devices/system/cpu/cpu0")).unwrap();
        put(&d, "sys/devices/system/cpu/cpu1/online", "1\n");
        put(&d, "sys/devices/system/cpu/cpu2/online", "0\n");
        std::fs::create_dir_all(d.join("sys/devices/system/cpu/cpufreq")).unwrap();
        put(&d, "sys/devices/system/cpu/cpu3", "a file, not a cpu");
        Root::new(d)
    }

    fn get_vcpus(root: &Root) -> Vec<(i64, bool, bool)> {
        let mut v = Vec::new();
        vcpus(root, &mut |c| {
            v.push((c.logical_id, c.online, c.can_offline.unwrap()));
            Ok(())
        })
        .unwrap();
        v.sort();
        v
    }

    #[test]
    fn vcpus_read_online_files() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = cpu_tree();
        assert_eq!(
            get_vcpus(&r),
            [(0, true, false), (1, true, true), (2, false, true)]
        );
    }

    #[test]
    fn set_vcpu_writes_only_changes() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = cpu_tree();
        set_vcpu(&r, 2, true).unwrap();
        set_vcpu(&r, 1, true).unwrap();
        set_vcpu(&r, 0, true).unwrap();
        assert_eq!(
            get_vcpus(&r),
            [(0, true, false), (1, true, true), (2, true, true)]
        );
        let e = set_vcpu(&r, 0, false).unwrap_err();
        assert_eq!(e.text(), "logical processor #0 can't be offlined");
        let e = set_vcpu(&r, 9, true).unwrap_err();
        assert_eq!(
            e.text(),
            "Could not open '/sys/devices/system/cpu/cpu9/': No such file or directory"
        );
    }

    #[test]
    fn vcpu_file_errors_name_the_path_as_qemu_ga_does() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = cpu_tree();
        let online = r.path("/sys/devices/system/cpu/cpu2/online");
        std::fs::remove_file(&online).unwrap();
        std::fs::create_dir(&online).unwrap();
        let e = vcpus(&r, &mut |_| Ok(())).unwrap_err();
        assert_eq!(
            e.text(),
            "pread(\"/sys/devices/system/cpu/cpu2//online\"): Is a directory"
        );
        let e = set_vcpu(&r, 2, true).unwrap_err();
        assert_eq!(
            e.text(),
            "could not open /sys/devices/system/cpu/cpu2//online: Is a directory"
        );
        std::fs::remove_dir(&online).unwrap();
        std::fs::write(&online, "").unwrap();
        let e = set_vcpu(&r, 2, false).unwrap_err();
        assert_eq!(
            e.text(),
            "pread(\"/sys/devices/system/cpu/cpu2//online\"): unexpected EOF"
        );
    }

    #[test]
    fn vcpus_of_this_machine() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = Root::default();
        assert!(!get_vcpus(&r).is_empty());
        let e = vcpus(&Root::new(temp_dir("nocpu")), &mut |_| Ok(())).unwrap_err();
        assert_eq!(
            e.text(),
            "failed to list entries: /sys/devices/system/cpu: No such file or directory"
        );
    }
}
